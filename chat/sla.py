"""SLA clocks (pure, no ORM): what a conversation's promises are at, kept in `Conversation.sla`.

A clock runs per target (docs/sla.md):
- first_response: from the customer's first message to the first human reply;
- next_response: from a customer's message after a human reply to the next human reply;
- resolution: from the first customer message (or a reopening) to the resolution.
Every clock stops while the conversation is pending or snoozed; the time it stood still is added
to its due time. Its due time is `start + target (+ paused time)`, counted in the inbox's business
hours or in calendar time as the policy says, and its warning comes at 75 % of the target.

Each clock ends once with one outcome (met or breached), kept in `outcomes` for the metrics: a
breach when its due time passes (the timer, or the reply or resolution that comes late), met when
it ends in time. A resolution ends the response clocks without an outcome (nothing was owed any
more). A target the policy leaves empty has no due time and no outcome.

The state (JSON):
    {"first_customer_at", "first_reply_at", "paused_since", "paused": [[from, to], ...],
     "clocks": {name: {"start", "seconds", "due", "warn", "warned", "breached"}}, "outcomes": [...]}
"""

from dataclasses import dataclass
from datetime import datetime

from . import business_hours

FIRST_RESPONSE = "first_response"
NEXT_RESPONSE = "next_response"
RESOLUTION = "resolution"
TARGETS = (FIRST_RESPONSE, NEXT_RESPONSE, RESOLUTION)
WARN_FRACTION = 0.75
MAX_OUTCOMES = 200

WARNING = "sla_warning"
BREACHED = "sla_breached"


@dataclass(frozen=True)
class Targets:
    """A policy's targets in seconds (None: no promise) and how time is counted."""

    first_response: int | None = None
    next_response: int | None = None
    resolution: int | None = None
    business_hours: bool = True

    def seconds(self, name: str) -> int | None:
        return getattr(self, name)


@dataclass(frozen=True)
class Happened:
    """A warning or breach to record as an event (`kind` is WARNING or BREACHED)."""

    kind: str
    target: str
    due: str | None
    start: str


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _clocks(state: dict) -> dict:
    return state.setdefault("clocks", {})


def _start(state: dict, name: str, at: datetime) -> None:
    _clocks(state)[name] = {"start": _iso(at), "due": None, "warn": None, "warned": False, "breached": False}


def _end(state: dict, name: str, at: datetime, *, counted: bool = True) -> list[Happened]:
    """End a running clock; its outcome (and a late breach not recorded yet) when counted."""
    clock = _clocks(state).pop(name, None)
    if clock is None or not counted or clock["due"] is None and not clock["breached"]:
        return []
    if clock["breached"]:
        return []  # its outcome was written when it broke
    late = _at(clock["due"]) < at
    _outcome(state, name, clock, at=at, met=not late)
    return [Happened(BREACHED, name, clock["due"], clock["start"])] if late else []


def _outcome(state: dict, name: str, clock: dict, *, at: datetime, met: bool) -> None:
    outcomes = state.setdefault("outcomes", [])
    outcomes.append({"target": name, "start": clock["start"], "due": clock["due"], "at": _iso(at), "met": met})
    del outcomes[:-MAX_OUTCOMES]


# --- what happened to the conversation ---------------------------------------------------


def customer_wrote(state: dict, at: datetime) -> None:
    if not state.get("first_customer_at"):
        state["first_customer_at"] = _iso(at)
        _start(state, FIRST_RESPONSE, at)
    elif state.get("first_reply_at") and NEXT_RESPONSE not in _clocks(state):
        _start(state, NEXT_RESPONSE, at)
    if RESOLUTION not in _clocks(state):
        _start(state, RESOLUTION, at)


def agent_replied(state: dict, at: datetime) -> list[Happened]:
    """A human reply (not a note, bot or auto-reply) ends the response clocks."""
    happened = []
    if not state.get("first_reply_at") and state.get("first_customer_at"):
        state["first_reply_at"] = _iso(at)
        happened += _end(state, FIRST_RESPONSE, at)
    happened += _end(state, NEXT_RESPONSE, at)
    return happened


def paused(state: dict, at: datetime) -> None:
    """Pending or snoozed: every clock stands still."""
    if not state.get("paused_since"):
        state["paused_since"] = _iso(at)


def resumed(state: dict, at: datetime) -> None:
    since = state.pop("paused_since", None)
    if since:
        state.setdefault("paused", []).append([since, _iso(at)])


def resolved(state: dict, at: datetime) -> list[Happened]:
    happened = _end(state, RESOLUTION, at)
    for name in (FIRST_RESPONSE, NEXT_RESPONSE):
        _end(state, name, at, counted=False)
    state.pop("paused_since", None)
    state["paused"] = []
    return happened


def reopened(state: dict, at: datetime) -> None:
    state["paused"] = []
    state.pop("paused_since", None)
    _start(state, RESOLUTION, at)


# --- due times and the timer --------------------------------------------------------------


def _paused_seconds(state: dict, since: datetime, schedule, targets: Targets) -> float:
    total = 0.0
    for start, end in state.get("paused", []):
        start, end = max(_at(start), since), _at(end)
        total += _measure(schedule, targets, start, end)
    return total


def _measure(schedule, targets: Targets, start: datetime, end: datetime) -> float:
    return business_hours.business_seconds(schedule if targets.business_hours else None, start, end)


def _add(schedule, targets: Targets, start: datetime, seconds: float) -> datetime | None:
    return business_hours.add_business_seconds(schedule if targets.business_hours else None, start, seconds)


def evaluate(state: dict, *, targets: Targets | None, schedule) -> None:
    """Set every running clock's due and warning times (None while paused or without a target)."""
    stopped = bool(state.get("paused_since"))
    for name, clock in _clocks(state).items():
        seconds = targets.seconds(name) if targets else None
        clock["seconds"] = seconds
        if seconds is None or stopped:
            clock["due"] = clock["warn"] = None
            continue
        start = _at(clock["start"])
        extra = _paused_seconds(state, start, schedule, targets)
        clock["due"] = _iso(_add(schedule, targets, start, seconds + extra))
        clock["warn"] = _iso(_add(schedule, targets, start, seconds * WARN_FRACTION + extra))


def fire(state: dict, now: datetime) -> list[Happened]:
    """The warnings and breaches due by `now` not yet recorded; marks them (a breach writes its outcome)."""
    happened = []
    for name, clock in _clocks(state).items():
        if clock["warn"] and not clock["warned"] and _at(clock["warn"]) <= now:
            clock["warned"] = True
            if not (clock["due"] and _at(clock["due"]) <= now):
                happened.append(Happened(WARNING, name, clock["due"], clock["start"]))
        if clock["due"] and not clock["breached"] and _at(clock["due"]) <= now:
            clock["warned"] = clock["breached"] = True
            _outcome(state, name, clock, at=_at(clock["due"]), met=False)
            happened.append(Happened(BREACHED, name, clock["due"], clock["start"]))
    return happened


def soonest_due(state: dict) -> datetime | None:
    """The soonest due time of a running clock (breached ones included: they are the most overdue)."""
    dues = [_at(clock["due"]) for clock in _clocks(state).values() if clock["due"]]
    return min(dues) if dues else None


def next_check(state: dict) -> datetime | None:
    """When `fire` next has something to do."""
    times = []
    for clock in _clocks(state).values():
        if clock["warn"] and not clock["warned"]:
            times.append(_at(clock["warn"]))
        if clock["due"] and not clock["breached"]:
            times.append(_at(clock["due"]))
    return min(times) if times else None


def summary(state: dict) -> list[dict]:
    """The running clocks as the console and API show them, soonest first."""
    rows = [
        {
            "target": name,
            "target_seconds": clock.get("seconds"),
            "due_at": clock["due"],
            "warn_at": clock["warn"],
            "warned": clock["warned"],
            "breached": clock["breached"],
            "paused": bool(state.get("paused_since")),
        }
        for name, clock in _clocks(state).items()
        if clock.get("seconds")
    ]
    return sorted(rows, key=lambda row: (row["due_at"] is None, row["due_at"] or "", TARGETS.index(row["target"])))
