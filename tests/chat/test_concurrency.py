"""Writers racing for one person: one conversation, seq 1..N, no gaps, no duplicates."""

import threading

import pytest
from django.db import close_old_connections, connection

from chat import services
from chat.models import Conversation, Message
from tests.factories import ContactFactory, InboxFactory

THREADS = 8
PER_THREAD = 10


def race(target, count: int) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run(i: int) -> None:
        try:
            barrier.wait()
            target(i)
        except BaseException as exc:
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


@pytest.mark.django_db(transaction=True)
def test_concurrent_receives_for_one_contact_make_one_conversation_with_seq_1_to_n():
    # given a contact with no conversation yet
    inbox, contact = InboxFactory(), ContactFactory()

    # when several threads deliver messages for that contact at once
    def deliver(i: int) -> None:
        for n in range(PER_THREAD):
            services.message_receive(inbox=inbox, contact=contact, channel="web", body=f"{i}-{n}")

    errors = race(deliver, THREADS)

    # then every message landed in one conversation, numbered 1..N without gaps
    assert errors == []
    assert Conversation.objects.filter(contact=contact).count() == 1
    conversation = Conversation.objects.get(contact=contact)
    seqs = list(Message.objects.filter(conversation=conversation).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, THREADS * PER_THREAD + 1))
    assert conversation.last_seq == THREADS * PER_THREAD
    assert conversation.events.filter(kind="opened").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_of_one_provider_message_store_it_once():
    inbox, contact = InboxFactory(channel="sms"), ContactFactory()

    def retry(i: int) -> None:
        services.message_receive(
            inbox=inbox, contact=contact, channel="sms", body="hi", provider="twilio", external_id="SM-retry"
        )

    assert race(retry, THREADS) == []
    assert Message.objects.filter(external_id="SM-retry").count() == 1


@pytest.mark.django_db(transaction=True)
def test_agents_and_customer_writing_at_once_keep_one_sequence():
    inbox, contact = InboxFactory(), ContactFactory()
    conversation = services.message_receive(
        inbox=inbox, contact=contact, channel="web", body="start"
    ).message.conversation

    def write(i: int) -> None:
        for n in range(PER_THREAD):
            if i % 2:
                services.message_send(conversation=conversation, by=None, body=f"agent {i}-{n}")
            else:
                services.message_receive(inbox=inbox, contact=contact, channel="web", body=f"customer {i}-{n}")

    assert race(write, 4) == []
    seqs = list(conversation.messages.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 4 * PER_THREAD + 2))
