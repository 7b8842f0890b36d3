"""Provider webhooks (DESIGN.md §3): inbound email by HTTP, Twilio inbound SMS and status callbacks.

Each view authenticates first (the inbox's webhook secret; Twilio's X-Twilio-Signature checked
with twilio's RequestValidator against settings.PUBLIC_URL + the path) and refuses with 403,
storing nothing, when that fails. Then it calls one connector function. Errors are JSON.
"""

import hmac
import logging
from base64 import b64decode
from binascii import Error as BinasciiError

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator, get_signature_algorithm

from cxhub.errors import DomainError, json_error

from .connectors import email as email_connector
from .connectors import sms as sms_connector
from .models import Channel, Inbox

logger = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _inbox(public_id: str, channel: str) -> Inbox | None:
    return Inbox.objects.filter(public_id=public_id, channel=channel).first()


def _domain_error(exc: DomainError) -> JsonResponse:
    return json_error(exc.code, exc.detail, exc.status_code, exc.fields)


# --- email ------------------------------------------------------------------------------


def _email_secret_ok(request: HttpRequest, inbox: Inbox) -> bool:
    """`Authorization: Bearer <webhook secret>` or HTTP Basic with the secret as password."""
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    given = ""
    if scheme.lower() == "bearer":
        given = credentials.strip()
    elif scheme.lower() == "basic":
        try:
            given = b64decode(credentials.strip(), validate=True).decode().partition(":")[2]
        except (BinasciiError, UnicodeDecodeError, ValueError):
            given = ""
    return bool(given) and hmac.compare_digest(given.encode(), inbox.webhook_secret.encode())


@csrf_exempt
@require_POST
def email_inbound(request: HttpRequest, inbox_public_id: str) -> HttpResponse:
    """Raw MIME in the body (a provider that forwards mail by HTTP)."""
    inbox = _inbox(inbox_public_id, Channel.EMAIL)
    if inbox is None:
        return json_error("not_found", "No email inbox has this id.", 404)
    if not _email_secret_ok(request, inbox):
        return json_error("invalid_credentials", "The webhook secret is missing or wrong.", 403)
    limit = settings.EMAIL_MAX_BYTES
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        length = 0
    if length > limit:
        return json_error("email_too_large", f"An email is at most {limit} bytes.", 413)
    raw = request.read(limit + 1)
    if len(raw) > limit:
        return json_error("email_too_large", f"An email is at most {limit} bytes.", 413)
    if not raw.strip():
        return json_error("invalid", "The body must be a raw MIME message.", 400)
    # The SMTP receiver in forward mode passes the envelope's recipients (reply+token addresses).
    envelope_to = [a.strip() for a in request.headers.get("X-Envelope-To", "").split(",") if a.strip()][:20]
    try:
        received = email_connector.email_receive(raw=raw, inbox=inbox, recipients=envelope_to)
    except DomainError as exc:
        return _domain_error(exc)
    message = received.message
    return JsonResponse(
        {"message_id": message.pk, "conversation_id": message.conversation_id, "created": received.created},
        status=201 if received.created else 200,
    )


# --- Twilio -----------------------------------------------------------------------------


def _twilio_params(request: HttpRequest):
    try:
        return request.POST
    except RequestDataTooBig:
        return None


def _twilio_signature_ok(request: HttpRequest, inbox: Inbox, params) -> bool:
    signature = request.headers.get("X-Twilio-Signature", "")
    token = (inbox.provider_config or {}).get("auth_token", "")
    if not signature or not token or params is None:
        return False
    url = settings.PUBLIC_URL + request.get_full_path()
    algorithm = get_signature_algorithm(request.headers.get("X-Twilio-Webhooks-Signature-Settings"))
    return RequestValidator(token).validate(url, params, signature, algorithm=algorithm)


def _twilio_checked(request: HttpRequest, inbox_public_id: str):
    """(inbox, params) for a correctly signed Twilio request, or an error response."""
    inbox = _inbox(inbox_public_id, Channel.SMS)
    if inbox is None:
        return None, json_error("not_found", "No SMS inbox has this id.", 404)
    params = _twilio_params(request)
    if not _twilio_signature_ok(request, inbox, params):
        logger.warning("Twilio webhook with a missing or bad signature for inbox %s", inbox.pk)
        return None, json_error("invalid_signature", "The X-Twilio-Signature is missing or wrong.", 403)
    return (inbox, params), None


def _twiml(text: str = "") -> HttpResponse:
    if not text:
        return HttpResponse(EMPTY_TWIML, content_type="text/xml")
    from xml.sax.saxutils import escape

    body = f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{escape(text)}</Message></Response>'
    return HttpResponse(body, content_type="text/xml")


@csrf_exempt
@require_POST
def twilio_sms(request: HttpRequest, inbox_public_id: str) -> HttpResponse:
    checked, error = _twilio_checked(request, inbox_public_id)
    if error is not None:
        return error
    inbox, params = checked
    try:
        outcome = sms_connector.sms_receive(inbox=inbox, params=params)
    except DomainError as exc:
        return _domain_error(exc)
    return _twiml(outcome.reply)


@csrf_exempt
@require_POST
def twilio_status(request: HttpRequest, inbox_public_id: str) -> HttpResponse:
    checked, error = _twilio_checked(request, inbox_public_id)
    if error is not None:
        return error
    _inbox_, params = checked
    try:
        message = sms_connector.sms_status(params=params)
    except DomainError as exc:
        return _domain_error(exc)
    return JsonResponse({"message_id": message.pk if message else None})
