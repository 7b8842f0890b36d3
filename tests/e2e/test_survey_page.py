"""The survey page /s/<token>/ in Chromium, reached the ways a customer reaches it: a one-click link
in the survey email (a browser with no cookies), the widget's "Answer later" link, a bad link."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from chat import services
from feedback.models import SurveyInvitation, SurveyResponse
from feedback.questions import QUESTIONS, SURVEY_TITLE
from tests.factories import EmailInboxFactory, agent_user, contact_with, conversation_with

from .conftest import server_side
from .test_live_chat import open_widget, send_from_widget

pytestmark = pytest.mark.slow

SAVED = re.compile(r"^Thank you for your feedback! You can change your answer until .+\.$")


@pytest.fixture
def public_url(settings, live_server_url):
    """Links in surveys point at the live server (PUBLIC_URL is the address customers use)."""
    settings.PUBLIC_URL = live_server_url
    return live_server_url


def email_survey_resolved(inbox, address: str):
    """A customer emailed, an agent answered and resolved: the survey email leaves (real email code)."""
    agent = agent_user(inbox)
    contact = contact_with("email", address, name="Ana")
    conversation = conversation_with(inbox, contact, body="My invoice is wrong.")
    services.message_send(conversation=conversation, by=agent, body="Fixed, a new one is on its way.")
    services.conversation_resolve(conversation=conversation, by=agent)
    return conversation


def one_click_links(message) -> list[str]:
    """The score links of the survey email's HTML part, as a mail client shows them."""
    html = message.alternatives[0][0]
    links = [link.replace("&amp;", "&") for link in re.findall(r'<a href="([^"]+\?csat=\d+)"', html)]
    assert links and all(link in message.body for link in links)  # the text part has the same ones
    return links


def choose(page, key: str, score: int) -> None:
    page.locator(f'input[name="{key}"][value="{score}"]').check()


def test_a_one_click_email_link_opens_the_page_and_the_answer_is_saved_then_changed(public_url, new_page, screenshot):
    # given a resolved email conversation: the survey email went out with one-click score links
    inbox = EmailInboxFactory(name="Acme Support")
    conversation = server_side(email_survey_resolved, inbox, "ana@example.com")
    [survey_mail] = [m for m in mail.outbox if m.to == ["ana@example.com"] and "/s/" in m.body]
    five = one_click_links(survey_mail)[4]
    assert five.startswith(f"{public_url}/s/") and five.endswith("?csat=5")

    # when the customer clicks "5" in their mail client (a browser with no cookies of ours)
    page = new_page()
    assert page.context.cookies() == []
    opened = page.goto(five)

    # then the page shows the questions with 5 chosen, and nothing is recorded yet
    assert opened.status == 200
    expect(page.locator("h1")).to_have_text(str(SURVEY_TITLE))
    expect(page.locator("#q-csat legend")).to_have_text(str(QUESTIONS["csat"].text))
    expect(page.locator('input[name="csat"][value="5"]')).to_be_checked()
    assert not SurveyResponse.objects.exists()
    screenshot(page, "1-from-email")

    # when they also rate the effort, add a comment and send
    choose(page, "ces", 6)
    page.fill("#comment", "Quick & kind <b>thanks</b>")
    page.get_by_role("button", name="Send my answer").click()

    # then the page says it is saved, and the answer is stored on the email channel
    expect(page.locator(".notice-ok")).to_have_text(SAVED)
    expect(page.locator('input[name="csat"][value="5"]')).to_be_checked()
    response = SurveyResponse.objects.get()
    assert (response.csat, response.ces, response.comment, response.channel) == (
        5,
        6,
        "Quick & kind <b>thanks</b>",
        "email",
    )
    assert response.invitation.conversation_id == conversation.pk
    first_answered_at = response.answered_at
    screenshot(page, "2-saved")

    # when they change their mind within 24 hours, on the same page
    choose(page, "csat", 4)
    page.get_by_role("button", name="Update my answer").click()

    # then the same answer is updated (one response, first answered time kept)
    expect(page.locator(".notice-ok")).to_have_text(SAVED)
    expect(page.locator('input[name="csat"][value="4"]')).to_be_checked()
    response = SurveyResponse.objects.get()
    assert (response.csat, response.ces, response.comment) == (4, 6, "Quick & kind <b>thanks</b>")
    assert response.answered_at == first_answered_at and response.updated_at > first_answered_at
    screenshot(page, "3-changed")
    assert page.errors == []


def test_the_widgets_answer_later_link_opens_the_page_and_the_card_says_thanks(shop, public_url, new_page, screenshot):
    # given a chat the agent answered and resolved: the widget shows the survey card
    customer = new_page()
    widget = open_widget(customer, shop)
    send_from_widget(widget, "Is the blue one in stock?")
    conversation = shop.web_inbox.conversations.get()
    server_side(services.message_send, conversation=conversation, by=shop.agent_user, body="Yes, 4 left.")
    server_side(services.conversation_resolve, conversation=conversation, by=shop.agent_user)
    card = widget.locator("form.survey")
    expect(card).to_be_visible()

    # when the customer follows "Answer later on the survey page"
    with customer.context.expect_page() as opened:
        card.get_by_role("link", name="Answer later on the survey page").click()
    page = opened.value
    page.wait_for_load_state()

    # then the page asks the same questions, and answering it there is saved
    assert re.fullmatch(rf"{re.escape(public_url)}/s/[\w-]+/", page.url)
    legends = [page.locator(f"#q-{key} legend").inner_text() for key in ("csat", "ces")]
    assert legends == card.locator("legend").all_inner_texts()
    choose(page, "csat", 4)
    choose(page, "ces", 5)
    page.get_by_role("button", name="Send my answer").click()
    expect(page.locator(".notice-ok")).to_have_text(SAVED)
    response = SurveyResponse.objects.get()
    assert (response.csat, response.ces, response.channel) == (4, 5, "web")
    screenshot(page, "page")

    # and the widget's card turns into thanks
    expect(widget.locator(".thanks", has_text="Thank you for your feedback")).to_be_visible()
    expect(card).to_have_count(0)
    screenshot(customer, "widget-thanks")
    assert customer.errors == []


def test_a_bad_or_expired_link_gets_a_friendly_page(public_url, new_page, screenshot):
    # given a customer whose link is mangled (or forged)
    page = new_page()

    # when they open it
    response = page.goto(f"{public_url}/s/this-is-not-a-real-survey-token/?csat=5")

    # then a friendly 404 page says so and where to turn
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("Survey not found")
    expect(page.locator("main")).to_contain_text("This survey link is not valid.")
    expect(page.locator("main")).to_contain_text("If you still need help, just reply to our last message")
    expect(page.locator("form")).to_have_count(0)
    screenshot(page, "404")

    # and an expired one gets its own friendly page (410)
    inbox = EmailInboxFactory(name="Acme Support")
    server_side(email_survey_resolved, inbox, "old@example.com")
    [survey_mail] = [m for m in mail.outbox if m.to == ["old@example.com"] and "/s/" in m.body]
    SurveyInvitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    response = page.goto(one_click_links(survey_mail)[0])
    assert response.status == 410
    expect(page.locator("h1")).to_have_text("This survey is closed")
    expect(page.locator("main")).to_contain_text("This survey has expired.")
    assert not SurveyResponse.objects.exists()
    assert page.errors == []
