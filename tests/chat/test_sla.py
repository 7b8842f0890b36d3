"""Business hours, waiting on the customer and SLA clocks through the services and the REST API."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from chat import selectors, services, sla_services, timers
from chat.connectors.email import email_receive
from chat.models import Conversation, ConversationEvent, Message
from feedback.models import SurveyInvitation
from integrations import webhooks
from tests.chat.channel_helpers import make_email
from tests.chat.test_concurrency import race
from tests.factories import (
    ContactFactory,
    EmailInboxFactory,
    InboxFactory,
    SupervisorFactory,
    agent_user,
    conversation_with,
)

pytestmark = pytest.mark.django_db

Kind = ConversationEvent.Kind
ALL_WEEK = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def closed_now_hours(hours_left: int = 5) -> dict:
    """Open all week, but a holiday covers now until `hours_left` hours from now (UTC)."""
    now = timezone.now().astimezone(timezone.UTC if hasattr(timezone, "UTC") else None)
    start = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    end = (now + timedelta(hours=hours_left)).strftime("%Y-%m-%dT%H:%M")
    return {"time_zone": "UTC", "days": ALL_WEEK, "holidays": [{"start": start, "end": end}]}


def kinds(conversation) -> list[str]:
    return list(conversation.events.values_list("kind", flat=True))


# --- business hours ---------------------------------------------------------------------


def test_a_supervisor_sets_business_hours_and_bad_ones_are_400_by_field(as_user):
    # given an inbox and a supervisor
    inbox = InboxFactory()
    client = as_user(SupervisorFactory().user)
    url = f"/api/v1/inboxes/{inbox.pk}/hours/"
    # when valid hours are set
    week = {"time_zone": "Europe/Paris", "days": {"mon": [["09:00", "12:00"], ["13:00", "17:00"]]}}
    response = client.patch(url, {"business_hours": week, "pending_auto_resolve_days": 3}, format="json")
    # then they are stored
    assert response.status_code == 200, response.json()
    inbox.refresh_from_db()
    assert inbox.business_hours == week and inbox.pending_auto_resolve_days == 3
    # and overlapping, inverted, unknown time zone, bad days are refused with nothing written
    bad = [
        ({"time_zone": "Europe/Paris", "days": {"mon": [["09:00", "13:00"], ["12:00", "17:00"]]}}, "days.mon"),
        ({"time_zone": "Europe/Paris", "days": {"tue": [["17:00", "09:00"]]}}, "days.tue"),
        ({"time_zone": "Nowhere/Atlantis", "days": {"mon": [["09:00", "17:00"]]}}, "time_zone"),
    ]
    for hours, field in bad:
        response = client.patch(url, {"business_hours": hours}, format="json")
        assert response.status_code == 400
        assert f"business_hours.{field}" in response.json()["error"]["fields"]
    response = client.patch(url, {"pending_auto_resolve_days": 0}, format="json")
    assert response.status_code == 400 and "pending_auto_resolve_days" in response.json()["error"]["fields"]
    inbox.refresh_from_db()
    assert inbox.business_hours == week and inbox.pending_auto_resolve_days == 3


def test_an_agent_may_not_set_hours_and_a_foreign_inbox_is_404(as_user):
    mine, foreign = InboxFactory(), InboxFactory()
    client = as_user(agent_user(mine))
    assert client.patch(f"/api/v1/inboxes/{mine.pk}/hours/", {"business_hours": {}}, format="json").status_code == 403
    assert client.get(f"/api/v1/inboxes/{foreign.pk}/hours/").status_code == 404


def test_email_outside_hours_gets_one_auto_reply_that_is_not_a_first_response(committed):
    # given an email inbox closed now (a holiday until 5 hours from now)
    inbox = EmailInboxFactory(business_hours=closed_now_hours())
    contact = ContactFactory(email="ana@example.com")
    # when the customer writes twice
    with committed():
        conversation = conversation_with(inbox, contact, body="Hello?")
        services.message_receive(inbox=inbox, contact=contact, channel="email", body="Anyone?")
    # then one system message says when the team is back, and no first response is counted
    replies = Message.objects.filter(conversation=conversation, sender_kind=Message.SenderKind.SYSTEM)
    assert replies.count() == 1
    assert replies.get().metadata["auto_reply"] == "out_of_hours"
    assert "will be back on" in replies.get().body
    conversation.refresh_from_db()
    assert conversation.first_reply_at is None


def test_no_auto_reply_while_open_nor_on_web_chat(committed):
    open_inbox = EmailInboxFactory(business_hours={"time_zone": "UTC", "days": ALL_WEEK})
    web = InboxFactory(business_hours=closed_now_hours())
    with committed():
        by_email = conversation_with(open_inbox, ContactFactory(email="b@example.com"))
        by_web = conversation_with(web)
    assert not Message.objects.filter(conversation__in=[by_email, by_web], sender_kind="system").exists()


def test_widget_session_says_when_the_team_is_back(client):
    inbox = InboxFactory(business_hours=closed_now_hours(hours_left=3))
    response = client.post(
        f"/api/v1/widget/{inbox.public_id}/session",
        {},
        content_type="application/json",
        HTTP_ORIGIN="http://testserver",
    )
    assert response.status_code == 200, response.content
    shown = response.json()["inbox"]
    assert shown["closed_notice"].startswith("We are away right now. We will be back on")
    assert shown["back_at"]
    # and in the visitor's language
    response = client.post(
        f"/api/v1/widget/{inbox.public_id}/session",
        {"locale": "es"},
        content_type="application/json",
        HTTP_ORIGIN="http://testserver",
    )
    assert response.json()["inbox"]["closed_notice"] and "We are away" not in response.json()["inbox"]["closed_notice"]


# --- pending ---------------------------------------------------------------------------


def test_pending_waits_for_the_customer_and_their_message_opens_it(as_user, committed):
    inbox = InboxFactory()
    agent = agent_user(inbox)
    conversation = conversation_with(inbox)
    # when the agent sets it pending
    response = as_user(agent).post(f"/api/v1/conversations/{conversation.pk}/pending/")
    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    conversation.refresh_from_db()
    assert conversation.pending_resolve_at - timezone.now() > timedelta(days=6, hours=23)
    # then the customer's message opens it again
    services.message_receive(inbox=inbox, contact=conversation.contact, channel="web", body="Here it is")
    conversation.refresh_from_db()
    assert conversation.status == "open" and conversation.pending_resolve_at is None
    assert kinds(conversation)[-3:-1] == [Kind.PENDING, Kind.WOKE]
    assert conversation.events.get(kind=Kind.WOKE).data == {"reason": "message", "was": "pending"}


def test_pending_without_a_reply_is_resolved_by_the_system_and_surveyed_as_a_bot_resolution(committed):
    inbox = InboxFactory(pending_auto_resolve_days=2)
    agent = agent_user(inbox)
    with committed():
        conversation = conversation_with(inbox)
        services.message_send(conversation=conversation, by=agent, body="Could you send the receipt?")
        services.conversation_set_pending(conversation=conversation, by=agent)
    # when its days have passed and the timers run
    Conversation.objects.filter(pk=conversation.pk).update(pending_resolve_at=timezone.now() - timedelta(seconds=1))
    with committed():
        done = timers.run_due()
    # then the system resolved it, with its event, and the survey policy treats it as a bot resolution
    assert done["chat.pending"] == 1
    conversation.refresh_from_db()
    assert conversation.status == "resolved"
    resolved = conversation.events.get(kind=Kind.RESOLVED)
    assert resolved.actor is None and resolved.data["by_bot"] and resolved.data["reason"] == "pending_expired"
    invitation = SurveyInvitation.objects.get(conversation=conversation)
    assert invitation.status == "skipped" and invitation.skip_reason == "bot_resolved"
    # and a second run does nothing
    assert timers.run_due()["chat.pending"] == 0


# --- SLA policies and clocks -----------------------------------------------------------


def test_policy_targets_must_be_above_zero(as_user):
    inbox = InboxFactory()
    client = as_user(SupervisorFactory().user)
    url = f"/api/v1/inboxes/{inbox.pk}/sla-policies/"
    for body, field in [
        ({"priority": "high", "first_response_seconds": 0}, "first_response_seconds"),
        ({"priority": "high", "resolution_seconds": -5}, "resolution_seconds"),
        ({"priority": "high"}, "non_field_errors"),
        ({"priority": "asap", "first_response_seconds": 60}, "priority"),
    ]:
        response = client.post(url, body, format="json")
        assert response.status_code == 400, body
        assert field in response.json()["error"]["fields"], response.json()
    response = client.post(
        url, {"priority": "high", "first_response_seconds": 60, "business_hours": False}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == [
        {
            "priority": "high",
            "first_response_seconds": 60,
            "next_response_seconds": None,
            "resolution_seconds": None,
            "business_hours": False,
        }
    ]


def test_first_response_clock_warns_at_75_percent_then_breaches_and_webhooks_hear(committed):
    # given a calendar-time policy of 100 s for normal priority and a webhook subscriber
    inbox = InboxFactory()
    sla_services.sla_policy_set(
        inbox=inbox, priority="normal", first_response_seconds=100, resolution_seconds=3600, business_hours=False
    )
    # when the customer's message is 80 s old (the warning is due at 75 s)
    written = timezone.now() - timedelta(seconds=80)
    with committed():
        received = services.message_receive(
            inbox=inbox, contact=ContactFactory(), channel="web", body="Help", created_at=written
        )
    conversation = Conversation.objects.get(pk=received.message.conversation_id)
    # then a warning is recorded at once, with the due time
    warning = conversation.events.get(kind=Kind.SLA_WARNING)
    assert warning.data["target"] == "first_response"
    assert conversation.sla_due_at == written + timedelta(seconds=100)
    assert webhooks.event_types_of(warning) == ["sla.warning"]
    # when its due time passes and the timer runs
    Conversation.objects.filter(pk=conversation.pk).update(sla_check_at=timezone.now())
    state = dict(conversation.sla)
    state["clocks"]["first_response"]["due"] = (timezone.now() - timedelta(seconds=1)).isoformat()
    Conversation.objects.filter(pk=conversation.pk).update(sla=state)
    with committed():
        assert timers.run_due()["chat.sla"] == 1
    breach = conversation.events.get(kind=Kind.SLA_BREACHED)
    assert breach.data["target"] == "first_response"
    assert webhooks.event_types_of(breach) == ["sla.breached"]
    assert timers.run_due()["chat.sla"] == 0  # once
    conversation.refresh_from_db()
    assert conversation.sla["outcomes"] == [
        {**conversation.sla["outcomes"][0], "target": "first_response", "met": False}
    ]


def test_a_reply_in_time_is_met_and_the_next_response_clock_starts_with_the_next_message():
    inbox = InboxFactory()
    agent = agent_user(inbox)
    sla_services.sla_policy_set(
        inbox=inbox, priority="normal", first_response_seconds=600, next_response_seconds=300, business_hours=False
    )
    conversation = conversation_with(inbox)
    services.message_send(conversation=conversation, by=agent, body="Hi!")
    conversation.refresh_from_db()
    assert [o["met"] for o in conversation.sla["outcomes"]] == [True]
    assert conversation.sla_due_at is None
    # a note or a bot does not answer; the customer's next message starts the next-response clock
    services.message_receive(inbox=inbox, contact=conversation.contact, channel="web", body="And?")
    conversation.refresh_from_db()
    clocks = {row["target"]: row for row in selectors_sla(conversation)}
    assert set(clocks) == {"next_response"}
    assert clocks["next_response"]["due_at"] == conversation.sla_due_at.isoformat()


def selectors_sla(conversation):
    from chat.payloads import sla_clocks

    return sla_clocks(conversation)


def test_priority_change_snooze_and_wake_recompute_the_due_times():
    inbox = InboxFactory()
    agent = agent_user(inbox)
    sla_services.sla_policy_set(inbox=inbox, priority="normal", first_response_seconds=3600, business_hours=False)
    sla_services.sla_policy_set(inbox=inbox, priority="urgent", first_response_seconds=600, business_hours=False)
    conversation = conversation_with(inbox)
    conversation.refresh_from_db()
    normal_due = conversation.sla_due_at
    # raising the priority brings the due time closer
    services.conversation_set_priority(conversation=conversation, by=agent, priority="urgent")
    conversation.refresh_from_db()
    assert conversation.sla_due_at == normal_due - timedelta(seconds=3000)
    # snoozing stops the clock; waking restarts it with the time it stood still added
    services.conversation_snooze(conversation=conversation, by=agent, until=timezone.now() + timedelta(hours=1))
    conversation.refresh_from_db()
    assert conversation.sla_due_at is None and conversation.sla_check_at is None
    services.conversation_unsnooze(conversation=conversation, by=agent)
    conversation.refresh_from_db()
    assert conversation.sla_due_at >= normal_due - timedelta(seconds=3000)


def test_business_hours_policy_counts_only_open_time():
    # closed for the next 5 hours: a 60 s target is due 60 s after the opening
    inbox = InboxFactory(business_hours=closed_now_hours(hours_left=5))
    sla_services.sla_policy_set(inbox=inbox, priority="normal", first_response_seconds=60, business_hours=True)
    conversation = conversation_with(inbox)
    conversation.refresh_from_db()
    opening = sla_services.back_at(inbox, timezone.now())
    assert conversation.sla_due_at == opening + timedelta(seconds=60)


def test_list_sorts_by_due_soonest(as_user):
    inbox = InboxFactory()
    agent = agent_user(inbox)
    sla_services.sla_policy_set(inbox=inbox, priority="normal", first_response_seconds=3600, business_hours=False)
    sla_services.sla_policy_set(inbox=inbox, priority="urgent", first_response_seconds=60, business_hours=False)
    later = conversation_with(inbox)
    no_policy = conversation_with(inbox)
    services.conversation_set_priority(conversation=no_policy, priority="low")
    sooner = conversation_with(inbox)
    services.conversation_set_priority(conversation=sooner, priority="urgent")
    response = as_user(agent).get("/api/v1/conversations/?sort=due")
    assert response.status_code == 200
    assert [c["id"] for c in response.json()["results"]] == [sooner.pk, later.pk, no_policy.pk]
    assert response.json()["results"][0]["sla"][0]["target"] == "first_response"
    assert selectors.NO_DUE_TIME.year == 9999


@pytest.mark.django_db(transaction=True)
def test_replies_messages_the_timer_and_policy_changes_racing_keep_the_lock_order():
    # given a conversation under a policy whose targets are already past (the timer has work)
    inbox, contact = InboxFactory(), ContactFactory()
    sla_services.sla_policy_set(
        inbox=inbox, priority="normal", first_response_seconds=1, next_response_seconds=1, business_hours=False
    )
    conversation = services.message_receive(
        inbox=inbox, contact=contact, channel="web", body="start", created_at=timezone.now() - timedelta(seconds=5)
    ).message.conversation

    def write(i: int) -> None:
        for n in range(6):
            if i == 0:
                sla_services.sla_due()
            elif i == 1:
                sla_services.sla_policy_set(
                    inbox=inbox, priority="normal", first_response_seconds=1 + n, next_response_seconds=1,
                    business_hours=False,
                )  # fmt: skip
            elif i % 2:
                services.message_send(conversation=conversation, by=None, body=f"agent {i}-{n}")
            else:
                services.message_receive(inbox=inbox, contact=contact, channel="web", body=f"customer {i}-{n}")

    # when they all run at once, then nobody deadlocks and the sequence has no gap
    assert race(write, 6) == []
    seqs = list(conversation.messages.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 4 * 6 + 2))
    conversation.refresh_from_db()
    assert all(o["target"] in ("first_response", "next_response") for o in conversation.sla["outcomes"])


def test_the_admin_refuses_a_bad_schedule_by_field_and_saves_a_good_one_through_the_service(admin_client):
    inbox = InboxFactory(name="Desk")
    url = f"/admin/chat/inbox/{inbox.pk}/change/"
    form = {
        "name": "Desk",
        "channel": "web",
        "allowed_origins": "[]",
        "identity_secret": inbox.identity_secret,
        "greeting": inbox.greeting,
        "language": inbox.language,
        "provider_config": "{}",
        "webhook_secret": inbox.webhook_secret,
        "pending_auto_resolve_days": "5",
        "attachment_kinds": json.dumps(inbox.attachment_kinds),
        "attachment_max_bytes": str(inbox.attachment_max_bytes),
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    bad = '{"time_zone": "Europe/Paris", "days": {"mon": [["17:00", "09:00"]]}}'
    response = admin_client.post(url, {**form, "business_hours": bad})
    assert response.status_code == 200
    assert "days.mon" in response.content.decode()
    inbox.refresh_from_db()
    assert inbox.business_hours == {} and inbox.pending_auto_resolve_days == 7
    good = '{"time_zone": "Europe/Paris", "days": {"mon": [["09:00", "17:00"]]}}'
    response = admin_client.post(url, {**form, "business_hours": good})
    assert response.status_code == 302, response.content.decode()[:3000]
    inbox.refresh_from_db()
    assert inbox.business_hours["days"] == {"mon": [["09:00", "17:00"]]} and inbox.pending_auto_resolve_days == 5


def test_the_out_of_hours_email_is_marked_auto_replied_and_a_robots_mail_gets_none(committed, mailoutbox):
    # given an email inbox closed now
    inbox = EmailInboxFactory(business_hours=closed_now_hours(), email_address="desk@acme.test")
    # when a person writes, then the auto-reply leaves by email marked as automatic (RFC 3834)
    with committed():
        email_receive(raw=bytes(make_email(to="desk@acme.test")), inbox=inbox)
    assert len(mailoutbox) == 1
    assert mailoutbox[0].extra_headers["Auto-Submitted"] == "auto-replied"
    assert "will be back on" in mailoutbox[0].body
    # when another customer's autoresponder writes, it gets no auto-reply
    robot = make_email(sender="Out of office <ooo@example.org>", to="desk@acme.test")
    robot["Auto-Submitted"] = "auto-replied"
    with committed():
        email_receive(raw=bytes(robot), inbox=inbox)
    assert len(mailoutbox) == 1
