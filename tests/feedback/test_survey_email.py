"""Email surveys end to end: the invitation goes through a real SMTP server, the customer follows a
one-click link (GET never records) and posts the page (CSRF-protected, no JavaScript needed)."""

import email
import re
import socket
from email import policy as email_policy

import pytest
from aiosmtpd.controller import Controller
from django.test import Client

from feedback.models import SurveyInvitation, SurveyResponse
from tests.factories import EmailInboxFactory, contact_with

pytestmark = pytest.mark.django_db


class Sink:
    """An SMTP server that keeps every message it receives."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd calls it by this name)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email_policy.default))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_sink(settings):
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield sink
    controller.stop()


def survey_mail(sink):
    mails = [m for m in sink.messages if m["Subject"].startswith("How did we do?")]
    assert len(mails) == 1, [m["Subject"] for m in sink.messages]
    return mails[0]


def link_path(url: str, settings) -> str:
    assert url.startswith(settings.PUBLIC_URL + "/s/")
    return url[len(settings.PUBLIC_URL) :]


def csrf_of(page: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def test_email_survey_one_click_link_then_post_records_once(resolve, smtp_sink, settings):
    # given an email inbox and a customer who emailed and got a reply
    inbox = EmailInboxFactory(name="Acme Support")
    contact = contact_with("email", "ana@example.com", name="Ana")
    # when the agent resolves the conversation
    conversation = resolve(inbox, contact)
    # then one survey email left through SMTP, from the inbox's address to the customer
    mail = survey_mail(smtp_sink)
    assert mail["To"] == "ana@example.com" and inbox.email_address in mail["From"]
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    links = re.findall(r"http://\S+/s/[\w-]+/\?csat=\d", text)
    assert [link[-1] for link in links] == ["1", "2", "3", "4", "5"]
    assert all(link in html for link in links) and "<script" not in html
    # when the customer clicks "5" (GET): the page shows 5 chosen and records nothing
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(link_path(links[4], settings))
    assert page.status_code == 200
    body = page.content.decode()
    assert re.search(r'name="csat" value="5" checked', body)
    assert "<script" not in body and " style=" not in body
    assert page["Cache-Control"].startswith("max-age=0") and page["Referrer-Policy"] == "same-origin"
    assert not SurveyResponse.objects.exists()
    # when they post the form (twice: a double click)
    form = {"csrfmiddlewaretoken": csrf_of(body), "csat": "5", "ces": "6", "comment": "Lovely"}
    path = link_path(links[4], settings).split("?")[0]
    posted = browser.post(path, form)
    again = browser.post(path, form)
    # then one response is recorded, credited to the email channel, and the page thanks them
    assert posted.status_code == again.status_code == 303
    response = SurveyResponse.objects.get()
    assert (response.csat, response.ces, response.comment, response.channel) == (5, 6, "Lovely", "email")
    assert response.invitation.conversation == conversation and response.invitation.channel == "email"
    thanks = browser.get(posted["Location"])
    assert "Thank you for your feedback" in thanks.content.decode()


def test_the_page_refuses_a_post_without_csrf_and_records_nothing(resolve, smtp_sink, settings):
    inbox = EmailInboxFactory()
    resolve(inbox, contact_with("email", "bo@example.com"))
    link = re.findall(r"http://\S+/s/[\w-]+/", survey_mail(smtp_sink).get_body(("plain",)).get_content())[0]
    # when something posts to the link without the page's CSRF token
    response = Client(enforce_csrf_checks=True).post(link_path(link, settings), {"csat": "1"})
    # then it is refused and nothing is recorded
    assert response.status_code == 403
    assert not SurveyResponse.objects.exists()


def test_no_email_address_means_no_email_survey(resolve, smtp_sink):
    # given an email conversation whose contact has no address on file (an odd import)
    inbox = EmailInboxFactory()
    contact = contact_with("email", "cy@example.com")
    contact.email = ""
    contact.save()
    conversation = resolve(inbox, contact)
    # then the invitation is skipped, not sent into the void
    assert SurveyInvitation.objects.get(conversation=conversation).skip_reason == "no_address"
