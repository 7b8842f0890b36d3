"""Bulk actions over many conversations (issue #15): each through its service, failures per
conversation, and a foreign id anywhere changes nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chat import services
from chat.models import Conversation, ConversationEvent
from tests.chat.workspace_helpers import desk
from tests.factories import conversation_with

pytestmark = pytest.mark.django_db
__all__ = ["desk"]


def bulk(client, **body):
    return client.post("/api/v1/conversations/bulk/", body, format="json")


def test_assign_label_snooze_and_resolve_many_each_through_its_service(as_user, desk):
    conversations = [conversation_with(desk["a"]) for _ in range(3)]
    ids = [c.pk for c in conversations]
    client = as_user(desk["alice"])
    # assign all three to bob
    response = bulk(client, ids=ids, action="assign", assignee=desk["bob"].pk)
    assert response.status_code == 200, response.content
    assert response.json()["done"] == 3 and response.json()["failed"] == 0
    assert set(Conversation.objects.filter(pk__in=ids).values_list("assignee_id", flat=True)) == {desk["bob"].pk}
    assert ConversationEvent.objects.filter(conversation_id__in=ids, kind="assigned", actor=desk["alice"]).count() == 3
    # label them
    vip = desk["vip"]
    assert bulk(client, ids=ids, action="label", add=[vip.pk]).json()["done"] == 3
    assert all(c.labels.filter(pk=vip.pk).exists() for c in conversations)
    # snooze them
    until = (timezone.now() + timedelta(hours=1)).isoformat()
    assert bulk(client, ids=ids, action="snooze", until=until).json()["done"] == 3
    assert set(Conversation.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"snoozed"}
    # resolve them
    assert bulk(client, ids=ids, action="resolve").json()["done"] == 3
    assert ConversationEvent.objects.filter(conversation_id__in=ids, kind="resolved").count() == 3


def test_a_failure_is_reported_per_conversation_and_the_others_go_on(as_user, desk):
    first, second = conversation_with(desk["a"]), conversation_with(desk["a"])
    services.conversation_resolve(conversation=second)
    client = as_user(desk["alice"])
    until = (timezone.now() + timedelta(hours=1)).isoformat()
    body = bulk(client, ids=[first.pk, second.pk], action="snooze", until=until).json()
    assert body["done"] == 1 and body["failed"] == 1
    assert body["results"][0] == {"id": first.pk, "ok": True, "code": "", "detail": ""}
    assert body["results"][1]["ok"] is False and body["results"][1]["code"] == "conversation_resolved"
    first.refresh_from_db()
    assert first.status == "snoozed"
    # an agent who is not a member of the inbox: refused per conversation
    body = bulk(client, ids=[first.pk], action="assign", assignee=desk["carol"].pk).json()
    assert body["failed"] == 1 and body["results"][0]["code"] == "invalid"


def test_a_foreign_or_missing_id_changes_none_of_them(as_user, desk):
    mine, foreign = conversation_with(desk["a"]), conversation_with(desk["b"])
    client = as_user(desk["alice"])
    for ids in ([mine.pk, foreign.pk], [mine.pk, 987654]):
        response = bulk(client, ids=ids, action="resolve")
        assert response.status_code == 404
    mine.refresh_from_db()
    foreign.refresh_from_db()
    assert mine.status == "open" and foreign.status == "open"
    assert not ConversationEvent.objects.filter(kind="resolved").exists()


def test_bad_bulk_requests_are_400(as_user, desk):
    mine = conversation_with(desk["a"])
    client = as_user(desk["alice"])
    past = (timezone.now() - timedelta(hours=1)).isoformat()
    for body in (
        {"ids": [], "action": "resolve"},
        {"ids": list(range(1, 102)), "action": "resolve"},
        {"ids": [mine.pk], "action": "explode"},
        {"ids": [mine.pk], "action": "snooze", "until": past},
        {"ids": [mine.pk], "action": "snooze"},
        {"ids": [mine.pk], "action": "label"},
        {"ids": [mine.pk], "action": "assign"},
    ):
        response = bulk(client, **body)
        assert response.status_code == 400, body
        assert set(response.json()) == {"error"}
    mine.refresh_from_db()
    assert mine.status == "open"
