"""What the console reads and does beyond messages (issue #14): timeline events, unsnooze, reply
channels, transfer candidates, subjects, over-long bodies. REST through the real API stack."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from chat import services
from chat.connectors.email import email_receive
from chat.connectors.sms import sms_receive
from chat.models import AgentProfile, ConversationEvent, Message, VisitorToken
from chat.services import Claim
from chat.widget import widget_session_start
from tests.chat.channel_helpers import make_email
from tests.factories import (
    AgentFactory,
    ContactFactory,
    EmailInboxFactory,
    InboxFactory,
    SmsInboxFactory,
    SupervisorFactory,
    TeamFactory,
    UserFactory,
    agent_user,
    conversation_with,
)

pytestmark = pytest.mark.django_db

LIMIT = settings.MESSAGE_BODY_MAX_CHARS


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]


# --- timeline events ----------------------------------------------------------------------------


def test_events_lists_what_happened_with_names_and_places_among_the_messages(as_user):
    # given a conversation that was assigned, transferred, re-prioritised, snoozed, woken, resolved, reopened
    inbox, team = InboxFactory(), TeamFactory(name="Billing")
    alice = AgentFactory(display_name="Alice", inboxes=[inbox], availability="offline").user
    bob = AgentFactory(display_name="Bob", inboxes=[inbox], availability="offline").user
    contact = ContactFactory()
    conversation = conversation_with(inbox, contact, body="first")  # seq 1
    services.conversation_assign(conversation=conversation, assignee=alice, by=alice)
    services.message_send(conversation=conversation, by=alice, body="reply")  # seq 2
    services.conversation_transfer(conversation=conversation, by=alice, to_agent=bob, to_team=team, note="over to you")
    services.conversation_set_priority(conversation=conversation, by=bob, priority="high")
    services.conversation_snooze(conversation=conversation, by=bob, until=timezone.now() + timedelta(hours=1))
    services.message_receive(inbox=inbox, contact=contact, channel="web", body="still there?")  # seq 4: wakes it
    services.conversation_resolve(conversation=conversation, by=bob)
    services.conversation_reopen(conversation=conversation, by=alice)

    # when the console reads its events
    response = as_user(alice).get(f"/api/v1/conversations/{conversation.pk}/events/")

    # then it gets the timeline kinds only (no message_created, opened…), in order, with names and places
    assert response.status_code == 200
    events = response.json()
    assert [(e["kind"], e["after_seq"], e["actor"] and e["actor"]["name"]) for e in events] == [
        ("assigned", 1, "Alice"),
        ("transferred", 2, "Alice"),  # before the note (seq 3) that came with it
        ("priority_changed", 3, "Bob"),
        ("snoozed", 3, "Bob"),
        ("woke", 4, None),
        ("resolved", 4, "Bob"),
        ("reopened", 4, "Alice"),
    ]
    assert events[0]["data"] == {"assignee": {"id": alice.pk, "name": "Alice"}, "reason": ""}
    assert events[1]["data"] == {
        "from_agent": {"id": alice.pk, "name": "Alice"},
        "from_team": None,
        "to_agent": {"id": bob.pk, "name": "Bob"},
        "to_team": {"id": team.pk, "name": "Billing"},
    }
    assert events[2]["data"] == {"from": "normal", "to": "high"}
    assert events[4]["data"] == {"reason": "message", "was": "snoozed"}
    assert set(events[3]) == {"id", "conversation_id", "kind", "actor", "data", "after_seq", "created_at"}


def test_events_cost_the_same_queries_however_many_there_are(as_user, django_assert_max_num_queries):
    inbox, team = InboxFactory(), TeamFactory()
    alice, bob = agent_user(inbox), agent_user(inbox)
    conversation = conversation_with(inbox)
    client = as_user(alice)
    services.conversation_assign(conversation=conversation, assignee=alice, by=alice)
    with django_assert_max_num_queries(8):
        few = client.get(f"/api/v1/conversations/{conversation.pk}/events/").json()
    for number in range(30):
        agent = (alice, bob)[number % 2]
        services.conversation_transfer(conversation=conversation, by=alice, to_agent=agent, to_team=team)
    with django_assert_max_num_queries(8):
        many = client.get(f"/api/v1/conversations/{conversation.pk}/events/").json()
    assert len(many) - len(few) == 30


def test_events_of_a_foreign_conversation_are_404_and_are_never_in_the_customers_api(as_user, client):
    mine, foreign = InboxFactory(), InboxFactory()
    alice = agent_user(mine)
    conversation = conversation_with(foreign)
    services.conversation_resolve(conversation=conversation)
    response = as_user(alice).get(f"/api/v1/conversations/{conversation.pk}/events/")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    anonymous = client.get(f"/api/v1/conversations/{conversation.pk}/events/")
    assert anonymous.status_code in (401, 403)


def test_the_new_endpoints_are_in_the_openapi_schema(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    assert "get" in schema["paths"]["/api/v1/conversations/{id}/events/"]
    assert "post" in schema["paths"]["/api/v1/conversations/{id}/unsnooze/"]
    assert "reply_channels" in schema["components"]["schemas"]["ConversationDetail"]["properties"]
    assert {"subject", "shortened"} <= set(schema["components"]["schemas"]["Message"]["properties"])
    parameters = schema["paths"]["/api/v1/agents/"]["get"]["parameters"]
    assert "inbox" in [p["name"] for p in parameters]


# --- snooze and wake ----------------------------------------------------------------------------


def test_unsnooze_opens_a_snoozed_conversation_and_refuses_one_that_is_not(as_user):
    inbox = InboxFactory()
    alice = agent_user(inbox)
    conversation = conversation_with(inbox)
    client = as_user(alice)
    base = f"/api/v1/conversations/{conversation.pk}"
    not_yet = client.post(f"{base}/unsnooze/")
    assert not_yet.status_code == 409 and error_of(not_yet)["code"] == "not_snoozed"
    client.post(f"{base}/snooze/", {"until": "2099-01-01T00:00:00Z"}, format="json")

    woken = client.post(f"{base}/unsnooze/")

    assert woken.status_code == 200
    assert (woken.json()["status"], woken.json()["snoozed_until"]) == ("open", None)
    event = conversation.events.get(kind="woke")
    assert (event.actor, event.data) == (alice, {"reason": "agent"})
    again = client.post(f"{base}/unsnooze/")
    assert again.status_code == 409 and conversation.events.filter(kind="woke").count() == 1


def test_the_timer_wake_and_a_customer_message_write_their_woke_events():
    inbox = InboxFactory()
    contact = ContactFactory()
    conversation = conversation_with(inbox, contact)
    # the time-based wake (the scheduler calls it when snoozed_until has passed); twice changes nothing
    services.conversation_snooze(conversation=conversation, until=timezone.now() + timedelta(hours=1))
    conversation.__class__.objects.filter(pk=conversation.pk).update(snoozed_until=timezone.now())
    services.conversation_wake(conversation_id=conversation.pk)
    services.conversation_wake(conversation_id=conversation.pk)
    conversation.refresh_from_db()
    assert conversation.status == "open"
    # a customer writing to a snoozed or a pending conversation opens it again, saying which it was
    services.conversation_snooze(conversation=conversation, until=timezone.now() + timedelta(hours=1))
    services.message_receive(inbox=inbox, contact=contact, channel="web", body="hello?")
    conversation.__class__.objects.filter(pk=conversation.pk).update(status="pending")
    services.message_receive(inbox=inbox, contact=contact, channel="web", body="anyone?")
    woke = conversation.events.filter(kind="woke").order_by("id")
    assert [(e.actor, e.data) for e in woke] == [
        (None, {"reason": "timer"}),
        (None, {"reason": "message", "was": "snoozed"}),
        (None, {"reason": "message", "was": "pending"}),
    ]


def test_a_woke_event_is_processed_by_the_metrics_pipeline_and_changes_no_figure():
    from feedback import pipeline
    from feedback.models import ConversationFacts, MetricRollup, ProcessedEvent

    inbox = InboxFactory()
    alice = agent_user(inbox)
    conversation = conversation_with(inbox)
    services.message_send(conversation=conversation, by=alice, body="hi")
    pipeline.process_pending()
    facts = ConversationFacts.objects.filter(conversation=conversation)
    facts_before = facts.values().get()
    facts_before.pop("updated_at")  # refreshed: the row was recomputed
    rollups_before = sorted(MetricRollup.objects.values_list("metric", "count", "total"))
    # when the conversation is snoozed and woken
    services.conversation_snooze(conversation=conversation, by=alice, until=timezone.now() + timedelta(hours=1))
    services.conversation_unsnooze(conversation=conversation, by=alice)
    # then the pipeline takes both events (none is left pending) and no figure moves
    assert pipeline.process_pending() == 2
    woke = ConversationEvent.objects.get(kind="woke")
    assert ProcessedEvent.objects.filter(event_id=woke.pk).exists()
    facts_after = facts.values().get()
    facts_after.pop("updated_at")
    assert facts_after == facts_before
    assert sorted(MetricRollup.objects.values_list("metric", "count", "total")) == rollups_before


# --- reply channels --------------------------------------------------------------------------------


def test_the_detail_says_which_channels_reach_the_customer_and_the_server_refuses_the_others(as_user):
    web, email, sms = InboxFactory(), EmailInboxFactory(), SmsInboxFactory()
    alice = agent_user(web, email, sms)
    client = as_user(alice)
    # a web visitor (widget session) who typed an email address but no phone
    session = widget_session_start(inbox=web, name="Vic", email="vic@example.com")
    conversation = conversation_with(web, session.contact)
    base = f"/api/v1/conversations/{conversation.pk}"

    channels = {c["channel"]: c for c in client.get(f"{base}/").json()["reply_channels"]}

    assert {k: (v["available"], v["reason"]) for k, v in channels.items()} == {
        "web": (True, ""),
        "email": (True, ""),
        "sms": (False, "no_phone_number"),
    }
    assert channels["sms"]["detail"] == "no phone number"
    refused = client.post(f"{base}/messages/", {"body": "by text", "channel": "sms"}, format="json")
    assert refused.status_code == 400 and error_of(refused)["code"] == "channel_unavailable"
    assert error_of(refused)["fields"] == {"channel": ["no phone number"]}
    assert client.post(f"{base}/messages/", {"body": "by mail", "channel": "email"}, format="json").status_code == 201
    assert client.post(f"{base}/messages/", {"body": "a note", "is_note": True}, format="json").status_code == 201
    # when the widget token is revoked (erasure) and the customer never wrote on the web here
    VisitorToken.objects.update(revoked_at=timezone.now())
    other = services.message_receive(
        inbox=email, contact=ContactFactory(email="eve@example.com"), channel="email", body="mail"
    ).message.conversation
    channels = {c["channel"]: c for c in client.get(f"/api/v1/conversations/{other.pk}/").json()["reply_channels"]}
    assert channels["web"]["reason"] == "no_web_session"


def test_sms_is_unreachable_after_stop_and_without_an_sms_inbox(as_user):
    web = InboxFactory()
    alice = agent_user(web)
    client = as_user(alice)
    texter = services.contact_identify(claims=[Claim("phone", "+14155550100", True)])
    conversation = conversation_with(web, texter)
    detail = client.get(f"/api/v1/conversations/{conversation.pk}/").json()
    assert {c["channel"]: c["reason"] for c in detail["reply_channels"]}["sms"] == "no_sms_inbox"
    SmsInboxFactory()
    services.contact_set_sms_opt_out(contact=texter, opted_out=True)
    detail = client.get(f"/api/v1/conversations/{conversation.pk}/").json()
    assert {c["channel"]: c["reason"] for c in detail["reply_channels"]}["sms"] == "opted_out"


# --- transfer candidates ------------------------------------------------------------------------------


def test_agents_of_an_inbox_come_with_availability_and_load_in_a_constant_number_of_queries(
    as_user, django_assert_max_num_queries
):
    inbox, elsewhere = InboxFactory(), InboxFactory()
    alice = AgentFactory(display_name="Alice", inboxes=[inbox, elsewhere], capacity=4).user
    bob = AgentFactory(display_name="Bob", inboxes=[inbox], availability="busy").user
    AgentFactory(display_name="Olga Outside", inboxes=[elsewhere])
    AgentFactory(display_name="Gone", inboxes=[inbox], user=UserFactory(is_active=False))
    SupervisorFactory(display_name="Sue Supervisor")
    for _ in range(2):
        services.conversation_assign(conversation=conversation_with(inbox), assignee=bob)
    client = as_user(alice)
    with django_assert_max_num_queries(5):
        listed = client.get("/api/v1/agents/", {"inbox": inbox.pk}).json()["results"]
    assert {(a["display_name"], a["availability"], a["open_conversations"], a["capacity"]) for a in listed} == {
        ("Alice", "online", 0, 4),
        ("Bob", "busy", 2, 5),
    }
    for number in range(6):
        AgentFactory(display_name=f"Extra {number}", inboxes=[inbox])
    with django_assert_max_num_queries(5):
        assert len(client.get("/api/v1/agents/", {"inbox": inbox.public_id}).json()["results"]) == 8
    foreign = InboxFactory()
    assert client.get("/api/v1/agents/", {"inbox": foreign.pk}).status_code == 404


def test_a_supervisor_sees_supervisors_among_the_candidates(as_user):
    inbox = InboxFactory()
    sue = SupervisorFactory(display_name="Sue").user
    AgentFactory(display_name="Al", inboxes=[inbox])
    names = [a["display_name"] for a in as_user(sue).get("/api/v1/agents/", {"inbox": inbox.pk}).json()["results"]]
    assert names == ["Al", "Sue"]
    assert AgentProfile.objects.count() == 2


# --- subjects and over-long bodies ---------------------------------------------------------------------


def test_messages_carry_their_email_subject_and_how_much_was_cut(as_user):
    email = EmailInboxFactory(email_address="help@acme.test")
    alice = agent_user(email)
    long_text = "word " * (LIMIT // 5 + 300)
    for subject, text in (("Broken lamp", "It flickers."), ("Re: Broken lamp", long_text)):
        email_receive(raw=make_email(to="help@acme.test", subject=subject, text=text).as_bytes(), inbox=email)
    conversation = Message.objects.first().conversation
    messages = as_user(alice).get(f"/api/v1/conversations/{conversation.pk}/messages/").json()
    assert [m["subject"] for m in messages] == ["Broken lamp", "Re: Broken lamp"]
    assert messages[0]["shortened"] is None
    cut = messages[1]["shortened"]
    assert cut["limit"] == LIMIT and cut["over_by"] == cut["original_chars"] - LIMIT > 1000
    assert cut["attachment"] == "full-message.txt"
    assert len(messages[1]["body"]) == LIMIT
    assert as_user(alice).get(f"/api/v1/conversations/{conversation.pk}/").json()["subject"] == "Broken lamp"


def test_an_over_long_sms_is_stored_cut_with_the_note_of_how_much():
    inbox = SmsInboxFactory()
    params = {"MessageSid": "SM-long", "From": "+14155550199", "To": inbox.phone_number, "Body": "y" * (LIMIT + 7)}
    message = sms_receive(inbox=inbox, params=params).received.message
    assert len(message.body) == LIMIT
    assert message.metadata["shortened"] == {"original_chars": LIMIT + 7, "limit": LIMIT}


def test_an_over_long_reply_or_transfer_note_is_400_body_too_long_and_nothing_is_written(as_user):
    inbox, team = InboxFactory(), TeamFactory()
    alice = agent_user(inbox)
    conversation = conversation_with(inbox)
    client = as_user(alice)
    base = f"/api/v1/conversations/{conversation.pk}"
    exactly = client.post(f"{base}/messages/", {"body": "é" * LIMIT}, format="json")
    assert exactly.status_code == 201
    reply = client.post(f"{base}/messages/", {"body": "é" * (LIMIT + 1)}, format="json")
    assert reply.status_code == 400 and error_of(reply)["code"] == "body_too_long"
    assert "body" in error_of(reply)["fields"]
    note = client.post(f"{base}/transfer/", {"team": team.pk, "note": "n" * (LIMIT + 1)}, format="json")
    assert note.status_code == 400 and error_of(note)["code"] == "body_too_long"
    conversation.refresh_from_db()
    assert conversation.team_id != team.pk and conversation.messages.count() == 2
    assert not conversation.events.filter(kind="transferred").exists()


def test_the_widget_session_tells_the_widget_the_body_limit(client):
    inbox = InboxFactory(allowed_origins=["https://shop.example"])
    response = client.post(
        f"/api/v1/widget/{inbox.public_id}/session",
        {},
        content_type="application/json",
        HTTP_ORIGIN="https://shop.example",
    )
    assert response.status_code == 200 and response.json()["inbox"]["message_max_chars"] == LIMIT


def test_the_console_page_tells_the_composer_the_body_limit(client):
    inbox = InboxFactory()
    client.force_login(agent_user(inbox))
    page = client.get("/console/").content.decode()
    assert f'data-body-max-chars="{LIMIT}"' in page
    assert 'maxlength="10000"' not in page  # the browser would cut a paste without a word
