"""API tokens: made from a signed-in session, shown once, read-only or not, limited to inboxes or
not, expiring and revocable; each refusal has its own code and writes nothing."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services
from accounts.models import ApiToken
from chat.models import AuditLog, Message
from tests.factories import AgentFactory, ContactFactory, InboxFactory, SupervisorFactory, conversation_with

pytestmark = pytest.mark.django_db


def bearer(raw: str) -> APIClient:
    return APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}")


def session_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_token_is_made_from_the_session_shown_once_and_works():
    # given an agent signed in
    user = AgentFactory(inboxes=[InboxFactory()]).user
    browser = session_of(user)
    # when they make a token
    made = browser.post(
        "/api/v1/account/tokens/", {"name": "CRM sync", "expires_in_days": 30}, content_type="application/json"
    )
    # then it is shown once, with when it expires, and works as a bearer credential
    assert made.status_code == 201
    body = made.json()
    assert body["token"].startswith("cxh_") and body["prefix"] == body["token"][:10]
    assert bearer(body["token"]).get("/api/v1/conversations/").status_code == 200
    listed = browser.get("/api/v1/account/tokens/").json()
    assert [row["name"] for row in listed] == ["CRM sync"] and "token" not in listed[0]
    assert ApiToken.objects.get().digest != body["token"]  # only the digest is kept
    assert AuditLog.objects.filter(action="api_token_created").exists()


def test_a_read_only_token_reads_and_writes_nothing():
    inbox = InboxFactory()
    user = AgentFactory(inboxes=[inbox]).user
    conversation = conversation_with(inbox, ContactFactory())
    _, raw = services.api_token_create(user=user, name="reports", read_only=True)
    client = bearer(raw)
    assert client.get(f"/api/v1/conversations/{conversation.pk}/").status_code == 200
    before = Message.objects.count()
    answer = client.post(
        f"/api/v1/conversations/{conversation.pk}/messages/", {"body": "hi", "client_msg_id": "x1"}, format="json"
    )
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "token_read_only"
    assert client.post(f"/api/v1/conversations/{conversation.pk}/resolve/", {}, format="json").status_code == 403
    assert Message.objects.count() == before


@pytest.mark.parametrize("make_user", [AgentFactory, SupervisorFactory])
def test_a_token_limited_to_an_inbox_sees_and_changes_only_that_inbox(make_user):
    # given someone who sees two inboxes, and a token limited to the first
    sales, support = InboxFactory(name="Sales"), InboxFactory(name="Support")
    user = make_user(inboxes=[sales, support]).user
    in_sales = conversation_with(sales, ContactFactory())
    in_support = conversation_with(support, ContactFactory())
    _, raw = services.api_token_create(user=user, name="sales bot", inbox_ids=[sales.pk])
    client = bearer(raw)
    # then the lists hold only that inbox's, another inbox's objects are not found, writes work there
    assert [row["id"] for row in client.get("/api/v1/inboxes/").json()["results"]] == [sales.pk]
    assert [row["id"] for row in client.get("/api/v1/conversations/").json()["results"]] == [in_sales.pk]
    assert client.get(f"/api/v1/conversations/{in_support.pk}/").status_code == 404
    assert client.get("/api/v1/metrics/summary/", {"inbox": support.public_id}).status_code == 404
    sent = client.post(
        f"/api/v1/conversations/{in_sales.pk}/messages/", {"body": "hi", "client_msg_id": "s1"}, format="json"
    )
    assert sent.status_code == 201
    refused = client.post(
        f"/api/v1/conversations/{in_support.pk}/messages/", {"body": "hi", "client_msg_id": "s2"}, format="json"
    )
    assert refused.status_code == 404
    # and the same person's session still sees both
    assert len(session_of(user).get("/api/v1/conversations/").json()["results"]) == 2


def test_an_expired_or_revoked_token_is_refused_with_its_reason():
    user = AgentFactory().user
    expiring, raw_expiring = services.api_token_create(user=user, name="old", expires_in_days=1)
    revoked, raw_revoked = services.api_token_create(user=user, name="leaked")
    ApiToken.objects.filter(pk=expiring.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert session_of(user).delete(f"/api/v1/account/tokens/{revoked.pk}/").status_code == 204
    for raw, code in (
        (raw_expiring, "token_expired"),
        (raw_revoked, "token_invalid"),
        ("cxh_made_up", "token_invalid"),
    ):
        answer = bearer(raw).get("/api/v1/conversations/")
        assert (answer.status_code, answer.json()["error"]["code"]) == (401, code)
    assert AuditLog.objects.filter(action="api_token_revoked").count() == 1


def test_a_token_cannot_make_or_revoke_tokens():
    user = AgentFactory().user
    token, raw = services.api_token_create(user=user, name="ci")
    client = bearer(raw)
    made = client.post("/api/v1/account/tokens/", {"name": "more"}, format="json")
    assert made.status_code == 403 and made.json()["error"]["code"] == "token_management_needs_a_session"
    assert client.delete(f"/api/v1/account/tokens/{token.pk}/").status_code == 403
    assert ApiToken.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "expires_in_days": 0}, "expires_in_days"),
        ({"name": "x", "expires_in_days": 366}, "expires_in_days"),
        ({"name": ""}, "name"),
        ({"name": "x", "inboxes": ["FOREIGN"]}, "inboxes"),
    ],
)
def test_a_bad_token_request_is_a_400_with_its_field(body, field):
    user = AgentFactory(inboxes=[InboxFactory()]).user
    foreign = InboxFactory()
    body = {**body, **({"inboxes": [foreign.pk]} if "inboxes" in body else {})}
    answer = session_of(user).post("/api/v1/account/tokens/", body, content_type="application/json")
    assert answer.status_code == 400 and field in answer.json()["error"]["fields"]
    assert ApiToken.objects.count() == 0


def test_someone_elses_token_is_not_found():
    token, _ = services.api_token_create(user=AgentFactory().user, name="theirs")
    assert session_of(AgentFactory().user).delete(f"/api/v1/account/tokens/{token.pk}/").status_code == 404
    assert ApiToken.objects.get().revoked_at is None


def test_the_command_prints_a_working_token_once():
    from io import StringIO

    from django.core.management import call_command

    inbox = InboxFactory()
    user = AgentFactory(inboxes=[inbox]).user
    out, err = StringIO(), StringIO()
    call_command(
        "api_token_create",
        user.username,
        "--name",
        "ci",
        "--read-only",
        "--inbox",
        str(inbox.pk),
        stdout=out,
        stderr=err,
    )
    raw = out.getvalue().strip()
    assert bearer(raw).get("/api/v1/conversations/").status_code == 200
    token = ApiToken.objects.get()
    assert token.read_only and list(token.inboxes.values_list("pk", flat=True)) == [inbox.pk]
    assert raw not in err.getvalue()


def test_a_token_costs_one_query_and_a_limited_one_two(django_assert_num_queries):
    # given an agent of two inboxes with a token for both and one limited to the first, each used once
    first, second = InboxFactory(), InboxFactory()
    user = AgentFactory(inboxes=[first, second]).user
    _token, everywhere = services.api_token_create(user=user, name="all")
    _token, limited = services.api_token_create(user=user, name="first", inbox_ids=[first.pk])
    for raw in (everywhere, limited):
        assert bearer(raw).get("/api/v1/inboxes/").status_code == 200  # its use noted (once a minute)
    # when each lists its inboxes: then the token, its user and their profile are one query, the
    # limited token's inboxes one more, then the view's own read
    with django_assert_num_queries(2):
        assert len(bearer(everywhere).get("/api/v1/inboxes/").json()["results"]) == 2
    with django_assert_num_queries(3):
        assert [i["id"] for i in bearer(limited).get("/api/v1/inboxes/").json()["results"]] == [first.pk]
