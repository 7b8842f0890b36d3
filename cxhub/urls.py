"""Top-level URLs (DESIGN.md §3)."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from chat import webhooks as chat_webhooks

from . import i18n, views

api_v1 = [
    path("", include("chat.api.urls")),
    path("", include("feedback.api.metrics_urls")),  # metrics, exports, follow-ups
    path("surveys/", include("feedback.api.urls")),
    path("webhooks/", include("integrations.urls")),  # outbound webhooks: subscriptions, delivery log
    path("", include("accounts.api_urls")),  # account/sessions, account/tokens, audit
]

urlpatterns = [
    path("", views.start, name="start"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    # the widget's and the console's texts in each language (cxhub/i18n.py)
    path("i18n/widget/<str:language>.json", i18n.script_catalog, {"bundle": "widget"}, name="i18n-widget"),
    path("i18n/console/<str:language>.json", i18n.script_catalog, {"bundle": "console"}, name="i18n-console"),
    path("metrics", views.prometheus_metrics, name="prometheus-metrics"),
    path("admin/", admin.site.urls),
    path("s/", include("feedback.urls")),
    path("api/v1/", include(api_v1)),
    path("console/", include("feedback.console_urls")),  # dashboard, follow-ups
    path("console/", include("accounts.urls")),  # the one-time code, the agent's account
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI with its init script as a file, not inline (Content-Security-Policy); no ReDoc,
    # which needs inline script and style.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api_docs.html"),
        name="api-docs",
    ),
    path("", include("chat.urls")),  # /console/ and /demo/
    path("hooks/email/<str:inbox_public_id>/inbound", chat_webhooks.email_inbound, name="hook-email-inbound"),
    path("hooks/twilio/<str:inbox_public_id>/sms", chat_webhooks.twilio_sms, name="hook-twilio-sms"),
    path("hooks/twilio/<str:inbox_public_id>/status", chat_webhooks.twilio_status, name="hook-twilio-status"),
]

handler400 = "cxhub.views.error_400"
handler403 = "cxhub.views.error_403"
handler404 = "cxhub.views.error_404"
handler500 = "cxhub.views.error_500"
