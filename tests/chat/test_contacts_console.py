"""Contacts in the console (issue #15): audited edits, custom attribute definitions, notes."""

import pytest

from chat import privacy, workspace
from chat.models import AuditLog, ContactNote
from tests.chat.workspace_helpers import client_of, desk
from tests.factories import ContactFactory, conversation_with

pytestmark = pytest.mark.django_db
__all__ = ["desk"]


@pytest.fixture
def plan(desk):
    """Definitions: plan (list), seats (number), renewal (date), company (text)."""
    boss = desk["supervisor"]
    return {
        "plan": workspace.attribute_definition_create(
            by=boss, key="plan", label="Plan", kind="list", options=["Free", "Gold"]
        ),
        "seats": workspace.attribute_definition_create(by=boss, key="seats", label="Seats", kind="number"),
        "renewal": workspace.attribute_definition_create(by=boss, key="renewal", label="Renewal", kind="date"),
        "company": workspace.attribute_definition_create(by=boss, key="company", label="Company"),
    }


def test_an_agent_edits_name_email_phone_and_typed_attributes_audited(desk, plan):
    conversation = conversation_with(desk["a"], ContactFactory(name="Old", attributes={"source": "ads"}))
    contact = conversation.contact
    response = client_of(desk["alice"]).patch(
        f"/api/v1/contacts/{contact.pk}/",
        {
            "name": "Nora New",
            "email": " Nora@Example.COM ",
            "phone": "+1 415 555 0100",
            "attributes": {"plan": "Gold", "seats": "12", "renewal": "2027-01-31", "company": "Acme"},
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["name"], body["email"], body["phone"]) == ("Nora New", "nora@example.com", "+14155550100")
    assert body["attributes"] == {
        "source": "ads",
        "plan": "Gold",
        "seats": 12,
        "renewal": "2027-01-31",
        "company": "Acme",
    }
    audit = AuditLog.objects.get(action="contact_edited")
    assert audit.actor == desk["alice"] and audit.target_id == str(contact.pk)
    assert audit.data["name"] == ["Old", "Nora New"] and audit.data["attributes"]["seats"] == [None, 12]
    # null removes an attribute
    client_of(desk["alice"]).patch(f"/api/v1/contacts/{contact.pk}/", {"attributes": {"source": None}}, format="json")
    contact.refresh_from_db()
    assert "source" not in contact.attributes


@pytest.mark.parametrize(
    "body",
    [
        {"attributes": {"plan": "Platinum"}},
        {"attributes": {"seats": "many"}},
        {"attributes": {"renewal": "31/01/2027"}},
        {"email": "not-an-email"},
        {"phone": "call me"},
    ],
)
def test_a_bad_value_is_a_400_and_nothing_changes(desk, plan, body):
    conversation = conversation_with(desk["a"], ContactFactory(name="Same"))
    response = client_of(desk["alice"]).patch(f"/api/v1/contacts/{conversation.contact_id}/", body, format="json")
    assert response.status_code == 400, response.content
    conversation.contact.refresh_from_db()
    assert conversation.contact.attributes == {} and conversation.contact.email == ""
    assert not AuditLog.objects.filter(action="contact_edited").exists()


def test_definitions_are_listed_for_agents_managed_by_supervisors_and_filter(desk, plan):
    gold = conversation_with(desk["a"], ContactFactory(attributes={"plan": "Gold", "seats": 12, "company": "Acme Inc"}))
    conversation_with(desk["a"], ContactFactory(attributes={"plan": "Free", "seats": 1}))
    alice = client_of(desk["alice"])
    assert [d["key"] for d in alice.get("/api/v1/attributes/").json()] == ["company", "plan", "renewal", "seats"]
    assert alice.post("/api/v1/attributes/", {"key": "tier", "label": "Tier"}, format="json").status_code == 403
    boss = client_of(desk["supervisor"])
    assert boss.post("/api/v1/attributes/", {"key": "tier", "kind": "list"}, format="json").status_code == 400
    assert boss.post("/api/v1/attributes/", {"key": "plan", "label": "Again"}, format="json").status_code == 400
    assert boss.post("/api/v1/attributes/", {"key": "no spaces"}, format="json").status_code == 400
    # filters: contacts and conversations, typed
    for query, expected in (
        ("plan:Gold", [gold.contact_id]),
        ("seats:12", [gold.contact_id]),
        ("company:acme", [gold.contact_id]),
    ):
        rows = alice.get("/api/v1/contacts/", {"attribute": query}).json()["results"]
        assert [row["id"] for row in rows] == expected, query
    rows = alice.get("/api/v1/conversations/", {"attribute": "plan:Gold"}).json()["results"]
    assert [row["id"] for row in rows] == [gold.pk]
    assert alice.get("/api/v1/contacts/", {"attribute": "seats:lots"}).status_code == 400
    assert alice.get("/api/v1/contacts/", {"attribute": "nocolon"}).status_code == 400


def test_notes_on_a_contact_and_erasure_removes_them(desk):
    conversation = conversation_with(desk["a"])
    contact = conversation.contact
    alice = client_of(desk["alice"])
    response = alice.post(f"/api/v1/contacts/{contact.pk}/notes/", {"body": "Prefers email."}, format="json")
    assert response.status_code == 201
    assert response.json()["author"]["id"] == desk["alice"].pk
    notes = alice.get(f"/api/v1/contacts/{contact.pk}/notes/").json()
    assert [note["body"] for note in notes] == ["Prefers email."]
    assert alice.post(f"/api/v1/contacts/{contact.pk}/notes/", {"body": "  "}, format="json").status_code == 400
    # another inbox's agent: 404 to read or write
    carol = client_of(desk["carol"])
    assert carol.get(f"/api/v1/contacts/{contact.pk}/notes/").status_code == 404
    assert carol.post(f"/api/v1/contacts/{contact.pk}/notes/", {"body": "x"}, format="json").status_code == 404
    # the export has them; erasure removes them
    assert (
        privacy.contact_export(contact=contact, by=desk["supervisor"])["contact_notes"][0]["body"] == "Prefers email."
    )
    privacy.contact_erase(contact=contact, by=desk["supervisor"])
    assert not ContactNote.objects.exists()


def test_the_send_key_is_the_agents_own_choice(desk):
    alice, bob = client_of(desk["alice"]), client_of(desk["bob"])
    assert alice.get("/api/v1/preferences/").json() == {"send_key": "ctrl_enter"}
    assert alice.patch("/api/v1/preferences/", {"send_key": "enter"}, format="json").json() == {"send_key": "enter"}
    assert alice.get("/api/v1/preferences/").json() == {"send_key": "enter"}
    assert bob.get("/api/v1/preferences/").json() == {"send_key": "ctrl_enter"}
    assert alice.patch("/api/v1/preferences/", {"send_key": "shift"}, format="json").status_code == 400
