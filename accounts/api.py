"""REST views of accounts (/api/v1/account/): parse, authorise through selectors, call one service, serialise."""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from cxhub.errors import NotFound

from . import selectors, services
from .models import AgentSession


class SessionSerializer(serializers.ModelSerializer):
    current = serializers.SerializerMethodField(help_text="The session this request was made with.")

    class Meta:
        model = AgentSession
        fields = ["id", "user", "created_at", "last_seen_at", "ip_address", "user_agent", "current"]
        read_only_fields = fields

    def get_current(self, row) -> bool:
        request = self.context.get("request")
        session = getattr(request, "session", None)
        return bool(session is not None and session.session_key == row.session_key)


class SessionListQuery(serializers.Serializer):
    user = serializers.IntegerField(required=False, min_value=1, help_text="Admins: another user's sessions.")


@extend_schema_view(
    list=extend_schema(parameters=[SessionListQuery], description="Your open login sessions (admins: `?user=`)."),
    destroy=extend_schema(description="Sign that session out at once; its console sockets close (4401)."),
)
class SessionViewSet(mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    serializer_class = SessionSerializer
    pagination_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator
            return AgentSession.objects.none()
        query = SessionListQuery(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        user = self.request.user
        if "user" in query.validated_data:
            if not user.is_staff:
                raise NotFound()
            user = get_user_model().objects.filter(pk=query.validated_data["user"]).first()
            if user is None:
                raise NotFound()
        return selectors.sessions_of(user)

    def destroy(self, request, pk=None):
        services.session_end(session=selectors.session_get(request.user, pk), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
