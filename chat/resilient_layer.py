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

A socket that stops reading (chat.consumers: its client no longer takes frames) stops taking
events from its buffer. The parent bounds each channel's buffer at `capacity` by dropping the
oldest event, silently; here an overflow drops the whole backlog (everything in it can be read
again from the database) and leaves one `chat.overflow` event, on which the socket closes with a
resume hint (docs/operations.md, "Slow consumers"). The process's memory stays bounded and the
other sockets, served by the same receive loop, never wait for it.

Receive state is plain data, bound to no event loop: each local channel's buffer holds its events
and the future of the one receive waiting on it, and one reader task per process takes the
process's messages from Redis while any receive waits (it ends when none does, checked at least
every `brpop_timeout`), made anew on the loop of a receive when the loop it ran on is another (a
sync caller using `async_to_sync` gets a new loop per call, which ends with the call and cancels
the reader). The taken-but-not-handed-over batch (`fetched`) carries over too; its backup in
Redis is deleted inline, as the batch's last message is handed over. The parent's per-channel
clean locks, released by cleaner tasks, are not used: a cleaner a closing loop cancelled left its
lock held for ever, and the next receive (on the next loop) waited on it for ever; receives of
one queue take turns on a lock of the running loop instead. A cancellation that redis-py turns
into a read timeout still ends the reader (`_through_outages` checks `Task.cancelling()`), so a
closing loop never waits on it.

It also makes fewer round trips to Redis than its parent (docs/benchmarks.md, chat): a group
send reads the group and pushes to every member's queue in two scripts (the parent makes four
calls), and a receive takes every message waiting on the process's queue in one script (the
parent makes four calls per message), keeping them in its backup queue until handed over.
One reader task per process does the receiving and hands each message to its socket's buffer;
the parent has every waiting socket race for a lock with two tasks of its own (memory per idle
socket: docs/benchmarks.md, connections).
"""

import asyncio
import functools
import hashlib
import logging
import time
from collections import defaultdict, deque

from channels_redis.core import RedisChannelLayer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

OUTAGE_ERRORS = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)
RESYNC_EVENT = {"type": "chat.resync"}
OVERFLOW_EVENT = {"type": "chat.overflow"}
WATCH_SECONDS = 1.0
RECEIVE_BATCH = 100


class Script:
    """A Lua script run by its SHA1 (loaded again after a Redis restart forgot it)."""

    def __init__(self, source: str):
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, connection, keys: list, args: list):
        try:
            return await connection.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await connection.eval(self.source, len(keys), *keys, *args)


# KEYS[1] the group; ARGV[1] the oldest membership score still valid.
GROUP_MEMBERS = Script("""
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[1])
return redis.call('ZRANGE', KEYS[1], 0, -1)
""")

# KEYS the members' queues; ARGV their messages, their capacities, now, expiry, stale before.
GROUP_PUSH = Script("""
local n = #KEYS
local now, expiry, stale = ARGV[2 * n + 1], ARGV[2 * n + 2], ARGV[2 * n + 3]
local over_capacity = 0
for i = 1, n do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, stale)
    if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[n + i]) then
        redis.call('ZADD', KEYS[i], now, ARGV[i])
        redis.call('EXPIRE', KEYS[i], expiry)
    else
        over_capacity = over_capacity + 1
    end
end
return over_capacity
""")

# KEYS[1] the queue, KEYS[2] its backup; ARGV[1] how many. Whatever an interrupted receive
# left in the backup goes back first; then up to ARGV[1] messages move to the backup.
RECEIVE_MANY = Script("""
local backed_up = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
for i = #backed_up, 1, -2 do
    redis.call('ZADD', KEYS[1], backed_up[i], backed_up[i - 1])
end
redis.call('DEL', KEYS[2])
local popped = redis.call('ZPOPMIN', KEYS[1], ARGV[1])
local members = {}
for i = 1, #popped, 2 do
    redis.call('ZADD', KEYS[2], popped[i + 1], popped[i])
    members[#members + 1] = popped[i]
end
return members
""")


class OverflowQueue:
    """A local channel's receive buffer (one per socket): a few slots and, while its socket
    waits, one future. When full, the backlog goes and one `chat.overflow` stays.

    channels-redis gives each socket an `asyncio.Queue` (four deques) and, while it waits, two
    tasks racing for a receive lock under `asyncio.wait`: about 6.4 KB per idle socket. Here one
    reader task per process takes from Redis and hands each message to its socket's buffer.
    """

    __slots__ = ("capacity", "items", "waiter")
    overflows = 0  # over the process's life, for the logs and the tests

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.items: deque | None = None  # made on the first message that finds nobody waiting
        self.waiter: asyncio.Future | None = None

    def put_nowait(self, item) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(item)
            return
        if self.items is None:
            self.items = deque()
        elif len(self.items) >= self.capacity:
            dropped = len(self.items)
            self.items.clear()
            OverflowQueue.overflows += 1
            logger.warning("a socket fell %d events behind: dropped them, it resyncs (chat.overflow)", dropped)
            self.items.append(dict(OVERFLOW_EVENT))
        self.items.append(item)

    def get_nowait(self):
        item = self.items.popleft()
        if not self.items:
            self.items = None
        return item

    def qsize(self) -> int:
        return len(self.items) if self.items else 0

    def empty(self) -> bool:
        return not self.items


class ResilientRedisChannelLayer(RedisChannelLayer):
    # Redis forgets a membership after `group_expiry` (a day): this layer renews its process's
    # memberships itself, so a socket needs no renewal task of its own (chat.consumers).
    renews_memberships = True
    renew_seconds = 3600.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.receive_buffer = defaultdict(functools.partial(OverflowQueue, self.capacity))
        self.reader: asyncio.Task | None = None  # takes the process's messages from Redis
        self.waiting = 0  # local receives waiting on their buffer
        self.renewed_at = time.monotonic()
        self.memberships: dict[str, set[str]] = defaultdict(set)  # local channel → groups
        self.outage = False
        self.recovery_lock: asyncio.Lock | None = None
        self.run_id: str | None = None
        self.watchdog: asyncio.Task | None = None
        self.fetched: dict[str, deque] = defaultdict(deque)  # queue key → taken, not yet handed over
        self.queue_locks: dict[str, tuple] = {}  # queue key → (its loop, the lock its receives take turns on)

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
            if time.monotonic() - self.renewed_at >= self.renew_seconds and not self.outage:
                try:
                    await self._renew()
                except OUTAGE_ERRORS:
                    self.outage = True
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
        await self.group_add_many([group], channel)

    async def group_add_many(self, groups, channel) -> None:
        """Join several groups in one round trip per Redis host (a widget joins two per connect)."""
        self.memberships[channel].update(groups)
        self._watch_redis()
        try:
            await self._group_add(groups, channel)
        except OUTAGE_ERRORS as error:
            self.outage = True
            logger.warning("group_add %s during a Redis outage (%s); added on recovery", groups, error)

    async def _group_add(self, groups, channel) -> None:
        """The parent's group_add (add, then renew the group's expiry), pipelined."""
        assert self.require_valid_channel_name(channel), "Channel name not valid"
        by_connection = defaultdict(list)
        for group in groups:
            assert self.require_valid_group_name(group), "Group name not valid"
            by_connection[self.consistent_hash(group)].append(group)
        now = time.time()
        for index, members in by_connection.items():
            pipe = self.connection(index).pipeline(transaction=False)
            for group in members:
                key = self._group_key(group)
                pipe.zadd(key, {channel: now})
                pipe.expire(key, self.group_expiry)
            await pipe.execute()

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

    async def group_send(self, group, message):
        """The parent's group send in two scripts: read the members, push to their queues."""
        assert self.require_valid_group_name(group), "Group name not valid"
        connection = self.connection(self.consistent_hash(group))
        members = await GROUP_MEMBERS(connection, [self._group_key(group)], [int(time.time()) - self.group_expiry])
        if not members:
            return
        channels = [m.decode("utf8") for m in members]
        by_connection, messages, capacities = self._map_channel_keys_to_connection(channels, message)
        now = time.time()
        for index, keys in by_connection.items():
            args = [messages[k] for k in keys] + [capacities[k] for k in keys]
            args += [now, self.expiry, int(now) - int(self.expiry)]
            over_capacity = await GROUP_PUSH(self.connection(index), keys, args)
            if over_capacity:
                logger.info("%s of %s channels over capacity in group %s", over_capacity, len(channels), group)

    async def _brpop_with_clean(self, index, channel, timeout):
        """The next message of this queue: from the batch taken last time, else a new batch,
        else wait for one (as the parent does). Taken messages sit in the backup queue until the
        batch's last one is handed over (then the backup goes, here: see the module's doc)."""
        fetched = self.fetched[channel]
        connection = self.connection(index)
        backup = self._backup_channel_name(channel)
        if not fetched:
            fetched.extend(await RECEIVE_MANY(connection, [channel, backup], [RECEIVE_BATCH]))
            if not fetched:
                result = await connection.bzpopmin(channel, timeout=timeout)
                if result is None:
                    return None
                _, member, score = result
                await connection.zadd(backup, {member: float(score)})
                fetched.append(member)
        message = fetched.popleft()
        if not fetched:
            try:
                await connection.delete(backup)
            except BaseException:
                fetched.appendleft(message)  # not handed over: the next receive hands it over
                raise
        return message

    async def receive_single(self, channel):
        """The parent's, without its clean locks and cleaner tasks: those are asyncio objects of
        the loop that made them, and a cleaner a closing loop cancels (a sync caller's loop ends
        with each `async_to_sync` call) left its lock held for ever. Receives of one queue still
        take turns, under a lock of the running loop."""
        assert self.require_valid_channel_name(channel, receive=True), "Channel name invalid"
        index = self.consistent_hash(channel) if "!" in channel else next(self._receive_index_generator)
        key = self.prefix + channel
        async with self._queue_lock(key):
            while (content := await self._brpop_with_clean(index, key, timeout=self.brpop_timeout)) is None:
                pass
        return self._unpack(channel, content)

    def _unpack(self, channel: str, content: bytes):
        message = self.deserialize(content)
        if "__asgi_channel__" in message:  # a message for a process-local channel
            channel = message.pop("__asgi_channel__")
        return channel, message

    def _queue_lock(self, key: str) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        owner, lock = self.queue_locks.get(key, (None, None))
        if owner is not loop:
            lock = asyncio.Lock()
            self.queue_locks[key] = (loop, lock)
        return lock

    async def receive(self, channel):
        if "!" not in channel:
            return await self._through_outages(functools.partial(self.receive_single, channel))
        buffer = self.receive_buffer[channel]
        if not buffer.empty():
            return buffer.get_nowait()
        loop = asyncio.get_running_loop()
        buffer.waiter = waiter = loop.create_future()
        self.waiting += 1
        if self.reader is None or self.reader.done() or self.reader.get_loop() is not loop:
            self.reader = loop.create_task(self._read(self.non_local_name(channel)))
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                buffer.put_nowait(waiter.result())  # handed over as we were cancelled: kept
            elif buffer.empty():
                self.receive_buffer.pop(channel, None)  # the socket is gone
            raise
        finally:
            self.waiting -= 1
            if buffer.waiter is waiter:
                buffer.waiter = None

    async def _read(self, real_channel: str) -> None:
        """While a local receive of this loop waits: take the process's next messages from Redis and
        hand each to its channel's buffer (through an outage too: the sockets stay open). It ends
        when nobody waits (checked at least every `brpop_timeout`), or with its loop: a receive on
        another loop starts a reader there, and the taken-but-not-handed-over batch carries over."""
        index = self.consistent_hash(real_channel)
        key = self.prefix + real_channel
        receive = functools.partial(self._brpop_with_clean, index, key, self.brpop_timeout)
        try:
            while self.waiting:
                content = await self._through_outages(receive)
                if content is None:
                    continue
                message_channel, message = self._unpack(real_channel, content)
                for target in message_channel if isinstance(message_channel, list) else [message_channel]:
                    self.receive_buffer[target].put_nowait(message)
        except Exception as error:  # a bug, not an outage: the waiting receives raise it, as the parent's
            logger.exception("the channel layer's reader failed")
            for buffer in list(self.receive_buffer.values()):
                if buffer.waiter is not None and not buffer.waiter.done():
                    buffer.waiter.set_exception(error)

    async def _through_outages(self, call):
        """`call()`'s result; while Redis is unreachable, wait (backing off) and recover first.
        A cancelled task stops waiting even when the client turned its cancellation into a read
        timeout (redis-py can, as a closing loop cancels the reader mid-read)."""
        delay = 0.05
        task = asyncio.current_task()
        while True:
            if self.outage:
                try:
                    await self._recover()
                except OUTAGE_ERRORS:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
                    continue
            try:
                return await call()
            except OUTAGE_ERRORS as error:
                if task is not None and task.cancelling():
                    raise asyncio.CancelledError from error
                if not self.outage:
                    logger.warning("Redis unreachable (%s): sockets stay open, waiting for it", error)
                self.outage = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _renew(self, batch: int = 500) -> None:
        """Every membership of this process again, in pipelined batches."""
        self.renewed_at = time.monotonic()
        pairs = [(group, channel) for channel, groups in list(self.memberships.items()) for group in list(groups)]
        for start in range(0, len(pairs), batch):
            by_connection = defaultdict(list)
            for group, channel in pairs[start : start + batch]:
                by_connection[self.consistent_hash(group)].append((group, channel))
            for index, items in by_connection.items():
                pipe = self.connection(index).pipeline(transaction=False)
                for group, channel in items:
                    key = self._group_key(group)
                    pipe.zadd(key, {channel: time.time()})
                    pipe.expire(key, self.group_expiry)
                await pipe.execute()

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
        self.fetched.clear()
        self.queue_locks.clear()
        if self.reader is not None and not self.reader.get_loop().is_closed():
            self.reader.cancel()
        self.reader = None
        self.outage = False
        if self.watchdog is not None and not self.watchdog.get_loop().is_closed():
            self.watchdog.cancel()
        self.watchdog = None
        await super().flush()
