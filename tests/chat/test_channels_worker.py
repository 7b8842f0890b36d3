"""Email and SMS replies delivered by a real Celery worker (PostgreSQL + Redis only), once each."""

import time
from email import message_from_bytes, policy

import pytest

from chat import services, tasks
from chat.models import Message
from tests.conftest import requires_postgres, requires_redis, wait_for
from tests.factories import EmailInboxFactory, SmsInboxFactory, agent_user, conversation_with

pytestmark = [pytest.mark.real_worker, pytest.mark.slow, requires_postgres, requires_redis]


def test_the_worker_sends_each_reply_once_by_smtp_and_twilio(celery_worker_process, smtp_sink, fake_twilio, settings):
    # given a worker configured like production: SMTP from EMAIL_URL, Twilio's REST API
    celery_worker_process.env.update(
        EMAIL_URL=f"smtp://{settings.EMAIL_HOST}:{settings.EMAIL_PORT}",
        TWILIO_API_BASE=settings.TWILIO_API_BASE,
        SMS_OUTBOX="false",
    )
    celery_worker_process.start()
    email_inbox, sms_inbox = EmailInboxFactory(email_address="support@acme.test"), SmsInboxFactory()
    agent = agent_user(email_inbox, sms_inbox)
    customer = services.contact_identify(
        claims=[services.Claim("email", "ana@example.com", True), services.Claim("phone", "+14155550123", True)]
    )
    conversation = conversation_with(email_inbox, customer, channel="email")
    # when the agent replies by email and by SMS, and the tasks are queued again (a retry)
    by_email = services.message_send(conversation=conversation, by=agent, body="By mail").message
    by_sms = services.message_send(conversation=conversation, by=agent, body="By text", channel="sms").message
    for message in (by_email, by_sms):
        tasks.message_deliver.delay(message.pk)
    # then both are sent, once each
    wait_for(lambda: Message.objects.filter(pk__in=[by_email.pk, by_sms.pk], delivery_status="sent").count() == 2)
    time.sleep(2)
    assert len(smtp_sink.messages) == 1 and len(fake_twilio.requests) == 1
    mail = message_from_bytes(smtp_sink.messages[0]["raw"], policy=policy.default)
    assert mail["Message-ID"] == Message.objects.get(pk=by_email.pk).external_id
    assert fake_twilio.requests[0]["form"]["Body"] == "By text"
