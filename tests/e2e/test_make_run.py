"""`make run` as a newcomer runs it, on ports that are not 8000, driven in Chromium.

One `make run PORT=<free> SMTP_PORT=<free>` for the module: the embedded default (a SQLite file of
its own, no DATABASE_URL or REDIS_URL, nothing else started), seeded with the demo. The journeys
below use it as a person would: the start page, a customer on /demo/, an agent in the console,
email through smtplib to its SMTP port, SMS through `manage.py simulate_sms`, a survey answered
from the link in the email, and a snooze that ends on time.
"""

import os
import quopri
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
import urllib.request
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.chat.channel_helpers import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "cxhub-demo-2026"
# what `make run` must not inherit from the test run: it is the embedded default
NOT_INHERITED = ("DATABASE_URL", "REDIS_URL", "CHANNEL_LAYER_PREFIX", "CELERY_QUEUE", "TEST_DATABASE_NAME",
                 "DJANGO_ALLOW_ASYNC_UNSAFE", "PUBLIC_URL", "SQLITE_PATH")  # fmt: skip


class Demo:
    def __init__(self, url: str, smtp_port: int, log: Path, env: dict):
        self.url, self.smtp_port, self.log, self.env = url, smtp_port, log, env

    def output(self) -> str:
        """What `make run` printed so far (emails and the SMS outbox among it), soft line breaks undone."""
        return quopri.decodestring(self.log.read_bytes()).decode(errors="replace")

    def wait_for_output(self, pattern: str, *, after: int = 0, timeout: float = 20) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.compile(pattern).search(self.output(), after)
            if found:
                return found
            time.sleep(0.2)
        raise AssertionError(f"`make run` never printed {pattern!r}; last output:\n{self.output()[-3000:]}")

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=60
        )


@pytest.fixture(scope="module")
def demo():
    port, smtp_port = free_port(), free_port()
    assert 8000 not in (port, smtp_port)
    folder = Path(tempfile.mkdtemp(prefix="cxhub-make-run-"))
    env = {key: value for key, value in os.environ.items() if key not in NOT_INHERITED}
    env["SQLITE_PATH"] = str(folder / "demo.sqlite3")
    log = folder / "make-run.log"
    process = subprocess.Popen(
        ["make", "run", f"PORT={port}", f"SMTP_PORT={smtp_port}"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        if process.poll() is not None:
            raise AssertionError(f"make run stopped ({process.returncode}):\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"make run did not serve within 300 s:\n{log.read_text()[-4000:]}")
        time.sleep(0.5)
    yield Demo(url, smtp_port, log, {**env, "PUBLIC_URL": url})
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
    shutil.rmtree(folder, ignore_errors=True)


def log_in(page, demo, username: str = "alice"):
    page.goto(f"{demo.url}/console/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{demo.url}/console/")
    expect(page.locator("body")).to_have_attribute("data-live", "connected")


def open_conversation(agent, who: str):
    item = agent.locator(".conv-item", has_text=who).first
    expect(item).to_be_visible(timeout=20_000)
    item.click()
    expect(agent.locator("#convo-title")).to_contain_text(who)


def agent_replies(agent, text: str):
    agent.fill("#reply", text)
    agent.click("#send-reply")
    expect(agent.locator("#timeline .msg.out .bubble", has_text=text)).to_be_visible()


def customer_writes(new_page, demo, name: str, email: str, text: str):
    """A visitor opens /demo/, fills the pre-chat form and sends `text`: their page and widget."""
    customer = new_page()
    customer.goto(f"{demo.url}/demo/")
    widget = customer.locator("cxhub-widget")
    widget.locator("button.launcher").click()
    prechat = widget.locator("form.prechat")
    prechat.locator("input[name=name]").fill(name)
    prechat.locator("input[name=email]").fill(email)
    prechat.locator("button[type=submit]").click()
    widget.locator(".composer textarea").fill(text)
    widget.locator(".composer textarea").press("Enter")
    return customer, widget


def send_mail(
    demo, *, sender: str, to: str, subject: str, text: str, in_reply_to: str | None = None, headers: dict | None = None
) -> str:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, to, subject
    mail["Message-ID"] = make_msgid(domain="example.com")
    if in_reply_to:
        mail["In-Reply-To"] = mail["References"] = in_reply_to
    mail.set_content(text)
    for name, value in (headers or {}).items():  # after set_content, which clears Content-* headers
        mail[name] = value
    with smtplib.SMTP("127.0.0.1", demo.smtp_port, timeout=10) as smtp:
        smtp.send_message(mail)
    return mail["Message-ID"]


def test_the_start_page_lists_everything_on_its_own_port(demo, new_page, screenshot):
    page = new_page()
    page.goto(f"{demo.url}/")
    for name in ["Widget demo", "Agent console", "Dashboard", "Admin", "API docs"]:
        expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(page.locator("table.logins")).to_contain_text("alice")
    screenshot(page, "start")
    assert page.errors == []


def test_a_customer_on_the_demo_page_chats_with_an_agent(demo, new_page, screenshot):
    # given alice in the console
    agent = new_page(viewport={"width": 1400, "height": 850})
    log_in(agent, demo)
    # when a customer opens /demo/ on this port, fills the pre-chat form and writes
    customer, widget = customer_writes(new_page, demo, "Paula Port", "paula@example.com", "Hello from another port!")
    expect(widget.locator(".msg.mine", has_text="another port")).not_to_have_class(re.compile(r"\bpending\b"))
    # then the agent sees it live and replies, and the customer reads the reply
    open_conversation(agent, "Paula Port")
    expect(agent.locator("#timeline .msg.in .bubble")).to_have_text("Hello from another port!")
    agent_replies(agent, "Hi Paula, happy to help.")
    expect(widget.locator(".msg.theirs", has_text="happy to help")).to_be_visible()
    screenshot(customer, "widget")
    assert customer.errors == [] and agent.errors == []


def test_email_threads_and_its_survey_link_is_answered_in_a_fresh_browser(demo, new_page, screenshot):
    # given alice in the console, and a customer who emails the demo's support address
    agent = new_page(viewport={"width": 1400, "height": 850})
    log_in(agent, demo)
    first_id = send_mail(
        demo, sender="Nora North <nora@example.com>", to="support@acme.localhost", subject="Broken kettle",
        text="My kettle stopped working after a week.",
    )  # fmt: skip
    # then the mail appears in the console at once, and alice answers by email
    open_conversation(agent, "Nora North")
    expect(agent.locator("#timeline .msg.in .bubble")).to_contain_text("kettle stopped working")
    expect(agent.locator("#reply-channel")).to_have_value("email")
    mark = len(demo.output())
    agent_replies(agent, "Sorry Nora, a new kettle is on its way.")
    # the reply leaves by email (printed by `make run`), threaded, with a Reply-To of its conversation
    reply_to = demo.wait_for_output(r"Reply-To: (reply\+[\w-]+@cxhub\.localhost)", after=mark).group(1)
    assert first_id in demo.output()[mark:]  # In-Reply-To / References
    # when Nora answers that address, then her answer lands in the same conversation
    send_mail(
        demo, sender="Nora North <nora@example.com>", to=reply_to, subject="Re: Broken kettle",
        text="Thank you, that was quick!", in_reply_to=first_id,
    )  # fmt: skip
    expect(agent.locator("#timeline .msg.in .bubble", has_text="that was quick")).to_be_visible()

    # when alice resolves, the survey email goes out with links to this server's port
    mark = len(demo.output())
    agent.click("#act-resolve")
    link = demo.wait_for_output(rf"{re.escape(demo.url)}/s/[\w-]+/\?csat=5", after=mark).group(0)
    # then Nora opens the one-click link in a browser that has never seen cxhub (no cookies) and answers
    nora = new_page()
    nora.goto(link)
    expect(nora.locator("input[name=csat][value='5']")).to_be_checked()
    nora.locator("input[name=ces][value='6']").check()
    nora.fill("textarea[name=comment]", "Quick and kind.")
    nora.get_by_role("button", name=re.compile("Send")).click()
    expect(nora.locator(".notice-ok")).to_contain_text("Thank you")
    screenshot(nora, "survey-saved")
    assert nora.errors == [] and agent.errors == []


def test_a_chinese_visitor_and_a_russian_email_are_answered_in_their_languages(demo, new_page, screenshot):
    # given alice in the console
    agent = new_page(viewport={"width": 1400, "height": 850})
    log_in(agent, demo)
    # when a visitor whose browser asks for zh-CN opens the demo's chat
    visitor = new_page(locale="zh-CN")
    visitor.goto(f"{demo.url}/demo/")
    widget = visitor.locator("cxhub-widget")
    widget.locator("button.launcher").click()
    # then the widget speaks Chinese, from its pre-chat form on
    prechat = widget.locator("form.prechat")
    expect(prechat.locator("h3")).to_have_text("开始之前")
    prechat.locator("input[name=name]").fill("王芳")
    prechat.locator("input[name=email]").fill("wang.fang@example.cn")
    prechat.get_by_role("button", name="开始聊天").click()
    widget.locator(".composer textarea").fill("你好！我的快递到哪里了？")
    widget.locator(".composer textarea").press("Enter")
    expect(widget.locator(".msg.mine", has_text="快递")).not_to_have_class(re.compile(r"\bpending\b"))
    # when alice answers and resolves
    open_conversation(agent, "王芳")
    agent_replies(agent, "It ships tomorrow.")
    agent.click("#act-resolve")
    # then the survey card and the survey page are in Chinese
    card = widget.locator("form.survey")
    expect(card.locator("h3")).to_have_text("我们的服务怎么样？")
    screenshot(visitor, "chinese-survey-card")
    with visitor.context.expect_page() as opened:
        card.get_by_role("link", name="稍后在调查页面回答").click()
    survey = opened.value
    expect(survey.locator("h1")).to_have_text("我们的服务怎么样？")
    screenshot(survey, "chinese-survey-page")

    # when a customer whose mail client writes Russian emails the demo's support address
    send_mail(
        demo, sender="Ivan Petrov <ivan@example.ru>", to="support@acme.localhost", subject="Заказ",
        text="Где мой заказ?", headers={"Content-Language": "ru"},
    )  # fmt: skip
    open_conversation(agent, "Ivan Petrov")
    agent_replies(agent, "It ships tomorrow.")
    mark = len(demo.output())
    agent.click("#act-resolve")
    # then the survey email `make run` prints is in Russian
    demo.wait_for_output(r"Насколько вы довольны полученной помощью\?", after=mark)
    assert "Content-Language: ru" in demo.output()[mark:]
    assert visitor.errors == [] and agent.errors == []


def test_an_sms_conversation_from_the_readme_command(demo, new_page):
    # given alice in the console
    agent = new_page(viewport={"width": 1400, "height": 850})
    log_in(agent, demo)
    # when a customer texts (the README's command finds the server's port by itself)
    sent = demo.manage("simulate_sms", "--to", "+15005550006", "--from", "+14155550188", "Is my order shipped?")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert f"POST {demo.url}/hooks/twilio/" in sent.stdout
    # then it shows in the console, and the reply leaves by SMS
    open_conversation(agent, "+14155550188")
    expect(agent.locator("#reply-channel")).to_have_value("sms")
    mark = len(demo.output())
    agent_replies(agent, "Yes, it left this morning.")
    demo.wait_for_output(r"SMS outbox: \+15005550006 -> \+14155550188 .*left this morning", after=mark)
    assert agent.errors == []


def test_a_snooze_ends_on_time_with_nothing_else_started(demo, new_page, screenshot):
    # given alice on one of her conversations
    agent = new_page(viewport={"width": 1400, "height": 850})
    log_in(agent, demo)
    open_conversation(agent, "Priya Patel")
    conversation_id = int(agent.url.rstrip("/").split("/")[-1]) if "/c/" in agent.url else None
    conversation_id = conversation_id or int(agent.locator("#console").get_attribute("data-conversation-id"))
    # when she snoozes it for three seconds
    status = agent.evaluate(
        """async (id) => {
             const csrf = document.cookie.split('; ').find(c => c.startsWith('csrftoken=')).split('=')[1];
             const until = new Date(Date.now() + 3000).toISOString();
             const answer = await fetch(`/api/v1/conversations/${id}/snooze/`, {method: 'POST',
               headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf}, body: JSON.stringify({until})});
             return answer.status;
           }""",
        conversation_id,
    )
    assert status == 200
    expect(agent.locator("#convo-badges")).to_contain_text(re.compile("snoozed", re.I))
    # then it wakes on its own, and the console shows it without a reload
    expect(agent.locator("#convo-badges")).not_to_contain_text(re.compile("snoozed", re.I), timeout=10_000)
    expect(agent.locator("#act-snooze")).to_be_visible()
    screenshot(agent, "woke")
    assert agent.errors == []


def test_the_dashboard_shows_the_demo_history_estimate_with_its_evaluation(demo, new_page, screenshot):
    # given the demo, seeded by make run (its history trained the satisfaction model once)
    page = new_page(viewport={"width": 1400, "height": 1000})
    log_in(page, demo, "supervisor")
    # when the supervisor opens the dashboard
    page.goto(f"{demo.url}/console/dashboard/")
    expect(page.locator("body")).to_have_attribute("data-satisfaction", "ready", timeout=20_000)
    # then the estimate for every resolved conversation is there, with its interval and evaluation
    expect(page.locator("#sat-estimate")).to_have_text(re.compile(r"\d+\.\d %"))
    expect(page.locator("#sat-interval")).to_contain_text("95 %")
    expect(page.locator("#sat-coverage")).to_contain_text("predicted")
    expect(page.locator("#sat-evaluation")).to_contain_text("AUC")
    screenshot(page, "satisfaction")


def test_an_sla_countdown_warns_and_breaches_live_with_nothing_else_started(demo, new_page, screenshot):
    # given the demo's website inbox (seeded with SLA policies), its promise shortened to 8 seconds
    # by the supervisor through the API, and alice in the console
    boss = new_page()
    log_in(boss, demo, "supervisor")

    def set_first_response(seconds: int) -> int:
        return boss.evaluate(
            """async (seconds) => {
                 const csrf = document.cookie.split('; ').find(c => c.startsWith('csrftoken=')).split('=')[1];
                 const inboxes = await (await fetch('/api/v1/inboxes/')).json();
                 const web = (inboxes.results || inboxes).find((inbox) => inbox.name === 'Acme Shop website');
                 const body = {priority: 'normal', first_response_seconds: seconds, next_response_seconds: 600,
                               resolution_seconds: 14400, business_hours: false};
                 const answer = await fetch(`/api/v1/inboxes/${web.id}/sla-policies/`, {method: 'POST',
                   headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf}, body: JSON.stringify(body)});
                 return answer.status;
               }""",
            seconds,
        )

    assert set_first_response(8) == 200
    agent = new_page(viewport={"width": 1400, "height": 850})
    log_in(agent, demo)
    # when a customer writes on /demo/
    customer, widget = customer_writes(new_page, demo, "Quinn Quick", "quinn@example.com", "Is anyone there?")
    # then alice sees its countdown on the row and in the conversation
    open_conversation(agent, "Quinn Quick")
    head = agent.locator("#convo-badges .sla-countdown")
    expect(head).to_contain_text("First response due in")
    expect(agent.locator(".conv-item", has_text="Quinn Quick").locator(".sla-countdown")).to_be_visible()
    # and at 75 % the server warns (a timeline line, amber), at 8 s it breaches (red), live
    expect(agent.locator("#timeline .event-sla_warning")).to_contain_text("SLA warning", timeout=15_000)
    expect(head).to_have_attribute("data-state", "breached", timeout=15_000)
    expect(agent.locator("#timeline .event-sla_breached")).to_contain_text("SLA breached", timeout=15_000)
    screenshot(agent, "sla-breached")
    # when alice answers, the first-response clock stops
    agent_replies(agent, "Sorry for the wait, Quinn!")
    expect(head.filter(has_text="First response")).to_have_count(0, timeout=10_000)
    assert set_first_response(300) == 200  # the demo's promise again
    assert agent.errors == [] and customer.errors == []
