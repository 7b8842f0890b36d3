"""The conversation data model of DESIGN.md §2: inboxes, people, conversations, messages, events."""

import hashlib
import secrets

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


def new_public_id() -> str:
    return secrets.token_urlsafe(12)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Tokens are stored as SHA-256 digests; the raw token is shown once and never kept."""
    return hashlib.sha256(token.encode()).hexdigest()


# The widget's greeting until an inbox sets its own; translated for each visitor (chat/languages.py).
DEFAULT_GREETING = "Hi! How can we help?"


class Channel(models.TextChoices):
    WEB = "web", _("Web chat")
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    API = "api", _("API")


INBOX_CHANNEL_CHOICES = [c for c in Channel.choices if c[0] != Channel.API]

ATTACHMENT_KINDS = ("image", "pdf", "text", "office")


def default_attachment_kinds() -> list[str]:
    return list(ATTACHMENT_KINDS)


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="teams_led"
    )
    is_retention = models.BooleanField(
        default=False, help_text="Conversations of at-risk contacts are routed to this team."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Inbox(models.Model):
    """An entry point: a website widget, an email address or a phone number."""

    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    name = models.CharField(max_length=100)
    channel = models.CharField(max_length=10, choices=INBOX_CHANNEL_CHOICES)
    # web
    allowed_origins = models.JSONField(
        default=list, blank=True, help_text='Origins allowed to embed the widget, e.g. ["https://shop.example"].'
    )
    identity_secret = models.CharField(
        max_length=64, default=new_secret, help_text="HMAC key the website uses to sign its user ids."
    )
    prechat_form = models.BooleanField(default=False, help_text="Ask for name and email before the chat.")
    greeting = models.CharField(
        max_length=300,
        blank=True,
        default=DEFAULT_GREETING,
        help_text="Left as the default, each visitor reads it in their own language.",
    )
    language = models.CharField(
        max_length=16,
        choices=settings.LANGUAGES,
        default=settings.LANGUAGE_CODE,
        help_text="The language of customers whose own is not known (surveys, auto-replies, the widget).",
    )
    # email
    email_address = models.EmailField(unique=True, null=True, blank=True)
    # sms
    phone_number = models.CharField(max_length=20, unique=True, null=True, blank=True)
    # providers: credentials and per-inbox webhook secret
    provider_config = models.JSONField(default=dict, blank=True)
    webhook_secret = models.CharField(max_length=64, default=new_secret)
    business_hours = models.JSONField(
        default=dict,
        blank=True,
        help_text='Empty: always open. {"time_zone": "Europe/Paris", "days": {"mon": [["09:00", "17:00"]], ...}, '
        '"holidays": [{"date": "2026-12-25"}, {"start": "2026-12-31T18:00", "end": "2027-01-02T08:00"}]} '
        "(docs/sla.md).",
    )
    pending_auto_resolve_days = models.PositiveSmallIntegerField(
        default=7, help_text="A conversation waiting on the customer is resolved after this many days without a reply."
    )
    default_team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # attachments (chat/attachments.py): the kinds of file accepted and the largest one
    attachment_kinds = models.JSONField(
        default=default_attachment_kinds,
        blank=True,
        help_text='Kinds of file people may send: any of "image", "pdf", "text", "office"; empty: none.',
    )
    attachment_max_bytes = models.PositiveIntegerField(
        default=10 * 1024 * 1024, help_text="The largest file accepted, in bytes (at most the server's ceiling)."
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="InboxMembership", related_name="inboxes", blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "inboxes"

    def __str__(self) -> str:
        return f"{self.name} ({self.channel})"

    def clean(self):
        kinds = self.attachment_kinds
        if not isinstance(kinds, list) or any(kind not in ATTACHMENT_KINDS for kind in kinds):
            raise ValidationError({"attachment_kinds": _("A list of: %s.") % ", ".join(ATTACHMENT_KINDS)})
        if self.attachment_max_bytes and self.attachment_max_bytes > settings.ATTACHMENT_MAX_BYTES_CEILING:
            raise ValidationError(
                {"attachment_max_bytes": _("At most %s bytes.") % settings.ATTACHMENT_MAX_BYTES_CEILING}
            )


class AgentProfile(models.Model):
    class Availability(models.TextChoices):
        ONLINE = "online"
        BUSY = "busy"
        OFFLINE = "offline"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent")
    display_name = models.CharField(max_length=100)
    capacity = models.PositiveSmallIntegerField(default=5, help_text="Open conversations at once.")
    availability = models.CharField(max_length=10, choices=Availability.choices, default=Availability.OFFLINE)
    is_supervisor = models.BooleanField(default=False)
    teams = models.ManyToManyField(Team, blank=True, related_name="agents")
    language = models.CharField(
        max_length=16, choices=settings.LANGUAGES, blank=True, help_text="The console's language; empty: the browser's."
    )
    time_zone = models.CharField(
        max_length=64, blank=True, help_text='Times in the console, e.g. "Europe/Madrid"; empty: the workspace\'s.'
    )
    last_assigned_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.display_name


class InboxMembership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="inbox_memberships")
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="memberships")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "inbox"], name="unique_inbox_membership")]

    def __str__(self) -> str:
        return f"{self.user} in {self.inbox}"


class Contact(models.Model):
    """One person, whatever channels they use."""

    class LocaleSource(models.TextChoices):
        """Where the contact's language came from. A detected one (browser, email headers) never
        replaces one the website, an agent or the API set."""

        BROWSER = "browser"
        EMAIL = "email"
        WEBSITE = "website"
        AGENT = "agent"

    DETECTED_LOCALE_SOURCES = frozenset({LocaleSource.BROWSER, LocaleSource.EMAIL})

    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=20, blank=True, help_text="E.164")
    external_id = models.CharField(max_length=200, blank=True, help_text="The website's own user id.")
    attributes = models.JSONField(default=dict, blank=True)
    at_risk_until = models.DateTimeField(null=True, blank=True)
    sms_opted_out = models.BooleanField(default=False)
    survey_opted_out = models.BooleanField(default=False)
    locale = models.CharField(
        max_length=16,
        blank=True,
        choices=settings.LANGUAGES,
        help_text="The language the contact reads; empty: their inbox's default.",
    )
    locale_source = models.CharField(max_length=10, blank=True, choices=LocaleSource.choices)
    time_zone = models.CharField(max_length=64, blank=True, help_text='e.g. "Asia/Shanghai"; empty: not known.')
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_contacts"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["email"]),
            models.Index(fields=["phone"]),
            # "At risk now" (the metrics summary): most contacts never are, so only those that were.
            models.Index(
                fields=["at_risk_until"], name="contact_at_risk_idx", condition=Q(at_risk_until__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.email or self.phone or f"Contact {self.pk}"

    @property
    def is_at_risk(self) -> bool:
        return bool(self.at_risk_until and self.at_risk_until > timezone.now())


class ContactIdentity(models.Model):
    class Kind(models.TextChoices):
        VISITOR = "visitor"
        EMAIL = "email"
        PHONE = "phone"
        EXTERNAL = "external"

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    value = models.CharField(max_length=320)
    verified = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "contact identities"
        constraints = [models.UniqueConstraint(fields=["kind", "value"], name="unique_identity")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class VisitorToken(models.Model):
    """A widget visitor's credential: random, stored hashed, scoped to inbox + contact, revocable."""

    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="visitor_tokens")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="visitor_tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    verified = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Visitor token of contact {self.contact_id}"


class Priority(models.TextChoices):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


PRIORITY_RANK = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}


class SlaPolicy(models.Model):
    """What an inbox promises for conversations of one priority (docs/sla.md). A target left
    empty is no promise; `business_hours` counts only the inbox's open hours, else calendar time."""

    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="sla_policies")
    priority = models.CharField(max_length=10, choices=Priority.choices)
    first_response_seconds = models.PositiveIntegerField(null=True, blank=True)
    next_response_seconds = models.PositiveIntegerField(null=True, blank=True)
    resolution_seconds = models.PositiveIntegerField(null=True, blank=True)
    business_hours = models.BooleanField(
        default=True, help_text="Count only the inbox's business hours (else calendar time)."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["inbox_id", "priority"]
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        constraints = [models.UniqueConstraint(fields=["inbox", "priority"], name="one_sla_policy_per_priority")]

    def __str__(self) -> str:
        return f"SLA of {self.inbox} for {self.priority}"


class ConversationQuerySet(models.QuerySet):
    def active(self):
        """Not resolved: open, pending or snoozed (a contact has at most one, by constraint)."""
        return self.exclude(status="resolved")


class Conversation(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("status", "Open")
        PENDING = "pending", pgettext_lazy("status", "Pending")
        SNOOZED = "snoozed", pgettext_lazy("status", "Snoozed")
        RESOLVED = "resolved", pgettext_lazy("status", "Resolved")

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="conversations")
    inbox = models.ForeignKey(Inbox, on_delete=models.PROTECT, related_name="conversations")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations")
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    priority_rank = models.PositiveSmallIntegerField(default=1, editable=False)
    subject = models.CharField(max_length=300, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    first_customer_message_at = models.DateTimeField(null=True, blank=True)
    first_reply_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    first_resolved_at = models.DateTimeField(null=True, blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    # set with the status pending: when the system resolves it if the customer has not written
    pending_resolve_at = models.DateTimeField(null=True, blank=True)
    # SLA clocks (chat/sla.py): each target's start, due, warning time and state; the soonest due
    # of a running clock (the list's "due soonest") and the next warning or breach the timer checks
    sla = models.JSONField(default=dict, blank=True)
    sla_due_at = models.DateTimeField(null=True, blank=True)
    sla_check_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(default=timezone.now)
    last_seq = models.PositiveIntegerField(default=0)
    last_customer_channel = models.CharField(max_length=10, choices=Channel.choices, blank=True)
    reopen_count = models.PositiveIntegerField(default=0)
    waiting_since = models.DateTimeField(
        null=True, blank=True, help_text="The customer's first message since the last reply; null: nobody waits."
    )
    previous = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    email_thread_token = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["contact"], condition=~Q(status="resolved"), name="one_active_conversation_per_contact"
            )
        ]
        indexes = [
            models.Index(fields=["-last_activity_at", "-id"], name="conv_activity_idx"),
            models.Index(fields=["inbox", "status"], name="conv_inbox_status_idx"),
            models.Index(fields=["assignee", "status"], name="conv_assignee_status_idx"),
            # the timer that wakes snoozed conversations (chat/timers.py) reads only these rows
            models.Index(fields=["snoozed_until"], condition=Q(status="snoozed"), name="conv_snoozed_until_idx"),
            models.Index(fields=["pending_resolve_at"], condition=Q(status="pending"), name="conv_pending_resolve_idx"),
            models.Index(fields=["sla_check_at"], condition=Q(sla_check_at__isnull=False), name="conv_sla_check_idx"),
            models.Index(fields=["sla_due_at", "id"], name="conv_sla_due_idx"),
            # the list's "longest waiting" sort
            models.Index(fields=["waiting_since", "id"], name="conv_waiting_idx"),
        ]

    def __str__(self) -> str:
        return f"Conversation {self.pk} ({self.status})"

    def save(self, *args, **kwargs):
        self.priority_rank = PRIORITY_RANK.get(self.priority, 1)
        super().save(*args, **kwargs)

    @property
    def is_active(self) -> bool:
        return self.status != self.Status.RESOLVED


class Message(models.Model):
    class SenderKind(models.TextChoices):
        CONTACT = "contact"
        AGENT = "agent"
        BOT = "bot"
        SYSTEM = "system"

    class Direction(models.TextChoices):
        INBOUND = "in"
        OUTBOUND = "out"

    class Delivery(models.TextChoices):
        RECEIVED = "received"
        PENDING = "pending"
        SENT = "sent"
        DELIVERED = "delivered"
        READ = "read"
        FAILED = "failed"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    inbox = models.ForeignKey(Inbox, on_delete=models.PROTECT, related_name="messages")
    seq = models.PositiveIntegerField()
    sender_kind = models.CharField(max_length=10, choices=SenderKind.choices)
    sender_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    body = models.TextField(blank=True)
    html = models.TextField(blank=True, help_text="Sanitised HTML of an email; never shown unsanitised.")
    attachments = models.JSONField(default=list, blank=True)
    is_note = models.BooleanField(default=False)
    client_msg_id = models.CharField(max_length=64, null=True, blank=True)
    provider = models.CharField(max_length=20, null=True, blank=True)
    external_id = models.CharField(max_length=255, null=True, blank=True)
    delivery_status = models.CharField(max_length=10, choices=Delivery.choices, default=Delivery.RECEIVED)
    delivery_error = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # PostgreSQL's full-text index of the body and file names (chat/search.py writes it in the
    # message's transaction); SQLite keeps an FTS5 table instead and leaves this empty.
    search_vector = SearchVectorField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["conversation_id", "seq"]
        indexes = [GinIndex(fields=["search_vector"], name="message_search_idx")]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="unique_message_seq"),
            models.UniqueConstraint(fields=["conversation", "client_msg_id"], name="unique_client_msg_id"),
            models.UniqueConstraint(fields=["provider", "external_id"], name="unique_provider_external_id"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} in conversation {self.conversation_id}"


class ConversationEvent(models.Model):
    """Append-only log, written in the transaction of the change it records."""

    class Kind(models.TextChoices):
        OPENED = "opened"
        MESSAGE_CREATED = "message_created"
        ASSIGNED = "assigned"
        UNASSIGNED = "unassigned"
        TRANSFERRED = "transferred"
        CHANNEL_SWITCHED = "channel_switched"
        PRIORITY_CHANGED = "priority_changed"
        SNOOZED = "snoozed"
        WOKE = "woke"  # a snooze ended: its time came, an agent unsnoozed it, or the customer wrote
        PENDING = "pending"  # an agent set it to wait on the customer
        SLA_WARNING = "sla_warning"  # 75 % of a target's time has passed
        SLA_BREACHED = "sla_breached"  # a target's due time passed unmet
        RESOLVED = "resolved"
        REOPENED = "reopened"
        CONTACT_MERGED = "contact_merged"
        LABELLED = "labelled"  # labels added or removed: {added: [names], removed: [names]}
        SURVEY_SCHEDULED = "survey_scheduled"
        SURVEY_SKIPPED = "survey_skipped"
        SURVEY_SENT = "survey_sent"
        SURVEY_ANSWERED = "survey_answered"

    # What the console shows as small system lines among the messages (agents only, never customers).
    TIMELINE_KINDS = frozenset(
        {
            Kind.ASSIGNED,
            Kind.UNASSIGNED,
            Kind.TRANSFERRED,
            Kind.PRIORITY_CHANGED,
            Kind.SNOOZED,
            Kind.WOKE,
            Kind.PENDING,
            Kind.SLA_WARNING,
            Kind.SLA_BREACHED,
            Kind.RESOLVED,
            Kind.REOPENED,
        }
    )

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["conversation", "kind"], name="event_conv_kind_idx"),
            # the drains that read a few kinds (chat/outbox.py: surveys on resolved/reopened)
            models.Index(fields=["kind", "id"], name="event_kind_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on {self.conversation_id}"


class DrainMark(models.Model):
    """An outbox event one drain has processed (chat/outbox.py); each drain marks its own.

    No foreign key: events are never deleted, and the mark is written on every drained event.
    """

    drain = models.CharField(max_length=40)
    event_id = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["drain", "event_id"], name="one_mark_per_drain_and_event")]

    def __str__(self) -> str:
        return f"{self.drain} drained event {self.event_id}"


class AuditLog(models.Model):
    """Who did what to personal data: merges, un-merges, exports, erasures."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=40)
    target_type = models.CharField(max_length=40)
    target_id = models.CharField(max_length=40)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}:{self.target_id}"


class CannedResponse(models.Model):
    """A reply typed by `/shortcut`; `texts` holds it in other languages, and the console inserts
    the one in the customer's language (else `body`)."""

    shortcut = models.SlugField(max_length=50, unique=True)
    body = models.TextField()
    texts = models.JSONField(default=dict, blank=True, help_text='The text by language, e.g. {"ru": "…", "es": "…"}.')
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["shortcut"]

    def __str__(self) -> str:
        return f"/{self.shortcut}"


class ReadMarker(models.Model):
    """How far one agent has read one conversation (the list's unread counts)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="read_markers")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="read_markers")
    last_read_seq = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "conversation"], name="one_read_marker_per_agent")]

    def __str__(self) -> str:
        return f"{self.user} read {self.conversation_id} to #{self.last_read_seq}"


class Label(models.Model):
    """A workspace's tag for conversations and contacts (supervisors manage them, agents apply them)."""

    name = models.CharField(max_length=50)
    colour = models.CharField(max_length=7, default="#6b7280", help_text='"#rrggbb"')
    conversations = models.ManyToManyField(Conversation, through="ConversationLabel", related_name="labels", blank=True)
    contacts = models.ManyToManyField(Contact, through="ContactLabel", related_name="labels", blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(models.functions.Lower("name"), name="unique_label_name_ci"),
        ]

    def __str__(self) -> str:
        return self.name


class LabelLink(models.Model):
    """A label on something, with who put it there and when."""

    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="+")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


class ConversationLabel(LabelLink):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["conversation", "label"], name="unique_conversation_label")]
        indexes = [models.Index(fields=["label", "conversation"], name="conversation_label_idx")]

    def __str__(self) -> str:
        return f"{self.label_id} on conversation {self.conversation_id}"


class ContactLabel(LabelLink):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "label"], name="unique_contact_label")]

    def __str__(self) -> str:
        return f"{self.label_id} on contact {self.contact_id}"


class SavedView(models.Model):
    """A named set of the list's filters: the owner's own, or shared with everyone by a supervisor."""

    name = models.CharField(max_length=80)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    shared = models.BooleanField(default=False, help_text="Everyone sees it (made by a supervisor).")
    filters = models.JSONField(default=dict, blank=True, help_text="The list's query: status, inbox, label, q, sort…")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-shared", "name", "id"]

    def __str__(self) -> str:
        return self.name


class Macro(models.Model):
    """One named click: a canned reply, then actions (labels, a team, a priority, a snooze or a
    resolution), run in that order in one transaction. The owner's own, or shared by a supervisor."""

    name = models.CharField(max_length=80)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="macros")
    shared = models.BooleanField(default=False, help_text="Everyone may run it (made by a supervisor).")
    reply = models.TextField(blank=True, help_text="Sent to the customer first; empty: no reply.")
    labels = models.ManyToManyField(Label, blank=True, related_name="macros")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    priority = models.CharField(max_length=10, choices=Priority.choices, blank=True)
    snooze_minutes = models.PositiveIntegerField(null=True, blank=True)
    resolve = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-shared", "name", "id"]

    def __str__(self) -> str:
        return self.name


class Participant(models.Model):
    """An agent who follows a conversation (by choice, or because a note mentioned them)."""

    class Reason(models.TextChoices):
        FOLLOWED = "followed"
        MENTIONED = "mentioned"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="participations")
    reason = models.CharField(max_length=10, choices=Reason.choices, default=Reason.FOLLOWED)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["conversation", "user"], name="one_participant_per_agent")]

    def __str__(self) -> str:
        return f"{self.user} follows {self.conversation_id}"


class Mention(models.Model):
    """`@username` in an internal note: the named agent is told (console badge, desktop notification)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="mentions")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mentions")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "user"], name="one_mention_per_message_and_agent")]
        indexes = [models.Index(fields=["user", "read_at"], name="mention_user_unread_idx")]

    def __str__(self) -> str:
        return f"@{self.user} in message {self.message_id}"


class AttributeDefinition(models.Model):
    """A custom attribute of contacts the console shows and filters (values live in Contact.attributes)."""

    class Kind(models.TextChoices):
        TEXT = "text"
        NUMBER = "number"
        DATE = "date"
        LIST = "list"

    key = models.SlugField(max_length=50, unique=True, help_text="The key in Contact.attributes, e.g. plan.")
    label = models.CharField(max_length=80)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TEXT)
    options = models.JSONField(default=list, blank=True, help_text="The choices of a list attribute.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["label", "id"]

    def __str__(self) -> str:
        return self.label


class ContactNote(models.Model):
    """An agent's note on a person (never shown to them)."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Note on contact {self.contact_id}"


class WorkspacePreferences(models.Model):
    """One agent's console preferences (the keyboard's send key)."""

    class SendKey(models.TextChoices):
        ENTER = "enter"  # Enter sends, Shift+Enter starts a new line
        CTRL_ENTER = "ctrl_enter"  # Ctrl+Enter (⌘+Enter) sends, Enter starts a new line

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="workspace_preferences"
    )
    send_key = models.CharField(max_length=10, choices=SendKey.choices, default=SendKey.CTRL_ENTER)

    def __str__(self) -> str:
        return f"Preferences of {self.user}"


class AutomationRule(models.Model):
    """When an event happens in a conversation (of one inbox, or any) and every condition holds, do
    the actions (docs/automation.md). Supervisors manage rules; the outbox's "automation" drain
    runs them after the event committed, each action through its service."""

    class Event(models.TextChoices):
        CONVERSATION_CREATED = "conversation_created"
        MESSAGE_CREATED = "message_created"  # a customer's message (not agents', bots' or notes)
        CONVERSATION_RESOLVED = "conversation_resolved"

    name = models.CharField(max_length=80)
    event = models.CharField(max_length=30, choices=Event.choices)
    inbox = models.ForeignKey(
        Inbox,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="automation_rules",
        help_text="Only this inbox's conversations; empty: every inbox.",
    )
    conditions = models.JSONField(
        default=list,
        blank=True,
        help_text='All must hold, e.g. [{"attribute": "channel", "operator": "is", "value": ["email"]}].',
    )
    actions = models.JSONField(default=list, help_text='In order, e.g. [{"action": "add_label", "value": 3}].')
    active = models.BooleanField(default=True)
    active_since = models.DateTimeField(default=timezone.now, help_text="Events from this moment on are matched.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name
