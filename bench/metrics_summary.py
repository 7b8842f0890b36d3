"""metrics_summary: /api/v1/metrics/summary/ p50/p99 over 1,000,000 survey responses.

Seeds, with set-based SQL, 1,000,000 resolved conversations over the last 60 days, each with
its contact, its `ConversationFacts`, an answered survey invitation and its response, and
the `MetricRollup` and `DurationHistogram` cells those rows add up to (what the pipeline would
have written).
Then times the summary (default period: the last 30 days and the 30 before, every figure of
docs/metrics.md) as a supervisor, one request at a time, beside the peer: the same kind of figures
computed by scanning the raw rows (bench/peers/metrics_scan.py). Target: p99 under 50 ms.

    .venv/bin/python bench/metrics_summary.py [--quick]
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

NAME = "metrics_summary"
TARGET = {"p99_ms_max": 50}
DAYS = 60


def _insert_select(model, expressions: dict[str, str], source: str) -> int:
    """INSERT INTO model's table SELECT …: given columns from SQL, every other from the field default;
    returns how many rows it wrote."""
    from django.db import connection

    columns, values, args = [], [], []
    for f in model._meta.concrete_fields:
        if f.primary_key:
            continue
        columns.append(connection.ops.quote_name(f.column))
        if f.column in expressions:
            values.append(expressions[f.column])
        elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            values.append("now()")
        else:
            values.append("%s")
            args.append(f.get_db_prep_save(f.get_default(), connection))
    sql = f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(values)} FROM {source}"
    with connection.cursor() as cursor:
        cursor.execute(sql, args)
        return cursor.rowcount


def _next_id(model) -> int:
    from django.db.models import Max

    return (model.objects.aggregate(m=Max("pk"))["m"] or 0) + 1


def seed(*, responses: int) -> dict:
    """Inboxes, teams, agents, a supervisor's token, then `responses` answered conversations."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.services import api_token_create
    from chat.models import AgentProfile, Contact, Conversation, Inbox, InboxMembership, Team
    from feedback.metrics import DURATION_BUCKET_EDGES
    from feedback.models import ConversationFacts, DurationHistogram, MetricRollup, SurveyInvitation, SurveyResponse

    User = get_user_model()
    inboxes = [Inbox.objects.create(name=f"Web {i}", channel="web") for i in range(4)]
    teams = [Team.objects.create(name=f"Team {i}") for i in range(3)]
    agents = []
    for i in range(10):
        user = User.objects.create_user(username=f"agent{i}", password="bench-pass-123")
        AgentProfile.objects.create(user=user, display_name=f"Agent {i}")
        for inbox in inboxes:
            InboxMembership.objects.create(user=user, inbox=inbox)
        agents.append(user.pk)
    boss = User.objects.create_user(username="supervisor", password="bench-pass-123")
    AgentProfile.objects.create(user=boss, display_name="Supervisor", is_supervisor=True)
    token = api_token_create(user=boss, name="bench")[1]

    inbox_ids = "ARRAY[" + ",".join(str(i.pk) for i in inboxes) + "]::bigint[]"
    team_ids = "ARRAY[" + ",".join(str(t.pk) for t in teams) + "]::bigint[]"
    agent_ids = "ARRAY[" + ",".join(str(a) for a in agents) + "]::bigint[]"
    now = timezone.now()
    c0, v0, i0 = _next_id(Contact), _next_id(Conversation), _next_id(SurveyInvitation)
    series = f"generate_series(1::bigint, {int(responses)}::bigint) AS g"  # g * 7919 needs 64 bits
    now_sql = f"'{now.isoformat()}'::timestamptz"
    span = (DAYS - 1) * 86400
    opened = f"({now_sql} - interval '1 day' - make_interval(secs => (g * 7919) %% {span}))"
    first_customer = opened
    first_reply = f"({opened} + make_interval(secs => 30 + (g * 31) %% 3600))"
    resolved = f"({opened} + make_interval(secs => 600 + (g * 97) %% 43200))"
    sent = f"({resolved} + interval '10 minutes')"
    answered = f"({resolved} + interval '1 hour')"
    edges = "ARRAY[" + ",".join(repr(e) for e in DURATION_BUCKET_EDGES) + "]::float8[]"
    first_response_seconds = "(30 + (g * 31) %% 3600)::float"
    resolution_seconds = "(600 + (g * 97) %% 43200)::float"
    inbox = f"({inbox_ids})[(1 + g %% 4)::int]"
    agent = f"({agent_ids})[(1 + (g * 7) %% 10)::int]"
    team = f"({team_ids})[(1 + (g * 3) %% 3)::int]"
    with transaction.atomic(), connection.cursor() as cursor:
        # The rows are consistent by construction: skip the per-row foreign-key triggers.
        cursor.execute("SET LOCAL session_replication_role = replica")
        _insert_select(Contact, {"name": "'Customer ' || g", "email": "'c' || g || '@example.com'"}, series)
        _insert_select(
            Conversation,
            {
                "contact_id": f"{c0 - 1} + g",
                "inbox_id": inbox,
                "status": "'resolved'",
                "assignee_id": agent,
                "team_id": team,
                "subject": "'Question ' || g",
                "opened_at": opened,
                "first_customer_message_at": first_customer,
                "first_reply_at": first_reply,
                "resolved_at": resolved,
                "first_resolved_at": resolved,
                "last_activity_at": resolved,
                "last_seq": "5",
                "last_customer_channel": "'web'",
                "email_thread_token": "md5(random()::text || g)",
            },
            series,
        )
        _insert_select(
            ConversationFacts,
            {
                "conversation_id": f"{v0 - 1} + g",
                "inbox_id": inbox,
                "agent_id": agent,
                "team_id": team,
                "channel": "'web'",
                "opened_at": opened,
                "first_reply_at": first_reply,
                "first_resolved_at": resolved,
                "first_response_seconds": first_response_seconds,
                "resolution_seconds": resolution_seconds,
                # the leaf, as metrics.duration_bucket: width_bucket() is bisect_right on the edges
                "first_response_bucket": f"width_bucket({first_response_seconds}, {edges})",
                "resolution_bucket": f"width_bucket({resolution_seconds}, {edges})",
                "customer_messages": "3",
                "agent_messages": "2",
                "channels_used": "'[\"web\"]'::jsonb",
                "window_ended": f"{resolved} < {now_sql} - interval '7 days'",
                "recontacted_7d": "false",
                "fcr": "true",
                "csat": "1 + g %% 5",
                "ces": "1 + g %% 7",
                "nps": "g %% 11",
                "survey_answered_at": answered,
            },
            series,
        )
        _insert_select(
            SurveyInvitation,
            {
                "conversation_id": f"{v0 - 1} + g",
                "contact_id": f"{c0 - 1} + g",
                "channel": "'web'",
                "status": "'answered'",
                "sent_at": sent,
                "answered_at": answered,
                "expires_at": f"{sent} + interval '7 days'",
                "agent_id": agent,
                "team_id": team,
                "inbox_id": inbox,
            },
            series,
        )
        _insert_select(
            SurveyResponse,
            {
                "invitation_id": f"{i0 - 1} + g",
                "csat": "1 + g %% 5",
                "ces": "1 + g %% 7",
                "nps": "g %% 11",
                "channel": "'web'",
                "answered_at": answered,
                "updated_at": answered,
            },
            series,
        )
        _seed_rollups(MetricRollup._meta.db_table, ConversationFacts._meta.db_table, now)
        _seed_histograms(DurationHistogram._meta.db_table, ConversationFacts._meta.db_table)
    with connection.cursor() as cursor:
        # What autovacuum does to a table after a bulk load (PostgreSQL >= 13 vacuums after inserts),
        # done now so that a run does not depend on when autovacuum wakes: statistics, and the
        # visibility map that lets index-only scans skip the table (docs/benchmarks.md).
        cursor.execute("VACUUM ANALYZE")
    return {
        "token": token,
        "rollup_cells": MetricRollup.objects.count(),
        "histogram_cells": DurationHistogram.objects.count(),
    }


def _seed_rollups(rollups: str, facts: str, now) -> None:
    """The counters of docs/metrics.md, summed per (day, inbox, agent, team, channel) from the facts."""
    from django.conf import settings
    from django.db import connection

    tz = settings.TIME_ZONE

    def cells(metric: str, at: str, total: str, where: str = "true", metric_sql: str | None = None) -> str:
        day = f"(({at}) AT TIME ZONE '{tz}')::date"
        name = metric_sql or f"'{metric}'"
        return (
            f"INSERT INTO {rollups} (day, inbox_id, agent_key, team_key, channel, metric, count, total) "
            f"SELECT {day}, inbox_id, coalesce(agent_id, 0), coalesce(team_id, 0), channel, {name}, "
            f"count(*), coalesce(sum({total}), 0)::bigint FROM {facts} WHERE {where} "
            "GROUP BY 1, 2, 3, 4, 5, 6"
        )

    statements = [
        cells("opened", "opened_at", "transfers"),
        cells("first_response", "first_reply_at", "round(first_response_seconds * 1000)"),
        cells("resolved", "first_resolved_at", "round(resolution_seconds * 1000)"),
        cells("customer_messages", "first_resolved_at", "customer_messages"),
        cells("window_ended", "first_resolved_at", "0", "window_ended"),
        cells("fcr", "first_resolved_at", "0", "window_ended AND fcr"),
        cells("invitation_sent", "first_resolved_at + interval '10 minutes'", "0"),
        cells("invitation_answered", "first_resolved_at + interval '10 minutes'", "0"),
        cells("", "survey_answered_at", "0", "csat IS NOT NULL", "'csat_' || csat"),
        cells("", "survey_answered_at", "0", "ces IS NOT NULL", "'ces_' || ces"),
        cells("", "survey_answered_at", "0", "nps IS NOT NULL", "'nps_' || nps"),
    ]
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def _seed_histograms(histograms: str, facts: str) -> None:
    """The duration histograms of every level (feedback/metrics.py), summed from the facts' leaves."""
    from django.conf import settings
    from django.db import connection

    from feedback.metrics import DIMENSION_LEVELS, HISTOGRAM_FANOUT, HISTOGRAM_LEVELS

    tz = settings.TIME_ZONE
    with connection.cursor() as cursor:
        for name, at, leaf in (
            ("first_response_seconds", "first_reply_at", "first_response_bucket"),
            ("resolution_seconds", "first_resolved_at", "resolution_bucket"),
        ):
            for level in range(1, HISTOGRAM_LEVELS + 1):
                width = HISTOGRAM_FANOUT ** (HISTOGRAM_LEVELS - level)
                parent = f"{leaf} / {width * HISTOGRAM_FANOUT}" if level > 1 else "0"
                dimensions = "inbox_id, coalesce(agent_id, 0), coalesce(team_id, 0), channel"
                for where in (dimensions, "0, 0, 0, ''") if level <= DIMENSION_LEVELS else ("0, 0, 0, ''",):
                    cursor.execute(
                        f"INSERT INTO {histograms} (day, inbox_key, agent_key, team_key, channel, metric, level, "
                        "parent, bucket, count, total) "
                        f"SELECT ({at} AT TIME ZONE '{tz}')::date, {where}, '{name}', {level}, {parent}, "
                        f"{leaf} / {width}, count(*), sum(round({name} * 1000000))::bigint "
                        f"FROM {facts} WHERE {leaf} IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9"
                    )


def check(*, token: str) -> dict:
    """One summary in-process: it answers 200, counts what was seeded (and its query count), and its
    durations are exactly those computed from every value of both periods (`reports.durations`)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.selectors import api_token_for
    from feedback import metrics, reports

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")
    out = {}
    for side, url in (("ours", "/api/v1/metrics/summary/"),):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200, response.content[:500]
        body = response.json()
        out[side] = {"queries": len(queries), "responses_in_period": _responses(body)}
    filters = reports.parse_filters(api_token_for(token).user, {})
    every_value = [reports.durations(filters), reports.durations(filters.previous())]
    shown = [body["metrics"], body["previous"]["metrics"]]
    out["ours"]["durations_exact"] = all(
        shown[n][name] == every_value[n][name] for n in range(2) for name in metrics.DURATION_METRICS
    )
    return out


def _responses(body: dict) -> int | None:
    metrics = body.get("metrics", {})
    csat = metrics.get("csat_percent") or metrics.get("csat") or {}
    return csat.get("denominator")


async def _time(base: str, path: str, token: str, seconds: float, minimum: int, *, warm: bool = True) -> dict:
    import aiohttp

    latencies = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
        if warm:
            async with session.get(base + path) as response:
                await response.read()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline or len(latencies) < minimum:
            started = time.perf_counter()
            async with session.get(base + path) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"{path} -> {response.status}")
            latencies.append(time.perf_counter() - started)
    return {**harness.latency_figures(latencies), "requests": len(latencies)}


def main(argv=None) -> dict:
    args = harness.parse_args(__doc__.splitlines()[0], argv)
    n = 50_000 if args.quick else 1_000_000
    seconds, minimum = (5.0, 3) if args.quick else (20.0, 5)
    with harness.Stack(NAME) as stack:
        started = time.monotonic()
        seeded = stack.call("bench.metrics_summary:seed", responses=n)
        print(
            f"  seeded {n:,} responses, {seeded['rollup_cells']:,} rollup cells, {seeded['histogram_cells']:,} "
            f"histogram cells in {time.monotonic() - started:.0f} s"
        )
        checked = stack.call("bench.metrics_summary:check", token=seeded["token"])
        server = stack.server()
        with harness.profiled(stack, server, args.profile):
            ours = asyncio.run(_time(server.http, "/api/v1/metrics/summary/", seeded["token"], seconds, minimum))
            peer_path = "/bench/peer/metrics/summary/"  # seconds to minutes per request: few, not warmed
            peer = asyncio.run(_time(server.http, peer_path, seeded["token"], 0, 2 if args.quick else 1, warm=False))
    ours.update(
        responses=n, rollup_cells=seeded["rollup_cells"], histogram_cells=seeded["histogram_cells"], **checked["ours"]
    )
    ratio = peer["p50_ms"] / ours["p50_ms"] if ours["p50_ms"] else None
    ok = ours["p99_ms"] < TARGET["p99_ms_max"]
    return harness.report(NAME, ours, peer, ratio, TARGET, ok)


if __name__ == "__main__":
    main()
