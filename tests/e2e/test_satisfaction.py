"""Predicted satisfaction in Chromium: the dashboard's estimate with its interval and evaluation, the
refusal explained, "Train now", and "likely unhappy" in the console for supervisors only."""

import re

import pytest
from playwright.sync_api import expect

from chat import services
from feedback import predictions
from tests.factories import SupervisorFactory, UserFactory, conversation_with
from tests.feedback.satisfaction_helpers import answered_history

from .conftest import log_in, server_side

pytestmark = pytest.mark.slow

MINIMUM = 80


@pytest.fixture
def supervisor(shop):
    return SupervisorFactory(user=UserFactory(username="sam"), display_name="Sam Supervisor").user


def trained(shop, *, silent: int = 0):
    """A history of answered conversations whose scores follow the customer's words, a model trained
    on it, and `silent` resolved conversations of angry customers who did not answer."""

    def build():
        answered_history(100, inbox=shop.web_inbox, agent=shop.agent_user, agreement=0.95)
        run = predictions.model_train(trigger="test", minimum=MINIMUM)
        for _ in range(silent):
            conversation = conversation_with(shop.web_inbox, body="This is terrible, nobody helps me. I am angry.")
            services.conversation_resolve(conversation=conversation, by=shop.agent_user)
        return run

    run = server_side(build)
    assert run.status == "promoted", run.reason
    return run


def test_the_dashboard_shows_the_estimate_with_its_interval_and_evaluation(shop, supervisor, new_page, screenshot):
    # given 100 answered conversations, a model trained on them, and 8 silent angry customers
    run = trained(shop, silent=8)
    page = new_page(viewport={"width": 1400, "height": 1000})
    log_in(page, shop, "sam")
    # when the supervisor opens the dashboard
    page.goto(f"{shop.url}/console/dashboard/")
    expect(page.locator("body")).to_have_attribute("data-satisfaction", "ready")
    section = page.locator("#satisfaction")
    # then the estimate covers every resolved conversation, with its 95 % interval
    expect(section.locator("#sat-estimate")).to_have_text(re.compile(r"^\d+\.\d %$"))
    expect(section.locator("#sat-interval")).to_have_text(re.compile(r"95 % interval \d+\.\d % – \d+\.\d %"))
    expect(section.locator("#sat-coverage")).to_have_text("108 resolved: 100 answered, 8 predicted, 0 neither")
    # and the silent customers are predicted less satisfied than those who answered
    expect(section.locator("#sat-respondents")).to_contain_text("Non-respondents:")
    # and the model's evaluation is beside it, against the average-only baseline
    evaluation = section.locator("#sat-evaluation")
    expect(evaluation).to_contain_text(f"Model v{run.pk}")
    expect(evaluation).to_contain_text(f"Evaluated on the {run.evaluation['holdout_answers']} newest answers")
    expect(evaluation.locator("tr", has_text="AUC")).to_contain_text(f"{run.evaluation['auc']:.3f}")
    expect(evaluation.locator("tr", has_text="AUC")).to_contain_text("0.500")
    expect(evaluation.locator("table.sat-calibration")).to_be_visible()
    # and predicted beside answered figures by channel
    expect(section.locator('table[data-breakdown="channel"] tbody tr')).to_have_count(1)
    screenshot(page, "estimate")
    assert page.errors == []


def test_too_few_answers_the_dashboard_says_why_and_a_supervisor_can_train(shop, supervisor, new_page, screenshot):
    # given only 12 answered conversations
    server_side(answered_history, 12, inbox=shop.web_inbox, agent=shop.agent_user)
    page = new_page(viewport={"width": 1400, "height": 1000})
    log_in(page, shop, "sam")
    page.goto(f"{shop.url}/console/dashboard/")
    expect(page.locator("body")).to_have_attribute("data-satisfaction", "unavailable")
    explanation = page.locator("#sat-explanation")
    # then there is no estimate, and the page says why
    expect(explanation).to_contain_text("No estimate for the silent customers yet")
    expect(explanation).to_contain_text("No model has been trained yet (12 answered conversations")
    expect(page.locator("#sat-estimate")).to_have_count(0)
    # when the supervisor trains now
    page.locator("#sat-train").click()
    # then the training declines, and the page says that instead
    expect(explanation).to_contain_text("Only 12 answered conversations to learn from; the model needs at least 200")
    screenshot(page, "declined")
    assert page.errors == []


def test_the_console_shows_likely_unhappy_to_supervisors_not_agents(shop, supervisor, new_page, screenshot):
    # given a trained model, and an angry customer waiting in an open conversation
    trained(shop)
    angry = server_side(conversation_with, shop.web_inbox, body="This is terrible. Nobody helps me and I am angry!")
    # when the supervisor opens the console
    page = new_page(viewport={"width": 1400, "height": 900})
    log_in(page, shop, "sam")
    item = page.locator(f'.conv-item[data-id="{angry.pk}"]')
    # then the conversation is marked "likely unhappy" in the list, before anyone asked
    expect(item.locator(".badge-unhappy")).to_have_text("likely unhappy")
    # and opening it shows the prediction and the three features that weigh most
    item.click()
    panel = page.locator("#convo-prediction")
    expect(panel).to_contain_text("Predicted satisfaction")
    expect(panel.locator(".badge-unhappy")).to_have_text("likely unhappy")
    expect(panel.locator(".prediction-reasons li")).to_have_count(3)
    expect(panel).to_contain_text("Customer's words")
    screenshot(page, "supervisor")
    assert page.errors == []

    # when the inbox's agent opens the same conversation
    agent_page = new_page(viewport={"width": 1400, "height": 900})
    log_in(agent_page, shop, "alice")
    agent_item = agent_page.locator(f'.conv-item[data-id="{angry.pk}"]')
    expect(agent_item).to_be_visible()
    agent_item.click()
    expect(agent_page.locator("#convo-title")).not_to_be_empty()
    # then they see neither the badge nor the prediction (a supervisor's aid)
    expect(agent_page.locator(".badge-unhappy")).to_have_count(0)
    expect(agent_page.locator("#convo-prediction")).to_have_count(0)
    assert agent_page.errors == []
