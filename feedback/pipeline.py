"""The metrics pipeline: conversation events and survey answers become facts and rollups.

Exactly once in effect (docs/adr/0003-metrics-pipeline.md):

- A conversation's facts, and what it contributes to each rollup and histogram cell, are a
  pure function of its raw rows (feedback/metrics.py). The facts row stores the contributions last applied.
- A refresh locks the facts rows, computes the new contributions, adds (new − old) to the
  rollup cells and saves the facts, all in one transaction, and marks the events it covered
  (ProcessedEvent) in that same transaction. A killed worker commits nothing; a task run twice
  finds new == old and adds nothing.
- Tasks are batch-based: one task takes every pending (unmarked) event, up to a batch size,
  with SKIP LOCKED so parallel workers share the backlog instead of queueing on it.
- Lock order, everywhere: the rollup table (ROW EXCLUSIVE; `recompute` takes EXCLUSIVE), then
  facts rows by conversation id, then rollup cells by key, then histogram cells by key (the
  histograms are written only under the rollup table's lock, so it guards them too). No
  cycles, so no deadlocks; a transient database error is retried anyway.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from chat.events import broadcast_metrics_updated
from chat.models import Conversation, ConversationEvent, Message
from cxhub.db import update_rows

from . import metrics
from .models import (
    ConversationFacts,
    DurationHistogram,
    MetricRollup,
    ProcessedEvent,
    SurveyInvitation,
    SurveyResponse,
)

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
DRAIN_SECONDS = 60.0  # a task goes on while its batches come full, for at most this long
RETRIES = 5


def workspace_tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


def _retrying(fn, *args, **kwargs):
    """Run a transaction again after a transient failure (deadlock, serialization, lock timeout)."""
    for attempt in range(RETRIES):
        try:
            return fn(*args, **kwargs)
        except OperationalError:
            if attempt == RETRIES - 1:
                raise
            logger.warning("metrics pipeline: transient database error, retrying", exc_info=True)
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


# --- entry points (called by Celery tasks) -----------------------------------------------


def event_arrived(*, event_id: int) -> int:
    """Called for every ConversationEvent after commit: process the pending events in batches."""
    return process_pending(event_id=event_id)


def response_arrived(*, response_id: int) -> None:
    """A survey answer (or its edit) to count and close the loop for, outside the event batches.

    Answers reach the pipeline through their `survey_answered` event (the batch counts them and
    closes the loop); this entry serves tasks queued by earlier releases and rows written
    without an event (tests, data fixes). It is as idempotent as the batch.
    """
    conversation_id = (
        SurveyResponse.objects.filter(pk=response_id).values_list("invitation__conversation_id", flat=True).first()
    )
    if conversation_id is None:
        return
    _retrying(_refresh_transaction, [conversation_id], now=timezone.now(), event_ids=[], answered=[conversation_id])
    from . import followups

    followups.followups_open_for_responses(response_ids=[response_id])


# The name the surveys' task (feedback.tasks.response_recorded) looks up.
response_recorded = response_arrived


def process_pending(*, event_id: int | None = None, since: int = 0, batch_size: int = BATCH_SIZE) -> int:
    """Process unmarked events, a batch per transaction, until none is left; the count processed.

    A run looks only at events from id `since` on (in id order), so a batch reads the pending
    events it takes, not the whole processed history before them: the wake-ups of
    chat.wakeup pass the lowest event id they stand for, and an earlier pending event has a
    wake-up of its own or is the every-minute sweep's (`since=0`). A per-event task
    (`event_id`, from earlier versions) starts at its event, and stops at once when that event
    is marked: the batch that marked it took every event pending then. It is feedback's outbox
    drain (feedback/apps.py: `chat.outbox.register_drain`).

    A run drains a backlog whole (within DRAIN_SECONDS): wake-ups queued behind it are then
    cheap no-ops, whereas a backlog left half done would wait for them all to pass.
    """
    if event_id is not None:
        if ProcessedEvent.objects.filter(event_id=event_id).exists():
            return 0
        since = event_id
    processed = 0
    deadline = time.monotonic() + DRAIN_SECONDS
    while True:
        done, last = _retrying(_process_batch, since=since, batch_size=batch_size)
        processed += done
        if done < batch_size or time.monotonic() > deadline:
            return processed
        since = last + 1


def _process_batch(*, since: int, batch_size: int) -> tuple[int, int]:
    """One transaction: up to `batch_size` pending events from id `since` on; (count, last id)."""
    with transaction.atomic():
        _lock_rollups_shared()
        unmarked = ConversationEvent.objects.filter(pk__gte=since).filter(
            ~Exists(ProcessedEvent.objects.filter(event_id=OuterRef("pk")))
        )
        pending = unmarked.order_by("id").only("id", "conversation_id", "kind", "data")
        if _is_postgres():
            pending = pending.select_for_update(skip_locked=True, of=("self",))
        events = list(pending[:batch_size])
        if not events:
            return 0, since
        answer = ConversationEvent.Kind.SURVEY_ANSWERED
        touched = {e.conversation_id for e in events}
        # A survey answer changes only its conversation's survey figures; any other event may
        # change everything, and an opening may make the contact's previous conversation a
        # recontact: refresh that one too.
        others = {e.conversation_id for e in events if e.kind != answer}
        previous = Conversation.objects.filter(pk__in=others, previous__isnull=False).values_list(
            "previous_id", flat=True
        )
        # The closed loop rides on the answer's event, in the same transaction as its count.
        from . import followups

        answers = [e.data["response_id"] for e in events if e.kind == answer and (e.data or {}).get("response_id")]
        followups.followups_open_for_responses(response_ids=answers)
        _refresh(
            sorted({*touched, *previous}),
            now=timezone.now(),
            event_ids=[e.pk for e in events],
            answered=touched - others,
        )
        return len(events), events[-1].pk


def _refresh_transaction(
    conversation_ids: list[int], *, now: datetime, event_ids: list[int], answered: Iterable[int] = ()
) -> None:
    with transaction.atomic():
        _lock_rollups_shared()
        _refresh(sorted(set(conversation_ids)), now=now, event_ids=event_ids, answered=answered)


def refresh_conversations(conversation_ids: list[int], *, now: datetime | None = None) -> None:
    """Bring these conversations' facts and contributions up to date (idempotent)."""
    ids = sorted(set(conversation_ids))
    for start in range(0, len(ids), BATCH_SIZE):
        _retrying(_refresh_transaction, ids[start : start + BATCH_SIZE], now=now or timezone.now(), event_ids=[])


# --- the core: recompute, apply the difference, mark ---------------------------------------


def _lock_rollups_shared() -> None:
    """Taken by every pipeline writer first; `recompute` takes the exclusive lock (ADR 0003).

    A pipeline commit does not wait for the disk (synchronous_commit off): all it writes is
    derived from rows committed before, and a commit lost in a database crash leaves its events
    unmarked, for the every-minute sweep to redo.
    """
    if _is_postgres():
        with connection.cursor() as cursor:
            cursor.execute(
                f"SET LOCAL synchronous_commit TO OFF; LOCK TABLE {MetricRollup._meta.db_table} IN ROW EXCLUSIVE MODE"
            )
    from . import predictions

    predictions.lock_shared()  # the satisfaction cells' table, right after (feedback/predictions.py)


def _lock_rollups_exclusive() -> None:
    if _is_postgres():
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {MetricRollup._meta.db_table} IN EXCLUSIVE MODE")


def _locked_facts(conversation_ids: list[int]) -> dict[int, ConversationFacts]:
    """Facts rows of these conversations (created when missing), locked, in id order."""
    missing = set(conversation_ids) - set(
        ConversationFacts.objects.filter(conversation_id__in=conversation_ids).values_list("conversation_id", flat=True)
    )
    if missing:
        rows = Conversation.objects.filter(pk__in=missing).select_related("inbox").order_by("pk")
        ConversationFacts.objects.bulk_create(
            [
                ConversationFacts(
                    conversation_id=c.pk,
                    inbox_id=c.inbox_id,
                    channel=c.inbox.channel,
                    opened_at=c.opened_at,
                    contributions={},
                )
                for c in rows
            ],
            ignore_conflicts=True,
        )
    locked = ConversationFacts.objects.filter(conversation_id__in=conversation_ids).order_by("conversation_id")
    # Only what deciding and applying a refresh reads; a refresh sets the other fields it saves.
    locked = locked.only("conversation_id", "contributions", "window_ended", "first_resolved_at")
    return {f.conversation_id: f for f in locked.select_for_update()}


@dataclass
class Inputs:
    conversation: metrics.ConversationRow
    contact_id: int
    messages: list = field(default_factory=list)
    events: list = field(default_factory=list)
    later_openings: list = field(default_factory=list)
    responses: list = field(default_factory=list)
    invitations: list = field(default_factory=list)


def load_inputs(conversation_ids: list[int]) -> dict[int, Inputs]:
    """The raw rows of these conversations, as the plain values feedback/metrics.py takes."""
    inputs: dict[int, Inputs] = {}
    rows = Conversation.objects.filter(pk__in=conversation_ids).values(
        "pk",
        "inbox_id",
        "inbox__channel",
        "opened_at",
        "first_resolved_at",
        "assignee_id",
        "team_id",
        "reopen_count",
        "contact_id",
        "inbox__business_hours",
        "sla",
    )
    for r in rows:
        inputs[r["pk"]] = Inputs(
            conversation=metrics.ConversationRow(
                id=r["pk"],
                inbox_id=r["inbox_id"],
                inbox_channel=r["inbox__channel"],
                opened_at=r["opened_at"],
                first_resolved_at=r["first_resolved_at"],
                assignee_id=r["assignee_id"],
                team_id=r["team_id"],
                reopen_count=r["reopen_count"],
                business_hours=r["inbox__business_hours"] or {},
                sla_outcomes=tuple((r["sla"] or {}).get("outcomes", [])),
            ),
            contact_id=r["contact_id"],
        )
    ids = list(inputs)
    for m in Message.objects.filter(conversation_id__in=ids).values(
        "conversation_id", "sender_kind", "is_note", "channel", "created_at"
    ):
        inputs[m["conversation_id"]].messages.append(
            metrics.MessageRow(m["sender_kind"], m["is_note"], m["channel"], m["created_at"])
        )
    for e in ConversationEvent.objects.filter(
        conversation_id__in=ids, kind__in=["resolved", "transferred", "channel_switched", "reopened", "assigned"]
    ).values("conversation_id", "kind", "data", "created_at"):
        inputs[e["conversation_id"]].events.append(metrics.EventRow(e["kind"], e["data"] or {}, e["created_at"]))
    by_contact: dict[int, list[int]] = defaultdict(list)
    for conversation_id, item in inputs.items():
        by_contact[item.contact_id].append(conversation_id)
    for o in Conversation.objects.filter(contact_id__in=list(by_contact)).values("pk", "contact_id", "opened_at"):
        for conversation_id in by_contact[o["contact_id"]]:
            if o["pk"] != conversation_id:
                inputs[conversation_id].later_openings.append(o["opened_at"])
    for conversation_id, invitations in load_invitations(ids).items():
        inputs[conversation_id].invitations = invitations
        inputs[conversation_id].responses = [i.response for i in invitations if i.response is not None]
    return inputs


def load_invitations(conversation_ids: list[int]) -> dict[int, list[metrics.InvitationRow]]:
    """These conversations' survey invitations with their answers, as feedback/metrics.py takes them."""
    invitations: dict[int, list[metrics.InvitationRow]] = defaultdict(list)
    for i in SurveyInvitation.objects.filter(conversation_id__in=conversation_ids).values(
        "conversation_id",
        "resolution_number",
        "inbox_id",
        "agent_id",
        "team_id",
        "channel",
        "sent_at",
        "response__pk",
        "response__csat",
        "response__ces",
        "response__nps",
        "response__answered_at",
    ):
        response = None
        if i["response__pk"] is not None:
            response = metrics.ResponseRow(
                i["resolution_number"], i["response__csat"], i["response__ces"], i["response__nps"],
                i["response__answered_at"],
            )  # fmt: skip
        invitations[i["conversation_id"]].append(
            metrics.InvitationRow(i["inbox_id"], i["agent_id"], i["team_id"], i["channel"], i["sent_at"], response)
        )
    return invitations


def compute(item: Inputs, *, now: datetime, tz) -> tuple[metrics.Facts, dict[str, tuple[int, int]]]:
    """Facts and rollup contributions of one conversation with its invitations (pure)."""
    facts = metrics.conversation_facts(
        item.conversation,
        messages=item.messages,
        events=item.events,
        later_openings=item.later_openings,
        responses=item.responses,
        now=now,
    )
    contributions = metrics.merge_contributions(
        metrics.conversation_contributions(facts, tz=tz),
        *(metrics.invitation_contributions(inv, tz=tz) for inv in item.invitations),
    )
    return facts, contributions


FACT_FIELDS = [
    "inbox_id",
    "agent_id",
    "team_id",
    "channel",
    "opened_at",
    "first_reply_at",
    "first_resolved_at",
    "first_response_seconds",
    "resolution_seconds",
    "first_response_bucket",
    "resolution_bucket",
    "customer_messages",
    "agent_messages",
    "transfers",
    "channels_used",
    "channel_switches",
    "reopened",
    "window_ended",
    "recontacted_7d",
    "fcr",
    "csat",
    "ces",
    "nps",
    "survey_answered_at",
    "first_response_business_seconds",
    "first_response_business_bucket",
    "resolution_business_seconds",
    "resolution_business_bucket",
    "first_assigned_at",
    "queue_seconds",
    "queue_bucket",
    "sla_breached",
]


SURVEY_FACT_FIELDS = ["csat", "ces", "nps", "survey_answered_at"]


def _store(row: ConversationFacts, facts: metrics.Facts, contributions: dict, now: datetime) -> None:
    for name in FACT_FIELDS:
        setattr(row, name, getattr(facts, name))
    row.contributions = {key: [c, t] for key, (c, t) in sorted(contributions.items())}
    row.updated_at = now


def _answers_only(row: ConversationFacts, now: datetime) -> bool:
    """Whether refreshing this row's survey part gives what recomputing all of it would.

    True when it has been computed before (every computed conversation contributes `opened`)
    and its 7-day window did not end since (the only fact that changes with time alone).
    Any other event of the conversation still pending gets a full refresh of its own.
    """
    if not row.contributions:
        return False
    window_due = row.first_resolved_at is not None and now >= row.first_resolved_at + metrics.RECONTACT_WINDOW
    return row.window_ended or not window_due


def _refresh(conversation_ids: list[int], *, now: datetime, event_ids: list[int], answered: Iterable[int] = ()) -> None:
    """Inside a transaction holding the shared rollup lock: recompute, apply new − old, mark.

    Conversations in `answered` had only survey answers since their last refresh: their survey
    cells and facts are computed anew from their invitations, without loading the rest of the
    conversation (messages, events, the contact's other conversations). Every other one is
    recomputed from all of its raw rows.
    """
    tz = workspace_tz()
    rows = _locked_facts(conversation_ids)
    answered = {pk for pk in answered if pk in rows and _answers_only(rows[pk], now)}
    delta: dict[str, list[int]] = defaultdict(lambda: [0, 0])

    def account(row: ConversationFacts, contributions: dict) -> None:
        for key, (c, t) in metrics.contribution_delta(row.contributions or {}, contributions).items():
            delta[key][0] += c
            delta[key][1] += t

    changed, changed_answers = [], []
    computed = {}  # conversation id → (inputs, facts): the predicted satisfaction is scored from them
    inputs = load_inputs([pk for pk in rows if pk not in answered])
    for conversation_id, item in inputs.items():
        row = rows[conversation_id]
        facts, contributions = compute(item, now=now, tz=tz)
        account(row, contributions)
        _store(row, facts, contributions, now)
        changed.append(row)
        computed[conversation_id] = (item, facts)
    invitations = load_invitations(sorted(answered)) if answered else {}
    for conversation_id in sorted(answered):
        row, mine = rows[conversation_id], invitations.get(conversation_id, [])
        contributions = metrics.with_invitations(row.contributions, mine, tz=tz)
        account(row, contributions)
        latest = metrics.latest_answer(i.response for i in mine if i.response is not None)
        row.csat, row.ces, row.nps = (latest.csat, latest.ces, latest.nps) if latest else (None, None, None)
        row.survey_answered_at = latest.answered_at if latest else None
        row.contributions = {key: [c, t] for key, (c, t) in sorted(contributions.items())}
        row.updated_at = now
        changed_answers.append(row)
    update_rows(changed, [*FACT_FIELDS, "contributions", "updated_at"])
    update_rows(changed_answers, [*SURVEY_FACT_FIELDS, "contributions", "updated_at"])
    # The predicted satisfaction of the same conversations, in the same transaction (score rows
    # are locked after the facts rows; feedback/predictions.py).
    from . import predictions

    satisfaction_cells = predictions.refresh(computed, {r.conversation_id: r for r in changed_answers}, now=now)
    if event_ids:
        ProcessedEvent.objects.bulk_create(
            [ProcessedEvent(event_id=pk, processed_at=now) for pk in sorted(event_ids)], ignore_conflicts=True
        )
    # Last: the rollup cells are what parallel batches share, so they are locked only for the
    # moment before the commit (the metrics' cells, then the satisfaction cells).
    changed_cells = {k: (c, t) for k, (c, t) in delta.items() if c or t}
    apply_delta(changed_cells)
    predictions.apply_delta(satisfaction_cells)
    announce([*changed_cells, *satisfaction_cells])


def announce(cells: Iterable[str]) -> None:
    """After commit, the open dashboards of the inboxes whose cells changed read their figures again."""
    broadcast_metrics_updated(metrics.parse_cell_key(key)[1] for key in cells)


def apply_delta(delta: dict[str, tuple[int, int]]) -> None:
    """Add counts and totals to rollup and histogram cells, in key order (one upsert per cell)."""
    if not delta:
        return
    rollups, histograms = [], []
    for key in sorted(delta):
        day, inbox, agent, team, channel, metric = metrics.parse_cell_key(key)
        count, total = delta[key]
        histogram = metrics.parse_histogram_cell(metric)
        if histogram is None:
            rollups.append((date.fromisoformat(day), inbox, agent, team, channel, metric, count, total))
        else:
            name, level, bucket = histogram
            parent = metrics.parent_bucket(level, bucket)
            histograms.append(
                (date.fromisoformat(day), inbox, agent, team, channel, name, level, bucket, parent, count, total)
            )
    with connection.cursor() as cursor:
        if rollups:
            keys = ("inbox_id", "agent_key", "team_key", "channel", "metric")
            cursor.executemany(_upsert(MetricRollup, keys), rollups)
        if histograms:
            keys = ("inbox_key", "agent_key", "team_key", "channel", "metric", "level", "bucket")
            cursor.executemany(_upsert(DurationHistogram, keys, extra=("parent",)), histograms)


def _upsert(model, keys: tuple[str, ...], *, extra: tuple[str, ...] = ()) -> str:
    """INSERT of (day, *keys, *extra, count, total) that adds to the cell when it exists."""
    table = model._meta.db_table
    columns = ["day", *keys, *extra, "count", "total"]
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT (day, {', '.join(keys)}) DO UPDATE SET "
        f"count = {table}.count + excluded.count, total = {table}.total + excluded.total"
    )


# --- time: 7-day windows -------------------------------------------------------------------


def finalise_windows(*, now: datetime | None = None, limit: int = 5000) -> int:
    """Conversations whose 7-day recontact window has ended get their recontact and FCR figures."""
    now = now or timezone.now()
    due = list(
        ConversationFacts.objects.filter(
            window_ended=False, first_resolved_at__isnull=False, first_resolved_at__lte=now - metrics.RECONTACT_WINDOW
        )
        .order_by("conversation_id")
        .values_list("conversation_id", flat=True)[:limit]
    )
    refresh_conversations(due, now=now)
    return len(due)


# --- recomputation and reconciliation ------------------------------------------------------


@dataclass
class Report:
    day_from: date
    day_to: date
    conversations: int = 0
    differences: list[tuple[str, tuple[int, int], tuple[int, int]]] = field(default_factory=list)


def _day_bounds(day_from: date, day_to: date, tz) -> tuple[datetime, datetime]:
    start = datetime.combine(day_from, datetime.min.time(), tzinfo=tz)
    end = datetime.combine(day_to + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    return start, end


def _touching(start: datetime, end: datetime) -> list[int]:
    """Conversations with anything counted in [start, end): they are all that feed those days."""
    in_range = {"__gte": start, "__lt": end}

    def q(name: str) -> Q:
        return Q(**{name + k: v for k, v in in_range.items()})

    ids = set(
        Conversation.objects.filter(q("opened_at") | q("first_resolved_at")).values_list("pk", flat=True)
    )  # fmt: skip
    ids |= set(
        Message.objects.filter(q("created_at"), sender_kind=Message.SenderKind.AGENT)
        .values_list("conversation_id", flat=True)
        .distinct()
    )
    ids |= set(
        SurveyInvitation.objects.filter(q("sent_at") | q("response__answered_at")).values_list(
            "conversation_id", flat=True
        )
    )
    ids |= set(
        ConversationFacts.objects.filter(
            q("opened_at") | q("first_reply_at") | q("first_resolved_at") | q("survey_answered_at")
        ).values_list("conversation_id", flat=True)
    )
    return sorted(ids)


def _split(contributions: dict, day_from: date, day_to: date) -> tuple[dict, dict]:
    inside, outside = {}, {}
    lo, hi = day_from.isoformat(), day_to.isoformat()
    for key, value in contributions.items():
        (inside if lo <= key[:10] <= hi else outside)[key] = tuple(value)
    return inside, outside


def stored_rollups(day_from: date, day_to: date) -> dict[str, tuple[int, int]]:
    """Every non-zero rollup and histogram cell of these days, by cell key."""
    rows = MetricRollup.objects.filter(day__gte=day_from, day__lte=day_to).exclude(count=0, total=0)
    cells = {
        metrics.cell_key((r.day.isoformat(), r.inbox_id, r.agent_key, r.team_key, r.channel, r.metric)): (
            r.count,
            r.total,
        )
        for r in rows
    }
    histograms = DurationHistogram.objects.filter(day__gte=day_from, day__lte=day_to).exclude(count=0, total=0)
    for h in histograms:
        metric = metrics.histogram_cell(h.metric, h.level, h.bucket)
        cells[metrics.cell_key((h.day.isoformat(), h.inbox_key, h.agent_key, h.team_key, h.channel, metric))] = (
            h.count,
            h.total,
        )
    return cells


def recompute(*, day_from: date, day_to: date, now: datetime | None = None, write: bool = True) -> Report:
    """Rebuild facts and rollups of [day_from, day_to] from raw rows and the event log.

    Returns the cells where the stored rollups differed from the recomputation (before the
    rewrite). With write=False nothing changes: that is the reconciliation check.
    """
    now = now or timezone.now()
    tz = workspace_tz()
    report = Report(day_from, day_to)
    start, end = _day_bounds(day_from, day_to, tz)
    with transaction.atomic():
        if write:
            _lock_rollups_exclusive()
        ids = _touching(start, end)
        report.conversations = len(ids)
        rows = _locked_facts(ids) if write else {
            f.conversation_id: f for f in ConversationFacts.objects.filter(conversation_id__in=ids)
        }  # fmt: skip
        expected: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        outside_delta: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        changed = []
        inputs = load_inputs(ids)
        for conversation_id in ids:
            item = inputs.get(conversation_id)
            if item is None:
                continue
            facts, contributions = compute(item, now=now, tz=tz)
            inside, outside = _split(contributions, day_from, day_to)
            for key, (c, t) in inside.items():
                expected[key][0] += c
                expected[key][1] += t
            row = rows.get(conversation_id)
            if write and row is not None:
                _, old_outside = _split(row.contributions or {}, day_from, day_to)
                for key, (c, t) in metrics.contribution_delta(old_outside, outside).items():
                    outside_delta[key][0] += c
                    outside_delta[key][1] += t
                _store(row, facts, contributions, now)
                changed.append(row)
        expected_cells = {k: (c, t) for k, (c, t) in expected.items() if c or t}
        stored = stored_rollups(day_from, day_to)
        for key in sorted(set(stored) | set(expected_cells)):
            if stored.get(key, (0, 0)) != expected_cells.get(key, (0, 0)):
                report.differences.append((key, stored.get(key, (0, 0)), expected_cells.get(key, (0, 0))))
        if write:
            apply_delta({k: (c, t) for k, (c, t) in outside_delta.items() if c or t})
            MetricRollup.objects.filter(day__gte=day_from, day__lte=day_to).delete()
            DurationHistogram.objects.filter(day__gte=day_from, day__lte=day_to).delete()
            apply_delta(expected_cells)
            update_rows(changed, [*FACT_FIELDS, "contributions", "updated_at"])
            announce([key for key, _, _ in report.differences] + list(outside_delta))
            pending = ConversationEvent.objects.filter(conversation_id__in=ids).filter(
                ~Exists(ProcessedEvent.objects.filter(event_id=OuterRef("pk")))
            )
            ProcessedEvent.objects.bulk_create(
                [ProcessedEvent(event_id=pk, processed_at=now) for pk in pending.values_list("pk", flat=True)],
                ignore_conflicts=True,
                batch_size=1000,
            )
    return report


def reconcile(*, days: int = 3, now: datetime | None = None) -> Report:
    """Nightly: recompute the last `days` days, log and count every cell that differed."""
    now = now or timezone.now()
    finalise_windows(now=now)  # windows that ended since the hourly run are not differences
    today = metrics.local_day(now, workspace_tz())
    report = recompute(day_from=today - timedelta(days=days), day_to=today, now=now)
    for key, stored, expected in report.differences:
        logger.warning("metrics reconciliation: cell %s was %s, recomputed %s", key, stored, expected)
    logger.info(
        "metrics reconciliation %s..%s: %d conversations, %d differing cells",
        report.day_from,
        report.day_to,
        report.conversations,
        len(report.differences),
    )
    return report
