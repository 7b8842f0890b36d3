"""Peer of metrics_summary: the summary's figures computed by scanning the raw rows.

What a first dashboard does: for the period and the period before it, read every
conversation and every survey response in the period and count in Python (no rollups, no
facts). Mounted only by bench/urls.py at /bench/peer/metrics/summary/.
"""

from datetime import timedelta

from django.urls import path
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.views import APIView

from chat.models import Conversation
from feedback import metrics
from feedback.models import SurveyResponse


def _figures(start, end) -> dict:
    opened = resolved = 0
    first_response, resolution = [], []
    for row in Conversation.objects.filter(opened_at__gte=start, opened_at__lt=end).values(
        "opened_at", "first_customer_message_at", "first_reply_at", "first_resolved_at"
    ):
        opened += 1
        if row["first_reply_at"] and row["first_customer_message_at"]:
            first_response.append((row["first_reply_at"] - row["first_customer_message_at"]).total_seconds())
        if row["first_resolved_at"]:
            resolved += 1
            resolution.append((row["first_resolved_at"] - row["opened_at"]).total_seconds())
    scores = {"csat": {}, "ces": {}, "nps": {}}
    answered = 0
    for row in SurveyResponse.objects.filter(answered_at__gte=start, answered_at__lt=end).values("csat", "ces", "nps"):
        answered += 1
        for question, values in scores.items():
            if row[question] is not None:
                values[row[question]] = values.get(row[question], 0) + 1
    csat_count = sum(scores["csat"].values())
    return {
        "opened": {"value": opened},
        "resolved": {"value": resolved},
        "first_response_time": metrics.duration(first_response),
        "resolution_time": metrics.duration(resolution),
        "csat": {
            "value": sum(v for k, v in scores["csat"].items() if k >= 4) / csat_count if csat_count else None,
            "denominator": csat_count,
        },
        "ces": {"distribution": scores["ces"]},
        "nps": {"distribution": scores["nps"]},
        "responses": {"value": answered},
    }


class ScanSummaryView(APIView):
    def get(self, request):
        end = timezone.now()
        start = end - timedelta(days=30)
        return Response(
            {"metrics": _figures(start, end), "previous": {"metrics": _figures(start - (end - start), start)}}
        )


urlpatterns = [path("summary/", ScanSummaryView.as_view())]
