"""The widget in Chromium: the unread badge across conversations, the message length limit, links."""

import re

import pytest
from playwright.sync_api import expect

from chat import services
from chat.models import Conversation, Message
from feedback.models import SurveyPolicy

from .conftest import server_side
from .test_live_chat import open_widget, send_from_widget

pytestmark = pytest.mark.slow


def agent_writes(shop, conversation, *bodies):
    for body in bodies:
        server_side(services.message_send, conversation=conversation, by=shop.agent_user, body=body)


# --- 1. the unread badge of a returning visitor -------------------------------------------


def test_a_returning_visitors_next_conversation_counts_its_replies_as_unread(shop, new_page, screenshot):
    # given a visitor who chatted and read every reply (seqs 1 to 4), in a conversation since resolved
    SurveyPolicy.objects.create(inbox=shop.web_inbox, enabled=False)  # no survey card in the count
    page = new_page()
    widget = open_widget(page, shop)
    send_from_widget(widget, "Where is my order?")
    first = Conversation.objects.get()
    agent_writes(shop, first, "Let me look.", "It left the warehouse today.", "Anything else?")
    expect(widget.locator(".msg.theirs:not(.greeting)")).to_have_count(3)
    server_side(services.conversation_resolve, conversation=first, by=shop.agent_user)
    expect(widget.locator(".closed-note")).to_be_visible()

    # when they come back another day: nothing is unread
    page.goto(f"{shop.url}/demo/")
    widget = page.locator("cxhub-widget")
    expect(widget.locator(".badge")).to_be_hidden()
    # and they write again (a new conversation, whose seqs start at 1), then close the panel
    widget.locator("button.launcher").click()
    send_from_widget(widget, "One more question about returns")
    second = Conversation.objects.exclude(pk=first.pk).get()
    widget.locator("button.close").click()
    expect(widget.locator(".panel")).to_be_hidden()

    # when the agent answers twice in the new conversation (seqs 2 and 3, below the old marker's 4)
    agent_writes(shop, second, "Returns are free.", "Use the label in the box.")

    # then the launcher shows two unread messages, live and after a reload
    expect(widget.locator(".badge")).to_have_text("2")
    expect(widget.locator("button.launcher")).to_have_attribute("aria-label", "Open chat, 2 unread messages")
    screenshot(page, "badge")
    page.reload()
    widget = page.locator("cxhub-widget")
    expect(widget.locator(".badge")).to_have_text("2")
    # and once read, they stay read
    widget.locator("button.launcher").click()
    expect(widget.locator(".msg.theirs", has_text="label in the box")).to_be_visible()
    expect(widget.locator(".badge")).to_be_hidden()
    page.reload()
    expect(page.locator("cxhub-widget .msg.theirs", has_text="label in the box")).to_be_attached()
    expect(page.locator("cxhub-widget .badge")).to_be_hidden()
    assert page.errors == []


def test_a_read_marker_of_the_older_widget_is_taken_over(shop, new_page):
    # given a visitor whose stored marker is an older widget's bare seq (read up to seq 2)
    page = new_page()
    widget = open_widget(page, shop)
    send_from_widget(widget, "Hello")
    conversation = Conversation.objects.get()
    agent_writes(shop, conversation, "Hi, how can I help?")
    expect(widget.locator(".msg.theirs:not(.greeting)")).to_have_count(1)
    page.evaluate(
        """() => { const key = Object.keys(localStorage).find(k => k.startsWith('cxhub.widget.'));
                   const stored = JSON.parse(localStorage.getItem(key));
                   delete stored.read; stored.readSeq = 2; localStorage.setItem(key, JSON.stringify(stored)); }"""
    )
    page.goto("about:blank")
    agent_writes(shop, conversation, "Are you still there?")

    # when they come back
    page.goto(f"{shop.url}/demo/")

    # then only the message after the old marker is unread
    expect(page.locator("cxhub-widget .badge")).to_have_text("1")
    assert page.errors == []


# --- 2. the message length limit ------------------------------------------------------------


def test_the_composer_counts_towards_the_limit_and_refuses_a_longer_message(shop, new_page, screenshot):
    # given a visitor with the widget open (the server takes 10,000 characters per message)
    page = new_page()
    widget = open_widget(page, shop)
    box = widget.locator(".composer textarea")
    counter = widget.locator(".limit .counter")
    reason = widget.locator(".limit .error")

    # when they paste a text just under 90 % of the limit, no counter is shown
    box.fill("x" * 8_999)
    expect(counter).to_be_hidden()
    # from 90 % on, the counter shows
    box.fill("x" * 9_000)
    expect(counter).to_have_text("9,000 / 10,000 characters")
    expect(box).to_have_attribute("aria-invalid", "false")

    # when they paste a text over the limit: nothing is cut, the counter says by how much
    box.fill("y" * 10_250)
    assert box.evaluate("b => b.value.length") == 10_250
    expect(counter).to_have_text("10,250 / 10,000 characters: 250 too many")
    expect(box).to_have_attribute("aria-invalid", "true")
    # and Enter does not send it: the reason is shown and the text stays to be shortened
    box.press("Enter")
    expect(reason).to_have_text(
        "This message is too long to send: at most 10,000 characters (250 too many). Shorten it or send it in parts."
    )
    screenshot(page, "too-long")
    assert widget.locator(".msg.mine").count() == 0
    assert box.evaluate("b => b.value.length") == 10_250
    assert not Message.objects.exists()

    # when they shorten it to the limit, the reason goes and the whole text is sent and stored
    box.fill("z" * 10_000)
    expect(reason).to_be_hidden()
    box.press("Enter")
    expect(widget.locator(".msg.mine")).not_to_have_class(re.compile(r"\bpending\b"))
    expect(counter).to_be_hidden()
    assert len(Message.objects.get().body) == 10_000
    assert page.errors == []


def test_the_limit_is_the_servers_and_its_refusal_is_shown(shop, new_page, settings):
    # given a server that takes 200 characters per message
    settings.MESSAGE_BODY_MAX_CHARS = 200
    page = new_page()
    widget = open_widget(page, shop)
    box = widget.locator(".composer textarea")
    counter = widget.locator(".limit .counter")

    # then the widget counts towards 200, in characters as the server counts them (not UTF-16 units)
    box.fill("a" * 180)
    expect(counter).to_have_text("180 / 200 characters")
    box.fill("😀" * 200)
    expect(counter).to_have_text("200 / 200 characters")
    box.press("Enter")
    expect(widget.locator(".msg.mine")).not_to_have_class(re.compile(r"\bpending\b"))
    assert Message.objects.get().body == "😀" * 200

    # when the server's limit is lower than the one the widget was given (changed meanwhile)
    settings.MESSAGE_BODY_MAX_CHARS = 100
    box.fill("b" * 150)
    box.press("Enter")

    # then the server's body_too_long refusal is shown on the message, and the text comes back
    failed = widget.locator(".msg.mine.failed")
    expect(failed.locator(".meta-status")).to_have_text("Not sent: too long")
    expect(widget.locator(".limit .error")).to_have_text("A message is at most 100 characters.")
    expect(box).to_have_value("b" * 150)
    assert Message.objects.count() == 1
    assert page.errors == []


# --- 3. links -------------------------------------------------------------------------------


def test_links_and_email_addresses_in_messages_are_clickable_and_safe(shop, new_page, screenshot):
    # given a visitor chatting
    page = new_page()
    widget = open_widget(page, shop)
    send_from_widget(widget, f"My order page: {shop.url}/healthz?order=77&x=1. Thanks!")
    conversation = Conversation.objects.get()

    # when the agent answers with a link, an email address and things that only look like links
    reply = (
        "Track it at https://parcels.example/track?id=77&lang=en. Or write to help@shop.example, "
        "see (https://en.wikipedia.org/wiki/Parcel_(package)). "
        'Not these: javascript:alert(1) <a href="https://evil.example" onclick="alert(2)">x</a> ftp://files.example'
    )
    agent_writes(shop, conversation, reply)

    # then the text reads exactly as written, and only http(s) URLs and the address are links
    bubble = widget.locator(".msg.theirs .bubble").last
    expect(bubble).to_have_text(reply)
    links = bubble.locator("a")
    expect(links).to_have_count(4)
    shown = links.evaluate_all(
        "links => links.map(a => [a.textContent, a.getAttribute('href'), a.target, a.rel, a.attributes.length])"
    )
    safe = ("_blank", "noopener noreferrer nofollow", 3)
    assert shown == [
        ["https://parcels.example/track?id=77&lang=en", "https://parcels.example/track?id=77&lang=en", *safe],
        ["help@shop.example", "mailto:help@shop.example", *safe],
        ["https://en.wikipedia.org/wiki/Parcel_(package)", "https://en.wikipedia.org/wiki/Parcel_(package)", *safe],
        ["https://evil.example", "https://evil.example/", *safe],
    ]
    assert widget.locator(".bubble [onclick], .bubble a[href^=javascript], .bubble a[href^=ftp]").count() == 0
    screenshot(page, "links")

    # and the visitor's own link opens in a new tab
    own = widget.locator(".msg.mine .bubble a")
    expect(own).to_have_text(f"{shop.url}/healthz?order=77&x=1")
    with page.context.expect_page() as opened:
        own.click()
    tab = opened.value
    tab.wait_for_load_state()
    assert tab.url == f"{shop.url}/healthz?order=77&x=1"
    assert page.errors == []


# --- the survey card ------------------------------------------------------------------------


def test_a_refused_survey_answer_is_explained_on_the_card(shop, new_page, screenshot):
    # given a resolved chat whose survey card is showing
    from datetime import timedelta

    from django.utils import timezone

    from feedback.models import SurveyInvitation, SurveyResponse

    page = new_page()
    widget = open_widget(page, shop)
    send_from_widget(widget, "Do you ship to Norway?")
    conversation = Conversation.objects.get()
    agent_writes(shop, conversation, "We do, in 3 days.")
    server_side(services.conversation_resolve, conversation=conversation, by=shop.agent_user)
    card = widget.locator("form.survey")
    expect(card).to_be_visible()

    # when the survey expires before the customer answers it
    SurveyInvitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    card.locator("fieldset").first.get_by_role("button", name=re.compile(r"^4 of 5")).click()
    card.get_by_role("button", name="Send my answer").click()

    # then the card says why, and its button works again (nothing was stored)
    expect(card.locator(".error")).to_have_text("This survey has expired.")
    expect(card.get_by_role("button", name="Send my answer")).to_be_enabled()
    screenshot(page, "refused")
    assert not SurveyResponse.objects.exists()
    assert page.errors == []
