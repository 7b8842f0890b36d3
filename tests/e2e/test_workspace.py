"""The agent's workspace in Chromium (issue #15): the list's previews, waiting times, unread counts,
sorts and the tab title; labels and saved views."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from chat import services, workspace
from chat.models import AuditLog, Conversation, Priority
from tests.factories import AgentFactory, ContactFactory, SupervisorFactory, UserFactory, conversation_with

from .conftest import log_in, server_side

pytestmark = pytest.mark.slow


def row(page, conversation):
    return page.locator(f'.conv-item[data-id="{conversation.pk}"]')


def test_the_list_shows_previews_waiting_unread_and_sorts(shop, new_page, screenshot):
    # given two customers waiting, one for three hours, and one answered conversation
    waiting_long = conversation_with(shop.web_inbox, ContactFactory(name="Wendy Waiting"), body="Where is my order?")
    Conversation.objects.filter(pk=waiting_long.pk).update(waiting_since=timezone.now() - timedelta(hours=3))
    urgent = conversation_with(shop.web_inbox, ContactFactory(name="Uma Urgent"), body="Help now")
    services.conversation_set_priority(conversation=urgent, priority=Priority.URGENT)
    answered = conversation_with(shop.web_inbox, ContactFactory(name="Andy Answered"), body="Hi")
    services.message_send(conversation=answered, by=shop.agent_user, body="Hello Andy!")
    page = new_page(viewport={"width": 1400, "height": 850})
    log_in(page, shop)
    expect(page.locator("body")).to_have_attribute("data-live", "connected")
    # then each row shows its last message, how long the customer waits and what is unread
    expect(row(page, waiting_long).locator(".preview")).to_have_text("Where is my order?")
    expect(row(page, waiting_long).locator(".badge-waiting")).to_have_text("waiting 3 h")
    expect(row(page, waiting_long).locator(".unread-count")).to_have_text("1")
    expect(row(page, answered).locator(".preview")).to_have_text("Reply: Hello Andy!")
    expect(row(page, answered).locator(".badge-waiting")).to_have_count(0)
    expect(page).to_have_title("(3) Conversations · cxhub")
    # when the agent sorts by longest waiting, then by priority
    page.select_option("#sort", "waiting")
    expect(page.locator(".conv-item").first).to_have_attribute("data-id", str(waiting_long.pk))
    page.select_option("#sort", "priority")
    expect(page.locator(".conv-item").first).to_have_attribute("data-id", str(urgent.pk))
    screenshot(page, "sorted-by-priority")
    # when the agent opens a conversation, its unread count goes and the title's total falls
    row(page, waiting_long).click()
    expect(row(page, waiting_long).locator(".unread-count")).to_have_count(0)
    expect(page).to_have_title("(2) Conversations · cxhub")
    # and a new message elsewhere counts at once, live
    inbox, contact = shop.web_inbox, urgent.contact
    server_side(services.message_receive, inbox=inbox, contact=contact, channel="web", body="Still there?")
    expect(row(page, urgent).locator(".unread-count")).to_have_text("2")
    expect(row(page, urgent).locator(".preview")).to_have_text("Still there?")
    expect(page).to_have_title("(3) Conversations · cxhub")
    # and the read marker is the server's: a fresh page agrees (the sort is remembered)
    page.reload()
    expect(page.locator("#sort")).to_have_value("priority")
    expect(row(page, waiting_long).locator(".preview")).to_have_text("Where is my order?")
    expect(row(page, waiting_long).locator(".unread-count")).to_have_count(0)


def test_labels_from_the_console_filter_the_list_and_a_saved_view_counts_live(shop, new_page, screenshot):
    # given two labels made by a supervisor and two customers writing
    supervisor = SupervisorFactory().user
    vip = workspace.label_create(by=supervisor, name="VIP", colour="#dc2626")
    workspace.label_create(by=supervisor, name="Bug", colour="#2563eb")
    wendy = conversation_with(shop.web_inbox, ContactFactory(name="Wendy Label"), body="Hello")
    other = conversation_with(shop.web_inbox, ContactFactory(name="Otto Other"), body="Hi")
    page = new_page(viewport={"width": 1400, "height": 850})
    log_in(page, shop)
    page.goto(f"{shop.url}/console/c/{wendy.pk}/")
    expect(page.locator("body")).to_have_attribute("data-live", "connected")
    # when the agent ticks VIP in the conversation's Labels menu
    page.locator("#convo-labels summary").click()
    page.locator("#convo-labels label", has_text="VIP").locator("input").check()
    # then the header and the list row show the chip
    expect(page.locator("#convo-labels .label-chips .label-chip")).to_have_text(["VIP"])
    expect(row(page, wendy).locator(".label-chip")).to_have_text(["VIP"])
    # when the agent filters the list by VIP
    page.locator('details[data-filter="label"] summary').click()
    page.locator("#label-filter-menu label", has_text="VIP").locator("input").check()
    expect(page.locator(".conv-item")).to_have_count(1)
    expect(page.locator(".conv-item").first).to_have_attribute("data-id", str(wendy.pk))
    # and saves the filters as a view
    page.keyboard.press("Escape")
    page.click("#save-view")
    page.fill("#view-name", "VIPs")
    page.locator("#view-form button[type=submit]").click()
    view = page.locator("#views li", has_text="VIPs")
    expect(view.locator(".view-count")).to_have_text("1")
    # when a colleague labels another conversation VIP (the API), the view's count follows live
    page.click("#clear-filters")
    expect(page.locator(".conv-item")).to_have_count(2)
    server_side(workspace.conversation_set_labels, conversation=other, by=supervisor, add=[vip])
    expect(view.locator(".view-count")).to_have_text("2")
    expect(row(page, other).locator(".label-chip")).to_have_text(["VIP"])
    # and the contact panel labels the person
    page.locator("#contact .label-menu summary").click()
    page.locator("#contact .label-menu label", has_text="Bug").locator("input").check()
    expect(page.locator("#contact .label-chips .label-chip")).to_have_text(["Bug"])
    screenshot(page, "labels-and-views")
    # clicking the view applies its filters again
    page.locator("#views .view-button", has_text="VIPs").click()
    expect(page.locator('details[data-filter="label"] summary')).to_have_text("Label: VIP")
    expect(page.locator(".conv-item")).to_have_count(2)


def test_bulk_actions_over_the_list_report_each_failure(shop, new_page, screenshot):
    # given three open conversations and one resolved, and a label
    workspace.label_create(by=SupervisorFactory().user, name="Refund")
    names = ("Ann Bulk", "Ben Bulk", "Cy Bulk")
    opened = [conversation_with(shop.web_inbox, ContactFactory(name=name), body="Hi") for name in names]
    resolved = conversation_with(shop.web_inbox, ContactFactory(name="Rae Resolved"), body="Bye")
    services.conversation_resolve(conversation=resolved)
    page = new_page(viewport={"width": 1400, "height": 850})
    log_in(page, shop)
    expect(page.locator("body")).to_have_attribute("data-live", "connected")
    page.click("#clear-filters")  # every status, the resolved one too
    expect(page.locator(".conv-item")).to_have_count(4)
    # when the agent ticks the three open ones and labels them at once
    for conversation in opened:
        page.locator(f'.bulk-pick[data-id="{conversation.pk}"]').check()
    expect(page.locator("#bulk-count")).to_have_text("3 selected")
    page.select_option("#bulk-label", label="Refund")
    # then each is labelled (through its service, one event each) and the selection is done
    expect(page.locator("#toast")).to_have_text("3 conversations done.")
    for conversation in opened:
        expect(row(page, conversation).locator(".label-chip")).to_have_text(["Refund"])
    expect(page.locator("#bulk-bar")).to_be_hidden()
    # when the agent snoozes an open one and the resolved one together
    page.locator(f'.bulk-pick[data-id="{opened[0].pk}"]').check()
    page.locator(f'.bulk-pick[data-id="{resolved.pk}"]').check()
    page.click("#bulk-snooze")
    # then the open one is snoozed and the resolved one's failure is shown, still ticked
    expect(page.locator("#toast")).to_have_text("1 done, 1 failed.")
    expect(page.locator("#bulk-failures li")).to_have_text(["Rae Resolved: A resolved conversation cannot be snoozed."])
    expect(page.locator(f'.bulk-pick[data-id="{resolved.pk}"]')).to_be_checked()
    expect(row(page, opened[0]).locator(".badge", has_text="snoozed")).to_have_count(1)
    screenshot(page, "bulk-failure")
    assert Conversation.objects.get(pk=opened[0].pk).status == "snoozed"
    # and resolving the rest from the bar works too
    page.click("#bulk-clear")
    for conversation in opened[1:]:
        page.locator(f'.bulk-pick[data-id="{conversation.pk}"]').check()
    page.click("#bulk-resolve")
    expect(page.locator("#toast")).to_have_text("2 conversations done.")
    assert set(Conversation.objects.filter(pk__in=[c.pk for c in opened[1:]]).values_list("status", flat=True)) == {
        "resolved"
    }


def test_a_macro_made_in_the_console_replies_labels_and_resolves_in_one_click(shop, new_page, screenshot):
    # given a label and a customer waiting
    workspace.label_create(by=SupervisorFactory().user, name="Shipping")
    conversation = conversation_with(shop.web_inbox, ContactFactory(name="Mona Macro"), body="Where is it?")
    page = new_page(viewport={"width": 1400, "height": 850})
    log_in(page, shop)
    page.goto(f"{shop.url}/console/c/{conversation.pk}/")
    expect(page.locator("body")).to_have_attribute("data-live", "connected")
    # when the agent makes a macro: a reply, the Shipping label, high priority and resolve
    page.locator("#macro-menu summary").click()
    page.click("#macro-new")
    page.fill("#macro-name", "Shipped")
    page.fill("#macro-reply", "It left our warehouse today.")
    page.locator("#macro-labels label", has_text="Shipping").locator("input").check()
    page.select_option("#macro-priority", "high")
    page.check("#macro-resolve")
    page.locator("#macro-form button[type=submit]").click()
    expect(page.locator("#toast")).to_have_text("Macro Shipped saved.")
    # and runs it with one click
    page.locator("#macro-menu summary").click()
    page.locator("#macro-list .macro-run", has_text="Shipped").click()
    # then the reply is in the timeline, the label on, the priority high, and the case resolved
    expect(page.locator("#toast")).to_have_text("Macro Shipped done.")
    expect(page.locator("#timeline .msg .bubble", has_text="It left our warehouse today.")).to_have_count(1)
    expect(page.locator("#convo-labels .label-chips .label-chip")).to_have_text(["Shipping"])
    expect(page.locator("#convo-badges")).to_contain_text("resolved")
    expect(page.locator("#act-reopen")).to_be_visible()
    screenshot(page, "macro-run")
    conversation.refresh_from_db()
    assert conversation.status == "resolved" and conversation.priority == "high"


def test_a_mention_in_a_note_reaches_the_colleague_who_can_follow_the_conversation(shop, new_page, screenshot):
    # given alice in a conversation and bob, of the same inbox, on his list
    AgentFactory(user=UserFactory(username="bob"), display_name="Bob Agent", inboxes=[shop.web_inbox])
    conversation = conversation_with(shop.web_inbox, ContactFactory(name="Nina Note"), body="My order is late")
    services.conversation_assign(conversation=conversation, assignee=shop.agent_user)
    bob = new_page(viewport={"width": 1400, "height": 850})
    log_in(bob, shop, "bob")
    expect(bob.locator("body")).to_have_attribute("data-live", "connected")
    expect(bob.locator("#mentions-count")).to_be_hidden()
    alice = new_page(viewport={"width": 1400, "height": 850})
    log_in(alice, shop)
    alice.goto(f"{shop.url}/console/c/{conversation.pk}/")
    expect(alice.locator("body")).to_have_attribute("data-live", "connected")
    # when alice picks bob in the mention picker and sends the note
    alice.select_option("#mention-picker", "bob")
    expect(alice.locator("#note-toggle")).to_be_checked()
    alice.locator("#reply").press_sequentially("can you check the warehouse?")
    alice.click("#send-reply")
    expect(alice.locator("#timeline .msg .bubble", has_text="@bob can you check the warehouse?")).to_have_count(1)
    # then bob's console counts the mention at once and lists it
    expect(bob.locator("#mentions-count")).to_have_text("1")
    bob.click("#mentions-button")
    item = bob.locator("#mentions-list .mention-item")
    expect(item).to_contain_text("Alice Agent on Nina Note")
    expect(item).to_contain_text("@bob can you check the warehouse?")
    screenshot(bob, "mentioned")
    # when bob opens it, the mention is read and he is a participant (mentioned): Unfollow is offered
    item.click()
    expect(bob.locator("#convo-title")).to_have_text("Nina Note")
    expect(bob.locator("#mentions-count")).to_be_hidden()
    expect(bob.locator("#act-follow")).to_have_text("Unfollow")
    bob.click("#act-follow")
    expect(bob.locator("#act-follow")).to_have_text("Follow")
    assert not conversation.participants.exists()
    bob.click("#act-follow")
    expect(bob.locator("#act-follow")).to_have_text("Unfollow")
    assert list(conversation.participants.values_list("user__username", flat=True)) == ["bob"]


def test_an_agent_edits_a_contact_with_typed_attributes_and_leaves_a_note(shop, new_page, screenshot):
    # given a supervisor's attribute definitions and a customer
    supervisor = SupervisorFactory().user
    workspace.attribute_definition_create(
        by=supervisor, key="plan", label="Plan", kind="list", options=["Free", "Gold"]
    )
    workspace.attribute_definition_create(by=supervisor, key="seats", label="Seats", kind="number")
    conversation = conversation_with(shop.web_inbox, ContactFactory(name="Ed Edit"), body="Hi")
    page = new_page(viewport={"width": 1400, "height": 900})
    log_in(page, shop)
    page.goto(f"{shop.url}/console/c/{conversation.pk}/")
    expect(page.locator("body")).to_have_attribute("data-live", "connected")
    # then the panel shows the defined attributes by their labels
    expect(page.locator('#contact dd[data-attribute="plan"]')).to_have_text("—")
    # when the agent edits name, email, phone, plan and seats
    page.click("#contact-edit")
    page.fill("#contact-name-input", "Edna Edited")
    page.fill("#contact-email-input", "edna@example.com")
    page.fill("#contact-phone-input", "+1 415 555 0100")
    page.select_option("#attr-plan", "Gold")
    page.fill("#attr-seats", "12")
    page.locator("#contact-edit-form button[type=submit]").click()
    # then the panel shows them, stored and audited
    expect(page.locator("#contact .contact-name")).to_have_text("Edna Edited")
    expect(page.locator('#contact dd[data-attribute="plan"]')).to_have_text("Gold")
    expect(page.locator('#contact dd[data-attribute="seats"]')).to_have_text("12")
    conversation.contact.refresh_from_db()
    assert conversation.contact.phone == "+14155550100" and conversation.contact.attributes == {
        "plan": "Gold",
        "seats": 12,
    }
    assert AuditLog.objects.filter(action="contact_edited", actor=shop.agent_user).count() == 1
    # when a bad email is saved, the reason is shown and nothing changes
    page.click("#contact-edit")
    page.evaluate("document.getElementById('contact-email-input').type = 'text'")
    page.fill("#contact-email-input", "not an email")
    page.locator("#contact-edit-form button[type=submit]").click()
    expect(page.locator("#contact-edit-form .form-error")).to_have_text("Not an email address.")
    page.locator("#contact-edit-form button", has_text="Cancel").click()
    # and a note on the person
    page.fill("#contact-note-input", "Prefers email, mornings.")
    page.locator(".contact-note-form button").click()
    expect(page.locator("#contact-notes li .note-body")).to_have_text(["Prefers email, mornings."])
    screenshot(page, "contact-edited")
    # and the list filters by the attribute: only Gold customers
    server_side(conversation_with, shop.web_inbox, ContactFactory(name="Fay Free", attributes={"plan": "Free"}))
    expect(page.locator(".conv-item")).to_have_count(2)
    page.locator('details[data-filter="attribute"] summary').click()
    page.select_option("#attribute-filter-menu select", "plan")
    page.fill("#attribute-filter-menu input[type=text]", "Gold")
    page.locator("#attribute-filter-menu button", has_text="Add").click()
    expect(page.locator(".conv-item")).to_have_count(1)
    expect(page.locator('details[data-filter="attribute"] summary')).to_have_text("Attribute: Plan: Gold")


def test_the_keyboard_moves_through_the_list_replies_notes_resolves_and_sends_with_the_chosen_key(
    shop, new_page, screenshot
):
    # given three conversations, the newest first
    first = conversation_with(shop.web_inbox, ContactFactory(name="Kay One"), body="One")
    second = conversation_with(shop.web_inbox, ContactFactory(name="Kay Two"), body="Two")
    third = conversation_with(shop.web_inbox, ContactFactory(name="Kay Three"), body="Three")
    page = new_page(viewport={"width": 1400, "height": 850})
    log_in(page, shop)
    expect(page.locator("body")).to_have_attribute("data-live", "connected")
    expect(page.locator(".conv-item")).to_have_count(3)
    # j opens the first row, j again the next, k goes back
    page.locator("body").press("j")
    expect(page.locator("#convo-title")).to_have_text("Kay Three")
    page.locator("body").press("j")
    expect(page.locator("#convo-title")).to_have_text("Kay Two")
    page.keyboard.press("k")
    expect(page.locator("#convo-title")).to_have_text("Kay Three")
    # ? shows the help
    page.keyboard.press("?")
    expect(page.locator("#keys-dialog")).to_be_visible()
    screenshot(page, "keyboard-help")
    # the agent chooses Enter to send (kept on the server)
    page.select_option("#keys-send-key", "enter")
    expect(page.locator("#send-key")).to_have_value("enter")
    page.click("#keys-close")
    expect(page.locator("#keys-dialog")).to_be_hidden()
    # r: reply; Shift+Enter makes a new line, Enter sends
    page.keyboard.press("r")
    expect(page.locator("#reply")).to_be_focused()
    page.keyboard.type("Hello")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("there")
    page.keyboard.press("Enter")
    expect(page.locator("#timeline .msg .bubble", has_text="there")).to_have_count(1)
    assert third.messages.order_by("-seq").first().body == "Hello\nthere"
    # Esc leaves the box; n: an internal note
    page.keyboard.press("Escape")
    page.keyboard.press("n")
    expect(page.locator("#note-toggle")).to_be_checked()
    page.keyboard.type("Checked the order")
    page.keyboard.press("Enter")
    expect(page.locator("#timeline .msg .bubble", has_text="Checked the order")).to_have_count(1)
    assert third.messages.order_by("-seq").first().is_note
    # e resolves; / opens the search
    page.keyboard.press("Escape")
    page.keyboard.press("e")
    expect(page.locator("#act-reopen")).to_be_visible()
    page.keyboard.press("/")
    expect(page.locator("#search")).to_be_focused()
    # with Ctrl+Enter chosen, Enter is a new line again (a fresh page reads the choice back)
    page.goto(f"{shop.url}/console/c/{second.pk}/")
    expect(page.locator("#send-key")).to_have_value("enter")
    page.select_option("#send-key", "ctrl_enter")
    page.locator("#reply").click()
    page.keyboard.type("Line one")
    page.keyboard.press("Enter")
    page.keyboard.type("Line two")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#timeline .msg .bubble", has_text="Line two")).to_have_count(1)
    assert second.messages.order_by("-seq").first().body == "Line one\nLine two"
    assert first.messages.count() == 1
