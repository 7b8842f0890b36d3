"""survey_ingest: survey answers/s into the metric rollups, and answer → visible staleness.

Seeds (set-based SQL) resolved conversations with a *sent* survey invitation each, whose raw
tokens the driver knows. The driver posts answers to the survey page `/s/<token>/` (the
no-JavaScript form: one CSRF cookie for the whole run) as fast as the server takes them,
with a few concurrent clients, while a real Celery worker runs the metrics pipeline. A poller
reads the rollup counters (what /api/v1/metrics/summary/ sums) every 200 ms: an answer is
*visible* once the rollups count as many answers as had been posted when it was posted
(answers are counted in posting order, so staleness is measured by rank).
Target: at least 5,000 responses/s into the rollups, staleness p99 under 5 s.

    .venv/bin/python bench/survey_ingest.py [--quick]
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
TOKEN_SQL = "'bench-survey-token-' || lpad(g::text, 10, '0')"


def token(n: int) -> str:
    return f"bench-survey-token-{n:010d}"


def seed(*, invitations: int) -> dict:
    """`invitations` resolved conversations, each with a sent invitation (token `token(g)`)."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from bench.metrics_summary import _insert_select, _next_id
    from chat.models import AgentProfile, Contact, Conversation, Inbox
    from feedback.models import SurveyInvitation

    inbox = Inbox.objects.create(name="Web", channel="web")
    user = get_user_model().objects.create_user(username="agent0", password="bench-pass-123")
    AgentProfile.objects.create(user=user, display_name="Agent 0")
    now_sql = f"'{timezone.now().isoformat()}'::timestamptz"
    c0, v0 = _next_id(Contact), _next_id(Conversation)
    series = f"generate_series(1, {int(invitations)}) AS g"
    opened = f"({now_sql} - interval '2 hours')"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        _insert_select(Contact, {"name": "'Customer ' || g"}, series)
        _insert_select(
            Conversation,
            {
                "contact_id": f"{c0 - 1} + g",
                "inbox_id": str(inbox.pk),
                "status": "'resolved'",
                "assignee_id": str(user.pk),
                "opened_at": opened,
                "first_customer_message_at": opened,
                "first_reply_at": f"{opened} + interval '2 minutes'",
                "resolved_at": f"{opened} + interval '1 hour'",
                "first_resolved_at": f"{opened} + interval '1 hour'",
                "last_activity_at": f"{opened} + interval '1 hour'",
                "last_customer_channel": "'web'",
                "email_thread_token": "md5(random()::text || g)",
            },
            series,
        )
        _insert_select(
            SurveyInvitation,
            {
                "conversation_id": f"{v0 - 1} + g",
                "contact_id": f"{c0 - 1} + g",
                "channel": "'web'",
                "status": "'sent'",
                "token_hash": f"encode(sha256(({TOKEN_SQL})::bytea), 'hex')",
                "sent_at": f"{opened} + interval '61 minutes'",
                "expires_at": f"{now_sql} + interval '7 days'",
                "agent_id": str(user.pk),
                "inbox_id": str(inbox.pk),
            },
            series,
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"invitations": invitations}


ANSWERS_SQL = "SELECT coalesce(sum(count), 0) FROM feedback_metricrollup WHERE metric LIKE 'csat\\_%%'"


async def drive(server: harness.Server, database_url: str, *, count: int, clients: int, seconds: float) -> dict:
    import aiohttp
    import psycopg

    posted_at: list[float] = []  # monotonic time of each accepted answer, in order
    seen: list[tuple[float, int]] = []  # (time, answers counted in rollups)
    failures: dict[int, int] = {}
    stop_polling = asyncio.Event()

    async def poll():
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            while not stop_polling.is_set():
                row = await (await conn.execute(ANSWERS_SQL)).fetchone()
                seen.append((time.perf_counter(), int(row[0])))
                await asyncio.sleep(0.2)

    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        async with session.get(f"{server.http}/s/{token(count)}/") as response:
            page = await response.text()
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if not match:
            raise RuntimeError(f"no CSRF token on the survey page ({response.status}): {page[:300]}")
        csrf = match.group(1)
        poller = asyncio.create_task(poll())
        pending = iter(range(1, count))
        started = time.perf_counter()
        deadline = started + seconds

        async def client():
            for n in pending:
                if time.perf_counter() > deadline:
                    return
                form = {"csrfmiddlewaretoken": csrf, "csat": str(1 + n % 5), "ces": str(1 + n % 7)}
                async with session.post(f"{server.http}/s/{token(n)}/", data=form, allow_redirects=False) as response:
                    await response.read()
                    if response.status == 303:
                        posted_at.append(time.perf_counter())
                    else:
                        failures[response.status] = failures.get(response.status, 0) + 1

        await asyncio.gather(*(client() for _ in range(clients)))
        posting_done = time.perf_counter()
        # let the pipeline catch up (bounded)
        catch_up_deadline = posting_done + max(30.0, 2 * seconds)
        while time.perf_counter() < catch_up_deadline:
            if seen and seen[-1][1] >= len(posted_at):
                break
            await asyncio.sleep(0.2)
        stop_polling.set()
        await poller
    posted = len(posted_at)
    counted = seen[-1][1] if seen else 0
    times = [t for t, _ in seen]
    counts = [c for _, c in seen]
    staleness = []
    for rank, at in enumerate(posted_at, start=1):
        i = bisect.bisect_left(counts, rank)
        if i < len(counts):
            staleness.append(max(times[i] - at, 0.0))
    last_increase = next((t for t, c in seen if c >= counted), posting_done)
    return {
        "posted": posted,
        "posted_per_s": round(posted / max(posting_done - started, 1e-9), 1),
        "in_rollups": counted,
        "not_in_rollups": posted - counted,
        "responses_per_s": round(counted / max(last_increase - started, 1e-9), 1),
        "staleness_p50_s": round(harness.percentile(staleness, 50), 3),
        "staleness_p99_s": round(harness.percentile(staleness, 99), 3),
        "http_failures": failures,
    }


def main(argv=None) -> dict:
    args = harness.parse_args(__doc__.splitlines()[0], argv)
    count, seconds = (3_000, 8.0) if args.quick else (60_000, 30.0)
    with harness.Stack(NAME) as stack:
        stack.call("bench.survey_ingest:seed", invitations=count)
        stack.worker(concurrency=2)
        server = stack.server()
        database_url = stack.env()["DATABASE_URL"]
        with harness.profiled(stack, server, args.profile):
            ours = asyncio.run(drive(server, database_url, count=count, clients=8, seconds=seconds))
    ok = (
        ours["responses_per_s"] >= TARGET["responses_per_s_min"]
        and ours["staleness_p99_s"] < TARGET["staleness_p99_s_max"]
        and ours["not_in_rollups"] == 0
    )
    return harness.report(NAME, ours, {}, None, TARGET, ok)


if __name__ == "__main__":
    main()
