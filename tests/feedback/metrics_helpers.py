"""Helpers of the metrics tests: survey rows written directly, and "rollups equal a recomputation"."""

from datetime import date, timedelta

from django.utils import timezone

from feedback import metrics, pipeline
from feedback.models import DurationHistogram, MetricRollup, SurveyInvitation, SurveyResponse


def answered(conversation, *, csat=None, ces=None, nps=None, channel=None, sent_at=None, answered_at=None):
    """The conversation's invitation for its latest resolution, sent, and answered with these scores.

    Written straight to the tables (the surveys' own services are tested with the surveys), then
    handed to the pipeline as its survey_answered event would.
    """
    conversation.refresh_from_db()
    now = timezone.now()
    invitation, _ = SurveyInvitation.objects.get_or_create(
        conversation=conversation,
        resolution_number=conversation.reopen_count + 1,
        defaults={"contact": conversation.contact, "channel": channel or conversation.inbox.channel,
                  "inbox": conversation.inbox},
    )  # fmt: skip
    invitation.status = SurveyInvitation.Status.ANSWERED
    invitation.sent_at = sent_at or now
    invitation.answered_at = answered_at or now
    invitation.agent_id = conversation.assignee_id
    invitation.team_id = conversation.team_id
    invitation.inbox_id = conversation.inbox_id
    invitation.channel = channel or invitation.channel
    invitation.save()
    response, _ = SurveyResponse.objects.update_or_create(
        invitation=invitation,
        defaults={"csat": csat, "ces": ces, "nps": nps, "channel": invitation.channel,
                  "answered_at": answered_at or now},
    )  # fmt: skip
    pipeline.response_arrived(response_id=response.pk)
    return response


def sent_only(conversation, *, sent_at=None):
    conversation.refresh_from_db()
    invitation, _ = SurveyInvitation.objects.get_or_create(
        conversation=conversation,
        resolution_number=conversation.reopen_count + 1,
        defaults={"contact": conversation.contact, "channel": conversation.inbox.channel, "inbox": conversation.inbox},
    )
    invitation.status = SurveyInvitation.Status.SENT
    invitation.sent_at = sent_at or timezone.now()
    invitation.agent_id = conversation.assignee_id
    invitation.team_id = conversation.team_id
    invitation.save()
    pipeline.refresh_conversations([conversation.pk])
    return invitation


def wide_range() -> tuple[date, date]:
    today = metrics.local_day(timezone.now(), pipeline.workspace_tz())
    return today - timedelta(days=60), today + timedelta(days=1)


def rollup_snapshot() -> dict:
    """Every non-empty rollup and histogram cell: (day, inbox, agent, team, channel, metric) → (count, total)."""
    cells = {
        (r.day, r.inbox_id, r.agent_key, r.team_key, r.channel, r.metric): (r.count, r.total)
        for r in MetricRollup.objects.exclude(count=0, total=0)
    }
    for h in DurationHistogram.objects.exclude(count=0, total=0):
        metric = metrics.histogram_cell(h.metric, h.level, h.bucket)
        cells[(h.day, h.inbox_key, h.agent_key, h.team_key, h.channel, metric)] = (h.count, h.total)
    return cells


def differences(now=None) -> list:
    day_from, day_to = wide_range()
    return pipeline.recompute(day_from=day_from, day_to=day_to, write=False, now=now).differences
