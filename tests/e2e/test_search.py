"""Search in Chromium: the list's box, Enter, highlighted messages, contacts and subjects; a bad
search says why; a hit opens its conversation."""

import pytest
from playwright.sync_api import expect

from chat import services
from tests.factories import ContactFactory, InboxFactory, conversation_with

from .conftest import log_in

pytestmark = pytest.mark.slow


def test_an_agent_searches_everything_from_one_box(shop, new_page, screenshot):
    # given conversations in the agent's inbox (one in Chinese, one whose body is markup) and another inbox's
    wang = ContactFactory(name="Wang Fang", email="wang@example.cn")
    chinese = conversation_with(shop.web_inbox, wang, body="你好，我想申请退款，包裹坏了")
    conversation_with(shop.web_inbox, body='<img src=x onerror="window.__pwned=1"> refund for the broken vase')
    services.message_receive(
        inbox=shop.web_inbox, contact=ContactFactory(), channel="web", body="hi", subject="Refund overdue"
    )
    conversation_with(InboxFactory(), body="refund of another inbox")
    page = new_page(viewport={"width": 1400, "height": 850})
    log_in(page, shop)
    box = page.locator("#search")

    # when the agent searches in Chinese
    box.fill("退款")
    box.press("Enter")
    # then the message is there with the match marked; opening it shows the conversation
    results = page.locator("#search-results")
    expect(results.locator("mark").first).to_have_text("退款")
    results.locator(".search-hit").first.click()
    page.wait_for_url(f"**/console/c/{chinese.pk}/")
    expect(page.locator("#timeline")).to_contain_text("我想申请退款")

    # when they search a word that is in bodies, a subject and not in the other inbox's for them
    box = page.locator("#search")
    box.fill("refund")
    box.press("Enter")
    expect(results).to_contain_text("Messages (1)")
    expect(results).to_contain_text("Subjects (1)")
    expect(results).not_to_contain_text("another inbox")
    expect(results.locator(".search-hit", has_text="broken vase")).to_contain_text(
        '<img src=x onerror="window.__pwned=1">'
    )
    screenshot(page, "results")

    # and a contact by email
    box.fill("wang@example")
    box.press("Enter")
    expect(results).to_contain_text("Contacts (1)")
    expect(results.locator(".search-hit mark", has_text="example")).to_be_visible()

    # when the search is malformed, the reason shows; Escape closes the results
    box.fill('"refund')
    box.press("Enter")
    expect(results.locator("[role=alert]")).to_contain_text("not closed")
    box.press("Escape")
    expect(results).to_be_hidden()
    assert page.evaluate("() => window.__pwned") is None
    assert page.errors == []
