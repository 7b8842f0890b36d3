"""Retention: the content of conversations resolved more than N days ago is deleted by the timer,
the rows the metrics count stay (every figure and `recompute_metrics --check` agree), a dry run
counts, and a retention of 0 days or less is refused (400)."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from accounts import selectors, services
from chat import search, timers
from chat.models import AuditLog, Conversation, Message
from tests.factories import AgentFactory, UserFactory
from tests.feedback.metrics_helpers import differences, rollup_snapshot, wide_range

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(django_capture_on_commit_callbacks):
    """The demo workspace with four days of surveyed history, and a stored file on an old message."""
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo")
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_metrics_demo", "--days", "4")
    old = Conversation.objects.filter(status="resolved", resolved_at__lt=timezone.now() - timedelta(days=2)).first()
    path = default_storage.save("attachments/old-invoice.txt", ContentFile(b"invoice 42"))
    message = old.messages.order_by("seq").first()
    message.attachments = [{"path": path, "name": "invoice.txt", "size": 10}]
    message.save(update_fields=["attachments"])
    return old, path


def admin() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_the_timer_deletes_old_content_and_every_figure_stays(history, django_capture_on_commit_callbacks):
    old, path = history
    cutoff = timezone.now() - timedelta(days=1)
    due = Conversation.objects.filter(status="resolved", resolved_at__lt=cutoff)
    kept = Message.objects.exclude(conversation__in=due).filter(body__gt="").count()
    figures, sequences = rollup_snapshot(), list(Message.objects.values_list("conversation_id", "seq", "sender_kind"))
    # given a dry run of a one-day retention: it counts, and changes nothing
    preview = admin().get("/api/v1/workspace/retention/preview/", {"days": 1}).json()["would_delete"]
    assert preview["conversations"] == due.count() > 0 and preview["attachment_files"] == 1
    assert preview["messages"] == Message.objects.filter(conversation__in=due, body__gt="").count()
    assert Message.objects.filter(conversation__in=due, body__gt="").exists()
    # when an admin sets it and the timers run (as the server's schedule does every second)
    answer = admin().patch("/api/v1/workspace/retention/", {"retention_days": 1}, content_type="application/json")
    assert answer.status_code == 200 and answer.json()["retention_days"] == 1
    with django_capture_on_commit_callbacks(execute=True):
        while timers.run_due()["accounts.retention"]:
            pass
    # then the old conversations' words, subjects and files are gone, the recent ones untouched
    assert not Message.objects.filter(conversation__in=due, body__gt="").exists()
    assert not Conversation.objects.filter(pk__in=due, subject__gt="").exists()
    assert Message.objects.filter(body__gt="").count() == kept
    assert not default_storage.exists(path)
    assert Message.objects.get(conversation=old, seq=1).attachments == []
    # and every row the metrics count is still there: same figures, same sequences, a recomputation agrees
    assert list(Message.objects.values_list("conversation_id", "seq", "sender_kind")) == sequences
    assert rollup_snapshot() == figures
    assert differences() == []
    call_command("recompute_metrics", "--check", "--from", wide_range()[0].isoformat())
    # and the next run is in an hour; nothing is left to delete; the purge is in the audit log
    assert timers.run_due()["accounts.retention"] == 0
    assert selectors.workspace_settings().retention_next_run_at > timezone.now() + timedelta(minutes=59)
    assert selectors.retention_preview(1)["conversations"] == 0
    purge = AuditLog.objects.get(action="retention_purge")
    assert purge.data["conversations"] == preview["conversations"] and purge.actor is None


def test_a_conversation_resolved_recently_or_still_open_keeps_its_words(history):
    services.retention_purge_all(days=1)
    recent = Conversation.objects.exclude(status="resolved") | Conversation.objects.filter(
        resolved_at__gte=timezone.now() - timedelta(days=1)
    )
    assert Message.objects.filter(conversation__in=recent, body__gt="").exists()


@pytest.mark.parametrize("days", [0, -3])
def test_a_retention_of_zero_days_or_less_is_a_400(days):
    client = admin()
    answer = client.patch("/api/v1/workspace/retention/", {"retention_days": days}, content_type="application/json")
    assert answer.status_code == 400 and "retention_days" in answer.json()["error"]["fields"]
    assert client.get("/api/v1/workspace/retention/preview/", {"days": days}).status_code == 400
    assert selectors.workspace_settings().retention_days is None
    with pytest.raises(CommandError):
        call_command("retention_run", "--days", str(days), stdout=StringIO())


def test_only_admins_set_it_and_null_keeps_everything():
    supervisor = Client()
    supervisor.force_login(AgentFactory(is_supervisor=True).user)
    assert (
        supervisor.patch(
            "/api/v1/workspace/retention/", {"retention_days": 30}, content_type="application/json"
        ).status_code
        == 403
    )
    client = admin()
    client.patch("/api/v1/workspace/retention/", {"retention_days": 30}, content_type="application/json")
    answer = client.patch("/api/v1/workspace/retention/", {"retention_days": None}, content_type="application/json")
    assert answer.json()["retention_days"] is None
    assert timers.run_due()["accounts.retention"] == 0
    changes = [
        line.data["changes"]["retention_days"]
        for line in AuditLog.objects.filter(action="workspace_settings_changed").order_by("pk")
    ]
    assert changes == [[None, 30], [30, None]]


def test_the_command_counts_then_deletes(history):
    out = StringIO()
    call_command("retention_run", "--days", "1", "--dry-run", stdout=out)
    assert '"would_delete"' in out.getvalue()
    assert Message.objects.filter(conversation=history[0], body__gt="").exists()
    call_command("retention_run", "--days", "1", stdout=out)
    assert not Message.objects.filter(conversation=history[0], body__gt="").exists()


def test_purged_words_are_no_longer_found_by_search(history):
    # given an old message with a word nobody else wrote, in the search index
    old, _ = history
    message = old.messages.order_by("seq").first()
    message.body = "Where is my zanzibarite order?"
    message.save(update_fields=["body"])
    search.index_message(message)
    query = search.parse("zanzibarite")
    assert search.matching_message_ids(query, inbox_ids=None, limit=10) == [message.pk]
    # when the retention purges it, then search finds it no more
    services.retention_purge_all(days=1)
    assert search.matching_message_ids(query, inbox_ids=None, limit=10) == []
