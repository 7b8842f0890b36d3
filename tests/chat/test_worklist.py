"""The list an agent works from: previews, waiting time, per-agent unread counts, sorts."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat import services, workspace
from chat.models import Label, Priority
from tests.factories import ContactFactory, InboxFactory, agent_user, conversation_with

pytestmark = pytest.mark.django_db


def rows(client, **params) -> dict:
    response = client.get("/api/v1/conversations/", params)
    assert response.status_code == 200, response.content
    return {row["id"]: row for row in response.json()["results"]}


def test_a_row_shows_the_last_message_waiting_time_and_unread_count(as_user):
    # given a customer who wrote twice
    inbox = InboxFactory()
    alice = agent_user(inbox)
    conversation = conversation_with(inbox, body="First")
    services.message_receive(inbox=inbox, contact=conversation.contact, channel="web", body="Second")
    # when alice lists the conversations
    row = rows(as_user(alice))[conversation.pk]
    # then the row says what came last, since when the customer waits, and that both are unread
    assert row["last_message"]["body"] == "Second"
    assert row["last_message"]["sender_kind"] == "contact"
    assert row["waiting_since"] is not None
    assert row["unread_count"] == 2


def test_unread_counts_are_per_agent_and_a_read_marker_never_goes_back(as_user):
    inbox = InboxFactory()
    alice, bob = agent_user(inbox), agent_user(inbox)
    conversation = conversation_with(inbox, body="One")
    services.message_receive(inbox=inbox, contact=conversation.contact, channel="web", body="Two")
    # when alice reads up to the last message
    response = as_user(alice).post(f"/api/v1/conversations/{conversation.pk}/read/", {"seq": 2}, format="json")
    assert response.json() == {"conversation_id": conversation.pk, "last_read_seq": 2, "unread_count": 0}
    # then alice has nothing unread, bob still two
    assert rows(as_user(alice))[conversation.pk]["unread_count"] == 0
    assert rows(as_user(bob))[conversation.pk]["unread_count"] == 2
    # and an older marker (another tab) does not make it unread again; one past the end stops at the end
    as_user(alice).post(f"/api/v1/conversations/{conversation.pk}/read/", {"seq": 1}, format="json")
    assert rows(as_user(alice))[conversation.pk]["unread_count"] == 0
    marker = workspace.conversation_mark_read(conversation=conversation, user=bob, seq=999)
    assert marker.last_read_seq == 2
    # a new message is unread for both
    services.message_receive(inbox=inbox, contact=conversation.contact, channel="web", body="Three")
    assert rows(as_user(alice))[conversation.pk]["unread_count"] == 1


def test_a_reply_ends_the_wait_and_the_next_customer_message_starts_it(as_user):
    inbox = InboxFactory()
    alice = agent_user(inbox)
    conversation = conversation_with(inbox)
    services.message_send(conversation=conversation, by=alice, body="Internal", is_note=True)
    conversation.refresh_from_db()
    assert conversation.waiting_since is not None  # a note answers nobody
    services.message_send(conversation=conversation, by=alice, body="Hello!")
    conversation.refresh_from_db()
    assert conversation.waiting_since is None
    row = rows(as_user(alice))[conversation.pk]
    assert row["waiting_since"] is None and row["last_message"]["sender_kind"] == "agent"
    later = services.message_receive(inbox=inbox, contact=conversation.contact, channel="web", body="Thanks").message
    conversation.refresh_from_db()
    assert conversation.waiting_since == later.created_at


def test_sorts_newest_longest_waiting_and_priority(as_user):
    inbox = InboxFactory()
    alice = agent_user(inbox)
    now = timezone.now()
    old_wait = conversation_with(inbox, ContactFactory(), body="Old")
    recent_wait = conversation_with(inbox, ContactFactory(), body="Recent")
    answered = conversation_with(inbox, ContactFactory(), body="Answered")
    services.message_send(conversation=answered, by=alice, body="Done")
    type(old_wait).objects.filter(pk=old_wait.pk).update(waiting_since=now - timedelta(hours=3))
    type(recent_wait).objects.filter(pk=recent_wait.pk).update(waiting_since=now - timedelta(minutes=5))
    services.conversation_set_priority(conversation=recent_wait, by=alice, priority=Priority.URGENT)
    client = as_user(alice)

    def order(sort, page_size=50):
        response = client.get("/api/v1/conversations/", {"sort": sort, "page_size": page_size})
        ids, body = [], response.json()
        ids += [row["id"] for row in body["results"]]
        while body["next"]:
            body = client.get(body["next"]).json()
            ids += [row["id"] for row in body["results"]]
        return ids

    assert order("newest") == [answered.pk, recent_wait.pk, old_wait.pk]
    assert order("waiting") == [old_wait.pk, recent_wait.pk, answered.pk]
    assert order("waiting", page_size=1) == [old_wait.pk, recent_wait.pk, answered.pk]  # the cursor keeps the order
    assert order("priority")[0] == recent_wait.pk
    assert order("priority", page_size=1)[0] == recent_wait.pk


def test_an_unknown_sort_or_a_foreign_conversation_is_refused(as_user):
    a, b = InboxFactory(), InboxFactory()
    alice = agent_user(a)
    foreign = conversation_with(b)
    client = as_user(alice)
    response = client.get("/api/v1/conversations/", {"sort": "loudest"})
    assert response.status_code == 400 and response.json()["error"]["fields"]["sort"]
    response = client.post(f"/api/v1/conversations/{foreign.pk}/read/", {"seq": 1}, format="json")
    assert response.status_code == 404
    assert not foreign.read_markers.exists()


def test_the_list_reads_its_rows_in_a_fixed_number_of_queries(as_user):
    # given conversations with labels and followers
    inbox = InboxFactory()
    alice = agent_user(inbox)
    label = Label.objects.create(name="VIP")
    client = as_user(alice)

    def add(count):
        for _ in range(count):
            conversation = conversation_with(inbox, ContactFactory())
            workspace.conversation_set_labels(conversation=conversation, by=alice, add=[label])
            workspace.conversation_follow(conversation=conversation, user=alice)

    add(2)
    with CaptureQueriesContext(connection) as few:
        assert len(rows(client)) == 2
    add(8)
    with CaptureQueriesContext(connection) as many:
        assert len(rows(client)) == 10
    # then ten rows cost what two did (previews, unread counts, labels, participants included)
    assert len(many.captured_queries) == len(few.captured_queries)
