"""Survey invitations: one per resolution, fatigue rules, reopen, send once, expiry, answers and edits."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from chat import services as chat_services
from chat import timers
from chat.models import ConversationEvent, hash_token
from cxhub.errors import Gone, InvalidInput, NotFound
from feedback import services, tasks
from feedback.models import FollowUp, MetricRollup, ProcessedEvent, SurveyInvitation, SurveyPolicy, SurveyResponse
from tests.factories import AgentFactory, ContactFactory, InboxFactory, TeamFactory, agent_user

pytestmark = pytest.mark.django_db

Status = SurveyInvitation.Status


def survey_events(conversation):
    return list(conversation.events.filter(kind__startswith="survey_").values_list("kind", flat=True))


def sent_token(invitation) -> str:
    """Tests can't read a token back (only its hash is stored): give the invitation a known one."""
    token = f"test-token-{invitation.pk:08d}-abcdefgh"
    SurveyInvitation.objects.filter(pk=invitation.pk).update(token_hash=hash_token(token))
    return token


def test_resolving_schedules_and_sends_one_invitation_with_a_snapshot(resolve):
    # given a web inbox whose conversations go to a team
    team = TeamFactory()
    inbox = InboxFactory(default_team=team)
    agent = agent_user(inbox)
    # when the agent replies and resolves
    conversation = resolve(inbox, agent=agent)
    # then one invitation was sent on the web channel, crediting that agent, team and inbox
    invitation = SurveyInvitation.objects.get(conversation=conversation)
    assert invitation.status == Status.SENT and invitation.channel == "web"
    assert (invitation.agent, invitation.team, invitation.inbox) == (agent, team, inbox)
    assert invitation.token_hash and len(invitation.token_hash) == 64
    assert invitation.expires_at - invitation.sent_at == timedelta(days=7)
    assert invitation.questions == ["csat", "ces", "comment"]
    assert survey_events(conversation) == ["survey_scheduled", "survey_sent"]


def test_scheduling_twice_and_sending_twice_changes_nothing(resolve):
    # given a resolved conversation whose invitation was sent
    conversation = resolve(InboxFactory())
    invitation = SurveyInvitation.objects.get(conversation=conversation)
    token_hash = invitation.token_hash
    # when the resolution's task and the send task run again
    again = services.survey_schedule(conversation_id=conversation.pk, resolution_number=1)
    sent = tasks.survey_send(invitation.pk)
    # then it is the same invitation, sent once, with the same token
    assert again.pk == invitation.pk and sent is False
    invitation.refresh_from_db()
    assert invitation.token_hash == token_hash
    assert SurveyInvitation.objects.filter(conversation=conversation).count() == 1
    assert survey_events(conversation) == ["survey_scheduled", "survey_sent"]


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ({"reply": False}, "no_agent_reply"),
        ({"by_bot": True}, "bot_resolved"),
        ({"opted_out": True}, "opted_out"),
        ({"policy": {"enabled": False}}, "disabled"),
        ({"policy": {"sample_rate": 0.0}}, "sampled_out"),
        ({"policy": {"channels": ["email"]}}, "channel_not_allowed"),
    ],
)
def test_fatigue_and_skip_rules_record_why(resolve, setup, reason):
    # given an inbox (and policy) and a contact as the case says
    inbox = InboxFactory()
    if "policy" in setup:
        SurveyPolicy.objects.create(inbox=inbox, **setup["policy"])
    contact = ContactFactory(survey_opted_out=setup.get("opted_out", False))
    # when the conversation is resolved
    conversation = resolve(inbox, contact, reply=setup.get("reply", True), by_bot=setup.get("by_bot", False))
    # then the invitation is skipped with that reason, nothing is sent, and the skip is an event
    invitation = SurveyInvitation.objects.get(conversation=conversation)
    assert (invitation.status, invitation.skip_reason) == (Status.SKIPPED, reason)
    assert invitation.token_hash is None and invitation.sent_at is None
    event = conversation.events.get(kind="survey_skipped")
    assert event.data["reason"] == reason and event.data["invitation_id"] == invitation.pk


def test_skip_rules_can_be_switched_off(resolve):
    # given a policy that surveys bot resolutions and conversations without a human reply
    inbox = InboxFactory()
    SurveyPolicy.objects.create(inbox=inbox, skip_without_agent_reply=False, skip_bot_resolved=False)
    # when a bot resolves without a human reply
    conversation = resolve(inbox, reply=False, by_bot=True)
    # then the survey is sent anyway
    assert SurveyInvitation.objects.get(conversation=conversation).status == Status.SENT


def test_cooldown_skips_a_second_survey_of_the_same_person_within_14_days(resolve):
    # given a contact surveyed today
    inbox, contact = InboxFactory(), ContactFactory()
    first = resolve(inbox, contact)
    # when their next conversation is resolved the same day
    second = resolve(inbox, contact)
    # then that one is skipped for the cooldown
    assert SurveyInvitation.objects.get(conversation=first).status == Status.SENT
    assert SurveyInvitation.objects.get(conversation=second).skip_reason == "cooldown"


def test_after_the_cooldown_the_person_is_asked_again(resolve):
    # given a contact surveyed 15 days ago
    inbox, contact = InboxFactory(), ContactFactory()
    first = resolve(inbox, contact)
    SurveyInvitation.objects.filter(conversation=first).update(created_at=timezone.now() - timedelta(days=15))
    # when their next conversation is resolved
    second = resolve(inbox, contact)
    # then they are asked again
    assert SurveyInvitation.objects.get(conversation=second).status == Status.SENT


def test_sample_rate_surveys_that_share_of_resolutions(resolve, monkeypatch):
    # given a policy sampling half the resolutions (no cooldown), and these random draws
    inbox = InboxFactory()
    SurveyPolicy.objects.create(inbox=inbox, sample_rate=0.5, cooldown=timedelta(0))
    agent = agent_user(inbox)
    monkeypatch.setattr(services.random, "random", iter([0.2, 0.7, 0.49, 0.5]).__next__)
    # when four conversations are resolved
    conversations = [resolve(inbox, agent=agent) for _ in range(4)]
    # then the draws below the rate were surveyed, the others sampled out
    invitations = [SurveyInvitation.objects.get(conversation=c) for c in conversations]
    assert [i.skip_reason or i.status for i in invitations] == ["sent", "sampled_out", "sent", "sampled_out"]


def test_reopen_before_sending_cancels_and_the_next_resolution_gets_its_own(resolve, committed):
    # given a policy with a delay: the invitation is scheduled, not yet sent
    inbox = InboxFactory()
    SurveyPolicy.objects.create(inbox=inbox, delay=timedelta(hours=1))
    agent = agent_user(inbox)
    conversation = resolve(inbox, agent=agent)
    invitation = SurveyInvitation.objects.get(conversation=conversation)
    assert invitation.status == Status.SCHEDULED
    # when the conversation is reopened before it is due, and the due time then passes
    with committed():
        chat_services.conversation_reopen(conversation=conversation, by=agent)
    SurveyInvitation.objects.filter(pk=invitation.pk).update(scheduled_for=timezone.now() - timedelta(minutes=1))
    timers.run_due()
    # then it is cancelled (never sent)
    invitation.refresh_from_db()
    assert (invitation.status, invitation.skip_reason, invitation.sent_at) == (Status.CANCELLED, "reopened", None)
    # and when resolved again, that resolution has its own invitation (no cooldown: the first never went out)
    with committed():
        chat_services.conversation_resolve(conversation=conversation, by=agent)
    second = SurveyInvitation.objects.get(conversation=conversation, resolution_number=2)
    assert second.status == Status.SCHEDULED


def test_a_sent_invitation_stays_sent_after_a_reopen(resolve, committed):
    # given a sent invitation
    inbox = InboxFactory()
    agent = agent_user(inbox)
    conversation = resolve(inbox, agent=agent)
    # when the conversation is reopened
    with committed():
        chat_services.conversation_reopen(conversation=conversation, by=agent)
    # then the invitation stays sent (it counts in the response rate)
    assert SurveyInvitation.objects.get(conversation=conversation).status == Status.SENT


def test_a_late_schedule_after_a_reopen_is_skipped():
    # given a conversation resolved then reopened before the resolution's task ran
    inbox = InboxFactory()
    agent = agent_user(inbox)
    conversation = chat_services.message_receive(
        inbox=inbox, contact=ContactFactory(), channel="web", body="hi"
    ).message.conversation
    chat_services.message_send(conversation=conversation, by=agent, body="hello")
    chat_services.conversation_resolve(conversation=conversation, by=agent)
    chat_services.conversation_reopen(conversation=conversation, by=agent)
    # when the (late) resolution task runs
    invitation = services.survey_schedule(conversation_id=conversation.pk, resolution_number=1)
    # then it records the skip instead of scheduling
    assert (invitation.status, invitation.skip_reason) == (Status.SKIPPED, "reopened")


def test_due_invitations_are_sent_by_the_timers_and_old_ones_expire(resolve):
    # given one invitation scheduled an hour out, and one sent whose expiry has passed
    inbox = InboxFactory()
    SurveyPolicy.objects.create(inbox=inbox, delay=timedelta(hours=1), cooldown=timedelta(0))
    agent = agent_user(inbox)
    waiting = SurveyInvitation.objects.get(conversation=resolve(inbox, agent=agent))
    old = SurveyInvitation.objects.get(conversation=resolve(inbox, agent=agent))
    SurveyInvitation.objects.filter(pk=old.pk).update(scheduled_for=timezone.now() - timedelta(days=8))
    assert timers.run_due()["feedback.surveys_due"] == 1
    SurveyInvitation.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    token = sent_token(old)
    # when the timers run (the waiting one is not due)
    result = timers.run_due()
    # then the old one expired and its token answers 410; the waiting one is still scheduled
    assert (result["feedback.surveys_due"], result["feedback.surveys_expired"]) == (0, 1)
    old.refresh_from_db()
    waiting.refresh_from_db()
    assert old.status == Status.EXPIRED and waiting.status == Status.SCHEDULED
    with pytest.raises(Gone):
        services.survey_answer(token=token, channel="web", csat=5)
    assert not SurveyResponse.objects.exists()


def test_beat_runs_the_timers_every_second_and_they_include_the_surveys():
    from django.conf import settings

    assert settings.CELERY_BEAT_SCHEDULE["timers"] == {"task": "chat.tasks.timers_run", "schedule": 1.0}
    assert {"feedback.surveys_due", "feedback.surveys_expired"} <= set(timers.registered())


# --- answers ------------------------------------------------------------------------------


@pytest.fixture
def sent(resolve):
    """A sent web invitation and its token."""
    conversation = resolve(InboxFactory())
    invitation = SurveyInvitation.objects.get(conversation=conversation)
    return invitation, sent_token(invitation)


def test_an_answer_is_recorded_once_with_its_event(sent, committed):
    invitation, token = sent
    # when the customer answers, and the same answer arrives twice (double submit)
    with committed():
        first = services.survey_answer(token=token, channel="web", csat=4, ces=6, comment=" Quick ")
        second = services.survey_answer(token=token, channel="web", csat=4, ces=6, comment="Quick")
    # then one response, one survey_answered event, the invitation answered
    assert first.pk == second.pk and SurveyResponse.objects.count() == 1
    assert (first.csat, first.ces, first.nps, first.comment) == (4, 6, None, "Quick")
    invitation.refresh_from_db()
    assert invitation.status == Status.ANSWERED and invitation.answered_at
    events = invitation.conversation.events.filter(kind="survey_answered")
    assert events.count() == 1
    assert events.get().data.items() >= {"csat": 4, "ces": 6, "edited": False, "response_id": first.pk}.items()


def test_an_edit_within_24_hours_changes_the_same_response(sent, committed):
    invitation, token = sent
    with committed():
        response = services.survey_answer(token=token, channel="web", csat=2)
    # when the customer changes their mind 23 hours later
    SurveyInvitation.objects.filter(pk=invitation.pk).update(answered_at=timezone.now() - timedelta(hours=23))
    with committed():
        edited = services.survey_answer(token=token, channel="web", csat=5)
    # then the same response holds the new score, its answered_at unchanged
    assert edited.pk == response.pk and SurveyResponse.objects.get().csat == 5
    assert edited.answered_at == response.answered_at and edited.updated_at > response.updated_at
    assert invitation.conversation.events.filter(kind="survey_answered").last().data["edited"] is True


def test_after_24_hours_the_answer_is_closed(sent, committed):
    invitation, token = sent
    with committed():
        services.survey_answer(token=token, channel="web", csat=2)
    SurveyInvitation.objects.filter(pk=invitation.pk).update(answered_at=timezone.now() - timedelta(hours=25))
    # when the customer tries to change it after 25 hours
    with pytest.raises(Gone) as error:
        services.survey_answer(token=token, channel="web", csat=5)
    # then it is gone, and the answer is unchanged
    assert error.value.code == "survey_answered"
    assert SurveyResponse.objects.get().csat == 2


@pytest.mark.parametrize(
    ("answer", "fields"),
    [
        ({"csat": 6}, ["csat"]),
        ({"csat": 0}, ["csat"]),
        ({"csat": "five"}, ["csat"]),
        ({"csat": True}, ["csat"]),
        ({"ces": 8, "csat": 3}, ["ces"]),
        ({"nps": 9}, ["nps"]),  # not asked by the default policy
        ({"comment": "x" * 2001}, ["comment"]),
        ({}, ["non_field_errors"]),
    ],
)
def test_bad_scores_are_refused_with_field_errors_and_nothing_recorded(sent, answer, fields):
    invitation, token = sent
    with pytest.raises(InvalidInput) as error:
        services.survey_answer(token=token, channel="web", **answer)
    assert sorted(error.value.fields) == fields
    assert not SurveyResponse.objects.exists()


@pytest.mark.parametrize("token", ["", "short", "x" * 500, "forged-token-that-is-long-enough-1234", None, 42])
def test_unknown_or_forged_tokens_are_not_found(sent, token):
    with pytest.raises(NotFound):
        services.survey_answer(token=token, channel="web", csat=5)
    assert not SurveyResponse.objects.exists()


def test_an_expired_but_not_yet_swept_invitation_is_gone(sent):
    invitation, token = sent
    SurveyInvitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(Gone) as error:
        services.survey_answer(token=token, channel="web", csat=5)
    assert error.value.code == "survey_expired"


def test_the_answer_is_counted_and_closes_the_loop_once_after_commit(sent, committed):
    # given a sent survey (the pipeline's tasks run in-process, after commit)
    invitation, token = sent
    # when the customer answers CSAT 1 and, in the same transaction, submits it again
    with committed(), transaction.atomic():
        response = services.survey_answer(token=token, channel="web", csat=1)
        services.survey_answer(token=token, channel="web", csat=1)
        # then nothing is counted and nobody is told before the answer is committed
        assert not FollowUp.objects.exists()
        assert not MetricRollup.objects.filter(metric="csat_1").exists()
    # and after the commit: one follow-up, the answer counted once, its event processed
    assert FollowUp.objects.get().response == response
    assert MetricRollup.objects.get(metric="csat_1").count == 1
    event = invitation.conversation.events.get(kind="survey_answered")
    assert ProcessedEvent.objects.filter(event=event).exists()


def test_the_response_keeps_the_resolution_snapshot_after_a_transfer(sent, committed):
    # given an answered survey for agent A in team T
    invitation, token = sent
    agent, team = invitation.agent, invitation.team
    # when the conversation later moves to another agent and team
    other = AgentFactory(inboxes=[invitation.inbox]).user
    chat_services.conversation_transfer(
        conversation=invitation.conversation, by=other, to_agent=other, to_team=TeamFactory()
    )
    with committed():
        response = services.survey_answer(token=token, channel="web", csat=5)
    # then the credit stays with the resolution's agent and team
    assert (response.invitation.agent, response.invitation.team) == (agent, team)


def test_no_event_kind_is_left_unused():
    kinds = {"survey_scheduled", "survey_skipped", "survey_sent", "survey_answered"}
    assert kinds <= set(ConversationEvent.Kind.values)
