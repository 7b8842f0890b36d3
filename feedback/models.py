"""Surveys, follow-ups and the pipeline's facts and rollups (DESIGN.md §2, docs/metrics.md)."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import pgettext_lazy

from chat.models import Channel, Contact, Conversation, Inbox, Team


def default_questions() -> list[str]:
    return ["csat", "ces", "comment"]


class SurveyPolicy(models.Model):
    class Question(models.TextChoices):
        CSAT = "csat"
        CES = "ces"
        NPS = "nps"
        COMMENT = "comment"

    inbox = models.OneToOneField(Inbox, on_delete=models.CASCADE, related_name="survey_policy")
    enabled = models.BooleanField(default=True)
    questions = models.JSONField(default=default_questions, help_text='Any of "csat", "ces", "nps", "comment".')
    wording = models.JSONField(default=dict, blank=True, help_text="Overrides of the question texts by key.")
    delay = models.DurationField(default=timedelta(0))
    expiry = models.DurationField(default=timedelta(days=7))
    cooldown = models.DurationField(default=timedelta(days=14))
    sample_rate = models.FloatField(default=1.0, help_text="Share of resolutions surveyed, 0 to 1.")
    skip_without_agent_reply = models.BooleanField(default=True)
    skip_bot_resolved = models.BooleanField(default=True)
    channels = models.JSONField(default=list, blank=True, help_text="Channels allowed; empty means all.")
    follow_up_likely_unhappy = models.BooleanField(
        default=False,
        help_text="Open a follow-up when an open conversation is predicted likely unhappy (docs/metrics.md).",
    )

    class Meta:
        verbose_name_plural = "survey policies"

    def __str__(self) -> str:
        return f"Survey policy of {self.inbox}"


class SurveyInvitation(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled"
        SENT = "sent"
        ANSWERED = "answered"
        EXPIRED = "expired"
        SKIPPED = "skipped"
        CANCELLED = "cancelled"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="survey_invitations")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="survey_invitations")
    resolution_number = models.PositiveIntegerField(default=1, help_text="Which resolution of the conversation.")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    skip_reason = models.CharField(max_length=40, blank=True)
    questions = models.JSONField(default=default_questions)
    scheduled_for = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    send_attempts = models.PositiveSmallIntegerField(default=0, help_text="Failed deliveries so far.")
    sms_pending_question = models.CharField(
        max_length=10, blank=True, help_text="The question the last survey SMS asked; empty when none is open."
    )
    # snapshot at resolution: who gets the credit
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "resolution_number"], name="one_invitation_per_resolution")
        ]
        indexes = [
            models.Index(fields=["status", "scheduled_for"], name="invitation_due_idx"),
            # the expiry timer (chat/timers.py) reads only sent invitations
            models.Index(fields=["expires_at"], condition=models.Q(status="sent"), name="invitation_expiry_idx"),
        ]

    def __str__(self) -> str:
        return f"Survey for conversation {self.conversation_id} ({self.status})"


class SurveyResponse(models.Model):
    invitation = models.OneToOneField(SurveyInvitation, on_delete=models.CASCADE, related_name="response")
    csat = models.PositiveSmallIntegerField(null=True, blank=True)
    ces = models.PositiveSmallIntegerField(null=True, blank=True)
    nps = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.TextField(blank=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    answered_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(csat__isnull=True) | models.Q(csat__gte=1, csat__lte=5), name="csat_1_5"
            ),
            models.CheckConstraint(
                condition=models.Q(ces__isnull=True) | models.Q(ces__gte=1, ces__lte=7), name="ces_1_7"
            ),
            models.CheckConstraint(condition=models.Q(nps__isnull=True) | models.Q(nps__lte=10), name="nps_0_10"),
        ]

    def __str__(self) -> str:
        return f"Response to {self.invitation_id}"


class FollowUp(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("follow-up", "Open")
        CLOSED = "closed", pgettext_lazy("follow-up", "Closed")

    class Reason(models.TextChoices):
        DETRACTOR_ANSWER = "detractor_answer"
        LIKELY_UNHAPPY = "likely_unhappy"  # predicted, on an open conversation (docs/metrics.md)

    response = models.OneToOneField(
        SurveyResponse, null=True, blank=True, on_delete=models.CASCADE, related_name="follow_up"
    )
    reason = models.CharField(max_length=20, choices=Reason.choices, default=Reason.DETRACTOR_ANSWER)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="follow_ups")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="follow_ups")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="follow_ups"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # A prediction opens at most one follow-up per conversation (the pipeline may score it often).
            models.UniqueConstraint(
                fields=["conversation"], condition=models.Q(reason="likely_unhappy"), name="one_predicted_follow_up"
            )
        ]

    def __str__(self) -> str:
        return f"Follow-up for {self.contact}"


class ConversationFacts(models.Model):
    """One row per conversation (opened, resolved or not), written by the metrics pipeline.

    `contributions` is what this conversation (with its survey invitations) has added to
    MetricRollup, cell by cell; the pipeline replaces it, applying new − old, in the same
    transaction as the rollup update (docs/adr/0003-metrics-pipeline.md).
    """

    conversation = models.OneToOneField(Conversation, on_delete=models.CASCADE, related_name="facts")
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    opened_at = models.DateTimeField()
    first_reply_at = models.DateTimeField(null=True, blank=True)
    first_resolved_at = models.DateTimeField(null=True, blank=True)
    first_response_seconds = models.FloatField(null=True, blank=True)
    resolution_seconds = models.FloatField(null=True, blank=True)
    first_response_bucket = models.IntegerField(null=True, blank=True, help_text="Histogram leaf of the seconds.")
    resolution_bucket = models.IntegerField(null=True, blank=True, help_text="Histogram leaf of the seconds.")
    customer_messages = models.PositiveIntegerField(default=0)
    agent_messages = models.PositiveIntegerField(default=0)
    transfers = models.PositiveIntegerField(default=0)
    channels_used = models.JSONField(default=list)
    channel_switches = models.PositiveIntegerField(default=0)
    reopened = models.BooleanField(default=False)
    window_ended = models.BooleanField(default=False, help_text="The 7-day recontact window has ended.")
    recontacted_7d = models.BooleanField(null=True)
    fcr = models.BooleanField(null=True)
    csat = models.PositiveSmallIntegerField(null=True, blank=True)
    ces = models.PositiveSmallIntegerField(null=True, blank=True)
    nps = models.PositiveSmallIntegerField(null=True, blank=True)
    survey_answered_at = models.DateTimeField(null=True, blank=True)
    # business hours and SLAs (docs/metrics.md): open-time durations, time in queue, any SLA breach
    first_response_business_seconds = models.FloatField(null=True, blank=True)
    first_response_business_bucket = models.IntegerField(null=True, blank=True)
    resolution_business_seconds = models.FloatField(null=True, blank=True)
    resolution_business_bucket = models.IntegerField(null=True, blank=True)
    first_assigned_at = models.DateTimeField(null=True, blank=True)
    queue_seconds = models.FloatField(null=True, blank=True)
    queue_bucket = models.IntegerField(null=True, blank=True)
    sla_breached = models.BooleanField(null=True, help_text="Null: no SLA clock of it has ended.")
    contributions = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "conversation facts"
        indexes = [
            models.Index(fields=["first_reply_at"], name="facts_first_reply_idx"),
            models.Index(fields=["first_resolved_at"], name="facts_first_resolved_idx"),
            models.Index(fields=["opened_at"], name="facts_opened_idx"),
            # the 7-day window timer (chat/timers.py) reads only windows still open
            models.Index(
                fields=["first_resolved_at"], condition=models.Q(window_ended=False), name="facts_window_open_idx"
            ),
            # The values of one histogram leaf in a period (docs/adr/0004-exact-percentiles.md).
            models.Index(
                fields=["first_response_bucket", "first_reply_at"],
                include=["first_response_seconds", "inbox", "agent", "team", "channel"],
                name="facts_first_response_leaf_idx",
            ),
            models.Index(
                fields=["resolution_bucket", "first_resolved_at"],
                include=["resolution_seconds", "inbox", "agent", "team", "channel"],
                name="facts_resolution_leaf_idx",
            ),
            models.Index(
                fields=["first_response_business_bucket", "first_reply_at"],
                include=["first_response_business_seconds", "inbox", "agent", "team", "channel"],
                name="facts_frt_business_leaf_idx",
            ),
            models.Index(
                fields=["resolution_business_bucket", "first_resolved_at"],
                include=["resolution_business_seconds", "inbox", "agent", "team", "channel"],
                name="facts_res_business_leaf_idx",
            ),
            models.Index(
                fields=["queue_bucket", "first_assigned_at"],
                include=["queue_seconds", "inbox", "agent", "team", "channel"],
                name="facts_queue_leaf_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Facts of conversation {self.conversation_id}"


class RollupCell(models.Model):
    """A cell of additive counters per (day, inbox, agent, team, channel, metric).

    Agent and team are plain ids with 0 for "none" (not nullable foreign keys), so the unique
    constraint holds on every database: NULLs are distinct in a unique index (ADR 0003).
    Totals are integers (scores, counts, milliseconds), so sums are exact.
    """

    day = models.DateField()
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+")
    agent_key = models.BigIntegerField(default=0, help_text="The agent's user id; 0 when none.")
    team_key = models.BigIntegerField(default=0, help_text="The team's id; 0 when none.")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    metric = models.CharField(max_length=40)
    count = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.metric} on {self.day}"


class MetricRollup(RollupCell):
    """The pipeline's counters; ratios come from sums and counts (docs/metrics.md)."""

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "inbox", "agent_key", "team_key", "channel", "metric"],
                name="unique_rollup_cell_keys",
            )
        ]
        indexes = [models.Index(fields=["metric", "day"], name="rollup_metric_day_idx")]


class DurationHistogram(models.Model):
    """How many durations fell in each bucket, per (day, inbox, agent, team, channel, metric, level).

    Written by the pipeline beside MetricRollup, from the same contributions (ADR 0003), and read
    to find exact percentiles without reading every duration (docs/adr/0004-exact-percentiles.md).
    `level` 1 buckets are octaves, each cut into HISTOGRAM_FANOUT buckets of level 2, each of those
    into HISTOGRAM_FANOUT leaves (feedback/metrics.py). The rows with `inbox_key` 0 count every
    inbox, agent, team and channel at once: an unfiltered read sums a few rows per day, not one
    per combination of dimensions. `total` is the durations' sum in microseconds.
    """

    day = models.DateField()
    inbox_key = models.BigIntegerField(help_text="The inbox's id; 0 in the rows that count everything.")
    agent_key = models.BigIntegerField(default=0, help_text="The agent's user id; 0 when none.")
    team_key = models.BigIntegerField(default=0, help_text="The team's id; 0 when none.")
    channel = models.CharField(max_length=10, blank=True, help_text="Empty in the rows that count everything.")
    metric = models.CharField(max_length=40, help_text="first_response_seconds or resolution_seconds.")
    level = models.PositiveSmallIntegerField()
    parent = models.IntegerField(help_text="The bucket one level up (0 on level 1).")
    bucket = models.IntegerField()
    count = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "inbox_key", "agent_key", "team_key", "channel", "metric", "level", "bucket"],
                name="unique_histogram_cell",
            )
        ]
        # A read takes one parent's children over the days of a period: one index range each.
        indexes = [
            models.Index(
                fields=["metric", "level", "parent", "day"],
                include=["bucket", "count", "total"],
                condition=models.Q(inbox_key=0),
                name="histogram_everything_idx",
            ),
            models.Index(
                fields=["metric", "level", "parent", "day"],
                include=["bucket", "count", "total", "inbox_key", "agent_key", "team_key", "channel"],
                condition=models.Q(inbox_key__gt=0),
                name="histogram_dimensions_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.metric} level {self.level} bucket {self.bucket} on {self.day}"


class ProcessedEvent(models.Model):
    """The pipeline's marker: this ConversationEvent's effect is in the facts and rollups.

    Written in the same transaction as the facts and rollups it caused (ADR 0003).
    """

    event = models.OneToOneField("chat.ConversationEvent", on_delete=models.CASCADE, primary_key=True, related_name="+")
    processed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Processed event {self.event_id}"


class SatisfactionModel(models.Model):
    """One training run of the satisfaction model: its parameters as data, its evaluation, its verdict.

    The model is plain JSON (coefficients, means, scales, calibration; feedback/satisfaction.py
    evaluates it), never a pickle. At most one row is active: the one the pipeline scores with
    (docs/adr/0007-satisfaction-model.md). A declined or rejected run is kept, with its reason,
    so the API and the dashboard can say why there is no (new) model.
    """

    class Status(models.TextChoices):
        PROMOTED = "promoted"  # beat the baseline on its hold-out: scored with while active
        REJECTED = "rejected"  # did not beat the baseline: never used
        DECLINED = "declined"  # too few answers (or one class only): no model was fitted

    status = models.CharField(max_length=10, choices=Status.choices)
    is_active = models.BooleanField(default=False)
    reason = models.TextField(blank=True, help_text="Why it was declined or rejected; empty when promoted.")
    feature_version = models.PositiveSmallIntegerField()
    answers = models.PositiveIntegerField(default=0, help_text="Answered conversations available to learn from.")
    parameters = models.JSONField(default=dict, blank=True)
    evaluation = models.JSONField(default=dict, blank=True)
    trained_at = models.DateTimeField(default=timezone.now)
    training_seconds = models.FloatField(default=0)
    trigger = models.CharField(max_length=20, default="nightly", help_text="nightly, command, api or seed.")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=models.Q(is_active=True), name="one_active_model")
        ]

    def __str__(self) -> str:
        return f"Satisfaction model v{self.pk} ({self.status})"


class SatisfactionScore(models.Model):
    """One row per conversation: its features, its predicted satisfaction and what it added to the
    satisfaction rollups (`contributions`, applied new − old like ConversationFacts').

    Written by the metrics pipeline in the batch that refreshes the conversation's facts
    (feedback/predictions.py), and by the rescoring that follows a promotion.
    """

    conversation = models.OneToOneField(Conversation, on_delete=models.CASCADE, related_name="satisfaction")
    contact_id = models.BigIntegerField(help_text="The conversation's contact (erased people leave the training set).")
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    is_open = models.BooleanField(default=True, help_text="Not resolved now.")
    first_resolved_at = models.DateTimeField(null=True, blank=True)
    feature_version = models.PositiveSmallIntegerField(default=0)
    features = models.JSONField(default=list, blank=True, help_text="Numeric features, satisfaction.FEATURES order.")
    text_sentiment = models.BooleanField(default=False, help_text="The customer's words were scored (English).")
    csat = models.PositiveSmallIntegerField(null=True, blank=True, help_text="The answered CSAT, if any.")
    answered_at = models.DateTimeField(null=True, blank=True)
    model_version = models.BigIntegerField(null=True, blank=True)
    satisfied_probability = models.FloatField(null=True, blank=True, help_text="P(CSAT >= 4).")
    expected_csat = models.FloatField(null=True, blank=True)
    likely_unhappy = models.BooleanField(default=False)
    reasons = models.JSONField(default=list, blank=True, help_text="The three features that weigh most.")
    contributions = models.JSONField(default=dict, blank=True)
    scored_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["first_resolved_at"], name="score_resolved_idx"),
            models.Index(fields=["answered_at"], condition=models.Q(csat__isnull=False), name="score_answered_idx"),
            models.Index(fields=["model_version"], name="score_model_idx"),
        ]

    def __str__(self) -> str:
        return f"Satisfaction of conversation {self.conversation_id}"


class SatisfactionRollup(RollupCell):
    """Additive counters of the satisfaction figures per (day of first resolution, inbox, agent, team,
    channel, metric), as MetricRollup's; their own table, with their own exact recompute
    (`feedback.predictions.recompute`). Probabilities are stored in millionths, so sums are exact."""

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "inbox", "agent_key", "team_key", "channel", "metric"],
                name="unique_satisfaction_cell",
            )
        ]
        indexes = [models.Index(fields=["day", "metric"], name="satisfaction_day_idx")]
