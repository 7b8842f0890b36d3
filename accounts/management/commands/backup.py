"""`manage.py backup --output DIR`: the database (pg_dump on PostgreSQL, SQLite's online backup in the
embedded default) and the media files (attachments) into a new directory, with a manifest.

Run it while the server runs: both database copies are consistent snapshots. Keep DIR somewhere
else than the server (README, "Back up and restore"); `manage.py restore --input DIR` brings it back.
"""

import json

from django.core.management.base import BaseCommand

from accounts import backups


class Command(BaseCommand):
    help = "Back up the database and the media files into a new directory (see README, 'Back up and restore')."

    def add_arguments(self, parser):
        parser.add_argument("--output", required=True, help="A new (or empty) directory for this backup.")

    def handle(self, *args, output, **options):
        manifest = backups.backup(output=output)
        self.stdout.write(json.dumps(manifest, indent=2))
        self.stderr.write(
            f"Backed up {manifest['engine']} ({manifest['rows']}) and {manifest['media_files']} media files "
            f"to {output}."
        )
