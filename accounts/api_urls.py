"""/api/v1/account/ routes: the caller's login sessions (and API tokens)."""

from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("sessions", api.SessionViewSet, basename="account-session")
router.register("tokens", api.ApiTokenViewSet, basename="account-token")

urlpatterns = router.urls
