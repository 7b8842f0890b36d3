"""Peer of survey_ingest: one Celery task per answer, recounting its rollup figures from raw rows.

What a straightforward implementation does: when an answer is recorded, its task counts again,
from the survey responses, that day's CSAT, CES and NPS scores for the answer's inbox, agent,
team and channel, and writes those counters. It is idempotent (it writes counts, not
increments) and as exact as a recount, but every answer costs a scan of its day's answers.
Its counters live in their own table (created by the bench's seed), never in cxhub's rollups.
Loaded by the bench worker only (bench/settings.py: CELERY_IMPORTS).
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from celery import shared_task
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count

from feedback.models import SurveyResponse

TABLE = "bench_peer_survey_rollup"
CREATE_TABLE = (
    f"CREATE TABLE {TABLE} (day date, inbox_id bigint, agent_key bigint, team_key bigint, "
    "channel varchar(10), metric varchar(40), count bigint NOT NULL, "
    "PRIMARY KEY (day, inbox_id, agent_key, team_key, channel, metric))"
)


@shared_task(acks_late=True)
def response_recorded(response_id: int) -> None:
    response = SurveyResponse.objects.select_related("invitation").filter(pk=response_id).first()
    if response is None:
        return
    invitation = response.invitation
    tz = ZoneInfo(settings.TIME_ZONE)
    day = response.answered_at.astimezone(tz).date()
    start = datetime.combine(day, datetime.min.time(), tzinfo=tz)
    same_cell = SurveyResponse.objects.filter(
        answered_at__gte=start,
        answered_at__lt=start + timedelta(days=1),
        invitation__inbox_id=invitation.inbox_id,
        invitation__agent_id=invitation.agent_id,
        invitation__team_id=invitation.team_id,
        invitation__channel=invitation.channel,
    )
    counts = {}
    for question in ("csat", "ces", "nps"):
        scores = same_cell.filter(**{f"{question}__isnull": False}).values(question).annotate(n=Count("pk"))
        for row in scores:
            counts[f"{question}_{row[question]}"] = row["n"]
    key = (day, invitation.inbox_id, invitation.agent_id or 0, invitation.team_id or 0, invitation.channel)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {TABLE} (day, inbox_id, agent_key, team_key, channel, metric, count) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (day, inbox_id, agent_key, team_key, channel, metric) DO UPDATE SET count = excluded.count",
            [(*key, metric, count) for metric, count in sorted(counts.items())],
        )
