"""connections: 5,000 idle, authenticated widget sockets: memory per connection, connects per second.

cxhub's /ws/widget/ (Channels consumer, RedisChannelLayer, a signed visitor token, two groups
joined, then one PostgreSQL statement for the token's liveness and the session state) beside a
raw ASGI app that only accepts and answers the auth frame (bench/peers/raw_ws.py), both under the
same uvicorn. Memory per connection is the server
process's RSS growth divided by the number of open sockets; a connect is a handshake plus an
answered `auth` frame. Target (issue #18): at most 30 KB per connection and at least 1,000 connects/s.

    .venv/bin/python bench/connections.py [--quick] [--legacy-tokens]
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

NAME = "connections"
TARGET = {"kb_per_connection_max": 30, "connects_per_s_min": 1000}
ORIGIN = "http://127.0.0.1"


def seed(*, visitors: int, legacy_tokens: bool = False) -> dict:
    """One web inbox and `visitors` contacts with a visitor token each; returns the raw tokens:
    signed ones as sessions issue them (chat.widget), or opaque ones of before (`legacy_tokens`)."""
    import secrets

    from chat.models import Contact, ContactIdentity, Inbox, VisitorToken, hash_token

    signed_token_of = None if legacy_tokens else importlib.import_module("chat.widget").signed_token_of

    inbox = Inbox.objects.create(name="Shop", channel="web", allowed_origins=[ORIGIN])
    contacts = Contact.objects.bulk_create([Contact(name=f"Visitor {i}") for i in range(visitors)], batch_size=2000)
    ContactIdentity.objects.bulk_create(
        [ContactIdentity(contact=c, kind="visitor", value=f"v-{c.pk}") for c in contacts], batch_size=2000
    )
    rows = VisitorToken.objects.bulk_create(
        [VisitorToken(inbox=inbox, contact=c, token_hash=secrets.token_hex(32)) for c in contacts], batch_size=2000
    )
    tokens = [secrets.token_urlsafe(24) if legacy_tokens else signed_token_of(row) for row in rows]
    for row, token in zip(rows, tokens, strict=True):
        row.token_hash = hash_token(token)
    VisitorToken.objects.bulk_update(rows, ["token_hash"], batch_size=2000)
    return {"inbox": inbox.public_id, "tokens": tokens}


async def _open(url: str, token: str):
    from websockets.asyncio.client import connect

    socket = await connect(url, origin=ORIGIN, open_timeout=60, ping_interval=None, close_timeout=2)
    await socket.send(json.dumps({"type": "auth", "token": token}))
    frame = json.loads(await asyncio.wait_for(socket.recv(), 60))
    if frame.get("type") != "auth.ok":
        raise RuntimeError(f"auth answered {frame}")
    return socket


async def measure(
    server: harness.Server, url: str, tokens: list[str], *, concurrency: int, idle: float, budget: float = 240
) -> dict:
    """Open one socket per token (at most `budget` seconds), `concurrency` in flight; hold them idle."""
    warm = await _open(url, tokens[0])  # imports, connection pools: not part of the growth
    await warm.close()
    await asyncio.sleep(1.0)
    rss_before = server.rss()
    sockets = []
    pending = iter(tokens)
    failures = 0

    give_up_at = time.perf_counter() + budget

    async def opener():
        nonlocal failures
        for token in pending:
            if time.perf_counter() > give_up_at:  # a bounded run: report how many it reached
                return
            try:
                sockets.append(await _open(url, token))
            except Exception:
                failures += 1

    started, cpu = time.perf_counter(), harness.cpu_seconds(server.pid)
    await asyncio.gather(*(opener() for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - started, harness.cpu_seconds(server.pid) - cpu
    await asyncio.sleep(idle)
    rss_after = server.rss()
    alive = sum(1 for s in sockets if s.state.name == "OPEN")
    for start in range(0, len(sockets), 500):
        await asyncio.gather(*(s.close() for s in sockets[start : start + 500]), return_exceptions=True)
    return {
        "sockets": len(sockets),
        "still_open_after_idle": alive,
        "failed": failures,
        "connects_per_s": round(len(sockets) / elapsed, 1),
        # CPU of the server process per connect: what a loaded machine changes least
        "server_cpu_ms_per_connect": round(1000 * cpu / max(len(sockets), 1), 3),
        "kb_per_connection": round((rss_after - rss_before) / max(len(sockets), 1) / 1024, 2),
        "server_rss_mb": round(rss_after / 2**20, 1),
    }


def main(argv=None) -> dict:
    args = harness.parse_args(
        __doc__.splitlines()[0],
        argv,
        legacy_tokens={"action": "store_true", "help": "opaque visitor tokens of before (read by their hash)"},
    )
    n = 1000 if args.quick else 5000
    idle = 3.0 if args.quick else 12.0  # past the widget's 10 s auth timeout: sockets must stay
    harness.raise_open_files_limit(4 * n + 1024)
    with harness.Stack(NAME) as stack:
        seeded = stack.call("bench.connections:seed", visitors=n, legacy_tokens=args.legacy_tokens)
        server = stack.server()
        url = f"{server.ws}/ws/widget/?inbox={seeded['inbox']}"
        with harness.profiled(stack, server, args.profile):
            ours = asyncio.run(measure(server, url, seeded["tokens"], concurrency=50, idle=idle))
        server.process.stop()
        peer_server = stack.server("bench.peers.raw_ws:connections_app", name="peer", wait_path="/")
        peer = asyncio.run(measure(peer_server, f"{peer_server.ws}/ws/", seeded["tokens"], concurrency=50, idle=idle))
    ratio = ours["connects_per_s"] / peer["connects_per_s"]
    ok = (
        ours["kb_per_connection"] <= TARGET["kb_per_connection_max"]
        and ours["connects_per_s"] >= TARGET["connects_per_s_min"]
        and ours["failed"] == 0
        and ours["still_open_after_idle"] == ours["sockets"] == n
    )
    return harness.report(NAME, ours, peer, ratio, TARGET, ok)


if __name__ == "__main__":
    main()
