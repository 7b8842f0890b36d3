"""feedback/satisfaction.py and satisfaction_training.py as tables: features, the JSON model, cells,
figures, evaluation; and training on a generated history whose true satisfaction follows known rules."""

import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from feedback import satisfaction, satisfaction_history, satisfaction_training

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def feature(values, name):
    return values[satisfaction.FEATURE_INDEX[name]]


# --- the customer's words ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "english"),
    [
        ("My order is still missing and nobody answers, this is terrible.", True),
        ("Thanks!", True),
        ("Great", True),
        ("Merci beaucoup, c'est parfait, la commande est arrivée.", False),
        ("Mi pedido no ha llegado todavía y nadie contesta.", False),
        ("Мой заказ до сих пор не пришёл", False),
        ("我的订单还没到", False),
        ("", False),
        ("12345 !!!", False),
    ],
)
def test_which_words_are_scored(text, english):
    assert satisfaction.looks_english(text) is english


def test_sentiment_reads_english_and_leaves_other_languages_out():
    # given an angry English customer, a pleased one, and a French one
    angry = satisfaction.sentiment(["This is terrible. Nobody helps me and I am angry."])
    pleased = satisfaction.sentiment(["Thank you so much, that was quick and really helpful!"])
    french = satisfaction.sentiment(["C'est inadmissible, personne ne m'aide."])
    # then English words get VADER's compound score, other languages none
    assert angry[0] < -0.5 and pleased[0] > 0.5
    assert french is None
    # and a language known beforehand decides over the guess
    assert satisfaction.sentiment(["Terrible."], language="fr") is None
    assert satisfaction.sentiment(["Terrible."], language="en-GB")[0] < 0


# --- features ----------------------------------------------------------------------------------


def test_features_of_a_resolved_conversation():
    # given a customer who wrote twice before a reply 10 minutes later, once after; resolved after 2 hours
    signals = satisfaction.Signals(
        opened_at=at(0),
        first_resolved_at=at(120),
        customer_message_times=(at(0), at(5), at(30)),
        first_reply_at=at(10),
        agent_messages=2,
        transfers=1,
        channel_switches=12,
        reopens=0,
        is_recontact=True,
        priority="urgent",
        customer_texts=("Where is my order?", "Hello??", "Thanks, that helps."),
    )
    # when its features are computed, a year later
    values, scored = satisfaction.features(signals, now=at(60 * 24 * 365))
    # then time is counted up to the first resolution, not up to now
    assert feature(values, "first_response_log") == pytest.approx(math.log1p(600), abs=1e-6)
    assert feature(values, "duration_log") == pytest.approx(math.log1p(7200), abs=1e-6)
    assert feature(values, "no_agent_reply") == 0
    assert feature(values, "customer_messages_log") == pytest.approx(math.log1p(3), abs=1e-6)
    assert feature(values, "messages_before_reply_log") == pytest.approx(math.log1p(2), abs=1e-6)
    assert feature(values, "agent_messages_log") == pytest.approx(math.log1p(2), abs=1e-6)
    assert feature(values, "transfers") == 1
    assert feature(values, "channel_switches") == satisfaction.COUNT_CAP  # capped
    assert feature(values, "is_recontact") == 1 and feature(values, "recontacted_later") == 0
    assert feature(values, "priority_rank") == 3
    # and the words were scored: the last message is the pleased one
    assert scored and feature(values, "text_sentiment") == 1
    assert feature(values, "sentiment_last") > 0.3
    assert feature(values, "sentiment_min") <= feature(values, "sentiment_mean") <= feature(values, "sentiment_last")


def test_features_of_an_open_conversation_waiting_for_its_first_reply():
    # given a French customer who has waited an hour, unanswered
    signals = satisfaction.Signals(
        opened_at=at(0), customer_message_times=(at(0), at(30)), customer_texts=("Bonjour, où est ma commande ?",)
    )
    values, scored = satisfaction.features(signals, now=at(60))
    # then the wait so far counts, every message is before the (missing) reply, no sentiment
    assert feature(values, "first_response_log") == pytest.approx(math.log1p(3600), abs=1e-6)
    assert feature(values, "no_agent_reply") == 1
    assert feature(values, "messages_before_reply_log") == pytest.approx(math.log1p(2), abs=1e-6)
    assert not scored
    assert [feature(values, n) for n in ("sentiment_mean", "sentiment_min", "sentiment_last", "text_sentiment")] == [
        0,
        0,
        0,
        0,
    ]


@pytest.mark.parametrize(
    ("resolved", "openings", "expected"),
    [
        (None, [at(10)], False),
        (at(0), [], False),
        (at(0), [at(60 * 24 * 6)], True),
        (at(0), [at(60 * 24 * 8)], False),
        (at(0), [at(-60)], False),  # an earlier conversation is not a recontact
    ],
)
def test_recontacted_after(resolved, openings, expected):
    assert satisfaction.recontacted_after(resolved, openings) is expected


# --- the model as data ---------------------------------------------------------------------------


def hand_made_parameters(**changes):
    n = len(satisfaction.FEATURES)
    parameters = {
        "kind": "logistic_regression",
        "feature_version": satisfaction.FEATURE_VERSION,
        "features": list(satisfaction.FEATURE_NAMES),
        "means": [0.0] * n,
        "scales": [1.0] * n,
        "coefficients": [0.0] * n,
        "intercept": 1.0,
        "categories": {"channel": {"email": -0.5, "web": 0.5, "_other": 0.0}, "inbox": {}, "team": {}},
        "category_means": {"channel": 0.2, "inbox": 0.0, "team": 0.0},
        "calibration": {"a": 1.0, "b": 0.0},
        "expected": {
            "intercept": 4.0,
            "coefficients": [0.0] * n,
            "categories": {"channel": {}, "inbox": {}, "team": {}},
        },
    }
    parameters.update(changes)
    return parameters


def test_a_model_is_data_and_explains_itself():
    # given a model where transfers hurt (−1 per transfer) and the words help (+2 per unit)
    coefficients = [0.0] * len(satisfaction.FEATURES)
    coefficients[satisfaction.FEATURE_INDEX["transfers"]] = -1.0
    coefficients[satisfaction.FEATURE_INDEX["sentiment_mean"]] = 2.0
    model = satisfaction.Model.from_parameters(
        7, json.loads(json.dumps(hand_made_parameters(coefficients=coefficients)))
    )
    values = [0.0] * len(satisfaction.FEATURES)
    values[satisfaction.FEATURE_INDEX["transfers"]] = 3
    values[satisfaction.FEATURE_INDEX["sentiment_mean"]] = -0.5
    # when an email conversation with three transfers and unhappy words is scored
    prediction = model.predict(values, {"channel": "email", "inbox": 1, "team": None})
    # then P(CSAT >= 4) = σ(1 − 3 − 1 − 0.5) and it is likely unhappy
    assert prediction.satisfied_probability == pytest.approx(1 / (1 + math.exp(3.5)))
    assert prediction.likely_unhappy
    assert prediction.expected_csat == 4.0
    # and the three reasons are the largest weights, largest first, with their direction
    assert [(r["feature"], r["effect"], r["value"]) for r in prediction.reasons] == [
        ("transfers", "lowers", "3"),
        ("sentiment_mean", "lowers", "negative (-0.50)"),
        ("channel", "lowers", "email"),
    ]
    assert prediction.reasons[2]["weight"] == pytest.approx(-0.7)  # relative to the average channel


def test_a_model_of_another_feature_set_is_refused():
    with pytest.raises(ValueError):
        satisfaction.Model.from_parameters(1, hand_made_parameters(features=["something", "else"]))
    with pytest.raises(ValueError):
        satisfaction.Model.from_parameters(1, {"kind": "pickle"})


# --- cells and figures -----------------------------------------------------------------------------


def scored(csat=None, p=None, expected=None, resolved=T0):
    return satisfaction.ScoredConversation(1, 2, None, "web", resolved, csat, p, expected)


@pytest.mark.parametrize(
    ("conversation", "cells"),
    [
        (scored(resolved=None, p=0.2, expected=2.0), {}),
        (scored(csat=5, p=0.9, expected=4.5), {"resolved": (1, 0), "answered": (1, 1), "answered_score": (1, 5),
                                              "respondent_predicted": (1, 900_000),
                                              "respondent_expected": (1, 4_500_000)}),
        (scored(csat=2), {"resolved": (1, 0), "answered": (1, 0), "answered_score": (1, 2)}),
        (scored(p=0.25, expected=2.5), {"resolved": (1, 0), "predicted": (1, 250_000),
                                        "predicted_variance": (1, 187_500), "predicted_expected": (1, 2_500_000)}),
        (scored(), {"resolved": (1, 0), "neither": (1, 0)}),
    ],
)  # fmt: skip
def test_contributions(conversation, cells):
    got = satisfaction.contributions(conversation, tz=UTC)
    assert {key.rsplit("|", 1)[1]: value for key, value in got.items()} == cells
    assert all(key.startswith("2026-03-02|1|2|0|web|") for key in got)


def counters_of(*conversations):
    total = {}
    for c in conversations:
        for key, (count, value) in satisfaction.contributions(c, tz=UTC).items():
            metric = key.rsplit("|", 1)[1]
            before = total.get(metric, (0, 0))
            total[metric] = (before[0] + count, before[1] + value)
    return total


def test_the_estimate_adds_predictions_to_answers_with_an_honest_interval():
    # given 2 answered conversations (one satisfied), 2 predicted (0.5 and 0.9) and one neither
    counters = counters_of(scored(csat=5, p=0.8), scored(csat=1, p=0.3), scored(p=0.5), scored(p=0.9), scored())
    error = satisfaction.ModelError(bias=0.02, standard_error=0.03)
    figures = satisfaction.figures(counters, error=error)
    estimate = figures["estimated_csat_percent"]
    # then the estimate is (1 + 0.5 + 0.9) / 4
    assert estimate["value"] == pytest.approx(60.0)
    assert (estimate["numerator"], estimate["denominator"]) == (pytest.approx(2.4), 4)
    # and its interval holds the outcomes' spread and the model's error for the 2 predicted
    spread = 0.25 + 0.09 + 4 * (0.02**2 + 0.03**2)
    half = 100 * satisfaction.Z95 * math.sqrt(spread) / 4
    assert estimate["low"] == pytest.approx(60 - half) and estimate["high"] == pytest.approx(min(100, 60 + half))
    # coverage, and respondents against non-respondents
    coverage = figures["satisfaction_coverage"]
    assert (coverage["answered"], coverage["predicted"], coverage["neither"], coverage["denominator"]) == (2, 2, 1, 5)
    assert figures["respondents_csat_percent"]["value"] == 50.0
    assert figures["respondents_predicted_csat_percent"]["value"] == pytest.approx(55.0)
    assert figures["nonrespondents_predicted_csat_percent"]["value"] == pytest.approx(70.0)


def test_no_model_no_estimate():
    figures = satisfaction.figures(counters_of(scored(csat=5), scored()), error=None)
    assert figures["estimated_csat_percent"]["value"] is None
    assert figures["estimated_csat_percent"]["low"] is None
    assert figures["estimated_csat_average"]["value"] is None
    assert figures["satisfaction_coverage"]["neither"] == 1


# --- evaluation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("probabilities", "outcomes", "expected"),
    [
        ([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.75),
        ([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0], 1.0),
        ([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0], 0.5),
        ([0.3, 0.6], [1, 1], None),
    ],
)
def test_auc(probabilities, outcomes, expected):
    assert satisfaction.auc(probabilities, outcomes) == expected


def test_brier_and_calibration_table():
    probabilities, outcomes = [0.05, 0.15, 0.15, 0.95], [0, 0, 1, 1]
    assert satisfaction.brier(probabilities, outcomes) == pytest.approx((0.0025 + 0.0225 + 0.7225 + 0.0025) / 4)
    table = satisfaction.calibration_table(probabilities, outcomes)
    assert [(row["count"], row["actual"]) for row in table if row["count"]] == [(1, 0.0), (2, 0.5), (1, 1.0)]
    assert satisfaction.calibration_error(table) == pytest.approx((0.05 + 2 * 0.35 + 0.05) / 4)


# --- training on a history with known rules -------------------------------------------------------

AUC_FLOOR = 0.70  # the true probabilities themselves reach about 0.75 on this history


def test_the_model_recovers_the_rules_of_a_generated_history():
    # given 6,000 answered conversations whose satisfaction follows satisfaction_history.RULES
    history = satisfaction_history.generate(6000, seed=11)
    # when a model is trained, oldest answers first
    outcome = satisfaction_training.train(history.training_set())
    evaluation = outcome.evaluation
    # then it is promoted, its AUC on the newest answers is above the floor and close to the truth's
    assert outcome.status == "promoted", outcome.reason
    holdout = slice(6000 - evaluation["holdout_answers"], 6000)
    truth = satisfaction.auc(history.true_probability[holdout].tolist(), (history.scores[holdout] >= 4).tolist())
    assert evaluation["auc"] > AUC_FLOOR
    assert evaluation["auc"] > truth - 0.03
    # and it is calibrated, and beats the average-only baseline
    assert evaluation["calibration_error"] < 0.05
    assert evaluation["brier"] < evaluation["baseline"]["brier"]
    assert evaluation["expected_csat_mae"] < evaluation["baseline"]["expected_csat_mae"]
    # and what hurts in the rules lowers its prediction, what helps raises it
    model = satisfaction.Model.from_parameters(1, json.loads(json.dumps(outcome.parameters)))
    weight = dict(zip(satisfaction.FEATURE_NAMES, model.coefficients, strict=True))
    for name in ("transfers", "reopens", "no_agent_reply", "recontacted_later", "first_response_log"):
        assert weight[name] < 0, name
    assert weight["sentiment_mean"] > 0
    assert model.categories["channel"]["email"] < model.categories["channel"]["web"]


def test_scoring_from_json_equals_the_fitted_regression():
    # given a trained model, stored as JSON
    history = satisfaction_history.generate(2000, seed=3)
    outcome = satisfaction_training.train(history.training_set(slice(0, 1600)))
    model = satisfaction.Model.from_parameters(1, json.loads(json.dumps(outcome.parameters)))
    # when the newest conversations are scored from the JSON
    rows = history.training_set(slice(1600, 2000))
    mine = [
        model.predict(rows.features[i].tolist(), {k: rows.categories[k][i] for k in satisfaction.CATEGORIES})
        for i in range(len(rows))
    ]
    # then it equals the calibrated regression on the training design (standardised numbers, one-hot categories)
    design = satisfaction_training.Design(
        np.array(model.means), np.array(model.scales),
        {k: [v for v in d if v != satisfaction.OTHER] for k, d in model.categories.items()},
    )  # fmt: skip
    columns = design.columns()
    weights = np.array(model.coefficients + [model.categories[k][v] for k, v in columns])
    logits = design.matrix(rows) @ weights + model.intercept
    a, b = model.calibration
    expected = 1 / (1 + np.exp(-(a * logits + b)))
    assert [p.satisfied_probability for p in mine] == pytest.approx(expected.tolist(), abs=1e-9)


def test_too_few_answers_decline_and_say_why():
    history = satisfaction_history.generate(120)
    outcome = satisfaction_training.train(history.training_set(), min_answers=200)
    assert outcome.status == "declined"
    assert outcome.parameters == {}
    assert "Only 120 answered conversations" in outcome.reason and "at least 200" in outcome.reason


def test_a_model_that_does_not_beat_the_baseline_is_not_promoted():
    # given answers that have nothing to do with what happened (the scores are shuffled)
    history = satisfaction_history.generate(1500, seed=5)
    rng = np.random.default_rng(9)
    history.scores = rng.permutation(history.scores)
    # when a model is trained
    outcome = satisfaction_training.train(history.training_set())
    # then it is rejected, with its evaluation and the reason
    assert outcome.status == "rejected"
    assert not outcome.evaluation["beats_baseline"]
    assert "baseline" in outcome.reason


def test_one_verdict_only_declines():
    history = satisfaction_history.generate(300)
    history.scores[:] = 5
    outcome = satisfaction_training.train(history.training_set())
    assert outcome.status == "declined" and "same verdict" in outcome.reason
