"""`manage.py restore --input DIR`: a backup made by `manage.py backup`, into this server's database
(DATABASE_URL or SQLITE_PATH) and MEDIA_ROOT, which must be empty (no rows: a new database, or one only
migrated); a database with rows is refused with a message saying what is there. Then the copy is
checked (message sequences, `recompute_metrics --check`); a failed check exits non-zero.
"""

import json

from django.core.management.base import BaseCommand, CommandError

from accounts import backups


class Command(BaseCommand):
    help = "Restore a backup into an empty database and MEDIA_ROOT, then check it."

    def add_arguments(self, parser):
        parser.add_argument("--input", help="The backup's directory (with manifest.json).")
        parser.add_argument("--verify-only", action="store_true", help="Only check the current database.")

    def handle(self, *args, input, verify_only, **options):
        if not verify_only and not input:
            raise CommandError("Give the backup's directory: --input DIR (or --verify-only).")
        report = backups.verify() if verify_only else backups.restore(source=input)
        self.stdout.write(json.dumps(report, indent=2, default=str))
        if report["sequence_problems"] or not report["metrics_agree"]:
            raise CommandError("The restored database does not pass its checks (see above).")
        self.stderr.write(f"Restored and checked: {report['rows']}.")
