"""Wake the event drain after events commit: about twice per window per process, not per event.

Every ConversationEvent used to queue its own task; at hundreds of messages a second the
publishing (in the server) and the tasks' fixed cost (in the worker) were a large part of each
message's CPU (docs/benchmarks.md, chat). The drain (chat.tasks.events_drain) processes every
pending event from the id it is given on, so one wake-up per window is enough: the first event
of a window wakes it at once (the leading edge: an idle system answers immediately); later
events of the window schedule one wake-up at the window's end (the trailing edge), which runs
after each of them committed and starts at the lowest of their ids. (Ids are taken at insert
and transactions commit in any order: an event whose id is below that start gets a wake-up
of its own.) Beat's minute sweep (from id 0) covers a wake-up lost with the broker.

With eager Celery (the embedded default, tests) every event runs the drain inline: there is no
later run to rely on.
"""

import threading
import time

WINDOW_SECONDS = 0.1

_lock = threading.Lock()
_window_ends = 0.0
_trailing_since: int | None = None  # where this window's trailing wake-up starts


def events_committed(event_id: int) -> None:
    """Called on commit of a transaction that wrote this ConversationEvent."""
    from celery import current_app

    from . import tasks

    if current_app.conf.task_always_eager:
        tasks.events_drain.delay(since=event_id)
        return
    global _window_ends, _trailing_since
    now = time.monotonic()
    with _lock:
        if now >= _window_ends:
            _window_ends, _trailing_since, countdown = now + WINDOW_SECONDS, None, None
        elif _trailing_since is None or event_id < _trailing_since:
            _trailing_since, countdown = event_id, _window_ends - now
        else:
            return  # this window's trailing wake-up runs after this commit, from an earlier id
    if countdown is None:
        tasks.events_drain.delay(since=event_id)
    else:
        tasks.events_drain.apply_async(kwargs={"since": event_id}, countdown=countdown)
