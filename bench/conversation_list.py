"""conversation_list: /api/v1/conversations/ pages of 50 over 100,000 conversations vs the N+1 peer.

Figures: SQL queries per request (at page sizes 10, 50 and 200), p50/p99 latency and
requests/s with a few concurrent clients, for cxhub and for a plain DRF ModelViewSet with
nested serializers (bench/peers/drf_conversations.py) served by the same process.
Target: at most 6 queries whatever the page size, and at least 5x the peer's throughput.

    .venv/bin/python bench/conversation_list.py [--quick]
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

NAME = "conversation_list"
TARGET = {"queries_max": 6, "ratio_min": 5.0}
PAGE_SIZES = (10, 50, 200)


def seed(*, conversations: int, seed: int = 8) -> dict:
    """Inboxes, agents and `conversations` conversations (one contact each); returns the token."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from accounts.services import api_token_create
    from chat.models import AgentProfile, Contact, Conversation, Inbox, InboxMembership, Team

    rng = random.Random(seed)
    User = get_user_model()
    teams = [Team.objects.create(name=f"Team {i}") for i in range(4)]
    inboxes = [
        Inbox.objects.create(name=f"Web {i}", channel="web", allowed_origins=["http://127.0.0.1"]) for i in range(4)
    ]
    agents = []
    for i in range(30):
        user = User.objects.create_user(username=f"agent{i}", password="bench-pass-123")
        AgentProfile.objects.create(user=user, display_name=f"Agent {i}", availability="online")
        for inbox in rng.sample(inboxes, 2):
            InboxMembership.objects.create(user=user, inbox=inbox)
        agents.append(user)
    reader = User.objects.create_user(username="reader", password="bench-pass-123")
    AgentProfile.objects.create(user=reader, display_name="Reader", availability="online")
    for inbox in inboxes[:3]:
        InboxMembership.objects.create(user=reader, inbox=inbox)
    token = api_token_create(user=reader, name="bench")[1]

    now = timezone.now()
    batch = 5000
    for start in range(0, conversations, batch):
        size = min(batch, conversations - start)
        contacts = Contact.objects.bulk_create(
            [Contact(name=f"Customer {start + i}", email=f"c{start + i}@example.com") for i in range(size)]
        )
        rows = []
        for contact in contacts:
            opened = now - timedelta(seconds=rng.randint(0, 90 * 86400))
            status = rng.choices(["resolved", "open", "pending", "snoozed"], [80, 12, 6, 2])[0]
            rows.append(
                Conversation(
                    contact=contact,
                    inbox=rng.choice(inboxes),
                    status=status,
                    assignee=rng.choice(agents) if rng.random() < 0.8 else None,
                    team=rng.choice(teams) if rng.random() < 0.7 else None,
                    subject=f"Order question {contact.pk}",
                    opened_at=opened,
                    first_reply_at=opened + timedelta(minutes=3),
                    resolved_at=opened + timedelta(hours=2) if status == "resolved" else None,
                    last_activity_at=opened + timedelta(minutes=rng.randint(1, 600)),
                    last_seq=rng.randint(1, 30),
                    last_customer_channel="web",
                )
            )
        Conversation.objects.bulk_create(rows)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"token": token}


def count_queries(*, token: str, page_sizes: list[int]) -> dict:
    """SQL queries of one request per page size, for cxhub and the peer (CaptureQueriesContext)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")
    counts: dict = {"ours": {}, "peer": {}}
    for side, url in (("ours", "/api/v1/conversations/"), ("peer", "/bench/peer/conversations/")):
        for size in page_sizes:
            with CaptureQueriesContext(connection) as queries:
                response = client.get(url, {"page_size": size})
            assert response.status_code == 200, response.content[:300]
            assert len(response.json()["results"]) == size
            counts[side][f"queries_page{size}"] = len(queries)
    return counts


async def _get(session, url: str) -> tuple[float, dict]:
    started = time.perf_counter()
    async with session.get(url) as response:
        body = await response.json()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"GET {url} -> {response.status}: {body}")
        return elapsed, body


async def _measure(session, urls: list[str], *, concurrency: int, seconds: float) -> dict:
    """GETs of random pages from `urls` for `seconds`, `concurrency` clients at a time."""
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + seconds

    async def client():
        while time.perf_counter() < deadline:
            elapsed, _ = await _get(session, random.choice(urls))
            latencies.append(elapsed)

    await asyncio.gather(*(client() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    return {
        **harness.latency_figures(latencies),
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / wall, 1),
    }


async def drive(base: str, token: str, *, pages: int, concurrency: int, seconds: float) -> tuple[dict, dict]:
    import aiohttp

    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        ours_url, peer_url = f"{base}/api/v1/conversations/", f"{base}/bench/peer/conversations/"
        ours: dict = {}
        peer: dict = {}
        # the pages a user scrolls through: cxhub follows its cursors, the peer counts pages
        ours_urls, url = [], ours_url
        for _ in range(pages):
            ours_urls.append(url)
            _, body = await _get(session, url)
            url = body.get("next")
            if not url:
                break
        peer_urls = [f"{peer_url}?page={n}" for n in range(1, len(ours_urls) + 1)]
        for urls in (ours_urls, peer_urls):  # warm both paths
            await _measure(session, urls, concurrency=concurrency, seconds=2)
        ours.update(await _measure(session, ours_urls, concurrency=concurrency, seconds=seconds))
        peer.update(await _measure(session, peer_urls, concurrency=concurrency, seconds=seconds))
        return ours, peer


def main(argv=None) -> dict:
    args = harness.parse_args(__doc__.splitlines()[0], argv)
    n = 10_000 if args.quick else 100_000
    seconds = 5.0 if args.quick else 20.0
    with harness.Stack(NAME) as stack:
        seeded = stack.call("bench.conversation_list:seed", conversations=n)
        queries = stack.call("bench.conversation_list:count_queries", token=seeded["token"], page_sizes=PAGE_SIZES)
        server = stack.server()
        with harness.profiled(stack, server, args.profile):
            ours, peer = asyncio.run(drive(server.http, seeded["token"], pages=20, concurrency=4, seconds=seconds))
    ours, peer = {**queries["ours"], **ours}, {**queries["peer"], **peer}
    ours["conversations"] = n
    ratio = ours["requests_per_s"] / peer["requests_per_s"]
    worst_queries = max(ours[f"queries_page{size}"] for size in PAGE_SIZES)
    ok = worst_queries <= TARGET["queries_max"] and ratio >= TARGET["ratio_min"]
    return harness.report(NAME, ours, peer, ratio, TARGET, ok)


if __name__ == "__main__":
    main()
