"""Work that falls due at a time of its own: one registry, run every second.

Every due time is a column: a snooze's `snoozed_until`, a survey invitation's `scheduled_for`
and `expires_at`, a webhook delivery's `next_attempt_at`, the end of a resolution's 7-day
window. The database is the schedule, so nothing is lost with a broker message, a worker or a
restart. Each app registers, in its `AppConfig.ready`, a function that finds what is due and
does it; it must be safe to run twice and side by side (row locks, conditional updates), and
cheap when nothing is due (one indexed read, no write transaction).

`chat.tasks.timers_run` runs them all. Beat publishes it every `TIMERS_INTERVAL_SECONDS` to the
workers (`make worker`, with REDIS_URL); in the embedded default the server process runs the
same beat schedule itself (`cxhub/scheduler.py`). docs/adr/0005-time-based-work.md says why.
"""

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

_registry: dict[str, Callable[[], int]] = {}


def register(name: str, function: Callable[[], int]) -> None:
    """`function()` does what is due now and returns how many things it did."""
    _registry[name] = function


def registered() -> list[str]:
    return list(_registry)


def run_due() -> dict[str, int]:
    """Run every registered timer once; one that fails is logged and does not stop the others."""
    done: dict[str, int] = {}
    for name, function in list(_registry.items()):
        try:
            done[name] = function()
        except Exception:
            logger.exception("timer %s failed", name)
            done[name] = -1
    return done
