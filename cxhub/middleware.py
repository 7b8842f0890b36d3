"""Edge checks that hold for every request, before any view runs.

NUL characters: PostgreSQL text cannot hold them, so a NUL in the path, the query string or
a form body would reach the database as an error (a 500). No text cxhub stores or looks up
may contain one: such a request is refused with 400 before anything reads it.
JSON bodies are checked by the serializers (DRF's CharField refuses NUL characters).
"""

from urllib.parse import unquote_to_bytes

from asgiref.sync import iscoroutinefunction
from django.utils.decorators import sync_and_async_middleware

from .views import error_400

FORM_TYPES = ("application/x-www-form-urlencoded",)


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
