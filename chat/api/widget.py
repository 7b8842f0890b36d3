"""POST /api/v1/widget/{inbox_public_id}/session: the website widget's session (no login, CORS).

Only pages served from one of the inbox's allowed origins get an answer (and CORS headers);
see docs/websocket-protocol.md §1.
"""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from chat.errors import ErrorCode
from cxhub.errors import Forbidden

from .. import widget


class WidgetSessionThrottle(AnonRateThrottle):
    """Per client address; the rate is `settings.WIDGET_SESSION_RATE` (default 60/min)."""

    scope = "widget_session"

    def get_rate(self):
        return getattr(settings, "WIDGET_SESSION_RATE", "60/min")


class WidgetSessionSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    external_id = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    identity_hash = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    visitor_token = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class WidgetInboxSerializer(serializers.Serializer):
    name = serializers.CharField()
    greeting = serializers.CharField()
    prechat_form = serializers.BooleanField()
    agents_online = serializers.BooleanField()
    message_max_chars = serializers.IntegerField(
        help_text="The longest message body (in characters, i.e. Unicode code points); a longer "
        "`message.send` is refused with the error `body_too_long`."
    )


class WidgetSessionResponseSerializer(serializers.Serializer):
    visitor_token = serializers.CharField()
    contact_id = serializers.IntegerField()
    conversation_id = serializers.IntegerField(allow_null=True)
    inbox = WidgetInboxSerializer()


CORS_HEADERS = {
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "600",
}


class WidgetSessionView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [WidgetSessionThrottle]
    serializer_class = WidgetSessionSerializer

    def initial(self, request, *args, **kwargs):
        # The origin check comes before parsing, throttling and everything else.
        self.inbox = widget.web_inbox_by_public_id(kwargs["inbox_public_id"])
        self.origin = request.headers.get("Origin")
        if not widget.origin_allowed(self.inbox, self.origin):
            self.origin = None
            raise Forbidden("This website may not use this inbox's widget.", code=ErrorCode.ORIGIN_NOT_ALLOWED)
        super().initial(request, *args, **kwargs)

    def get_throttles(self):
        return [] if self.request.method == "OPTIONS" else super().get_throttles()

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        origin = getattr(self, "origin", None)
        if origin:
            response["Access-Control-Allow-Origin"] = origin
            for key, value in CORS_HEADERS.items():
                response[key] = value
        response["Vary"] = "Origin"
        return response

    @extend_schema(exclude=True)
    def options(self, request, *args, **kwargs):
        return Response(status=204)

    @extend_schema(request=WidgetSessionSerializer, responses=WidgetSessionResponseSerializer, auth=[])
    def post(self, request, inbox_public_id: str):
        serializer = WidgetSessionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        session = widget.widget_session_start(inbox=self.inbox, **serializer.validated_data)
        return Response(
            {
                "visitor_token": session.visitor_token,
                "contact_id": session.contact.pk,
                "conversation_id": session.conversation.pk if session.conversation else None,
                "inbox": {
                    "name": self.inbox.name,
                    "greeting": self.inbox.greeting,
                    "prechat_form": self.inbox.prechat_form,
                    "agents_online": widget.inbox_agents_online(self.inbox.pk),
                    # The widget's composer counts towards it and refuses longer messages (the
                    # server answers `body_too_long` to one that gets through).
                    "message_max_chars": settings.MESSAGE_BODY_MAX_CHARS,
                },
            }
        )
