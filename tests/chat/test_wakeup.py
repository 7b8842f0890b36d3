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
    monkeypatch.setattr(tasks.events_drain, "delay", lambda: sent.append(None))
    monkeypatch.setattr(tasks.events_drain, "apply_async", lambda countdown: sent.append(countdown))
    monkeypatch.setattr(wakeup, "_window_ends", 0.0)
    monkeypatch.setattr(wakeup, "_trailing", False)
    return sent


def test_a_burst_wakes_the_drain_once_at_once_and_once_after_the_window(published, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(wakeup.time, "monotonic", lambda: clock[0])
    # when 50 events commit within one window
    for _ in range(50):
        wakeup.events_committed()
        clock[0] += 0.001
    # then the drain is woken now and once more at the window's end (after all 50 committed)
    assert published[0] is None
    assert len(published) == 2 and 0 < published[1] <= wakeup.WINDOW_SECONDS
    # and the next window starts with an immediate wake-up again
    clock[0] += wakeup.WINDOW_SECONDS
    wakeup.events_committed()
    assert published[2:] == [None]


def test_a_lone_event_wakes_the_drain_immediately(published):
    wakeup.events_committed()
    assert published == [None]


def test_eager_celery_drains_inline_on_every_commit(monkeypatch, eager):
    runs = []
    eager(True)
    monkeypatch.setattr(tasks.events_drain, "delay", lambda: runs.append(1))
    wakeup.events_committed()
    wakeup.events_committed()
    assert runs == [1, 1]
