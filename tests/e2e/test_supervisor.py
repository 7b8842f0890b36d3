"""The supervisor's journey in Chromium: queue and load, live dashboard, then the follow-up closed."""

import pytest
from playwright.sync_api import expect

from chat import services
from chat.models import AgentProfile
from feedback.models import FollowUp
from tests.factories import AgentFactory, ContactFactory, SupervisorFactory, UserFactory, conversation_with

from .conftest import log_in, server_side
from .surveys import answer, resolved_with_invitation

pytestmark = pytest.mark.slow


def test_supervisor_watches_the_queue_and_the_figures_then_closes_the_loop(shop, new_page, screenshot):
    # given alice busy with two chats of her capacity of two, bob offline, and three customers
    # waiting (an urgent one, a high one and an older normal one)
    alice = shop.agent_user
    AgentProfile.objects.filter(user=alice).update(capacity=2, availability=AgentProfile.Availability.BUSY)
    AgentFactory(
        user=UserFactory(username="bob"),
        display_name="Bob Agent",
        availability=AgentProfile.Availability.OFFLINE,
        inboxes=[shop.web_inbox],
    )
    SupervisorFactory(user=UserFactory(username="sam"), display_name="Sam Supervisor")

    def given():
        for name in ("Ann Assigned", "Abe Assigned"):
            conversation = conversation_with(shop.web_inbox, ContactFactory(name=name))
            services.conversation_assign(conversation=conversation, assignee=alice)
        conversation_with(shop.web_inbox, ContactFactory(name="Nora Normal"), body="Where is my parcel?")
        high = conversation_with(shop.web_inbox, ContactFactory(name="Hugo High"), body="Wrong size")
        services.conversation_set_priority(conversation=high, priority="high")
        urgent = conversation_with(shop.web_inbox, ContactFactory(name="Uma Urgent"), body="Charged twice!")
        services.conversation_set_priority(conversation=urgent, priority="urgent")

    server_side(given)
    # and a happy customer of alice's answered their survey, and another has one waiting
    _, happy = resolved_with_invitation(shop.web_inbox, alice, name="Hanna Happy")
    answer(happy, csat=5)
    _, grumpy = resolved_with_invitation(shop.web_inbox, alice, name="Greg Grumpy")

    # when the supervisor logs in
    page = new_page(viewport={"width": 1400, "height": 900})
    log_in(page, shop, "sam")

    # then the console shows the queue, most urgent first, and every agent's load
    queue = page.locator("#supervisor #queue li")
    expect(queue).to_have_count(3)
    expect(queue.nth(0)).to_contain_text("Uma Urgent")
    expect(queue.nth(1)).to_contain_text("Hugo High")
    expect(queue.nth(2)).to_contain_text("Nora Normal")
    expect(page.locator("#queue-count")).to_have_text("(3)")
    load = page.locator("#load .load-row")
    expect(load.filter(has_text="Alice Agent")).to_contain_text("2 / 2")
    expect(load.filter(has_text="Alice Agent")).to_contain_text("busy")
    expect(load.filter(has_text="Alice Agent").locator(".load-bar span")).to_have_class("full")
    expect(load.filter(has_text="Bob Agent")).to_contain_text("0 / 5")
    expect(load.filter(has_text="Bob Agent")).to_contain_text("offline")
    screenshot(page, "console-queue-and-load")

    # when they open the dashboard
    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator("body")).to_have_attribute("data-dashboard", "ready")
    csat = page.locator('#kpis .kpi[data-metric="csat_percent"] .kpi-value')
    expect(csat).to_have_text("100.0 %")
    page.evaluate("window.__sameDocument = true")
    screenshot(page, "dashboard-before")

    # and a customer answers their survey with a detractor score
    answer(grumpy, csat=1, comment="Nobody told me about the delay.")

    # then the CSAT figure changes without a reload
    expect(csat).to_have_text("50.0 %")
    assert page.evaluate("window.__sameDocument") is True
    screenshot(page, "dashboard-after")

    # when they go to the follow-ups, the detractor's is there, at risk, with nobody on it
    page.get_by_role("link", name="Follow-ups").click()
    card = page.locator(".followup", has_text="Greg Grumpy")
    expect(card).to_be_visible()
    expect(card).to_contain_text("CSAT 1/5")
    expect(card).to_contain_text("Nobody told me about the delay.")
    expect(card.locator(".at-risk")).to_be_visible()
    expect(card).to_contain_text("nobody yet")
    expect(card.get_by_label("Assign to")).to_have_value("")  # nobody is preselected either
    screenshot(page, "followup-open")

    # when they give it to alice
    card.get_by_label("Assign to").select_option(label="Alice Agent")
    card.get_by_role("button", name="Assign").click()
    expect(page.locator(".flash")).to_contain_text("Follow-up assigned.")
    card = page.locator(".followup", has_text="Greg Grumpy")
    expect(card).to_contain_text("Owner: Alice Agent")

    # and close it with a note
    card.get_by_label("What was done").fill("Called Greg, refunded the shipping.")
    card.get_by_role("button", name="Close").click()

    # then it leaves the open list and shows, closed with the note, under Closed
    expect(page.locator(".flash")).to_contain_text("Follow-up closed.")
    expect(page.locator(".followup", has_text="Greg Grumpy")).to_have_count(0)
    page.get_by_role("link", name="Closed").click()
    closed = page.locator(".followup", has_text="Greg Grumpy")
    expect(closed).to_contain_text("Called Greg, refunded the shipping.")
    expect(closed).to_contain_text("Owner: Alice Agent")
    screenshot(page, "followup-closed")
    follow_up = FollowUp.objects.get(contact__name="Greg Grumpy")
    assert (follow_up.status, follow_up.owner) == ("closed", alice)
    assert follow_up.note == "Called Greg, refunded the shipping."
    assert page.errors == []
