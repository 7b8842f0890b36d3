"""Writes for business hours and SLAs: an inbox's hours, its SLA policies, and each conversation's
clocks (chat/sla.py), kept current by the conversation services in their own transactions.

`track(conversation, change, at=)` is what every conversation service calls before its one save:
it applies the change to the clocks, recomputes the due times with the inbox's policy for the
conversation's priority, records a breach that a late reply or resolution reveals, and saves the
SLA columns. The timer `chat.sla` (`sla_due`) records the warnings and breaches as they fall due.
"""

import logging
from datetime import datetime

from django.db import transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from cxhub import db
from cxhub.errors import InvalidInput, NotFound, not_one_of

from . import business_hours as hours
from . import events, languages, outbox, sla
from .models import Conversation, ConversationEvent, Inbox, Priority, SlaPolicy

logger = logging.getLogger(__name__)

EventKind = ConversationEvent.Kind
SLA_FIELDS = ["sla", "sla_due_at", "sla_check_at"]
TARGET_FIELDS = ("first_response_seconds", "next_response_seconds", "resolution_seconds")
MAX_TARGET_SECONDS = 366 * 86400


def schedule_of(inbox: Inbox) -> hours.Schedule | None:
    """The inbox's stored schedule (validated when stored; one that no longer parses counts as none)."""
    try:
        return hours.parse(inbox.business_hours or {})
    except hours.ScheduleError:
        logger.warning("inbox %s has a business_hours that does not parse; calendar time applies", inbox.pk)
        return None


def _policy_query(*, inbox_id: int, priority: str):
    return SlaPolicy.objects.filter(inbox_id=inbox_id, priority=priority).values_list(
        "first_response_seconds", "next_response_seconds", "resolution_seconds", "business_hours"
    )[:1]


# Read on every customer message and reply: built and compiled once (cxhub.db.PreparedQuery).
_POLICY = db.PreparedQuery(_policy_query, inbox_id=-9_100_001, priority="-placeholder-priority-9100002-")


def targets_of(inbox_id: int, priority: str) -> sla.Targets | None:
    row = _POLICY.first(inbox_id=inbox_id, priority=priority)
    if row is None:
        return None
    first_response, next_response, resolution, business_hours = row
    return sla.Targets(
        first_response=first_response,
        next_response=next_response,
        resolution=resolution,
        business_hours=bool(business_hours),
    )


def back_at(inbox: Inbox, at: datetime) -> datetime | None:
    """When the inbox opens next, None while it is open (or has no hours, or never opens again)."""
    schedule = schedule_of(inbox)
    if schedule is None or hours.is_open(schedule, at):
        return None
    return hours.next_open(schedule, at)


def back_at_text(inbox: Inbox, back: datetime, contact=None) -> str:
    """ "Monday 9:00" in the language active (the customer's) and their time zone, else the inbox's."""
    schedule = schedule_of(inbox)
    zone = languages.time_zone_of(contact) if contact is not None and contact.time_zone else None
    local = back.astimezone(zone or (schedule.time_zone if schedule else timezone.get_current_timezone()))
    return formats.date_format(local, "l j E, H:i")


def closed_notice(inbox: Inbox, back: datetime, contact=None) -> str:
    """The widget's notice outside business hours (in the language active: the visitor's)."""
    return _("We are away right now. We will be back on %(when)s.") % {"when": back_at_text(inbox, back, contact)}


def out_of_hours_text(inbox: Inbox, back: datetime, contact=None) -> str:
    return _(
        "Thank you for your message. Our team is away right now and will be back on %(when)s; we will reply then."
    ) % {"when": back_at_text(inbox, back, contact)}


# --- the clocks of one conversation ------------------------------------------------------

CUSTOMER_WROTE = "customer_wrote"
AGENT_REPLIED = "agent_replied"
PAUSED = "paused"
RESUMED = "resumed"
RESOLVED = "resolved"
REOPENED = "reopened"
RECOMPUTE = "recompute"  # priority, policy or hours changed


def track(conversation: Conversation, change: str, *, at: datetime | None = None, write: bool = False) -> None:
    """Apply `change` to the clocks of a locked conversation: its SLA columns (SLA_FIELDS) are set
    on the object, and warnings and breaches it reveals are recorded as events (the caller's
    transaction). The calling service saves SLA_FIELDS in its own one UPDATE of the row and
    broadcasts the conversation: on PostgreSQL a second UPDATE of a row in one transaction checks
    its foreign keys again, locking the contact after the conversation, against the lock order of
    ADR 0001 (a deadlock with message_receive). `write`: save and broadcast here (the timer and
    the recomputation after a policy change, which change nothing else)."""
    at = at or timezone.now()
    state = dict(conversation.sla or {})
    happened: list[sla.Happened] = []
    if change == CUSTOMER_WROTE:
        sla.customer_wrote(state, at)
    elif change == AGENT_REPLIED:
        happened += sla.agent_replied(state, at)
    elif change == PAUSED:
        sla.paused(state, at)
    elif change == RESUMED:
        sla.resumed(state, at)
    elif change == RESOLVED:
        happened += sla.resolved(state, at)
    elif change == REOPENED:
        sla.reopened(state, at)
    if not state.get("clocks") and not happened and state == (conversation.sla or {}):
        return  # nothing runs (no customer message yet): nothing to compute or save
    targets = targets_of(conversation.inbox_id, conversation.priority)
    sla.evaluate(state, targets=targets, schedule=schedule_of(conversation.inbox))
    happened += sla.fire(state, timezone.now())
    _save(conversation, state, happened, write=write)


def _save(conversation: Conversation, state: dict, happened: list[sla.Happened], *, write: bool) -> None:
    """Set the clocks on the conversation and record what happened; `write`: UPDATE the row and
    broadcast it here (no calling service saves it)."""
    for outcome in state.get("outcomes", []):
        if "agent_id" not in outcome:  # the credit: who had the conversation when the clock ended
            outcome["agent_id"], outcome["team_id"] = conversation.assignee_id, conversation.team_id
    changed_state = state != (conversation.sla or {})
    due_at, check_at = sla.soonest_due(state), sla.next_check(state)
    changed = changed_state or (due_at, check_at) != (conversation.sla_due_at, conversation.sla_check_at)
    conversation.sla, conversation.sla_due_at, conversation.sla_check_at = state, due_at, check_at
    if write and changed:
        Conversation.objects.filter(pk=conversation.pk).update(sla=state, sla_due_at=due_at, sla_check_at=check_at)
    for item in happened:
        outbox.record(
            conversation,
            item.kind,
            target=item.target,
            due_at=item.due,
            started_at=item.start,
            priority=conversation.priority,
            assignee_id=conversation.assignee_id,
            team_id=conversation.team_id,
            channel=conversation.last_customer_channel or conversation.inbox.channel,
        )
    if write and (happened or changed):
        events.broadcast_conversation(conversation)


@transaction.atomic
def conversation_sla_check(*, conversation_id: int) -> int:
    """Record the warnings and breaches of one conversation that are due (the timer; idempotent)."""
    conversation = (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("inbox")
        .filter(pk=conversation_id, sla_check_at__lte=timezone.now())
        .first()
    )
    if conversation is None:
        return 0
    state = dict(conversation.sla or {})
    happened = sla.fire(state, timezone.now())
    _save(conversation, state, happened, write=True)
    return len(happened)


def sla_due(limit: int = 500) -> int:
    """Timer (chat/timers.py): warnings and breaches that have fallen due, earliest first."""
    due = list(
        Conversation.objects.filter(sla_check_at__lte=timezone.now())
        .order_by("sla_check_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(conversation_sla_check(conversation_id=pk) for pk in due)


def _recompute_inbox(inbox: Inbox, *, priority: str | None = None) -> None:
    """After an inbox's hours or a policy changed: every running clock of its active conversations."""
    conversations = Conversation.objects.active().filter(inbox=inbox).exclude(sla={})
    if priority:
        conversations = conversations.filter(priority=priority)
    for conversation in conversations.select_for_update(of=("self",)).select_related("inbox").order_by("pk"):
        track(conversation, RECOMPUTE, write=True)


# --- setup: business hours and policies --------------------------------------------------


def _field_errors(error: hours.ScheduleError) -> dict:
    return {f"business_hours.{name}" if name != "business_hours" else name: m for name, m in error.fields.items()}


@transaction.atomic
def inbox_set_hours(
    *, inbox: Inbox, business_hours: dict | None = None, pending_auto_resolve_days: int | None = None
) -> Inbox:
    """An inbox's business hours (None: unchanged, {}: always open) and its pending auto-resolve days."""
    errors = {}
    if business_hours is not None:
        try:
            hours.parse(business_hours)
        except hours.ScheduleError as error:
            errors.update(_field_errors(error))
    if pending_auto_resolve_days is not None and (
        not isinstance(pending_auto_resolve_days, int)
        or isinstance(pending_auto_resolve_days, bool)
        or not 1 <= pending_auto_resolve_days <= 365
    ):
        errors["pending_auto_resolve_days"] = [_("A whole number of days from 1 to 365.")]
    if errors:
        raise InvalidInput(_("These business hours cannot be used."), fields=errors)
    # FOR NO KEY UPDATE: a message stored meanwhile (its row refers to the inbox) is not held up
    inbox = Inbox.objects.select_for_update(no_key=True).get(pk=inbox.pk)
    fields = []
    if business_hours is not None and business_hours != inbox.business_hours:
        inbox.business_hours = business_hours
        fields.append("business_hours")
    if pending_auto_resolve_days is not None and pending_auto_resolve_days != inbox.pending_auto_resolve_days:
        inbox.pending_auto_resolve_days = pending_auto_resolve_days
        fields.append("pending_auto_resolve_days")
    if fields:
        inbox.save(update_fields=fields)
    if "business_hours" in fields:
        _recompute_inbox(inbox)
    return inbox


def _check_targets(targets: dict) -> dict:
    errors = {}
    for name in TARGET_FIELDS:
        value = targets.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value > MAX_TARGET_SECONDS:
            errors[name] = [_("A whole number of seconds above 0 (at most a year), or empty for no target.")]
    if not errors and all(targets.get(name) is None for name in TARGET_FIELDS):
        errors["non_field_errors"] = [_("Set at least one target.")]
    return errors


@transaction.atomic
def sla_policy_set(
    *,
    inbox: Inbox,
    priority: str,
    first_response_seconds: int | None = None,
    next_response_seconds: int | None = None,
    resolution_seconds: int | None = None,
    business_hours: bool = True,
) -> SlaPolicy:
    """Create or replace the inbox's policy for `priority`; running clocks take the new targets."""
    targets = {
        "first_response_seconds": first_response_seconds,
        "next_response_seconds": next_response_seconds,
        "resolution_seconds": resolution_seconds,
    }
    errors = _check_targets(targets)
    if priority not in Priority.values:
        errors["priority"] = [not_one_of(Priority.values)]
    if not isinstance(business_hours, bool):
        errors["business_hours"] = [_("true or false.")]
    if errors:
        raise InvalidInput(_("This SLA policy cannot be used."), fields=errors)
    Inbox.objects.select_for_update(no_key=True).filter(pk=inbox.pk).first()  # one writer of its policies
    policy, _created = SlaPolicy.objects.update_or_create(
        inbox=inbox, priority=priority, defaults={**targets, "business_hours": business_hours}
    )
    _recompute_inbox(inbox, priority=priority)
    return policy


@transaction.atomic
def sla_policy_delete(*, policy: SlaPolicy) -> None:
    policy = SlaPolicy.objects.select_for_update().filter(pk=policy.pk).select_related("inbox").first()
    if policy is None:
        raise NotFound(_("No such SLA policy."))
    inbox, priority = policy.inbox, policy.priority
    policy.delete()
    _recompute_inbox(inbox, priority=priority)
