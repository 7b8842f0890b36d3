"""Edge checks that hold for every request, before any view runs, and the answer to a database outage.

NUL characters: PostgreSQL text cannot hold them, so a NUL in the path, the query string or
a form body would reach the database as an error (a 500). No text cxhub stores or looks up
may contain one: such a request is refused with 400 before anything reads it.
JSON bodies are checked by the serializers (DRF's CharField refuses NUL characters).
"""

from urllib.parse import unquote_to_bytes

from asgiref.sync import iscoroutinefunction
from django.db import DatabaseError
from django.middleware.locale import LocaleMiddleware
from django.utils import timezone, translation
from django.utils.decorators import sync_and_async_middleware
from django.utils.deprecation import MiddlewareMixin

from chat import languages
from chat.models import AgentProfile

from . import db
from .errors import Unavailable
from .views import error_400, error_503

FORM_TYPES = ("application/x-www-form-urlencoded",)
HEALTH_PATHS = ("/healthz", "/readyz")  # they answer an outage themselves


def _has_nul(request) -> bool:
    if "\x00" in request.path or b"\x00" in unquote_to_bytes(request.META.get("QUERY_STRING", "")):
        return True
    if request.method in ("POST", "PUT", "PATCH") and request.content_type in FORM_TYPES:
        try:
            body = request.body
        except Exception:  # too large or already read: the view's own checks apply
            return False
        return b"\x00" in unquote_to_bytes(body.replace(b"+", b" "))
    return False


@sync_and_async_middleware
def reject_nul_characters(get_response):
    """MIDDLEWARE entry: 400 for a NUL character in the path, query string or form body."""
    if iscoroutinefunction(get_response):

        async def middleware(request):
            if _has_nul(request):
                return error_400(request)
            return await get_response(request)

    else:

        def middleware(request):
            if _has_nul(request):
                return error_400(request)
            return get_response(request)

    return middleware


class DatabaseOutageMiddleware(MiddlewareMixin):
    """A request that cannot reach the database is answered 503 with Retry-After, not 500: at once
    while the database is known down (one request a second probes it), else when the view fails.

    Every write is one transaction, so nothing was stored: email and SMS providers (and API
    clients) send the same request again later, and its provider id makes the retry store one
    message (docs/operations.md, "PostgreSQL outage"). /healthz (`degraded`) and /readyz (503) answer for themselves."""

    def process_request(self, request):
        if request.path not in HEALTH_PATHS and not db.database_usable():
            return error_503(request, retry_after=Unavailable.retry_after)
        return None

    def process_exception(self, request, exception):
        if not db.is_outage(exception):
            return None
        db.connection_failed(exception)
        return error_503(request, retry_after=Unavailable.retry_after)


class LanguageMiddleware(LocaleMiddleware):
    """The language and time zone of a request: an agent's own choice (their profile), else what
    the browser asks for (Accept-Language, as Django's LocaleMiddleware) and the workspace's time
    zone. Customers' pages (the survey page) speak the contact's language themselves."""

    def process_request(self, request):
        try:
            profile = _agent_profile(request)
        except DatabaseError:  # an outage: the view answers it (DatabaseOutageMiddleware)
            profile = None
        language = languages.agent_language(profile)
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = translation.get_language()
        else:
            super().process_request(request)
        if profile is not None and languages.valid_time_zone(profile.time_zone):
            timezone.activate(languages.time_zone_of(profile))
        else:
            timezone.deactivate()


def _agent_profile(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    try:
        return user.agent  # cached on the user: the console's templates read it too
    except AgentProfile.DoesNotExist:
        return None
