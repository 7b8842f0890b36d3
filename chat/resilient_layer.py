"""A channels-redis layer that rides out a Redis restart without restarting the server.

Plain `RedisChannelLayer` has two failure modes when Redis goes away and comes back empty
(tests/trust/test_chaos.py shows both):
1. `receive()` raises ConnectionError into the consumer's event loop: Channels ends the
   consumer, and every open websocket of the process is dropped at once;
2. the group memberships lived in Redis: after the restart they are gone, so sockets that
   survived stop getting broadcasts, silently, until they reconnect.

This layer keeps, per process, the groups each of its channels joined. `receive()` waits and
retries on a connection error instead of raising. A watchdog asks Redis for its `run_id`
every second: redis-py reconnects by itself, so a quick restart raises nothing anywhere, and
a changed run_id is the only sign. On a changed run_id (or after errors), every membership
is added back and each local channel gets a `chat.resync` event, on which the consumers send
what was committed meanwhile from the database (persist first: nothing is lost, the seq
cursor keeps it in order and once). `group_add`/`group_discard` during an outage are recorded
and applied on recovery. `group_send` still raises: chat.events logs it, the write stands.
"""

import asyncio
import logging
from collections import defaultdict

from channels_redis.core import RedisChannelLayer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

OUTAGE_ERRORS = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)
RESYNC_EVENT = {"type": "chat.resync"}
WATCH_SECONDS = 1.0


class ResilientRedisChannelLayer(RedisChannelLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.memberships: dict[str, set[str]] = defaultdict(set)  # local channel → groups
        self.outage = False
        self.recovery_lock: asyncio.Lock | None = None
        self.run_id: str | None = None
        self.watchdog: asyncio.Task | None = None

    def _watch_redis(self) -> None:
        loop = asyncio.get_running_loop()
        if self.watchdog is None or self.watchdog.done() or self.watchdog.get_loop() is not loop:
            self.watchdog = loop.create_task(self._watch())
            self.recovery_lock = None  # a lock belongs to one event loop

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            if not self.memberships:
                continue
            try:
                run_id = (await self.connection(0).info("server")).get("run_id")
            except OUTAGE_ERRORS:
                self.outage = True
                continue
            if self.run_id is None:
                self.run_id = run_id
            if run_id != self.run_id:
                logger.warning("Redis restarted (run_id changed): restoring group memberships")
                self.outage = True
            if self.outage:
                try:
                    await self._recover()
                    self.run_id = run_id
                except OUTAGE_ERRORS:
                    self.outage = True

    async def group_add(self, group, channel):
        self.memberships[channel].add(group)
        self._watch_redis()
        try:
            await super().group_add(group, channel)
        except OUTAGE_ERRORS as error:
            self.outage = True
            logger.warning("group_add %s during a Redis outage (%s); added on recovery", group, error)

    async def group_discard(self, group, channel):
        groups = self.memberships.get(channel)
        if groups is not None:
            groups.discard(group)
            if not groups:
                self.memberships.pop(channel, None)
        try:
            await super().group_discard(group, channel)
        except OUTAGE_ERRORS as error:
            logger.warning("group_discard %s during a Redis outage (%s)", group, error)

    async def receive(self, channel):
        delay = 0.05
        while True:
            if self.outage:
                try:
                    await self._recover()
                except OUTAGE_ERRORS:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
                    continue
            try:
                return await super().receive(channel)
            except OUTAGE_ERRORS as error:
                if not self.outage:
                    logger.warning("Redis unreachable (%s): sockets stay open, waiting for it", error)
                self.outage = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _recover(self) -> None:
        """Once Redis answers: every membership back, then a resync event to every local channel."""
        if self.recovery_lock is None:
            self.recovery_lock = asyncio.Lock()
        async with self.recovery_lock:
            if not self.outage:
                return
            connection = self.connection(0)
            await connection.ping()
            for channel, groups in list(self.memberships.items()):
                for group in list(groups):
                    await RedisChannelLayer.group_add(self, group, channel)
            self.outage = False
            for channel in list(self.memberships):
                self.receive_buffer[channel].put_nowait(dict(RESYNC_EVENT))
            logger.warning("Redis is back: %d channels rejoined their groups and resync", len(self.memberships))

    async def flush(self):
        self.memberships.clear()
        self.outage = False
        if self.watchdog is not None and not self.watchdog.get_loop().is_closed():
            self.watchdog.cancel()
        self.watchdog = None
        await super().flush()
