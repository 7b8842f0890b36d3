"""The pipeline with a real Celery worker: rollups equal recompute_metrics after a stream of 2,000
events and answers, after the worker is SIGKILLed mid-stream, and after every task is delivered twice.

PostgreSQL + Redis only (CI's second run): a subprocess `celery -A cxhub worker` works on the
test database through the same Redis queue (tests/conftest.py: celery_worker_process).
"""

import os
import time

import pytest
import redis
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from chat import services
from chat import tasks as chat_tasks
from chat.models import Conversation, ConversationEvent
from feedback import pipeline_tasks
from feedback import tasks as feedback_tasks
from feedback.models import FollowUp, ProcessedEvent, SurveyInvitation, SurveyResponse
from tests.conftest import requires_postgres, requires_redis
from tests.factories import ContactFactory, EmailInboxFactory, InboxFactory, TeamFactory, agent_user

from .metrics_helpers import differences, rollup_snapshot

pytestmark = [pytest.mark.real_worker, pytest.mark.slow, requires_postgres, requires_redis]

SETTLE_TIMEOUT = 90


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def shop(transactional_db):
    team = TeamFactory(name="Support")
    TeamFactory(name="Retention", is_retention=True, lead=agent_user())
    web, email = InboxFactory(name="Web", default_team=team), EmailInboxFactory(name="Mail", default_team=team)
    agents = [agent_user(web, email) for _ in range(3)]
    return {"inboxes": [web, email], "agents": agents}


def feed_conversations(shop, count: int, *, start: int = 0) -> list[int]:
    """Each conversation: customer message, reply, resolution; some switch channel, some are transferred."""
    ids = []
    for n in range(start, start + count):
        inbox = shop["inboxes"][n % 2]
        agent = shop["agents"][n % 3]
        contact = ContactFactory(email=f"c{n}@example.com")
        conversation = services.message_receive(inbox=inbox, contact=contact, channel=inbox.channel, body=f"#{n}")
        conversation = conversation.message.conversation
        services.message_send(conversation=conversation, by=agent, body="Let me look.")
        if n % 5 == 0:
            services.message_receive(inbox=inbox, contact=contact, channel="sms", body="texting now")
        if n % 7 == 0:
            services.conversation_transfer(conversation=conversation, by=agent, to_agent=shop["agents"][(n + 1) % 3])
        services.conversation_resolve(conversation=conversation, by=agent)
        ids.append(conversation.pk)
    return ids


def feed_answers(conversation_ids: list[int]) -> None:
    """An answer per conversation, written as the surveys' service writes it: the response, its
    survey_answered event and, after commit, feedback.tasks.response_recorded."""
    for n, pk in enumerate(conversation_ids):
        with transaction.atomic():
            conversation = Conversation.objects.select_related("inbox", "contact").get(pk=pk)
            invitation, _ = SurveyInvitation.objects.get_or_create(
                conversation=conversation,
                resolution_number=1,
                defaults={"contact": conversation.contact, "channel": conversation.inbox.channel,
                          "inbox": conversation.inbox, "agent_id": conversation.assignee_id,
                          "team_id": conversation.team_id},
            )  # fmt: skip
            invitation = SurveyInvitation.objects.select_for_update().get(pk=invitation.pk)
            now = timezone.now()
            invitation.status = SurveyInvitation.Status.ANSWERED
            invitation.sent_at = invitation.sent_at or now
            invitation.answered_at = now
            invitation.save(update_fields=["status", "sent_at", "answered_at"])
            response, _ = SurveyResponse.objects.update_or_create(
                invitation=invitation,
                defaults={"csat": 1 + n % 5, "ces": 1 + n % 7, "nps": n % 11, "channel": invitation.channel,
                          "answered_at": now},
            )  # fmt: skip
            services._event(conversation, ConversationEvent.Kind.SURVEY_ANSWERED, response_id=response.pk)
            transaction.on_commit(lambda rid=response.pk: feedback_tasks.response_recorded.delay(rid))


def broker():
    return redis.Redis.from_url(os.environ["REDIS_URL"])


def settle(*, timeout: float = SETTLE_TIMEOUT) -> None:
    """Wait until the queue is empty, nothing is unacknowledged and every event is marked."""
    queue = os.environ.get("CELERY_QUEUE", "cxhub")
    client = broker()
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        pending = ConversationEvent.objects.filter(
            ~Exists(ProcessedEvent.objects.filter(event_id=OuterRef("pk")))
        ).count()
        busy = client.llen(queue) + client.hlen("unacked")
        if pending == 0 and busy == 0:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since > 1.0:
                return
        else:
            quiet_since = None
        time.sleep(0.25)
    raise AssertionError(f"the worker did not settle in {timeout}s: {pending} events pending, {busy} tasks queued")


def expected_follow_ups() -> int:
    return SurveyResponse.objects.filter(csat__lte=2).count() + SurveyResponse.objects.filter(
        csat__gt=2, nps__lte=6
    ).count() + SurveyResponse.objects.filter(csat__gt=2, nps__gt=6, ces__lte=3).count()  # fmt: skip


def test_two_thousand_events_and_answers_then_everything_delivered_twice(shop, celery_worker_process):
    # given a running worker
    celery_worker_process.start()
    # when about 2,000 events and answers stream in
    started = time.monotonic()
    ids = feed_conversations(shop, 250)
    fed = time.monotonic()
    feed_answers(ids)
    answered = time.monotonic()
    events = ConversationEvent.objects.count()
    assert events + len(ids) >= 2000
    settle()
    print(f"fed {fed - started:.1f}s, answered {answered - fed:.1f}s, settled {time.monotonic() - answered:.1f}s")
    # then the rollups equal the recomputation, and each detractor has exactly one follow-up
    assert differences() == []
    assert FollowUp.objects.count() == expected_follow_ups()
    before = rollup_snapshot()
    # when every task is delivered a second time
    for event_id in ConversationEvent.objects.values_list("pk", flat=True):
        chat_tasks.event_created.delay(event_id)
    for response_id in SurveyResponse.objects.values_list("pk", flat=True):
        feedback_tasks.response_recorded.delay(response_id)
    time.sleep(1)
    settle()
    # then nothing changes
    assert rollup_snapshot() == before
    assert differences() == []
    assert FollowUp.objects.count() == expected_follow_ups()


def test_worker_killed_mid_stream_then_restarted(shop, celery_worker_process):
    # given a worker busy with a stream of events
    celery_worker_process.start()
    first = feed_conversations(shop, 60)
    feed_answers(first[:30])
    # when it is killed (SIGKILL: no goodbye, unacknowledged tasks stay with the broker) mid-stream
    processed_at_kill = ProcessedEvent.objects.count()
    celery_worker_process.kill()
    assert processed_at_kill < ConversationEvent.objects.count(), "the worker finished before the kill"
    # and the stream goes on while no worker runs
    second = feed_conversations(shop, 60, start=60)
    feed_answers(first[30:] + second)
    # and a new worker starts (beat's every-minute sweep is queued as beat would)
    celery_worker_process.start()
    pipeline_tasks.metrics_process_pending.delay()
    settle()
    # then every event counts exactly once: the rollups equal the recomputation
    assert differences() == []
    assert FollowUp.objects.count() == expected_follow_ups()
    assert ProcessedEvent.objects.count() == ConversationEvent.objects.count()
