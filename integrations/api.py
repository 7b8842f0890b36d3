"""Read-only REST list of webhook subscriptions and the delivery log, for supervisors and admins.

A credential limited to some inboxes (an API token: chat.selectors.credential_inbox_ids) sees the
subscriptions of those inboxes and the workspace-wide ones (inbox empty), as it reads every
workspace-wide object, and only the deliveries of its inboxes' subscriptions: a workspace-wide
subscription's deliveries carry every inbox's events. Subscriptions are changed in the admin only.
"""

from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets

from chat.selectors import credential_inbox_ids, is_number, user_is_supervisor
from cxhub.api import CursorPagination
from cxhub.errors import Forbidden

from .models import WebhookDelivery, WebhookSubscription


class WebhookSubscriptionSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookSubscription
        fields = ["id", "name", "url", "event_types", "inbox", "is_active", "created_at"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "subscription",
            "event_type",
            "event_id",
            "status",
            "attempts",
            "last_status_code",
            "last_error",
            "last_duration_ms",
            "next_attempt_at",
            "delivered_at",
            "created_at",
            "payload",
        ]


class _SupervisorsOnly:
    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not user_is_supervisor(request.user):
            raise Forbidden("Only supervisors and admins see the webhooks.")


class NewestFirst(CursorPagination):
    ordering = ("-created_at",)


class WebhookSubscriptionViewSet(_SupervisorsOnly, viewsets.ReadOnlyModelViewSet):
    serializer_class = WebhookSubscriptionSerializer
    queryset = WebhookSubscription.objects.order_by("id")

    def get_queryset(self):
        limited_to = credential_inbox_ids(self.request.user)
        if limited_to is None:
            return self.queryset
        return self.queryset.filter(Q(inbox__isnull=True) | Q(inbox_id__in=limited_to))


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=WebhookDelivery.Status.values),
            OpenApiParameter("subscription", int),
            OpenApiParameter("event_type", str),
        ]
    )
)
class WebhookDeliveryViewSet(_SupervisorsOnly, viewsets.ReadOnlyModelViewSet):
    """The delivery log, newest first; filter by status, subscription and event type."""

    serializer_class = WebhookDeliverySerializer
    pagination_class = NewestFirst
    queryset = WebhookDelivery.objects.all()

    def get_queryset(self):
        queryset = WebhookDelivery.objects.all()
        limited_to = credential_inbox_ids(self.request.user)
        if limited_to is not None:
            queryset = queryset.filter(subscription__inbox_id__in=limited_to)
        params = self.request.query_params
        if params.get("status") in WebhookDelivery.Status.values:
            queryset = queryset.filter(status=params["status"])
        if is_number(str(params.get("subscription", ""))) and len(params["subscription"]) <= 18:
            queryset = queryset.filter(subscription_id=int(params["subscription"]))
        if params.get("event_type"):
            queryset = queryset.filter(event_type=params["event_type"][:40])
        return queryset
