"""Outbound webhooks: who wants which events (subscriptions) and what was sent (the delivery log)."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from chat.models import Inbox, new_secret

# The event types a subscription may ask for; "conversation.*" stands for every conversation.* type.
EVENT_TYPES = [
    "conversation.opened",
    "conversation.assigned",
    "conversation.unassigned",
    "conversation.transferred",
    "conversation.channel_switched",
    "conversation.priority_changed",
    "conversation.snoozed",
    "conversation.pending",
    "conversation.resolved",
    "conversation.reopened",
    "conversation.contact_merged",
    "message.created",
    "survey.scheduled",
    "survey.skipped",
    "survey.sent",
    "survey.answered",
    "survey.detractor",
    "sla.warning",
    "sla.breached",
]


def _known_pattern(pattern) -> bool:
    if not isinstance(pattern, str):
        return False
    if pattern == "*" or pattern in EVENT_TYPES:
        return True
    return pattern.endswith(".*") and any(t.startswith(pattern[:-1]) for t in EVENT_TYPES)


class WebhookSubscription(models.Model):
    """A URL of the customer's system that receives the chosen event types, signed with `secret`."""

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=2000, help_text="http(s) URL; private and loopback addresses are refused.")
    secret = models.CharField(
        max_length=64, default=new_secret, help_text="HMAC-SHA256 key of the X-Cxhub-Signature header."
    )
    event_types = models.JSONField(
        default=list, help_text='e.g. ["conversation.*", "message.created", "survey.detractor"]'
    )
    inbox = models.ForeignKey(
        Inbox,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhook_subscriptions",
        help_text="Only this inbox's events; empty for every inbox.",
    )
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} → {self.url}"

    def clean(self):
        from django.core.exceptions import ValidationError

        errors = {}
        if not isinstance(self.event_types, list) or not self.event_types:
            errors["event_types"] = 'Give a list of event types, e.g. ["conversation.*", "message.created"].'
        else:
            unknown = [t for t in self.event_types if not _known_pattern(t)]
            if unknown:
                errors["event_types"] = f"Unknown event types: {', '.join(map(str, unknown))}."
        if not str(self.url).lower().startswith(("http://", "https://")):
            errors["url"] = "Only http and https URLs."
        if errors:
            raise ValidationError(errors)

    def wants(self, event_type: str) -> bool:
        for pattern in self.event_types or []:
            if pattern == event_type or pattern == "*":
                return True
            if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
                return True
        return False


class WebhookDelivery(models.Model):
    """One event for one subscription: its payload and every attempt's outcome."""

    class Status(models.TextChoices):
        PENDING = "pending"  # waiting for its (next) attempt
        SUCCEEDED = "succeeded"  # a 2xx answer
        FAILED = "failed"  # gave up: attempts exhausted, a 4xx, or a redirect
        REFUSED = "refused"  # the URL points at a forbidden address (SSRF guard); never sent

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event_type = models.CharField(max_length=40)
    event_id = models.BigIntegerField(null=True, blank=True, help_text="The ConversationEvent it reports.")
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_response = models.TextField(blank=True, help_text="The start of the last answer's body.")
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event_id", "event_type"], name="one_delivery_per_event_and_type"
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due_idx")]

    def __str__(self) -> str:
        return f"{self.event_type} to {self.subscription_id} ({self.status})"
