"""POST /api/v1/widget/{inbox}/session: origin check, CORS, identity verification, visitor tokens."""

import hashlib
import hmac

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from chat import attachments
from chat.models import Contact, ContactIdentity, VisitorToken, hash_token
from chat.widget import live_visitor_token, visitor_token_revoke
from tests.factories import AgentFactory, InboxFactory, contact_with, conversation_with

pytestmark = pytest.mark.django_db
ORIGIN = "http://127.0.0.1"


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def client():
    return APIClient()


def start(client, inbox, origin=ORIGIN, **body):
    headers = {"HTTP_ORIGIN": origin} if origin else {}
    return client.post(f"/api/v1/widget/{inbox.public_id}/session", body, format="json", **headers)


def signature(inbox, external_id: str) -> str:
    return hmac.new(inbox.identity_secret.encode(), external_id.encode(), hashlib.sha256).hexdigest()


def test_new_visitor_gets_a_token_and_an_anonymous_contact(client):
    # given a web inbox with an online agent
    inbox = InboxFactory(greeting="Hello there", prechat_form=True)
    AgentFactory(inboxes=[inbox], availability="online")
    # when a page from an allowed origin starts a session
    response = start(client, inbox)
    # then it gets a token, a new contact with a visitor identity, the inbox's settings, CORS headers
    assert response.status_code == 200, response.content
    body = response.json()
    assert len(body["visitor_token"]) >= 40
    assert body["conversation_id"] is None
    assert body["inbox"] == {
        "name": inbox.name,
        "greeting": "Hello there",
        "prechat_form": True,
        "agents_online": True,
        "message_max_chars": 10_000,  # the widget's composer counts towards the server's limit
        "back_at": None,  # always open: no business hours (docs/sla.md)
        "closed_notice": "",
        "attachments": attachments.limits_of(inbox),  # what the paperclip offers
    }
    contact = Contact.objects.get(pk=body["contact_id"])
    assert contact.identities.get().kind == "visitor"
    token = VisitorToken.objects.get(contact=contact)
    assert token.token_hash == hash_token(body["visitor_token"]) and not token.verified
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert "Origin" in response["Vary"]


def test_foreign_or_missing_origin_is_refused_and_nothing_is_created(client):
    # given a web inbox that allows only its own site
    inbox = InboxFactory(allowed_origins=["https://shop.example"])
    # when another site (or no Origin at all) asks
    foreign = start(client, inbox, origin="https://evil.example")
    missing = start(client, inbox, origin=None)
    # then both are refused, without CORS headers, and nothing is written
    assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in foreign
    assert missing.status_code == 403
    assert not VisitorToken.objects.exists() and not Contact.objects.exists()


def test_preflight_answers_cors_for_allowed_origins_only(client):
    inbox = InboxFactory()
    url = f"/api/v1/widget/{inbox.public_id}/session"
    allowed = client.options(url, HTTP_ORIGIN=ORIGIN, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    refused = client.options(url, HTTP_ORIGIN="https://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert allowed.status_code == 204
    assert allowed["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in allowed["Access-Control-Allow-Methods"]
    assert "Content-Type" in allowed["Access-Control-Allow-Headers"]
    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused


def test_unknown_or_non_web_inbox_is_not_found(client):
    from tests.factories import EmailInboxFactory

    email_inbox = EmailInboxFactory(allowed_origins=[ORIGIN])
    assert client.post("/api/v1/widget/nope/session", {}, format="json", HTTP_ORIGIN=ORIGIN).status_code == 404
    assert start(client, email_inbox).status_code == 404


def test_valid_identity_hash_links_the_verified_user(client):
    # given a customer known by their verified external id
    inbox = InboxFactory()
    known = contact_with("external", "user-42")
    # when the website signs the user id correctly and adds their email
    response = start(
        client, inbox, external_id="user-42", identity_hash=signature(inbox, "user-42"), email="Ann@Shop.Example"
    )
    # then the session belongs to that contact, the email is verified too, the token is verified
    assert response.status_code == 200, response.content
    assert response.json()["contact_id"] == known.pk
    assert ContactIdentity.objects.get(kind="email", value="ann@shop.example").verified
    assert VisitorToken.objects.get(contact=known).verified


def test_forged_identity_hash_is_refused_and_nothing_is_created(client):
    inbox = InboxFactory()
    response = start(client, inbox, external_id="user-42", identity_hash="0" * 64, email="ann@shop.example")
    hash_without_id = start(client, inbox, identity_hash=signature(inbox, ""))
    assert response.status_code == 403 and response.json()["error"]["code"] == "identity_invalid"
    assert hash_without_id.status_code == 403
    assert not Contact.objects.exists() and not VisitorToken.objects.exists()


def test_unverified_email_never_attaches_to_an_existing_person(client):
    # given a customer whose email is verified (they emailed in)
    inbox = InboxFactory()
    victim = contact_with("email", "victim@shop.example")
    # when an anonymous visitor types that email into the pre-chat form
    response = start(client, inbox, name="Mallory", email="victim@shop.example")
    # then they get a contact of their own
    assert response.status_code == 200
    assert response.json()["contact_id"] != victim.pk


def test_returning_visitor_keeps_their_contact_and_conversation(client):
    # given a visitor who chatted before
    inbox = InboxFactory()
    first = start(client, inbox).json()
    contact = Contact.objects.get(pk=first["contact_id"])
    conversation = conversation_with(inbox, contact)
    # when they come back with their token and now type their name
    again = start(client, inbox, visitor_token=first["visitor_token"], name="Bea").json()
    # then the same token, contact and conversation come back
    assert again["visitor_token"] == first["visitor_token"]
    assert again["contact_id"] == contact.pk
    assert again["conversation_id"] == conversation.pk
    contact.refresh_from_db()
    assert contact.name == "Bea"


def test_revoked_or_foreign_token_starts_a_new_visitor(client):
    inbox, other_inbox = InboxFactory(), InboxFactory()
    first = start(client, inbox).json()
    other = start(client, other_inbox, visitor_token=first["visitor_token"]).json()
    assert other["contact_id"] != first["contact_id"]
    assert visitor_token_revoke(inbox=inbox, token=first["visitor_token"])
    again = start(client, inbox, visitor_token=first["visitor_token"]).json()
    assert again["contact_id"] != first["contact_id"]
    assert live_visitor_token(inbox, first["visitor_token"]) is None


def test_verified_token_is_not_honoured_without_the_signature(client):
    # given a signed-in user's session on a shared computer
    inbox = InboxFactory()
    signed = start(client, inbox, external_id="user-7", identity_hash=signature(inbox, "user-7")).json()
    # when the page (signed out) reuses the stored token without a signature
    anonymous = start(client, inbox, visitor_token=signed["visitor_token"]).json()
    # then the visitor does not get the signed-in user's contact back
    assert anonymous["contact_id"] != signed["contact_id"]
    # and with the signature again, the same token is kept
    again = start(
        client,
        inbox,
        visitor_token=signed["visitor_token"],
        external_id="user-7",
        identity_hash=signature(inbox, "user-7"),
    ).json()
    assert again["visitor_token"] == signed["visitor_token"]


def test_bad_fields_are_a_400_not_a_500(client):
    inbox = InboxFactory()
    bad_email = start(client, inbox, email="not-an-email")
    bad_phone = start(client, inbox, phone="abc")
    not_an_object = client.post(f"/api/v1/widget/{inbox.public_id}/session", [1, 2], format="json", HTTP_ORIGIN=ORIGIN)
    assert bad_email.status_code == 400 and "email" in bad_email.json()["error"]["fields"]
    assert bad_phone.status_code == 400
    assert not_an_object.status_code == 400
    assert not Contact.objects.exists()


def test_session_starts_are_rate_limited(client, settings):
    settings.WIDGET_SESSION_RATE = "3/min"
    inbox = InboxFactory()
    codes = [start(client, inbox).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = start(client, inbox)
    assert limited.json()["error"]["code"] == "rate_limited"
    assert limited["Access-Control-Allow-Origin"] == ORIGIN
