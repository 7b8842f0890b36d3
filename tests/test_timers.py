"""Time-based work happens on time with nothing started by hand.

In the embedded default the server runs the beat schedule itself (cxhub/scheduler.py): these
tests start the live server as `make run` does (`@pytest.mark.scheduler`) and wait real, short
times. With a broker, a worker's beat does the same (the PostgreSQL + Redis tests below).
"""

import json
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone
from websockets.sync.client import connect

from chat import services, timers
from chat.models import Conversation
from feedback.models import SurveyInvitation, SurveyPolicy
from tests.conftest import requires_postgres, requires_redis, wait_for
from tests.factories import ContactFactory, EmailInboxFactory, InboxFactory, agent_user, conversation_with

pytestmark = pytest.mark.slow


def test_every_kind_of_due_work_has_a_timer():
    assert set(timers.registered()) == {
        "chat.snoozes",
        "chat.pending",
        "chat.sla",
        "feedback.surveys_due",
        "feedback.surveys_expired",
        "feedback.metrics_windows",
        "integrations.webhook_retries",
        "accounts.retention",
    }


@pytest.mark.django_db
def test_a_failing_timer_is_logged_and_the_others_still_run(monkeypatch, caplog):
    # given a timer that fails
    monkeypatch.setitem(timers._registry, "broken", lambda: 1 / 0)
    # when they all run, then the others did their work and the failure is logged
    done = timers.run_due()
    assert done["broken"] == -1 and done["chat.snoozes"] == 0
    assert "timer broken failed" in caplog.text


def console_socket(live_server_url, user):
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"].value
    url = live_server_url.replace("http", "ws", 1) + "/ws/console/"
    return connect(url, origin=live_server_url, additional_headers={"Cookie": f"sessionid={cookie}"})


def frames_until(socket, predicate, *, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = json.loads(socket.recv(timeout=max(0.05, deadline - time.monotonic())))
        if predicate(frame):
            return frame
    raise AssertionError("no such frame")


@pytest.mark.scheduler
def test_the_embedded_server_wakes_a_snoozed_conversation_on_time_and_the_console_hears_it(live_server_url):
    # given a conversation snoozed for two seconds, and its agent's console open
    inbox = InboxFactory()
    agent = agent_user(inbox)
    conversation = conversation_with(inbox, ContactFactory())
    with console_socket(live_server_url, agent) as socket:
        services.conversation_snooze(conversation=conversation, by=agent, until=timezone.now() + timedelta(seconds=2))
        # when a second passes, then it still sleeps
        time.sleep(1)
        assert Conversation.objects.get(pk=conversation.pk).status == "snoozed"
        # and when its time comes, the server wakes it with nothing else running, and the console hears it
        frame = frames_until(
            socket,
            lambda f: f.get("type") == "conversation.updated" and f["conversation"]["status"] == "open",
            timeout=10,
        )
    assert frame["conversation"]["id"] == conversation.pk and frame["conversation"]["snoozed_until"] is None


@pytest.mark.scheduler
def test_the_embedded_server_sends_a_delayed_survey_when_due_and_expires_it(live_server_url):
    # given an email inbox whose surveys leave 2 s after resolution and expire 2 s later
    inbox = EmailInboxFactory()
    SurveyPolicy.objects.create(
        inbox=inbox, delay=timedelta(seconds=2), expiry=timedelta(seconds=2), cooldown=timedelta(0)
    )
    agent = agent_user(inbox)
    conversation = conversation_with(inbox, ContactFactory(email="ana@example.com"), channel="email")
    services.message_send(conversation=conversation, by=agent, body="Done!")
    mail.outbox.clear()
    # when the agent resolves
    services.conversation_resolve(conversation=conversation, by=agent)
    # then the invitation waits for its delay (nothing sent at once)
    invitation = wait_for(lambda: SurveyInvitation.objects.filter(conversation=conversation).first(), timeout=10)
    assert invitation.status == "scheduled" and not [m for m in mail.outbox if "/s/" in m.body]
    # and is sent when due, by the server alone
    sent = wait_for(lambda: SurveyInvitation.objects.filter(pk=invitation.pk, status="sent").first(), timeout=10)
    assert sent.sent_at >= sent.scheduled_for
    assert [m.to for m in mail.outbox if "/s/" in m.body] == [["ana@example.com"]]
    # and expires when its expiry passes
    wait_for(lambda: SurveyInvitation.objects.filter(pk=invitation.pk, status="expired").exists(), timeout=10)


@pytest.mark.real_worker
@requires_postgres
@requires_redis
def test_a_worker_with_beat_wakes_snoozes_and_sends_delayed_surveys(celery_worker_process):
    # given `make worker` (a worker with beat), a snoozed conversation and a survey with a delay
    celery_worker_process.start(beat=True)
    inbox = InboxFactory()
    SurveyPolicy.objects.create(inbox=inbox, delay=timedelta(seconds=2), cooldown=timedelta(0))
    agent = agent_user(inbox)
    snoozed = conversation_with(inbox, ContactFactory())
    services.conversation_snooze(conversation=snoozed, by=agent, until=timezone.now() + timedelta(seconds=2))
    resolved = conversation_with(inbox, ContactFactory())
    services.message_send(conversation=resolved, by=agent, body="Done!")
    services.conversation_resolve(conversation=resolved, by=agent)
    # then both happen on time
    wait_for(lambda: Conversation.objects.filter(pk=snoozed.pk, status="open").exists(), timeout=30)
    sent = wait_for(lambda: SurveyInvitation.objects.filter(conversation=resolved, status="sent").first(), timeout=30)
    assert sent.sent_at >= sent.scheduled_for
