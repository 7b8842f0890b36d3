"""Back up and restore, on the database this run uses (SQLite's online backup, or pg_dump/pg_restore on
PostgreSQL): a generated history with an attachment is backed up, refused over a database with rows,
restored into a new database (its own name) and MEDIA_ROOT by a separate `manage.py restore`, and the
copy passes the sequence invariant and `recompute_metrics --check`."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import connection

from accounts import backups
from chat.models import Conversation, Message

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def history(transactional_db):
    """Three days of generated, surveyed history (committed: the backup reads it from outside) and a
    stored attachment."""
    call_command("seed_demo")
    call_command("seed_metrics_demo", "--days", "3")
    path = default_storage.save("attachments/contract.pdf", ContentFile(b"%PDF-1.4 contract"))
    message = Message.objects.order_by("pk").first()
    message.attachments = [{"path": path, "name": "contract.pdf", "size": 17}]
    message.save(update_fields=["attachments"])
    return path


@pytest.fixture
def empty_database(tmp_path):
    """Where the restore goes: a new SQLite file, or a new PostgreSQL database of the test's own name."""
    if connection.vendor != "postgresql":
        yield {"SQLITE_PATH": str(tmp_path / "restored.sqlite3")}
        return
    import psycopg

    name = f"cxhub_accounts_restore_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    base, _, _ = os.environ["DATABASE_URL"].rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {"DATABASE_URL": f"{base}/{name}"}
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(*args, env: dict) -> subprocess.CompletedProcess:
    """`python manage.py …` as an operator runs it, against the given database and media directory."""
    environment = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "SQLITE_PATH")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300
    )


def test_a_backup_restores_into_an_empty_database_and_passes_the_checks(history, empty_database, tmp_path, settings):
    # given a workspace with history and an attachment, backed up while it runs
    target = tmp_path / "backup"
    manifest = backups.backup(output=target)
    assert manifest["engine"] == ("postgresql" if connection.vendor == "postgresql" else "sqlite")
    assert manifest["rows"]["messages"] == Message.objects.count() > 0 and manifest["media_files"] == 1
    # when it is restored into a new database and media directory (another process, as an operator would)
    media = tmp_path / "restored-media"
    restored = manage("restore", "--input", str(target), env={**empty_database, "MEDIA_ROOT": str(media)})
    # then it is the same workspace, and it passes the checks
    assert restored.returncode == 0, restored.stderr + restored.stdout
    report = json.loads(restored.stdout)
    assert report["rows"] == manifest["rows"]
    assert report["sequence_problems"] == [] and report["metrics_agree"] is True
    assert (media / history).read_bytes() == b"%PDF-1.4 contract"
    # and the copy answers the same checks when asked again, with recompute_metrics itself
    first_day = Conversation.objects.order_by("opened_at").first().opened_at.date().isoformat()
    checked = manage("recompute_metrics", "--check", "--from", first_day, env=empty_database)
    assert checked.returncode == 0, checked.stderr + checked.stdout
    print(f"\nbackup {manifest['engine']}: {manifest['rows']}, restored and checked: {checked.stdout.strip()}")


def test_a_restore_into_a_database_with_rows_is_refused(history, tmp_path):
    # given a backup, and this database, which has rows
    backups.backup(output=tmp_path / "backup")
    before = Message.objects.count()
    # when it is restored over it, then it is refused with a message saying what is there and what to do
    with pytest.raises(CommandError) as refused:
        call_command("restore", "--input", str(tmp_path / "backup"))
    message = str(refused.value)
    assert "already holds data" in message and f"{before} messages" in message and "empty database" in message
    assert Message.objects.count() == before


def test_a_damaged_or_foreign_backup_is_refused(history, tmp_path, empty_database):
    target = tmp_path / "backup"
    backups.backup(output=target)
    with pytest.raises(CommandError, match="not empty"):
        backups.backup(output=target)
    database_file = next(target.glob("database.*"))
    database_file.write_bytes(database_file.read_bytes()[:-10])
    damaged = manage("restore", "--input", str(target), env={**empty_database, "MEDIA_ROOT": str(tmp_path / "m")})
    assert damaged.returncode != 0 and "damaged" in damaged.stderr
