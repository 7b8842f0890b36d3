"""growth: the chat, connection and survey loads on an empty database, then with 10,000,000 messages.

One run, one database, side by side (issue #18: "growth"). First the loads run on a database
that holds only their own seeds: 2,000 widget visitors with a token each and 4 agents with a
session (bench/chatload.py), and the surveyed conversations survey_ingest needs. Then `grow()`
adds, with set-based SQL (foreign-key triggers off; the tables' indexes dropped while it writes
and built again after, the GIN index of the message search included; then VACUUM ANALYZE and a
CHECKPOINT), 300,000 contacts and 1,000,000 conversations over the chat load's inbox and 3
others: 1 to 19 messages each (10 on average: about 10,000,000), seq 1..n and `last_seq` n,
customer and agent in turn, bodies from 1,000 texts of bench/search.py's vocabulary (one in twenty
Chinese or Japanese) with the index column chat/search.py writes for them (checked on a sample);
resolved but for an open one for 5 % of the contacts (in the other inboxes, assigned to agents
who are not the load's), and each conversation's `opened` and `resolved` events, marked as
processed by the metrics pipeline and by every outbox drain (no event per message: that would
double the seeding). Then the same loads run again (each phase on a fresh server and workers):

- connections (bench/connections.py `measure`): 2,000 widget sockets, 50 in flight, 3 s idle:
  connects/s, KB and server CPU per socket;
- chat_saturation (bench/chat_saturation.py `ramp`): 200 customers and 4 consoles at 120
  messages/s, then 5 % more a step (4 s each) up to 448/s, until a step misses (p99 > 250 ms or
  > 1 % undelivered): the best delivered rate;
- chat_roundtrip (bench/chat_roundtrip.py `drive`): the same sockets for 10 s at half the rate
  the empty database's ramp held (the same rate on both): p99, lost;
- survey_ingest (bench/survey_ingest.py): 8 clients post at most 3,000 answers to the survey page
  for at most 10 s, a worker (concurrency 2) counting them: answers/s and staleness; then,
  worker stopped, a backlog of 20,000 answers drained by a fresh worker: answers counted/s.

Target (issue #18): each figure within 10 % of the empty database's: a rate at least 0.9x, a
latency or a loss at most 1.1x (the survey staleness: 1.1x plus its 50 ms poll interval, the
resolution it is measured with). The report's `figures` are the grown database's, its `peer` the
empty database's, with each gated figure's ratio grown / empty in `figures.ratios`.

    .venv/bin/python bench/growth.py [--quick] [--rates 150,200,250] [--profile]

`--quick`: 10,000 conversations (about 100,000 messages) of 3,000 contacts, 200 sockets, 20
customers and 2 consoles at 10, 20, 40 messages/s, 600 survey answers and a backlog of 1,000.
A full run took 9 minutes on 2 cores (2026-12-08; the seeding 193 s of it: rows 92 s, indexes
91 s, vacuum 9 s), its parts printed. The grown conversations have no metric facts (the loads'
own conversations do).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import chat_roundtrip, chat_saturation, chatload, connections, harness, survey_ingest

NAME = "growth"
RATE_MIN, LATENCY_MAX = 0.90, 1.10
TARGET = {"rate_ratio_min": RATE_MIN, "latency_ratio_max": LATENCY_MAX}
TEXTS = 1000

# The figures the target holds: (figure, which way is better, slack: the resolution it is measured with)
GATES = [
    ("chat_saturation.messages_per_s", "higher", 0.0),
    ("chat_roundtrip.p99_ms", "lower", 0.0),
    ("chat_roundtrip.lost", "lower", 0.0),
    ("connections.connects_per_s", "higher", 0.0),
    ("survey_ingest.http_answers_per_s", "higher", 0.0),
    ("survey_ingest.staleness_p99_s", "lower", survey_ingest.POLL_S),
    ("survey_ingest.pipeline_answers_per_s", "higher", 0.0),
]


@dataclass(frozen=True)
class Sizes:
    conversations: int  # grown: 10 messages each on average
    contacts: int
    visitors: int  # connections' sockets; the chat's customers are the first of them
    customers: int
    agents: int
    idle: float  # connections: seconds the sockets stay open idle
    rates: tuple[float, ...]  # chat_saturation's ramp
    step_seconds: float
    roundtrip_seconds: float
    roundtrip_rate: float  # when the empty database's ramp held no step
    answers: int  # survey page answers per phase, at most
    answer_seconds: float
    backlog: int  # survey answers drained per phase

    @property
    def survey_slice(self) -> int:
        """Surveyed conversations a phase uses: its answers, the page read for CSRF, its backlog."""
        return self.answers + 1 + self.backlog


FULL = Sizes(
    conversations=1_000_000,
    contacts=300_000,
    visitors=2000,
    customers=200,
    agents=4,
    idle=3.0,
    rates=tuple(float(round(120 * 1.05**k)) for k in range(28)),  # 120 … 448, 5 % a step
    step_seconds=4.0,
    roundtrip_seconds=10.0,
    roundtrip_rate=100.0,
    answers=3000,
    answer_seconds=10.0,
    backlog=20_000,
)
QUICK = Sizes(
    conversations=10_000,
    contacts=3000,
    visitors=200,
    customers=20,
    agents=2,
    idle=1.0,
    rates=(10.0, 20.0, 40.0),
    step_seconds=2.0,
    roundtrip_seconds=3.0,
    roundtrip_rate=10.0,
    answers=600,
    answer_seconds=3.0,
    backlog=1000,
)


# --- growing the database (runs in a Django child process) ----------------------------------


def texts(count: int = TEXTS) -> list[str]:
    """Message bodies: 4 to 20 words of bench/search.py's vocabulary, the common words far more
    often; one in twenty a Chinese or Japanese phrase and two words."""
    from bench.search import CJK_PHRASES, VOCABULARY, word

    rng = random.Random(18)

    def pick() -> str:
        return word(int(VOCABULARY * rng.random() ** 3))

    return [
        f"{CJK_PHRASES[k // 20 % len(CJK_PHRASES)]}，{pick()} {pick()}"
        if k % 20 == 0
        else " ".join(pick() for _ in range(rng.randint(4, 20)))
        for k in range(count)
    ]


@contextlib.contextmanager
def indexes_rebuilt(cursor, tables: list[str]):
    """The tables' indexes dropped while the block writes, then built again (primary keys and
    indexes a foreign key relies on stay): one build over the rows costs far less than adding
    millions of rows to each index one by one, the GIN index of the message search above all."""
    cursor.execute(
        "SELECT i.indrelid::regclass::text, i.indexrelid::regclass::text, c.conname, "
        "pg_get_indexdef(i.indexrelid), pg_get_constraintdef(c.oid) "
        "FROM pg_index i LEFT JOIN pg_constraint c "
        "ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('u', 'x') "
        "WHERE i.indrelid::regclass::text = ANY(%s) AND NOT i.indisprimary "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = i.indexrelid)",
        [tables],
    )
    found = cursor.fetchall()
    for table, index, constraint, _, _ in found:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{constraint}"' if constraint else f"DROP INDEX {index}")
    yield
    for table, _, constraint, index_sql, constraint_sql in found:
        cursor.execute(
            f'ALTER TABLE {table} ADD CONSTRAINT "{constraint}" {constraint_sql}' if constraint else index_sql
        )


def grow(*, conversations: int, contacts: int, inbox: str) -> dict:
    """Add `contacts` contacts and `conversations` conversations (10 messages each on average,
    with their search index; their opened and resolved events, processed) over the inbox whose
    public id is `inbox` and 3 new ones; then VACUUM ANALYZE. Set-based SQL only."""
    from django.contrib.auth import get_user_model
    from django.db import DatabaseError, connection, transaction
    from django.utils import timezone

    from bench.metrics_summary import _insert_select, _next_id
    from bench.search import check_vectors
    from chat import outbox
    from chat.models import (
        AgentProfile,
        Contact,
        Conversation,
        ConversationEvent,
        DrainMark,
        Inbox,
        InboxMembership,
        Message,
    )
    from feedback.models import ProcessedEvent

    if conversations < contacts:
        raise ValueError("an open conversation per contact at most: no fewer conversations than contacts")
    started = time.monotonic()
    others = [Inbox.objects.create(name=f"History {i}", channel="web") for i in range(3)]
    agents = []
    for i in range(8):  # members of the other inboxes only: the load's routing never sees them
        user = get_user_model().objects.create_user(username=f"history{i}", password="bench-pass-123")
        AgentProfile.objects.create(user=user, display_name=f"History {i}")
        InboxMembership.objects.bulk_create([InboxMembership(user=user, inbox=other) for other in others])
        agents.append(user.pk)

    def array(ids) -> str:
        return "ARRAY[" + ",".join(str(int(i)) for i in ids) + "]::bigint[]"

    n, span = int(conversations), 365 * 86400
    c0, v0, m0, e0 = (first_id(m) for m in (Contact, Conversation, Message, ConversationEvent))
    now_sql = f"'{timezone.now().isoformat()}'::timestamptz"
    # conversation g: its contact, length, inbox, agent, times (older ids opened earlier)
    is_open = f"(g > {n - int(contacts)} AND g %% 20 = 0)"  # the last round of contacts: one each at most
    length = "(1 + (g * 7) %% 19)"
    inbox_of = (
        f"(CASE WHEN {is_open} THEN ({array(o.pk for o in others)})[1 + g %% 3]"
        f" ELSE ({array([Inbox.objects.get(public_id=inbox).pk, *(o.pk for o in others)])})[1 + g %% 4] END)"
    )
    agent = f"({array(agents)})[1 + g %% {len(agents)}]"
    opened = f"({now_sql} - interval '1 hour' - make_interval(secs => ({n} - g) * {span / n}))"
    last = f"({opened} + {length} * interval '1 minute')"
    resolved = f"(CASE WHEN NOT {is_open} THEN {last} + interval '5 minutes' END)"
    series = f"generate_series(1::bigint, {n}::bigint) AS g"
    tables = [m._meta.db_table for m in (Contact, Conversation, Message, ConversationEvent, DrainMark)]
    counts = {}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")  # consistent by construction
        cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
        cursor.execute(
            "CREATE TEMP TABLE bench_growth_text (i int PRIMARY KEY, body text, vector tsvector) ON COMMIT DROP"
        )
        bodies = texts()
        indexed = [search_text(body) for body in bodies]
        cursor.execute(
            "INSERT INTO bench_growth_text SELECT i, body, to_tsvector('simple', indexed) "
            "FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS t(body, indexed, i)",
            [bodies, indexed],
        )
        with indexes_rebuilt(cursor, tables):
            counts["contacts"] = _insert_select(
                Contact,
                {"name": "'Customer ' || g", "email": "'h' || g || '@example.com'"},
                f"generate_series(1::bigint, {int(contacts)}::bigint) AS g",
            )
            counts["conversations"] = _insert_select(
                Conversation,
                {
                    "contact_id": f"{c0} + (g - 1) %% {int(contacts)}",
                    "inbox_id": inbox_of,
                    "status": f"CASE WHEN {is_open} THEN 'open' ELSE 'resolved' END",
                    "assignee_id": agent,
                    "opened_at": opened,
                    "first_customer_message_at": opened,
                    "first_reply_at": f"CASE WHEN {length} > 1 THEN {opened} + interval '2 minutes' END",
                    "resolved_at": resolved,
                    "first_resolved_at": resolved,
                    "last_activity_at": last,
                    "last_seq": length,
                    "last_customer_channel": "'web'",
                    "email_thread_token": "md5(random()::text || g)",
                },
                series,
            )
            by_agent = "m %% 2 = 0"  # customer, agent, customer, …
            counts["messages"] = _insert_select(
                Message,
                {
                    "conversation_id": f"{v0 - 1} + g",
                    "inbox_id": inbox_of,
                    "seq": "m",
                    "sender_kind": f"CASE WHEN {by_agent} THEN 'agent' ELSE 'contact' END",
                    "sender_user_id": f"CASE WHEN {by_agent} THEN {agent} END",
                    "channel": "'web'",
                    "direction": f"CASE WHEN {by_agent} THEN 'out' ELSE 'in' END",
                    "body": "t.body",
                    "delivery_status": f"CASE WHEN {by_agent} THEN 'sent' ELSE 'received' END",
                    "created_at": f"{opened} + m * interval '1 minute'",
                    "search_vector": "t.vector",
                },
                f"{series} CROSS JOIN LATERAL generate_series(1, {length}) AS m "
                f"JOIN bench_growth_text t ON t.i = 1 + (g * 31 + m * 7) %% {TEXTS}",
            )
            counts["events"] = _insert_select(
                ConversationEvent,
                {
                    "conversation_id": f"{v0 - 1} + g",
                    "kind": "CASE k WHEN 0 THEN 'opened' ELSE 'resolved' END",
                    "data": f"""CASE k
                        WHEN 0 THEN jsonb_build_object('inbox_id', {inbox_of}, 'previous_id', null, 'recontact', false)
                        ELSE jsonb_build_object('resolution_number', 1, 'agent_id', {agent}, 'team_id', null,
                                                'by_bot', false)
                        END""",
                    "created_at": f"CASE k WHEN 0 THEN {opened} ELSE {resolved} END",
                },
                f"{series} CROSS JOIN generate_series(0, 1) AS k WHERE k = 0 OR NOT {is_open}",
            )
            events = ConversationEvent._meta.db_table
            cursor.execute(
                f"INSERT INTO {ProcessedEvent._meta.db_table} (event_id, processed_at) "
                f"SELECT id, {now_sql} FROM {events} WHERE id >= %s",
                [e0],
            )
            cursor.execute(
                f"INSERT INTO {DrainMark._meta.db_table} (drain, event_id) "
                f"SELECT d, e.id FROM {events} e CROSS JOIN unnest(%s::text[]) AS d WHERE e.id >= %s",
                [[name for name in outbox.registered_drains() if name != "metrics"], e0],
            )
            rows_done = time.monotonic()
        indexes_done = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # what autovacuum does after a bulk load, done before measuring
        with contextlib.suppress(DatabaseError):  # dirty pages written now, not during the loads
            cursor.execute("CHECKPOINT")
        cursor.execute(
            "SELECT pg_total_relation_size('chat_message'), pg_relation_size('message_search_idx'), "
            "(SELECT count(*) FROM chat_conversation WHERE status = 'open' AND id >= %s)",
            [v0],
        )
        message_bytes, gin_bytes, open_count = cursor.fetchone()
    sample = list(Message.objects.filter(pk__in=random.Random(7).sample(range(m0, _next_id(Message)), 300)))
    check_vectors(sample)
    done = time.monotonic()
    return {
        **counts,
        "open": open_count,
        "vectors_checked": len(sample),
        "message_table_mb": round(message_bytes / 2**20),
        "search_index_mb": round(gin_bytes / 2**20),
        "rows_s": round(rows_done - started, 1),
        "indexes_s": round(indexes_done - rows_done, 1),
        "vacuum_s": round(done - indexes_done, 1),
    }


def first_id(model) -> int:
    """The id `model`'s next row gets, its sequence set to it: the ids a set-based insert writes
    are then known (rolled-back writes of the loads may have left the sequence further on)."""
    from django.db import connection

    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce(max(id), 0) + 1, false) FROM {table}"
        )
        return cursor.fetchone()[0]


def search_text(body: str) -> str:
    """What chat/search.py indexes for a message with this body (no files)."""
    from chat import search
    from chat.models import Message

    return search.indexed_text(Message(body=body))


# --- measuring (this process; no Django) -----------------------------------------------------


def prefixed(load: str, figures: dict) -> dict:
    return {f"{load}.{key}": value for key, value in figures.items()}


def measure(
    stack: harness.Stack, seeded: dict, survey: dict, sizes: Sizes, *, phase: int, rate: float | None, profile: bool
) -> dict:
    """The four loads on the database as it is now, each server and worker fresh; phase k uses
    the k-th slice of the surveyed conversations. `rate`: chat_roundtrip's (None: half of what
    this phase's ramp held)."""
    label = ("empty", "grown")[phase]
    print(f"\n-- {label} database", flush=True)
    figures = {}
    worker = stack.worker(nice=10, name=f"worker-{label}")  # as in the chat benchmarks
    server = stack.server(name=f"server-{label}")
    with harness.profiled(stack, server, profile, label=f"server-{label}"):
        url = f"{server.ws}/ws/widget/?inbox={seeded['inbox']}"
        sockets = connections.measure(server, url, seeded["tokens"], concurrency=50, idle=sizes.idle)
        figures |= prefixed("connections", asyncio.run(sockets))
        print(f"  connections: {figures['connections.connects_per_s']} connects/s", flush=True)
        endpoints = chatload.cxhub_endpoints(server, seeded, sizes.customers)
        ramp = chat_saturation.ramp(endpoints, list(sizes.rates), sizes.step_seconds, label, server.pid)
        figures |= prefixed("chat_saturation", asyncio.run(ramp))
        held = figures["chat_saturation.messages_per_s"]
        rate = rate or (held / 2 if held else sizes.roundtrip_rate)
        drive = chat_roundtrip.drive(endpoints, rate=rate, seconds=sizes.roundtrip_seconds, server_pid=server.pid)
        figures |= prefixed("chat_roundtrip", {"rate": rate, **asyncio.run(drive)})
        print(f"  chat_roundtrip at {rate:.1f}/s: p99 {figures['chat_roundtrip.p99_ms']} ms", flush=True)
        worker.stop()
        figures |= prefixed("survey_ingest", survey_load(stack, server, survey, sizes, phase=phase))
    server.process.stop()
    return figures


def survey_load(stack: harness.Stack, server: harness.Server, survey: dict, sizes: Sizes, *, phase: int) -> dict:
    """survey_ingest's intake by the survey page (worker running), then a backlog drained."""
    first = 1 + phase * sizes.survey_slice
    last = first + sizes.answers
    database_url = stack.env()["DATABASE_URL"]
    sql = survey_ingest.counted_sql("ours", survey["ours"]["inbox"])
    worker = stack.worker(concurrency=2, name=f"survey-worker-{phase}")
    intake = survey_ingest.intake_http(
        server, database_url, sql, first=first, last=last, clients=8, seconds=sizes.answer_seconds
    )
    http = asyncio.run(intake)
    worker.stop()
    drained = survey_ingest.drain(stack, survey, "ours", first=last + 1, count=sizes.backlog, budget=120)
    figures = {
        "http_answers_per_s": http["answers_per_s"],
        "http_answers": http["answers"],
        "server_cpu_ms_per_answer": http["server_cpu_ms_per_answer"],
        "not_in_rollups": http["not_in_rollups"],
        "staleness_p50_s": http["staleness_p50_s"],
        "staleness_p99_s": http["staleness_p99_s"],
        "pipeline_answers_per_s": drained["counted_per_s"],
        "backlog_counted": drained["counted"],
    }
    print(
        f"  survey_ingest: {figures['http_answers_per_s']} answers/s by the page,"
        f" {figures['pipeline_answers_per_s']} counted/s by the pipeline",
        flush=True,
    )
    return figures


def compare(empty: dict, grown: dict) -> tuple[dict, list[str]]:
    """Each gated figure's ratio grown / empty, and the figures that moved more than the target
    allows the wrong way (a rate must have been above zero)."""
    ratios, missed = {}, []
    for key, better, slack in GATES:
        before, after = empty.get(key, math.nan), grown.get(key, math.nan)
        ratios[key] = round(after / before, 3) if before else math.nan
        if better == "higher":
            held = before > 0 and after >= RATE_MIN * before
        else:
            held = after <= LATENCY_MAX * before + slack
        if not held:
            missed.append(key)
    return ratios, missed


def print_comparison(empty: dict, grown: dict, ratios: dict, missed: list[str]) -> None:
    width = max(len(key) for key, _, _ in GATES)
    print(f"\n== {NAME}: empty database → grown")
    print(f"  {'figure'.ljust(width)}  {'empty':>12}  {'grown':>12}  {'ratio':>7}  held")
    for key, better, _ in GATES:
        limit = f"≥ {RATE_MIN}" if better == "higher" else f"≤ {LATENCY_MAX}"
        print(
            f"  {key.ljust(width)}  {harness._fmt(empty.get(key)):>12}  {harness._fmt(grown.get(key)):>12}"
            f"  {harness._fmt(ratios[key]):>7}  {'no' if key in missed else 'yes'} ({limit})"
        )


def main(argv=None) -> dict:
    args = harness.parse_args(
        __doc__.splitlines()[0], argv, rates={"help": "comma-separated offered rates (messages/s) instead of the ramp"}
    )
    sizes = QUICK if args.quick else FULL
    if args.rates:
        sizes = replace(sizes, rates=tuple(float(rate) for rate in args.rates.split(",")))
    harness.raise_open_files_limit(max(8192, 4 * sizes.visitors + 1024))
    with harness.Stack(NAME) as stack:
        started = time.monotonic()
        seeded = stack.call("bench.chatload:seed", visitors=sizes.visitors, agents=sizes.agents)
        survey = stack.call("bench.survey_ingest:seed", ours=2 * sizes.survey_slice, peer=0, agent="surveyor")
        print(f"  the loads' seeds in {time.monotonic() - started:.0f} s", flush=True)
        empty = measure(stack, seeded, survey, sizes, phase=0, rate=None, profile=args.profile)
        started = time.monotonic()
        grown_by = stack.call(
            "bench.growth:grow",
            timeout=3600,
            conversations=sizes.conversations,
            contacts=sizes.contacts,
            inbox=seeded["inbox"],
        )
        seconds = time.monotonic() - started
        print(
            f"\n  grew by {grown_by['messages']:,} messages in {grown_by['conversations']:,} conversations"
            f" ({grown_by['open']:,} open) of {grown_by['contacts']:,} contacts, {grown_by['events']:,} events,"
            f" in {seconds:.0f} s (rows {grown_by['rows_s']} s, indexes {grown_by['indexes_s']} s,"
            f" vacuum and checks {grown_by['vacuum_s']} s); chat_message {grown_by['message_table_mb']:,} MB,"
            f" its search index {grown_by['search_index_mb']:,} MB",
            flush=True,
        )
        grown = measure(stack, seeded, survey, sizes, phase=1, rate=empty["chat_roundtrip.rate"], profile=args.profile)
    ratios, missed = compare(empty, grown)
    print_comparison(empty, grown, ratios, missed)
    figures = {**grown, "ratios": ratios, "missed": missed, "grown_by": {**grown_by, "seconds": round(seconds)}}
    return harness.report(NAME, figures, empty, None, TARGET, not missed)


if __name__ == "__main__":
    main()
