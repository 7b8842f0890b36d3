"""The beat schedule run inside the ASGI server: time-based work in the embedded default.

With a broker (REDIS_URL), `celery beat` publishes CELERY_BEAT_SCHEDULE and the workers run it
(`make worker`). The embedded default has neither: Celery runs a task eagerly inside whoever
calls it, and nothing calls a periodic task, so a snoozed conversation would never wake and a
survey with a delay would never leave. There the server runs the same schedule itself
(`SCHEDULER_IN_PROCESS`, on by default when Celery is eager): an asyncio task in the server's
event loop, started and stopped by the ASGI lifespan (cxhub/asgi.py), runs each due entry in a
worker thread, so the broadcasts its tasks make reach this process's sockets as a request's do.

One entry runs at a time (SQLite has one writer), and an entry never overlaps itself.
docs/adr/0005-time-based-work.md says why this and not a thread, a cron job or a second process.
"""

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from asgiref.sync import sync_to_async
from celery.schedules import crontab, schedule
from django.db import close_old_connections, connections

logger = logging.getLogger(__name__)

TICK_SECONDS = 0.25


@dataclass
class Entry:
    name: str
    task: str
    schedule: schedule
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    last_run_at: datetime | None = None


def entries_of(app) -> list[Entry]:
    """The beat schedule's entries; interval entries are due at once (what was due while the
    server was down runs at its start), crontab entries at their next time."""
    now = app.now()
    entries = []
    for name, spec in app.conf.beat_schedule.items():
        every = spec["schedule"]
        if isinstance(every, int | float | timedelta):
            every = schedule(timedelta(seconds=every) if not isinstance(every, timedelta) else every, app=app)
        every.app = app
        first = now if isinstance(every, crontab) else now - every.run_every
        entries.append(
            Entry(name, spec["task"], every, tuple(spec.get("args", ())), dict(spec.get("kwargs", {})), first)
        )
    return entries


def run_entry(app, entry: Entry) -> None:
    """One run of an entry's task, eagerly, in this (worker) thread; a failure is logged."""
    close_old_connections()
    try:
        app.tasks[entry.task].apply(args=entry.args, kwargs=entry.kwargs, throw=True)
    except Exception:
        logger.exception("scheduled task %s failed", entry.name)
    finally:
        connections.close_all()


class InProcessBeat:
    """`await beat.run()` until `stop()`: every due entry of the beat schedule, one at a time."""

    def __init__(self, app):
        self.app = app
        app.loader.import_default_modules()  # the apps' tasks modules, as a worker imports them
        self.entries = entries_of(app)
        self._stopping = asyncio.Event()

    def due(self) -> list[Entry]:
        return [entry for entry in self.entries if entry.schedule.is_due(entry.last_run_at)[0]]

    async def run(self) -> None:
        run = sync_to_async(run_entry, thread_sensitive=False)
        logger.info("in-process scheduler: %s", ", ".join(f"{e.name} ({e.task})" for e in self.entries))
        while not self._stopping.is_set():
            for entry in self.due():
                entry.last_run_at = self.app.now()
                await run(self.app, entry)
                if self._stopping.is_set():
                    return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), TICK_SECONDS)

    def stop(self) -> None:
        self._stopping.set()


class Lifespan:
    """The ASGI lifespan protocol: starts the in-process beat when the settings ask for it."""

    def __init__(self):
        self.beat: InProcessBeat | None = None
        self.task: asyncio.Task | None = None

    async def __call__(self, scope, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def start(self) -> None:
        from django.conf import settings

        from cxhub.celery import app

        if not settings.SCHEDULER_IN_PROCESS:
            return
        self.beat = InProcessBeat(app)
        self.task = asyncio.get_running_loop().create_task(self.beat.run(), name="cxhub-in-process-beat")

    async def stop(self) -> None:
        if self.beat is None or self.task is None:
            return
        self.beat.stop()
        try:
            await asyncio.wait_for(self.task, timeout=30)
        except TimeoutError:
            logger.warning("the in-process scheduler did not stop within 30 s")
        self.beat = self.task = None
