"""The conversation core's services: one timeline per person, events, idempotency."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chat import services
from chat.models import AuditLog, ContactIdentity, Conversation, ConversationEvent, Message
from chat.services import Claim
from cxhub.errors import Conflict, InvalidInput
from tests.factories import (
    AgentFactory,
    ContactFactory,
    EmailInboxFactory,
    InboxFactory,
    SmsInboxFactory,
    TeamFactory,
    agent_user,
    contact_with,
    conversation_with,
)

pytestmark = pytest.mark.django_db

Kind = ContactIdentity.Kind


def kinds(conversation):
    return list(conversation.events.values_list("kind", flat=True))


def test_first_message_opens_a_conversation_with_seq_1_and_events():
    # given a web inbox and a new visitor
    inbox, contact = InboxFactory(), ContactFactory()
    # when the visitor writes
    received = services.message_receive(inbox=inbox, contact=contact, channel="web", body="Hi")
    # then one open conversation holds message 1, with opened + message_created events
    conversation = received.message.conversation
    assert received.created and received.message.seq == 1
    assert conversation.status == "open" and conversation.last_seq == 1
    assert conversation.last_customer_channel == "web"
    assert kinds(conversation) == ["opened", "message_created"]


def test_messages_on_every_channel_join_the_active_conversation_and_switches_are_recorded():
    # given a contact with verified email and phone who chatted on the web
    web, email, sms = InboxFactory(), EmailInboxFactory(), SmsInboxFactory()
    contact = services.contact_identify(
        claims=[Claim(Kind.EMAIL, "ana@example.com", True), Claim(Kind.PHONE, "+14155550100", True)]
    )
    first = services.message_receive(inbox=web, contact=contact, channel="web", body="web").message
    # when they email, then text
    second = services.message_receive(inbox=email, contact=contact, channel="email", body="mail").message
    third = services.message_receive(inbox=sms, contact=contact, channel="sms", body="text").message
    # then it is one conversation, seq 1..3, and two channel switches
    assert first.conversation_id == second.conversation_id == third.conversation_id
    assert [m.seq for m in (first, second, third)] == [1, 2, 3]
    conversation = Conversation.objects.get(pk=first.conversation_id)
    assert conversation.last_customer_channel == "sms"
    switches = conversation.events.filter(kind="channel_switched").values_list("data", flat=True)
    assert list(switches) == [{"from": "web", "to": "email"}, {"from": "email", "to": "sms"}]


def test_a_message_after_resolution_opens_a_new_conversation_linked_as_recontact():
    inbox, agent = InboxFactory(), None
    conversation = conversation_with(inbox)
    services.conversation_resolve(conversation=conversation, by=agent)
    # when the same contact writes again
    again = services.message_receive(inbox=inbox, contact=conversation.contact, channel="web", body="me again")
    # then a new conversation opens, linked to the previous one, marked a recontact
    new = again.message.conversation
    assert new.pk != conversation.pk and new.previous_id == conversation.pk and again.message.seq == 1
    opened = new.events.get(kind="opened")
    assert opened.data["recontact"] is True and opened.data["previous_id"] == conversation.pk


def test_provider_retries_and_client_retries_store_one_message():
    inbox, contact = SmsInboxFactory(), ContactFactory()
    first = services.message_receive(
        inbox=inbox, contact=contact, channel="sms", body="hi", provider="twilio", external_id="SM1"
    )
    again = services.message_receive(
        inbox=inbox, contact=contact, channel="sms", body="hi", provider="twilio", external_id="SM1"
    )
    web = services.message_receive(inbox=inbox, contact=contact, channel="web", body="x", client_msg_id="c-1")
    web_again = services.message_receive(inbox=inbox, contact=contact, channel="web", body="x", client_msg_id="c-1")
    assert again.message.pk == first.message.pk and not again.created
    assert web_again.message.pk == web.message.pk and not web_again.created
    assert Message.objects.count() == 2


def test_a_body_over_the_limit_is_refused_and_nothing_is_written():
    inbox, contact = InboxFactory(), ContactFactory()
    with pytest.raises(InvalidInput) as error:
        services.message_receive(inbox=inbox, contact=contact, channel="web", body="x" * 10_001)
    assert error.value.code == "body_too_long"
    assert not Conversation.objects.exists() and not ConversationEvent.objects.exists()


def test_agent_reply_sets_first_reply_assigns_and_defaults_to_the_customers_last_channel():
    email, sms = EmailInboxFactory(), SmsInboxFactory()
    agent = agent_user(email, sms)
    contact = services.contact_identify(
        claims=[Claim(Kind.EMAIL, "bo@example.com", True), Claim(Kind.PHONE, "+14155550111", True)]
    )
    conversation = conversation_with(email, contact)
    services.message_receive(inbox=sms, contact=contact, channel="sms", body="texting now")
    # when the agent replies without choosing a channel
    reply = services.message_send(conversation=conversation, by=agent, body="On it!").message
    # then it goes out by SMS, the first reply time is set and the agent holds the case
    conversation.refresh_from_db()
    assert reply.channel == "sms" and reply.seq == 3 and reply.direction == "out"
    assert conversation.first_reply_at is not None and conversation.assignee == agent


def test_notes_do_not_count_as_a_first_reply():
    inbox = InboxFactory()
    agent = agent_user(inbox)
    conversation = conversation_with(inbox)
    services.message_send(conversation=conversation, by=agent, body="internal", is_note=True)
    conversation.refresh_from_db()
    assert conversation.first_reply_at is None and conversation.assignee is None


def test_replying_to_a_resolved_conversation_is_a_conflict():
    inbox = InboxFactory()
    agent = agent_user(inbox)
    conversation = conversation_with(inbox)
    services.conversation_resolve(conversation=conversation, by=agent)
    with pytest.raises(Conflict):
        services.message_send(conversation=conversation, by=agent, body="late")


def test_assign_transfer_resolve_reopen_snooze_write_their_events():
    inbox, team = InboxFactory(), TeamFactory()
    alice, bob = agent_user(inbox), agent_user(inbox)
    conversation = conversation_with(inbox)
    services.conversation_assign(conversation=conversation, assignee=alice, by=alice)
    services.conversation_transfer(conversation=conversation, by=alice, to_agent=bob, to_team=team, note="VIP")
    services.conversation_snooze(conversation=conversation, by=bob, until=timezone.now() + timedelta(hours=1))
    services.conversation_resolve(conversation=conversation, by=bob)
    services.conversation_reopen(conversation=conversation, by=bob)
    conversation.refresh_from_db()
    assert conversation.assignee == bob and conversation.team == team and conversation.status == "open"
    assert conversation.reopen_count == 1 and conversation.first_resolved_at is not None
    assert [k for k in kinds(conversation) if k != "message_created"] == [
        "opened",
        "assigned",
        "transferred",
        "snoozed",
        "resolved",
        "reopened",
    ]
    note = conversation.messages.get(is_note=True)
    assert note.body == "VIP" and note.sender_user == alice


def test_an_agent_outside_the_inbox_cannot_be_assigned():
    inbox, other = InboxFactory(), InboxFactory()
    outsider = agent_user(other)
    conversation = conversation_with(inbox)
    with pytest.raises(InvalidInput):
        services.conversation_assign(conversation=conversation, assignee=outsider)


def test_reopen_is_refused_while_the_contact_has_another_open_conversation():
    inbox = InboxFactory()
    old = conversation_with(inbox)
    services.conversation_resolve(conversation=old)
    conversation_with(inbox, old.contact)
    with pytest.raises(Conflict):
        services.conversation_reopen(conversation=old)


def test_unverified_claims_never_attach_to_an_existing_contact():
    # given someone who emailed in (verified email)
    owner = contact_with(Kind.EMAIL, "real@example.com")
    # when a visitor types the same email into a pre-chat form (unverified)
    visitor = services.contact_identify(
        claims=[Claim(Kind.VISITOR, "v-123", False), Claim(Kind.EMAIL, "real@example.com", False)], name="Mallory"
    )
    # then the visitor is a separate person and the email stays with its owner
    assert visitor.pk != owner.pk
    assert ContactIdentity.objects.get(kind="email", value="real@example.com").contact_id == owner.pk


def test_verified_claims_link_and_merge_contacts():
    # given a contact known by a verified phone and another by a verified email
    by_phone = contact_with(Kind.PHONE, "+14155550123")
    by_email = contact_with(Kind.EMAIL, "joe@example.com")
    # when the website signs a session that vouches for both
    joined = services.contact_identify(
        claims=[Claim(Kind.PHONE, "+1 415 555 0123", True), Claim(Kind.EMAIL, "JOE@example.com", True)]
    )
    # then they are one person, and the merge is on record
    assert joined.pk == by_phone.pk
    by_email.refresh_from_db()
    assert by_email.merged_into_id == by_phone.pk
    assert AuditLog.objects.filter(action="contact_merge", data__source_id=by_email.pk).exists()


def test_a_verified_claim_takes_over_an_identity_that_was_only_typed():
    typed = services.contact_identify(
        claims=[Claim(Kind.VISITOR, "v-1", False), Claim(Kind.EMAIL, "x@example.com", False)]
    )
    owner = services.contact_identify(claims=[Claim(Kind.EMAIL, "x@example.com", True)])
    identity = ContactIdentity.objects.get(kind="email", value="x@example.com")
    assert owner.pk != typed.pk and identity.contact_id == owner.pk and identity.verified


def test_merge_and_unmerge_move_identities_and_conversations_back_and_forth():
    inbox = InboxFactory()
    agent = agent_user(inbox)
    source, target = contact_with(Kind.EMAIL, "a@example.com"), contact_with(Kind.PHONE, "+14155550999")
    conversation = conversation_with(inbox, source)
    services.conversation_resolve(conversation=conversation, by=agent)
    services.contact_merge(source=source, target=target, by=agent)
    conversation.refresh_from_db()
    assert conversation.contact_id == target.pk
    assert set(target.identities.values_list("kind", flat=True)) == {"email", "phone"}
    services.contact_unmerge(contact=source, by=agent)
    conversation.refresh_from_db()
    source.refresh_from_db()
    assert conversation.contact_id == source.pk and source.merged_into_id is None
    assert list(source.identities.values_list("kind", flat=True)) == ["email"]
    assert list(AuditLog.objects.order_by("id").values_list("action", flat=True)) == [
        "contact_merge",
        "contact_unmerge",
    ]


def test_merge_refuses_two_open_conversations():
    inbox = InboxFactory()
    a, b = conversation_with(inbox), conversation_with(inbox)
    with pytest.raises(Conflict):
        services.contact_merge(source=a.contact, target=b.contact, by=None)


def test_an_at_risk_contact_opens_at_high_priority_with_the_retention_team():
    inbox, retention = InboxFactory(), TeamFactory(is_retention=True)
    contact = ContactFactory(at_risk_until=timezone.now() + timedelta(days=30))
    conversation = conversation_with(inbox, contact)
    assert conversation.priority == "high" and conversation.team == retention


def test_phone_numbers_are_normalised_and_nonsense_refused():
    assert services.normalise_phone("+1 (415) 555-0100") == "+14155550100"
    with pytest.raises(InvalidInput):
        services.normalise_phone("not a number")


@pytest.mark.django_db
def test_the_console_s_agent_list_takes_the_same_queries_for_two_agents_or_ten():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from chat import selectors

    def queries_for(agents: int) -> int:
        inboxes = [InboxFactory(), InboxFactory()]
        for _ in range(agents):
            AgentFactory(inboxes=inboxes)
        with CaptureQueriesContext(connection) as captured:
            listed = selectors.agents_of_inboxes([inbox.pk for inbox in inboxes])
        assert all(agent_inboxes == sorted(i.pk for i in inboxes) for _, agent_inboxes in listed)
        return len(captured)

    assert queries_for(2) == queries_for(10)
