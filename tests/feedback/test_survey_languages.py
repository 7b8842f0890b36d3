"""Surveys in the customer's language (issue #17): questions.py's wording translated for every shipped
language, reworded per language by a policy, sent by widget, email and SMS in the contact's language
(else their inbox's default), and SMS kept to one text message: UCS-2 (70 characters) for Chinese,
Russian and Arabic, GSM-7 (160) where every character allows it."""

import re

import pytest
from django.core import mail
from django.test import Client
from django.utils import translation
from rest_framework.test import APIClient

from chat.connectors import sms as sms_connector
from chat.events import contact_group
from chat.models import Contact
from chat.sms_segments import sms_length
from feedback.models import SurveyPolicy
from feedback.questions import QUESTIONS, SCORE_KEYS, questions_for, sms_prompt, sms_thanks
from tests.factories import AgentFactory, ContactFactory, EmailInboxFactory, InboxFactory, SmsInboxFactory, contact_with

from .test_survey_sms import text_in, texts_to
from .test_survey_widget import drain, listen

pytestmark = pytest.mark.django_db
PHONE = "+14155550188"
LANGUAGES = ["en", "zh-hans", "ru", "es", "ar"]


@pytest.fixture(autouse=True)
def sms_outbox(settings):
    settings.SMS_OUTBOX = True
    sms_connector.outbox_clear()
    yield
    sms_connector.outbox_clear()


def speaking(code: str) -> Contact:
    contact = contact_with("phone", PHONE)
    Contact.objects.filter(pk=contact.pk).update(locale=code, locale_source="agent")
    contact.refresh_from_db()
    return contact


# --- SMS length ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", "GSM-7", 0, 1),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),  # 153 per part once it is split
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),  # an extension character counts twice
        ("a" * 152 + "€" + "a" * 152, "GSM-7", 306, 3),  # …and is never split between parts
        ("¿Qué tal? Ñandú", "UCS-2", 15, 1),  # "ú" is not in GSM-7
        ("¿Qué tal? Niño", "GSM-7", 14, 1),
        ("я" * 70, "UCS-2", 70, 1),
        ("я" * 71, "UCS-2", 71, 2),  # 67 per part
        ("я" * 134, "UCS-2", 134, 2),
        ("я" * 135, "UCS-2", 135, 3),
        ("您" * 70, "UCS-2", 70, 1),
        ("😀" * 35, "UCS-2", 70, 1),  # two UTF-16 units each
        ("a" * 66 + "😀" + "a", "UCS-2", 69, 1),
        ("a" * 66 + "😀" + "a" * 5, "UCS-2", 73, 2),
    ],
)
def test_sms_length(text, encoding, units, segments):
    length = sms_length(text)
    assert (length.encoding, length.units, length.segments) == (encoding, units, segments)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_survey_sms_is_one_text_message_in_every_language(language):
    with translation.override(language):
        texts = [sms_prompt(question) for question in questions_for(list(SCORE_KEYS))] + [sms_thanks()]
    for text in texts:
        assert sms_length(text).segments == 1, (language, text, sms_length(text))
    if language in ("zh-hans", "ru", "ar"):
        assert {sms_length(text).encoding for text in texts} == {"UCS-2"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_shipped_language_has_the_whole_default_wording(language):
    with translation.override(language):
        questions = questions_for(list(QUESTIONS))
    for question in questions:
        english = QUESTIONS[question.key]
        for mine, source in [
            (question.text, english.text),
            (question.low_label, english.low_label),
            (question.high_label, english.high_label),
            (question.sms_text, english.sms_text),
        ]:
            if not source:
                continue
            with translation.override("en"):
                source = str(source)
            assert mine and (language == "en") == (mine == source), (language, question.key, mine)


# --- SMS surveys in the contact's language ------------------------------------------------


def test_a_russian_customer_gets_the_sms_survey_in_russian_one_message_each(resolve, committed):
    # given an SMS inbox asking CSAT then CES, and a customer who reads Russian
    inbox = SmsInboxFactory()
    SurveyPolicy.objects.create(inbox=inbox, questions=["csat", "ces"])
    contact = speaking("ru")
    # when their conversation is resolved, and they answer the first question
    resolve(inbox, contact)
    text_in(inbox, "5", committed, sender=PHONE)
    # then both questions and the thanks came in Russian, each in one UCS-2 message
    prompts = [text for text in texts_to(PHONE) if "Ответьте" in text]
    assert prompts == [
        "Довольны ли вы помощью? Ответьте 1–5 (1 — нет, 5 — очень).",
        "Легко ли было решить ваш вопрос? Ответьте 1–7 (1 — нет, 7 — да).",
    ]
    text_in(inbox, "7", committed, sender=PHONE)
    assert texts_to(PHONE)[-1] == "Спасибо за отзыв!"
    survey_texts = [*prompts, texts_to(PHONE)[-1]]
    assert {(sms_length(t).encoding, sms_length(t).segments) for t in survey_texts} == {("UCS-2", 1)}


def test_a_customer_without_a_language_is_asked_in_the_inbox_default(resolve):
    # given a Chinese SMS inbox and a customer whose language nobody knows
    inbox = SmsInboxFactory(language="zh-hans")
    SurveyPolicy.objects.create(inbox=inbox, questions=["nps"])
    # when their conversation is resolved
    resolve(inbox, contact_with("phone", PHONE))
    # then the question goes in Chinese
    assert texts_to(PHONE)[-1] == "您有多大可能向朋友或同事推荐我们？请回复0-10（0=完全不可能，10=极有可能）。"


def test_the_sms_help_reply_is_in_the_contacts_language(committed):
    inbox = SmsInboxFactory(name="Acme")
    speaking("es")
    response = text_in(inbox, "HELP", committed, sender=PHONE)
    assert "Acme: responda a este número para hablar con nuestro equipo." in response.content.decode()


# --- the widget's card and the email ------------------------------------------------------


def test_the_widget_card_is_worded_in_the_visitors_language(resolve):
    # given a visitor who reads Arabic
    inbox = InboxFactory()
    visitor = ContactFactory(locale="ar", locale_source="browser")
    widget = listen(contact_group(visitor.pk))
    # when their conversation is resolved
    resolve(inbox, visitor)
    # then the card's title, questions and labels are Arabic, and the frame says so
    event = drain(widget, "chat.survey_request")
    assert event["title"] == "كيف كانت تجربتك معنا؟"
    assert event["language"] == "ar"
    assert [q["text"] for q in event["questions"]] == [
        "ما مدى رضاك عن المساعدة التي تلقيتها؟",
        "سهّلت الشركة عليّ معالجة مشكلتي.",
        "هل هناك ما تودّ إخبارنا به؟",
    ]
    assert event["questions"][0]["low_label"] == "غير راضٍ إطلاقًا"


def test_the_survey_email_is_in_the_contacts_language_and_time_zone(resolve, settings):
    # given a Russian customer in Vladivostok writing to an email inbox
    settings.TIME_ZONE = "UTC"
    inbox = EmailInboxFactory(name="Acme Mail")
    contact = contact_with("email", "olga@example.ru", name="Ольга")
    Contact.objects.filter(pk=contact.pk).update(locale="ru", locale_source="email", time_zone="Asia/Vladivostok")
    # when the conversation is resolved
    resolve(inbox, contact)
    # then the survey email is Russian, says so, and dates the expiry in the customer's zone
    [survey] = [m for m in mail.outbox if "/s/" in m.body]
    assert survey.subject == "Как мы справились? (Acme Mail)"
    assert survey.extra_headers["Content-Language"] == "ru"
    assert survey.body.startswith("Здравствуйте, Ольга!")
    assert re.search(r"Опрос открыт до \d{1,2} [а-я]+ \d{4} г\.", survey.body), survey.body
    assert '<html lang="ru" dir="ltr">' in survey.alternatives[0][0]


def test_the_survey_page_speaks_the_contacts_language_not_the_browsers(resolve):
    # given a Spanish customer's survey, opened in an English browser
    inbox = EmailInboxFactory()
    contact = contact_with("email", "ana@example.es")
    Contact.objects.filter(pk=contact.pk).update(locale="es", locale_source="email")
    resolve(inbox, contact)
    [survey] = [m for m in mail.outbox if "/s/" in m.body]
    path = re.search(r"(/s/[^/\s]+/)", survey.body).group(1)
    page = Client(HTTP_ACCEPT_LANGUAGE="en-US").get(path)
    # then it is in Spanish and says so
    assert page["Content-Language"] == "es"
    html = page.content.decode()
    assert '<html lang="es" dir="ltr">' in html
    assert "¿Qué tal lo hicimos?" in html and "Enviar mi respuesta" in html
    # and a closed link is explained in the customer's language too
    gone = Client().get("/s/" + "x" * 40 + "/")
    assert gone.status_code == 404 and "Survey not found" in gone.content.decode()  # no invitation: no contact


# --- wording per policy and language -------------------------------------------------------


def test_a_policy_rewords_a_question_in_one_language_only(resolve):
    # given a web inbox (never surveying by SMS) whose policy rewords CSAT in Russian, through the API
    inbox = InboxFactory()
    supervisor = AgentFactory(is_supervisor=True, inboxes=[inbox]).user
    client = APIClient()
    client.force_authenticate(supervisor)
    response = client.patch(
        f"/api/v1/surveys/policies/{inbox.pk}/",
        {"wording": {"ru": {"csat": "Мы вам помогли?"}}, "channels": ["web"]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert SurveyPolicy.objects.get(inbox=inbox).wording == {"ru": {"csat": "Мы вам помогли?"}}
    # when a Russian visitor's and an English visitor's conversations are resolved
    russian, english = ContactFactory(locale="ru"), ContactFactory(locale="en")
    heard = {contact.pk: listen(contact_group(contact.pk)) for contact in (russian, english)}
    resolve(inbox, russian)
    resolve(inbox, english)
    # then the Russian card has the inbox's words, the English one the default's
    assert drain(heard[russian.pk], "chat.survey_request")["questions"][0]["text"] == "Мы вам помогли?"
    assert drain(heard[english.pk], "chat.survey_request")["questions"][0]["text"] == str(QUESTIONS["csat"].text)


def test_a_flat_wording_is_the_inbox_default_languages(resolve):
    # given a Spanish inbox whose (older) flat wording rewords CSAT
    inbox = InboxFactory(language="es")
    SurveyPolicy.objects.create(inbox=inbox, wording={"csat": "¿Le ayudamos?"})
    spanish, chinese = ContactFactory(locale=""), ContactFactory(locale="zh-hans")
    heard = {contact.pk: listen(contact_group(contact.pk)) for contact in (spanish, chinese)}
    resolve(inbox, spanish)
    resolve(inbox, chinese)
    assert drain(heard[spanish.pk], "chat.survey_request")["questions"][0]["text"] == "¿Le ayudamos?"
    assert drain(heard[chinese.pk], "chat.survey_request")["questions"][0]["text"] == "您对获得的帮助满意吗？"


def test_a_rewording_too_long_for_one_sms_is_refused_where_sms_is_asked():
    # given an SMS-capable policy
    inbox = SmsInboxFactory()
    supervisor = AgentFactory(is_supervisor=True, inboxes=[inbox]).user
    client = APIClient()
    client.force_authenticate(supervisor)
    long_russian = "Насколько вы довольны тем, как быстро и вежливо вам помогли сегодня?"
    # when a Russian rewording would take two messages
    response = client.patch(
        f"/api/v1/surveys/policies/{inbox.pk}/", {"wording": {"ru": {"csat": long_russian}}}, format="json"
    )
    # then it is refused with the reason, and nothing changed
    assert response.status_code == 400
    [problem] = response.json()["error"]["fields"]["wording"]
    assert problem.startswith("ru: asked by SMS") and "2 text messages" in problem and "under 70 characters" in problem
    assert not SurveyPolicy.objects.filter(inbox=inbox).exists()
    # but the same words for a policy that never asks by SMS are fine
    response = client.patch(
        f"/api/v1/surveys/policies/{inbox.pk}/",
        {"wording": {"ru": {"csat": long_russian}}, "channels": ["web", "email"]},
        format="json",
    )
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    "wording",
    [{"xx": {"csat": "?"}}, {"ru": {"mood": "?"}}, {"ru": "flat text"}, {"ru": {"csat": "x" * 301}}, ["csat"]],
)
def test_a_wording_of_an_unknown_language_or_question_is_refused(wording):
    inbox = InboxFactory()
    supervisor = AgentFactory(is_supervisor=True, inboxes=[inbox]).user
    client = APIClient()
    client.force_authenticate(supervisor)
    response = client.patch(f"/api/v1/surveys/policies/{inbox.pk}/", {"wording": wording}, format="json")
    assert response.status_code == 400
    assert "wording" in response.json()["error"]["fields"]
