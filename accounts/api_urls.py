"""/api/v1/account/ routes: the caller's login sessions (and API tokens)."""

from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("sessions", api.SessionViewSet, basename="account-session")

urlpatterns = router.urls
