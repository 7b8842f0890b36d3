"""search: /api/v1/search/ p50/p99 over 1,000,000 messages, beside a naive `icontains` scan.

Seeds, with set-based SQL, 20,000 contacts and conversations (subjects) and 1,000,000 messages
(50 per conversation) in 4 inboxes: 8 to 24 words each from a 2,000-word vocabulary drawn with a
Zipf-like skew (the commonest word is in about a third of the messages, the rarest in a few
dozen), one message in twenty in Chinese or Japanese; the index column is then written by
chat/search.py's own writer (`reindex_messages`, checked on a sample). Then times the search as an agent of 3 of the 4
inboxes, one request at a time, cycling through queries of every kind: a common word, a
mid-frequency word, a rare word, two words, a phrase, a word with an exclusion, "a or b", a
Chinese and a Japanese phrase, an email fragment. The peer is bench/peers/search_scan.py (the
same answer by `icontains`). Target: p99 under 100 ms.

    .venv/bin/python bench/search.py [--quick]
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

NAME = "search"
TARGET = {"p99_ms_max": 100}
VOCABULARY = 2000
CONVERSATIONS = 20_000
CJK_PHRASES = ["我想申请退款", "包裹还没有到", "配送が遅れています", "注文をキャンセルしたい", "发票信息有误"]


def word(rank: int) -> str:
    """The vocabulary: made-up but pronounceable words, rank 0 the commonest."""
    consonants, vowels = "bcdfghklmnprstvz", "aeiou"
    letters, n = [], rank + 7
    for _ in range(3):
        letters.append(consonants[n % 16] + vowels[(n // 16) % 5])
        n //= 80
    return "".join(letters) + ("" if rank < 400 else str(rank % 7))


QUERIES = {
    "common word": lambda: word(0),
    "mid word": lambda: word(60),
    "rare word": lambda: word(1900),
    "two words": lambda: f"{word(3)} {word(150)}",
    "phrase": lambda: f'"{word(1)} {word(2)}"',
    "exclusion": lambda: f"{word(20)} -{word(0)}",
    "a or b": lambda: f"{word(700)} or {word(800)}",
    "chinese": lambda: "退款",
    "japanese": lambda: "配送",
    "email fragment": lambda: "c1234@",
}


def seed(*, messages: int) -> dict:
    """Inboxes, an agent of three of them with a token, contacts, conversations and messages."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.services import api_token_create
    from bench.metrics_summary import _insert_select, _next_id
    from chat import search
    from chat.models import AgentProfile, Contact, Conversation, Inbox, InboxMembership, Message

    User = get_user_model()
    inboxes = [Inbox.objects.create(name=f"Web {i}", channel="web") for i in range(4)]
    reader = User.objects.create_user(username="reader", password="bench-pass-123")
    AgentProfile.objects.create(user=reader, display_name="Reader")
    for inbox in inboxes[:3]:
        InboxMembership.objects.create(user=reader, inbox=inbox)
    token = api_token_create(user=reader, name="bench")[1]

    conversations = min(CONVERSATIONS, max(1, messages // 50))
    per = max(1, messages // conversations)
    inbox_ids = "ARRAY[" + ",".join(str(i.pk) for i in inboxes) + "]::bigint[]"
    words = "ARRAY[" + ",".join(f"'{word(r)}'" for r in range(VOCABULARY)) + "]::text[]"
    cjk = "ARRAY[" + ",".join(f"'{p}'" for p in CJK_PHRASES) + "]::text[]"
    now_sql = f"'{timezone.now().isoformat()}'::timestamptz"
    c0, v0 = _next_id(Contact), _next_id(Conversation)
    conv_series = f"generate_series(1::bigint, {conversations}::bigint) AS g"
    # message m of conversation k: g = (k - 1) * per + m
    msg_series = (
        f"generate_series(1::bigint, {conversations}::bigint) AS k, generate_series(1::bigint, {per}::bigint) AS m, "
        "LATERAL (SELECT (k - 1) * " + str(per) + " + m AS g) AS numbered"
    )
    # a Zipf-like pick: rank = floor(V * u^3), u uniform: small ranks much more often
    pick = f"({words})[1 + floor({VOCABULARY} * power(random(), 3))::int]"
    latin_body = f"(SELECT string_agg({pick}, ' ') FROM generate_series(1, 8 + (g * 7) %% 17) WHERE g > 0)"
    cjk_body = f"(({cjk})[1 + ((g / 20) %% 5)::int] || '，' || {pick} || ' ' || {pick})"
    body = f"(CASE WHEN g %% 20 = 0 THEN {cjk_body} ELSE {latin_body} END)"
    created = f"({now_sql} - make_interval(secs => ({messages} - g)::float8))"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        _insert_select(Contact, {"name": "'Customer ' || g", "email": "'c' || g || '@example.com'"}, conv_series)
        _insert_select(
            Conversation,
            {
                "contact_id": f"{c0 - 1} + g",
                "inbox_id": f"({inbox_ids})[(1 + g %% 4)::int]",
                "subject": f"'Question about ' || {pick}",
                "last_seq": str(per),
                "last_customer_channel": "'web'",
                "email_thread_token": "md5(random()::text || g)",
            },
            conv_series,
        )
        _insert_select(
            Message,
            {
                "conversation_id": f"{v0 - 1} + k",
                "inbox_id": f"({inbox_ids})[(1 + k %% 4)::int]",
                "seq": "m",
                "sender_kind": "'contact'",
                "channel": "'web'",
                "direction": "'in'",
                "body": body,
                "created_at": created,
            },
            msg_series,
        )
    search.reindex_messages(unindexed=True)  # the index as the product writes it (chat/search.py)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE chat_message")
        cursor.execute("VACUUM ANALYZE chat_contact")
        cursor.execute("VACUUM ANALYZE chat_conversation")
    return {"token": token, "messages": Message.objects.count(), "conversations": conversations}


def check() -> dict:
    """The seeded vectors equal what the product writes (a sample), and each query kind finds something."""
    from chat import search
    from chat.models import Message

    sample = list(Message.objects.order_by("?")[:300])
    check_vectors(sample)
    found = {
        kind: len(search.matching_message_ids(search.parse(make()), inbox_ids=None, limit=20))
        for kind, make in QUERIES.items()
    }
    return {"vectors_checked": len(sample), "found": found}


def check_vectors(sample) -> None:
    """Each message of `sample` has in its index column what chat/search.py writes for it."""
    from django.db import connection

    from chat import search

    with connection.cursor() as cursor:
        for message in sample:
            cursor.execute("SELECT to_tsvector('simple', %s)::text", [search.indexed_text(message)])
            expected = cursor.fetchone()[0]
            cursor.execute("SELECT search_vector::text FROM chat_message WHERE id = %s", [message.pk])
            if cursor.fetchone()[0] != expected:
                raise AssertionError(f"message {message.pk}: the seeded vector is not the product's")


async def _time(base: str, path: str, token: str, queries: dict, seconds: float, rounds: int) -> dict:
    """Cycle through the queries one request at a time; overall and per-kind figures."""
    import aiohttp

    latencies: list[float] = []
    by_kind: dict[str, list[float]] = {kind: [] for kind in queries}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
        for q in queries.values():  # warm: each query once, untimed
            async with session.get(f"{base}{path}?q={quote(q)}") as response:
                await response.read()
        deadline = time.perf_counter() + seconds
        done = 0
        while time.perf_counter() < deadline or done < rounds:
            for kind, q in queries.items():
                started = time.perf_counter()
                async with session.get(f"{base}{path}?q={quote(q)}") as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"{path}?q={q} -> {response.status}")
                latencies.append(time.perf_counter() - started)
                by_kind[kind].append(latencies[-1])
            done += 1
    figures = {**harness.latency_figures(latencies), "requests": len(latencies)}
    for kind, values in by_kind.items():
        kind_figures = harness.latency_figures(values)
        figures[f"p50_ms {kind}"] = kind_figures["p50_ms"]
        figures[f"p99_ms {kind}"] = kind_figures["p99_ms"]
    return figures


def main(argv=None) -> dict:
    args = harness.parse_args(__doc__.splitlines()[0], argv)
    n = 50_000 if args.quick else 1_000_000
    seconds = 5.0 if args.quick else 30.0
    queries = {kind: make() for kind, make in QUERIES.items()}
    with harness.Stack(NAME) as stack:
        started = time.monotonic()
        seeded = stack.call("bench.search:seed", messages=n)
        print(f"  seeded {seeded['messages']:,} messages in {seeded['conversations']:,} conversations", end="")
        print(f" in {time.monotonic() - started:.0f} s")
        checked = stack.call("bench.search:check")
        print(f"  matches per query kind (at most 20): {checked['found']}")
        server = stack.server()
        with harness.profiled(stack, server, args.profile):
            ours = asyncio.run(_time(server.http, "/api/v1/search/", seeded["token"], queries, seconds, 3))
            peer = asyncio.run(_time(server.http, "/bench/peer/search/", seeded["token"], queries, 0, 1))
    ours.update(messages=seeded["messages"], vectors_checked=checked["vectors_checked"])
    ratio = peer["p99_ms"] / ours["p99_ms"] if ours["p99_ms"] else None
    ok = ours["p99_ms"] < TARGET["p99_ms_max"]
    return harness.report(NAME, ours, peer, ratio, TARGET, ok)


if __name__ == "__main__":
    main()
