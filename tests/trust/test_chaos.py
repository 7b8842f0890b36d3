"""Chaos chat: 200 widget clients against a real server, random disconnects, Redis restarted mid-run.

Needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL): the server under test is a uvicorn child
process on the test database, and its channel layer is a redis-server this test starts on a free
port of its own (the shared Redis is never touched) and kills and restarts in the middle.

Each client sends messages (a new client_msg_id each; an unacknowledged one is sent again, with
the same id, after reconnecting), disconnects at random (clean close or dropped connection),
reconnects with `resume`. Some clients never disconnect on their own: they hold their socket
across the Redis restart, and at the end must still get live frames (the server recovered
without a restart). Checked: 0 lost (every acknowledged message stored, every stored message
delivered), 0 duplicated, 0 out of order.

CHAOS_CLIENTS (200) and CHAOS_SECONDS (20 in CI; `make chaos` runs 120) set the size.
"""

import asyncio
import json
import os
import random
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chat.models import Conversation, Message
from chat.widget import widget_session_start
from tests.chat.channel_helpers import free_port
from tests.conftest import requires_postgres, requires_redis
from tests.factories import InboxFactory
from tests.servers import run_database_url, uvicorn_server, wait_port

from .figures import FIGURES

pytestmark = [requires_postgres, requires_redis, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CLIENTS = int(os.environ.get("CHAOS_CLIENTS", "200"))
SECONDS = float(os.environ.get("CHAOS_SECONDS", "20"))
TIMEOUT = 30.0  # generous: the run must hold on a loaded CI machine; correctness is what is asserted
PAUSE = (2.0, 5.0)  # seconds between a client's messages: 200 clients ≈ 57 messages a second
STABLE_SHARE = 0.2  # clients that keep their socket across the Redis restart
ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / "test-artifacts" / "chaos"
ERRORS: Counter = Counter()  # what the clients met (printed with the figures)


class OwnRedis:
    """A redis-server of this test only (no persistence: a restart loses everything, like a crash)."""

    def __init__(self):
        self.port = free_port()
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def own_redis():
    redis = OwnRedis()
    redis.start()
    yield redis
    redis.kill()


@pytest.fixture
def server(own_redis):
    """uvicorn serving cxhub on the test database, its channel layer on our own Redis."""
    port = free_port()
    env = {
        "DATABASE_URL": run_database_url(),
        "REDIS_URL": f"redis://127.0.0.1:{own_redis.port}/0",
        "CHANNEL_LAYER_PREFIX": "chaos",
        "CELERY_TASK_ALWAYS_EAGER": "true",  # no broker traffic: Redis is the thing being broken
        "DEBUG": "true",
    }
    LOGS.mkdir(parents=True, exist_ok=True)
    with uvicorn_server(port, env=env, log=LOGS / "server.log"):
        yield port


@dataclass
class Tally:
    acked: set = field(default_factory=set)
    duplicated: int = 0
    out_of_order: int = 0
    frames: int = 0
    connections: int = 0
    dropped: int = 0
    live_after_restart: int = 0


@dataclass
class Visitor:
    number: int
    token: str
    stable: bool
    conversation_id: int | None = None
    last_seq: int = 0
    sent: dict = field(default_factory=dict)  # client_msg_id → acknowledged?
    seen: set = field(default_factory=set)  # client_msg_ids that came back as message frames
    tally: Tally = field(default_factory=Tally)

    def see(self, message: dict) -> None:
        """A `message` frame: it must be the next seq of the conversation, exactly."""
        self.tally.frames += 1
        self.conversation_id = message["conversation_id"]
        self.seen.add(message.get("client_msg_id"))
        seq = message["seq"]
        if seq <= self.last_seq:
            self.tally.duplicated += 1
        elif seq > self.last_seq + 1:
            self.tally.out_of_order += 1
            self.last_seq = seq
        else:
            self.last_seq = seq


async def open_socket(url: str, visitor: Visitor):
    from websockets.asyncio.client import connect

    ws = await connect(url, origin="http://127.0.0.1", open_timeout=30, ping_interval=None, max_size=2**20)
    await ws.send(json.dumps({"type": "auth", "token": visitor.token}))
    ok = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    assert ok["type"] == "auth.ok", ok
    visitor.tally.connections += 1
    visitor.conversation_id = ok["conversation_id"] or visitor.conversation_id
    if visitor.conversation_id:
        await ws.send(
            json.dumps({"type": "resume", "conversation_id": visitor.conversation_id, "after_seq": visitor.last_seq})
        )
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            if frame["type"] == "message":
                visitor.see(frame["message"])
            elif frame["type"] == "resume.done":
                break
    return ws


async def send_one(ws, visitor: Visitor, *, timeout: float = 20) -> str | None:
    """Send the oldest unacknowledged message (or a new one); the ack's client_msg_id, or None."""
    pending = [cmid for cmid, acked in visitor.sent.items() if not acked]
    cmid = pending[0] if pending else f"v{visitor.number}-{uuid.uuid4().hex[:12]}"
    visitor.sent.setdefault(cmid, False)
    await ws.send(json.dumps({"type": "message.send", "client_msg_id": cmid, "body": f"client {visitor.number}"}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
        if frame["type"] == "message":
            visitor.see(frame["message"])
        elif frame["type"] == "ack" and frame["client_msg_id"] == cmid:
            visitor.sent[cmid] = True
            visitor.tally.acked.add(cmid)
            return cmid
        elif frame["type"] == "error" and frame.get("code") not in ("rate_limited",):
            ERRORS["frame " + frame.get("code", "")] += 1
            return None
    return None


async def run_visitor(url: str, visitor: Visitor, stop_at: float) -> None:
    rng = random.Random(visitor.number)
    await asyncio.sleep(rng.uniform(0, min(5.0, SECONDS / 4)))  # arrivals spread, not one burst
    while time.monotonic() < stop_at:
        try:
            ws = await open_socket(url, visitor)
            life = float("inf") if visitor.stable else rng.uniform(1.5, 6)
            until = min(stop_at, time.monotonic() + life)
            while time.monotonic() < until:
                await send_one(ws, visitor)
                await asyncio.sleep(rng.uniform(*PAUSE))
            if time.monotonic() >= stop_at and visitor.stable:
                visitor.ws = ws  # kept open for the recovery probe
                return
            if rng.random() < 0.5:
                await ws.close()
            else:
                ws.transport.abort()  # the network drops it
                visitor.tally.dropped += 1
        except Exception as error:  # closed by the server, refused, timed out: reconnect, like the widget does
            visitor.tally.dropped += 1
            ERRORS[type(error).__name__ + ": " + str(error)[:80]] += 1
            await asyncio.sleep(rng.uniform(0.2, 1.0))


async def probe_live(visitor: Visitor) -> bool:
    """On a socket opened before the Redis restart: the own message comes back live, as a frame."""
    ws = getattr(visitor, "ws", None)
    if ws is None:
        return False
    try:
        cmid = await send_one(ws, visitor)
        deadline = time.monotonic() + TIMEOUT
        while cmid is not None and cmid not in visitor.seen and time.monotonic() < deadline:
            try:
                frame = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
            except TimeoutError:
                break
            if frame["type"] == "message":
                visitor.see(frame["message"])
        return cmid is not None and cmid in visitor.seen
    except Exception:
        return False
    finally:
        await ws.close()


async def final_resume(url: str, visitor: Visitor, gate: asyncio.Semaphore) -> None:
    async with gate:
        await _final_resume(url, visitor)


async def _final_resume(url: str, visitor: Visitor) -> None:
    for attempt in range(5):
        try:
            ws = await open_socket(url, visitor)
            await ws.close()
            return
        except Exception as error:
            ERRORS["final resume: " + type(error).__name__] += 1
            await asyncio.sleep(0.5 * (attempt + 1))


def test_chaos_chat(server, own_redis):
    # given an inbox and CLIENTS visitors with their sessions
    inbox = InboxFactory(allowed_origins=["http://127.0.0.1"])
    visitors = [
        Visitor(n, widget_session_start(inbox=inbox, name=f"Chaos {n}").visitor_token, n < CLIENTS * STABLE_SHARE)
        for n in range(CLIENTS)
    ]
    url = f"ws://127.0.0.1:{server}/ws/widget/?inbox={inbox.public_id}"

    async def chaos():
        stop_at = time.monotonic() + SECONDS
        tasks = [asyncio.create_task(run_visitor(url, v, stop_at)) for v in visitors]
        # when Redis dies in the middle and comes back (empty) a moment later
        await asyncio.sleep(SECONDS / 2)
        own_redis.kill()
        await asyncio.sleep(2)
        own_redis.start()
        await asyncio.gather(*tasks)
        # the clients that kept their socket across the restart still get live frames
        live = await asyncio.gather(*(probe_live(v) for v in visitors if v.stable))
        # and every client resumes once more: whatever it missed comes now
        gate = asyncio.Semaphore(20)
        await asyncio.gather(*(final_resume(url, v, gate) for v in visitors))
        return live

    live = asyncio.run(chaos())

    # then: 0 lost, 0 duplicated, 0 out of order
    lost = duplicated = out_of_order = 0
    for visitor in visitors:
        acked = visitor.tally.acked
        stored = list(
            Message.objects.filter(conversation__inbox=inbox, client_msg_id__in=list(visitor.sent)).values_list(
                "client_msg_id", flat=True
            )
        )
        lost += len(acked - set(stored))
        duplicated += len(stored) - len(set(stored)) + visitor.tally.duplicated
        out_of_order += visitor.tally.out_of_order
        conversation = Conversation.objects.filter(pk=visitor.conversation_id).first()
        if conversation is not None:
            lost += max(0, conversation.last_seq - visitor.last_seq)  # stored but never delivered
    sent = sum(len(v.tally.acked) for v in visitors)
    FIGURES.update(
        chaos_clients=CLIENTS,
        chaos_seconds=int(SECONDS),
        chaos_messages_acked=sent,
        chaos_frames=sum(v.tally.frames for v in visitors),
        chaos_reconnects=sum(v.tally.connections for v in visitors) - CLIENTS,
        chaos_lost=lost,
        chaos_duplicated=duplicated,
        chaos_out_of_order=out_of_order,
        chaos_live_after_restart=sum(live),
        chaos_stable_clients=len(live),
    )
    print("client-side errors (each followed by a reconnect):", dict(ERRORS.most_common(8)))
    assert sent >= CLIENTS / 2, "the run sent almost nothing; the server did not keep up"
    assert (lost, duplicated, out_of_order) == (0, 0, 0)
    assert all(live), (
        f"{live.count(False)} of {len(live)} sockets opened before the Redis restart stopped getting frames"
    )
