"""POST /api/v1/widget/{inbox_public_id}/session: the website widget's session (no login, CORS).

Only pages served from one of the inbox's allowed origins get an answer (and CORS headers);
see docs/websocket-protocol.md §1.
"""

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from chat.errors import ErrorCode
from cxhub.errors import Forbidden

from .. import attachments, languages, payloads, selectors, services, sla_services, widget
from ..models import Channel
from .serializers import AttachmentLimitsSerializer


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
    # Not validated here: a malformed or unknown language is logged and left out (chat.languages),
    # never a refused session.
    locale = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=True,
        help_text="The website's language for this visitor (a BCP 47 tag, e.g. `ru` or `zh-CN`); it wins over "
        "the browser's.",
    )
    browser_locale = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="The browser's language (`navigator.language`)."
    )
    time_zone = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="The browser's IANA time zone (`Intl.DateTimeFormat().resolvedOptions().timeZone`).",
    )


class WidgetInboxSerializer(serializers.Serializer):
    name = serializers.CharField()
    greeting = serializers.CharField(help_text="In the visitor's language.")
    prechat_form = serializers.BooleanField()
    agents_online = serializers.BooleanField()
    closed_notice = serializers.CharField(
        help_text="Outside the inbox's business hours: when the team is back, in the visitor's language and "
        "time zone; empty while open."
    )
    back_at = serializers.DateTimeField(allow_null=True, help_text="When the inbox opens next; null while open.")
    message_max_chars = serializers.IntegerField(
        help_text="The longest message body (in characters, i.e. Unicode code points); a longer "
        "`message.send` is refused with the error `body_too_long`."
    )
    attachments = AttachmentLimitsSerializer(help_text="The files the visitor may send (empty kinds: none).")


class WidgetSessionResponseSerializer(serializers.Serializer):
    visitor_token = serializers.CharField()
    contact_id = serializers.IntegerField()
    conversation_id = serializers.IntegerField(allow_null=True)
    language = serializers.ChoiceField(
        choices=settings.LANGUAGES,
        help_text="The language to speak to this visitor (theirs, else the inbox's default); the widget loads "
        "its texts from `/i18n/widget/<language>.json`.",
    )
    direction = serializers.ChoiceField(choices=["ltr", "rtl"], help_text="The text direction of `language`.")
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
            raise Forbidden(_("This website may not use this inbox's widget."), code=ErrorCode.ORIGIN_NOT_ALLOWED)
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
        language = languages.contact_language(session.contact, self.inbox)
        back = sla_services.back_at(self.inbox, timezone.now())
        with languages.speaking_to(session.contact, self.inbox):
            greeting = widget.greeting_of(self.inbox)
            closed_notice = sla_services.closed_notice(self.inbox, back, session.contact) if back else ""
        return Response(
            {
                "visitor_token": session.visitor_token,
                "contact_id": session.contact.pk,
                "conversation_id": session.conversation.pk if session.conversation else None,
                "language": language,
                "direction": languages.direction(language),
                "inbox": {
                    "name": self.inbox.name,
                    "greeting": greeting,
                    "prechat_form": self.inbox.prechat_form,
                    "agents_online": widget.inbox_agents_online(self.inbox.pk),
                    "closed_notice": closed_notice,
                    "back_at": back,
                    # The widget's composer counts towards it and refuses longer messages (the
                    # server answers `body_too_long` to one that gets through).
                    "message_max_chars": settings.MESSAGE_BODY_MAX_CHARS,
                    "attachments": attachments.limits_of(self.inbox),
                },
            }
        )


class WidgetUploadThrottle(WidgetSessionThrottle):
    """Per client address; the rate is `settings.WIDGET_UPLOAD_RATE` (default 30/min)."""

    scope = "widget_upload"

    def get_rate(self):
        return getattr(settings, "WIDGET_UPLOAD_RATE", "30/min")


class WidgetUploadSerializer(serializers.Serializer):
    visitor_token = serializers.CharField(max_length=200, help_text="The token the session gave.")
    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True), min_length=1, help_text="One or more files."
    )
    body = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    client_msg_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")


class WidgetUploadView(WidgetSessionView):
    """POST /api/v1/widget/{inbox_public_id}/attachments (multipart/form-data): the visitor sends
    files (and an optional caption) as one message. Same origin rule and CORS as the session; the
    message reaches the widget's socket like any other. Over the limit, a refused type or content
    that does not match its name: 400 with the reason, and nothing is stored."""

    throttle_classes = [WidgetUploadThrottle]
    serializer_class = WidgetUploadSerializer

    @extend_schema(
        request={"multipart/form-data": WidgetUploadSerializer}, responses={201: OpenApiTypes.OBJECT}, auth=[]
    )
    def post(self, request, inbox_public_id: str):
        serializer = WidgetUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        token = widget.live_visitor_token(self.inbox, data["visitor_token"])
        if token is None:
            raise Forbidden(
                _("This visitor token is not valid; start a new session."), code=ErrorCode.VISITOR_TOKEN_INVALID
            )
        language = languages.contact_language(token.contact, self.inbox)
        with translation.override(language):
            uploads = attachments.uploads_from(self.inbox, data["files"])
            received = attachments.with_files(
                self.inbox,
                uploads,
                lambda files: services.message_receive(
                    inbox=self.inbox,
                    contact=token.contact,
                    channel=Channel.WEB,
                    body=data["body"],
                    attachments=files,
                    client_msg_id=data["client_msg_id"] or None,
                ),
            )
        message = payloads.message_for_console(selectors.message_with_sender(received.message.pk))
        return Response(payloads.message_for_customer(message), status=201 if received.created else 200)
