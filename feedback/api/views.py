"""Survey API views: answers are read-only here (only the customer's token can answer); policies for supervisors."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from chat.selectors import inbox_get, user_is_supervisor
from cxhub.api import CursorPagination
from cxhub.errors import Forbidden
from feedback import selectors, services
from feedback.models import SurveyPolicy

from . import serializers as s
from .filters import SurveyResponseFilter


class IsSupervisor(BasePermission):
    def has_permission(self, request, view) -> bool:
        if not user_is_supervisor(request.user):
            raise Forbidden("Only supervisors manage survey policies.")
        return True


class AnsweredPagination(CursorPagination):
    ordering = ("-answered_at", "-id")


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("from", str, description="First day (YYYY-MM-DD, inclusive) of answered_at."),
            OpenApiParameter("to", str, description="Last day (YYYY-MM-DD, inclusive) of answered_at."),
        ]
    )
)
class SurveyResponseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Survey answers of the conversations in the user's inboxes, newest first (read-only)."""

    serializer_class = s.SurveyResponseSerializer
    filterset_class = SurveyResponseFilter
    pagination_class = AnsweredPagination

    def get_queryset(self):
        return selectors.response_list(self.request.user)


INBOX_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The inbox's numeric id.")


@extend_schema_view(
    retrieve=extend_schema(parameters=[INBOX_ID]),
    partial_update=extend_schema(
        parameters=[INBOX_ID], request=s.SurveyPolicyUpdateSerializer, responses=s.SurveyPolicySerializer
    ),
)
class SurveyPolicyViewSet(viewsets.GenericViewSet):
    """Each inbox's survey policy, by inbox id (supervisors only)."""

    queryset = SurveyPolicy.objects.none()  # reads go through selectors; this only types the schema
    lookup_value_regex = r"\d+"
    serializer_class = s.SurveyPolicySerializer
    permission_classes = [IsSupervisor]
    pagination_class = None
    http_method_names = ["get", "patch", "head", "options"]

    def list(self, request):
        policies = [policy or services.policy_of(inbox) for inbox, policy in selectors.policy_inboxes(request.user)]
        return Response(self.get_serializer(policies, many=True).data)

    def retrieve(self, request, pk=None):
        return Response(self.get_serializer(services.policy_of(inbox_get(request.user, pk))).data)

    def partial_update(self, request, pk=None):
        inbox = inbox_get(request.user, pk)
        update = s.SurveyPolicyUpdateSerializer(data=request.data)
        update.is_valid(raise_exception=True)
        policy = services.survey_policy_update(inbox=inbox, by=request.user, **update.to_service_fields())
        return Response(self.get_serializer(policy).data)
