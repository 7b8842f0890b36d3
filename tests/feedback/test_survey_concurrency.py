"""Racing writers on one survey: double submits, repeated schedule and send tasks, a failing mail server."""

import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from chat import services as chat_services
from chat.models import ConversationEvent, hash_token
from feedback import services
from feedback.models import SurveyInvitation, SurveyPolicy, SurveyResponse
from tests.factories import ContactFactory, EmailInboxFactory, InboxFactory, agent_user, contact_with

THREADS = 6
TOKEN = "race-token-0123456789abcdefghij"


def race(target, count: int = THREADS) -> tuple[list, list[BaseException]]:
    results, errors = [], []
    barrier = threading.Barrier(count)

    def run() -> None:
        try:
            barrier.wait()
            results.append(target())
        except BaseException as exc:
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results, errors


def resolved_with_scheduled_invitation():
    """A resolved web conversation whose invitation waits (policy delay) so the race can send it."""
    inbox = InboxFactory()
    SurveyPolicy.objects.create(inbox=inbox, delay=timedelta(hours=1))
    agent = agent_user(inbox)
    conversation = chat_services.message_receive(
        inbox=inbox, contact=ContactFactory(), channel="web", body="hi"
    ).message.conversation
    chat_services.message_send(conversation=conversation, by=agent, body="hello")
    chat_services.conversation_resolve(conversation=conversation, by=agent)
    return conversation


@pytest.mark.django_db(transaction=True)
def test_concurrent_schedule_and_send_make_one_invitation_sent_once():
    # given a resolution whose schedule task already ran once (scheduled, due in an hour)
    conversation = resolved_with_scheduled_invitation()
    invitation = SurveyInvitation.objects.get(conversation=conversation)
    # when the schedule task runs again in several workers at once
    results, errors = race(lambda: services.survey_schedule(conversation_id=conversation.pk, resolution_number=1))
    assert errors == [] and {r.pk for r in results} == {invitation.pk}
    # and, once it is due, several workers try to send it at once
    SurveyInvitation.objects.filter(pk=invitation.pk).update(scheduled_for=timezone.now())
    results, errors = race(lambda: services.survey_send(invitation_id=invitation.pk))
    # then it was sent by exactly one of them, with one survey_sent event
    assert errors == [] and sorted(results) == [False] * (THREADS - 1) + [True]
    assert SurveyInvitation.objects.filter(conversation=conversation).count() == 1
    kinds = ConversationEvent.objects.filter(conversation=conversation, kind__startswith="survey_")
    assert sorted(kinds.values_list("kind", flat=True)) == ["survey_scheduled", "survey_sent"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_double_submits_store_one_response():
    # given a sent invitation
    conversation = resolved_with_scheduled_invitation()
    invitation = SurveyInvitation.objects.get(conversation=conversation)
    SurveyInvitation.objects.filter(pk=invitation.pk).update(scheduled_for=timezone.now())
    assert services.survey_send(invitation_id=invitation.pk)
    SurveyInvitation.objects.filter(pk=invitation.pk).update(token_hash=hash_token(TOKEN))
    # when the same answer is submitted by several requests at once
    results, errors = race(lambda: services.survey_answer(token=TOKEN, channel="web", csat=4))
    # then there is one response and one survey_answered event
    assert errors == [] and len({r.pk for r in results}) == 1
    assert SurveyResponse.objects.count() == 1
    assert ConversationEvent.objects.filter(conversation=conversation, kind="survey_answered").count() == 1


@pytest.mark.django_db
def test_a_failing_mail_server_leaves_the_invitation_scheduled_for_a_retry(committed, settings):
    # given an email conversation whose agent reply went out, then the mail server goes down
    inbox = EmailInboxFactory()
    agent = agent_user(inbox)
    with committed():
        conversation = chat_services.message_receive(
            inbox=inbox, contact=contact_with("email", "dee@example.com"), channel="email", body="help"
        ).message.conversation
        chat_services.message_send(conversation=conversation, by=agent, body="done")
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    # when the agent resolves (no error reaches the agent)
    with committed():
        chat_services.conversation_resolve(conversation=conversation, by=agent)
    # then the invitation is still scheduled, with a failed attempt and a later retry time, and no token
    invitation = SurveyInvitation.objects.get(conversation=conversation)
    assert (invitation.status, invitation.send_attempts, invitation.token_hash) == ("scheduled", 1, None)
    assert invitation.scheduled_for > timezone.now()
    assert not conversation.events.filter(kind="survey_sent").exists()
    # and after the last allowed attempt it is given up, recorded as skipped
    SurveyInvitation.objects.filter(pk=invitation.pk).update(
        send_attempts=services.MAX_SEND_ATTEMPTS - 1, scheduled_for=timezone.now()
    )
    assert services.survey_send(invitation_id=invitation.pk) is False
    invitation.refresh_from_db()
    assert (invitation.status, invitation.skip_reason) == ("skipped", "delivery_failed")
