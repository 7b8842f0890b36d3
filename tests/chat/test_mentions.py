"""Mentions and participants (issue #15): `@username` in a note tells that agent at once, wherever
they are in the console; participants follow a conversation."""

import pytest
from channels.db import database_sync_to_async
from django.db import transaction

from chat import services
from chat.models import Mention, Participant
from tests.chat.test_consumers import console
from tests.chat.workspace_helpers import client_of, desk
from tests.factories import SupervisorFactory, UserFactory, conversation_with

__all__ = ["desk"]


@pytest.mark.django_db
def test_a_note_naming_an_agent_records_a_mention_and_makes_them_a_participant(
    desk, django_capture_on_commit_callbacks
):
    conversation = conversation_with(desk["a"])
    alice, bob = desk["alice"], desk["bob"]
    boss = SupervisorFactory(user=UserFactory(username="boss")).user  # not a member: supervisors see every inbox
    with django_capture_on_commit_callbacks(execute=True):
        response = client_of(alice).post(
            f"/api/v1/conversations/{conversation.pk}/messages/",
            {
                "body": f"@{bob.username} and @BOSS, look. @{desk['carol'].username} @nobody @{alice.username}",
                "is_note": True,
            },
            format="json",
        )
    assert response.status_code == 201
    # bob and the supervisor are mentioned; carol (another inbox), an unknown name and alice herself are not
    assert set(Mention.objects.values_list("user__username", flat=True)) == {bob.username, "boss"}
    assert set(conversation.participants.values_list("user_id", "reason")) == {
        (bob.pk, "mentioned"),
        (boss.pk, "mentioned"),
    }
    # bob's mentions: unread, with who wrote it and the customer
    mentions = client_of(bob).get("/api/v1/mentions/", {"unread": True}).json()
    assert len(mentions) == 1 and mentions[0]["by"] == alice.agent.display_name
    assert mentions[0]["conversation_id"] == conversation.pk and mentions[0]["read_at"] is None
    # reading it
    assert client_of(bob).post(f"/api/v1/mentions/{mentions[0]['id']}/read/").json() == {"marked": 1}
    assert client_of(bob).get("/api/v1/mentions/", {"unread": True}).json() == []
    # a reply (not a note) mentions nobody; another agent's mention is a 404
    client_of(alice).post(f"/api/v1/conversations/{conversation.pk}/messages/", {"body": "@boss hi"}, format="json")
    assert Mention.objects.count() == 2
    assert client_of(alice).post(f"/api/v1/mentions/{mentions[0]['id']}/read/").status_code == 404


@pytest.mark.django_db
def test_following_a_conversation_and_the_following_filter(desk):
    mine, other = conversation_with(desk["a"]), conversation_with(desk["a"])
    bob = client_of(desk["bob"])
    response = bob.post(f"/api/v1/conversations/{mine.pk}/follow/")
    assert response.status_code == 200 and response.json()["participants"] == [desk["bob"].pk]
    rows = bob.get("/api/v1/conversations/", {"following": "true"}).json()["results"]
    assert [row["id"] for row in rows] == [mine.pk]
    assert rows[0]["participants"] == [desk["bob"].pk]
    bob.post(f"/api/v1/conversations/{mine.pk}/unfollow/")
    assert not Participant.objects.exists()
    # another inbox's conversation: 404, nothing written
    foreign = conversation_with(desk["b"])
    assert bob.post(f"/api/v1/conversations/{foreign.pk}/follow/").status_code == 404
    assert not Participant.objects.exists()
    assert other.pk not in [
        row["id"] for row in bob.get("/api/v1/conversations/", {"following": True}).json()["results"]
    ]


@pytest.mark.django_db(transaction=True)
async def test_the_mentioned_agent_hears_it_on_their_console_socket(desk):
    conversation = await database_sync_to_async(conversation_with)(desk["a"])
    socket, _ready = await console(desk["bob"])
    try:

        def send_note():
            with transaction.atomic():
                services.message_send(
                    conversation=conversation,
                    by=desk["alice"],
                    body=f"Can you take this, @{desk['bob'].username}?",
                    is_note=True,
                )

        await database_sync_to_async(send_note)()
        frames = [await socket.receive_json_from(timeout=3) for _ in range(3)]
        mention = next(frame for frame in frames if frame["type"] == "mention")["mention"]
        assert mention["conversation_id"] == conversation.pk
        assert mention["excerpt"].startswith("Can you take this")
    finally:
        await socket.disconnect()
