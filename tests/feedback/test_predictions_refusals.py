"""Predicted satisfaction refused: too few answers, a model no better than the baseline; and training
on demand (the command, the API). Each test builds its own small world."""

import pytest
from django.core.management import call_command

from feedback import predictions
from feedback.models import SatisfactionModel, SatisfactionScore
from tests.factories import InboxFactory, SupervisorFactory, agent_user

from .satisfaction_helpers import answered_history, stored_history

pytestmark = pytest.mark.django_db

MINIMUM = 80  # the tests' minimum of answers (the product's default is 200)


def test_too_few_answers_no_model_and_the_api_says_why(as_user):
    inbox = InboxFactory()
    agent = agent_user(inbox)
    answered_history(12, inbox=inbox, agent=agent)
    # when the model is trained with the product's minimum
    run = predictions.model_train(trigger="test")
    # then it declines, and nothing is predicted
    assert run.status == SatisfactionModel.Status.DECLINED and not run.is_active
    assert "Only 12 answered conversations" in run.reason
    assert not SatisfactionScore.objects.filter(satisfied_probability__isnull=False).exists()
    # and the API explains it (never a 500, never a figure without its evaluation)
    api = as_user(SupervisorFactory().user)
    body = api.get("/api/v1/metrics/satisfaction/").json()
    assert body["model"]["available"] is False and "at least 200" in body["model"]["explanation"]
    assert body["metrics"]["estimated_csat_percent"]["value"] is None
    status = api.get("/api/v1/satisfaction/model/").json()
    assert status["latest_run"]["status"] == "declined" and status["history"][0]["reason"] == run.reason
    conversation_id = SatisfactionScore.objects.first().conversation_id
    one = api.get(f"/api/v1/satisfaction/conversations/{conversation_id}/").json()
    assert one["available"] is False and "Only 12" in one["explanation"]


def test_a_model_worse_than_the_baseline_is_never_promoted():
    inbox = InboxFactory()
    # given 2,000 answers that have nothing to do with the conversations (the generated history's
    # features, its answers shuffled)
    stored_history(2000, inbox=inbox, shuffled=True)
    run = predictions.model_train(trigger="test")
    # then the run is kept, with its evaluation and reason, and not used
    assert run.status == SatisfactionModel.Status.REJECTED and not run.is_active
    assert not run.evaluation["beats_baseline"] and "baseline" in run.reason
    assert predictions.active_model() is None
    assert not SatisfactionScore.objects.filter(satisfied_probability__isnull=False).exists()


def test_a_rejected_run_keeps_the_model_in_force_only_while_it_still_beats_the_baseline():
    inbox = InboxFactory()
    # given a model promoted on answers that follow the generated history's rules
    stored_history(1000, inbox=inbox, seed=8)
    first = predictions.model_train(trigger="test")
    assert first.status == SatisfactionModel.Status.PROMOTED
    # when newer answers stop following them and training runs again
    from feedback.models import SatisfactionScore as Score

    newest = Score.objects.order_by("-answered_at")[:600]
    for row, csat in zip(newest, [1, 5] * 300, strict=True):
        Score.objects.filter(pk=row.pk).update(csat=csat)
    second = predictions.model_train(trigger="test")
    # then the new run is rejected, the model in force is checked on the new hold-out, and retired
    assert second.status == SatisfactionModel.Status.REJECTED
    check = second.evaluation["model_in_force"]
    assert check["version"] == first.pk and not check["beats_baseline"]
    assert predictions.active_model() is None


def test_the_command_trains_and_prints_the_evaluation(capsys):
    inbox = InboxFactory()
    agent = agent_user(inbox)
    answered_history(90, inbox=inbox, agent=agent, seed=7, minutes_apart=60)
    call_command("train_satisfaction_model", "--min-answers", str(MINIMUM))
    out = capsys.readouterr().out
    assert "satisfaction model v" in out and "promoted (90 answered conversations)" in out
    assert "AUC" in out and "baseline 0.500" in out and "in force: this model" in out


def test_training_on_demand_through_the_api(as_user, committed):
    inbox = InboxFactory()
    answered_history(15, inbox=inbox, agent=agent_user(inbox))
    api = as_user(SupervisorFactory().user)
    with committed():
        response = api.post("/api/v1/satisfaction/model/train/")
    assert response.status_code == 202
    run = SatisfactionModel.objects.get()
    assert run.trigger == "api" and run.status == "declined"
    assert api.get("/api/v1/satisfaction/model/").json()["latest_run"]["version"] == run.pk
