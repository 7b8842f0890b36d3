"""Group commit (ADR 0015): the widget's messages of one process stored together, each answered alone."""

import asyncio
import random

import pytest
from channels.layers import get_channel_layer
from django.db import connection

from chat import events, search, services
from chat.models import Conversation, ConversationEvent, Message
from chat.widget import visitor_token_revoke
from tests.chat.test_concurrency import race
from tests.chat.test_consumers import close_code, console, db, drain, next_of, setup_inbox_with_agent, visitor, widget
from tests.factories import ContactFactory, InboxFactory, conversation_with

pytestmark = [pytest.mark.django_db(transaction=True)]


def inbound(inbox, contact, client_msg_id: str, body: str = "hello") -> services.Inbound:
    return services.Inbound(inbox, contact.pk, body, client_msg_id)


# --- the service ------------------------------------------------------------------------


def test_one_batch_allocates_seq_per_conversation_dedupes_and_records_every_event():
    # given a contact with a snoozed conversation (one message, client id "a"), and a new contact
    inbox = InboxFactory()
    known, new = ContactFactory(), ContactFactory()
    first = services.message_receive(inbox=inbox, contact=known, channel="web", body="first", client_msg_id="a")
    Conversation.objects.filter(pk=first.message.conversation_id).update(status="snoozed")

    # when one batch brings: a retry of "a", two new messages of each, and a retry within the batch
    items = [
        inbound(inbox, known, "a", "first again"),
        inbound(inbox, known, "b", "wombat"),
        inbound(inbox, new, "x", "hello"),
        inbound(inbox, known, "c"),
        inbound(inbox, new, "y"),
        inbound(inbox, new, "x", "hello again"),
    ]
    results = services.message_receive_many(items)

    # then the retries answer with the stored messages, the others are numbered per conversation
    assert [(r.message.seq, r.created) for r in results] == [
        (1, False),
        (2, True),
        (1, True),
        (3, True),
        (2, True),
        (1, False),
    ]
    assert results[0].message.pk == first.message.pk and results[5].message.pk == results[2].message.pk
    woken = Conversation.objects.get(contact=known)
    opened = Conversation.objects.get(contact=new)
    assert (woken.status, woken.last_seq, opened.status, opened.last_seq) == ("open", 3, "open", 2)
    assert list(opened.messages.order_by("seq").values_list("client_msg_id", flat=True)) == ["x", "y"]
    # each new message has its event naming it; the woken conversation one `woke`, the new one `opened`
    created = ConversationEvent.objects.filter(kind="message_created").exclude(data__message_id=first.message.pk)
    assert sorted(event.data["message_id"] for event in created) == sorted(r.message.pk for r in results if r.created)
    assert woken.events.filter(kind="woke").count() == 1 and opened.events.filter(kind="opened").count() == 1
    # and the words are found
    assert results[1].message.pk in search.matching_message_ids(search.parse("wombat"), inbox_ids=None, limit=10)


def test_a_contact_erased_meanwhile_is_answered_none_and_the_others_are_stored():
    inbox = InboxFactory()
    stays, gone = ContactFactory(), ContactFactory()
    gone_item = inbound(inbox, gone, "g")
    gone.delete()

    results = services.message_receive_many([inbound(inbox, stays, "s"), gone_item])

    assert results[1] is None
    assert results[0].message.seq == 1 and Message.objects.count() == 1


def test_batches_racing_each_other_and_single_writers_keep_seq_1_to_n():
    # given three contacts, one with a conversation an agent is answering
    inbox = InboxFactory()
    contacts = [ContactFactory() for _ in range(3)]
    conversation = conversation_with(inbox, contacts[0])

    # when four threads store batches for all three (each in its own order), one thread stores
    # messages one by one and another replies as an agent, all at once
    def write(i: int) -> None:
        for n in range(5):
            if i == 4:
                services.message_receive(inbox=inbox, contact=contacts[n % 3], channel="web", body="single")
            elif i == 5:
                services.message_send(conversation=conversation, by=None, body=f"agent {n}")
            else:
                order = random.sample(contacts, 3)
                services.message_receive_many([inbound(inbox, c, f"{i}-{n}-{c.pk}") for c in order])

    assert race(write, 6) == []

    # then each contact has one conversation numbered 1..N, each client id stored once
    for contact in contacts:
        assert Conversation.objects.filter(contact=contact).count() == 1
        conversation = Conversation.objects.get(contact=contact)
        seqs = list(conversation.messages.order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, len(seqs) + 1)) and conversation.last_seq == len(seqs)
    assert Message.objects.exclude(client_msg_id=None).count() == 4 * 5 * 3


# --- the sockets ------------------------------------------------------------------------


async def test_one_commits_events_for_a_group_go_in_one_group_send_in_order():
    # given a socket's channel in an inbox's group
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("inbox.1", channel)
    # when one commit's broadcasts name that group twice and another group once
    first, second = {"type": "chat.message", "n": 1}, {"type": "chat.message", "n": 2}
    await events.send_collected([("inbox.1", first), ("contact.9", {"type": "chat.message"}), ("inbox.1", second)])
    # then the socket gets one event carrying both, in order, and nothing else
    assert await asyncio.wait_for(layer.receive(channel), 5) == {"type": "chat.batch", "events": [first, second]}
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(layer.receive(channel), 0.3)
    await layer.group_discard("inbox.1", channel)


async def test_many_sockets_messages_are_stored_together_and_delivered_once_in_order(settings):
    # given a window long enough that the sockets' messages meet, ten customers and an agent
    settings.CHAT_GROUP_COMMIT_WINDOW_MS = 50
    inbox, user = await setup_inbox_with_agent()
    agent, _ready = await console(user)
    customers = []
    for _ in range(10):
        token, _contact = await visitor(inbox)
        customers.append((await widget(inbox, token))[0])

    # when every customer sends three messages at once
    async def send_three(index: int, socket) -> list[dict]:
        acks = []
        for n in range(3):
            await socket.send_json_to({"type": "message.send", "client_msg_id": f"{index}-{n}", "body": f"m {n}"})
            acks.append(await next_of(socket, "ack"))
        return acks

    acks = await asyncio.gather(*(send_three(i, s) for i, s in enumerate(customers)))

    # then each is acked with seq 1..3 of its conversation
    assert [[ack["message"]["seq"] for ack in mine] for mine in acks] == [[1, 2, 3]] * 10
    # and the agent sees each message once, in order per conversation
    seen: dict[int, list[int]] = {}
    for _ in range(30):
        frame = await next_of(agent, "message")
        seen.setdefault(frame["message"]["conversation_id"], []).append(frame["message"]["seq"])
    assert sorted(seen.values()) == [[1, 2, 3]] * 10
    assert [frame for frame in await drain(agent) if frame["type"] == "message"] == []
    # and messages of different customers were stored in one transaction (one `now` for a batch)
    times = await db(lambda: list(Message.objects.values_list("created_at", "conversation__contact_id")))
    by_time: dict = {}
    for at, contact_id in times:
        by_time.setdefault(at, set()).add(contact_id)
    assert max(len(contacts) for contacts in by_time.values()) > 1
    for socket in [agent, *customers]:
        await socket.disconnect()


async def test_a_revoked_token_in_a_batch_closes_its_socket_and_the_others_are_acked(settings):
    settings.CHAT_GROUP_COMMIT_WINDOW_MS = 50
    inbox = await db(InboxFactory)
    revoked_token, _ = await visitor(inbox)
    kept_token, _ = await visitor(inbox)
    revoked, _ = await widget(inbox, revoked_token)
    kept, _ = await widget(inbox, kept_token)
    await db(visitor_token_revoke, inbox=inbox, token=revoked_token)
    await revoked.receive_nothing(timeout=0.2)  # its close may come from the revocation's event already

    await revoked.send_json_to({"type": "message.send", "client_msg_id": "r", "body": "hi"})
    await kept.send_json_to({"type": "message.send", "client_msg_id": "k", "body": "hi"})

    assert (await next_of(kept, "ack"))["client_msg_id"] == "k"
    assert await close_code(revoked) == 4401
    assert await db(lambda: list(Message.objects.values_list("client_msg_id", flat=True))) == ["k"]
    await kept.disconnect()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite stores a NUL")
async def test_a_message_the_database_refuses_fails_alone_and_the_batch_is_stored_message_by_message(settings):
    # given two customers whose messages meet in one batch; PostgreSQL refuses text with a NUL
    settings.CHAT_GROUP_COMMIT_WINDOW_MS = 50
    inbox = await db(InboxFactory)
    good, _ = await widget(inbox, (await visitor(inbox))[0])
    bad, _ = await widget(inbox, (await visitor(inbox))[0])

    await good.send_json_to({"type": "message.send", "client_msg_id": "g", "body": "fine"})
    await bad.send_json_to({"type": "message.send", "client_msg_id": "b", "body": "nul \x00 here"})

    # then the good message is acked (stored alone after the batch failed), the other gets its error frame
    assert (await next_of(good, "ack"))["client_msg_id"] == "g"
    error = await next_of(bad, "error")
    assert error["client_msg_id"] == "b"
    assert await db(lambda: list(Message.objects.values_list("client_msg_id", flat=True))) == ["g"]
    for socket in (good, bad):
        await socket.disconnect()


async def test_an_agent_reply_to_a_conversation_resolved_meanwhile_fails_alone(settings):
    # given an agent with two consoles, a resolved conversation and an open one, and a customer
    settings.CHAT_GROUP_COMMIT_WINDOW_MS = 50
    inbox, user = await setup_inbox_with_agent()
    resolved = await db(conversation_with, inbox)
    await db(services.conversation_resolve, conversation=resolved, by=user)
    still_open = await db(conversation_with, inbox)
    token, _ = await visitor(inbox)
    customer, _ = await widget(inbox, token)
    first, _ = await console(user)
    second, _ = await console(user)

    # when the agent answers both and the customer writes, all in one window
    await first.send_json_to(
        {"type": "message.send", "conversation_id": resolved.pk, "client_msg_id": "late", "body": "too late"}
    )
    await second.send_json_to(
        {"type": "message.send", "conversation_id": still_open.pk, "client_msg_id": "ok", "body": "on time"}
    )
    await customer.send_json_to({"type": "message.send", "client_msg_id": "c", "body": "hello"})

    # then the reply to the resolved one is refused alone; the others are stored and acked
    error = await next_of(first, "error")
    assert (error["code"], error["client_msg_id"]) == ("conversation_resolved", "late")
    assert (await next_of(second, "ack"))["message"]["seq"] == 2
    assert (await next_of(customer, "ack"))["message"]["seq"] == 1
    stored = await db(lambda: set(Message.objects.exclude(client_msg_id=None).values_list("client_msg_id", flat=True)))
    assert stored == {"ok", "c"}
    for socket in (customer, first, second):
        await socket.disconnect()
