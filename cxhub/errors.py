"""Domain errors and the one handler that turns every error into the JSON error shape.

Shape: {"error": {"code": "snake_case_code", "detail": "human text", "fields": {...}}}
The `code` is stable (clients branch on it); `detail` and the field messages are in the language
of the request (the agent's, the browser's, or the customer's on their widget).
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

logger = logging.getLogger("cxhub.errors")


class DomainError(Exception):
    """A failure a client can cause and understand; each subclass has a stable code."""

    code = "error"
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = gettext_lazy("The request could not be processed.")

    def __init__(self, detail: str | None = None, *, fields: dict | None = None, code: str | None = None):
        self.detail = str(detail or self.default_detail)
        self.fields = fields or {}
        if code:
            self.code = code
        super().__init__(self.detail)


class NotFound(DomainError):
    code = "not_found"
    status_code = status.HTTP_404_NOT_FOUND
    default_detail = gettext_lazy("Not found.")


class Forbidden(DomainError):
    code = "forbidden"
    status_code = status.HTTP_403_FORBIDDEN
    default_detail = gettext_lazy("You may not do this.")


class InvalidInput(DomainError):
    code = "invalid"
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = gettext_lazy("Invalid input.")


class Conflict(DomainError):
    code = "conflict"
    status_code = status.HTTP_409_CONFLICT
    default_detail = gettext_lazy("The request conflicts with the current state.")


class Unavailable(DomainError):
    """A part cxhub needs (the database) does not answer right now: try again in `retry_after` s.

    Nothing was written. Sockets send it as a retryable `unavailable` error frame; HTTP answers
    503 with Retry-After (docs/operations.md)."""

    code = "unavailable"
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = gettext_lazy("The service is briefly unavailable; try again in a moment.")
    retry_after = 2


class Gone(DomainError):
    code = "gone"
    status_code = status.HTTP_410_GONE
    default_detail = gettext_lazy("This is no longer available.")


def not_one_of(values) -> str:
    """The field message for a value outside a list of choices."""
    return _("Not one of %(values)s.") % {"values": ", ".join(str(value) for value in values)}


def error_body(code: str, detail: str, fields: dict | None = None) -> dict:
    body = {"code": code, "detail": detail}
    if fields:
        body["fields"] = fields
    return {"error": body}


def _flatten(detail) -> dict | list | str:
    """DRF's ErrorDetail trees as plain lists of strings per field."""
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [str(item) if not isinstance(item, dict | list) else _flatten(item) for item in detail]
    return [str(detail)]


_DRF_CODES = {
    drf_exceptions.ParseError: "malformed_request",
    drf_exceptions.AuthenticationFailed: "authentication_failed",
    drf_exceptions.NotAuthenticated: "not_authenticated",
    drf_exceptions.PermissionDenied: "forbidden",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.NotAcceptable: "not_acceptable",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.Throttled: "rate_limited",
    drf_exceptions.ValidationError: "invalid",
}


def api_exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every error a client can cause, in the JSON error shape."""
    if isinstance(exc, DomainError):
        response = Response(error_body(exc.code, exc.detail, exc.fields), status=exc.status_code)
    elif isinstance(exc, Http404):
        response = Response(error_body("not_found", _("Not found.")), status=404)
    elif isinstance(exc, DjangoPermissionDenied):
        response = Response(error_body("forbidden", _("You may not do this.")), status=403)
    elif isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        response = Response(error_body("invalid", _("Invalid input."), fields), status=400)
    elif isinstance(exc, drf_exceptions.APIException):
        # an APIException raised with a code of its own (`error_code`: accounts' token refusals) keeps it
        code = getattr(exc, "error_code", None) or next(
            (c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error"
        )
        if isinstance(exc, drf_exceptions.ValidationError):
            fields = _flatten(exc.detail)
            if not isinstance(fields, dict):
                fields = {"non_field_errors": fields}
            response = Response(error_body(code, _("Invalid input."), fields), status=exc.status_code)
        else:
            response = Response(error_body(code, str(exc.detail)), status=exc.status_code)
        if getattr(exc, "auth_header", None):
            response["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            response["Retry-After"] = str(int(exc.wait))
    else:
        return None  # a real bug: let Django log it and answer 500
    request = context.get("request")
    if request is not None:
        # Errors are JSON whatever the view renders on success (CSV exports, ?format=…).
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = JSONRenderer.media_type
    logger.info(
        "api error %s %s: %s %s",
        getattr(request, "method", "?"),
        getattr(request, "path", "?"),
        response.status_code,
        response.data["error"]["code"],
    )
    return response


def json_error(code: str, detail: str, status_code: int, fields: dict | None = None) -> JsonResponse:
    """The JSON error shape for plain Django views (webhooks, error handlers)."""
    return JsonResponse(error_body(code, detail, fields), status=status_code)
