"""/api/v1/surveys/ routes."""

from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("responses", views.SurveyResponseViewSet, basename="survey-response")
router.register("policies", views.SurveyPolicyViewSet, basename="survey-policy")

urlpatterns = router.urls
