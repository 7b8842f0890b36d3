"""Predicted satisfaction in the database: scored by the pipeline, trained, evaluated, refused, explained.

A trained world (150 answered conversations whose scores follow the customer's words, and a model
trained on them) is built once for the module and committed; each test runs in a transaction that
is rolled back. The refusals build their own small worlds.
"""

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from chat import privacy, services
from feedback import predictions, satisfaction
from feedback.models import FollowUp, SatisfactionRollup, SatisfactionScore, SurveyPolicy
from tests.factories import ContactFactory, InboxFactory, SupervisorFactory, agent_user, conversation_with

from .metrics_helpers import wide_range
from .satisfaction_helpers import answered_history

pytestmark = pytest.mark.django_db

MINIMUM = 80  # the tests' minimum of answers (the product's default is 200)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Committed for the module: an inbox, an agent, a supervisor, 150 answered conversations, a model."""
    with django_db_blocker.unblock():
        inbox = InboxFactory(name="Shop")
        agent = agent_user(inbox)
        supervisor = SupervisorFactory().user
        conversations = answered_history(150, inbox=inbox, agent=agent, agreement=0.95)
        run = predictions.model_train(trigger="test", minimum=MINIMUM)
        try:
            yield {"inbox": inbox, "agent": agent, "supervisor": supervisor, "conversations": conversations,
                   "run": run}  # fmt: skip
        finally:
            call_command("flush", interactive=False, verbosity=0)


def score_of(conversation) -> SatisfactionScore:
    return SatisfactionScore.objects.get(conversation=conversation)


def test_the_trained_model_is_promoted_with_its_evaluation(world):
    run = world["run"]
    # given answers that follow the customer's words, the model beat the baseline on the newest ones
    assert run.status == "promoted" and run.is_active, run.reason
    evaluation = run.evaluation
    assert evaluation["holdout_answers"] == 30
    assert evaluation["auc"] > 0.8
    assert evaluation["brier"] < evaluation["baseline"]["brier"]
    # and it is stored as data: JSON parameters, no pickle
    assert set(run.parameters) >= {"means", "scales", "coefficients", "intercept", "calibration", "expected"}
    # and every conversation was scored with it
    scores = SatisfactionScore.objects.filter(conversation__in=world["conversations"])
    assert scores.count() == 150
    assert set(scores.values_list("model_version", flat=True)) == {run.pk}


def test_open_conversations_are_scored_as_events_arrive(world, committed):
    inbox, agent = world["inbox"], world["agent"]
    # given an angry customer's open conversation, processed by the pipeline as it arrives
    with committed():
        conversation = conversation_with(inbox, body="This is terrible, my order is missing and I am angry.")
    angry = score_of(conversation)
    # then it is scored while open, likely unhappy, with the words among the reasons
    assert angry.is_open and angry.model_version == world["run"].pk
    assert angry.likely_unhappy and angry.satisfied_probability < satisfaction.LIKELY_UNHAPPY_BELOW
    assert "sentiment_mean" in [reason["feature"] for reason in angry.reasons]
    assert len(angry.reasons) == 3
    # when the agent helps and the customer thanks them
    with committed():
        services.message_send(conversation=conversation, by=agent, body="Found it, it ships today.")
        services.message_receive(
            inbox=inbox, contact=conversation.contact, channel="web", body="Great, thank you so much, wonderful!"
        )
    calmer = score_of(conversation)
    # then the next batch scores it again, higher
    assert calmer.satisfied_probability > angry.satisfied_probability
    # and once resolved it is no longer "likely unhappy" (that is for open conversations) but predicted
    with committed():
        services.conversation_resolve(conversation=conversation, by=agent)
    resolved = score_of(conversation)
    assert not resolved.is_open and not resolved.likely_unhappy
    assert any(key.endswith("|predicted") for key in resolved.contributions)


def test_the_satisfaction_cells_equal_a_recomputation(world, committed):
    inbox, agent = world["inbox"], world["agent"]
    # given more conversations, resolved, one answered later
    with committed():
        first = conversation_with(inbox, body="Awful, nobody answers.")
        services.conversation_resolve(conversation=first, by=agent)
        second = conversation_with(inbox, body="Thanks for the quick help!")
        services.message_send(conversation=second, by=agent, body="You are welcome.")
        services.conversation_resolve(conversation=second, by=agent)
    from .metrics_helpers import answered

    answered(second, csat=5)
    # then the stored cells are what a recomputation from raw rows gives
    day_from, day_to = wide_range()
    report = predictions.recompute(day_from=day_from, day_to=day_to, write=False)
    assert report.differences == []
    # and a recomputation that writes changes nothing
    cells = SatisfactionRollup.objects.exclude(count=0, total=0)
    before = set(cells.values_list("day", "metric", "count", "total"))
    predictions.recompute(day_from=day_from, day_to=day_to)
    assert set(cells.values_list("day", "metric", "count", "total")) == before


def test_erased_people_leave_the_training_set(world):
    # given an answered conversation whose customer's words were scored
    conversation = world["conversations"][0]
    assert score_of(conversation).text_sentiment
    before = len(predictions.training_set())
    # when the person is erased
    counts = privacy.contact_erase(contact=conversation.contact)
    # then their conversation is not learnt from, and no number derived from their words is kept
    assert len(predictions.training_set()) == before - 1
    assert counts["satisfaction_sentiments"] == 1
    score = score_of(conversation)
    assert not score.text_sentiment
    assert score.features[satisfaction.FEATURE_INDEX["sentiment_mean"]] == 0
    # and the cells still equal a recomputation from the emptied rows
    day_from, day_to = wide_range()
    assert predictions.recompute(day_from=day_from, day_to=day_to, write=False).differences == []


def test_a_likely_unhappy_open_conversation_raises_a_follow_up_when_the_inbox_asks(world, committed, client):
    inbox = world["inbox"]
    # given an inbox whose policy does not ask: no follow-up
    with committed():
        quiet = conversation_with(inbox, body="This is terrible and I am angry.")
    assert score_of(quiet).likely_unhappy
    assert not FollowUp.objects.filter(conversation=quiet).exists()
    # when the workspace turns it on for the inbox
    SurveyPolicy.objects.update_or_create(inbox=inbox, defaults={"follow_up_likely_unhappy": True})
    with committed():
        loud = conversation_with(inbox, body="Awful service, worst ever, I am furious.")
        services.message_receive(inbox=inbox, contact=loud.contact, channel="web", body="Still nothing. Terrible.")
    # then one follow-up, without a survey answer, whatever the number of batches
    follow_ups = FollowUp.objects.filter(conversation=loud)
    assert follow_ups.count() == 1
    assert follow_ups.get().reason == FollowUp.Reason.LIKELY_UNHAPPY and follow_ups.get().response is None
    # and the team lead's list says where it comes from
    client.force_login(world["supervisor"])
    page = client.get("/console/followups/").content.decode()
    assert f"Conversation #{loud.pk}" in page and "Predicted likely unhappy while open" in page
    listed = client.get("/api/v1/followups/").json()["results"]
    assert [(f["reason"], f["response"]) for f in listed if f["conversation"] == loud.pk] == [("likely_unhappy", None)]


def test_the_figures_through_the_api(world, as_user):
    # given the supervisor
    api = as_user(world["supervisor"])
    # when they read the satisfaction figures
    body = api.get("/api/v1/metrics/satisfaction/").json()
    figures = body["metrics"]
    # then every resolved conversation is answered here: the estimate equals the answered CSAT %
    estimate = figures["estimated_csat_percent"]
    coverage = figures["satisfaction_coverage"]
    assert coverage["answered"] == 150 and coverage["neither"] == 0
    assert body["model"]["available"] and body["model"]["model"]["version"] == world["run"].pk
    assert body["model"]["model"]["evaluation"]["auc"] == world["run"].evaluation["auc"]
    assert estimate["value"] == figures["respondents_csat_percent"]["value"]
    assert [row["label"] for row in body["breakdowns"]["channel"]] == ["Web chat"]


def test_silent_customers_are_estimated_with_an_interval(world, as_user, committed):
    inbox, agent = world["inbox"], world["agent"]
    # given ten resolved conversations nobody answered, angry ones
    with committed():
        for _ in range(10):
            conversation = conversation_with(inbox, body="Terrible. Nobody helps and I am angry.")
            services.conversation_resolve(conversation=conversation, by=agent)
    body = as_user(world["supervisor"]).get("/api/v1/metrics/satisfaction/").json()
    figures = body["metrics"]
    estimate = figures["estimated_csat_percent"]
    # then they are predicted, and pull the estimate below what the respondents said
    assert figures["satisfaction_coverage"]["predicted"] == 10
    assert figures["nonrespondents_predicted_csat_percent"]["value"] < figures["respondents_csat_percent"]["value"]
    assert estimate["value"] < figures["respondents_csat_percent"]["value"]
    assert estimate["low"] < estimate["value"] < estimate["high"]
    assert estimate["denominator"] == 160


def test_per_conversation_predictions_are_for_supervisors(world, as_user, committed):
    with committed():
        conversation = conversation_with(world["inbox"], body="I am furious, this is awful.")
    # a supervisor reads the prediction and its three reasons
    body = as_user(world["supervisor"]).get(f"/api/v1/satisfaction/conversations/{conversation.pk}/").json()
    assert body["available"] and body["likely_unhappy"] and len(body["reasons"]) == 3
    listed = as_user(world["supervisor"]).get(
        "/api/v1/satisfaction/conversations/", {"conversation": [conversation.pk, 987654]}
    )
    assert [row["conversation_id"] for row in listed.json()["results"]] == [conversation.pk]
    # the inbox's own agent may not (it is a supervisor's aid), nor train the model
    api = as_user(world["agent"])
    assert api.get(f"/api/v1/satisfaction/conversations/{conversation.pk}/").status_code == 403
    assert api.post("/api/v1/satisfaction/model/train/").status_code == 403
    # bad ids are a 400, not a 500
    bad = as_user(world["supervisor"]).get("/api/v1/satisfaction/conversations/", {"conversation": "x"})
    assert bad.status_code == 400 and bad.json()["error"]["fields"]["conversation"]


def test_the_export_says_answered_or_predicted(world, as_user, committed):
    with committed():
        silent = conversation_with(world["inbox"], body="Thanks, that is great.")
        services.conversation_resolve(conversation=silent, by=world["agent"])
    response = as_user(world["supervisor"]).get("/api/v1/exports/conversations.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    by_id = {int(row["conversation_id"]): row for row in rows}
    assert by_id[silent.pk]["satisfaction_source"] == "predicted"
    assert 0 < float(by_id[silent.pk]["predicted_satisfied_probability"]) < 1
    answered_row = by_id[world["conversations"][-1].pk]
    assert answered_row["satisfaction_source"] == "answered" and answered_row["prediction_model_version"]


def test_a_history_imported_before_the_model_is_scored_by_the_recompute(world):
    # the scores of conversations older than this feature come from recompute_metrics (docs/metrics.md)
    SatisfactionScore.objects.all().delete()
    SatisfactionRollup.objects.all().delete()
    day_from, day_to = wide_range()
    call_command("recompute_metrics", "--from", day_from.isoformat(), "--to", day_to.isoformat())
    assert SatisfactionScore.objects.filter(model_version=world["run"].pk).count() == 150
    assert predictions.recompute(day_from=day_from, day_to=day_to, write=False).differences == []
    assert timezone.now() - SatisfactionScore.objects.latest("scored_at").scored_at < timedelta(minutes=5)


def test_the_customers_known_language_decides_whether_their_words_are_scored(world, committed):
    # given two customers writing the same English words, one known to read Russian
    russian = ContactFactory(locale="ru")
    english = ContactFactory(locale="en")
    with committed():
        first = conversation_with(world["inbox"], russian, body="Terrible, nobody helps me.")
        second = conversation_with(world["inbox"], english, body="Terrible, nobody helps me.")
    # then only the English reader's words are scored (docs/metrics.md, "Languages")
    assert not score_of(first).text_sentiment
    assert score_of(second).text_sentiment
