"""Console pages of the feedback app: the metrics dashboard and the follow-up list (under /console/)."""

from django.urls import path

from . import console_views

urlpatterns = [
    path("dashboard/", console_views.dashboard, name="console-dashboard"),
    path("followups/", console_views.followup_list, name="console-followups"),
    path("followups/<int:follow_up_id>/assign/", console_views.followup_assign, name="console-followup-assign"),
    path("followups/<int:follow_up_id>/close/", console_views.followup_close, name="console-followup-close"),
]
