"""The formulas of docs/metrics.md as pure functions: plain values in, figures out (no ORM here).

Three layers, each a pure function of the one before:

1. `conversation_facts(...)` turns the raw rows of one conversation (the conversation, its
   messages, its events, the contact's later conversations) into `Facts`.
2. `conversation_contributions(facts)` and `invitation_contributions(invitation)` turn facts
   into additive counters per rollup cell (day, inbox, agent, team, channel, metric). The
   rollup table is the sum of every source's contributions; the pipeline applies
   "new minus old" so a re-run adds nothing.
   Durations also add to histograms (counts per log-linear bucket), from which the exact
   median and p90 are found without reading every value (docs/adr/0004-exact-percentiles.md).
3. `figures_from_counters(counters, ...)` turns summed counters into the API's figures:
   `{"value", "numerator", "denominator", "version"}`, or a duration summary. No data → null.

All totals are integers (scores, counts, milliseconds, microseconds), so sums and differences
are exact and the pipeline's rollups can be compared with a recomputation for equality, not
closeness.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

from chat import business_hours

# A change of formula is a new version, never a silent edit (docs/metrics.md).
VERSIONS: dict[str, int] = {
    "csat_percent": 1,
    "csat_average": 1,
    "ces_average": 1,
    "ces_easy_percent": 1,
    "nps": 1,
    "response_rate": 1,
    "first_response_seconds": 1,
    "resolution_seconds": 1,
    "reopen_rate": 1,
    "recontact_rate_7d": 1,
    "first_contact_resolution": 1,
    "channel_switch_rate": 1,
    "customer_messages_per_resolution": 1,
    "transfers_per_conversation": 1,
    "at_risk_contacts": 1,
    # business hours and SLAs (docs/metrics.md "Business hours and SLAs")
    "first_response_business_seconds": 1,
    "resolution_business_seconds": 1,
    "queue_seconds": 1,
    "sla_first_response_achievement": 1,
    "sla_next_response_achievement": 1,
    "sla_resolution_achievement": 1,
    "sla_breaches": 1,
}
METRIC_NAMES = tuple(VERSIONS)
DURATION_METRICS = (
    "first_response_seconds",
    "resolution_seconds",
    "first_response_business_seconds",
    "resolution_business_seconds",
    "queue_seconds",
)
SLA_TARGETS = ("first_response", "next_response", "resolution")

CSAT_SCALE = range(1, 6)
CES_SCALE = range(1, 8)
NPS_SCALE = range(0, 11)
RECONTACT_WINDOW = timedelta(days=7)
AT_RISK_FOR = timedelta(days=30)

# CSAT % by first response time (docs/metrics.md "Joins that matter"): (label, upper bound in seconds).
FIRST_RESPONSE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("< 1 min", 60),
    ("1–5 min", 300),
    ("5–30 min", 1800),
    ("30 min–4 h", 14400),
    ("> 4 h", math.inf),
)


# --- scores ------------------------------------------------------------------------------


def csat_satisfied(score: int) -> bool:
    return score >= 4


def ces_easy(score: int) -> bool:
    return score >= 5


def nps_promoter(score: int) -> bool:
    return score >= 9


def nps_detractor(score: int) -> bool:
    return score <= 6


def is_detractor_answer(*, csat: int | None = None, ces: int | None = None, nps: int | None = None) -> bool:
    """CSAT ≤ 2, CES ≤ 3 or NPS ≤ 6: the closed loop opens a follow-up."""
    return (csat is not None and csat <= 2) or (ces is not None and ces <= 3) or (nps is not None and nps <= 6)


def first_response_bucket(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    for label, upper in FIRST_RESPONSE_BUCKETS:
        if seconds < upper:
            return label
    return FIRST_RESPONSE_BUCKETS[-1][0]


# --- figures -----------------------------------------------------------------------------


def share(numerator: int, denominator: int, *, version: int = 1) -> dict:
    """A percentage 0–100; null when nothing was counted."""
    value = None if not denominator else 100.0 * numerator / denominator
    return {"value": value, "numerator": numerator, "denominator": denominator, "version": version}


def average(total: float, count: int, *, version: int = 1) -> dict:
    """A mean from a sum and a count (never an average of averages)."""
    value = None if not count else total / count
    return {"value": value, "numerator": total, "denominator": count, "version": version}


def count_figure(count: int, *, version: int = 1) -> dict:
    return {"value": count, "numerator": count, "denominator": None, "version": version}


PERCENTILES = {"median": 0.5, "p90": 0.9}


def percentile_ranks(count: int, fraction: float) -> tuple[int, int, float]:
    """The two ranks (0-based) a continuous percentile reads, and the weight of the upper one."""
    position = fraction * (count - 1)
    lower = math.floor(position)
    return lower, math.ceil(position), position - lower


def ranks_read(count: int) -> set[int]:
    """Every rank (0-based) the PERCENTILES of `count` values read; none when there are none."""
    if not count:
        return set()
    return {rank for fraction in PERCENTILES.values() for rank in percentile_ranks(count, fraction)[:2]}


def percentile_by_rank(count: int, fraction: float, value_at: Callable[[int], float]) -> float | None:
    """Exact continuous percentile, as PostgreSQL's percentile_cont: linear between ranks.

    `value_at(rank)` gives the rank-th smallest value (0-based); only two ranks are asked for,
    so the values need not all be at hand (feedback/reports.py finds them from histograms).
    """
    if not count:
        return None
    lower, upper, weight = percentile_ranks(count, fraction)
    low = value_at(lower)
    if lower == upper:
        return float(low)
    return float(low + (value_at(upper) - low) * weight)


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Exact continuous percentile, as PostgreSQL's percentile_cont: linear between ranks."""
    return percentile_by_rank(len(sorted_values), fraction, sorted_values.__getitem__)


def micros(seconds: float) -> int:
    """A duration in whole microseconds: timestamps have microsecond precision in both databases,
    so this is exact for every stored duration, and sums of it are exact integers."""
    return round(seconds * 1_000_000)


def duration_figure(
    *, count: int, total_micros: int, median: float | None, p90: float | None, version: int = 1
) -> dict:
    """`{"median", "p90", "mean", "count"}` in seconds; the mean is the exact sum ÷ count, rounded once."""
    return {
        "median": median,
        "p90": p90,
        "mean": total_micros / (1_000_000 * count) if count else None,
        "count": count,
        "numerator": total_micros / 1_000_000,
        "denominator": count,
        "version": version,
    }


def duration(values: Iterable[float | None], *, version: int = 1) -> dict:
    """The duration figure over the values given (None ignored), every value at hand."""
    ordered = sorted(float(v) for v in values if v is not None)
    return duration_figure(
        count=len(ordered),
        total_micros=sum(micros(v) for v in ordered),
        median=percentile(ordered, PERCENTILES["median"]),
        p90=percentile(ordered, PERCENTILES["p90"]),
        version=version,
    )


# --- duration histograms (docs/adr/0004-exact-percentiles.md) -------------------------------
#
# A duration's leaf bucket is `bisect_right(DURATION_BUCKET_EDGES, seconds)`: bucket i holds
# EDGES[i-1] <= seconds < EDGES[i] (bucket 0 everything below EDGES[0], the last one everything
# from EDGES[-1] up). Every octave [2**e, 2**(e+1)) is cut into 256 equal parts; each edge is
# an exact binary fraction (ldexp), so Python, PostgreSQL's width_bucket() and SQLite compare
# the same numbers. Coarser levels group FANOUT consecutive buckets of the level below:
# level 1 is an octave, level 2 a sixteenth of one, level 3 the leaf (a 256th).
#
# The cells that count everything (EVERYWHERE) have every level. The cells of one combination
# of dimensions stop a level short: at the leaf they would hold about one row per duration,
# and the facts rows give those durations as cheaply (docs/adr/0004-exact-percentiles.md).

HISTOGRAM_LEVELS = 3
DIMENSION_LEVELS = HISTOGRAM_LEVELS - 1
HISTOGRAM_FANOUT = 16
_PARTS_PER_OCTAVE = HISTOGRAM_FANOUT ** (HISTOGRAM_LEVELS - 1)
_LOWEST_OCTAVE, _HIGHEST_OCTAVE = -10, 30  # about 1 ms … 34 years
DURATION_BUCKET_EDGES: tuple[float, ...] = tuple(
    math.ldexp(1 + part / _PARTS_PER_OCTAVE, octave)
    for octave in range(_LOWEST_OCTAVE, _HIGHEST_OCTAVE)
    for part in range(_PARTS_PER_OCTAVE)
)[1:] + (math.ldexp(1, _HIGHEST_OCTAVE),)

# Which rollup counter counts the same durations, on the same day, as each histogram.
DURATION_COUNTERS = {
    "first_response_seconds": "first_response",
    "resolution_seconds": "resolved",
    "first_response_business_seconds": "first_response_business",
    "resolution_business_seconds": "resolved_business",
    "queue_seconds": "queued",
}


def duration_bucket(seconds: float | None) -> int | None:
    """The leaf bucket of a duration (see DURATION_BUCKET_EDGES); None for no duration."""
    return None if seconds is None else bisect.bisect_right(DURATION_BUCKET_EDGES, seconds)


def bucket_at(level: int, leaf: int) -> int:
    """The bucket of `level` (1 = coarsest … HISTOGRAM_LEVELS = the leaf) that holds this leaf."""
    return leaf // HISTOGRAM_FANOUT ** (HISTOGRAM_LEVELS - level)


def parent_bucket(level: int, bucket: int) -> int:
    """The bucket one level up (0 for level 1, whose buckets share no parent)."""
    return bucket // HISTOGRAM_FANOUT if level > 1 else 0


def leaves_of(level: int, bucket: int) -> range:
    """The leaf buckets a bucket of `level` is made of."""
    width = HISTOGRAM_FANOUT ** (HISTOGRAM_LEVELS - level)
    return range(bucket * width, (bucket + 1) * width)


def histogram_cell(name: str, level: int, bucket: int) -> str:
    """The metric part of a histogram cell's key, e.g. `first_response_seconds/2/1234`."""
    return f"{name}/{level}/{bucket}"


def parse_histogram_cell(metric: str) -> tuple[str, int, int] | None:
    """(name, level, bucket) of a histogram cell's metric part; None for a rollup counter."""
    if "/" not in metric:
        return None
    name, level, bucket = metric.split("/")
    return name, int(level), int(bucket)


def locate(counts: Mapping[int, int], rank: int) -> tuple[int, int] | None:
    """The bucket holding the rank-th smallest value (0-based), and its rank inside that bucket.

    None when the counts hold fewer values than that: a histogram that disagrees with what
    it summarises.
    """
    for bucket in sorted(counts):
        if rank < counts[bucket]:
            return bucket, rank
        rank -= counts[bucket]
    return None


def value_at(value_counts: Iterable[tuple[float, int]], rank: int) -> float | None:
    """The rank-th smallest value (0-based) of (value, how many times) pairs sorted by value."""
    for value, count in value_counts:
        if rank < count:
            return value
        rank -= count
    return None


Counters = Mapping[str, tuple[int, int]]  # metric → (count, total)


def _count(counters: Counters, metric: str) -> int:
    return counters.get(metric, (0, 0))[0]


def _total(counters: Counters, metric: str) -> int:
    return counters.get(metric, (0, 0))[1]


def score_distribution(counters: Counters, question: str) -> dict[int, int]:
    scale = {"csat": CSAT_SCALE, "ces": CES_SCALE, "nps": NPS_SCALE}[question]
    return {score: _count(counters, f"{question}_{score}") for score in scale}


def figure(name: str, counters: Counters, *, durations: Mapping[str, dict] | None = None, at_risk: int = 0):
    """One named figure (docs/metrics.md names) from summed counters.

    The time metrics' figures are computed apart (`duration(values)`, or from histograms) and
    handed in as `durations`; a missing one is the figure of no data.
    """
    version = VERSIONS[name]
    if name in DURATION_METRICS:
        return (durations or {}).get(name) or duration((), version=version)
    if name == "at_risk_contacts":
        return count_figure(at_risk, version=version)
    if name in ("csat_percent", "csat_average"):
        dist = score_distribution(counters, "csat")
        answered = sum(dist.values())
        if name == "csat_percent":
            return share(sum(n for s, n in dist.items() if csat_satisfied(s)), answered, version=version)
        return average(sum(s * n for s, n in dist.items()), answered, version=version)
    if name in ("ces_average", "ces_easy_percent"):
        dist = score_distribution(counters, "ces")
        answered = sum(dist.values())
        if name == "ces_easy_percent":
            return share(sum(n for s, n in dist.items() if ces_easy(s)), answered, version=version)
        return average(sum(s * n for s, n in dist.items()), answered, version=version)
    if name == "nps":
        dist = score_distribution(counters, "nps")
        promoters = sum(n for s, n in dist.items() if nps_promoter(s))
        detractors = sum(n for s, n in dist.items() if nps_detractor(s))
        return share(promoters - detractors, sum(dist.values()), version=version)
    ratios = {
        "response_rate": ("invitation_answered", "invitation_sent"),
        "reopen_rate": ("reopened", "resolved"),
        "recontact_rate_7d": ("recontacted", "window_ended"),
        "first_contact_resolution": ("fcr", "window_ended"),
        "channel_switch_rate": ("channel_switch", "opened"),
    }
    if name in ratios:
        numerator, denominator = ratios[name]
        return share(_count(counters, numerator), _count(counters, denominator), version=version)
    if name.startswith("sla_") and name.endswith("_achievement"):
        target = name[len("sla_") : -len("_achievement")]
        return share(_count(counters, f"sla_{target}_met"), _count(counters, f"sla_{target}_due"), version=version)
    if name == "sla_breaches":
        return count_figure(_count(counters, "sla_breached"), version=version)
    if name == "customer_messages_per_resolution":
        return average(_total(counters, "customer_messages"), _count(counters, "customer_messages"), version=version)
    if name == "transfers_per_conversation":
        return average(_total(counters, "opened"), _count(counters, "opened"), version=version)
    raise KeyError(name)


def figures_from_counters(
    counters: Counters, *, durations: Mapping[str, dict] | None = None, at_risk: int = 0, names=METRIC_NAMES
) -> dict[str, dict]:
    return {name: figure(name, counters, durations=durations, at_risk=at_risk) for name in names}


def trend(current: float | None, previous: float | None) -> float | None:
    """current − previous, or null when either is unknown."""
    if current is None or previous is None:
        return None
    return current - previous


# --- facts from raw rows -----------------------------------------------------------------


@dataclass(frozen=True)
class ConversationRow:
    id: int
    inbox_id: int
    inbox_channel: str
    opened_at: datetime
    first_resolved_at: datetime | None
    assignee_id: int | None
    team_id: int | None
    reopen_count: int
    # the inbox's business hours (chat/business_hours.py's shape; {} = always open) and the
    # outcomes of the conversation's SLA clocks (chat/sla.py), each met or breached once
    business_hours: Mapping = field(default_factory=dict)
    sla_outcomes: tuple = ()


@dataclass(frozen=True)
class MessageRow:
    sender_kind: str  # contact | agent | bot | system
    is_note: bool
    channel: str
    created_at: datetime


@dataclass(frozen=True)
class EventRow:
    kind: str
    data: dict
    created_at: datetime


@dataclass(frozen=True)
class ResponseRow:
    resolution_number: int
    csat: int | None
    ces: int | None
    nps: int | None
    answered_at: datetime


@dataclass
class Facts:
    """What the pipeline stores in ConversationFacts (see feedback/models.py)."""

    conversation_id: int
    inbox_id: int
    agent_id: int | None
    team_id: int | None
    channel: str
    opened_at: datetime
    first_reply_at: datetime | None = None
    first_resolved_at: datetime | None = None
    first_response_seconds: float | None = None
    resolution_seconds: float | None = None
    first_response_bucket: int | None = None  # duration_bucket() of the seconds: the histograms' leaf
    resolution_bucket: int | None = None
    customer_messages: int = 0
    agent_messages: int = 0
    transfers: int = 0
    channels_used: list[str] = field(default_factory=list)
    channel_switches: int = 0
    reopened: bool = False
    window_ended: bool = False
    recontacted_7d: bool | None = None
    fcr: bool | None = None
    csat: int | None = None
    ces: int | None = None
    nps: int | None = None
    survey_answered_at: datetime | None = None
    first_response_business_seconds: float | None = None
    first_response_business_bucket: int | None = None
    resolution_business_seconds: float | None = None
    resolution_business_bucket: int | None = None
    first_assigned_at: datetime | None = None
    queue_seconds: float | None = None
    queue_bucket: int | None = None
    sla_breached: bool | None = None  # None: no SLA clock of it has ended
    sla_outcomes: list = field(default_factory=list)


def _business(schedule_data: Mapping):
    """The inbox's schedule (None: always open; one that does not parse counts as none)."""
    try:
        return business_hours.parse(dict(schedule_data) if schedule_data else {})
    except business_hours.ScheduleError:
        return None


def _first_assignment(events: list[EventRow]) -> datetime | None:
    """When an agent first got the conversation: an assignment, or a transfer to an agent."""
    moments = [
        e.created_at for e in events if e.kind == "assigned" or (e.kind == "transferred" and e.data.get("to_agent_id"))
    ]
    return min(moments) if moments else None


def conversation_facts(
    conversation: ConversationRow,
    *,
    messages: Iterable[MessageRow],
    events: Iterable[EventRow],
    later_openings: Iterable[datetime],
    responses: Iterable[ResponseRow] = (),
    now: datetime,
) -> Facts:
    """The facts of one conversation as of `now` (docs/metrics.md "Operations")."""
    messages = sorted(messages, key=lambda m: m.created_at)
    events = list(events)
    customer = [m for m in messages if m.sender_kind == "contact"]
    replies = [m for m in messages if m.sender_kind == "agent" and not m.is_note]
    first_customer = customer[0].created_at if customer else None
    first_reply = next((m.created_at for m in replies if first_customer and m.created_at >= first_customer), None)

    agent_id, team_id = conversation.assignee_id, conversation.team_id
    resolutions = [e for e in events if e.kind == "resolved"]
    if resolutions:
        last = max(resolutions, key=lambda e: (e.created_at, e.data.get("resolution_number") or 0))
        agent_id, team_id = last.data.get("agent_id"), last.data.get("team_id")

    facts = Facts(
        conversation_id=conversation.id,
        inbox_id=conversation.inbox_id,
        agent_id=agent_id,
        team_id=team_id,
        channel=customer[0].channel if customer else conversation.inbox_channel,
        opened_at=conversation.opened_at,
        first_reply_at=first_reply,
        first_resolved_at=conversation.first_resolved_at,
        first_response_seconds=(first_reply - first_customer).total_seconds() if first_reply else None,
        customer_messages=len(customer),
        agent_messages=len(replies),
        transfers=sum(1 for e in events if e.kind == "transferred"),
        channels_used=sorted({m.channel for m in customer}),
        channel_switches=sum(1 for e in events if e.kind == "channel_switched"),
        reopened=conversation.reopen_count > 0 or any(e.kind == "reopened" for e in events),
    )
    facts.first_response_bucket = duration_bucket(facts.first_response_seconds)
    resolved_at = conversation.first_resolved_at
    if resolved_at is not None:
        facts.resolution_seconds = (resolved_at - conversation.opened_at).total_seconds()
        facts.resolution_bucket = duration_bucket(facts.resolution_seconds)
        window_end = resolved_at + RECONTACT_WINDOW
        if now >= window_end:
            facts.window_ended = True
            facts.recontacted_7d = any(resolved_at <= at <= window_end for at in later_openings)
            facts.fcr = not facts.reopened and not facts.recontacted_7d
    latest = latest_answer(responses)
    if latest is not None:
        facts.csat, facts.ces, facts.nps = latest.csat, latest.ces, latest.nps
        facts.survey_answered_at = latest.answered_at
    _business_facts(facts, conversation, first_customer=first_customer, events=events)
    return facts


def _business_facts(facts: Facts, conversation: ConversationRow, *, first_customer, events) -> None:
    """Business-hours durations, time in queue and SLA outcomes (docs/metrics.md "Business hours and SLAs")."""
    schedule = _business(conversation.business_hours)
    if facts.first_reply_at is not None and first_customer is not None:
        seconds = business_hours.business_seconds(schedule, first_customer, facts.first_reply_at)
        facts.first_response_business_seconds = seconds
        facts.first_response_business_bucket = duration_bucket(seconds)
    if conversation.first_resolved_at is not None:
        seconds = business_hours.business_seconds(schedule, conversation.opened_at, conversation.first_resolved_at)
        facts.resolution_business_seconds = seconds
        facts.resolution_business_bucket = duration_bucket(seconds)
    assigned = _first_assignment(events)
    if assigned is not None:
        facts.first_assigned_at = assigned
        facts.queue_seconds = max(0.0, (assigned - conversation.opened_at).total_seconds())
        facts.queue_bucket = duration_bucket(facts.queue_seconds)
    outcomes = [o for o in conversation.sla_outcomes if isinstance(o, Mapping) and o.get("target") in SLA_TARGETS]
    outcomes = [o for o in outcomes if o.get("at")]
    facts.sla_outcomes = outcomes
    if outcomes:
        facts.sla_breached = any(not o.get("met") for o in outcomes)


def latest_answer(responses: Iterable[ResponseRow]) -> ResponseRow | None:
    """The answer a conversation's facts show: that of its latest resolution (then the latest given)."""
    answered = sorted(responses, key=lambda r: (r.resolution_number, r.answered_at))
    return answered[-1] if answered else None


# --- contributions to rollup cells -------------------------------------------------------

Cell = tuple[str, int, int, int, str, str]  # (day ISO, inbox, agent or 0, team or 0, channel, metric)
# The dimensions of the histogram cells that count every inbox, agent, team and channel at once.
EVERYWHERE = (0, 0, 0, "")


def local_day(moment: datetime, tz: tzinfo) -> date:
    return moment.astimezone(tz).date()


def cell_key(cell: Cell) -> str:
    return "|".join(str(part) for part in cell)


def parse_cell_key(key: str) -> Cell:
    day, inbox, agent, team, channel, metric = key.split("|")
    return (day, int(inbox), int(agent), int(team), channel, metric)


def _millis(seconds: float) -> int:
    return round(seconds * 1000)


def conversation_contributions(facts: Facts, *, tz: tzinfo) -> dict[str, tuple[int, int]]:
    """Counters one conversation adds to the rollups, each in the period docs/metrics.md names.

    Each duration also adds one to a bucket of each histogram level (total: its microseconds):
    of every level in the EVERYWHERE cells that unfiltered reads sum, of the DIMENSION_LEVELS
    coarsest in its own dimensions.
    """
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    dims = (facts.inbox_id, facts.agent_id or 0, facts.team_id or 0, facts.channel)

    def add(moment: datetime, metric: str, total: int = 0, *, where=dims) -> None:
        cell = out[cell_key((local_day(moment, tz).isoformat(), *where, metric))]
        cell[0] += 1
        cell[1] += total

    def add_duration(moment: datetime, name: str, seconds: float) -> None:
        leaf = duration_bucket(seconds)
        for level in range(1, HISTOGRAM_LEVELS + 1):
            for where in (dims, EVERYWHERE) if level <= DIMENSION_LEVELS else (EVERYWHERE,):
                add(moment, histogram_cell(name, level, bucket_at(level, leaf)), micros(seconds), where=where)

    add(facts.opened_at, "opened", facts.transfers)
    if len(facts.channels_used) >= 2:
        add(facts.opened_at, "channel_switch", facts.channel_switches)
    if facts.first_reply_at is not None and facts.first_response_seconds is not None:
        add(facts.first_reply_at, "first_response", _millis(facts.first_response_seconds))
        add_duration(facts.first_reply_at, "first_response_seconds", facts.first_response_seconds)
    if facts.first_reply_at is not None and facts.first_response_business_seconds is not None:
        add(facts.first_reply_at, "first_response_business", _millis(facts.first_response_business_seconds))
        add_duration(facts.first_reply_at, "first_response_business_seconds", facts.first_response_business_seconds)
    if facts.first_resolved_at is not None and facts.resolution_business_seconds is not None:
        add(facts.first_resolved_at, "resolved_business", _millis(facts.resolution_business_seconds))
        add_duration(facts.first_resolved_at, "resolution_business_seconds", facts.resolution_business_seconds)
    if facts.first_assigned_at is not None and facts.queue_seconds is not None:
        add(facts.first_assigned_at, "queued", _millis(facts.queue_seconds))
        add_duration(facts.first_assigned_at, "queue_seconds", facts.queue_seconds)
    for outcome in facts.sla_outcomes:
        # each clock's outcome in the period it ended (met) or broke (breached), credited to whoever
        # had the conversation then
        at = datetime.fromisoformat(outcome["at"])
        where = (facts.inbox_id, outcome.get("agent_id") or 0, outcome.get("team_id") or 0, facts.channel)
        add(at, f"sla_{outcome['target']}_due", where=where)
        if outcome.get("met"):
            add(at, f"sla_{outcome['target']}_met", where=where)
        else:
            add(at, "sla_breached", where=where)
    if facts.first_resolved_at is not None:
        at = facts.first_resolved_at
        add(at, "resolved", _millis(facts.resolution_seconds or 0))
        if facts.resolution_seconds is not None:
            add_duration(at, "resolution_seconds", facts.resolution_seconds)
        add(at, "customer_messages", facts.customer_messages)
        if facts.reopened:
            add(at, "reopened")
        if facts.window_ended:
            add(at, "window_ended")
            if facts.recontacted_7d:
                add(at, "recontacted")
            if facts.fcr:
                add(at, "fcr")
    return {key: (c, t) for key, (c, t) in out.items()}


@dataclass(frozen=True)
class InvitationRow:
    """A survey invitation with its snapshot (who gets the credit) and its response, if any."""

    inbox_id: int
    agent_id: int | None
    team_id: int | None
    channel: str
    sent_at: datetime | None
    response: ResponseRow | None = None


def invitation_contributions(invitation: InvitationRow, *, tz: tzinfo) -> dict[str, tuple[int, int]]:
    """Response rate by sent time; each score in the period of its answer (docs/metrics.md "Surveys")."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    dims = (invitation.inbox_id, invitation.agent_id or 0, invitation.team_id or 0, invitation.channel)

    def add(moment: datetime, metric: str) -> None:
        out[cell_key((local_day(moment, tz).isoformat(), *dims, metric))][0] += 1

    response = invitation.response
    if invitation.sent_at is not None:
        add(invitation.sent_at, "invitation_sent")
        if response is not None:
            add(invitation.sent_at, "invitation_answered")
    if response is not None:
        for question, score in (("csat", response.csat), ("ces", response.ces), ("nps", response.nps)):
            if score is not None:
                add(response.answered_at, f"{question}_{score}")
    return {key: (c, t) for key, (c, t) in out.items()}


SURVEY_METRIC_PREFIXES = ("invitation_", "csat_", "ces_", "nps_")


def is_survey_cell(key: str) -> bool:
    """A cell `invitation_contributions` makes (every other cell comes from the conversation's facts)."""
    return key.rpartition("|")[2].startswith(SURVEY_METRIC_PREFIXES)


def with_invitations(
    stored: Mapping[str, Iterable[int]], invitations: Iterable[InvitationRow], *, tz: tzinfo
) -> dict[str, tuple[int, int]]:
    """A conversation's contributions with the survey cells computed anew from its invitations.

    Its other cells are kept as `stored`: when only survey answers changed since they were
    computed, this equals recomputing everything (the two kinds of cells never share a metric).
    """
    kept = {key: tuple(value) for key, value in stored.items() if not is_survey_cell(key)}
    return merge_contributions(kept, *(invitation_contributions(inv, tz=tz) for inv in invitations))


def merge_contributions(*parts: Mapping[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for part in parts:
        for key, (count, total) in part.items():
            out[key][0] += count
            out[key][1] += total
    return {key: (c, t) for key, (c, t) in out.items() if c or t}


def contribution_delta(
    old: Mapping[str, Iterable[int]], new: Mapping[str, Iterable[int]]
) -> dict[str, tuple[int, int]]:
    """new − old per cell, zero cells left out: what applying `new` in place of `old` changes."""
    delta: dict[str, tuple[int, int]] = {}
    for key in set(old) | set(new):
        old_count, old_total = old.get(key, (0, 0))
        new_count, new_total = new.get(key, (0, 0))
        if (new_count - old_count) or (new_total - old_total):
            delta[key] = (new_count - old_count, new_total - old_total)
    return delta
