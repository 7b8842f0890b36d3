"""survey_ingest: survey answers into the metric rollups: intake, pipeline throughput, staleness.

Seeds, with set-based SQL, resolved conversations as the product leaves them: a contact, four
messages, their events (processed), facts and rollups up to date, and a *sent* survey
invitation whose raw token the driver knows; the same again in a second inbox for the peer,
and conversations of 64 widget visitors (a visitor token each). A real Celery worker
(concurrency 2) and one uvicorn process run beside the driver.

- (a) intake, by the customer's two channels in turn, each for `seconds`: 8 clients post
  answers to the survey page `/s/<token>/` (the no-JS form, one CSRF cookie) as fast as the
  server takes them; then each visitor's widget socket answers its own surveys with
  `survey.answer` frames, the next once its widget shows `survey.answered`;
- (c) staleness at that rate: a poller reads the rollup counters (what the metrics summary
  sums) every 50 ms; answer k is visible once the rollups count k answers (by rank);
- (b) pipeline throughput: with the worker stopped, a backlog of answers is recorded as the
  intake records them (response, invitation answered, `survey_answered` event, its queued
  task); the worker starts; answers counted ÷ time from the first change of the rollup
  counters to the final count, and tasks taken off the queue per second. The peer
  (bench/peers/survey_rollup.py: a task per answer recounting its day's cell from raw rows)
  gets the same backlog in its own inbox, with the same worker.

`responses_per_s` is end to end: the least of the intake (the cheaper channel), the worker's
tasks/s (one task per answer) and its counting rate. Target: at least 5,000 answers/s into
the rollups, staleness p99 under 5 s; the rollups must equal `recompute_metrics` at the end.

    .venv/bin/python bench/survey_ingest.py [--quick] [--profile]
"""

from __future__ import annotations

import asyncio
import bisect
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

NAME = "survey_ingest"
TARGET = {"responses_per_s_min": 5000, "staleness_p99_s_max": 5}
SIDES = {"ours": "bench-survey-token-", "peer": "bench-survey-peer--", "widget": "bench-survey-wsock-"}
ORIGIN = "http://127.0.0.1"
POLL_S = 0.05
PEER_TABLE = "bench_peer_survey_rollup"  # bench/peers/survey_rollup.py: TABLE


def token(n: int, side: str = "ours") -> str:
    return f"{SIDES[side]}{n:010d}"


# --- seeding (runs in a Django child process) ------------------------------------------------


def seed(*, ours: int, peer: int, widget: int = 0, visitors: int = 64, agent: str = "agent0") -> dict:
    """Two web inboxes (ours, the peer's) with `ours` / `peer` surveyed conversations each, and
    in ours `widget` more, of `visitors` widget visitors (a visitor token each): answered on
    their own sockets, each answer comes back to its widget as `survey.answered`. The
    conversations are `agent`'s (a username another seed of the same database does not use)."""
    import secrets

    from django.contrib.auth import get_user_model
    from django.db import connection

    from bench.peers.survey_rollup import CREATE_TABLE
    from chat.models import AgentProfile, Contact, Conversation, Inbox, VisitorToken, hash_token
    from feedback import pipeline

    user = get_user_model().objects.create_user(username=agent, password="bench-pass-123")
    AgentProfile.objects.create(user=user, display_name="Agent 0")
    seeded = {}
    for side, count in (("ours", ours), ("peer", peer)):
        inbox = Inbox.objects.create(name=f"Web ({side})", channel="web", allowed_origins=[ORIGIN])
        seeded[side] = {"inbox": inbox.pk, **_seed_conversations(inbox, user, side, count)}
    if widget:
        inbox = Inbox.objects.get(pk=seeded["ours"]["inbox"])
        contacts = Contact.objects.bulk_create([Contact(name=f"Visitor {i}") for i in range(visitors)])
        tokens = [secrets.token_urlsafe(24) for _ in contacts]
        pairs = zip(contacts, tokens, strict=True)
        VisitorToken.objects.bulk_create(
            [VisitorToken(inbox=inbox, contact=c, token_hash=hash_token(t)) for c, t in pairs]
        )
        conversations = _seed_conversations(inbox, user, "widget", widget, contacts=[c.pk for c in contacts])
        seeded["widget"] = {"inbox": inbox.pk, "public_id": inbox.public_id, "visitors": tokens, **conversations}
    with connection.cursor() as cursor:
        cursor.execute(CREATE_TABLE)
    # Facts and rollups up to date, as the pipeline left them when these were resolved.
    ids = Conversation.objects.filter(inbox_id=seeded["ours"]["inbox"]).values_list("pk", flat=True)
    pipeline.refresh_conversations(list(ids))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return seeded


def _seed_conversations(inbox, user, side: str, count: int, *, contacts: list[int] | None = None) -> dict:
    """`count` conversations, with a new contact each, or of `contacts` in turn."""
    from django.db import connection, transaction
    from django.utils import timezone

    from bench.metrics_summary import _insert_select, _next_id
    from chat.models import Contact, Conversation, ConversationEvent, Message
    from feedback.models import ProcessedEvent, SurveyInvitation

    now_sql = f"'{timezone.now().isoformat()}'::timestamptz"
    c0, v0, i0, e0 = (_next_id(m) for m in (Contact, Conversation, SurveyInvitation, ConversationEvent))
    series = f"generate_series(1, {int(count)}) AS g"
    opened = f"({now_sql} - interval '3 hours')"
    resolved = f"({opened} + interval '1 hour')"
    conversation = f"{v0 - 1} + g"
    if contacts:
        contact = f"(ARRAY[{', '.join(str(int(c)) for c in contacts)}])[1 + (g - 1) %% {len(contacts)}]"
    else:
        contact = f"{c0 - 1} + g"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        if not contacts:
            _insert_select(Contact, {"name": "'Customer ' || g"}, series)
        _insert_select(
            Conversation,
            {
                "contact_id": contact,
                "inbox_id": str(inbox.pk),
                "status": "'resolved'",
                "assignee_id": str(user.pk),
                "opened_at": opened,
                "first_customer_message_at": f"{opened} + interval '1 minute'",
                "first_reply_at": f"{opened} + interval '2 minutes'",
                "resolved_at": resolved,
                "first_resolved_at": resolved,
                "last_activity_at": resolved,
                "last_seq": "4",
                "last_customer_channel": "'web'",
                "email_thread_token": "md5(random()::text || g)",
            },
            series,
        )
        # customer, agent, customer, agent
        messages = f"{series}, generate_series(1, 4) AS k"
        agent = "k %% 2 = 0"
        _insert_select(
            Message,
            {
                "conversation_id": conversation,
                "inbox_id": str(inbox.pk),
                "seq": "k",
                "sender_kind": f"CASE WHEN {agent} THEN 'agent' ELSE 'contact' END",
                "sender_user_id": f"CASE WHEN {agent} THEN {user.pk} END",
                "channel": "'web'",
                "direction": f"CASE WHEN {agent} THEN 'out' ELSE 'in' END",
                "body": "'Message ' || k",
                "delivery_status": f"CASE WHEN {agent} THEN 'sent' ELSE 'received' END",
                "created_at": f"{opened} + k * interval '1 minute'",
            },
            messages,
        )
        events = f"{series}, generate_series(0, 5) AS k"
        _insert_select(
            ConversationEvent,
            {
                "conversation_id": conversation,
                "kind": "CASE k WHEN 0 THEN 'opened' WHEN 5 THEN 'resolved' ELSE 'message_created' END",
                "data": f"""CASE k
                    WHEN 0 THEN jsonb_build_object('inbox_id', {inbox.pk}, 'previous_id', null, 'recontact', false)
                    WHEN 5 THEN jsonb_build_object('resolution_number', 1, 'agent_id', {user.pk}, 'team_id', null,
                                                   'by_bot', false)
                    ELSE jsonb_build_object('seq', k, 'sender', CASE WHEN {agent} THEN 'agent' ELSE 'contact' END)
                    END""",
                "created_at": f"CASE k WHEN 5 THEN {resolved} ELSE {opened} + k * interval '1 minute' END",
            },
            events,
        )
        cursor.execute(
            f"INSERT INTO {ProcessedEvent._meta.db_table} (event_id, processed_at) "
            f"SELECT id, {now_sql} FROM {ConversationEvent._meta.db_table} WHERE id >= {e0}"
        )
        _insert_select(
            SurveyInvitation,
            {
                "conversation_id": conversation,
                "contact_id": contact,
                "channel": "'web'",
                "status": "'sent'",
                "token_hash": f"encode(sha256(('{SIDES[side]}' || lpad(g::text, 10, '0'))::bytea), 'hex')",
                "sent_at": f"{resolved} + interval '1 minute'",
                "expires_at": f"{now_sql} + interval '7 days'",
                "agent_id": str(user.pk),
                "inbox_id": str(inbox.pk),
            },
            series,
        )
    return {"first_invitation": i0, "count": count}


def record_backlog(*, side: str, first_invitation: int, first: int, count: int) -> int:
    """Answers to invitations `first`..`first + count - 1` of a side, recorded as the intake
    records them (response, invitation answered, `survey_answered` event) in one transaction,
    then woken as the product does after commit: cxhub's events through chat.wakeup (one
    drain per window, not a task per event), the peer's own task per answer for the peer.
    Run while no worker runs."""
    from django.db import connection, transaction
    from django.utils import timezone

    from bench.peers import survey_rollup
    from chat import wakeup
    from feedback.models import SurveyInvitation, SurveyResponse

    now_sql = f"'{timezone.now().isoformat()}'::timestamptz"
    lo = first_invitation - 1 + first
    hi = lo + count - 1
    invitations, responses = SurveyInvitation._meta.db_table, SurveyResponse._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {responses} (invitation_id, csat, ces, comment, channel, answered_at, updated_at) "
            f"SELECT id, 1 + (id - {lo}) %% 5, 1 + (id - {lo}) %% 7, '', 'web', {now_sql}, {now_sql} "
            f"FROM {invitations} WHERE id BETWEEN %s AND %s",
            [lo, hi],
        )
        cursor.execute(
            f"UPDATE {invitations} SET status = 'answered', answered_at = {now_sql} WHERE id BETWEEN %s AND %s",
            [lo, hi],
        )
        cursor.execute(
            "INSERT INTO chat_conversationevent (conversation_id, kind, data, created_at) "
            "SELECT i.conversation_id, 'survey_answered', jsonb_build_object('invitation_id', i.id, "
            "'response_id', r.id, 'channel', 'web', 'csat', r.csat, 'ces', r.ces, 'nps', r.nps, "
            f"'has_comment', false, 'edited', false), {now_sql} "
            f"FROM {invitations} i JOIN {responses} r ON r.invitation_id = i.id "
            "WHERE i.id BETWEEN %s AND %s ORDER BY i.id RETURNING id, (data ->> 'response_id')::bigint",
            [lo, hi],
        )
        published = cursor.fetchall()
    for event_id, response_id in published:
        if side == "ours":
            wakeup.events_committed(event_id)
        else:
            survey_rollup.response_recorded.delay(response_id)
    return len(published)


# --- driving (this process; no Django) ---------------------------------------------------------


def counted_sql(side: str, inbox: int) -> str:
    """Answers counted in a side's rollups (every answer has a CSAT score)."""
    table = "feedback_metricrollup" if side == "ours" else PEER_TABLE
    return f"SELECT coalesce(sum(count), 0) FROM {table} WHERE inbox_id = {int(inbox)} AND metric LIKE 'csat\\_%%'"


async def poll(database_url: str, sql: str, seen: list, stop: asyncio.Event) -> None:
    """(time, count) every POLL_S until `stop` is set."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        while not stop.is_set():
            row = await (await conn.execute(sql)).fetchone()
            seen.append((time.perf_counter(), int(row[0])))
            await asyncio.sleep(POLL_S)


async def measure_intake(server: harness.Server, database_url: str, sql: str, clients: list, *, seconds: float):
    """Run the clients (each `client(deadline, accepted, failures)`) for `seconds` while a poller
    reads the rollup counter; accepted answers/s, failures, the server's CPU time per answer,
    staleness p50/p99 by rank."""
    accepted: list[float] = []  # time of each accepted answer, in order
    seen: list[tuple[float, int]] = []
    failures: dict = {}
    stop = asyncio.Event()
    poller = asyncio.create_task(poll(database_url, sql, seen, stop))
    await _until(seen, 0, timeout=60)
    base = seen[-1][1]
    started, cpu = time.perf_counter(), harness.cpu_seconds(server.pid)
    await asyncio.gather(*(client(started + seconds, accepted, failures) for client in clients))
    done, cpu = time.perf_counter(), harness.cpu_seconds(server.pid) - cpu
    await _until(seen, base + len(accepted), timeout=max(30.0, 2 * seconds))
    stop.set()
    await poller
    times, counts = [t for t, _ in seen], [c - base for _, c in seen]
    staleness = []
    for rank, at in enumerate(accepted, start=1):
        i = bisect.bisect_left(counts, rank)
        if i < len(counts):
            staleness.append(max(times[i] - at, 0.0))
    return {
        "answers_per_s": round(len(accepted) / max(done - started, 1e-9), 1),
        "answers": len(accepted),
        "failures": failures,
        "server_cpu_ms_per_answer": round(1000 * cpu / max(len(accepted), 1), 2),
        "not_in_rollups": len(accepted) - counts[-1],
        "staleness_p50_s": round(harness.percentile(staleness, 50), 3),
        "staleness_p99_s": round(harness.percentile(staleness, 99), 3),
    }


async def intake_http(
    server: harness.Server, database_url: str, sql: str, *, last: int, clients: int, seconds: float, first: int = 1
):
    """Clients post answers to the survey page for tokens first..last - 1 (the no-JS form, one
    CSRF cookie, read from token `last`'s page)."""
    import aiohttp

    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar, connector=aiohttp.TCPConnector(limit=clients)) as session:
        async with session.get(f"{server.http}/s/{token(last)}/") as response:
            page = await response.text()
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if not match:
            raise RuntimeError(f"no CSRF token on the survey page ({response.status}): {page[:300]}")
        csrf = match.group(1)
        pending = iter(range(first, last))

        async def client(deadline: float, accepted: list, failures: dict) -> None:
            for n in pending:
                if time.perf_counter() > deadline:
                    return
                form = {"csrfmiddlewaretoken": csrf, "csat": str(1 + n % 5), "ces": str(1 + n % 7)}
                async with session.post(f"{server.http}/s/{token(n)}/", data=form, allow_redirects=False) as response:
                    await response.read()
                    if response.status == 303:
                        accepted.append(time.perf_counter())
                    else:
                        failures[response.status] = failures.get(response.status, 0) + 1

        return await measure_intake(server, database_url, sql, [client] * clients, seconds=seconds)


async def intake_widget(server: harness.Server, database_url: str, sql: str, widget: dict, *, seconds: float):
    """Each visitor's widget socket answers its own surveys (`survey.answer` frames), one at a
    time: the next once the widget shows `survey.answered` for the last."""
    import json

    from websockets.asyncio.client import connect

    visitors = widget["visitors"]
    url = f"{server.ws}/ws/widget/?inbox={widget['public_id']}"
    sockets = []
    for visitor in visitors:
        socket = await connect(url, origin=ORIGIN, ping_interval=None, max_queue=None)
        await socket.send(json.dumps({"type": "auth", "token": visitor}))
        while json.loads(await asyncio.wait_for(socket.recv(), 60)).get("type") != "auth.ok":
            pass
        sockets.append(socket)

    def client_of(k: int, socket):
        async def client(deadline: float, accepted: list, failures: dict) -> None:
            for n in range(k + 1, widget["count"] + 1, len(visitors)):  # conversation n is visitor (n-1) % k's
                if time.perf_counter() > deadline:
                    return
                invitation = token(n, "widget")
                frame = {"type": "survey.answer", "invitation": invitation, "csat": 1 + n % 5, "ces": 1 + n % 7}
                await socket.send(json.dumps(frame))
                while True:
                    reply = json.loads(await asyncio.wait_for(socket.recv(), 60))
                    if reply.get("type") == "survey.answered" and reply.get("invitation") == invitation:
                        accepted.append(time.perf_counter())
                        break
                    if reply.get("type") == "error":
                        failures[reply.get("code")] = failures.get(reply.get("code"), 0) + 1
                        break

        return client

    try:
        clients = [client_of(k, socket) for k, socket in enumerate(sockets)]
        return await measure_intake(server, database_url, sql, clients, seconds=seconds)
    finally:
        await asyncio.gather(*(socket.close() for socket in sockets), return_exceptions=True)


async def _until(seen: list, count: int, *, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline and not (seen and seen[-1][1] >= count):
        await asyncio.sleep(POLL_S)


async def watch_drain(database_url: str, sql: str, queue, *, expected: int, budget: float) -> dict:
    """Watch a worker drain a backlog of `expected` answers and their queued tasks, for at most
    `budget` seconds from its first change (the worker's start-up is not counted).

    Two rates: answers counted in the rollups per second (from the first to the last change of
    the counter), and tasks taken off the queue per second. A side cannot sustain more answers
    per second than either: each answer brings a task, and tasks wait in line.
    """
    seen: list[tuple[float, int]] = []
    stop = asyncio.Event()
    poller = asyncio.create_task(poll(database_url, sql, seen, stop))
    await _until(seen, 0, timeout=60)  # the first reading
    base, tasks = seen[-1][1], queue()
    waited = time.perf_counter() + 120
    while queue() >= tasks and seen[-1][1] == base and time.perf_counter() < waited:
        await asyncio.sleep(0.02)
    started = time.perf_counter()
    emptied = None
    while time.perf_counter() < started + budget:
        left = queue()
        if left == 0 and emptied is None:
            emptied = time.perf_counter()
        if emptied is not None and seen[-1][1] >= base + expected:
            break
        await asyncio.sleep(0.02)
    taken = tasks - queue()
    stop.set()
    await poller
    final = seen[-1][1]
    changes = [(t, c) for t, c in seen if c > base]
    changes = changes[: next(i for i, (_, c) in enumerate(changes) if c == final) + 1] if changes else []
    fold = 0.0
    if len(changes) >= 2:  # from the first change to the first reading of the final count
        (t0, c0), (t1, c1) = changes[0], changes[-1]
        fold = (c1 - c0) / max(t1 - t0, 1e-9)
    return {
        "counted_per_s": round(fold, 1),
        "tasks_per_s": round(taken / max((emptied or time.perf_counter()) - started, 1e-9), 1),
        "counted": seen[-1][1] - base,
        "tasks_taken": taken,
    }


def drain(stack: harness.Stack, seeded: dict, side: str, *, first: int, count: int, budget: float) -> dict:
    """Worker stopped: record a backlog for `side`; start the worker; watch it drain."""
    import redis

    queued = stack.call(
        "bench.survey_ingest:record_backlog",
        side=side,
        first_invitation=seeded[side]["first_invitation"],
        first=first,
        count=count,
    )
    client = redis.Redis.from_url(stack.env()["REDIS_URL"])
    worker = stack.worker(concurrency=2, name=f"worker-{side}")
    try:
        sql = counted_sql(side, seeded[side]["inbox"])
        watched = watch_drain(
            stack.env()["DATABASE_URL"], sql, lambda: client.llen(stack.prefix), expected=queued, budget=budget
        )
        return asyncio.run(watched)
    finally:
        worker.stop()
        client.close()


def check_exact(*, inbox: int) -> int:
    """Cells of an inbox where the rollups differ from recomputing its conversations from their
    raw rows (what `recompute_metrics` does, in chunks): should be 0."""
    from collections import defaultdict

    from django.utils import timezone

    from chat.models import Conversation
    from feedback import metrics, pipeline

    now, tz = timezone.now(), pipeline.workspace_tz()
    expected: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    ids = list(Conversation.objects.filter(inbox_id=inbox).order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), 2000):
        for item in pipeline.load_inputs(ids[start : start + 2000]).values():
            for key, (count, total) in pipeline.compute(item, now=now, tz=tz)[1].items():
                expected[key][0] += count
                expected[key][1] += total
    days = {metrics.parse_cell_key(key)[0] for key in expected}
    stored = {
        key: value
        for key, value in pipeline.stored_rollups(min(days), max(days)).items()
        if metrics.parse_cell_key(key)[1] == inbox
    }
    # Only this inbox's own cells: the cells of every inbox at once (the duration histograms'
    # inbox 0, ADR 0004) hold other inboxes' conversations too.
    expected = {
        key: tuple(value)
        for key, value in expected.items()
        if value != [0, 0] and metrics.parse_cell_key(key)[1] == inbox
    }
    return sum(1 for key in set(stored) | set(expected) if stored.get(key) != expected.get(key))


def main(argv=None) -> dict:
    args = harness.parse_args(__doc__.splitlines()[0], argv)
    intake_max, widget, backlog, seconds = (6_000, 6_000, 10_000, 8.0) if args.quick else (30_000, 30_000, 60_000, 30.0)
    with harness.Stack(NAME) as stack:
        started = time.perf_counter()
        seeded = stack.call("bench.survey_ingest:seed", ours=intake_max + backlog, peer=backlog, widget=widget)
        print(f"  seeded in {time.perf_counter() - started:.0f} s", flush=True)
        database_url = stack.env()["DATABASE_URL"]
        # (a) and (c): the intake, by the survey page and by the widget, with the worker running
        worker = stack.worker(concurrency=2)
        server = stack.server()
        sql = counted_sql("ours", seeded["ours"]["inbox"])
        with harness.profiled(stack, server, args.profile):
            http = asyncio.run(intake_http(server, database_url, sql, last=intake_max, clients=8, seconds=seconds))
        ws = asyncio.run(intake_widget(server, database_url, sql, seeded["widget"], seconds=seconds))
        worker.stop()
        server.process.stop()
        # (b): backlogs of the same size drained by the same worker, ours then the peer's
        mine = drain(stack, seeded, "ours", first=intake_max + 1, count=backlog, budget=300)
        theirs = drain(stack, seeded, "peer", first=1, count=backlog, budget=2 * seconds)
        exact = stack.call("bench.survey_ingest:check_exact", inbox=seeded["ours"]["inbox"])
    intake = max(http["answers_per_s"], ws["answers_per_s"])
    ours = {
        # End to end: no more answers/s reach the rollups than the server takes or than the
        # worker counts them (answers wake a drain per window, not a task each: chat.wakeup).
        "responses_per_s": min(intake, mine["counted_per_s"]),
        "pipeline_answers_per_s": mine["counted_per_s"],
        "pipeline_tasks_per_s": mine["tasks_per_s"],
        "backlog": backlog,
        "backlog_counted": mine["counted"],
        "staleness_p99_s": max(http["staleness_p99_s"], ws["staleness_p99_s"]),
        **{f"http_{key}": value for key, value in http.items()},
        **{f"widget_{key}": value for key, value in ws.items()},
        "differences_vs_recompute": exact,
    }
    peer = {
        "responses_per_s": min(intake, theirs["tasks_per_s"]),
        "pipeline_tasks_per_s": theirs["tasks_per_s"],
        "backlog": backlog,
        "backlog_tasks_taken": theirs["tasks_taken"],
    }
    ratio = ours["responses_per_s"] / peer["responses_per_s"] if peer["responses_per_s"] else None
    ok = (
        ours["responses_per_s"] >= TARGET["responses_per_s_min"]
        and ours["staleness_p99_s"] < TARGET["staleness_p99_s_max"]
        and http["not_in_rollups"] == 0
        and ws["not_in_rollups"] == 0
        and ours["backlog_counted"] == backlog
        and exact == 0
    )
    return harness.report(NAME, ours, peer, ratio, TARGET, ok)


if __name__ == "__main__":
    main()
