"""The REST API /api/v1/: scoping, filters, pagination, actions, idempotency and error shapes."""

import pytest
from django.utils import timezone

from chat import services
from chat.models import ContactIdentity, Message
from tests.factories import (
    InboxFactory,
    SupervisorFactory,
    TeamFactory,
    agent_user,
    contact_with,
    conversation_with,
)

pytestmark = pytest.mark.django_db


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "detail"} <= set(body["error"])
    return body["error"]


@pytest.fixture
def two_inboxes():
    """Inbox A with agent alice and a conversation; inbox B with its own conversation."""
    a, b = InboxFactory(name="A"), InboxFactory(name="B")
    alice = agent_user(a)
    return a, b, alice, conversation_with(a), conversation_with(b)


def test_agents_list_only_conversations_of_their_inboxes(as_user, two_inboxes):
    a, b, alice, mine, foreign = two_inboxes
    response = as_user(alice).get("/api/v1/conversations/")
    assert response.status_code == 200
    assert [c["id"] for c in response.json()["results"]] == [mine.pk]


def test_every_object_of_a_foreign_inbox_is_404_in_the_error_shape(as_user, two_inboxes):
    a, b, alice, mine, foreign = two_inboxes
    client = as_user(alice)
    urls = [
        ("get", f"/api/v1/conversations/{foreign.pk}/", None),
        ("get", f"/api/v1/conversations/{foreign.pk}/messages/", None),
        ("post", f"/api/v1/conversations/{foreign.pk}/messages/", {"body": "hi"}),
        ("post", f"/api/v1/conversations/{foreign.pk}/resolve/", {}),
        ("post", f"/api/v1/conversations/{foreign.pk}/reopen/", {}),
        ("post", f"/api/v1/conversations/{foreign.pk}/assign/", {"assignee": alice.pk}),
        ("post", f"/api/v1/conversations/{foreign.pk}/transfer/", {"agent": alice.pk}),
        ("post", f"/api/v1/conversations/{foreign.pk}/snooze/", {"until": "2099-01-01T00:00:00Z"}),
        ("post", f"/api/v1/conversations/{foreign.pk}/unsnooze/", {}),
        ("get", f"/api/v1/conversations/{foreign.pk}/events/", None),
        ("get", f"/api/v1/agents/?inbox={b.pk}", None),
        ("patch", f"/api/v1/conversations/{foreign.pk}/", {"priority": "high"}),
        ("get", f"/api/v1/contacts/{foreign.contact_id}/", None),
        ("post", f"/api/v1/contacts/{foreign.contact_id}/merge/", {"source_id": mine.contact_id}),
        ("post", f"/api/v1/contacts/{mine.contact_id}/merge/", {"source_id": foreign.contact_id}),
        ("get", f"/api/v1/inboxes/{b.pk}/", None),
        ("get", f"/api/v1/inboxes/{b.public_id}/", None),
        ("get", "/api/v1/conversations/999999/", None),
    ]
    for method, url, data in urls:
        response = getattr(client, method)(url, data, format="json")
        assert response.status_code == 404, (method, url, response.status_code)
        assert error_of(response)["code"] == "not_found"
    # and nothing was written on the foreign side
    assert foreign.messages.count() == 1


def test_supervisors_see_every_inbox(as_user, two_inboxes):
    a, b, alice, mine, foreign = two_inboxes
    boss = SupervisorFactory().user
    ids = {c["id"] for c in as_user(boss).get("/api/v1/conversations/").json()["results"]}
    assert ids == {mine.pk, foreign.pk}


def test_anonymous_requests_get_a_json_401_or_403():
    from rest_framework.test import APIClient

    response = APIClient().get("/api/v1/conversations/")
    assert response.status_code in (401, 403)
    assert error_of(response)["code"] == "not_authenticated"


def test_token_auth_works_for_integrations(two_inboxes):
    from rest_framework.test import APIClient

    from accounts.services import api_token_create

    a, b, alice, mine, foreign = two_inboxes
    _token, raw = api_token_create(user=alice, name="CRM sync")
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/conversations/").status_code == 200


def test_the_old_unscoped_drf_token_scheme_is_gone(two_inboxes):
    from rest_framework.test import APIClient

    # given a client that still sends an old-style `Token <40 hex>` key
    client = APIClient(HTTP_AUTHORIZATION="Token " + "ab12" * 10)
    # then it is not signed in
    response = client.get("/api/v1/conversations/")
    assert response.status_code in (401, 403)
    assert error_of(response)["code"] == "not_authenticated"


def test_filters_take_several_values(as_user):
    inbox = InboxFactory()
    alice = agent_user(inbox)
    open_one, snoozed_one, resolved_one = (conversation_with(inbox) for _ in range(3))
    services.conversation_snooze(conversation=snoozed_one, until=timezone.now() + timezone.timedelta(hours=1))
    services.conversation_resolve(conversation=resolved_one)
    client = as_user(alice)
    response = client.get("/api/v1/conversations/", {"status": ["open", "snoozed"]})
    assert {c["id"] for c in response.json()["results"]} == {open_one.pk, snoozed_one.pk}
    response = client.get("/api/v1/conversations/", {"inbox": [inbox.public_id], "channel": ["web", "sms"]})
    assert len(response.json()["results"]) == 3
    services.conversation_assign(conversation=open_one, assignee=alice)
    response = client.get("/api/v1/conversations/", {"assignee": ["me"]})
    assert [c["id"] for c in response.json()["results"]] == [open_one.pk]
    response = client.get("/api/v1/conversations/", {"assignee": "none", "status": "open"})
    assert response.json()["results"] == []


def test_bad_filter_values_are_400_with_field_errors(as_user):
    inbox = InboxFactory()
    client = as_user(agent_user(inbox))
    response = client.get("/api/v1/conversations/", {"status": ["open", "sleeping"], "team": "abc", "priority": "x"})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid" and {"status", "team", "priority"} <= set(error["fields"])


def test_cursor_pagination_walks_every_conversation_once_newest_activity_first(as_user):
    inbox = InboxFactory()
    client = as_user(agent_user(inbox))
    conversations = [conversation_with(inbox) for _ in range(7)]
    seen, url = [], "/api/v1/conversations/?page_size=3"
    while url:
        page = client.get(url).json()
        seen += [c["id"] for c in page["results"]]
        url = page["next"]
    assert seen == [c.pk for c in reversed(conversations)]


def test_a_list_page_costs_the_same_queries_whatever_its_size(as_user, django_assert_max_num_queries):
    inbox, team = InboxFactory(), TeamFactory()
    alice = agent_user(inbox)
    client = as_user(alice)
    for _ in range(3):
        services.conversation_assign(conversation=conversation_with(inbox), assignee=alice)
    with django_assert_max_num_queries(6):
        small = client.get("/api/v1/conversations/?page_size=50")
    for _ in range(40):
        conversation = conversation_with(inbox)
        services.conversation_transfer(conversation=conversation, by=alice, to_agent=alice, to_team=team)
    with django_assert_max_num_queries(6):
        large = client.get("/api/v1/conversations/?page_size=50")
    assert len(small.json()["results"]) == 3 and len(large.json()["results"]) == 43


def test_posting_a_message_twice_with_one_client_msg_id_stores_it_once(as_user):
    inbox = InboxFactory()
    alice = agent_user(inbox)
    conversation = conversation_with(inbox)
    client = as_user(alice)
    url = f"/api/v1/conversations/{conversation.pk}/messages/"
    first = client.post(url, {"body": "Hello!", "client_msg_id": "abc-1"}, format="json")
    second = client.post(url, {"body": "Hello!", "client_msg_id": "abc-1"}, format="json")
    assert first.status_code == 201 and second.status_code == 200
    assert first.json()["id"] == second.json()["id"] and first.json()["seq"] == 2
    assert Message.objects.filter(client_msg_id="abc-1").count() == 1


def test_messages_after_seq_returns_only_what_came_later(as_user):
    inbox = InboxFactory()
    alice = agent_user(inbox)
    conversation = conversation_with(inbox)
    for n in range(4):
        services.message_send(conversation=conversation, by=alice, body=f"reply {n}")
    response = as_user(alice).get(f"/api/v1/conversations/{conversation.pk}/messages/", {"after_seq": 3})
    assert [m["seq"] for m in response.json()] == [4, 5]
    assert response.json()[0]["sender"]["kind"] == "agent"
    bad = as_user(alice).get(f"/api/v1/conversations/{conversation.pk}/messages/", {"after_seq": "-1"})
    assert bad.status_code == 400 and "after_seq" in error_of(bad)["fields"]


def test_a_body_over_10000_characters_is_400_and_nothing_stored(as_user):
    inbox = InboxFactory()
    conversation = conversation_with(inbox)
    response = as_user(agent_user(inbox)).post(
        f"/api/v1/conversations/{conversation.pk}/messages/", {"body": "x" * 10_001}, format="json"
    )
    assert response.status_code == 400 and "body" in error_of(response)["fields"]
    assert error_of(response)["code"] == "body_too_long"  # its own code, the one the sockets use too
    assert conversation.messages.count() == 1


def test_malformed_json_is_400_malformed_request(as_user):
    inbox = InboxFactory()
    conversation = conversation_with(inbox)
    response = as_user(agent_user(inbox)).post(
        f"/api/v1/conversations/{conversation.pk}/messages/", "{not json", content_type="application/json"
    )
    assert response.status_code == 400 and error_of(response)["code"] == "malformed_request"


def test_actions_assign_transfer_resolve_reopen_snooze(as_user):
    inbox, team = InboxFactory(), TeamFactory()
    alice, bob = agent_user(inbox), agent_user(inbox)
    conversation = conversation_with(inbox)
    client = as_user(alice)
    base = f"/api/v1/conversations/{conversation.pk}"
    assert client.post(f"{base}/assign/", {"assignee": alice.pk}, format="json").json()["assignee"]["id"] == alice.pk
    moved = client.post(f"{base}/transfer/", {"agent": bob.pk, "team": team.pk, "note": "please"}, format="json").json()
    assert moved["assignee"]["id"] == bob.pk and moved["team"]["id"] == team.pk
    snoozed = client.post(f"{base}/snooze/", {"until": "2099-01-01T00:00:00Z"}, format="json")
    assert snoozed.json()["status"] == "snoozed"
    assert client.post(f"{base}/resolve/").json()["status"] == "resolved"
    assert client.post(f"{base}/reopen/").json()["status"] == "open"
    assert client.patch(f"{base}/", {"priority": "urgent"}, format="json").json()["priority"] == "urgent"


def test_action_errors_are_clear_4xx(as_user):
    inbox, other = InboxFactory(), InboxFactory()
    alice, outsider = agent_user(inbox), agent_user(other)
    conversation = conversation_with(inbox)
    client = as_user(alice)
    base = f"/api/v1/conversations/{conversation.pk}"
    assert client.post(f"{base}/assign/", {"assignee": outsider.pk}, format="json").status_code == 400
    assert client.post(f"{base}/assign/", {"assignee": "x"}, format="json").status_code == 400
    assert client.post(f"{base}/transfer/", {}, format="json").status_code == 400
    assert client.post(f"{base}/snooze/", {"until": "2001-01-01T00:00:00Z"}, format="json").status_code == 400
    assert client.patch(f"{base}/", {"priority": "meh"}, format="json").status_code == 400
    client.post(f"{base}/resolve/")
    late = client.post(f"{base}/messages/", {"body": "late"}, format="json")
    assert late.status_code == 409 and error_of(late)["code"] == "conversation_resolved"


def test_contact_detail_shows_identities_and_history_across_channels(as_user):
    web, email = InboxFactory(), InboxFactory(channel="email")
    alice = agent_user(web, email)
    contact = contact_with(ContactIdentity.Kind.EMAIL, "kim@example.com", name="Kim")
    first = conversation_with(web, contact)
    services.conversation_resolve(conversation=first)
    second = conversation_with(email, contact)
    body = as_user(alice).get(f"/api/v1/contacts/{contact.pk}/").json()
    assert body["identities"][0]["value"] == "kim@example.com" and body["identities"][0]["verified"]
    assert [c["id"] for c in body["conversations"]] == [second.pk, first.pk]


def test_merge_and_unmerge_through_the_api(as_user):
    inbox = InboxFactory()
    alice = agent_user(inbox)
    a, b = conversation_with(inbox), conversation_with(inbox)
    services.conversation_resolve(conversation=a)
    client = as_user(alice)
    merged = client.post(f"/api/v1/contacts/{b.contact_id}/merge/", {"source_id": a.contact_id}, format="json")
    assert merged.status_code == 200 and merged.json()["merged_contacts"] == [a.contact_id]
    assert {c["id"] for c in merged.json()["conversations"]} == {a.pk, b.pk}
    again = client.post(f"/api/v1/contacts/{b.contact_id}/merge/", {"source_id": b.contact_id}, format="json")
    assert again.status_code == 400
    undone = client.post(f"/api/v1/contacts/{b.contact_id}/unmerge/", {"source_id": a.contact_id}, format="json")
    assert undone.status_code == 200 and undone.json()["merged_contacts"] == []
    assert [c["id"] for c in undone.json()["conversations"]] == [b.pk]


def test_agents_and_availability(as_user):
    inbox = InboxFactory()
    alice = agent_user(inbox)
    client = as_user(alice)
    me = client.post("/api/v1/agents/me/availability/", {"availability": "busy"}, format="json")
    assert me.status_code == 200 and me.json()["availability"] == "busy"
    assert client.post("/api/v1/agents/me/availability/", {"availability": "asleep"}, format="json").status_code == 400
    assert [a["id"] for a in client.get("/api/v1/agents/").json()["results"]] == [alice.pk]


def test_schema_and_docs_are_served_locally(client):
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"cdn" not in docs.content.lower()


def test_unknown_api_urls_are_json_404(client):
    response = client.get("/api/v1/nope/")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
