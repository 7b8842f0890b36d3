"""Outbound webhooks: events become signed POSTs to the subscribed URLs, retried with backoff.

Flow: the outbox drain `drain` (registered in integrations/apps.py; its own markers, its own
transactions: a webhook never holds up nor rolls back the metrics) → `dispatch_events(batch)`
writes one WebhookDelivery per matching subscription (idempotent: unique per subscription,
event and type; a subscription hears of the events from its creation on) and, after commit,
queues `integrations.tasks.webhook_deliver(delivery_id, 1)`.
`delivery_attempt` sends once through the SSRF guard (integrations/safe_http.py); a network
error, a timeout, a 408, 429 or 5xx sets the next attempt's time (`next_attempt_at`) after
WEBHOOK_RETRY_BASE_SECONDS × 2^(attempt-1), up to WEBHOOK_MAX_ATTEMPTS; the timer
`deliveries_send_due` (chat/timers.py, every second) sends it then.
A 2xx succeeds; another 4xx or any 3xx (redirects are not followed) fails at once; a URL
that resolves to a forbidden address is refused and never sent.

Each request carries:
    Content-Type: application/json
    X-Cxhub-Event: conversation.resolved
    X-Cxhub-Delivery: <delivery uuid>   (the same on every retry: receivers deduplicate on it)
    X-Cxhub-Timestamp: <unix seconds>
    X-Cxhub-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
"""

import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from chat import outbox, payloads
from chat.models import ConversationEvent, Message
from chat.selectors import is_number
from feedback import metrics

from . import safe_http
from .models import WebhookDelivery, WebhookSubscription

logger = logging.getLogger(__name__)

Status = WebhookDelivery.Status
Kind = ConversationEvent.Kind

# ConversationEvent kind → webhook event type
EVENT_TYPE_OF_KIND = {
    Kind.OPENED: "conversation.opened",
    Kind.ASSIGNED: "conversation.assigned",
    Kind.UNASSIGNED: "conversation.unassigned",
    Kind.TRANSFERRED: "conversation.transferred",
    Kind.CHANNEL_SWITCHED: "conversation.channel_switched",
    Kind.PRIORITY_CHANGED: "conversation.priority_changed",
    Kind.SNOOZED: "conversation.snoozed",
    Kind.WOKE: "conversation.woke",
    Kind.PENDING: "conversation.pending",
    Kind.SLA_WARNING: "sla.warning",
    Kind.SLA_BREACHED: "sla.breached",
    Kind.RESOLVED: "conversation.resolved",
    Kind.REOPENED: "conversation.reopened",
    Kind.CONTACT_MERGED: "conversation.contact_merged",
    Kind.MESSAGE_CREATED: "message.created",
    Kind.SURVEY_SCHEDULED: "survey.scheduled",
    Kind.SURVEY_SKIPPED: "survey.skipped",
    Kind.SURVEY_SENT: "survey.sent",
    Kind.SURVEY_ANSWERED: "survey.answered",
}

RETRIED_STATUSES = {408, 425, 429}
SIGNATURE_HEADER = "X-Cxhub-Signature"
TIMESTAMP_HEADER = "X-Cxhub-Timestamp"


# --- signature --------------------------------------------------------------------------


def signature(*, secret: str, timestamp: int | str, body: bytes) -> str:
    """hex HMAC-SHA256 over "<timestamp>.<body>" with the subscription's secret."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify_signature(*, secret: str, headers, body: bytes, tolerance_seconds: int = 300, now: float | None = None):
    """What a receiver does (and what the tests do): True when the signature and the time are right."""
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    given = headers.get(SIGNATURE_HEADER, "").removeprefix("v1=")
    if not is_number(timestamp) or abs((now or time.time()) - int(timestamp)) > tolerance_seconds:
        return False
    return hmac.compare_digest(given, signature(secret=secret, timestamp=timestamp, body=body))


# --- payloads ---------------------------------------------------------------------------


def event_types_of(event: ConversationEvent) -> list[str]:
    """The webhook types one event stands for (a detractor answer is also survey.detractor)."""
    event_type = EVENT_TYPE_OF_KIND.get(event.kind)
    if event_type is None:
        return []
    types = [event_type]
    if event.kind == Kind.SURVEY_ANSWERED:
        scores = {key: event.data.get(key) for key in ("csat", "ces", "nps")}
        if metrics.is_detractor_answer(**scores):
            types.append("survey.detractor")
    return types


def build_payload(event: ConversationEvent, event_type: str) -> dict:
    data = {
        "conversation": payloads.conversation_for_webhook(event.conversation),
        "event": {"kind": event.kind, "actor_id": event.actor_id, "data": event.data},
    }
    if event_type == "message.created" and event.data.get("message_id"):
        message = Message.objects.filter(pk=event.data["message_id"]).first()
        if message is not None:
            data["message"] = payloads.message_for_webhook(message)
    document = {"type": event_type, "event_id": event.pk, "created_at": event.created_at, "data": data}
    return json.loads(json.dumps(document, cls=DjangoJSONEncoder))


# --- dispatch ---------------------------------------------------------------------------


def drain(since: int) -> int:
    """integrations' outbox drain (chat/outbox.py): the events since the oldest active
    subscription was made become deliveries. With no subscription it costs one read."""
    oldest = WebhookSubscription.objects.filter(is_active=True).order_by("created_at").first()
    if oldest is None:
        return 0
    return outbox.drain_marked(
        "webhooks", since=since, handle=dispatch_events, where=Q(created_at__gte=oldest.created_at)
    )


def dispatch_events(events) -> list:
    """Deliveries for a batch of events: the subscriptions read once, the events with their
    conversations in one query; a subscription hears of the events from its creation on."""
    subscriptions = list(WebhookSubscription.objects.filter(is_active=True).order_by("pk"))
    if not subscriptions:
        return []  # the common case: one cheap read per batch
    loaded = ConversationEvent.objects.select_related("conversation").filter(pk__in=[e.pk for e in events])
    created = []
    for event in loaded.order_by("pk"):
        types = event_types_of(event)
        for subscription in subscriptions:
            if subscription.inbox_id not in (None, event.conversation.inbox_id):
                continue
            if event.created_at < subscription.created_at:
                continue
            for event_type in types:
                if not subscription.wants(event_type):
                    continue
                delivery = _delivery_create(subscription=subscription, event=event, event_type=event_type)
                if delivery is not None:
                    created.append(delivery.pk)
    return created


def dispatch_event(*, event_id: int) -> list:
    """One delivery per subscription that wants this event; running it twice adds nothing."""
    return dispatch_events([ConversationEvent(pk=event_id)])


def _delivery_create(*, subscription: WebhookSubscription, event: ConversationEvent, event_type: str):
    from . import tasks

    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                subscription=subscription,
                event_type=event_type,
                event_id=event.pk,
                payload=build_payload(event, event_type),
                next_attempt_at=_lease_end(),
            )
            transaction.on_commit(lambda: tasks.webhook_deliver.delay(str(delivery.pk), 1))
    except IntegrityError:
        return None  # dispatched before (a task run twice)
    return delivery


# --- delivery ---------------------------------------------------------------------------


def _lease_end():
    """When a delivery handed to a task is due again if that task never ran (a lost message)."""
    return timezone.now() + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + 60)


def deliveries_send_due(*, limit: int = 100) -> int:
    """Timer (chat/timers.py): pending deliveries whose next attempt has come are sent.

    Taking one moves its `next_attempt_at` a lease ahead in the same statement, so the next
    timer run does not send it again while its task is on the way; a task that is lost is
    taken again when the lease ends, and two tasks for one attempt send once (`_claim`).
    """
    from . import tasks

    now = timezone.now()
    due = list(
        WebhookDelivery.objects.filter(status=Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", "attempts")[:limit]
    )
    sent = 0
    for delivery_id, attempts in due:
        with transaction.atomic():
            taken = WebhookDelivery.objects.filter(
                pk=delivery_id, status=Status.PENDING, attempts=attempts, next_attempt_at__lte=now
            ).update(next_attempt_at=_lease_end())
        if taken:
            tasks.webhook_deliver.delay(str(delivery_id), attempts + 1)
            sent += 1
    return sent


def backoff_seconds(attempt: int) -> float:
    """Wait before attempt `attempt + 1`: base × 2^(attempt-1), capped at one day."""
    return min(settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempt - 1), 86400)


def _claim(delivery_id, attempt: int) -> WebhookDelivery | None:
    """Take attempt number `attempt` of a pending delivery; None when it ran already (a duplicate task)."""
    with transaction.atomic():
        claimed = WebhookDelivery.objects.filter(pk=delivery_id, status=Status.PENDING, attempts=attempt - 1).update(
            attempts=attempt
        )
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("subscription").get(pk=delivery_id)


def _record(delivery: WebhookDelivery, **fields) -> None:
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields, updated_at=timezone.now())


def delivery_attempt(*, delivery_id, attempt: int) -> float | None:
    """Send one attempt. Returns the seconds to wait before the next one, or None when done."""
    delivery = _claim(delivery_id, attempt)
    if delivery is None:
        return None
    subscription = delivery.subscription
    if not subscription.is_active:
        _record(delivery, status=Status.FAILED, last_error="The subscription was switched off.", next_attempt_at=None)
        return None
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "cxhub-webhooks/1",
        "X-Cxhub-Event": delivery.event_type,
        "X-Cxhub-Delivery": str(delivery.pk),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: "v1=" + signature(secret=subscription.secret, timestamp=timestamp, body=body),
    }
    retry = False
    try:
        answer = safe_http.post(subscription.url, body=body, headers=headers)
    except safe_http.RefusedDestination as exc:
        logger.warning("webhook %s refused: %s", delivery.pk, exc)
        _record(delivery, status=Status.REFUSED, last_error=str(exc)[:500], next_attempt_at=None)
        return None
    except (OSError, TimeoutError, ValueError) as exc:  # http.client errors are OSError or ValueError
        fields = {"last_status_code": None, "last_error": f"{type(exc).__name__}: {exc}"[:500], "last_response": ""}
        retry = True
    else:
        fields = {
            "last_status_code": answer.status,
            "last_response": answer.body_excerpt,
            "last_duration_ms": answer.duration_ms,
            "last_error": "",
        }
        if 200 <= answer.status < 300:
            _record(delivery, **fields, status=Status.SUCCEEDED, delivered_at=timezone.now(), next_attempt_at=None)
            return None
        if 300 <= answer.status < 400:
            fields["last_error"] = "Redirects are not followed; point the subscription at the final URL."
        else:
            retry = answer.status >= 500 or answer.status in RETRIED_STATUSES
            fields["last_error"] = f"HTTP {answer.status}"
    if retry and attempt < settings.WEBHOOK_MAX_ATTEMPTS:
        wait = backoff_seconds(attempt)
        _record(delivery, **fields, next_attempt_at=timezone.now() + timedelta(seconds=wait))
        return wait
    _record(delivery, **fields, status=Status.FAILED, next_attempt_at=None)
    return None


@transaction.atomic
def delivery_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a failed or refused delivery again from its first attempt (admin action)."""
    from . import tasks

    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=Status.PENDING, attempts=0, next_attempt_at=_lease_end(), last_error=""
    )
    transaction.on_commit(lambda: tasks.webhook_deliver.delay(str(delivery.pk), 1))
    return WebhookDelivery.objects.get(pk=delivery.pk)
