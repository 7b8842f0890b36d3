"""The console's finer points in Chromium (issue #14): following the timeline, live panel updates,
reply channels, conversation events, subjects, links, snoozing, transfer candidates, long bodies."""

import secrets
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from playwright.sync_api import expect

from chat import services
from chat.connectors.email import email_receive
from chat.models import AgentProfile, Conversation, InboxMembership, Message
from feedback.services import survey_answer
from tests.chat.channel_helpers import make_email
from tests.factories import (
    AgentFactory,
    ContactFactory,
    EmailInboxFactory,
    SmsInboxFactory,
    TeamFactory,
    UserFactory,
    contact_with,
    conversation_with,
)
from tests.trust.world import send_survey

from .conftest import log_in, server_side

pytestmark = pytest.mark.slow

AT_BOTTOM = """() => { const t = document.getElementById('timeline');
                        return t.scrollHeight - t.scrollTop - t.clientHeight < 2; }"""


def open_console(new_page, shop, conversation, **options):
    page = new_page(viewport={"width": 1400, "height": 850}, **options)
    log_in(page, shop)
    page.goto(f"{shop.url}/console/c/{conversation.pk}/")
    expect(page.locator("body")).to_have_attribute("data-live", "connected")
    return page


def wait_until_shown(page, text):
    expect(page.locator("#timeline > .msg .bubble", has_text=text)).to_have_count(1)


# --- 1. following the timeline -----------------------------------------------------------------


def test_the_timeline_follows_tall_messages_and_offers_a_jump_when_the_agent_reads_above(shop, new_page, screenshot):
    # given a conversation long enough to scroll, open and scrolled to its end
    contact = ContactFactory(name="Tara Tall")
    conversation = conversation_with(shop.web_inbox, contact, body="Message 0")
    for number in range(1, 25):
        services.message_receive(inbox=shop.web_inbox, contact=contact, channel="web", body=f"Message {number}")
    page = open_console(new_page, shop, conversation)
    wait_until_shown(page, "Message 24")
    page.wait_for_function(AT_BOTTOM)

    # when a message taller than the timeline arrives
    tall = "\n".join(f"line {n} of a very long story" for n in range(80))
    server_side(services.message_receive, inbox=shop.web_inbox, contact=contact, channel="web", body=tall)
    wait_until_shown(page, "line 79 of")
    # then the timeline stays at the bottom, and keeps following the next message
    page.wait_for_function(AT_BOTTOM)
    server_side(services.message_receive, inbox=shop.web_inbox, contact=contact, channel="web", body="After it")
    wait_until_shown(page, "After it")
    page.wait_for_function(AT_BOTTOM)
    expect(page.locator("#jump-new")).to_be_hidden()

    # when the agent scrolls up to read, and another message arrives
    page.evaluate("document.getElementById('timeline').scrollTop = 0")
    server_side(services.message_receive, inbox=shop.web_inbox, contact=contact, channel="web", body="While you read")
    wait_until_shown(page, "While you read")
    # then the reading position is kept and a "New messages" button appears
    jump = page.locator("#jump-new")
    expect(jump).to_be_visible()
    expect(jump).to_have_text("New messages ↓")
    assert page.evaluate("document.getElementById('timeline').scrollTop") == 0
    screenshot(page, "jump")
    # when they click it, the timeline goes to the newest message and the button goes away
    jump.click()
    page.wait_for_function(AT_BOTTOM)
    expect(jump).to_be_hidden()
    assert page.errors == []


# --- 2. satisfaction and delivery failures, live --------------------------------------------------


def test_a_survey_answer_and_a_delivery_failure_show_in_the_contact_panel_without_a_reload(shop, new_page, screenshot):
    # given a conversation whose survey was sent, and an email reply of the agent
    email = EmailInboxFactory(name="Support email")
    InboxMembership.objects.create(user=shop.agent_user, inbox=email)
    contact = contact_with("email", "sue@example.com", name="Sue Survey")
    conversation = conversation_with(email, contact, body="Where is my refund?")
    reply = services.message_send(conversation=conversation, by=shop.agent_user, body="It left today.").message
    token = secrets.token_urlsafe(24)
    send_survey(conversation, token)
    page = open_console(new_page, shop, conversation)
    panel = page.locator("#contact")
    expect(panel.locator(".panel-section", has_text="Satisfaction")).to_contain_text("no answer yet")

    # when the customer answers the survey
    server_side(survey_answer, token=token, channel="email", csat=2, comment="Took too long")
    # then the contact panel shows the score and the comment at once
    satisfaction = panel.locator(".panel-section", has_text="Satisfaction")
    expect(satisfaction).to_contain_text("CSAT 2/5")
    expect(satisfaction).to_contain_text("Took too long")
    # and the timeline's survey line is replaced by the answer (not doubled)
    expect(page.locator("#timeline > .survey-inline")).to_have_count(1)
    expect(page.locator("#timeline > .survey-inline")).to_contain_text("CSAT 2/5")

    # when the mail server bounces the agent's reply
    reason = "550 5.1.1 <sue@example.com>: mailbox unavailable"
    server_side(services.message_set_delivery, message_id=reply.pk, status="failed", error=reason)
    # then the timeline and the contact panel say it was not delivered, and why
    failed = page.locator("#timeline > .msg.failed")
    expect(failed.locator(".delivery-error")).to_have_text(f"Not delivered: {reason}")
    problems = panel.locator(".panel-section", has_text="Delivery problems")
    expect(problems).to_contain_text("mailbox unavailable")
    expect(problems).to_contain_text("Email")
    screenshot(page, "live-panel")
    assert page.errors == []


# --- 3. reply channels --------------------------------------------------------------------------


def test_reply_via_offers_only_the_channels_the_contact_can_be_reached_on(shop, new_page, screenshot):
    # given email and SMS inboxes, a web visitor with no address, and a texter who replied STOP
    email = EmailInboxFactory(name="Support email")
    sms = SmsInboxFactory(name="Support SMS")
    for inbox in (email, sms):
        InboxMembership.objects.create(user=shop.agent_user, inbox=inbox)
    anonymous = conversation_with(shop.web_inbox, ContactFactory(name="No Address"), body="Hi from the web")
    texter = services.contact_identify(
        claims=[services.Claim("phone", "+14155550188", True), services.Claim("email", "texter@example.com", True)],
        name="Stopped Texter",
    )
    texted = conversation_with(sms, texter, body="Where is my parcel?")
    services.contact_set_sms_opt_out(contact=texter, opted_out=True)

    # when the agent opens the web visitor's conversation
    page = open_console(new_page, shop, anonymous)
    options = page.locator("#reply-channel option")
    # then only the web chat can be chosen; email and SMS say why not
    expect(page.locator("#reply-channel")).to_have_value("web")
    expect(page.locator("#reply-channel option:not([disabled])")).to_have_text(["Web chat"])
    expect(options.filter(has_text="Email")).to_have_text("Email — no email address")
    expect(options.filter(has_text="SMS")).to_have_text("SMS — no phone number")

    # when they open the texter's conversation (opted out of SMS, reachable by email)
    page.goto(f"{shop.url}/console/c/{texted.pk}/")
    expect(page.locator("#convo-title")).to_have_text("Stopped Texter")
    # then SMS is not offered, email is, and the reply defaults to email
    expect(page.locator("#reply-channel option:not([disabled])")).to_have_text(["Email"])
    expect(options.filter(has_text="SMS")).to_have_text("SMS — opted out (replied STOP)")
    expect(page.locator("#reply-channel")).to_have_value("email")
    screenshot(page, "channels")
    assert page.errors == []


# --- 4. conversation events in the timeline ------------------------------------------------------


def test_assign_transfer_snooze_wake_resolve_reopen_and_priority_show_as_timeline_lines(shop, new_page, screenshot):
    # given an unassigned conversation (it came while nobody was online) and a second agent in a team
    AgentProfile.objects.filter(user=shop.agent_user).update(availability="offline")
    contact = ContactFactory(name="Paul")
    conversation = conversation_with(shop.web_inbox, contact, body="Invoice wrong")
    AgentProfile.objects.filter(user=shop.agent_user).update(availability="online")
    team = TeamFactory(name="Billing")
    bob = AgentFactory(user=UserFactory(username="bob"), display_name="Bob Agent", inboxes=[shop.web_inbox]).user
    page = open_console(new_page, shop, conversation)
    lines = page.locator("#timeline > .event-line")

    # when the agent assigns it to themself and transfers it to Bob in Billing
    page.click("#act-assign-me")
    expect(lines.last).to_contain_text("Assigned to Alice Agent")
    page.click("#act-transfer")
    page.select_option("#transfer-agent", str(bob.pk))
    page.select_option("#transfer-team", str(team.pk))
    page.locator("#transfer-form button[type=submit]").click()
    expect(lines.last).to_contain_text("Transferred to Bob Agent · Billing by Alice Agent")
    # and, elsewhere, the priority changes, the conversation is snoozed and the customer wakes it
    server_side(services.conversation_set_priority, conversation=conversation, by=bob, priority="urgent")
    expect(lines.last).to_contain_text("Priority normal → urgent by Bob Agent")
    until = datetime.now(ZoneInfo("UTC")) + timedelta(hours=2)
    server_side(services.conversation_snooze, conversation=conversation, by=bob, until=until)
    expect(lines.last).to_contain_text("Snoozed until")
    server_side(services.message_receive, inbox=shop.web_inbox, contact=contact, channel="web", body="Hello again?")
    wait_until_shown(page, "Hello again?")
    expect(lines.last).to_contain_text("Woke up: the customer wrote")
    # and the agent resolves and reopens it
    page.click("#act-resolve")
    expect(lines.last).to_contain_text("Resolved by Alice Agent")
    page.click("#act-reopen")
    expect(lines.last).to_contain_text("Reopened by Alice Agent")
    live = _timeline_texts(page)
    screenshot(page, "events-live")

    # then after a reload the same lines are in the same places among the messages
    page.reload()
    expect(page.locator("#timeline > .event-line")).to_have_count(len([t for t in live if t.startswith("event:")]))
    assert _timeline_texts(page) == live
    assert live[0] == "msg:Invoice wrong"
    expected = [
        "Assigned to Alice Agent",
        "Transferred to Bob Agent · Billing by Alice Agent",
        "Priority normal → urgent by Bob Agent",
        "Snoozed until ",
        "Woke up: the customer wrote",
        "Resolved by Alice Agent",
        "Reopened by Alice Agent",
    ]
    events = [t.removeprefix("event:") for t in live if t.startswith("event:")]
    assert len(events) == len(expected) and all(e.startswith(x) for e, x in zip(events, expected, strict=True)), events
    assert events[3].endswith("by Bob Agent")
    assert live.index("msg:Hello again?") == live.index("event:Woke up: the customer wrote") - 1
    assert page.errors == []


def _timeline_texts(page) -> list[str]:
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('#timeline > .msg, #timeline > .event-line'), (node) =>
            node.classList.contains('msg') ? 'msg:' + node.querySelector('.bubble').textContent
                                           : 'event:' + node.querySelector('.event-text').textContent)"""
    )


# --- 5. subjects --------------------------------------------------------------------------------


def test_the_conversation_subject_is_in_the_header_and_a_different_email_subject_on_its_message(shop, new_page):
    # given three emails of one customer: a first subject, a different one, and a reply to the first
    email = EmailInboxFactory(name="Support email", email_address="help@acme.test")
    InboxMembership.objects.create(user=shop.agent_user, inbox=email)
    for subject, text in (
        ("Order #1042 is late", "Where is it?"),
        ("Invoice question", "Also, my invoice is wrong."),
        ("RE: Order #1042 is late", "Any news?"),
    ):
        email_receive(raw=make_email(to=email.email_address, subject=subject, text=text).as_bytes(), inbox=email)
    conversation = Conversation.objects.get()

    # when the agent opens the conversation
    page = open_console(new_page, shop, conversation)

    # then the header shows the subject, and only the message with another subject shows its own
    expect(page.locator("#convo-subject")).to_have_text("Order #1042 is late")
    messages = page.locator("#timeline > .msg")
    expect(messages).to_have_count(3)
    expect(messages.nth(0).locator(".msg-subject")).to_have_count(0)
    expect(messages.nth(1).locator(".msg-subject")).to_have_text("Subject: Invoice question")
    expect(messages.nth(2).locator(".msg-subject")).to_have_count(0)
    assert page.errors == []


# --- 6. links -----------------------------------------------------------------------------------


def test_links_and_email_addresses_in_messages_are_clickable_and_nothing_else_is(shop, new_page, screenshot):
    # given a customer message with a web link, an email address and a javascript: "link"
    body = "See https://shop.example/orders/42?x=1&y=2. Or write to help@shop.example, not javascript:alert(1)"
    conversation = conversation_with(shop.web_inbox, ContactFactory(name="Lina Links"), body=body)

    # when the agent opens it
    page = open_console(new_page, shop, conversation)

    # then the link and the address are links that open safely in a new tab; the text reads the same
    bubble = page.locator("#timeline > .msg .bubble")
    expect(bubble).to_have_text(body)
    links = bubble.locator("a")
    expect(links).to_have_count(2)
    expect(links.nth(0)).to_have_attribute("href", "https://shop.example/orders/42?x=1&y=2")
    expect(links.nth(0)).to_have_text("https://shop.example/orders/42?x=1&y=2")
    expect(links.nth(1)).to_have_attribute("href", "mailto:help@shop.example")
    for index in range(2):
        expect(links.nth(index)).to_have_attribute("rel", "noopener noreferrer nofollow")
        expect(links.nth(index)).to_have_attribute("target", "_blank")
    screenshot(page, "links")
    assert page.errors == []


LINKIFY_CASES = [
    # (text, [(link text, href)])
    ("no links here", []),
    ("https://a.example", [("https://a.example", "https://a.example/")]),
    ("(see http://a.example/x_(y))", [("http://a.example/x_(y)", "http://a.example/x_(y)")]),
    ("end of sentence https://a.example/p.", [("https://a.example/p", "https://a.example/p")]),
    ("quoted 'https://a.example/q', ok", [("https://a.example/q", "https://a.example/q")]),
    ("mail ana.lopez+x@mail.example.com!", [("ana.lopez+x@mail.example.com", "mailto:ana.lopez+x@mail.example.com")]),
    ("javascript:alert(1) JAVASCRIPT://x.example/%0aalert(1)", []),
    ("data:text/html,<script>alert(1)</script>", []),
    ("ftp://files.example/x vbscript:msgbox", []),
    ('https://a.example/"><img src=x onerror=alert(1)>', [("https://a.example/", "https://a.example/")]),
    ("https://paypal.example@evil.example/login", []),
    ("https://", []),
    ("https://a.example/search?q=1@2.example", [("https://a.example/search?q=1@2.example", None)]),
    ("two: https://a.example and https://b.example", [("https://a.example", None), ("https://b.example", None)]),
]


def test_the_linkify_module_builds_only_safe_links(shop, new_page):
    # given the shared module the console and the widget import
    page = new_page()
    page.goto(f"{shop.url}/demo/")
    # when it linkifies each sample text
    results = page.evaluate(
        """async (cases) => {
            const { linkify } = await import('/static/chat/linkify.js');
            return cases.map(([text]) => {
                const box = document.createElement('div');
                box.append(linkify(text));
                return { text: box.textContent, html: box.innerHTML,
                         links: Array.from(box.querySelectorAll('a'), (a) => [a.textContent, a.getAttribute('href'),
                                                                              a.rel, a.target]),
                         elements: box.querySelectorAll('*').length };
            });
        }""",
        LINKIFY_CASES,
    )
    # then the text is unchanged, and only http(s) and mailto links with the safe attributes are made
    for (text, expected), result in zip(LINKIFY_CASES, results, strict=True):
        assert result["text"] == text, text
        assert result["elements"] == len(expected), (text, result["html"])
        assert [link[0] for link in result["links"]] == [link[0] for link in expected], text
        for (_, href), (_, got, rel, target) in zip(expected, result["links"], strict=True):
            assert got.startswith(("http://", "https://", "mailto:")), (text, got)
            assert href is None or got == href, (text, got)
            assert (rel, target) == ("noopener noreferrer nofollow", "_blank")


# --- 7. snooze in one click, unsnooze -----------------------------------------------------------


def test_snooze_presets_snooze_in_one_click_and_unsnooze_opens_again(shop, new_page, screenshot):
    # given an open conversation, and an agent in Paris
    conversation = conversation_with(shop.web_inbox, ContactFactory(name="Sam Snooze"), body="Call me tomorrow")
    page = open_console(new_page, shop, conversation, timezone_id="Europe/Paris")
    paris = ZoneInfo("Europe/Paris")

    # when the agent picks "Tomorrow 9:00" (one click)
    page.click("#act-snooze")
    screenshot(page, "snooze-dialog")
    page.click("#snooze-dialog [data-snooze=tomorrow]")
    # then the conversation is snoozed until tomorrow 9:00 in their time zone
    expect(page.locator("#snooze-dialog")).to_be_hidden()
    expect(page.locator("#convo-badges")).to_contain_text("snoozed until")
    conversation.refresh_from_db()
    tomorrow = (datetime.now(paris) + timedelta(days=1)).date()
    assert conversation.status == "snoozed"
    assert conversation.snoozed_until.astimezone(paris).replace(tzinfo=None) == datetime(
        tomorrow.year, tomorrow.month, tomorrow.day, 9, 0
    )
    expect(page.locator("#act-snooze")).to_be_hidden()

    # when they click Unsnooze
    page.click("#act-unsnooze")
    # then it is open again, and the timeline says who woke it
    expect(page.locator("#convo-badges")).to_contain_text("open")
    expect(page.locator("#act-unsnooze")).to_be_hidden()
    expect(page.locator("#timeline > .event-line").last).to_contain_text("Unsnoozed by Alice Agent")
    conversation.refresh_from_db()
    assert (conversation.status, conversation.snoozed_until) == ("open", None)
    assert conversation.events.filter(kind="woke", data={"reason": "agent"}).count() == 1

    # when they snooze "next week" then "in 1 hour", each in one click
    page.click("#act-snooze")
    page.click("#snooze-dialog [data-snooze=next-week]")
    expect(page.locator("#act-unsnooze")).to_be_visible()
    conversation.refresh_from_db()
    local = conversation.snoozed_until.astimezone(paris)
    assert (local.weekday(), local.hour, local.minute) == (0, 9, 0)
    assert 0 < (local.date() - datetime.now(paris).date()).days <= 7
    page.click("#act-unsnooze")
    page.click("#act-snooze")
    page.click("#snooze-dialog [data-snooze=hour]")
    expect(page.locator("#act-unsnooze")).to_be_visible()
    conversation.refresh_from_db()
    assert timedelta(minutes=55) < conversation.snoozed_until - datetime.now(ZoneInfo("UTC")) <= timedelta(hours=1)

    # when they pick their own time
    page.click("#act-unsnooze")
    page.click("#act-snooze")
    page.fill("#snooze-until", "2031-05-04T16:30")
    page.locator("#snooze-form button[type=submit]").click()
    expect(page.locator("#act-unsnooze")).to_be_visible()
    conversation.refresh_from_db()
    assert conversation.snoozed_until.astimezone(paris).replace(tzinfo=None) == datetime(2031, 5, 4, 16, 30)
    assert page.errors == []


# --- 8. transfer candidates -----------------------------------------------------------------------


def test_the_transfer_dialog_shows_each_agents_availability_and_load(shop, new_page, screenshot):
    # given Bob (online, one open conversation of five) and Carol (offline, capacity three)
    bob = AgentFactory(user=UserFactory(username="bob"), display_name="Bob Agent", inboxes=[shop.web_inbox]).user
    AgentFactory(
        user=UserFactory(username="carol"),
        display_name="Carol Agent",
        availability=AgentProfile.Availability.OFFLINE,
        capacity=3,
        inboxes=[shop.web_inbox],
    )
    theirs = conversation_with(shop.web_inbox, ContactFactory(name="Bob's customer"))
    services.conversation_assign(conversation=theirs, assignee=bob, by=None)
    conversation = conversation_with(shop.web_inbox, ContactFactory(name="Tom Transfer"), body="Help")
    page = open_console(new_page, shop, conversation)

    # when the agent opens the transfer dialog
    page.click("#act-transfer")

    # then each candidate shows whether they are online and their load
    options = page.locator("#transfer-agent option")
    expect(options.filter(has_text="Bob Agent")).to_have_text("Bob Agent — online · 1 / 5 open")
    expect(options.filter(has_text="Carol Agent")).to_have_text("Carol Agent — offline · 0 / 3 open")
    screenshot(page, "transfer")
    assert page.errors == []


# --- 9. long messages ----------------------------------------------------------------------------


def test_the_composer_counts_near_the_limit_and_refuses_an_over_long_reply(shop, new_page, screenshot):
    limit = settings.MESSAGE_BODY_MAX_CHARS
    conversation = conversation_with(shop.web_inbox, ContactFactory(name="Lou Long"), body="Tell me everything")
    page = open_console(new_page, shop, conversation)
    counter = page.locator("#reply-count")

    # when the reply is well under the limit, no counter shows
    page.fill("#reply", "x" * (limit // 2))
    expect(counter).to_be_hidden()
    # when it nears the limit, the counter shows how much is used
    page.fill("#reply", "é" * (limit - 100))
    expect(counter).to_have_text(f"{limit - 100:,} / {limit:,}")
    # when it is over the limit (emoji count as one character each, as on the server)
    page.fill("#reply", "🙂" * (limit + 25))
    expect(counter).to_have_text(f"25 over the limit ({limit + 25:,} / {limit:,})")
    page.locator("#reply").press("Control+Enter")
    # then it is not sent, and the agent is told why
    expect(page.locator("#reply-hint")).to_have_text(
        f"Too long to send: at most {limit:,} characters. Shorten it or split it in two."
    )
    screenshot(page, "too-long")
    assert not Message.objects.filter(sender_kind="agent").exists()
    # when they shorten it to the limit, it goes
    page.fill("#reply", "🙂" * limit)
    page.click("#send-reply")
    expect(page.locator("#timeline > .msg.out")).to_have_count(1)
    assert len(Message.objects.get(sender_kind="agent").body) == limit
    assert page.errors == []


def test_an_inbound_email_over_the_limit_is_stored_shortened_with_a_note_in_the_timeline(shop, new_page, screenshot):
    limit = settings.MESSAGE_BODY_MAX_CHARS
    email = EmailInboxFactory(name="Support email", email_address="help@acme.test")
    InboxMembership.objects.create(user=shop.agent_user, inbox=email)
    text = "A very long complaint. " * ((limit // 23) + 50)
    email_receive(raw=make_email(to=email.email_address, subject="Long", text=text).as_bytes(), inbox=email)
    message = Message.objects.get()
    shortened = message.metadata["shortened"]
    over = shortened["original_chars"] - limit
    assert over > 1000 and len(message.body) == limit

    page = open_console(new_page, shop, message.conversation)
    note = page.locator("#timeline > .msg .msg-shortened")
    expect(note).to_have_text(
        f"Message shortened: {over:,} characters over the limit. The full text is attached (full-message.txt)."
    )
    screenshot(page, "shortened")
    assert page.errors == []
