"""Real outside parties for the email and SMS tests: the SMTP receiver, an SMTP sink, a fake Twilio.

Import the fixtures into a test module (`from tests.chat.channel_helpers import smtp_receiver, ...`).
"""

import base64
import json
import socket
import threading
import urllib.error
import urllib.request
from email.message import EmailMessage
from email.utils import make_msgid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from twilio.request_validator import RequestValidator

from chat.connectors import sms as sms_connector
from chat.connectors.email import smtp_controller


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_email(
    *,
    sender: str = "Ana Lopez <ana@example.com>",
    to: str = "support@acme.test",
    subject: str = "My order",
    text: str | None = "Hello, where is my order?",
    html: str | None = None,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = subject
    mail["Message-ID"] = message_id or make_msgid(domain="example.com")
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
    if references:
        mail["References"] = references
    if text is not None:
        mail.set_content(text)
    if html is not None:
        if text is None:
            mail.set_content(html, subtype="html")
        else:
            mail.add_alternative(html, subtype="html")
    return mail


# --- SMTP: our receiver, and a sink standing in for the outbound mail server ----------------


@pytest.fixture
def smtp_receiver(transactional_db):
    """`run_smtp`'s controller on a free port; yields (host, port)."""
    port = free_port()
    controller = smtp_controller(host="127.0.0.1", port=port)
    controller.start()
    yield "127.0.0.1", port
    controller.stop()


class SinkHandler:
    def __init__(self):
        self.messages: list[dict] = []
        self.refuse = False

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if self.refuse:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "raw": envelope.content})
        return "250 OK"


@pytest.fixture
def smtp_sink(settings):
    """An aiosmtpd server that keeps what it is sent; Django's SMTP backend points at it."""
    handler = SinkHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield handler
    controller.stop()


# --- Twilio: signed webhooks and a fake REST API ------------------------------------------


def twilio_post(client, inbox, params: dict, *, kind: str = "sms", signature: str | None = None, token=None):
    """POST a Twilio webhook to the Django test client, signed like Twilio signs it."""
    path = f"/hooks/twilio/{inbox.public_id}/{kind}"
    if signature is None:
        token = token or inbox.provider_config["auth_token"]
        signature = RequestValidator(token).compute_signature(settings.PUBLIC_URL + path, params)
    headers = {"HTTP_X_TWILIO_SIGNATURE": signature} if signature else {}
    return client.post(path, params, **headers)


def inbound_params(inbox, *, sender="+14155550123", body="hello", sid="SM" + "a" * 32, **extra) -> dict:
    return {
        "MessageSid": sid,
        "AccountSid": inbox.provider_config.get("account_sid", ""),
        "From": sender,
        "To": inbox.phone_number,
        "Body": body,
        "NumMedia": "0",
        **extra,
    }


class FakeTwilio:
    """What the fake Twilio REST server was asked, and how it should answer."""

    def __init__(self):
        self.requests: list[dict] = []
        self.answer_status = 201
        self.answer_body: dict | None = None
        self.count = 0
        self.media: list[dict] = []  # what it fetched from the MediaUrls it was given, as Twilio does


def fetch_like_twilio(url: str) -> dict:
    """GET a MediaUrl as Twilio's media fetcher would: no credentials, the answer as it came."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return {
                "url": url,
                "status": answer.status,
                "type": answer.headers.get_content_type(),
                "body": answer.read(),
            }
    except urllib.error.HTTPError as error:
        return {"url": url, "status": error.code, "type": "", "body": b""}


@pytest.fixture
def fake_twilio(settings):
    """A tiny HTTP server answering Twilio's Messages.json; the twilio client is pointed at it."""
    state = FakeTwilio()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            fields = parse_qs(self.rfile.read(length).decode())
            form = {k: v[0] for k, v in fields.items()}
            state.media += [fetch_like_twilio(url) for url in fields.get("MediaUrl", [])]
            auth = base64.b64decode(self.headers.get("Authorization", "Basic ").split(" ", 1)[1] or b"").decode()
            state.requests.append({"path": self.path, "form": form, "auth": auth})
            state.count += 1
            sid = f"SM{state.count:032d}"
            body = state.answer_body or {
                "sid": sid,
                "status": "queued",
                "to": form.get("To"),
                "from": form.get("From"),
                "body": form.get("Body"),
            }
            data = json.dumps(body).encode()
            self.send_response(state.answer_status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.TWILIO_API_BASE = f"http://127.0.0.1:{server.server_address[1]}"
    settings.SMS_OUTBOX = False
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def sms_outbox(settings):
    """The embedded default: SMS go to the in-process outbox."""
    settings.SMS_OUTBOX = True
    settings.TWILIO_API_BASE = ""
    sms_connector.outbox_clear()
    yield sms_connector
    sms_connector.outbox_clear()
