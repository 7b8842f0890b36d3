"""SLAs in the console, in Chromium, with the server's own timers (as `make run`): a countdown on the
row and in the conversation that warns at 75 % and breaches live, and waiting on the customer."""

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from chat import sla_services
from chat.models import Conversation, ConversationEvent
from tests.factories import ContactFactory, conversation_with

from .conftest import log_in, server_side

pytestmark = pytest.mark.slow


@pytest.mark.scheduler
def test_countdown_warns_and_breaches_live_then_pending_pauses_it(shop, new_page, screenshot):
    # given a first-response promise of 8 seconds (calendar time) on the web inbox
    sla_services.sla_policy_set(
        inbox=shop.web_inbox, priority="normal", first_response_seconds=8, resolution_seconds=3600, business_hours=False
    )
    page = new_page(viewport={"width": 1400, "height": 850})
    log_in(page, shop)
    # when a customer writes and the agent opens the conversation
    conversation = server_side(conversation_with, shop.web_inbox, ContactFactory(name="Tess Timer"), body="Hurry!")
    row = page.locator(f'#conv-list .conv-item[data-id="{conversation.pk}"] .sla-countdown')
    expect(row).to_contain_text("First response due in")
    expect(row).to_have_attribute("data-state", "ok")
    page.click(f'#conv-list .conv-item[data-id="{conversation.pk}"]')
    head = page.locator("#convo-badges .sla-countdown")
    expect(head).to_contain_text("First response due in")
    # then at 75 % it turns amber, the server's warning reaches the timeline and the agent
    expect(head).to_have_attribute("data-state", "warning", timeout=10_000)
    expect(page.locator("#timeline .event-sla_warning")).to_contain_text("SLA warning: First response", timeout=10_000)
    # and at the due time it breaches, live
    expect(head).to_have_attribute("data-state", "breached", timeout=10_000)
    expect(page.locator("#timeline .event-sla_breached")).to_contain_text("SLA breached", timeout=10_000)
    expect(row).to_contain_text("overdue by")
    screenshot(page, "breached")
    kinds = set(ConversationEvent.objects.filter(conversation_id=conversation.pk).values_list("kind", flat=True))
    assert {"sla_warning", "sla_breached"} <= kinds

    # when the agent sets it to wait on the customer, the clocks stand still
    page.click("#act-pending")
    expect(page.locator("#convo-badges")).to_contain_text("pending")
    expect(head).to_have_attribute("data-state", "paused")
    expect(head).to_have_text("First response: paused")
    expect(page.locator("#timeline .event-pending")).to_contain_text("Waiting on the customer")
    assert Conversation.objects.get(pk=conversation.pk).status == "pending"


def test_outside_business_hours_the_widget_says_when_the_team_is_back_in_the_visitors_language(
    shop, new_page, screenshot
):
    # given the website inbox closed for a holiday until 3 hours from now
    now = datetime.now(UTC)
    shop.web_inbox.business_hours = {
        "time_zone": "UTC",
        "days": {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
        "holidays": [
            {
                "start": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
                "end": (now + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"),
            }
        ],
    }
    shop.web_inbox.save(update_fields=["business_hours"])
    # when a Spanish-speaking visitor opens the widget
    page = new_page(locale="es-ES")
    page.goto(f"{shop.url}/demo/")
    widget = page.locator("cxhub-widget")
    widget.locator("button.launcher").click()
    # then under the greeting it says, in Spanish, when the team is back
    notice = widget.locator(".closed-notice")
    expect(notice).to_contain_text("Ahora no estamos disponibles. Volveremos el")
    screenshot(page, "closed")
    assert page.errors == []
