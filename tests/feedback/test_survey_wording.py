"""One wording for every survey surface: the page, the email (HTML and text), the SMS prompts and
the widget's `survey.request` frame all say what feedback/questions.py says (the metric
definitions), and no other file spells a question or a scale label."""

import re
from html import unescape
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.core import mail
from django.test import Client

from chat.connectors import sms as sms_connector
from chat.consumers import WidgetConsumer
from chat.events import contact_group
from feedback.models import SurveyPolicy
from feedback.questions import QUESTIONS, SCORE_KEYS, SURVEY_TITLE
from tests.factories import ContactFactory, EmailInboxFactory, InboxFactory, SmsInboxFactory, contact_with

from .test_survey_widget import drain, listen

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
PHONE = "+14155550177"

# What the metric definitions say (docs/metrics.md), written out once more on purpose: the test
# pins the wording, so a change to questions.py must be a deliberate change here too.
DEFINITIONS = {
    "csat": ("How satisfied are you with the help you received?", 1, 5, "Very dissatisfied", "Very satisfied"),
    "ces": ("The company made it easy for me to handle my issue.", 1, 7, "Strongly disagree", "Strongly agree"),
    "nps": (
        "How likely are you to recommend us to a friend or colleague?", 0, 10, "Not at all likely", "Extremely likely"
    ),
}  # fmt: skip


@pytest.fixture(autouse=True)
def sms_outbox(settings):
    settings.SMS_OUTBOX = True
    sms_connector.outbox_clear()
    yield
    sms_connector.outbox_clear()


def with_policy(inbox, key: str, wording: dict):
    SurveyPolicy.objects.create(inbox=inbox, questions=[key, "comment"], wording=wording)
    return inbox


# --- what each surface says, read back from what it renders -------------------------------


def frame_wording(event: dict) -> tuple[dict, str]:
    """The `survey.request` frame the widget socket sends for this group event."""
    consumer, sent = WidgetConsumer(), []

    async def capture(content, close=False):
        sent.append(content)

    consumer.send_json = capture
    async_to_sync(consumer.chat_survey_request)(event)
    frame = sent[0]
    scored = frame["questions"][0]
    comment = frame["questions"][1]
    wording = (scored["text"], scored["min"], scored["max"], scored["low_label"], scored["high_label"])
    assert (comment["key"], comment["min"], comment["low_label"]) == ("comment", None, None)
    return {"frame": wording, "frame comment": comment["text"], "frame title": frame["title"]}, frame["invitation"]


def page_wording(token: str, key: str) -> dict:
    page = Client().get(f"/s/{token}/")
    assert page.status_code == 200
    html = page.content.decode()
    fieldset = re.search(rf'<fieldset[^>]*id="q-{key}">(.*?)</fieldset>', html, re.S).group(1)
    legend = unescape(re.search(r"<legend>(.*?)</legend>", fieldset, re.S).group(1).strip())
    (low, low_label), (high, high_label) = re.findall(r"<span>(\d+) = ([^<]*)</span>", fieldset)
    comment = unescape(re.search(r'<label for="comment">(.*?)</label>', html, re.S).group(1).strip())
    title = unescape(re.search(r"<h1>(.*?)</h1>", html, re.S).group(1).strip())
    return {
        "page": (legend, int(low), int(high), unescape(low_label), unescape(high_label)),
        "page comment": comment,
        "page title": title,
    }


def email_wording(message, inbox_name: str) -> dict:
    text = message.body
    html = unescape(message.alternatives[0][0])
    asked_text = re.search(rf"thank you for contacting {re.escape(inbox_name)}\. (.+)", text).group(1).strip()
    ends = re.findall(r"^  (\d+) \((.+)\): http\S+$", text, re.M)
    asked_html = re.search(rf"thank you for contacting {re.escape(inbox_name)}\. (.+?)</p>", html).group(1).strip()
    low, low_label, high, high_label = re.search(r"<p[^>]*>(\d+) = ([^,<]+), (\d+) = ([^<]+)</p>", html).groups()
    (text_low, text_low_label), (text_high, text_high_label) = ends
    return {
        "email text": (asked_text, int(text_low), int(text_high), text_low_label, text_high_label),
        "email html": (asked_html, int(low), int(high), low_label, high_label),
        "email subject": message.subject.split(" (")[0],
    }


SMS_PROMPT = re.compile(r"^(.+) Reply (\d+)-(\d+) \((\d+) = (.+), (\d+) = (.+)\)\.$")


def sms_wording(body: str) -> tuple:
    asked, low, high, low_again, low_label, high_again, high_label = SMS_PROMPT.match(body).groups()
    assert (low, high) == (low_again, high_again)
    return (asked, int(low), int(high), low_label, high_label)


# --- the tests ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "wording"),
    [("csat", {}), ("ces", {}), ("nps", {}), ("csat", {"csat": "Were we any help today?"})],
    ids=["csat", "ces", "nps", "csat-reworded-by-the-inbox"],
)
def test_every_surface_carries_the_same_question_and_labels(key, wording, resolve, committed):
    # given one inbox per channel, each asking this question (and a comment), maybe reworded
    text, low, high, low_label, high_label = DEFINITIONS[key]
    expected = (wording.get(key, text), low, high, low_label, high_label)
    web = with_policy(InboxFactory(), key, wording)
    email_inbox = with_policy(EmailInboxFactory(name="Acme Mail"), key, wording)
    sms_inbox = with_policy(SmsInboxFactory(), key, wording)
    visitor = ContactFactory()
    widget = listen(contact_group(visitor.pk))

    # when a conversation is resolved on each channel
    resolve(web, visitor)
    resolve(email_inbox, contact_with("email", "ana@example.com"))
    resolve(sms_inbox, contact_with("phone", PHONE))

    # then the widget's frame, the page, both parts of the email and the SMS say the same
    surfaces, token = frame_wording(drain(widget, "chat.survey_request"))
    surfaces.update(page_wording(token, key))
    [survey_mail] = [m for m in mail.outbox if m.to == ["ana@example.com"] and "/s/" in m.body]
    surfaces.update(email_wording(survey_mail, "Acme Mail"))
    [prompt] = [m.body for m in sms_connector.outbox_messages(to=PHONE) if " Reply " in m.body]
    surfaces["sms"] = sms_wording(prompt)
    worded = {name: value for name, value in surfaces.items() if isinstance(value, tuple)}
    assert worded == dict.fromkeys(["frame", "page", "email text", "email html", "sms"], expected)
    assert surfaces["frame comment"] == surfaces["page comment"] == QUESTIONS["comment"].text
    assert surfaces["frame title"] == surfaces["page title"] == surfaces["email subject"] == SURVEY_TITLE


def test_the_sms_follow_up_question_is_worded_as_everywhere_else(resolve, committed):
    # given an SMS survey asking CSAT then CES
    from .test_survey_sms import text_in

    inbox = SmsInboxFactory()
    SurveyPolicy.objects.create(inbox=inbox, questions=["csat", "ces"])
    resolve(inbox, contact_with("phone", PHONE))
    # when the customer answers the first one
    text_in(inbox, "5", committed, sender=PHONE)
    # then the CES question follows, in the words of its definition
    prompts = [m.body for m in sms_connector.outbox_messages(to=PHONE) if " Reply " in m.body]
    assert [sms_wording(p) for p in prompts] == [DEFINITIONS["csat"], DEFINITIONS["ces"]]


def test_the_definitions_are_the_ones_in_questions_py():
    for key in SCORE_KEYS:
        question = QUESTIONS[key]
        assert (question.text, question.low, question.high, question.low_label, question.high_label) == DEFINITIONS[key]


# Wordings that once lived in other files (the widget had its own): they must not come back.
OLD_WORDINGS = [
    "Very unsatisfied",
    "Very hard",
    "Very easy",
    "Not likely",
    "Very likely",
    "How easy was it",
    "with the help you got",
    "to a friend?",
    "Anything to add?",
]
SOURCES = ("chat", "feedback", "cxhub", "integrations", "bench")
SOURCE_SUFFIXES = {".py", ".js", ".mjs", ".html", ".txt", ".css"}


def test_no_other_file_spells_a_question_or_a_label():
    # every question text, scale label and the title live in feedback/questions.py alone
    spelled = [SURVEY_TITLE, *OLD_WORDINGS]
    for question in QUESTIONS.values():
        spelled += [question.text, question.low_label, question.high_label]
    spelled = [s.lower() for s in spelled if s]
    offenders = []
    for directory in SOURCES:
        for path in sorted((ROOT / directory).rglob("*")):
            if path.suffix not in SOURCE_SUFFIXES or "migrations" in path.parts or path.name == "questions.py":
                continue
            content = path.read_text(encoding="utf-8", errors="replace").lower()
            offenders += [f"{path.relative_to(ROOT)}: {s!r}" for s in spelled if s in content]
    assert offenders == []
