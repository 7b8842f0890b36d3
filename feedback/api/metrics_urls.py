"""/api/v1/ routes of the metrics, the predicted satisfaction, the conversation export and the follow-ups."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import metrics, satisfaction

router = SimpleRouter()
router.register("followups", metrics.FollowUpViewSet, basename="followup")

urlpatterns = [
    path("metrics/summary/", metrics.MetricsSummaryView.as_view(), name="metrics-summary"),
    path("metrics/timeseries/", metrics.MetricsTimeseriesView.as_view(), name="metrics-timeseries"),
    path("metrics/breakdown/", metrics.MetricsBreakdownView.as_view(), name="metrics-breakdown"),
    path("metrics/charts/", metrics.MetricsChartsView.as_view(), name="metrics-charts"),
    path("metrics/satisfaction/", satisfaction.MetricsSatisfactionView.as_view(), name="metrics-satisfaction"),
    path("satisfaction/model/", satisfaction.SatisfactionModelView.as_view(), name="satisfaction-model"),
    path("satisfaction/model/train/", satisfaction.SatisfactionTrainView.as_view(), name="satisfaction-model-train"),
    path(
        "satisfaction/conversations/",
        satisfaction.ConversationSatisfactionListView.as_view(),
        name="satisfaction-conversation-list",
    ),
    path(
        "satisfaction/conversations/<int:conversation_id>/",
        satisfaction.ConversationSatisfactionView.as_view(),
        name="satisfaction-conversation-detail",
    ),
    path("exports/conversations.csv", metrics.ConversationExportView.as_view(), name="export-conversations"),
    *router.urls,
]
