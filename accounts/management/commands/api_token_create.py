"""`manage.py api_token_create <username> --name NAME [--read-only] [--inbox ID ...] [--days N]`:
a scoped, expiring API token, printed once (audited)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts import services
from cxhub.errors import InvalidInput


class Command(BaseCommand):
    help = "Make an API token for a user: read-only or not, limited to inboxes or not, expiring."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", required=True)
        parser.add_argument("--read-only", action="store_true")
        parser.add_argument("--inbox", type=int, action="append", default=[], help="Limit it to this inbox id.")
        parser.add_argument("--days", type=int, default=services.TOKEN_DEFAULT_DAYS, help="Days until it expires.")

    def handle(self, *args, username, name, read_only, inbox, days, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        try:
            token, raw = services.api_token_create(
                user=user, name=name, read_only=read_only, inbox_ids=inbox, expires_in_days=days
            )
        except InvalidInput as refused:
            raise CommandError(f"{refused.detail} {refused.fields}") from None
        self.stdout.write(raw)
        self.stderr.write(f"Token {token.prefix}… for {username}, expires {token.expires_at:%Y-%m-%d %H:%M} UTC.")
