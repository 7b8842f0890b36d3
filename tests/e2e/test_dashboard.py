"""The metrics dashboard in Chromium: filter chips, inline date errors, changes in points, live figures."""

import re

import pytest
from playwright.sync_api import expect

from chat.models import InboxMembership
from feedback.models import SurveyPolicy
from tests.factories import AgentFactory, EmailInboxFactory, SupervisorFactory, UserFactory

from .conftest import log_in
from .surveys import answer, answered_days_ago, resolved_with_invitation

pytestmark = pytest.mark.slow

MINUS = "\N{MINUS SIGN}"


@pytest.fixture
def supervisor(shop):
    return SupervisorFactory(user=UserFactory(username="sam"), display_name="Sam Supervisor").user


def open_dashboard(page, shop, query: str = ""):
    page.goto(f"{shop.url}/console/dashboard/{query}")
    expect(page.locator("body")).to_have_attribute("data-dashboard", "ready")


def kpi(page, metric: str):
    return page.locator(f'#kpis .kpi[data-metric="{metric}"]').first


def test_filters_are_the_consoles_chips_and_survive_apply(shop, supervisor, new_page, screenshot):
    # given a supervisor on the dashboard, with a web and an email inbox
    EmailInboxFactory(name="Support email")
    page = new_page(viewport={"width": 1400, "height": 900})
    log_in(page, shop, "sam")
    open_dashboard(page, shop)
    channel = page.locator("details[data-filter=channel]")
    # then each filter is a chip like the console's, not a list box
    assert page.locator(".dash-filters select[multiple]").count() == 0
    for key, label in (("inbox", "Inbox"), ("agent", "Agent"), ("team", "Team"), ("channel", "Channel")):
        expect(page.locator(f"details[data-filter={key}] summary")).to_have_text(label)
    expect(channel.locator(".menu")).to_be_hidden()

    # when they open the channel chip and tick Email, then Web chat
    channel.locator("summary").click()
    channel.get_by_label("Email").check()
    # then the chip says what is selected, as in the console
    expect(channel.locator("summary")).to_have_text("Channel: Email")
    channel.get_by_label("Web chat").check()
    expect(channel.locator("summary")).to_have_text("Channel: Web chat, Email")
    screenshot(page, "chip-open")
    # and Escape closes the menu
    page.keyboard.press("Escape")
    expect(channel.locator(".menu")).to_be_hidden()

    # when they open the inbox chip and click elsewhere, it closes too
    page.locator("details[data-filter=inbox] summary").click()
    expect(page.locator("details[data-filter=inbox] .menu")).to_be_visible()
    page.locator("h1").click()
    expect(page.locator("details[data-filter=inbox] .menu")).to_be_hidden()

    # when they apply
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"channel=web.*channel=email|channel=email.*channel=web"))
    expect(page.locator("body")).to_have_attribute("data-dashboard", "ready")
    # then the page comes back with the same choice, ticked and named in the chip
    expect(channel.locator("summary")).to_have_text("Channel: Web chat, Email")
    expect(channel.locator("summary")).to_have_class(re.compile(r"\bactive\b"))
    expect(channel.get_by_label("Email")).to_be_checked()
    expect(channel.get_by_label("SMS")).not_to_be_checked()
    assert "channel=email" in page.locator("a", has_text="Export CSV").get_attribute("href")
    screenshot(page, "applied")
    assert page.errors == []


@pytest.mark.parametrize(
    ("query", "message", "invalid"),
    [
        ("?from=2026-03-10&to=2026-03-01", "on or before", "from"),
        ("?from=yesterday", "Not a date", "from"),
        ("?from=2020-01-01&to=2026-03-01", "at most 731 days", "to"),
    ],
    ids=["from-after-to", "malformed", "too-long"],
)
def test_a_bad_date_range_is_an_inline_error_and_the_page_stays(
    shop, supervisor, new_page, screenshot, query, message, invalid
):
    # given a supervisor who filtered on a channel
    page = new_page(viewport={"width": 1400, "height": 900})
    log_in(page, shop, "sam")

    # when they open the dashboard with a bad period (a typed URL, an old bookmark)
    page.goto(f"{shop.url}/console/dashboard/{query}&channel=web")

    # then the error sits next to the dates, the fields say they are invalid, and the rest of the
    # page is there: chips (with the channel kept), figures of the default period, charts
    error = page.locator("#date-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text(message)
    expect(page.locator(".dash-dates")).to_contain_text(message)
    expect(page.locator(".dash-dates input[aria-invalid=true]")).to_have_count(1)
    expect(page.locator(f"input[name={invalid}]")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(f"input[name={invalid}]")).to_have_attribute("aria-describedby", "date-error")
    expect(page.locator("details[data-filter=channel] summary")).to_have_text("Channel: Web chat")
    expect(page.locator("body")).to_have_attribute("data-dashboard", "ready")
    expect(kpi(page, "csat_percent")).to_be_visible()
    expect(page.locator("#chart-trend")).to_be_visible()
    screenshot(page, "inline-error")
    # and the API keeps its JSON 400 for the same filters
    api = page.request.get(f"{shop.url}/api/v1/metrics/summary/{query}")
    assert api.status == 400
    assert api.json()["error"]["code"] in {"invalid", "period_too_long"}
    assert page.errors == []


def test_a_from_after_to_typed_in_the_form_is_refused_inline(shop, supervisor, new_page):
    # given the dashboard
    page = new_page(viewport={"width": 1400, "height": 900})
    log_in(page, shop, "sam")
    open_dashboard(page, shop)
    # when the supervisor types a start after the end and applies
    page.fill("input[name=from]", "2026-03-10")
    page.fill("input[name=to]", "2026-03-01")
    page.get_by_role("button", name="Apply").click()
    # then the error is next to the dates; the figures are still on the page
    expect(page.locator("#date-error")).to_contain_text("on or before")
    expect(page.locator("input[name=from]")).to_have_value("2026-03-10")
    expect(kpi(page, "csat_percent")).to_be_visible()


def test_changes_read_in_points_for_percentages_and_in_their_own_units(shop, supervisor, new_page, screenshot):
    # given answers 40 days ago (CSAT 5, CES 6, NPS 10) and today (5/7/10 and 1/3/0)
    SurveyPolicy.objects.create(inbox=shop.web_inbox, questions=["csat", "ces", "nps", "comment"])
    alice = shop.agent_user
    answered_days_ago(shop.web_inbox, alice, 40, csat=5, ces=6, nps=10)
    for scores in ({"csat": 5, "ces": 7, "nps": 10}, {"csat": 1, "ces": 3, "nps": 0}):
        _, token = resolved_with_invitation(shop.web_inbox, alice)
        answer(token, **scores)
    page = new_page(viewport={"width": 1400, "height": 900})
    log_in(page, shop, "sam")

    # when the supervisor compares the last 30 days with the 30 before
    open_dashboard(page, shop)

    # then a percentage's change is in percentage points, with a real minus sign
    expect(kpi(page, "csat_percent").locator(".kpi-value")).to_have_text("50.0 %")
    expect(kpi(page, "csat_percent").locator(".kpi-trend")).to_have_text(f"▼ {MINUS}50.0 pp vs 100.0 %")
    expect(kpi(page, "response_rate").locator(".kpi-trend")).to_have_text("■ 0.0 pp vs 100.0 %")
    # an average's in its own unit, NPS in points of NPS
    expect(kpi(page, "ces_average").locator(".kpi-trend")).to_have_text(f"▼ {MINUS}1.00 vs 6.00")
    expect(kpi(page, "nps").locator(".kpi-value")).to_have_text("0")
    expect(kpi(page, "nps").locator(".kpi-trend")).to_have_text(f"▼ {MINUS}100 vs 100")
    # and no change anywhere reads as a percentage or with a hyphen for a minus
    for trend in page.locator("#kpis .kpi-trend").all_text_contents():
        change = trend.split(" vs ")[0]
        assert "%" not in change and "-" not in change, trend
    screenshot(page, "changes")
    assert page.errors == []


def test_figures_refresh_live_as_answers_arrive_and_keep_the_filters(shop, supervisor, new_page, screenshot):
    # given an email inbox beside the web one, and a happy web customer already counted
    email = EmailInboxFactory(name="Support email")
    InboxMembership.objects.create(user=shop.agent_user, inbox=email)
    alice = shop.agent_user
    _, token = resolved_with_invitation(shop.web_inbox, alice, name="Happy Web")
    answer(token, csat=5)
    _, web_token = resolved_with_invitation(shop.web_inbox, alice, name="Grumpy Web")
    # and a supervisor watching the web channel's figures
    page = new_page(viewport={"width": 1400, "height": 900})
    log_in(page, shop, "sam")
    open_dashboard(page, shop, "?channel=web")
    csat = kpi(page, "csat_percent").locator(".kpi-value")
    expect(csat).to_have_text("100.0 %")
    page.evaluate("window.__sameDocument = true")
    # (a chip ticked but not applied yet stays ticked through the refresh)
    page.locator("details[data-filter=inbox] summary").click()
    page.locator("details[data-filter=inbox]").get_by_label("Support email").check()
    page.keyboard.press("Escape")

    # when a web customer answers with a detractor score
    answer(web_token, csat=1, comment="Too slow")

    # then the CSAT figure changes without a reload, for the same filters
    expect(csat).to_have_text("50.0 %")
    assert page.evaluate("window.__sameDocument") is True
    expect(page.locator("details[data-filter=channel] summary")).to_have_text("Channel: Web chat")
    expect(page.locator("details[data-filter=inbox] summary")).to_have_text("Inbox: Support email")
    screenshot(page, "refreshed")

    assert page.errors == []


def test_an_agents_dashboard_shows_their_own_figures_live(shop, new_page):
    # given an agent with their own answered survey, on their "My figures" page
    bob = AgentFactory(user=UserFactory(username="bob"), display_name="Bob Agent", inboxes=[shop.web_inbox]).user
    _, token = resolved_with_invitation(shop.web_inbox, bob)
    answer(token, csat=4)
    _, second = resolved_with_invitation(shop.web_inbox, bob)
    page = new_page(viewport={"width": 1400, "height": 900})
    log_in(page, shop, "bob")
    open_dashboard(page, shop)
    expect(page.locator("h1")).to_have_text("My figures")
    csat = kpi(page, "csat_percent").locator(".kpi-value")
    expect(csat).to_have_text("100.0 %")
    # when their second customer answers badly, the figure follows
    answer(second, csat=2)
    expect(csat).to_have_text("50.0 %")
    assert page.errors == []
