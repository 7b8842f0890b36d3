"""Business-time arithmetic (chat/business_hours.py) as tables: DST days in two time zones,
holidays across midnight, weekends, and the schedules that are refused."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from chat import business_hours as bh

ALL_DAY = {day: [["00:00", "24:00"]] for day in bh.DAY_NAMES}
WEEKDAYS_9_TO_5 = {day: [["09:00", "17:00"]] for day in bh.DAY_NAMES[:5]}
HOUR = 3600


def schedule(zone: str, days: dict, holidays: list | None = None) -> bh.Schedule:
    return bh.parse({"time_zone": zone, "days": days, "holidays": holidays or []})


def at(zone: str, local: str, fold: int = 0) -> datetime:
    return datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(zone), fold=fold)


@pytest.mark.parametrize(
    ("zone", "days", "start", "end", "hours"),
    [
        # spring forward: the day has 23 hours, fall back: 25 (Paris: last Sundays of March and October)
        ("Europe/Paris", ALL_DAY, "2026-03-29T00:00", "2026-03-30T00:00", 23),
        ("Europe/Paris", ALL_DAY, "2026-10-25T00:00", "2026-10-26T00:00", 25),
        # New York: 8 March and 1 November 2026
        ("America/New_York", ALL_DAY, "2026-03-08T00:00", "2026-03-09T00:00", 23),
        ("America/New_York", ALL_DAY, "2026-11-01T00:00", "2026-11-02T00:00", 25),
        # a shift across the change: 01:00–04:00 wall clock is 2 real hours in spring, 4 in autumn
        ("America/New_York", {"sun": [["01:00", "04:00"]]}, "2026-03-08T00:00", "2026-03-09T00:00", 2),
        ("America/New_York", {"sun": [["01:00", "04:00"]]}, "2026-11-01T00:00", "2026-11-02T00:00", 4),
        ("Europe/Paris", {"sun": [["01:00", "04:00"]]}, "2026-03-29T00:00", "2026-03-30T00:00", 2),
        ("Europe/Paris", {"sun": [["01:00", "04:00"]]}, "2026-10-25T00:00", "2026-10-26T00:00", 4),
        # an opening inside the gap (02:30 does not exist) is read as 03:30: 1.5 hours to 05:00
        ("Europe/Paris", {"sun": [["02:30", "05:00"]]}, "2026-03-29T00:00", "2026-03-30T00:00", 1.5),
        # a week of 9–5 weekdays, in two zones
        ("Europe/Paris", WEEKDAYS_9_TO_5, "2026-03-23T00:00", "2026-03-30T00:00", 40),
        ("Asia/Tokyo", WEEKDAYS_9_TO_5, "2026-03-23T12:00", "2026-03-24T10:00", 6),
        # none of it open: Saturday
        ("Europe/Paris", WEEKDAYS_9_TO_5, "2026-03-28T00:00", "2026-03-29T00:00", 0),
    ],
)
def test_business_seconds_between_two_local_times(zone, days, start, end, hours):
    # given a schedule, when the open time between two wall-clock times is counted
    counted = bh.business_seconds(schedule(zone, days), at(zone, start), at(zone, end))
    # then it is the real elapsed open time
    assert counted == hours * HOUR


@pytest.mark.parametrize(
    ("zone", "days", "holidays", "start", "end", "hours"),
    [
        # Christmas Eve 18:00 to Boxing Day 08:00 closed: of three 24-hour days, 18 + 16 hours stay open
        (
            "Europe/Paris",
            ALL_DAY,
            [{"start": "2026-12-24T18:00", "end": "2026-12-26T08:00"}],
            "2026-12-24T00:00",
            "2026-12-27T00:00",
            34,
        ),
        # the same across midnight on New Year's Eve in New York, with a 9–5 schedule
        (
            "America/New_York",
            WEEKDAYS_9_TO_5,
            [{"start": "2026-12-31T15:00", "end": "2027-01-01T12:00"}],
            "2026-12-31T00:00",
            "2027-01-02T00:00",
            6 + 5,
        ),
        # a whole day
        ("Europe/Paris", WEEKDAYS_9_TO_5, [{"date": "2026-12-25"}], "2026-12-24T00:00", "2026-12-26T00:00", 8),
        # a holiday across a fall-back night: 25 hours of the Sunday, minus 00:00–03:00 (4 real hours)
        (
            "Europe/Paris",
            ALL_DAY,
            [{"start": "2026-10-24T22:00", "end": "2026-10-25T03:00"}],
            "2026-10-25T00:00",
            "2026-10-26T00:00",
            21,
        ),
    ],
)
def test_holidays_spanning_midnight_are_closed(zone, days, holidays, start, end, hours):
    counted = bh.business_seconds(schedule(zone, days, holidays), at(zone, start), at(zone, end))
    assert counted == hours * HOUR


@pytest.mark.parametrize(
    ("zone", "days", "holidays", "start", "seconds", "due"),
    [
        # Friday 16:00 + 2 business hours of 9–5 → Monday 10:00
        ("Europe/Paris", WEEKDAYS_9_TO_5, [], "2026-03-27T16:00", 2 * HOUR, "2026-03-30T10:00"),
        # from Saturday: the clock starts on Monday's opening
        ("America/New_York", WEEKDAYS_9_TO_5, [], "2026-03-07T12:00", 30 * 60, "2026-03-09T09:30"),
        # calendar-like schedule across spring forward: 01:30 + 1 h is 03:30 (02:xx does not exist)
        ("America/New_York", ALL_DAY, [], "2026-03-08T01:30", HOUR, "2026-03-08T03:30"),
        ("Europe/Paris", ALL_DAY, [], "2026-03-29T01:30", HOUR, "2026-03-29T03:30"),
        # zero seconds from a closed instant: the next opening
        ("Europe/Paris", WEEKDAYS_9_TO_5, [], "2026-03-28T12:00", 0, "2026-03-30T09:00"),
        # across a holiday that spans midnight: Thursday 24 Dec 16:00 + 2 h, closed 17:00 24th → 28th 08:00
        (
            "Europe/Paris",
            WEEKDAYS_9_TO_5,
            [{"start": "2026-12-24T17:00", "end": "2026-12-28T08:00"}],
            "2026-12-24T16:00",
            2 * HOUR,
            "2026-12-28T10:00",
        ),
    ],
)
def test_adding_business_seconds(zone, days, holidays, start, seconds, due):
    found = bh.add_business_seconds(schedule(zone, days, holidays), at(zone, start), seconds)
    assert found == at(zone, due)


def test_fall_back_addition_counts_the_repeated_hour():
    # given 24/7 in New York, when 1 hour is added to 01:30 EDT on the fall-back night
    found = bh.add_business_seconds(
        schedule("America/New_York", ALL_DAY), at("America/New_York", "2026-11-01T01:30"), HOUR
    )
    # then it is 01:30 again, in EST (the second occurrence)
    local = found.astimezone(ZoneInfo("America/New_York"))
    assert (local.hour, local.minute, local.utcoffset().total_seconds()) == (1, 30, -5 * HOUR)
    assert found.astimezone(UTC) == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)


def test_no_schedule_is_calendar_time():
    start = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)
    assert bh.parse({}) is None
    assert bh.business_seconds(None, start, start.replace(hour=9)) == 3 * HOUR
    assert bh.add_business_seconds(None, start, 90) == start.replace(minute=1, second=30)
    assert bh.is_open(None, start) and bh.next_open(None, start) == start


def test_open_and_next_open():
    paris = schedule("Europe/Paris", WEEKDAYS_9_TO_5, [{"date": "2026-03-30"}])
    assert bh.is_open(paris, at("Europe/Paris", "2026-03-27T09:00"))
    assert not bh.is_open(paris, at("Europe/Paris", "2026-03-27T17:00"))
    # Monday is a holiday: back on Tuesday
    assert bh.next_open(paris, at("Europe/Paris", "2026-03-27T17:00")) == at("Europe/Paris", "2026-03-31T09:00")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"time_zone": "Mars/Olympus", "days": WEEKDAYS_9_TO_5}, "time_zone"),
        ({"time_zone": "", "days": WEEKDAYS_9_TO_5}, "time_zone"),
        ({"time_zone": "UTC", "days": {"mon": [["17:00", "09:00"]]}}, "days.mon"),
        ({"time_zone": "UTC", "days": {"mon": [["09:00", "09:00"]]}}, "days.mon"),
        ({"time_zone": "UTC", "days": {"tue": [["09:00", "13:00"], ["12:00", "18:00"]]}}, "days.tue"),
        ({"time_zone": "UTC", "days": {"mon": [["9", "17:00"]]}}, "days.mon"),
        ({"time_zone": "UTC", "days": {"mon": [["09:00", "24:30"]]}}, "days.mon"),
        ({"time_zone": "UTC", "days": {"monday": [["09:00", "17:00"]]}}, "days.monday"),
        ({"time_zone": "UTC", "days": {}}, "days"),
        ({"time_zone": "UTC", "days": "9-5"}, "days"),
        ({"time_zone": "UTC", "days": WEEKDAYS_9_TO_5, "holidays": [{"date": "2026-02-30"}]}, "holidays.0"),
        (
            {"time_zone": "UTC", "days": WEEKDAYS_9_TO_5, "holidays": [{"start": "2026-12-26", "end": "2026-12-24"}]},
            "holidays.0",
        ),
        ({"time_zone": "UTC", "days": WEEKDAYS_9_TO_5, "holidays": "xmas"}, "holidays"),
        ({"time_zone": "UTC", "days": WEEKDAYS_9_TO_5, "open": True}, "open"),
        ("9-5", "business_hours"),
    ],
)
def test_bad_schedules_are_refused_by_field(data, field):
    with pytest.raises(bh.ScheduleError) as refused:
        bh.parse(data)
    assert field in refused.value.fields
