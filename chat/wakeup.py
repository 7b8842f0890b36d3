"""Wake the event drain after events commit: at most twice per window per process, not per event.

Every ConversationEvent used to queue its own task; at hundreds of messages a second the
publishing (in the server) and the tasks' fixed cost (in the worker) were a large part of each
message's CPU (docs/benchmarks.md, chat). The drain (chat.tasks.events_drain) processes every
event pending when it runs, so one wake-up per window is enough: the first event of a window
wakes it at once (the leading edge: an idle system answers immediately); later events of the
window schedule one wake-up at the window's end (the trailing edge), which runs after each of
them committed. Beat's minute sweep covers a wake-up lost with the broker.

With eager Celery (the embedded default, tests) every event runs the drain inline: there is no
later run to rely on.
"""

import threading
import time

WINDOW_SECONDS = 0.1

_lock = threading.Lock()
_window_ends = 0.0
_trailing = False


def events_committed() -> None:
    """Called on commit of a transaction that wrote ConversationEvents."""
    from celery import current_app

    from . import tasks

    if current_app.conf.task_always_eager:
        tasks.events_drain.delay()
        return
    global _window_ends, _trailing
    now = time.monotonic()
    with _lock:
        if now >= _window_ends:
            _window_ends, _trailing, countdown = now + WINDOW_SECONDS, False, None
        elif not _trailing:
            _trailing, countdown = True, _window_ends - now
        else:
            return  # the trailing wake-up of this window runs after this commit
    if countdown is None:
        tasks.events_drain.delay()
    else:
        tasks.events_drain.apply_async(countdown=countdown)
