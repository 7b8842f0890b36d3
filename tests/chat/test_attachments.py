"""Attachments (docs/attachments.md): uploads from the console and the widget checked by their content
against the inbox's limits, kept through the storage API, previews, signed expiring links scoped to
their audience, erasure, email out and SMS media in (through the SSRF guard)."""

import io
import threading
import zipfile
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail, signing
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from chat import attachments, privacy, services
from chat.connectors import outbound
from chat.connectors.email import email_receive
from chat.models import Message
from tests.chat.channel_helpers import inbound_params, twilio_post
from tests.factories import (
    EmailInboxFactory,
    InboxFactory,
    SmsInboxFactory,
    SupervisorFactory,
    agent_user,
    contact_with,
    conversation_with,
)

pytestmark = pytest.mark.django_db


def mail_with_attachment(to: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = "Ann <ann@example.com>"
    mail["To"] = to
    mail["Subject"] = "Receipt"
    mail["Message-ID"] = "<receipt-1@example.com>"
    mail.set_content("Here is my receipt.")
    mail.add_attachment(b"%PDF-1.4 receipt", maintype="application", subtype="pdf", filename="receipt.pdf")
    mail.add_attachment(b"MZ...", maintype="application", subtype="x-msdownload", filename="tool.exe")
    return mail.as_bytes()


def test_stored_attachments_download_for_the_inbox_agent_and_404_for_others(as_user):
    # given an email with a PDF and an executable
    inbox, other = EmailInboxFactory(), InboxFactory()
    agent, outsider = agent_user(inbox), agent_user(other)
    message = email_receive(raw=mail_with_attachment(inbox.email_address), inbox=inbox).message
    # when the agent reads the timeline
    client = as_user(agent)
    listed = client.get(f"/api/v1/conversations/{message.conversation_id}/messages/").json()[0]["attachments"]
    # then the PDF has a download link, the executable is listed as refused without one
    pdf, exe = listed
    assert pdf["name"] == "receipt.pdf" and pdf["url"]
    assert exe["rejected"] == "type_not_allowed" and exe["url"] is None
    download = client.get(pdf["url"])
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"%PDF-1.4 receipt"
    assert download["Content-Disposition"].startswith("attachment")
    assert download["X-Content-Type-Options"] == "nosniff"
    # and nobody else gets it, nor a refused or missing one
    assert as_user(outsider).get(pdf["url"]).status_code == 404
    # the API's own route (token or session) is scoped the same way
    api_url = f"/api/v1/conversations/{message.conversation_id}/messages/{message.pk}/attachments/"
    assert as_user(agent).get(api_url + "0").status_code == 200
    assert as_user(outsider).get(api_url + "0").status_code == 404
    assert as_user(agent).get(api_url + "1").status_code == 404
    assert as_user(agent).get(api_url + "9").status_code == 404


# --- files people send ------------------------------------------------------------------


def png_bytes(size=(800, 600)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def docx_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def stored_files() -> list[str]:
    found = []

    def walk(folder):
        directories, files = default_storage.listdir(folder)
        found.extend(f"{folder}/{name}" for name in files)
        for directory in directories:
            walk(f"{folder}/{directory}")

    if default_storage.exists("attachments"):
        walk("attachments")
    return found


def send_files(client, conversation, files, **fields):
    data = {"body": "", "is_note": "false", **fields, "files": files}
    return client.post(f"/api/v1/conversations/{conversation.pk}/messages/", data, format="multipart")


@pytest.mark.parametrize(
    ("name", "data", "kind", "content_type"),
    [
        ("photo.png", png_bytes(), "image", "image/png"),
        ("invoice.pdf", PDF, "pdf", "application/pdf"),
        ("notes.txt", "Grüße, 你好\n".encode(), "text", "text/plain"),
        (
            "report.docx",
            docx_bytes(),
            "office",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
    ],
)
def test_an_agent_sends_images_pdf_text_and_office_files(as_user, name, data, kind, content_type):
    # given an agent in a web conversation
    inbox = InboxFactory()
    agent = agent_user(inbox)
    conversation = conversation_with(inbox)
    # when they send a file with a caption
    response = send_files(as_user(agent), conversation, [upload(name, data)], body="Here you go")
    # then the message lists it with its sniffed type, and the link downloads the same bytes
    assert response.status_code == 201, response.json()
    (listed,) = response.json()["attachments"]
    assert (listed["name"], listed["kind"], listed["content_type"], listed["size"]) == (
        name,
        kind,
        content_type,
        len(data),
    )
    download = as_user(agent).get(listed["url"])
    assert b"".join(download.streaming_content) == data
    assert download["Content-Disposition"].startswith("attachment")
    # and an image has a PNG preview, shown inline but sandboxed
    if kind == "image":
        preview = as_user(agent).get(listed["preview_url"])
        assert preview.status_code == 200 and preview["Content-Type"] == "image/png"
        assert "sandbox" in preview["Content-Security-Policy"]
        with Image.open(io.BytesIO(b"".join(preview.streaming_content))) as image:
            assert max(image.size) <= 480
    else:
        assert listed["preview_url"] is None


@pytest.mark.parametrize(
    ("files", "code"),
    [
        ([("huge.pdf", PDF + b"0" * 3000)], "attachment_too_large"),
        ([("tool.exe", b"MZ\x90\x00" + b"\x00" * 100)], "attachment_type_refused"),
        ([("drawing.svg", SVG)], "attachment_type_refused"),
        ([("cat.png", SVG)], "attachment_type_refused"),
        ([("invoice.pdf", png_bytes((16, 16)))], "attachment_content_mismatch"),
        ([("photo.png", b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)], "attachment_content_mismatch"),
        ([("ok.pdf", PDF), ("empty.txt", b"")], "attachment_empty"),
        ([("ok.pdf", PDF), ("notes.docx", PDF)], "attachment_content_mismatch"),
        ([(f"f{i}.pdf", PDF) for i in range(11)], "too_many_attachments"),
    ],
)
def test_refused_files_get_400_with_the_reason_and_nothing_is_stored(as_user, files, code):
    # given an inbox that accepts files up to 2 KB
    inbox = InboxFactory(attachment_max_bytes=2048)
    agent = agent_user(inbox)
    conversation = conversation_with(inbox)
    before = Message.objects.count()
    # when an agent sends files it refuses
    response = send_files(as_user(agent), conversation, [upload(name, data) for name, data in files], body="x")
    # then 400 says why, no message was written and no file kept
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code and error["detail"] and error["fields"]["files"]
    assert Message.objects.count() == before
    assert stored_files() == []


def test_an_inbox_chooses_which_kinds_it_accepts(as_user):
    inbox = InboxFactory(attachment_kinds=["pdf"])
    agent = agent_user(inbox)
    conversation = conversation_with(inbox)
    assert as_user(agent).get(f"/api/v1/inboxes/{inbox.pk}/").json()["attachments"]["kinds"] == ["pdf"]
    assert send_files(as_user(agent), conversation, [upload("a.png", png_bytes())]).status_code == 400
    assert send_files(as_user(agent), conversation, [upload("a.pdf", PDF)]).status_code == 201


def test_a_body_or_a_file_is_needed(as_user):
    inbox = InboxFactory()
    conversation = conversation_with(inbox)
    response = send_files(as_user(agent_user(inbox)), conversation, [])
    assert response.status_code == 400


def test_signed_links_are_scoped_expire_and_cannot_be_forged(as_user, client, settings):
    # given a file an agent sent and one in a note
    inbox, other = InboxFactory(), InboxFactory()
    agent, outsider = agent_user(inbox), agent_user(other)
    conversation = conversation_with(inbox)
    listed = send_files(as_user(agent), conversation, [upload("a.pdf", PDF)]).json()["attachments"][0]
    note = send_files(as_user(agent), conversation, [upload("n.pdf", PDF)], is_note="true").json()
    # then: an agent of another inbox, nobody signed in, a forged or a customer's link for a note: 404
    assert as_user(outsider).get(listed["url"]).status_code == 404
    assert client.get(listed["url"]).status_code == 404
    forged = signing.dumps([note["id"] - 1, 0, "c", 0], salt="not-ours")
    assert client.get(f"/files/{forged}").status_code == 404
    customer_note = attachments.file_url(note["id"], 0, audience=attachments.Audience.CUSTOMER)
    assert client.get(customer_note).status_code == 404
    # and a customer's link for their own message works without a login, until it expires
    customer = attachments.file_url(note["id"] - 1, 0, audience=attachments.Audience.CUSTOMER)
    assert client.get(customer).status_code == 200
    settings.ATTACHMENT_URL_MAX_AGE = -1
    assert client.get(customer).status_code == 404
    assert as_user(agent).get(listed["url"]).status_code == 404


def test_erasure_removes_the_files_and_previews(as_user, committed):
    inbox = InboxFactory()
    conversation = conversation_with(inbox)
    send_files(as_user(agent_user(inbox)), conversation, [upload("a.png", png_bytes()), upload("b.pdf", PDF)])
    assert len(stored_files()) == 3  # two files and a preview
    with committed():  # files go once the erasure has committed
        counts = privacy.contact_erase(contact=conversation.contact, by=SupervisorFactory().user)
    assert counts["attachment_files"] == 3
    assert stored_files() == []


def test_an_email_reply_carries_its_attachments(as_user, settings):
    # given an email conversation
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    inbox = EmailInboxFactory()
    agent = agent_user(inbox)
    message = email_receive(raw=mail_with_attachment(inbox.email_address), inbox=inbox).message
    # when the agent replies with a PDF
    response = send_files(as_user(agent), message.conversation, [upload("quote.pdf", PDF)], body="Our quote")
    assert response.status_code == 201
    outbound.deliver(message_id=response.json()["id"])
    # then the email that left carries it
    sent = mail.outbox[-1]
    assert [(name, data) for name, data, _type in sent.attachments] == [("quote.pdf", PDF)]


# --- the widget -------------------------------------------------------------------------

ORIGIN = "http://testserver"


def widget_session(client, inbox) -> dict:
    return client.post(f"/api/v1/widget/{inbox.public_id}/session", {}, format="json", HTTP_ORIGIN=ORIGIN).json()


def widget_upload(client, inbox, token, files, origin=ORIGIN, **fields):
    data = {"visitor_token": token, "files": files, **fields}
    return client.post(f"/api/v1/widget/{inbox.public_id}/attachments", data, format="multipart", HTTP_ORIGIN=origin)


def test_a_visitor_uploads_a_file_and_only_they_and_the_inbox_agents_can_read_it(as_user):
    api_client = APIClient()
    # given a visitor of a web inbox
    inbox, other = InboxFactory(), InboxFactory()
    session = widget_session(api_client, inbox)
    # when they send a picture
    response = widget_upload(api_client, inbox, session["visitor_token"], [upload("receipt.png", png_bytes())])
    # then it is their message, with links signed for them (no login needed)
    assert response.status_code == 201, response.json()
    listed = response.json()["attachments"][0]
    assert listed["kind"] == "image" and api_client.get(listed["url"]).status_code == 200
    assert api_client.get(listed["preview_url"]).status_code == 200
    # and the inbox's agent sees it, an agent of another inbox does not
    message = Message.objects.get(pk=response.json()["id"])
    agent_url = attachments.listing(message.pk, message.attachments, audience="a")[0]["url"]
    assert as_user(agent_user(inbox)).get(agent_url).status_code == 200
    assert as_user(agent_user(other)).get(agent_url).status_code == 404
    assert session["inbox"]["attachments"]["max_bytes"] == inbox.attachment_max_bytes


def test_widget_uploads_need_a_live_token_and_an_allowed_origin():
    api_client = APIClient()
    inbox = InboxFactory()
    session = widget_session(api_client, inbox)
    files = [upload("a.pdf", PDF)]
    assert widget_upload(api_client, inbox, "not-a-token", files).status_code == 403
    assert (
        widget_upload(api_client, inbox, session["visitor_token"], files, origin="https://evil.test").status_code == 403
    )
    refused = widget_upload(api_client, inbox, session["visitor_token"], [upload("a.pdf", png_bytes())])
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "attachment_content_mismatch"
    assert Message.objects.count() == 0 and stored_files() == []


# --- SMS media, fetched by the worker through the SSRF guard ---------------------------


class MediaServer:
    """A fake media host on 127.0.0.1: /media/<n> answers a PNG (after a redirect, like Twilio's)."""

    def __init__(self, body: bytes):
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                served.requests.append({"path": self.path, "authorization": self.headers.get("Authorization")})
                if self.path.startswith("/redirect/"):
                    self.send_response(307)
                    self.send_header("Location", self.path.replace("/redirect/", "/media/"))
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(served.body)))
                self.end_headers()
                self.wfile.write(served.body)

            def log_message(self, *args):
                pass

        self.body = body
        self.requests: list[dict] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def media_server():
    server = MediaServer(png_bytes((64, 64)))
    yield server
    server.close()


@pytest.mark.django_db(transaction=True)
def test_sms_media_is_fetched_checked_and_kept(client, media_server, settings):
    # given an SMS inbox and a media host the guard is told to allow (it lives on 127.0.0.1)
    settings.SMS_MEDIA_ALLOW_PRIVATE = True
    inbox = SmsInboxFactory()
    params = inbound_params(
        inbox,
        body="photo of the damage",
        NumMedia="1",
        MediaUrl0=f"http://127.0.0.1:{media_server.port}/redirect/1",
        MediaContentType0="image/png",
    )
    # when Twilio posts the SMS (the eager worker fetches the media after commit)
    assert twilio_post(client, inbox, params).status_code == 200
    # then the picture is stored, previewed, and the credentials went only to the first host
    (entry,) = Message.objects.get().attachments
    assert entry["kind"] == "image" and entry["path"] and entry["preview_path"] and "pending" not in entry
    assert media_server.requests[0]["authorization"].startswith("Basic ")
    assert default_storage.open(entry["path"]).read() == media_server.body


@pytest.mark.django_db(transaction=True)
def test_sms_media_on_a_private_address_is_refused_by_the_ssrf_guard(client, media_server, settings):
    settings.SMS_MEDIA_ALLOW_PRIVATE = False
    inbox = SmsInboxFactory()
    params = inbound_params(
        inbox, NumMedia="1", MediaUrl0=f"http://127.0.0.1:{media_server.port}/media/1", MediaContentType0="image/png"
    )
    assert twilio_post(client, inbox, params).status_code == 200
    (entry,) = Message.objects.get().attachments
    assert entry["rejected"] == "refused_destination" and "path" not in entry
    assert media_server.requests == [] and stored_files() == []


def test_a_second_fetch_changes_nothing(settings):
    inbox = SmsInboxFactory()
    message = services.message_receive(
        inbox=inbox, contact=contact_with("phone", "+14155550123"), channel="sms", body="hi"
    ).message
    settled = {0: {"name": "x.png", "path": "attachments/x.png"}}
    assert services.message_settle_attachments(message_id=message.pk, settled=settled)[1] == [settled[0]]
