"""/api/v1/surveys/: answers listed with filters and scoped to the user's inboxes; policies for
supervisors; no API path answers for a customer."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chat.models import hash_token
from feedback import services
from feedback.models import SurveyInvitation, SurveyPolicy, SurveyResponse
from tests.factories import (
    EmailInboxFactory,
    InboxFactory,
    SupervisorFactory,
    TeamFactory,
    agent_user,
    contact_with,
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/surveys/responses/"


def answered(resolve, committed, inbox, *, agent=None, contact=None, csat=5, days_ago=0):
    conversation = resolve(inbox, contact, agent=agent)
    invitation = SurveyInvitation.objects.get(conversation=conversation)
    token = f"api-test-token-{invitation.pk:010d}"
    SurveyInvitation.objects.filter(pk=invitation.pk).update(token_hash=hash_token(token))
    with committed():
        response = services.survey_answer(token=token, channel=invitation.channel, csat=csat)
    if days_ago:
        SurveyResponse.objects.filter(pk=response.pk).update(answered_at=timezone.now() - timedelta(days=days_ago))
    return response


@pytest.fixture
def world(resolve, committed):
    """Two inboxes with an answer each; agent A sees only the first, a supervisor sees both."""
    team = TeamFactory()
    mine, other = InboxFactory(default_team=team), EmailInboxFactory()
    agent = agent_user(mine)
    a = answered(resolve, committed, mine, agent=agent, csat=2)
    b = answered(resolve, committed, other, contact=contact_with("email", "x@example.com"), csat=4, days_ago=10)
    return {"team": team, "mine": mine, "other": other, "agent": agent, "a": a, "b": b}


def ids(response):
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_an_agent_sees_only_answers_of_their_inboxes(world, as_user):
    api = as_user(world["agent"])
    assert ids(api.get(URL)) == [world["a"].pk]
    assert api.get(f"{URL}{world['b'].pk}/").status_code == 404
    row = api.get(f"{URL}{world['a'].pk}/").json()
    assert row["csat"] == 2 and row["channel"] == "web" and row["inbox_id"] == world["mine"].pk
    assert row["agent"]["id"] == world["agent"].pk and row["team"]["id"] == world["team"].pk


def test_a_foreign_inbox_filter_is_not_found(world, as_user):
    response = as_user(world["agent"]).get(URL, {"inbox": world["other"].pk})
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_filters(world, as_user):
    api = as_user(SupervisorFactory().user)
    a, b = world["a"], world["b"]
    assert ids(api.get(URL)) == [a.pk, b.pk]
    assert ids(api.get(URL, {"inbox": world["other"].public_id})) == [b.pk]
    assert ids(api.get(URL, {"inbox": [world["mine"].pk, world["other"].pk]})) == [a.pk, b.pk]
    assert ids(api.get(URL, {"channel": "email"})) == [b.pk]
    assert ids(api.get(URL, {"agent": world["agent"].pk})) == [a.pk]
    assert ids(api.get(URL, {"team": world["team"].pk})) == [a.pk]
    assert ids(api.get(URL, {"conversation": b.invitation.conversation_id})) == [b.pk]
    assert ids(api.get(URL, {"contact": a.invitation.contact_id})) == [a.pk]
    assert ids(api.get(URL, {"period": "7d"})) == [a.pk]
    today = timezone.localdate()
    assert ids(api.get(URL, {"from": today - timedelta(days=10), "to": today - timedelta(days=10)})) == [b.pk]
    assert ids(api.get(URL, {"from": today})) == [a.pk]


@pytest.mark.parametrize(
    "query", [{"period": "forever"}, {"from": "yesterday"}, {"agent": "me"}, {"channel": "fax"}, {"team": "x"}]
)
def test_bad_filters_are_400_with_field_errors(world, as_user, query):
    response = as_user(SupervisorFactory().user).get(URL, query)
    assert response.status_code == 400
    assert response.json()["error"]["fields"]


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_no_api_path_answers_for_a_customer(world, as_user, method):
    api = as_user(SupervisorFactory().user)
    target = URL if method == "post" else f"{URL}{world['a'].pk}/"
    response = getattr(api, method)(target, {"csat": 5}, format="json")
    assert response.status_code == 405
    assert SurveyResponse.objects.get(pk=world["a"].pk).csat == 2


def test_anonymous_callers_are_refused(api):
    assert api.get(URL).status_code in (401, 403)


def test_contact_history_lists_the_persons_surveys(world, as_user):
    contact = world["a"].invitation.contact
    detail = as_user(world["agent"]).get(f"/api/v1/contacts/{contact.pk}/").json()
    history = detail["survey_history"]
    assert [h["csat"] for h in history] == [2]
    assert history[0]["status"] == "answered" and history[0]["agent"]["id"] == world["agent"].pk


# --- policies -----------------------------------------------------------------------------

POLICIES = "/api/v1/surveys/policies/"


def test_supervisors_read_every_inbox_policy_with_defaults(as_user):
    inbox = InboxFactory()
    rows = as_user(SupervisorFactory().user).get(POLICIES).json()
    row = next(r for r in rows if r["inbox_id"] == inbox.pk)
    assert row["questions"] == ["csat", "ces", "comment"] and row["expiry_seconds"] == 7 * 86400
    assert row["cooldown_seconds"] == 14 * 86400 and row["sample_rate"] == 1.0
    assert row["effective_questions"][0]["max"] == 5


def test_supervisors_update_a_policy(as_user):
    inbox = InboxFactory()
    api = as_user(SupervisorFactory().user)
    response = api.patch(
        f"{POLICIES}{inbox.pk}/",
        {"questions": ["nps", "comment"], "wording": {"nps": "Would you recommend Acme?"}, "delay_seconds": 600},
        format="json",
    )
    assert response.status_code == 200, response.content
    policy = SurveyPolicy.objects.get(inbox=inbox)
    assert policy.questions == ["nps", "comment"] and policy.delay == timedelta(minutes=10)
    assert response.json()["effective_questions"][0]["text"] == "Would you recommend Acme?"


@pytest.mark.parametrize(
    "body",
    [
        {"questions": []},
        {"questions": ["mood"]},
        {"questions": ["csat", "csat"]},
        {"sample_rate": 2},
        {"expiry_seconds": 10},
        {"wording": {"mood": "?"}},
        {"channels": ["fax"]},
    ],
)
def test_bad_policies_are_400_and_change_nothing(as_user, body):
    inbox = InboxFactory()
    response = as_user(SupervisorFactory().user).patch(f"{POLICIES}{inbox.pk}/", body, format="json")
    assert response.status_code == 400 and response.json()["error"]["fields"]
    assert not SurveyPolicy.objects.filter(inbox=inbox).exists()


def test_agents_may_not_manage_policies(as_user):
    inbox = InboxFactory()
    api = as_user(agent_user(inbox))
    assert api.get(POLICIES).status_code == 403
    assert api.patch(f"{POLICIES}{inbox.pk}/", {"enabled": False}, format="json").status_code == 403


def test_unknown_inbox_policy_is_404(as_user):
    assert as_user(SupervisorFactory().user).get(f"{POLICIES}999999/").status_code == 404
