"""Slow consumers (issue #19, item 3): a console socket reads nothing while its inbox gets 50
messages a second (the issue says for 60 s; here for 30 s, with smaller buffers, see below).

One uvicorn process (as `make serve` runs it: --ws cxhub.websocket_protocol:BoundedSendProtocol)
on the test database and the run's Redis. Ten widget clients write 5 messages a second each; five
consoles of the inbox's agent read everything and time each customer message from its send to
its arrival; one more console stops reading (a socket with a tiny receive buffer that nobody
reads: the laptop on a bad connection) for SLOW_SECONDS.

Checked: the server notices the silent socket (its buffers, bounded by SOCKET_SEND_BUFFER, fill
within seconds; its next send waits SOCKET_SEND_TIMEOUT s; it is shed: it leaves its groups and
closes with 4008, reason `resume`), well before the minute is over; the server process's memory
stays bounded (resident size sampled every second); the other consoles get every message, and
their p99 latency while the slow socket is attached and after it was shed is printed beside the
p99 before it came (compared with a generous bound when the server kept up before it); the slow
console, reading again, gets what was buffered and then the 4008 close, and reconnecting with
`?resume=` it gets every message of the run exactly once, in order.

Shortened, honestly: what the server must notice is a socket whose buffers are full and whose
next send waits SOCKET_SEND_TIMEOUT (10 s). With the default SOCKET_SEND_BUFFER (64 KB: 128 KB in
the kernel and 64 KB in the transport) a silent console fills them in a few seconds at 50 messages
a second, but a loaded CI machine serves far fewer; the test runs the server with
SOCKET_SEND_BUFFER=SLOW_SEND_BUFFER (8 KB), so the same condition comes as soon as the server gets
a few frames out. The console reads nothing until the server shed it and 5 s more (the others
measured after it), at least SLOW_MIN_SECONDS (20) and at most SLOW_SECONDS (60, the issue's
figure): a server lagging 20 s behind its writers (a loaded machine) gets its frames out that
much later. SLOW_MIN_SECONDS=60 SLOW_SEND_BUFFER=65536 runs the issue's figures with the
production buffer.

SLOW_SECONDS, SLOW_MIN_SECONDS and SLOW_RATE (50 messages a second) set the size;
SLOW_CONTROL=1 makes the sixth console read like the others, to see the same run without a slow
socket (on a loaded machine the server falls behind at 50 a second whatever the sixth does).
"""

import asyncio
import json
import os
import socket
import statistics
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.test import Client
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from chat.consumers.base import CLOSE_SLOW_CONSUMER
from chat.models import Message
from chat.widget import widget_session_start
from tests.chat.channel_helpers import free_port
from tests.conftest import requires_postgres, requires_redis
from tests.factories import AgentFactory, InboxFactory
from tests.servers import run_database_url

from .figures import FIGURES
from .processes import Uvicorn

pytestmark = [
    requires_postgres,
    requires_redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
]

SLOW_SECONDS = float(os.environ.get("SLOW_SECONDS", "60"))  # at most
SLOW_MIN_SECONDS = float(os.environ.get("SLOW_MIN_SECONDS", "20"))
SEND_BUFFER = os.environ.get("SLOW_SEND_BUFFER", "8192")  # the server's SOCKET_SEND_BUFFER
RATE = int(os.environ.get("SLOW_RATE", "50"))
BASELINE_SECONDS = 8.0
WRITERS = 10  # widget sockets allow 10 frames a second: 10 writers × 5 a second = 50
HEALTHY_CONSOLES = 5
CONTROL = bool(os.environ.get("SLOW_CONTROL"))  # the sixth console reads too (a control run)
ORIGIN = "http://127.0.0.1"
LOGS = Path(__file__).resolve().parents[2] / "test-artifacts" / "faults"


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 2 else float("nan")


class Console:
    """A console socket that reads every frame and times the customer messages it gets."""

    def __init__(self, ws):
        self.ws = ws
        self.arrivals: dict[str, float] = {}  # client_msg_id → when it arrived

    async def read(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                frame = json.loads(await asyncio.wait_for(self.ws.recv(), 1))
            except TimeoutError:
                continue
            if frame["type"] == "message" and frame["message"]["sender"]["kind"] == "contact":
                self.arrivals.setdefault(frame["message"]["client_msg_id"], time.monotonic())


async def slow_socket(url: str, cookie: str):
    """A console socket whose receive buffer is tiny and which nobody reads."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    host, port = url.split("//")[1].split("/")[0].split(":")
    raw.connect((host, int(port)))
    ws = await connect(url, sock=raw, origin=ORIGIN, additional_headers={"Cookie": f"sessionid={cookie}"},
                       max_queue=1, ping_interval=None, max_size=2**22)  # fmt: skip
    assert json.loads(await ws.recv())["type"] == "ready"
    return ws


def test_a_console_that_reads_nothing_does_not_grow_the_server_nor_slow_the_others(transactional_db):
    # given a web inbox, its agent, and WRITERS visitors
    inbox = InboxFactory(allowed_origins=[ORIGIN], prechat_form=False)
    agent = AgentFactory(inboxes=[inbox], availability="busy").user
    browser = Client()
    browser.force_login(agent)
    cookie = browser.cookies["sessionid"].value
    tokens = [widget_session_start(inbox=inbox, name=f"Writer {n}").visitor_token for n in range(WRITERS)]
    port = free_port()
    queue = f"cxhub_faults_slow_{port}"
    env = {"DATABASE_URL": run_database_url(), "CHANNEL_LAYER_PREFIX": queue, "CELERY_QUEUE": queue, "DEBUG": "true",
           "SOCKET_SEND_BUFFER": SEND_BUFFER}  # fmt: skip
    LOGS.mkdir(parents=True, exist_ok=True)
    sent_at: dict[str, float] = {}
    memory: list[tuple[float, float]] = []
    phases: dict[str, float] = {}
    slow_closed: dict = {}

    async def write(token: str, stop: asyncio.Event) -> None:
        ws = await connect(f"ws://127.0.0.1:{port}/ws/widget/?inbox={inbox.public_id}", origin=ORIGIN)
        await ws.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(await ws.recv())["type"] == "auth.ok"

        async def drain():
            while True:
                await ws.recv()

        reader = asyncio.ensure_future(drain())
        interval = WRITERS / RATE
        next_at = time.monotonic()
        while not stop.is_set():
            cmid = uuid.uuid4().hex[:16]
            sent_at[cmid] = time.monotonic()
            await ws.send(json.dumps({"type": "message.send", "client_msg_id": cmid, "body": "hello " * 20}))
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        await asyncio.sleep(1)  # the last acks
        reader.cancel()
        await ws.close()

    async def run(server_pid: int):
        base = f"ws://127.0.0.1:{port}/ws/console/"
        consoles = []
        for _ in range(HEALTHY_CONSOLES):
            ws = await connect(
                base, origin=ORIGIN, additional_headers={"Cookie": f"sessionid={cookie}"}, max_size=2**22
            )
            assert json.loads(await ws.recv())["type"] == "ready"
            consoles.append(Console(ws))
        stop, stop_reading = asyncio.Event(), asyncio.Event()
        readers = [asyncio.ensure_future(c.read(stop_reading)) for c in consoles]

        log_path = LOGS / "slow-server.log"

        async def sample():
            while not stop.is_set():
                memory.append((time.monotonic(), resident_mb(server_pid)))
                if "shed" not in phases and "slow" in phases and "closing a slow socket" in log_path.read_text():
                    phases["shed"] = time.monotonic()  # within a second of the server's log line
                await asyncio.sleep(1)

        sampler = asyncio.ensure_future(sample())
        writers = [asyncio.ensure_future(write(t, stop)) for t in tokens]
        # when the inbox gets RATE messages a second: first with every console reading
        await asyncio.sleep(2)
        phases["baseline"] = time.monotonic()
        await asyncio.sleep(BASELINE_SECONDS)
        # then one more console that reads nothing for SLOW_SECONDS
        slow = await slow_socket(base, cookie)
        if CONTROL:  # the same run with a console that reads: what the figures are without a slow one
            readers.append(asyncio.ensure_future(Console(slow).read(stop_reading)))
        phases["slow"] = time.monotonic()
        while (elapsed := time.monotonic() - phases["slow"]) < SLOW_SECONDS:
            shed = phases.get("shed")
            if elapsed >= SLOW_MIN_SECONDS and (CONTROL or (shed and time.monotonic() - shed >= 5)):
                break
            await asyncio.sleep(1)
        phases["end"] = time.monotonic()
        # the slow console reads again: what was buffered, then the server's close (or the end)
        slow_frames = 0
        try:
            while True:
                await asyncio.wait_for(slow.recv(), 3)
                slow_frames += 1
                slow_closed["frames"] = slow_frames
        except ConnectionClosed as closed:
            slow_closed["code"] = closed.rcvd.code if closed.rcvd else 1006
            slow_closed["reason"] = closed.rcvd.reason if closed.rcvd else None
        except TimeoutError:
            slow_closed["code"] = "still open"
            await slow.close()
        stop.set()
        await asyncio.gather(*writers)
        # the consoles read until every message has come (a loaded server lags) or none came for
        # 2 s, at most 30 s
        deadline, counts = time.monotonic() + 30, None
        while time.monotonic() < deadline:
            await asyncio.sleep(2)
            now = [len(c.arrivals) for c in consoles]
            if now == counts or min(now) >= len(sent_at):
                break
            counts = now
        stop_reading.set()
        await asyncio.gather(*readers, sampler)
        # and, reconnecting with ?resume=, it gets every message of the run once, in order
        conversations = await asyncio.to_thread(
            lambda: sorted(
                set(Message.objects.filter(conversation__inbox=inbox).values_list("conversation_id", flat=True))
            )
        )
        resume = ",".join(f"{c}:0" for c in conversations)
        ws = await connect(f"{base}?resume={resume}", origin=ORIGIN, max_size=2**24,
                           additional_headers={"Cookie": f"sessionid={cookie}"})  # fmt: skip
        got: dict[int, list[int]] = {}
        done = 0
        while done < len(conversations):
            frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if frame["type"] == "message":
                got.setdefault(frame["message"]["conversation_id"], []).append(frame["message"]["seq"])
            elif frame["type"] == "resume.done":
                done += 1
        await ws.close()
        for console in consoles:
            await console.ws.close()
        return got, consoles

    (LOGS / "slow-server.log").unlink(missing_ok=True)
    server = Uvicorn(
        port, env=env, log=LOGS / "slow-server.log", args=tuple(os.environ.get("SLOW_UVICORN_ARGS", "").split())
    )
    server.start()
    try:
        got, consoles = asyncio.run(run(server.process.pid))
    finally:
        server.terminate()
    redis.Redis.from_url(os.environ["REDIS_URL"]).delete(queue)
    log = (LOGS / "slow-server.log").read_text()

    # then the other consoles' latency did not change and the server's memory stayed bounded
    def latencies(start: float, end: float) -> list[float]:
        return [
            arrived - sent_at[cmid]
            for console in consoles
            for cmid, arrived in console.arrivals.items()
            if start <= sent_at.get(cmid, -1) < end
        ]

    shed_at = phases.get("shed", phases["end"])
    before = latencies(phases["baseline"], phases["slow"])
    attached = latencies(phases["slow"], shed_at)  # the slow socket is in the inbox's group
    after = latencies(shed_at + 1, phases["end"])  # it was shed; the writers go on
    during = attached + after
    baseline_mb = max(mb for at, mb in memory if at < phases["slow"])
    peak_mb = max(mb for _at, mb in memory)
    messages = sorted(Message.objects.filter(conversation__inbox=inbox).values_list("conversation_id", "seq"))
    expected: dict[int, list[int]] = {}
    for conversation_id, seq in messages:
        expected.setdefault(conversation_id, []).append(seq)

    def ms(values: list[float], quantile=p99) -> float:
        return round(quantile(values) * 1000, 1) if values else float("nan")

    FIGURES.update(
        slow_seconds=round(phases["end"] - phases["slow"], 1),
        slow_send_buffer_bytes=int(SEND_BUFFER),
        slow_rate_per_second=RATE,
        slow_messages=len(messages),
        slow_others_p99_ms_before=ms(before),
        slow_others_p99_ms_while_attached=ms(attached),
        slow_others_p99_ms_after_shed=ms(after),
        slow_others_p50_ms_before=ms(before, statistics.median),
        slow_others_p50_ms_during=ms(during, statistics.median),
        slow_server_rss_mb_before=round(baseline_mb, 1),
        slow_server_rss_mb_peak=round(peak_mb, 1),
        slow_socket_shed_after_s=round(shed_at - phases["slow"], 1) if "shed" in phases else "not shed",
        slow_socket_detected=[
            line.split("closing a slow socket ")[1][:70] for line in log.splitlines() if "closing a slow socket" in line
        ][:2],  # fmt: skip
        slow_layer_overflows=log.count("chat.overflow"),
        slow_socket_close=slow_closed.get("code"),
        slow_socket_frames_after=slow_closed.get("frames"),
        slow_others_arrivals=[len(c.arrivals) for c in consoles],
    )
    FIGURES["slow_control_run"] = CONTROL
    assert peak_mb - baseline_mb < 50, (baseline_mb, peak_mb)
    assert all(len(c.arrivals) == len(messages) for c in consoles), "the other consoles missed messages"
    if not CONTROL:
        # the server noticed the silent socket within the minute and closed it with the resume hint
        assert "shed" in phases, "the slow socket was not detected"
        assert (slow_closed.get("code"), slow_closed.get("reason")) == (CLOSE_SLOW_CONSUMER, "resume"), slow_closed
    if p99(before) < 0.5:
        bound = max(3 * p99(before), p99(before) + 0.5)  # generous: a 2-core machine shared with others
        assert p99(during) <= bound, (p99(before), p99(attached), p99(after))
    else:  # the server did not keep up even before (a loaded machine): a comparison would mean nothing
        FIGURES["slow_others_p99_compared"] = "no: the server was saturated before the slow socket came"
    # and the slow console, resuming, gets every message once, in order
    assert got == expected
