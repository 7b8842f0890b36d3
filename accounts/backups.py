"""Back up and restore a workspace: its database and its media files (attachments), one directory.

    <backup>/manifest.json      format, version, time, engine, row counts, the files' SHA-256
    <backup>/database.pgdump    PostgreSQL: `pg_dump --format=custom` (a consistent snapshot)
    <backup>/database.sqlite3   SQLite (embedded): the online backup API (a consistent copy, writers wait)
    <backup>/media.tar.gz       MEDIA_ROOT (attachments and any other stored file)

A restore goes only into an empty database (no rows in any of cxhub's tables; a migrated but
empty one is fine): restoring over live data would mix two workspaces, so it is refused with a
message that says what is there. After restoring, the copy is checked: the message sequence
invariant (docs/adr/0001) and `recompute_metrics --check` over its whole history.
"""

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.utils import timezone

from chat import selectors as chat_selectors
from chat.models import Conversation

FORMAT = "cxhub.backup"
VERSION = 1
MANIFEST = "manifest.json"
MEDIA = "media.tar.gz"
# The tables whose rows say "this database is in use" (a restore refuses to go over them).
COUNTED_TABLES = {
    "users": "auth_user",
    "inboxes": "chat_inbox",
    "contacts": "chat_contact",
    "conversations": "chat_conversation",
    "messages": "chat_message",
}


class BackupError(CommandError):
    """A backup or restore that cannot go on; its message says why and what to do."""


@dataclass(frozen=True)
class Database:
    engine: str  # "postgresql" or "sqlite"
    settings: dict

    @property
    def file_name(self) -> str:
        return "database.pgdump" if self.engine == "postgresql" else "database.sqlite3"


def current_database() -> Database:
    # `connection.settings_dict`, not settings.DATABASES: under tests it names the test database
    engine = "postgresql" if connection.vendor == "postgresql" else "sqlite"
    return Database(engine, connection.settings_dict)


def _pg_command(tool: str, db: dict) -> tuple[list[str], dict]:
    if shutil.which(tool) is None:
        raise BackupError(f"{tool} is not installed: `apt-get install postgresql-client` (the server's major version).")
    args = [tool, "--dbname", db["NAME"]]
    for option, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if db.get(key):
            args += [option, str(db[key])]
    env = {**os.environ, **({"PGPASSWORD": db["PASSWORD"]} if db.get("PASSWORD") else {})}
    return args, env


def _run(args: list[str], env: dict) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{args[0]} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sqlite_copy(source: sqlite3.Connection, target_path) -> None:
    """SQLite's online backup: pages are copied while other connections keep working, and the copy is
    one consistent state (a writer that commits meanwhile makes it start again)."""
    target = sqlite3.connect(target_path)
    try:
        with target:
            source.backup(target)
    finally:
        target.close()
        source.close()


def row_counts() -> dict[str, int]:
    """Rows in the tables that say a database is in use (a table not created yet counts 0)."""
    existing = set(connection.introspection.table_names())
    counts = {}
    with connection.cursor() as cursor:
        for name, table in COUNTED_TABLES.items():
            if table in existing:
                cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")
                counts[name] = cursor.fetchone()[0]
            else:
                counts[name] = 0
    return counts


def backup(*, output: Path) -> dict:
    """Write a backup of the database and the media files into the new directory `output`."""
    output = Path(output)
    if output.exists() and any(output.iterdir()):
        raise BackupError(f"{output} is not empty: give a new directory for each backup.")
    output.mkdir(parents=True, exist_ok=True)
    db = current_database()
    database_file = output / db.file_name
    counts = row_counts()
    if db.engine == "postgresql":
        args, env = _pg_command("pg_dump", db.settings)
        _run([*args, "--format=custom", "--no-owner", "--no-privileges", "--file", str(database_file)], env)
    else:
        _sqlite_copy(sqlite3.connect(db.settings["NAME"]), database_file)
    media_root = Path(settings.MEDIA_ROOT)
    media_files = 0
    with tarfile.open(output / MEDIA, "w:gz") as archive:
        if media_root.exists():
            for path in sorted(p for p in media_root.rglob("*") if p.is_file()):
                archive.add(path, arcname=str(path.relative_to(media_root)))
                media_files += 1
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "created_at": timezone.now().isoformat(),
        "engine": db.engine,
        "database_file": db.file_name,
        "rows": counts,
        "media_files": media_files,
        "sha256": {name: _sha256(output / name) for name in (db.file_name, MEDIA)},
    }
    (output / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return manifest


def read_manifest(source: Path) -> dict:
    path = Path(source) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise BackupError(f"{path} is not a cxhub backup manifest: {error}") from None
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise BackupError(f"{source} is not a cxhub backup of version {VERSION}.")
    for name, digest in manifest.get("sha256", {}).items():
        if not (Path(source) / name).exists() or _sha256(Path(source) / name) != digest:
            raise BackupError(f"{Path(source) / name} is missing or damaged (its SHA-256 differs from the manifest's).")
    return manifest


def restore(*, source: Path) -> dict:
    """Restore the backup in `source` into this (empty) database and MEDIA_ROOT; then `verify()`."""
    source = Path(source)
    manifest = read_manifest(source)
    db = current_database()
    if manifest["engine"] != db.engine:
        raise BackupError(
            f"This backup is of a {manifest['engine']} database; this server uses {db.engine}. "
            "Restore it into the same kind of database."
        )
    in_use = {name: count for name, count in row_counts().items() if count}
    if in_use:
        what = ", ".join(f"{count} {name}" for name, count in in_use.items())
        raise BackupError(
            f"Refusing to restore into {db.settings['NAME']}: it already holds data ({what}). "
            "A restore goes only into an empty database: create a new one (or drop and re-create this "
            "one) and point DATABASE_URL (or SQLITE_PATH) at it, then run the restore again."
        )
    connections.close_all()
    database_file = source / manifest["database_file"]
    if db.engine == "postgresql":
        args, env = _pg_command("pg_restore", db.settings)
        # --clean: a migrated but empty database's tables are replaced by the backup's
        _run([*args, "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
              "--exit-on-error", str(database_file)], env)  # fmt: skip
    else:
        _sqlite_copy(sqlite3.connect(f"file:{database_file}?mode=ro", uri=True), db.settings["NAME"])
    media_root = Path(settings.MEDIA_ROOT)
    media_root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(source / MEDIA, "r:gz") as archive:
        archive.extractall(media_root, filter="data")  # no absolute paths, no "..", no links out
    return verify()


def verify() -> dict:
    """Check a (restored) database: the sequence invariant and the metrics against a recomputation."""
    problems = chat_selectors.sequence_problems()
    first = Conversation.objects.order_by("opened_at").values_list("opened_at", flat=True).first()
    day_from = (timezone.localtime(first) - timedelta(days=1)).date() if first else timezone.localdate()
    out = io.StringIO()
    try:
        call_command("recompute_metrics", "--check", "--from", day_from.isoformat(), stdout=out)
        metrics_agree = True
    except CommandError:
        metrics_agree = False
    return {
        "rows": row_counts(),
        "sequence_problems": problems,
        "metrics_agree": metrics_agree,
        "metrics_report": out.getvalue().strip().splitlines()[-1:] if out.getvalue() else [],
    }
