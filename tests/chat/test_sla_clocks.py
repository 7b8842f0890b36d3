"""SLA clocks (chat/sla.py, pure): starts, pauses, outcomes and the timer's warnings and breaches."""

from datetime import UTC, datetime, timedelta

from chat import business_hours, sla

T0 = datetime(2026, 3, 27, 15, 0, tzinfo=UTC)  # a Friday
CALENDAR = sla.Targets(first_response=100, next_response=50, resolution=1000, business_hours=False)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def clock(state: dict, name: str) -> dict:
    return state["clocks"][name]


def test_first_response_due_and_warning_at_75_percent():
    state = {}
    sla.customer_wrote(state, at(0))
    sla.evaluate(state, targets=CALENDAR, schedule=None)
    assert clock(state, "first_response")["due"] == at(100).isoformat()
    assert clock(state, "first_response")["warn"] == at(75).isoformat()
    assert sla.next_check(state) == at(75) and sla.soonest_due(state) == at(100)
    # the timer: nothing at 74 s, a warning at 75 s, a breach at 100 s, then nothing again
    assert sla.fire(state, at(74)) == []
    assert [(h.kind, h.target) for h in sla.fire(state, at(75))] == [("sla_warning", "first_response")]
    assert [(h.kind, h.target) for h in sla.fire(state, at(100))] == [("sla_breached", "first_response")]
    assert sla.fire(state, at(500)) == []
    assert state["outcomes"] == [
        {"target": "first_response", "start": at(0).isoformat(), "due": at(100).isoformat(), "at": at(100).isoformat(),
         "met": False}
    ]  # fmt: skip


def test_a_late_reply_the_timer_has_not_seen_records_the_breach_itself():
    state = {}
    sla.customer_wrote(state, at(0))
    sla.evaluate(state, targets=CALENDAR, schedule=None)
    happened = sla.agent_replied(state, at(101))
    assert [(h.kind, h.target) for h in happened] == [("sla_breached", "first_response")]
    assert [o["met"] for o in state["outcomes"]] == [False]


def test_a_reply_in_time_is_met_then_the_next_message_starts_the_next_response_clock():
    state = {}
    sla.customer_wrote(state, at(0))
    sla.evaluate(state, targets=CALENDAR, schedule=None)
    assert sla.agent_replied(state, at(30)) == []
    sla.customer_wrote(state, at(40))
    sla.evaluate(state, targets=CALENDAR, schedule=None)
    assert set(state["clocks"]) == {"next_response", "resolution"}
    assert clock(state, "next_response")["due"] == at(90).isoformat()
    assert [o["target"] for o in state["outcomes"]] == ["first_response"]


def test_pending_and_snooze_stop_the_clocks_and_the_stopped_time_is_added():
    state = {}
    sla.customer_wrote(state, at(0))
    sla.paused(state, at(10))
    sla.evaluate(state, targets=CALENDAR, schedule=None)
    assert clock(state, "first_response")["due"] is None and sla.next_check(state) is None
    assert sla.summary(state)[0]["paused"] is True
    sla.resumed(state, at(310))
    sla.evaluate(state, targets=CALENDAR, schedule=None)
    assert clock(state, "first_response")["due"] == at(400).isoformat()
    assert clock(state, "resolution")["due"] == at(1300).isoformat()


def test_resolution_ends_the_response_clocks_without_an_outcome_and_a_reopening_restarts_it():
    state = {}
    sla.customer_wrote(state, at(0))
    sla.evaluate(state, targets=CALENDAR, schedule=None)
    assert sla.resolved(state, at(60)) == []
    assert state["clocks"] == {}
    assert [(o["target"], o["met"]) for o in state["outcomes"]] == [("resolution", True)]
    sla.reopened(state, at(2000))
    sla.evaluate(state, targets=CALENDAR, schedule=None)
    assert clock(state, "resolution")["due"] == at(3000).isoformat()


def test_business_time_due_skips_the_weekend_and_no_target_means_no_due():
    schedule = business_hours.parse(
        {"time_zone": "UTC", "days": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}}
    )
    targets = sla.Targets(first_response=4 * 3600, business_hours=True)
    state = {}
    sla.customer_wrote(state, at(0))  # Friday 15:00: two open hours left
    sla.evaluate(state, targets=targets, schedule=schedule)
    assert clock(state, "first_response")["due"] == datetime(2026, 3, 30, 11, 0, tzinfo=UTC).isoformat()
    assert clock(state, "resolution")["due"] is None
    assert [row["target"] for row in sla.summary(state)] == ["first_response"]
