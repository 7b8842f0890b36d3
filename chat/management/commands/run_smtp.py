"""`manage.py run_smtp`: the SMTP receiver of the email inboxes (aiosmtpd)."""

import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chat.connectors.email import smtp_controller
from chat.models import Channel, Inbox


class Command(BaseCommand):
    help = "Receive email for the email inboxes by SMTP (unknown recipient: 550, too big: 552)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=2525)
        parser.add_argument(
            "--forward",
            default="",
            metavar="URL",
            help="hand each mail to this server's /hooks/email/ endpoint instead of storing it here "
            "(make run does this, so the running server broadcasts it to the console)",
        )

    def handle(self, *args, host: str, port: int, forward: str, **options):
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command
        controller = smtp_controller(host=host, port=port, forward_url=forward)
        try:
            controller.start()
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc}") from None
        except RuntimeError as exc:
            raise CommandError(f"cannot start the SMTP receiver on {host}:{port}: {exc}") from None
        addresses = list(
            Inbox.objects.filter(channel=Channel.EMAIL)
            .exclude(email_address=None)
            .values_list("email_address", flat=True)
        )
        self.stdout.write(self.style.SUCCESS(f"SMTP receiver on {host}:{port}"))
        self.stdout.write(f"  accepting mail for: {', '.join(addresses) or '(no email inbox yet)'}")
        self.stdout.write(f"  and replies to reply+<token>@{settings.EMAIL_DOMAIN}")
        self.stdout.write(f"  largest mail: {settings.EMAIL_MAX_BYTES} bytes")
        if forward:
            self.stdout.write(f"  handing each mail to {forward.rstrip('/')}/hooks/email/<inbox>/inbound")
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        try:
            while not stop.wait(1):
                pass
        finally:
            controller.stop()
            self.stdout.write("SMTP receiver stopped")
