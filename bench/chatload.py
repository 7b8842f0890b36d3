"""The chat load both chat benchmarks drive: widget customers sending, agent consoles receiving.

`seed()` runs in a Django child (one web inbox, agents with sessions, visitors with tokens);
`ChatLoad` runs in the driving process: it opens every socket, offers messages at a fixed
rate (open loop: a send never waits for an earlier answer) and records, per message, when it
was sent, acked and delivered to each agent socket; it counts what never arrived and what
arrived twice.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass, field

from bench import harness

ORIGIN = "http://127.0.0.1"


def seed(*, visitors: int, agents: int) -> dict:
    """One web inbox, `agents` online agents with a session each, `visitors` visitor tokens."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    from bench.connections import seed as seed_visitors
    from chat.models import AgentProfile, Inbox, InboxMembership

    seeded = seed_visitors(visitors=visitors)
    inbox = Inbox.objects.get(public_id=seeded["inbox"])
    backend = next(
        (b for b in settings.AUTHENTICATION_BACKENDS if b.endswith("ModelBackend")), settings.AUTHENTICATION_BACKENDS[0]
    )
    sessions = []
    for i in range(agents):
        user = get_user_model().objects.create_user(username=f"agent{i}", password="bench-pass-123")
        AgentProfile.objects.create(user=user, display_name=f"Agent {i}", availability="online", capacity=1000)
        InboxMembership.objects.create(user=user, inbox=inbox)
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = backend
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        sessions.append(session.session_key)
    return {**seeded, "sessions": sessions, "cookie": settings.SESSION_COOKIE_NAME}


@dataclass
class Endpoints:
    """Where customers and agents connect, and how they authenticate."""

    customer_urls: list[str]
    customer_tokens: list[str | None]  # None: no auth frame
    agent_urls: list[str]
    agent_headers: list[dict] = field(default_factory=list)


def cxhub_endpoints(server: harness.Server, seeded: dict, customers: int) -> Endpoints:
    widget = f"{server.ws}/ws/widget/?inbox={seeded['inbox']}"
    return Endpoints(
        customer_urls=[widget] * customers,
        customer_tokens=seeded["tokens"][:customers],
        agent_urls=[f"{server.ws}/ws/console/"] * len(seeded["sessions"]),
        agent_headers=[{"Cookie": f"{seeded['cookie']}={key}"} for key in seeded["sessions"]],
    )


def room_endpoints(server: harness.Server, prefix: str, customers: int, agents: int) -> Endpoints:
    return Endpoints(
        customer_urls=[f"{server.ws}{prefix}c{i}/" for i in range(customers)],
        customer_tokens=[None] * customers,
        agent_urls=[f"{server.ws}{prefix}agents/"] * agents,
        agent_headers=[{}] * agents,
    )


@dataclass
class StepResult:
    offered_per_s: float
    sent: int
    acked: int
    delivered: int  # to every agent socket
    lost: int
    duplicated: int
    latencies: list[float]
    delivered_per_s: float

    def figures(self) -> dict:
        return {
            "offered_per_s": round(self.offered_per_s, 1),
            "sent": self.sent,
            "acked": self.acked,
            "delivered": self.delivered,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "delivered_per_s": round(self.delivered_per_s, 1),
            **harness.latency_figures(self.latencies),
        }


class ChatLoad:
    def __init__(self, endpoints: Endpoints):
        self.endpoints = endpoints
        self.customers: list = []
        self.agents: list = []
        self.readers: list[asyncio.Task] = []
        self.sent_at: dict[str, float] = {}
        self.acked: set[str] = set()
        self.arrivals: dict[str, int] = {}  # client_msg_id -> agent sockets it reached
        self.fully_delivered_at: dict[str, float] = {}
        self.latencies: list[float] = []
        self.duplicated = 0
        self.errors: dict[str, int] = {}
        self.seen: list[set[str]] = []
        # client_msg_ids unique to this load: a database other loads wrote to (bench/growth.py)
        # would take a repeated id for a retry of the same message and deliver nothing
        self.tag = secrets.token_hex(3)

    async def __aenter__(self) -> ChatLoad:
        from websockets.asyncio.client import connect

        e = self.endpoints
        for url, headers in zip(e.agent_urls, e.agent_headers, strict=True):
            self.agents.append(
                await connect(url, origin=ORIGIN, additional_headers=headers, ping_interval=None, max_queue=None)
            )
        sem = asyncio.Semaphore(50)

        async def open_customer(url, token):
            async with sem:
                socket = await connect(url, origin=ORIGIN, ping_interval=None, open_timeout=60, max_queue=None)
                if token is not None:
                    await socket.send(json.dumps({"type": "auth", "token": token}))
                    while json.loads(await asyncio.wait_for(socket.recv(), 60)).get("type") != "auth.ok":
                        pass
                return socket

        pairs = zip(e.customer_urls, e.customer_tokens, strict=True)
        self.customers = list(await asyncio.gather(*(open_customer(u, t) for u, t in pairs)))
        sockets = [*self.agents, *self.customers]
        self.seen = [set() for _ in sockets]
        self.readers = [
            asyncio.create_task(self._read(i, s, is_agent=i < len(self.agents))) for i, s in enumerate(sockets)
        ]
        return self

    async def __aexit__(self, *exc) -> None:
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)
        sockets = [*self.agents, *self.customers]
        await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)

    async def _read(self, index: int, socket, *, is_agent: bool) -> None:
        agents = len(self.agents)
        seen = self.seen[index]
        async for text in socket:
            now = time.perf_counter()
            frame = json.loads(text)
            kind = frame.get("type")
            if kind == "ack":
                self.acked.add(frame.get("client_msg_id") or frame["message"]["client_msg_id"])
            elif kind == "message":
                cmid = frame["message"].get("client_msg_id")
                if cmid not in self.sent_at:
                    continue
                if cmid in seen:
                    self.duplicated += 1
                    continue
                seen.add(cmid)
                if is_agent:
                    self.latencies.append(now - self.sent_at[cmid])
                    count = self.arrivals.get(cmid, 0) + 1
                    self.arrivals[cmid] = count
                    if count == agents:
                        self.fully_delivered_at[cmid] = now
            elif kind == "error":
                code = frame.get("code", "?")
                self.errors[code] = self.errors.get(code, 0) + 1

    async def warm_up(self, grace: float = 60) -> None:
        """Every customer sends one message (opening its conversation); waits until delivered."""
        started = time.perf_counter()
        result = await self.step("warm", rate=min(200.0, 20.0 * len(self.customers)), seconds=None, grace=grace)
        print(
            f"  warm-up: {result.delivered}/{result.sent} first messages delivered"
            f" in {time.perf_counter() - started:.1f} s",
            flush=True,
        )

    async def step(self, label: str, *, rate: float, seconds: float | None, grace: float) -> StepResult:
        """Offer `rate` messages/s round-robin over the customers for `seconds` (None: one each)."""
        total = len(self.customers) if seconds is None else int(rate * seconds)
        ids = [f"{label}-{self.tag}-{k}" for k in range(total)]
        first_latency = len(self.latencies)
        started = time.perf_counter()
        for k, cmid in enumerate(ids):
            due = started + k / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            socket = self.customers[k % len(self.customers)]
            self.sent_at[cmid] = time.perf_counter()
            frame = {"type": "message.send", "client_msg_id": cmid, "body": f"Hello, message {cmid}"}
            await socket.send(json.dumps(frame))
        send_done = time.perf_counter()
        deadline = send_done + grace
        while time.perf_counter() < deadline:
            if all(c in self.fully_delivered_at and c in self.acked for c in ids):
                break
            await asyncio.sleep(0.05)
        delivered = [c for c in ids if c in self.fully_delivered_at]
        last = max((self.fully_delivered_at[c] for c in delivered), default=send_done)
        return StepResult(
            offered_per_s=total / max(send_done - started, 1e-9),
            sent=total,
            acked=sum(1 for c in ids if c in self.acked),
            delivered=len(delivered),
            lost=total - len(delivered),
            duplicated=self.duplicated,
            latencies=self.latencies[first_latency:],
            delivered_per_s=len([c for c in delivered if c in self.acked]) / max(last - started, 1e-9),
        )
