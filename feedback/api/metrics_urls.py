"""/api/v1/ routes of the metrics, the conversation export and the follow-ups."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import metrics

router = SimpleRouter()
router.register("followups", metrics.FollowUpViewSet, basename="followup")

urlpatterns = [
    path("metrics/summary/", metrics.MetricsSummaryView.as_view(), name="metrics-summary"),
    path("metrics/timeseries/", metrics.MetricsTimeseriesView.as_view(), name="metrics-timeseries"),
    path("metrics/breakdown/", metrics.MetricsBreakdownView.as_view(), name="metrics-breakdown"),
    path("metrics/charts/", metrics.MetricsChartsView.as_view(), name="metrics-charts"),
    path("exports/conversations.csv", metrics.ConversationExportView.as_view(), name="export-conversations"),
    *router.urls,
]
