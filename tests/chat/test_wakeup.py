"""chat.wakeup: events wake the drain at most twice per window per process, never too late."""

import pytest
from celery import current_app

from chat import tasks, wakeup


@pytest.fixture
def eager():
    """Set Celery's eager mode for one test (conf is not a plain object: no monkeypatch)."""
    previous = current_app.conf.task_always_eager

    def set_eager(value: bool) -> None:
        current_app.conf.task_always_eager = value

    yield set_eager
    current_app.conf.task_always_eager = previous


@pytest.fixture
def published(monkeypatch, eager):
    """What would reach the broker (the one thing outside): (countdown or None) per publish."""
    sent = []
    eager(False)
    monkeypatch.setattr(tasks.events_drain, "delay", lambda since: sent.append((since, None)))
    monkeypatch.setattr(
        tasks.events_drain, "apply_async", lambda kwargs, countdown: sent.append((kwargs["since"], countdown))
    )
    monkeypatch.setattr(wakeup, "_window_ends", 0.0)
    monkeypatch.setattr(wakeup, "_trailing_since", None)
    return sent


def test_a_burst_wakes_the_drain_once_at_once_and_once_after_the_window(published, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(wakeup.time, "monotonic", lambda: clock[0])
    # when 50 events (ids 1000…1049) commit within one window
    for event_id in range(1000, 1050):
        wakeup.events_committed(event_id)
        clock[0] += 0.001
    # then the drain is woken now from the first, and once more at the window's end (after all
    # 50 committed) from the second on
    assert published[0] == (1000, None)
    assert len(published) == 2 and published[1][0] == 1001 and 0 < published[1][1] <= wakeup.WINDOW_SECONDS
    # and the next window starts with an immediate wake-up again
    clock[0] += wakeup.WINDOW_SECONDS
    wakeup.events_committed(1050)
    assert published[2:] == [(1050, None)]


def test_an_event_committed_late_with_a_lower_id_gets_a_wake_up_that_reaches_it(published, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(wakeup.time, "monotonic", lambda: clock[0])
    wakeup.events_committed(500)
    wakeup.events_committed(510)  # the trailing wake-up starts at 510
    wakeup.events_committed(505)  # inserted earlier, committed later: 510 would miss it
    wakeup.events_committed(507)  # covered by the 505 one
    assert [since for since, _ in published] == [500, 510, 505]


def test_a_lone_event_wakes_the_drain_immediately(published):
    wakeup.events_committed(7)
    assert published == [(7, None)]


def test_eager_celery_drains_inline_on_every_commit(monkeypatch, eager):
    runs = []
    eager(True)
    monkeypatch.setattr(tasks.events_drain, "delay", lambda since: runs.append(since))
    wakeup.events_committed(1)
    wakeup.events_committed(2)
    assert runs == [1, 2]
