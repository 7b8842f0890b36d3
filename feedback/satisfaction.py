"""Predicted satisfaction as pure functions: features, the model as data, its cells and figures (no ORM).

docs/adr/0007-satisfaction-model.md says why a logistic regression stored as JSON; docs/metrics.md
defines every figure. Layers, each a pure function of the one before:

1. `features(signals, now=…)` turns what happened in one conversation (`Signals`: durations,
   counts, flags, the customer's words) into a numeric vector in `FEATURES` order. The
   customer's words are scored with VADER (vaderSentiment) when they are English; in other
   languages the sentiment features are 0 and `text_sentiment` is 0, so the model learns the
   two cases apart.
2. `Model.from_parameters(json)` reads a trained model (coefficients, means, scales, a Platt
   calibration, a ridge regression for the expected score) and `Model.predict(...)` gives
   P(CSAT ≥ 4), the expected CSAT and the three features that weigh most. Nothing is unpickled.
3. `contributions(...)` turns one resolved conversation's answer or prediction into additive
   counters per satisfaction cell (probabilities in millionths: sums stay exact integers), and
   `figures(counters, error=…)` into the estimate with its confidence interval, the coverage and
   respondents against non-respondents.
4. `evaluate(...)`: AUC, Brier score, calibration table, predicted against actual CSAT % on a
   hold-out, against the baseline that always predicts the average.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from functools import cache, lru_cache

from django.utils.translation import gettext_noop  # labels marked here, translated where they are shown

from .metrics import RECONTACT_WINDOW, cell_key, csat_satisfied, local_day

FEATURE_VERSION = 1
MIN_ANSWERS = 200  # below this no model is fitted: it declines, and says why
LIKELY_UNHAPPY_BELOW = 0.5  # P(CSAT >= 4) under this: "likely unhappy"
COUNT_CAP = 10
TEXT_CHARS = 1000  # of each customer message, for the sentiment
TEXT_MESSAGES = 20  # the customer's last messages read for the sentiment
CATEGORIES = ("channel", "inbox", "team")
PRIORITY_RANK = {"low": 0, "normal": 1, "high": 2, "urgent": 3}


@dataclass(frozen=True)
class Feature:
    name: str
    label: str
    kind: str  # duration (log1p seconds) | count_log (log1p) | count | flag | priority | sentiment


FEATURES: tuple[Feature, ...] = (
    Feature("first_response_log", gettext_noop("First response"), "duration"),
    Feature("no_agent_reply", gettext_noop("No agent reply"), "flag"),
    Feature("duration_log", gettext_noop("Time open"), "duration"),  # to the first resolution, or so far
    Feature("customer_messages_log", gettext_noop("Customer messages"), "count_log"),
    Feature("messages_before_reply_log", gettext_noop("Customer messages before the first reply"), "count_log"),
    Feature("agent_messages_log", gettext_noop("Agent replies"), "count_log"),
    Feature("transfers", gettext_noop("Transfers"), "count"),
    Feature("channel_switches", gettext_noop("Channel switches"), "count"),
    Feature("reopens", gettext_noop("Reopened"), "count"),
    Feature("is_recontact", gettext_noop("Came back within 7 days of a resolution"), "flag"),
    Feature("recontacted_later", gettext_noop("Wrote again within 7 days of the resolution"), "flag"),
    Feature("opened_at_risk", gettext_noop("At risk when it opened"), "flag"),
    Feature("priority_rank", gettext_noop("Priority"), "priority"),
    Feature("sentiment_mean", gettext_noop("Customer's words, on average"), "sentiment"),
    Feature("sentiment_min", gettext_noop("Customer's most negative message"), "sentiment"),
    Feature("sentiment_last", gettext_noop("Customer's last message"), "sentiment"),
    Feature("text_sentiment", gettext_noop("Customer's words scored"), "flag"),
)
FEATURE_NAMES = tuple(f.name for f in FEATURES)
FEATURE_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}
CATEGORY_LABELS = {"channel": gettext_noop("Channel"), "inbox": gettext_noop("Inbox"), "team": gettext_noop("Team")}


# --- the customer's words --------------------------------------------------------------------

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
# Frequent English words: with VADER's own lexicon, what tells English text from other languages.
ENGLISH_WORDS = frozenset(
    """
    a about after again all am an and any are as at back be been before but by can cannot could did do
    does done don't for from get got had has have haven't hello hi how i i'm if in is isn't it it's just
    me my need no not now of ok on one or order our out please problem so still that the them then there
    they this time to today up us was wasn't we what when where which why will with would yes yet you
    your
    """.split()  # noqa: SIM905 (a word list reads best as words)
)


@cache
def _analyzer():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # a lexicon file, read once

    return SentimentIntensityAnalyzer()


def looks_english(text: str) -> bool:
    """Whether VADER can read this text: mostly unaccented letters, and enough frequent English words.

    A heuristic (no language model): short texts pass on one English or lexicon word. docs/metrics.md
    says which languages get text features (English only).
    """
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return False
    letters = "".join(words)
    if sum(1 for ch in letters if ord(ch) > 127) > 0.05 * len(letters):
        return False
    lexicon = _analyzer().lexicon
    common = sum(1 for w in words if w in ENGLISH_WORDS)
    if len(words) <= 3:
        return any(w in ENGLISH_WORDS or w in lexicon for w in words)
    return common >= 0.2 * len(words)


def sentiment(texts: Sequence[str], *, language: str | None = None) -> list[float] | None:
    """VADER's compound score (−1 … 1) of each text, or None when the words are not English.

    `language`, when known (an ISO code), decides; otherwise `looks_english` on all the texts.
    """
    texts = [t[:TEXT_CHARS] for t in texts if t and t.strip()][-TEXT_MESSAGES:]
    if not texts:
        return None
    english = language.lower().startswith("en") if language else looks_english(" ".join(texts))
    if not english:
        return None
    return [compound(t) for t in texts]


@lru_cache(maxsize=20_000)
def compound(text: str) -> float:
    """VADER's compound score of one text; kept per process, as a conversation's earlier messages
    are scored again at each of its refreshes (its new messages are the only new work)."""
    return _analyzer().polarity_scores(text)["compound"]


# --- features ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signals:
    """What happened in one conversation, as plain values (feedback/predictions.py reads them)."""

    opened_at: datetime
    first_resolved_at: datetime | None = None
    customer_message_times: tuple[datetime, ...] = ()
    first_reply_at: datetime | None = None  # the first human reply after the first customer message
    agent_messages: int = 0
    transfers: int = 0
    channel_switches: int = 0
    reopens: int = 0
    is_recontact: bool = False
    recontacted_later: bool = False
    opened_at_risk: bool = False
    priority: str = "normal"
    customer_texts: tuple[str, ...] = ()
    language: str | None = None


def recontacted_after(first_resolved_at: datetime | None, later_openings: Iterable[datetime]) -> bool:
    """A conversation of the same contact opened within 7 days after the first resolution (so far)."""
    if first_resolved_at is None:
        return False
    end = first_resolved_at + RECONTACT_WINDOW
    return any(first_resolved_at <= at <= end for at in later_openings)


def features(signals: Signals, *, now: datetime) -> tuple[list[float], bool]:
    """The numeric features (FEATURES order) and whether the customer's words were scored.

    Time is measured up to the first resolution when there is one, so a resolved conversation's
    features do not change with `now` (its cells stay equal to a recomputation); an open one's
    waits count up to `now`.
    """
    end = signals.first_resolved_at or now
    times = sorted(signals.customer_message_times)
    first_customer = times[0] if times else None
    if signals.first_reply_at is not None and first_customer is not None:
        waited = (signals.first_reply_at - first_customer).total_seconds()
        before_reply = sum(1 for t in times if t < signals.first_reply_at)
    else:
        waited = (end - first_customer).total_seconds() if first_customer else 0.0
        before_reply = len(times)
    scores = sentiment(signals.customer_texts, language=signals.language)
    values = {
        "first_response_log": math.log1p(max(waited, 0.0)),
        "no_agent_reply": float(signals.first_reply_at is None),
        "duration_log": math.log1p(max((end - signals.opened_at).total_seconds(), 0.0)),
        "customer_messages_log": math.log1p(len(times)),
        "messages_before_reply_log": math.log1p(before_reply),
        "agent_messages_log": math.log1p(signals.agent_messages),
        "transfers": float(min(signals.transfers, COUNT_CAP)),
        "channel_switches": float(min(signals.channel_switches, COUNT_CAP)),
        "reopens": float(min(signals.reopens, COUNT_CAP)),
        "is_recontact": float(signals.is_recontact),
        "recontacted_later": float(signals.recontacted_later),
        "opened_at_risk": float(signals.opened_at_risk),
        "priority_rank": float(PRIORITY_RANK.get(signals.priority, 1)),
        "sentiment_mean": sum(scores) / len(scores) if scores else 0.0,
        "sentiment_min": min(scores) if scores else 0.0,
        "sentiment_last": scores[-1] if scores else 0.0,
        "text_sentiment": float(scores is not None),
    }
    return [round(values[name], 6) for name in FEATURE_NAMES], scores is not None


# --- the model as data -------------------------------------------------------------------------


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@dataclass(frozen=True)
class Prediction:
    satisfied_probability: float
    expected_csat: float
    likely_unhappy: bool
    reasons: list[dict]


OTHER = "_other"  # a category value the model did not see often enough to learn


def category_value(name: str, value) -> str:
    return OTHER if value in (None, "", 0) else str(value)


@dataclass
class Model:
    """A trained model (feedback/satisfaction_training.py writes `parameters()`; this reads them back).

    z = intercept + Σ coef·(x − mean)/scale + Σ category coefficient; P(CSAT ≥ 4) = σ(a·z + b)
    (Platt calibration on the newest training answers); expected CSAT = the ridge regression's
    prediction on the same design, clipped to 1–5.
    """

    version: int
    means: list[float]
    scales: list[float]
    coefficients: list[float]
    intercept: float
    categories: dict[str, dict[str, float]]  # category → value → coefficient (OTHER included)
    category_means: dict[str, float]  # category → the training mix's average coefficient
    calibration: tuple[float, float]
    expected_intercept: float
    expected_coefficients: list[float]
    expected_categories: dict[str, dict[str, float]]
    feature_version: int = FEATURE_VERSION
    evaluation: dict = field(default_factory=dict)

    @classmethod
    def from_parameters(cls, version: int, parameters: Mapping, evaluation: Mapping | None = None) -> Model:
        if parameters.get("kind") != "logistic_regression" or parameters.get("features") != list(FEATURE_NAMES):
            raise ValueError("not a satisfaction model of this feature set")
        return cls(
            version=version,
            means=[float(v) for v in parameters["means"]],
            scales=[float(v) or 1.0 for v in parameters["scales"]],
            coefficients=[float(v) for v in parameters["coefficients"]],
            intercept=float(parameters["intercept"]),
            categories={k: {str(v): float(c) for v, c in d.items()} for k, d in parameters["categories"].items()},
            category_means={k: float(v) for k, v in parameters["category_means"].items()},
            calibration=(float(parameters["calibration"]["a"]), float(parameters["calibration"]["b"])),
            expected_intercept=float(parameters["expected"]["intercept"]),
            expected_coefficients=[float(v) for v in parameters["expected"]["coefficients"]],
            expected_categories={
                k: {str(v): float(c) for v, c in d.items()} for k, d in parameters["expected"]["categories"].items()
            },
            feature_version=int(parameters.get("feature_version", FEATURE_VERSION)),
            evaluation=dict(evaluation or {}),
        )

    def _category(self, table: Mapping[str, Mapping[str, float]], name: str, value) -> tuple[float, str]:
        known = table.get(name, {})
        key = category_value(name, value)
        if key not in known:
            key = OTHER
        return known.get(key, 0.0), key

    def predict(self, values: Sequence[float], categories: Mapping[str, object]) -> Prediction:
        a, b = self.calibration
        z = self.intercept
        weights: list[tuple[float, str, str]] = []  # (weight on the calibrated logit, feature, shown value)
        for i, feature in enumerate(FEATURES):
            standard = (values[i] - self.means[i]) / self.scales[i]
            term = self.coefficients[i] * standard  # a feature at the training mean weighs nothing
            z += term
            weights.append((a * term, feature.name, show(feature, values[i])))
        for name in CATEGORIES:
            coefficient, key = self._category(self.categories, name, categories.get(name))
            z += coefficient
            weights.append((a * (coefficient - self.category_means.get(name, 0.0)), name, key))
        probability = sigmoid(a * z + b)
        expected = self.expected_intercept + sum(
            c * (values[i] - self.means[i]) / self.scales[i] for i, c in enumerate(self.expected_coefficients)
        )
        for name in CATEGORIES:
            expected += self._category(self.expected_categories, name, categories.get(name))[0]
        expected = min(5.0, max(1.0, expected))
        return Prediction(
            satisfied_probability=probability,
            expected_csat=expected,
            likely_unhappy=probability < LIKELY_UNHAPPY_BELOW,
            reasons=top_reasons(weights, categories),
        )


def show(feature: Feature, value: float) -> str:
    """A feature's value as a person reads it (the duration in s/min/h, a count, yes/no…)."""
    if feature.kind == "duration":
        seconds = math.expm1(value)
        if seconds < 90:
            return f"{seconds:.0f} s"
        if seconds < 5400:
            return f"{seconds / 60:.0f} min"
        if seconds < 2 * 86400:
            return f"{seconds / 3600:.1f} h"
        return f"{seconds / 86400:.1f} days"
    if feature.kind == "count_log":
        return str(round(math.expm1(value)))
    if feature.kind == "count":
        return str(round(value))
    if feature.kind == "flag":
        return "yes" if value >= 0.5 else "no"
    if feature.kind == "priority":
        return {v: k for k, v in PRIORITY_RANK.items()}.get(round(value), "normal")
    if feature.kind == "sentiment":
        word = "negative" if value <= -0.05 else "positive" if value >= 0.05 else "neutral"
        return f"{word} ({value:+.2f})"
    return f"{value:g}"


LABELS = {f.name: f.label for f in FEATURES} | CATEGORY_LABELS


def top_reasons(weights: Iterable[tuple[float, str, str]], categories: Mapping[str, object], n: int = 3) -> list:
    """The n features that move this conversation's prediction most from the average, largest first."""
    ranked = sorted((w for w in weights if abs(w[0]) >= 0.005), key=lambda w: (-abs(w[0]), w[1]))[:n]
    out = []
    for weight, name, value in ranked:
        if name in CATEGORIES:
            shown = categories.get(f"{name}_label") or (value if value != OTHER else "other")
        else:
            shown = value
        out.append(
            {
                "feature": name,
                "label": LABELS[name],
                "value": str(shown),
                "effect": "raises" if weight > 0 else "lowers",
                "weight": round(weight, 4),
            }
        )
    return out


# --- contributions to the satisfaction cells ----------------------------------------------------

MICRO = 1_000_000


def micro(probability: float) -> int:
    return round(probability * MICRO)


@dataclass(frozen=True)
class ScoredConversation:
    """What one conversation adds to the satisfaction cells: who has the credit and what is known."""

    inbox_id: int
    agent_id: int | None
    team_id: int | None
    channel: str
    first_resolved_at: datetime | None
    csat: int | None  # the answered CSAT (the latest resolution's answer)
    satisfied_probability: float | None  # None: no model scored it
    expected_csat: float | None


def contributions(c: ScoredConversation, *, tz: tzinfo) -> dict[str, tuple[int, int]]:
    """Counters per cell, on the day of the first resolution (open conversations add nothing).

    Each resolved conversation is *answered* (CSAT given), else *predicted* (scored by a model),
    else *neither*. Answered ones also add their prediction (respondents: predicted beside actual).
    """
    if c.first_resolved_at is None:
        return {}
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    day = local_day(c.first_resolved_at, tz).isoformat()
    dims = (c.inbox_id, c.agent_id or 0, c.team_id or 0, c.channel)

    def add(metric: str, total: int = 0) -> None:
        cell = out[cell_key((day, *dims, metric))]
        cell[0] += 1
        cell[1] += total

    add("resolved")
    p, expected = c.satisfied_probability, c.expected_csat
    if c.csat is not None:
        add("answered", int(csat_satisfied(c.csat)))
        add("answered_score", c.csat)
        if p is not None:
            add("respondent_predicted", micro(p))
            add("respondent_expected", micro(expected or 0.0))
    elif p is not None:
        add("predicted", micro(p))
        add("predicted_variance", micro(p * (1 - p)))
        add("predicted_expected", micro(expected or 0.0))
    else:
        add("neither")
    return {key: (count, total) for key, (count, total) in out.items()}


# --- figures -----------------------------------------------------------------------------

VERSIONS = {
    "estimated_csat_percent": 1,
    "estimated_csat_average": 1,
    "satisfaction_coverage": 1,
    "respondents_csat_percent": 1,
    "respondents_predicted_csat_percent": 1,
    "nonrespondents_predicted_csat_percent": 1,
}
Z95 = 1.959964
BEAT_BY_STANDARD_ERRORS = 1.0


def _get(counters: Mapping[str, tuple[int, int]], metric: str) -> tuple[int, int]:
    return tuple(counters.get(metric, (0, 0)))  # type: ignore[return-value]


@dataclass(frozen=True)
class ModelError:
    """How far the model's average was from the truth on its hold-out (fractions, 0–1)."""

    bias: float  # |predicted − actual| share of satisfied answers on the hold-out
    standard_error: float  # the standard error of that difference

    @classmethod
    def of(cls, evaluation: Mapping) -> ModelError:
        holdout = (evaluation or {}).get("holdout_csat") or {}
        return cls(abs(holdout.get("error_pp") or 0.0) / 100, (holdout.get("error_se_pp") or 0.0) / 100)


def _share(numerator: float, denominator: int, version: int) -> dict:
    value = None if not denominator else 100.0 * numerator / denominator
    return {"value": value, "numerator": numerator, "denominator": denominator, "version": version}


def estimated_csat(counters: Mapping[str, tuple[int, int]], *, error: ModelError | None) -> dict:
    """CSAT % over the resolved conversations that were answered or predicted, with a 95 % interval.

    numerator = satisfied answers + Σ P(CSAT ≥ 4) of the predicted ones; denominator = answered +
    predicted. The interval adds the outcomes' own spread (Σ p(1 − p): each predicted customer is
    satisfied or not) and the model's error on its hold-out (bias² + its standard error², for every
    predicted conversation at once, since one model makes them all). Without a model (`error`
    None) there is no estimate: null, never a figure without its evaluation.
    """
    version = VERSIONS["estimated_csat_percent"]
    answered, satisfied = _get(counters, "answered")
    predicted, probability_micro = _get(counters, "predicted")
    variance_micro = _get(counters, "predicted_variance")[1]
    denominator = answered + predicted
    if error is None or not denominator or not predicted:
        figure = _share(satisfied, answered, version) if error is not None else _share(0, 0, version)
        figure.update(low=figure["value"], high=figure["value"], answered=answered, predicted=predicted)
        if error is None:
            figure.update(value=None, numerator=0, denominator=0, low=None, high=None)
        return figure
    numerator = satisfied + probability_micro / MICRO
    figure = _share(numerator, denominator, version)
    spread = variance_micro / MICRO + (predicted**2) * (error.bias**2 + error.standard_error**2)
    half = 100.0 * Z95 * math.sqrt(spread) / denominator
    figure.update(
        low=max(0.0, figure["value"] - half),
        high=min(100.0, figure["value"] + half),
        level=0.95,
        answered=answered,
        predicted=predicted,
    )
    return figure


def figures(counters: Mapping[str, tuple[int, int]], *, error: ModelError | None) -> dict[str, dict]:
    """Every satisfaction figure of docs/metrics.md from summed counters."""
    resolved = _get(counters, "resolved")[0]
    answered, satisfied = _get(counters, "answered")
    answered_score = _get(counters, "answered_score")[1]
    predicted, probability_micro = _get(counters, "predicted")
    expected_micro = _get(counters, "predicted_expected")[1]
    respondents_scored, respondent_micro = _get(counters, "respondent_predicted")
    neither = _get(counters, "neither")[0]
    average_total = answered_score + expected_micro / MICRO
    average_count = answered + predicted
    return {
        "estimated_csat_percent": estimated_csat(counters, error=error),
        "estimated_csat_average": {
            "value": (average_total / average_count) if (average_count and error and predicted) else None,
            "numerator": average_total if error else 0,
            "denominator": average_count if error else 0,
            "version": VERSIONS["estimated_csat_average"],
        },
        "satisfaction_coverage": {
            "value": _share(answered + predicted, resolved, 1)["value"],
            "numerator": answered + predicted,
            "denominator": resolved,
            "answered": answered,
            "predicted": predicted,
            "neither": neither,
            "version": VERSIONS["satisfaction_coverage"],
        },
        "respondents_csat_percent": _share(satisfied, answered, VERSIONS["respondents_csat_percent"]),
        "respondents_predicted_csat_percent": _share(
            respondent_micro / MICRO, respondents_scored, VERSIONS["respondents_predicted_csat_percent"]
        ),
        "nonrespondents_predicted_csat_percent": _share(
            probability_micro / MICRO, predicted, VERSIONS["nonrespondents_predicted_csat_percent"]
        ),
    }


# --- evaluation ----------------------------------------------------------------------------------


def auc(probabilities: Sequence[float], outcomes: Sequence[int]) -> float | None:
    """Area under the ROC curve (Mann–Whitney, ties counted half); None without both classes."""
    pairs = sorted(zip(probabilities, outcomes, strict=True))
    positives = sum(outcomes)
    negatives = len(outcomes) - positives
    if not positives or not negatives:
        return None
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        average_rank = (i + 1 + j) / 2  # ranks i+1 … j share their average
        rank_sum += average_rank * sum(y for _, y in pairs[i:j])
        i = j
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def brier(probabilities: Sequence[float], outcomes: Sequence[int]) -> float | None:
    if not outcomes:
        return None
    return sum((p - y) ** 2 for p, y in zip(probabilities, outcomes, strict=True)) / len(outcomes)


def calibration_table(probabilities: Sequence[float], outcomes: Sequence[int], bins: int = 10) -> list[dict]:
    """Per tenth of predicted probability: how many, the mean prediction, the share actually satisfied."""
    groups: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for p, y in zip(probabilities, outcomes, strict=True):
        groups[min(int(p * bins), bins - 1)].append((p, y))
    table = []
    for b in range(bins):
        rows = groups.get(b, [])
        table.append(
            {
                "from": b / bins,
                "to": (b + 1) / bins,
                "count": len(rows),
                "predicted": sum(p for p, _ in rows) / len(rows) if rows else None,
                "actual": sum(y for _, y in rows) / len(rows) if rows else None,
            }
        )
    return table


def calibration_error(table: Sequence[Mapping]) -> float | None:
    """Expected calibration error: |predicted − actual| of each bin, weighted by its count."""
    total = sum(row["count"] for row in table)
    if not total:
        return None
    return sum(row["count"] * abs(row["predicted"] - row["actual"]) for row in table if row["count"]) / total


def holdout_csat(probabilities: Sequence[float], outcomes: Sequence[int]) -> dict:
    """Predicted against actual CSAT % on the hold-out, the error and its standard error (pp)."""
    n = len(outcomes)
    predicted = 100.0 * sum(probabilities) / n
    actual = 100.0 * sum(outcomes) / n
    spread = math.sqrt(sum(p * (1 - p) for p in probabilities)) / n * 100.0
    return {
        "answers": n,
        "predicted_percent": predicted,
        "actual_percent": actual,
        "error_pp": predicted - actual,
        "error_se_pp": spread,
    }


def evaluate(
    *,
    probabilities: Sequence[float],
    expected: Sequence[float],
    scores: Sequence[int],
    baseline_probability: float,
    baseline_score: float,
) -> dict:
    """The hold-out evaluation stored with a model, and whether it beats the average-only baseline.

    It beats the baseline when both classes are in the hold-out, its AUC is above 0.5 and its
    Brier score is below the baseline's by more than one standard error of the answer-by-answer
    difference (the baseline always predicts the older answers' share of satisfied: AUC 0.5).
    """
    outcomes = [int(csat_satisfied(s)) for s in scores]
    baseline = [baseline_probability] * len(outcomes)
    model_auc = auc(probabilities, outcomes)
    model_brier = brier(probabilities, outcomes)
    baseline_brier = brier(baseline, outcomes)
    table = calibration_table(probabilities, outcomes)
    mae = sum(abs(e - s) for e, s in zip(expected, scores, strict=True)) / len(scores) if scores else None
    baseline_mae = sum(abs(baseline_score - s) for s in scores) / len(scores) if scores else None
    # The Brier score's gain over the baseline, answer by answer, and its standard error: a model
    # beats the baseline when the gain is more than one standard error above zero (not by luck).
    gains = [(b - y) ** 2 - (p - y) ** 2 for p, b, y in zip(probabilities, baseline, outcomes, strict=True)]
    gain = sum(gains) / len(gains) if gains else 0.0
    gain_se = math.sqrt(sum((g - gain) ** 2 for g in gains) / (len(gains) - 1) / len(gains)) if len(gains) > 1 else 0.0
    beats = model_auc is not None and model_auc > 0.5 and gain > BEAT_BY_STANDARD_ERRORS * gain_se and gain > 0
    if model_auc is None:
        verdict = "The hold-out answers are all satisfied or all unsatisfied: the model cannot be told from a guess."
    elif not beats:
        verdict = (
            f"It did not beat the average-only baseline on the newest answers: AUC {model_auc:.3f}, Brier "
            f"{model_brier:.4f} against the baseline's {baseline_brier:.4f} (a gain of {gain:.4f} ± {gain_se:.4f}; "
            f"it must exceed {BEAT_BY_STANDARD_ERRORS:g} standard error)."
        )
    else:
        verdict = ""
    return {
        "holdout_answers": len(outcomes),
        "auc": model_auc,
        "brier": model_brier,
        "calibration": table,
        "calibration_error": calibration_error(table),
        "holdout_csat": holdout_csat(probabilities, outcomes) if outcomes else None,
        "expected_csat_mae": mae,
        "baseline": {
            "satisfied_probability": baseline_probability,
            "expected_csat": baseline_score,
            "auc": 0.5,
            "brier": baseline_brier,
            "calibration_error": abs(baseline_probability - sum(outcomes) / len(outcomes)) if outcomes else None,
            "holdout_csat": holdout_csat(baseline, outcomes) if outcomes else None,
            "expected_csat_mae": baseline_mae,
        },
        "brier_gain": gain,
        "brier_gain_se": gain_se,
        "beats_baseline": beats,
        "verdict": verdict,
    }
