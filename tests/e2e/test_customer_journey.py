"""The customer's whole journey on /demo/, in Chromium, with an agent in the console beside them:
pre-chat form, messages, the agent's reply, resolution, the survey card in the shared wording,
the answer, and the agent seeing it."""

import re

import pytest
from playwright.sync_api import expect

from chat.models import Contact
from feedback.models import SurveyResponse
from feedback.questions import QUESTIONS, SURVEY_TITLE

from .conftest import log_in
from .test_live_chat import send_from_widget

pytestmark = pytest.mark.slow


def test_pre_chat_to_survey_answer_seen_by_the_agent(shop, new_page, screenshot):
    # given a shop whose widget asks who you are first, and an agent in the console
    shop.web_inbox.prechat_form = True
    shop.web_inbox.save()
    agent = new_page(viewport={"width": 1400, "height": 850})
    log_in(agent, shop)
    expect(agent.locator("body")).to_have_attribute("data-live", "connected")

    # when a customer opens the chat on the shop page, they are asked their name and email first
    customer = new_page()
    customer.goto(f"{shop.url}/demo/")
    widget = customer.locator("cxhub-widget")
    widget.locator("button.launcher").click()
    prechat = widget.locator("form.prechat")
    expect(prechat).to_be_visible()
    expect(widget.locator(".composer")).to_be_hidden()
    screenshot(customer, "1-prechat")
    prechat.locator("input[name=name]").fill("Kim Novak")
    prechat.locator("input[name=email]").fill("kim@example.com")
    prechat.get_by_role("button", name="Start chat").click()
    expect(prechat).to_have_count(0)

    # and write two messages
    send_from_widget(widget, "Hello! I ordered the trail backpack last week.")
    send_from_widget(widget, "Can I still change the colour?")

    # then the agent sees the conversation live, under the name the customer gave
    item = agent.locator(".conv-item", has_text="Kim Novak").first
    expect(item).to_be_visible()
    item.click()
    expect(agent.locator("#timeline .msg.in .bubble")).to_have_text(
        ["Hello! I ordered the trail backpack last week.", "Can I still change the colour?"]
    )
    contact = Contact.objects.get(name="Kim Novak")
    assert contact.identities.filter(kind="email", value="kim@example.com", verified=False).exists()

    # when the agent replies, the customer sees it with the agent's name (and the link is clickable)
    agent.fill("#reply", "Yes! Pick the new colour here: https://shop.example/orders/77 and I will swap it.")
    agent.click("#send-reply")
    reply = widget.locator(".msg.theirs", has_text="Pick the new colour")
    expect(reply).to_be_visible()
    expect(reply.locator(".sender")).to_have_text("Alice Agent")
    expect(reply.locator(".bubble a")).to_have_attribute("href", "https://shop.example/orders/77")
    send_from_widget(widget, "Done, thank you!")
    screenshot(customer, "2-chat")

    # when the agent resolves the conversation
    agent.click("#act-resolve")
    expect(agent.locator("#convo-badges")).to_contain_text("resolved")

    # then the customer is told, and a survey card asks the questions in the shared wording
    expect(widget.locator(".closed-note .bubble")).to_have_text("This conversation was closed. Write again any time.")
    card = widget.locator("form.survey")
    expect(card).to_be_visible()
    expect(card.locator("h3")).to_have_text(str(SURVEY_TITLE))
    csat, ces, comment = QUESTIONS["csat"], QUESTIONS["ces"], QUESTIONS["comment"]
    expect(card.locator("legend")).to_have_text([str(csat.text), str(ces.text)])
    ends = [f"{csat.low_label}{csat.high_label}", f"{ces.low_label}{ces.high_label}"]
    expect(card.locator(".scale-ends")).to_have_text(ends)
    expect(card.locator("fieldset").nth(1).locator("button")).to_have_count(7)
    expect(card.locator("label:has(textarea)")).to_have_text(str(comment.text))
    screenshot(customer, "3-survey-card")

    # when they answer it
    card.locator("fieldset").nth(0).get_by_role("button", name=re.compile(r"^5 of 5")).click()
    card.locator("fieldset").nth(1).get_by_role("button", name=re.compile(r"^6 of 7")).click()
    card.locator("textarea").fill("Swapped in a minute, great!")
    card.get_by_role("button", name="Send my answer").click()

    # then the card thanks them, the answer is stored, and the agent sees it on the conversation
    expect(widget.locator(".thanks", has_text="Thank you for your feedback")).to_be_visible()
    screenshot(customer, "4-thanks")
    expect(agent.locator("#timeline .survey-inline")).to_contain_text("CSAT 5/5 · CES 6/7")
    expect(agent.locator("#timeline .survey-inline")).to_contain_text("Swapped in a minute, great!")
    screenshot(agent, "5-agent-sees-the-answer")
    response = SurveyResponse.objects.get()
    assert (response.csat, response.ces, response.comment, response.channel) == (
        5,
        6,
        "Swapped in a minute, great!",
        "web",
    )
    assert response.invitation.agent_id == shop.agent_user.pk  # the agent who resolved gets the credit
    assert customer.errors == [] and agent.errors == []
