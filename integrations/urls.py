"""/api/v1/webhooks/: subscriptions and deliveries (read-only)."""

from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("subscriptions", api.WebhookSubscriptionViewSet, basename="webhook-subscription")
router.register("deliveries", api.WebhookDeliveryViewSet, basename="webhook-delivery")

urlpatterns = router.urls
