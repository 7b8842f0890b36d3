"""accounts' /api/v1/ routes: the caller's login sessions and API tokens, the audit export, retention."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("account/sessions", api.SessionViewSet, basename="account-session")
router.register("account/tokens", api.ApiTokenViewSet, basename="account-token")

urlpatterns = [
    path("audit/", api.audit_export, name="audit-export"),
    path("workspace/retention/", api.retention_settings, name="workspace-retention"),
    path("workspace/retention/preview/", api.retention_preview, name="workspace-retention-preview"),
    *router.urls,
]
