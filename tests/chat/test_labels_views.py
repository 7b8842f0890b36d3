"""Labels on conversations and contacts, and saved views with their counts (issue #15)."""

import pytest

from chat import workspace
from chat.models import AuditLog, ConversationEvent, Label, SavedView
from tests.chat.workspace_helpers import client_of, desk
from tests.factories import conversation_with

pytestmark = pytest.mark.django_db
__all__ = ["desk"]


def test_supervisors_manage_labels_and_agents_only_apply_them(as_user, desk):
    client = as_user(desk["alice"])
    assert [label["name"] for label in client.get("/api/v1/labels/").json()] == ["Bug", "VIP"]
    assert client.post("/api/v1/labels/", {"name": "Mine"}, format="json").status_code == 403
    assert client.patch(f"/api/v1/labels/{desk['vip'].pk}/", {"name": "X"}, format="json").status_code == 403
    assert client.delete(f"/api/v1/labels/{desk['vip'].pk}/").status_code == 403
    boss = client_of(desk["supervisor"])
    response = boss.post("/api/v1/labels/", {"name": "  Refund  request ", "colour": "#2563EB"}, format="json")
    assert response.status_code == 201
    assert response.json()["name"] == "Refund request" and response.json()["colour"] == "#2563eb"
    # a duplicate name (any case), a bad colour or an empty name is a 400; nothing is stored
    for body in ({"name": "vip"}, {"name": "Ok", "colour": "red"}, {"name": " "}):
        assert boss.post("/api/v1/labels/", body, format="json").status_code == 400
    assert Label.objects.count() == 3
    assert boss.delete(f"/api/v1/labels/{desk['bug'].pk}/").status_code == 204
    assert boss.get("/api/v1/labels/987654/").status_code == 404


def test_labels_on_a_conversation_are_recorded_listed_and_filtered(as_user, desk):
    mine, other = conversation_with(desk["a"]), conversation_with(desk["a"])
    client = as_user(desk["alice"])
    url = f"/api/v1/conversations/{mine.pk}/labels/"
    response = client.post(url, {"add": [desk["vip"].pk, desk["bug"].pk]}, format="json")
    assert response.status_code == 200
    assert [label["name"] for label in response.json()["labels"]] == ["Bug", "VIP"]
    event = ConversationEvent.objects.filter(conversation=mine, kind="labelled").get()
    assert event.actor == desk["alice"] and sorted(event.data["added"]) == ["Bug", "VIP"]
    # the list shows them and filters by any of them
    rows = client.get("/api/v1/conversations/", {"label": desk["vip"].pk}).json()["results"]
    assert [row["id"] for row in rows] == [mine.pk]
    assert rows[0]["labels"][1] == {"id": desk["vip"].pk, "name": "VIP", "colour": "#ff0000"}
    assert other.pk in [r["id"] for r in client.get("/api/v1/conversations/").json()["results"]]
    # removing one; adding one it already has changes nothing (no second event)
    client.post(url, {"remove": [desk["bug"].pk], "add": [desk["vip"].pk]}, format="json")
    assert list(mine.labels.values_list("name", flat=True)) == ["VIP"]
    assert ConversationEvent.objects.filter(conversation=mine, kind="labelled").count() == 2
    # an unknown label is a 404 and changes nothing
    response = client.post(url, {"add": [desk["bug"].pk, 987654]}, format="json")
    assert response.status_code == 404
    assert list(mine.labels.values_list("name", flat=True)) == ["VIP"]


def test_labels_on_a_foreign_conversation_or_contact_are_404(as_user, desk):
    foreign = conversation_with(desk["b"])
    client = as_user(desk["alice"])
    body = {"add": [desk["vip"].pk]}
    assert client.post(f"/api/v1/conversations/{foreign.pk}/labels/", body, format="json").status_code == 404
    assert client.post(f"/api/v1/contacts/{foreign.contact_id}/labels/", body, format="json").status_code == 404
    assert not foreign.labels.exists() and not foreign.contact.labels.exists()


def test_labels_on_a_contact_are_audited_and_filter_contacts(as_user, desk):
    conversation = conversation_with(desk["a"])
    client = as_user(desk["alice"])
    response = client.post(
        f"/api/v1/contacts/{conversation.contact_id}/labels/", {"add": [desk["vip"].pk]}, format="json"
    )
    assert response.status_code == 200 and response.json()["labels"][0]["name"] == "VIP"
    audit = AuditLog.objects.get(action="contact_labelled")
    assert audit.actor == desk["alice"] and audit.data == {"added": ["VIP"], "removed": []}
    rows = client.get("/api/v1/contacts/", {"label": desk["vip"].pk}).json()["results"]
    assert [row["id"] for row in rows] == [conversation.contact_id]


def test_saved_views_are_personal_or_shared_by_a_supervisor_with_counts(as_user, desk):
    first = conversation_with(desk["a"])
    conversation_with(desk["a"])
    conversation_with(desk["b"])
    workspace.conversation_set_labels(conversation=first, by=desk["alice"], add=[desk["vip"]])
    alice, bob, boss = (client_of(desk[name]) for name in ("alice", "bob", "supervisor"))
    response = alice.post(
        "/api/v1/views/", {"name": "My VIPs", "filters": {"label": [desk["vip"].pk], "sort": "waiting"}}, format="json"
    )
    assert response.status_code == 201, response.content
    mine = response.json()
    assert mine["filters"] == {"label": [str(desk["vip"].pk)], "sort": "waiting"} and mine["mine"] is True
    # only supervisors share
    assert alice.post("/api/v1/views/", {"name": "All", "shared": True}, format="json").status_code == 403
    shared = boss.post(
        "/api/v1/views/", {"name": "Open", "shared": True, "filters": {"status": ["open"]}}, format="json"
    ).json()
    # bob sees the shared one, not alice's (a 404), and cannot change the shared one
    assert [view["name"] for view in bob.get("/api/v1/views/").json()] == ["Open"]
    assert bob.get(f"/api/v1/views/{mine['id']}/").status_code == 404
    assert bob.delete(f"/api/v1/views/{mine['id']}/").status_code == 404
    assert bob.patch(f"/api/v1/views/{shared['id']}/", {"name": "Mine now"}, format="json").status_code == 403
    # counts: what each view matches among the conversations the asker may see
    counts = {row["id"]: row["count"] for row in alice.get("/api/v1/views/counts/").json()}
    assert counts == {mine["id"]: 1, shared["id"]: 2}
    assert {row["id"]: row["count"] for row in boss.get("/api/v1/views/counts/").json()} == {shared["id"]: 3}
    # bad filters are a 400
    for filters in ({"colour": ["red"]}, {"sort": "loudest"}, ["open"], {"status": [{"x": 1}]}):
        response = alice.post("/api/v1/views/", {"name": "Bad", "filters": filters}, format="json")
        assert response.status_code == 400, filters
    assert SavedView.objects.count() == 2
    assert alice.delete(f"/api/v1/views/{mine['id']}/").status_code == 204
