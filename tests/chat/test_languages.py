"""The customer's and the agent's language (issue #17): how a locale from outside becomes one cxhub
speaks (or nothing, logged, never stored), where a contact's language comes from (the widget's
browser and website, an email's headers, an agent or the API) and what speaks it: the widget
session, the widget socket's errors, the JSON errors, the scripts' catalogues and the console."""

import logging
from email.message import EmailMessage

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from chat import languages, services
from chat.connectors import email as email_connector
from chat.models import Contact
from tests.factories import AgentFactory, ContactFactory, EmailInboxFactory, InboxFactory, UserFactory

from .test_consumers import db, visitor, widget

pytestmark = pytest.mark.django_db
ORIGIN = "http://127.0.0.1"


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()
    yield
    cache.clear()


def start(inbox, **body):
    return APIClient().post(f"/api/v1/widget/{inbox.public_id}/session", body, format="json", HTTP_ORIGIN=ORIGIN)


# --- normalising what the outside says ----------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("zh-CN", "zh-hans"),
        ("zh", "zh-hans"),
        ("ZH-Hans-CN", "zh-hans"),
        ("ru", "ru"),
        ("ru_RU.UTF-8", "ru"),
        ("es-419", "es"),
        ("ar-EG", "ar"),
        ("en-GB", "en"),
        ("de-DE", ""),  # well formed, not a language cxhub ships
        ("klingon", ""),
        ("<script>alert(1)</script>", ""),
        ("zh-CN" + "-x" * 400, ""),  # too long
        ("", ""),
        (None, ""),
        (12, ""),
        (["ru"], ""),
    ],
)
def test_a_locale_becomes_a_shipped_language_or_nothing(raw, expected):
    assert languages.normalise(raw) == expected


def test_an_unknown_or_malformed_locale_is_logged(caplog):
    with caplog.at_level(logging.INFO, logger="chat.languages"):
        languages.normalise("de-AT", source="widget")
        languages.normalise("<b>", source="email")
    assert "unsupported locale 'de-AT' from widget" in caplog.text
    assert "malformed locale '<b>' from email" in caplog.text


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ru", "ru"),
        ("ru, en", "ru"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-hans"),
        ("de-DE, es;q=0.7, en;q=0.5", "es"),  # the first one cxhub speaks, by weight
        ("en;q=0.2, ar;q=0.9", "ar"),
        ("fr, de", ""),
        ("*", ""),
        ("ru;q=0", ""),
        ("ru;q=bad", ""),
        ("x" * 600, ""),
    ],
)
def test_content_and_accept_language_headers(header, expected):
    assert languages.from_header(header) == expected


def test_a_contact_without_a_language_gets_their_inbox_default():
    inbox = InboxFactory(language="es")
    assert languages.contact_language(ContactFactory(locale="ru"), inbox) == "ru"
    assert languages.contact_language(ContactFactory(locale=""), inbox) == "es"
    assert languages.contact_language(ContactFactory(locale=""), None) == "en"
    assert [languages.direction(code) for code in ("ar", "zh-hans", "en")] == ["rtl", "ltr", "ltr"]


# --- the widget session -------------------------------------------------------------------


def test_the_browser_language_is_kept_on_the_contact_and_spoken_back():
    # given a web inbox whose default is English
    inbox = InboxFactory()
    # when a visitor whose browser says zh-CN, in Shanghai, starts a session
    response = start(inbox, browser_locale="zh-CN", time_zone="Asia/Shanghai")
    # then the session answers in Chinese (the default greeting too) and the contact keeps it
    assert response.status_code == 200
    body = response.json()
    assert (body["language"], body["direction"], body["inbox"]["greeting"]) == (
        "zh-hans",
        "ltr",
        "您好！有什么可以帮您？",
    )
    contact = Contact.objects.get(pk=body["contact_id"])
    assert (contact.locale, contact.locale_source, contact.time_zone) == ("zh-hans", "browser", "Asia/Shanghai")


def test_the_website_language_wins_over_the_browser():
    inbox = InboxFactory()
    body = start(inbox, locale="ar", browser_locale="en-US").json()
    assert (body["language"], body["direction"]) == ("ar", "rtl")
    assert Contact.objects.get(pk=body["contact_id"]).locale_source == "website"


def test_an_inbox_greeting_of_its_own_is_shown_as_written():
    inbox = InboxFactory(greeting="Bienvenue chez Acme !")
    assert start(inbox, browser_locale="ru").json()["inbox"]["greeting"] == "Bienvenue chez Acme !"


@pytest.mark.parametrize("bad", ["xx-YY", "not a locale", "<img src=x>", "ru" * 300, ""])
def test_a_bad_locale_in_the_session_falls_back_to_the_inbox_default_and_is_not_stored(bad, caplog):
    # given an inbox whose customers default to Spanish
    inbox = InboxFactory(language="es")
    # when the widget sends a language cxhub cannot use, and an unknown time zone
    with caplog.at_level(logging.INFO, logger="chat.languages"):
        response = start(inbox, browser_locale=bad, time_zone="Mars/Olympus")
    # then the session still starts, in the inbox's language, and nothing odd is stored
    assert response.status_code == 200, response.content
    assert response.json()["language"] == "es"
    contact = Contact.objects.get(pk=response.json()["contact_id"])
    assert (contact.locale, contact.locale_source, contact.time_zone) == ("", "", "")
    if bad:
        assert "locale" in caplog.text
    assert "unknown time zone 'Mars/Olympus'" in caplog.text


def test_a_detected_language_never_replaces_one_an_agent_set():
    # given a returning visitor whose language an agent set to Russian
    inbox = InboxFactory()
    first = start(inbox, browser_locale="en-US").json()
    contact = Contact.objects.get(pk=first["contact_id"])
    services.contact_update(contact=contact, locale="ru")
    # when they come back with an English browser
    again = start(inbox, browser_locale="en-US", visitor_token=first["visitor_token"]).json()
    # then they are still spoken to in Russian
    assert again["language"] == "ru"
    assert Contact.objects.get(pk=contact.pk).locale_source == "agent"


# --- email --------------------------------------------------------------------------------


def _mail(sender: str, **headers) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "help@acme.test"
    message["Subject"] = "Hello"
    message.set_content("Hi")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    return message.as_bytes()


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Content_Language": "ru"}, "ru"),
        ({"Accept_Language": "zh-CN,zh;q=0.9"}, "zh-hans"),
        ({"Content_Language": "es-MX", "Accept_Language": "ru"}, "es"),  # what they wrote in, first
        ({"Content_Language": "de"}, ""),
        ({"Content_Language": "\u202e<x>"}, ""),
        ({}, ""),
    ],
)
def test_an_email_says_its_writers_language(headers, expected):
    EmailInboxFactory(email_address="help@acme.test")
    email_connector.email_receive(raw=_mail("ana@example.com", **headers))
    contact = Contact.objects.get(email="ana@example.com")
    assert contact.locale == expected
    assert contact.locale_source == ("email" if expected else "")


# --- agents and the API -------------------------------------------------------------------


def test_an_agent_sets_a_contacts_language_through_the_api():
    # given an agent who sees a contact's conversation
    inbox = InboxFactory()
    agent = AgentFactory(inboxes=[inbox])
    contact = ContactFactory()
    services.message_receive(inbox=inbox, contact=contact, channel="web", body="Hi")
    client = APIClient()
    client.force_authenticate(agent.user)
    # when they set it to "ru-RU" and a time zone
    response = client.patch(
        f"/api/v1/contacts/{contact.pk}/", {"locale": "ru-RU", "time_zone": "Europe/Moscow"}, format="json"
    )
    # then it is stored as the language cxhub speaks, and shown with its name and source
    assert response.status_code == 200, response.content
    assert response.json()["language"] == {"code": "ru", "name": "Russian", "name_local": "Русский", "source": "agent"}
    assert response.json()["time_zone"] == "Europe/Moscow"


@pytest.mark.parametrize(
    ("accept", "detail"), [("es", "cxhub no habla este idioma."), ("ru", "cxhub не говорит на этом языке.")]
)
def test_a_json_error_keeps_its_code_and_says_its_detail_in_the_readers_language(accept, detail):
    # given an agent (no language of their own chosen) and a contact
    inbox = InboxFactory()
    agent = AgentFactory(inboxes=[inbox])
    contact = ContactFactory()
    services.message_receive(inbox=inbox, contact=contact, channel="web", body="Hi")
    client = APIClient()
    client.force_login(agent.user)
    # when they ask for a language cxhub does not ship, with a browser in another language
    response = client.patch(
        f"/api/v1/contacts/{contact.pk}/", {"locale": "tlh"}, format="json", HTTP_ACCEPT_LANGUAGE=accept
    )
    # then it is a 400 with the stable code, the detail in their language, and nothing stored
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert response.json()["error"]["detail"] == detail
    assert "locale" in response.json()["error"]["fields"]
    assert Contact.objects.get(pk=contact.pk).locale == ""


@pytest.mark.django_db(transaction=True)
async def test_the_widget_socket_answers_errors_in_the_contacts_language():
    # given a Chinese visitor signed in on the widget socket
    inbox = await db(InboxFactory)
    token, _contact = await visitor(inbox, browser_locale="zh-CN")
    socket, _ok = await widget(inbox, token)
    # when they send a frame of an unknown type
    await socket.send_json_to({"type": "dance"})
    frame = await socket.receive_json_from(timeout=3)
    await socket.disconnect()
    # then the error keeps its code and says why in Chinese
    assert frame["code"] == "unknown_type"
    assert frame["detail"] == "未知的帧类型 'dance'。"


# --- the scripts' catalogues --------------------------------------------------------------


def test_the_widget_catalogue_holds_only_the_widgets_texts_and_any_site_may_read_it():
    response = Client().get("/i18n/widget/zh-CN.json")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    body = response.json()
    assert (body["language"], body["direction"], body["plural"]) == ("zh-hans", "ltr", "0")
    assert body["catalog"]["Open chat"] == "打开聊天"
    assert body["catalog"]["Open chat, %(count)s unread message"] == ["打开聊天，%(count)s 条未读消息"]
    assert "Could not load conversations: %(error)s" not in body["catalog"]  # the console's


def test_the_console_catalogue_holds_the_consoles_texts():
    body = Client().get("/i18n/console/es.json").json()
    assert body["language"] == "es" and body["plural"].startswith("n == 1 ? 0")
    assert (
        body["catalog"]["No conversations match these filters."] == "Ninguna conversación coincide con estos filtros."
    )
    assert body["catalog"]["status\x04open"] == "abierta"
    assert "Open chat" not in body["catalog"]  # the widget's


@pytest.mark.parametrize("language", ["de", "xx", "zh-TW-" + "x" * 40, "<x>"])
def test_a_catalogue_of_a_language_cxhub_does_not_ship_is_a_404(language):
    response = Client().get(f"/i18n/widget/{language}.json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# --- the console --------------------------------------------------------------------------


def test_the_console_follows_the_agents_choice_over_the_browser():
    # given an agent whose browser asks for Russian
    agent = AgentFactory(user=UserFactory(username="marta"))
    client = Client(HTTP_ACCEPT_LANGUAGE="ru")
    client.force_login(agent.user)
    # then the console is in Russian
    assert '<html lang="ru" dir="ltr">' in client.get("/console/").content.decode()
    # when they pick Spanish (and come back to where they were)
    response = client.post("/console/language/", {"language": "es", "next": "/console/dashboard/"})
    assert (response.status_code, response["Location"]) == (303, "/console/dashboard/")
    # then the console is in Spanish, the profile says so, whatever the browser
    page = client.get("/console/").content.decode()
    assert '<html lang="es" dir="ltr">' in page and "Conversaciones" in page
    agent.refresh_from_db()
    assert agent.language == "es"
    # and "the browser's language" goes back to Russian; a made-up one changes nothing
    client.post("/console/language/", {"language": ""})
    assert '<html lang="ru"' in client.get("/console/").content.decode()
    response = client.post("/console/language/", {"language": "tlh", "next": "https://evil.example/"})
    assert (response.status_code, response["Location"]) == (303, "/console/")
    agent.refresh_from_db()
    assert agent.language == ""
