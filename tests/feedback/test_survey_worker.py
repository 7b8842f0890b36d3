"""Surveys through a real Celery worker and the Redis channel layer (PostgreSQL + Redis only).

The resolution's task, the send task with its eta and the closed-loop task all run in a
`celery -A cxhub worker` subprocess; the survey card reaches the widget group through Redis.
"""

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone

from chat import services as chat_services
from chat import timers
from chat.events import contact_group
from feedback.models import SurveyInvitation, SurveyPolicy
from tests.conftest import requires_postgres, requires_redis, wait_for
from tests.factories import ContactFactory, InboxFactory, agent_user

pytestmark = [pytest.mark.real_worker, pytest.mark.slow, requires_postgres, requires_redis]


def resolved(inbox, agent):
    conversation = chat_services.message_receive(
        inbox=inbox, contact=ContactFactory(), channel="web", body="hi"
    ).message.conversation
    chat_services.message_send(conversation=conversation, by=agent, body="hello")
    return chat_services.conversation_resolve(conversation=conversation, by=agent)


def test_the_worker_sends_the_card_to_the_widget_group(celery_worker_process):
    # given a running worker, and a widget listening on its contact's group (through Redis)
    celery_worker_process.start()
    inbox = InboxFactory()
    agent = agent_user(inbox)
    conversation = chat_services.message_receive(
        inbox=inbox, contact=ContactFactory(), channel="web", body="hi"
    ).message.conversation
    layer = get_channel_layer()

    async def listen_and_resolve():
        channel = await layer.new_channel()
        await layer.group_add(contact_group(conversation.contact_id), channel)

        def reply_and_resolve():
            chat_services.message_send(conversation=conversation, by=agent, body="hello")
            chat_services.conversation_resolve(conversation=conversation, by=agent)

        await database_sync_to_async(reply_and_resolve)()
        while True:
            event = await asyncio.wait_for(layer.receive(channel), 60)
            if event["type"] == "chat.survey_request":
                return event

    # when the agent resolves; then the worker scheduled and sent it, and the card reached the widget
    event = async_to_sync(listen_and_resolve)()
    invitation = wait_for(lambda: SurveyInvitation.objects.filter(conversation=conversation, status="sent").first())
    assert event["conversation_id"] == conversation.pk and invitation.channel == "web"
    assert conversation.events.filter(kind="survey_sent").count() == 1


def test_a_delayed_invitation_is_sent_at_its_eta_and_a_reopen_before_cancels_it(celery_worker_process):
    # given a policy with a short delay and a running worker
    celery_worker_process.start()
    inbox = InboxFactory()
    SurveyPolicy.objects.create(inbox=inbox, delay=timedelta(seconds=3), cooldown=timedelta(0))
    agent = agent_user(inbox)
    # when one conversation is resolved, and another is resolved then reopened at once
    kept = resolved(inbox, agent)
    reopened = resolved(inbox, agent)
    chat_services.conversation_reopen(conversation=reopened, by=agent)
    # then the first is sent by its eta (not before), the second never
    first = wait_for(lambda: SurveyInvitation.objects.filter(conversation=kept).first())
    assert first.scheduled_for >= timezone.now() - timedelta(seconds=5)
    sent = wait_for(lambda: SurveyInvitation.objects.filter(conversation=kept, status="sent").first(), timeout=30)
    assert sent.sent_at >= sent.scheduled_for
    second = wait_for(
        lambda: SurveyInvitation.objects.filter(conversation=reopened).exclude(status="scheduled").first(), timeout=30
    )
    assert second.status in ("cancelled", "skipped") and second.skip_reason == "reopened"
    # and the timers find nothing left to do
    done = timers.run_due()
    assert (done["feedback.surveys_due"], done["feedback.surveys_expired"]) == (0, 0)
