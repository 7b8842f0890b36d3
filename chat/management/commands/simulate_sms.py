"""`manage.py simulate_sms`: send a correctly signed Twilio-style SMS webhook to a running server."""

import json
import secrets
import urllib.error
import urllib.request
from urllib.parse import urlencode

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from twilio.request_validator import RequestValidator

from chat.connectors.sms import phone_or_none
from chat.models import Channel, Inbox


def running_server_url() -> str:
    """The public URL of the server this SMS is for: PUBLIC_URL when configured, else the one
    `make run` wrote to .run/public-url when it started (any HOST and PORT), else the default."""
    if settings.PUBLIC_URL != settings.DEFAULT_PUBLIC_URL:
        return settings.PUBLIC_URL
    written = settings.BASE_DIR / ".run" / "public-url"
    if written.exists() and written.read_text().strip():
        return written.read_text().strip().rstrip("/")
    return settings.PUBLIC_URL


class Command(BaseCommand):
    help = (
        "Post a signed inbound SMS to this server's Twilio webhook, as Twilio would "
        '(e.g. simulate_sms --to +15005550006 --from +14155550123 "hello").'
    )

    def add_arguments(self, parser):
        parser.add_argument("body", help="the text of the SMS")
        parser.add_argument("--to", required=True, help="the SMS inbox's number")
        parser.add_argument("--from", dest="sender", required=True, help="the customer's number")
        parser.add_argument(
            "--server", default="", help="where the server listens (default: the running `make run`'s PUBLIC_URL)"
        )
        parser.add_argument("--sid", default="", help="a MessageSid to reuse (to see a retry deduplicated)")
        parser.add_argument("--bad-signature", action="store_true", help="sign wrongly (to see the 403)")

    def handle(self, *args, body: str, to: str, sender: str, server: str, sid: str, bad_signature: bool, **options):
        number = phone_or_none(to)
        inbox = Inbox.objects.filter(channel=Channel.SMS, phone_number=number).first() if number else None
        if inbox is None:
            raise CommandError(f"no SMS inbox has the number {to} (run `manage.py seed_demo` for +15005550006)")
        config = inbox.provider_config or {}
        token = config.get("auth_token")
        if not token:
            raise CommandError(f"the inbox {inbox.name} has no Twilio auth_token in its provider_config")
        path = f"/hooks/twilio/{inbox.public_id}/sms"
        params = {
            "MessageSid": sid or "SM" + secrets.token_hex(16),
            "AccountSid": config.get("account_sid", ""),
            "From": sender,
            "To": inbox.phone_number,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
        # Twilio signs the public URL it calls; the server checks against its PUBLIC_URL.
        public_url = running_server_url()
        signature = RequestValidator(token).compute_signature(public_url + path, params)
        if bad_signature:  # one character changed (a signature may start with the one put there)
            signature = ("x" if signature[0] != "x" else "y") + signature[1:]
        url = (server or public_url).rstrip("/") + path
        request = urllib.request.Request(
            url,
            data=urlencode(params).encode(),
            headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        self.stdout.write(f"POST {url}  MessageSid={params['MessageSid']}  From={sender}  Body={body!r}")
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                status, text = response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode(errors="replace")
        except OSError as exc:
            raise CommandError(f"cannot reach {url}: {exc} (is `make run` running?)") from None
        self.stdout.write(f"{status} {text}")
        if status >= 400:
            try:
                detail = json.loads(text)["error"]["detail"]
            except (ValueError, KeyError, TypeError):
                detail = text
            raise CommandError(f"the server refused the SMS: {detail}")
