"""The outbox (chat/outbox.py): events recorded with the change, drains registered by the apps."""

from datetime import timedelta

import pytest

from chat import outbox, services
from chat.models import ConversationEvent, DrainMark
from feedback.models import ProcessedEvent, SurveyInvitation, SurveyPolicy
from integrations import webhooks
from integrations.models import WebhookDelivery, WebhookSubscription
from tests.factories import InboxFactory, agent_user, conversation_with

pytestmark = pytest.mark.django_db


def test_the_apps_register_their_drains_and_chat_knows_none_of_them():
    assert outbox.registered_drains() == ["automation", "metrics", "surveys", "webhooks"]  # chat's own first


def test_a_marked_drain_handles_each_event_once_in_order(committed):
    # given three events
    with committed():
        conversation = conversation_with(InboxFactory())
    seen = []

    # when a drain runs twice over them
    first = outbox.drain_marked("probe", since=0, handle=lambda events: seen.extend(e.pk for e in events))
    second = outbox.drain_marked("probe", since=0, handle=lambda events: seen.extend(e.pk for e in events))

    # then it handled each once, in id order, and marked them under its own name only
    all_ids = list(ConversationEvent.objects.filter(conversation=conversation).values_list("pk", flat=True))
    assert (first, second, seen) == (len(all_ids), 0, all_ids)
    assert set(DrainMark.objects.filter(drain="probe").values_list("event_id", flat=True)) == set(all_ids)


def test_a_failing_drain_rolls_back_only_itself_and_the_sweep_runs_it_again(committed, monkeypatch, caplog):
    # given a webhook subscription whose dispatch breaks (a bug, say)
    inbox = InboxFactory()
    WebhookSubscription.objects.create(name="crm", url="https://crm.example/hooks", event_types=["conversation.*"])
    real = webhooks.dispatch_events
    monkeypatch.setattr(webhooks, "dispatch_events", lambda events: 1 / 0)

    # when a customer writes
    with committed():
        conversation = conversation_with(inbox)

    # then the metrics and the other drains did their work, the webhooks' drain is logged and left unmarked
    event_ids = set(conversation.events.values_list("pk", flat=True))
    assert set(ProcessedEvent.objects.values_list("event_id", flat=True)) >= event_ids
    assert "outbox drain webhooks failed" in caplog.text
    assert not DrainMark.objects.filter(drain="webhooks").exists()
    assert not WebhookDelivery.objects.exists()

    # and when it works again, the minute sweep (from event 0) delivers what was left, once
    monkeypatch.setattr(webhooks, "dispatch_events", real)
    assert outbox.run_drains(since=0)["webhooks"] == len(event_ids)
    assert outbox.run_drains(since=0)["webhooks"] == 0
    assert WebhookDelivery.objects.filter(event_type="conversation.opened").count() == 1


def test_a_new_webhook_subscription_hears_of_events_from_its_creation_on(committed):
    # given a conversation from before any subscription
    inbox = InboxFactory()
    with committed():
        conversation_with(inbox)
    # when a subscription is made and the sweep runs from the start, then the past is not sent
    WebhookSubscription.objects.create(name="crm", url="https://crm.example/hooks", event_types=["conversation.*"])
    outbox.run_drains(since=0)
    assert not WebhookDelivery.objects.exists()
    # and what happens next is
    with committed():
        conversation_with(inbox)
    assert WebhookDelivery.objects.filter(event_type="conversation.opened").count() == 1


def test_the_surveys_drain_schedules_on_a_resolution_and_cancels_on_a_reopen(committed):
    # given a conversation an agent answered and resolved
    inbox = InboxFactory()
    agent = agent_user(inbox)
    SurveyPolicy.objects.create(inbox=inbox, delay=timedelta(hours=1))
    with committed():
        conversation = conversation_with(inbox)
        services.message_send(conversation=conversation, by=agent, body="Done")
        services.conversation_resolve(conversation=conversation, by=agent)
    invitation = SurveyInvitation.objects.get(conversation=conversation)
    assert invitation.status == "scheduled"
    # when it is reopened before the survey leaves, then the drain cancels it
    with committed():
        services.conversation_reopen(conversation=conversation, by=agent)
    invitation.refresh_from_db()
    assert (invitation.status, invitation.skip_reason) == ("cancelled", "reopened")
    # and running the drain again changes nothing
    assert outbox.run_drains(since=0)["surveys"] == 0
