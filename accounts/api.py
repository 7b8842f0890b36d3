"""REST views of accounts (/api/v1/account/): parse, authorise through selectors, call one service, serialise."""

import json
from collections.abc import Iterator

from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import api_view
from rest_framework.response import Response

from chat.selectors import MAX_ID
from cxhub.errors import Forbidden, NotFound

from . import selectors, services
from .errors import ErrorCode
from .models import AgentSession, ApiToken


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
    user = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="Admins: another user's sessions."
    )


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


class ApiTokenSerializer(serializers.ModelSerializer):
    inboxes = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "read_only", "inboxes", "expires_at", "created_at", "last_used_at"]
        read_only_fields = fields


class ApiTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    read_only = serializers.BooleanField(default=False)
    inboxes = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        default=list,
        max_length=500,
        help_text="Empty: every inbox.",
    )
    expires_in_days = serializers.IntegerField(
        min_value=1, max_value=services.TOKEN_MAX_DAYS, default=services.TOKEN_DEFAULT_DAYS
    )


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(help_text="The token itself: shown this once, never again.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


def _from_a_session(request) -> None:
    """Tokens are made and revoked by a signed-in person, never by another token."""
    if isinstance(request.auth, ApiToken):
        raise Forbidden("API tokens are managed from a signed-in session.", code=ErrorCode.TOKEN_MANAGEMENT)


@extend_schema_view(
    list=extend_schema(description="Your API tokens that still work (never the tokens themselves)."),
    create=extend_schema(
        request=ApiTokenCreateSerializer,
        responses={201: ApiTokenCreatedSerializer},
        description="A new token: read-only or not, limited to some inboxes or not, expiring. Shown once.",
    ),
    destroy=extend_schema(description="Revoke the token: it stops working at once."),
)
class ApiTokenViewSet(
    mixins.ListModelMixin, mixins.CreateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    serializer_class = ApiTokenSerializer
    pagination_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        return selectors.api_tokens_of(self.request.user)

    def create(self, request):
        _from_a_session(request)
        data = ApiTokenCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        token, raw = services.api_token_create(
            user=request.user,
            name=values["name"],
            read_only=values["read_only"],
            inbox_ids=values["inboxes"],
            expires_in_days=values["expires_in_days"],
        )
        token.token = raw
        return Response(ApiTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, pk=None):
        _from_a_session(request)
        services.api_token_revoke(token=selectors.api_token_get(request.user, pk), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- the audit log -----------------------------------------------------------------------


class AuditQuery(serializers.Serializer):
    since = serializers.DateTimeField(required=False, help_text="From this time on (ISO 8601).")
    until = serializers.DateTimeField(required=False, help_text="Before this time (ISO 8601).")


def json_lines(lines) -> Iterator[str]:
    for line in lines:
        yield json.dumps(line, cls=DjangoJSONEncoder, ensure_ascii=False) + "\n"


@extend_schema(
    parameters=[AuditQuery],
    responses={(200, "application/x-ndjson"): OpenApiTypes.STR},
    description="Admins: every audited action (the services' audit log and the Django admin's changes) "
    "in time order, one JSON object per line. The export is audited too.",
)
@api_view(["GET"])
def audit_export(request):
    if not request.user.is_staff:
        raise Forbidden("Only admins may export the audit log.")
    query = AuditQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    since, until = query.validated_data.get("since"), query.validated_data.get("until")
    services.audit_exported(by=request.user, since=since, until=until, via="api")
    response = StreamingHttpResponse(
        json_lines(selectors.audit_lines(since=since, until=until)), content_type="application/x-ndjson"
    )
    response["Content-Disposition"] = 'attachment; filename="audit.jsonl"'
    return response


# --- retention -----------------------------------------------------------------------------


class RetentionSerializer(serializers.Serializer):
    retention_days = serializers.IntegerField(
        allow_null=True, max_value=1_000_000, help_text="Days after a conversation's resolution; null: keep everything."
    )
    next_run_at = serializers.DateTimeField(read_only=True, source="retention_next_run_at", allow_null=True)


class RetentionPreviewQuery(serializers.Serializer):
    days = serializers.IntegerField(max_value=1_000_000, help_text="The retention to try, in days (at least 1).")


def _admins_only(request) -> None:
    if not request.user.is_staff:
        raise Forbidden("Only admins change the workspace's settings.")


@extend_schema(methods=["GET"], responses=RetentionSerializer, description="The workspace's retention (admins).")
@extend_schema(
    methods=["PATCH"],
    request=RetentionSerializer,
    responses=RetentionSerializer,
    description="Set how many days after its resolution a conversation's content is deleted (≥ 1, or null). "
    "The timer applies it within a second, then hourly; audited.",
)
@api_view(["GET", "PATCH"])
def retention_settings(request):
    _admins_only(request)
    if request.method == "PATCH":
        data = RetentionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.workspace_settings_update(by=request.user, retention_days=data.validated_data["retention_days"])
    return Response(RetentionSerializer(selectors.workspace_settings()).data)


@extend_schema(
    parameters=[RetentionPreviewQuery],
    responses=OpenApiTypes.OBJECT,
    description="A dry run: how many conversations, messages and files a retention of `days` would delete now.",
)
@api_view(["GET"])
def retention_preview(request):
    _admins_only(request)
    query = RetentionPreviewQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    days = services.retention_days_clean(query.validated_data["days"])
    return Response({"days": days, "would_delete": selectors.retention_preview(days)})
