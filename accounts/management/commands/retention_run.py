"""`manage.py retention_run [--days N] [--dry-run]`: delete the content of conversations resolved more
than N days ago (default: the workspace's retention), keeping the anonymous counts; `--dry-run` only
counts. The timer does the same hourly by itself (accounts.retention)."""

import json

from django.core.management.base import BaseCommand, CommandError

from accounts import selectors, services
from cxhub.errors import InvalidInput


class Command(BaseCommand):
    help = "Apply the retention now (or count with --dry-run): old conversations' content deleted, counts kept."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, help="Days after resolution (default: the workspace's setting).")
        parser.add_argument("--dry-run", action="store_true", help="Only count what would be deleted.")

    def handle(self, *args, days, dry_run, **options):
        days = days if days is not None else selectors.workspace_settings().retention_days
        if days is None:
            raise CommandError("The workspace keeps everything (no retention set): pass --days N.")
        try:
            days = services.retention_days_clean(days)
        except InvalidInput as refused:
            raise CommandError(refused.detail) from None
        if dry_run:
            self.stdout.write(json.dumps({"days": days, "would_delete": selectors.retention_preview(days)}))
        else:
            self.stdout.write(json.dumps({"days": days, "deleted": services.retention_purge_all(days=days)}))
