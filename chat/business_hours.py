"""Business time (pure, no ORM): an inbox's time zone, weekly schedule and holidays, and the
arithmetic on them: is it open, when does it open next, how many open seconds lie between two
instants, which instant lies N open seconds after another.

The stored shape (`Inbox.business_hours`, the API's `business_hours`):

    {"time_zone": "Europe/Paris",
     "days": {"mon": [["09:00", "12:30"], ["13:30", "18:00"]], "tue": [...], ...},
     "holidays": [{"date": "2026-12-25"},
                  {"start": "2026-12-31T18:00", "end": "2027-01-02T08:00", "name": "New year"}]}

An empty object means no business hours: always open, and business time equals calendar time.
Times are the inbox's wall-clock times; a day's interval may end at "24:00". A holiday is a
whole local day (`date`) or any local span (`start`..`end`, e.g. across midnight). Open time
is real elapsed time: a 00:00–24:00 day has 23 open hours on a spring-forward day and 25 on
a fall-back day; a wall-clock time that does not exist (inside a spring-forward gap) is read
with the offset before the change (02:30 → 03:30), an ambiguous one (fall-back) as its
first occurrence.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils.translation import gettext as _

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
# How far the search for open time goes before it gives up (a schedule whose holidays cover years).
SEARCH_DAYS = 800


class ScheduleError(ValueError):
    """A schedule that cannot be used; `fields` maps a field path to its messages."""

    def __init__(self, fields: dict[str, list[str]]):
        self.fields = fields
        super().__init__("; ".join(f"{name}: {' '.join(messages)}" for name, messages in fields.items()))


@dataclass(frozen=True)
class Schedule:
    time_zone: ZoneInfo
    # Monday first: each day's open intervals as (start, end) minutes after local midnight, sorted.
    days: tuple[tuple[tuple[int, int], ...], ...]
    # Local wall-clock spans when the inbox is closed whatever the weekday.
    holidays: tuple[tuple[datetime, datetime], ...] = ()


# --- parsing ------------------------------------------------------------------------------


def _minutes(value) -> int | None:
    """ "09:30" → 570; "24:00" → 1440; None when it is not HH:MM."""
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
        return None
    hours, minutes = value[:2], value[3:]
    if not (hours.isdigit() and minutes.isdigit()):
        return None
    total = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or total > MINUTES_PER_DAY:
        return None
    return total


def _local(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return None if parsed.tzinfo else parsed


def parse(data) -> Schedule | None:
    """The schedule `data` describes, None for no business hours ({}), or ScheduleError with
    every problem by field (`time_zone`, `days.mon`, `holidays.0`, ...)."""
    if data in (None, {}):
        return None
    if not isinstance(data, dict):
        raise ScheduleError({"business_hours": [_("An object with time_zone, days and holidays.")]})
    errors: dict[str, list[str]] = {}
    unknown = set(data) - {"time_zone", "days", "holidays"}
    for name in sorted(unknown):
        errors[name] = [_("Unknown field.")]
    zone = None
    name = data.get("time_zone")
    try:
        zone = ZoneInfo(name) if isinstance(name, str) and name.strip() and "\x00" not in name else None
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    if zone is None:
        errors["time_zone"] = [_('Unknown time zone; a name such as "Europe/Paris".')]
    days = _parse_days(data.get("days"), errors)
    holidays = _parse_holidays(data.get("holidays", []), errors)
    if not errors and not any(days):
        errors["days"] = [_("Open at least one interval in the week.")]
    if errors:
        raise ScheduleError(errors)
    return Schedule(time_zone=zone, days=days, holidays=holidays)


def _parse_days(raw, errors: dict) -> tuple:
    if not isinstance(raw, dict):
        errors["days"] = [_('An object of weekdays ("mon" … "sun") to lists of ["HH:MM", "HH:MM"].')]
        return ()
    for key in sorted(set(raw) - set(DAY_NAMES)):
        errors[f"days.{key}"] = [_('Not a weekday; one of "mon" … "sun".')]
    days = []
    for day in DAY_NAMES:
        intervals = []
        entries = raw.get(day, [])
        if not isinstance(entries, list):
            errors[f"days.{day}"] = [_('A list of ["HH:MM", "HH:MM"] intervals.')]
            entries = []
        for entry in entries:
            pair = entry if isinstance(entry, list | tuple) and len(entry) == 2 else (None, None)
            start, end = _minutes(pair[0]), _minutes(pair[1])
            if start is None or end is None:
                errors.setdefault(f"days.{day}", []).append(_('An interval is ["HH:MM", "HH:MM"] (00:00 to 24:00).'))
            elif end <= start:
                errors.setdefault(f"days.{day}", []).append(
                    _("%(start)s–%(end)s ends before it starts.") % {"start": pair[0], "end": pair[1]}
                )
            else:
                intervals.append((start, end))
        intervals.sort()
        for (_s1, end1), (start2, _e2) in zip(intervals, intervals[1:], strict=False):
            if start2 < end1:
                errors.setdefault(f"days.{day}", []).append(_("Intervals overlap."))
                break
        days.append(tuple(intervals))
    return tuple(days)


def _parse_holidays(raw, errors: dict) -> tuple:
    if not isinstance(raw, list):
        errors["holidays"] = [_('A list of {"date": "YYYY-MM-DD"} or {"start": …, "end": …}.')]
        return ()
    spans = []
    for index, entry in enumerate(raw):
        field = f"holidays.{index}"
        if not isinstance(entry, dict):
            errors[field] = [_('{"date": "YYYY-MM-DD"} or {"start": "YYYY-MM-DDTHH:MM", "end": …}.')]
            continue
        if "date" in entry:
            try:
                day = date.fromisoformat(entry["date"]) if isinstance(entry["date"], str) else None
            except ValueError:
                day = None
            if day is None:
                errors[field] = [_("Not a date (YYYY-MM-DD).")]
                continue
            start = datetime.combine(day, time())
            spans.append((start, start + timedelta(days=1)))
            continue
        start, end = _local(entry.get("start")), _local(entry.get("end"))
        if start is None or end is None:
            errors[field] = [_("Start and end are local times (YYYY-MM-DDTHH:MM) without an offset.")]
        elif end <= start:
            errors[field] = [_("The holiday ends before it starts.")]
        else:
            spans.append((start, end))
    return tuple(sorted(spans))


# --- arithmetic ---------------------------------------------------------------------------


def _aware(local: datetime, zone: ZoneInfo) -> datetime:
    """A local wall-clock time as an instant (UTC): a gap's time with the offset before the change."""
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _subtract(intervals: list[tuple[datetime, datetime]], cut: tuple[datetime, datetime]) -> list:
    out = []
    for start, end in intervals:
        if cut[1] <= start or cut[0] >= end:
            out.append((start, end))
            continue
        if start < cut[0]:
            out.append((start, cut[0]))
        if cut[1] < end:
            out.append((cut[1], end))
    return out


def _day_intervals(schedule: Schedule, day: date) -> list[tuple[datetime, datetime]]:
    """The open instants of one local day (UTC), holidays removed."""
    midnight = datetime.combine(day, time())
    zone = schedule.time_zone
    intervals = [
        (_aware(midnight + timedelta(minutes=start), zone), _aware(midnight + timedelta(minutes=end), zone))
        for start, end in schedule.days[day.weekday()]
    ]
    for holiday_start, holiday_end in schedule.holidays:
        if holiday_end <= midnight or holiday_start >= midnight + timedelta(days=1):
            continue
        intervals = _subtract(intervals, (_aware(holiday_start, zone), _aware(holiday_end, zone)))
    return [(start, end) for start, end in intervals if end > start]


def open_intervals(schedule: Schedule, since: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Open intervals (UTC) from `since` on, in order, the first clipped to start at `since`;
    ends after SEARCH_DAYS days."""
    since = since.astimezone(UTC)
    first = since.astimezone(schedule.time_zone).date() - timedelta(days=1)
    for offset in range(SEARCH_DAYS):
        for start, end in _day_intervals(schedule, first + timedelta(days=offset)):
            if end > since:
                yield max(start, since), end


def is_open(schedule: Schedule | None, at: datetime) -> bool:
    if schedule is None:
        return True
    for start, _end in open_intervals(schedule, at):
        return start <= at
    return False


def next_open(schedule: Schedule | None, at: datetime) -> datetime | None:
    """`at` when open then, else when it opens next (None: not within SEARCH_DAYS)."""
    if schedule is None:
        return at
    for start, _end in open_intervals(schedule, at):
        return start
    return None


def business_seconds(schedule: Schedule | None, start: datetime, end: datetime) -> float:
    """Open seconds in [start, end) (calendar seconds without a schedule; 0 when end ≤ start)."""
    if end <= start:
        return 0.0
    if schedule is None:
        return (end - start).total_seconds()
    total = 0.0
    for open_start, open_end in open_intervals(schedule, start):
        if open_start >= end:
            break
        total += (min(open_end, end) - open_start).total_seconds()
    return total


def add_business_seconds(schedule: Schedule | None, start: datetime, seconds: float) -> datetime | None:
    """The instant at which `seconds` of open time have passed since `start` (None: not within
    SEARCH_DAYS). Zero seconds from a closed instant is the next opening."""
    if schedule is None:
        return start + timedelta(seconds=seconds)
    left = seconds
    for open_start, open_end in open_intervals(schedule, start):
        length = (open_end - open_start).total_seconds()
        if left <= length:
            return open_start + timedelta(seconds=left)
        left -= length
    return None
