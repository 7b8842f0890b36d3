"""Macros (issue #15): a canned reply plus actions in one click, personal or shared."""

import pytest

from chat import services, workspace
from chat.models import ConversationEvent, Macro
from tests.chat.workspace_helpers import client_of, desk
from tests.factories import conversation_with

pytestmark = pytest.mark.django_db
__all__ = ["desk"]


def test_a_macro_replies_then_labels_moves_prioritises_and_resolves(desk):
    conversation = conversation_with(desk["a"])
    alice = client_of(desk["alice"])
    response = alice.post(
        "/api/v1/macros/",
        {
            "name": "Refund to billing",
            "reply": "Your refund is on its way.",
            "labels": [desk["vip"].pk],
            "team": desk["billing"].pk,
            "priority": "high",
            "resolve": True,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    macro = response.json()
    assert macro["labels"][0]["name"] == "VIP" and macro["team"] == desk["billing"].pk and macro["mine"]
    response = alice.post(f"/api/v1/macros/{macro['id']}/run/", {"conversation": conversation.pk}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "resolved" and body["priority"] == "high" and body["team"]["name"] == "Billing"
    assert [label["name"] for label in body["labels"]] == ["VIP"]
    last = conversation.messages.order_by("-seq").first()
    assert last.body == "Your refund is on its way." and last.sender_user == desk["alice"]
    kinds = list(ConversationEvent.objects.filter(conversation=conversation).values_list("kind", flat=True))
    assert kinds[-4:] == ["labelled", "transferred", "priority_changed", "resolved"]


def test_a_macro_that_fails_midway_changes_nothing(desk):
    conversation = conversation_with(desk["a"])
    services.conversation_resolve(conversation=conversation)
    macro = workspace.macro_create(by=desk["alice"], name="Snooze", labels=[desk["vip"]], snooze_minutes=60)
    response = client_of(desk["alice"]).post(
        f"/api/v1/macros/{macro.pk}/run/", {"conversation": conversation.pk}, format="json"
    )
    assert response.status_code == 409
    assert not conversation.labels.exists()  # the label came first, and was undone


def test_macros_are_personal_or_shared_and_foreign_ids_are_404(desk):
    mine = workspace.macro_create(by=desk["alice"], name="Mine", reply="Hi")
    alice, bob, boss = (client_of(desk[name]) for name in ("alice", "bob", "supervisor"))
    # only supervisors share
    assert alice.post("/api/v1/macros/", {"name": "All", "shared": True}, format="json").status_code == 403
    shared = boss.post("/api/v1/macros/", {"name": "Thanks", "shared": True, "reply": "Thanks!"}, format="json")
    assert shared.status_code == 201
    # bob sees the shared one, not alice's own (404 to read, run, change or delete)
    assert [m["name"] for m in bob.get("/api/v1/macros/").json()] == ["Thanks"]
    conversation = conversation_with(desk["a"])
    assert bob.get(f"/api/v1/macros/{mine.pk}/").status_code == 404
    assert (
        bob.post(f"/api/v1/macros/{mine.pk}/run/", {"conversation": conversation.pk}, format="json").status_code == 404
    )
    assert bob.patch(f"/api/v1/macros/{mine.pk}/", {"name": "X"}, format="json").status_code == 404
    assert bob.delete(f"/api/v1/macros/{mine.pk}/").status_code == 404
    assert bob.patch(f"/api/v1/macros/{shared.json()['id']}/", {"name": "X"}, format="json").status_code == 403
    # alice's macro on another inbox's conversation: 404, and nothing is sent
    foreign = conversation_with(desk["b"])
    response = alice.post(f"/api/v1/macros/{mine.pk}/run/", {"conversation": foreign.pk}, format="json")
    assert response.status_code == 404
    assert foreign.messages.count() == 1
    # an unknown label in a macro: 404; snooze and resolve together, a bad priority: 400
    assert alice.post("/api/v1/macros/", {"name": "L", "labels": [987654]}, format="json").status_code == 404
    for body in (
        {"name": "Both", "snooze_minutes": 5, "resolve": True},
        {"name": "P", "priority": "meh"},
        {"name": ""},
    ):
        assert alice.post("/api/v1/macros/", body, format="json").status_code == 400, body
    assert Macro.objects.count() == 2
