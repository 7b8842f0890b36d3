"""The email channel with real clients: smtplib → run_smtp's receiver, replies → an SMTP sink, the HTTP hook."""

import io
import smtplib
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from PIL import Image

from chat import services
from chat.connectors import outbound
from chat.connectors.email import email_receive, parse_email, reply_address
from chat.models import Contact, ContactIdentity, Conversation, Message
from chat.services import Claim
from cxhub.errors import InvalidInput
from tests.chat.channel_helpers import make_email
from tests.factories import EmailInboxFactory, InboxFactory, agent_user

pytestmark = pytest.mark.django_db(transaction=True)

Kind = ContactIdentity.Kind
settings_for_fuzz = hypothesis_settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def send(receiver, mail, *, to=None):
    host, port = receiver
    with smtplib.SMTP(host, port, timeout=10) as client:
        return client.send_message(mail, to_addrs=to)


def hook(client, inbox, raw: bytes, *, secret=None):
    secret = inbox.webhook_secret if secret is None else secret
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"} if secret else {}
    return client.post(f"/hooks/email/{inbox.public_id}/inbound", raw, content_type="message/rfc822", **headers)


# --- in, by SMTP --------------------------------------------------------------------------


def test_an_email_to_an_inbox_opens_a_conversation_with_the_reply_only(smtp_receiver):
    # given an email inbox
    inbox = EmailInboxFactory(email_address="support@acme.test")
    # when a customer emails it, quoting an older mail and signing off
    text = (
        "Hi, my parcel #1042 has not arrived.\n\n"
        "Best regards,\nAna\n\n"
        "On Mon, 3 Mar 2025 at 10:00, Acme <support@acme.test> wrote:\n> Your order has shipped.\n"
    )
    mail = make_email(subject="Parcel #1042", text=text, message_id="<first@example.com>")
    send(smtp_receiver, mail)
    # then one message holds only the new text, from a contact whose address is verified
    message = Message.objects.get()
    assert message.channel == "email" and message.inbox == inbox and message.direction == "in"
    assert message.body == "Hi, my parcel #1042 has not arrived."
    assert (message.provider, message.external_id) == ("email", "<first@example.com>")
    assert message.conversation.subject == "Parcel #1042"
    identity = ContactIdentity.objects.get(kind=Kind.EMAIL)
    assert identity.value == "ana@example.com" and identity.verified
    assert message.conversation.contact.name == "Ana Lopez"


def test_unknown_recipients_are_refused_with_550_and_nothing_is_stored(smtp_receiver):
    EmailInboxFactory(email_address="support@acme.test")
    mail = make_email(to="nobody@acme.test")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(smtp_receiver, mail)
    assert refused.value.recipients["nobody@acme.test"][0] == 550
    # a forged reply token is unknown too
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(smtp_receiver, mail, to=[f"reply+forged@{django_settings.EMAIL_DOMAIN}"])
    assert not Message.objects.exists() and not Contact.objects.exists()


def test_a_20_mb_mail_is_refused_with_552(smtp_receiver):
    EmailInboxFactory(email_address="support@acme.test")
    mail = make_email(text="Here is the video.")
    mail.add_attachment(b"\x00" * 20 * 1024 * 1024, maintype="video", subtype="mp4", filename="clip.mp4")
    raw = mail.as_bytes(policy=policy.SMTP)
    host, port = smtp_receiver
    # with the SIZE extension the client is refused before it sends the data
    with pytest.raises(smtplib.SMTPSenderRefused) as refused, smtplib.SMTP(host, port, timeout=30) as client:
        client.sendmail("ana@example.com", ["support@acme.test"], raw)
    assert refused.value.smtp_code == 552
    # and a client that sends it anyway gets 552 after DATA
    with smtplib.SMTP(host, port, timeout=30) as client:
        client.ehlo()
        assert client.mail("ana@example.com")[0] == 250
        assert client.rcpt("support@acme.test")[0] == 250
        code, _ = client.data(raw)
    assert code == 552
    assert not Message.objects.exists()


def test_the_same_message_id_delivered_twice_stores_one_message(smtp_receiver):
    EmailInboxFactory(email_address="support@acme.test")
    mail = make_email(message_id="<retry@example.com>")
    send(smtp_receiver, mail)
    send(smtp_receiver, mail)
    assert Message.objects.count() == 1


def test_html_only_mail_is_sanitised_and_scripts_never_stored(smtp_receiver):
    EmailInboxFactory(email_address="support@acme.test")
    html = (
        '<p onclick="steal()">Hello <b>team</b><script>alert("x")</script>'
        '<a href="javascript:alert(1)">click</a><img src="https://t.example/p.png" onerror="x()"></p>'
    )
    send(smtp_receiver, make_email(text=None, html=html))
    message = Message.objects.get()
    assert "script" not in message.html and "onclick" not in message.html and "javascript" not in message.html
    assert "onerror" not in message.html and "<b>team</b>" in message.html
    assert "alert" not in message.body and "Hello" in message.body and "team" in message.body


def png_bytes(size=(32, 32)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


def kept_files() -> list[str]:
    root = Path(django_settings.MEDIA_ROOT) / "attachments"
    return sorted(str(path) for path in root.rglob("*") if path.is_file()) if root.exists() else []


def test_email_attachments_are_sniffed_like_uploads_and_refusals_noted(smtp_receiver, settings):
    # given an inbox that takes images and PDFs up to 100 KB
    EmailInboxFactory(
        email_address="support@acme.test", attachment_kinds=["image", "pdf"], attachment_max_bytes=100_000
    )
    before = kept_files()
    mail = make_email(text="See attached.")
    mail.add_attachment(b"%PDF-1.4 invoice", maintype="application", subtype="pdf", filename="../../invoice.pdf")
    mail.add_attachment(png_bytes(), maintype="image", subtype="png", filename="photo.png")
    mail.add_attachment(b"MZ\x90\x00", maintype="application", subtype="x-msdownload", filename="setup.exe")
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    mail.add_attachment(svg, maintype="image", subtype="png", filename="cat.png")  # a PNG only by its name
    mail.add_attachment(png_bytes(), maintype="application", subtype="pdf", filename="quote.pdf")
    mail.add_attachment(b"\x89PNG" + b"0" * 200_000, maintype="image", subtype="png", filename="big.png")
    mail.add_attachment(b"just words", maintype="text", subtype="plain", filename="notes.txt")  # kind not taken
    mail.add_attachment(png_bytes(), maintype="image", subtype="png")  # no name: named by its content
    # when it arrives by SMTP
    send(smtp_receiver, mail)
    # then the message lands with the files that pass, stored and linked like uploads
    message = Message.objects.get(direction=Message.Direction.INBOUND)
    assert message.body == "See attached."
    by_name = {a["name"]: a for a in message.attachments}
    assert list(by_name) == [
        "invoice.pdf", "photo.png", "setup.exe", "cat.png", "quote.pdf", "big.png", "notes.txt", "attachment-8.png"
    ]  # fmt: skip
    assert by_name["invoice.pdf"]["kind"] == "pdf" and by_name["photo.png"]["preview_path"]
    stored = Path(settings.MEDIA_ROOT) / by_name["invoice.pdf"]["path"]
    assert stored.read_bytes() == b"%PDF-1.4 invoice" and Path(settings.MEDIA_ROOT) in stored.resolve().parents
    assert by_name["attachment-8.png"]["content_type"] == "image/png"
    # and the rest are listed with why, never stored
    reasons = {name: entry.get("rejected") for name, entry in by_name.items()}
    assert reasons == {
        "invoice.pdf": None, "photo.png": None, "setup.exe": "type_not_allowed", "cat.png": "type_not_allowed",
        "quote.pdf": "content_mismatch", "big.png": "too_large", "notes.txt": "type_not_allowed",
        "attachment-8.png": None,
    }  # fmt: skip
    assert all("path" not in entry for entry in by_name.values() if entry.get("rejected"))
    assert len(kept_files()) == len(before) + 5  # three files, two previews
    # and the agents read, in a system note, what was dropped and why
    note = Message.objects.get(is_note=True)
    assert note.sender_kind == Message.SenderKind.SYSTEM and note.conversation_id == message.conversation_id
    for name in ("setup.exe", "cat.png", "quote.pdf", "big.png", "notes.txt"):
        assert name in note.body
    assert "image/svg+xml" in note.body and "100000" in note.body
    # and the same mail delivered again stores nothing more
    send(smtp_receiver, mail)
    assert Message.objects.count() == 2 and len(kept_files()) == len(before) + 5


def test_an_email_whose_message_cannot_be_stored_leaves_no_file(monkeypatch):
    # given a mail with a good PDF, and a database that fails after the message was written
    inbox = EmailInboxFactory(email_address="support@acme.test")
    mail = make_email(text="With a file")
    mail.add_attachment(b"%PDF-1.4 kept?", maintype="application", subtype="pdf", filename="kept.pdf")
    before = kept_files()
    original = services.message_receive

    def fails_after_writing(**kwargs):
        original(**kwargs)
        raise RuntimeError("the database went away")

    monkeypatch.setattr(services, "message_receive", fails_after_writing)
    # when it arrives
    with pytest.raises(RuntimeError):
        email_receive(raw=mail.as_bytes(), inbox=inbox)
    # then neither the message nor its file is kept
    assert not Message.objects.exists() and kept_files() == before


def test_more_files_than_a_message_takes_are_listed_not_kept(smtp_receiver, settings):
    EmailInboxFactory(email_address="support@acme.test")
    mail = make_email(text="Lots")
    for index in range(settings.ATTACHMENTS_PER_MESSAGE + 2):
        mail.add_attachment(f"line {index}".encode(), maintype="text", subtype="plain", filename=f"f{index}.txt")
    send(smtp_receiver, mail)
    message = Message.objects.get(direction=Message.Direction.INBOUND)
    rejected = [entry.get("rejected") for entry in message.attachments]
    assert rejected == [None] * settings.ATTACHMENTS_PER_MESSAGE + ["too_many_attachments"] * 2
    assert "f11.txt" in Message.objects.get(is_note=True).body


def test_mail_without_a_sender_is_refused_and_garbage_never_crashes(smtp_receiver):
    EmailInboxFactory(email_address="support@acme.test")
    host, port = smtp_receiver
    with smtplib.SMTP(host, port, timeout=10) as client:
        client.ehlo()
        client.mail("x@example.com")
        client.rcpt("support@acme.test")
        code, _ = client.data(b"this is not\x00 MIME \xff\xfe at all")
    assert code == 550
    assert not Message.objects.exists()


# --- parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"From: a@example.com\r\nContent-Type: text/plain; charset=klingon\r\n\r\nQapla\xff\xfe'\r\n",
        b"From: a@example.com\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64###\r\n",
        b"From: a@example.com\r\nSubject: =?bogus?Q?=FF=FE?=\r\nContent-Type: multipart/mixed; boundary=\r\n\r\nx",
        b"From: =?utf-8?b?w6k=?= <a@example.com>\r\nContent-Type: text/html; charset=latin-1\r\n\r\n<p>caf\xe9</p>",
        b"From: a@example.com\r\nContent-Type: multipart/alternative; boundary=B\r\n\r\n--B\r\n"
        b"Content-Type: text/plain; charset=shift_jis\r\n\r\n\x82\xb1\x82\xf1\xff\r\n--B",
    ],
)
def test_broken_charsets_and_structures_decode_without_crashing(raw):
    parsed = parse_email(raw)
    assert parsed.sender == "a@example.com"
    assert isinstance(parsed.text, str) and isinstance(parsed.html, str)


# --- in, by HTTP --------------------------------------------------------------------------


def test_the_http_hook_needs_the_inbox_secret_and_deduplicates(client):
    inbox = EmailInboxFactory(email_address="support@acme.test")
    raw = make_email(message_id="<hook@example.com>").as_bytes()
    # forged or missing secret: 403, nothing stored
    assert hook(client, inbox, raw, secret="wrong").status_code == 403
    assert hook(client, inbox, raw, secret="").status_code == 403
    assert not Message.objects.exists()
    # the right secret stores it; the provider's retry gives the same message
    first = hook(client, inbox, raw)
    again = hook(client, inbox, raw)
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["message_id"] == again.json()["message_id"] and again.json()["created"] is False
    assert Message.objects.count() == 1


def test_the_http_hook_rejects_bad_input_clearly(client, settings):
    inbox = EmailInboxFactory(email_address="support@acme.test")
    assert client.post("/hooks/email/nope/inbound", b"x", content_type="message/rfc822").status_code == 404
    no_sender = hook(client, inbox, b"Subject: hi\r\n\r\nbody")
    assert no_sender.status_code == 400 and no_sender.json()["error"]["code"] == "email_without_sender"
    assert hook(client, inbox, b"").status_code == 400
    settings.EMAIL_MAX_BYTES = 2048
    too_big = hook(client, inbox, make_email(text="y" * 5000).as_bytes())
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "email_too_large"
    assert client.get(f"/hooks/email/{inbox.public_id}/inbound").status_code == 405
    assert not Message.objects.exists()


# --- out, and threading back --------------------------------------------------------------


def test_an_agent_reply_leaves_by_smtp_threaded_and_the_answer_comes_back(smtp_receiver, smtp_sink):
    # given a customer's email in an email inbox
    inbox = EmailInboxFactory(email_address="support@acme.test", name="Acme support")
    agent = agent_user(inbox)
    send(smtp_receiver, make_email(subject="Parcel", message_id="<q1@example.com>"))
    conversation = Conversation.objects.get()
    # when the agent replies (default channel: the customer's, email)
    reply = services.message_send(conversation=conversation, by=agent, body="It ships today.\nSorry & thanks!").message
    # then the sink received one mail, threaded to the customer's
    assert len(smtp_sink.messages) == 1
    sent = smtp_sink.messages[0]
    mail = message_from_bytes(sent["raw"], policy=policy.default)
    assert sent["to"] == ["ana@example.com"]
    assert mail["From"].addresses[0].addr_spec == "support@acme.test"
    assert mail["Reply-To"].addresses[0].addr_spec == reply_address(conversation)
    assert mail["In-Reply-To"] == "<q1@example.com>" and "<q1@example.com>" in mail["References"]
    assert mail["Subject"] == "Re: Parcel"
    assert mail.get_body(("plain",)).get_content().replace("\r\n", "\n").strip() == "It ships today.\nSorry & thanks!"
    assert "Sorry &amp; thanks!" in mail.get_body(("html",)).get_content()
    reply.refresh_from_db()
    assert reply.delivery_status == "sent" and reply.external_id == mail["Message-ID"]
    # when the customer answers to the Reply-To address, quoting our mail
    answer = make_email(
        to=mail["Reply-To"],
        subject="Re: Parcel",
        text="Great, thanks!\n\nOn Tue, Acme wrote:\n> It ships today.",
        in_reply_to=mail["Message-ID"],
        references=f"<q1@example.com> {mail['Message-ID']}",
    )
    send(smtp_receiver, answer)
    # then it joins the same conversation, after the reply
    last = conversation.messages.order_by("-seq").first()
    assert last.body == "Great, thanks!" and last.seq == 3 and last.conversation_id == conversation.pk


def test_a_reply_is_sent_once_even_if_delivery_runs_again(smtp_receiver, smtp_sink):
    inbox = EmailInboxFactory(email_address="support@acme.test")
    send(smtp_receiver, make_email())
    reply = services.message_send(conversation=Conversation.objects.get(), by=agent_user(inbox), body="Hi")
    outbound.deliver(message_id=reply.message.pk)
    outbound.deliver(message_id=reply.message.pk)
    assert len(smtp_sink.messages) == 1


def test_a_refused_reply_is_recorded_as_failed_not_a_500(smtp_receiver, smtp_sink, as_user):
    inbox = EmailInboxFactory(email_address="support@acme.test")
    agent = agent_user(inbox)
    send(smtp_receiver, make_email())
    conversation = Conversation.objects.get()
    smtp_sink.refuse = True
    response = as_user(agent).post(
        f"/api/v1/conversations/{conversation.pk}/messages/", {"body": "Hello?"}, format="json"
    )
    assert response.status_code == 201
    message = Message.objects.get(pk=response.json()["id"])
    assert message.delivery_status == "failed" and "refused" in message.delivery_error


def test_the_thread_token_proves_an_address_typed_into_the_chat_form(smtp_receiver, smtp_sink):
    # given a web visitor who typed their email (unverified) and got a reply by email
    web = InboxFactory()
    EmailInboxFactory(email_address="support@acme.test")
    visitor = services.contact_identify(
        claims=[Claim(Kind.VISITOR, "v-1", False), Claim(Kind.EMAIL, "ana@example.com", False)], name="Ana"
    )
    conversation = services.message_receive(inbox=web, contact=visitor, channel="web", body="hi").message.conversation
    services.message_send(conversation=conversation, by=agent_user(web), body="We'll email you.", channel="email")
    mail = message_from_bytes(smtp_sink.messages[0]["raw"], policy=policy.default)
    # when Ana answers from that address to the reply-to address
    send(smtp_receiver, make_email(to=mail["Reply-To"], text="Thanks!", in_reply_to=mail["Message-ID"]))
    # then it is the same person and the same conversation; the address is now verified
    assert Contact.objects.count() == 1
    assert conversation.messages.order_by("-seq").first().body == "Thanks!"
    assert ContactIdentity.objects.get(kind=Kind.EMAIL).verified


def test_a_reply_for_a_contact_without_email_fails_clearly():
    web = InboxFactory()
    EmailInboxFactory(email_address="support@acme.test")
    visitor = services.contact_identify(claims=[Claim(Kind.VISITOR, "v-2", False)])
    conversation = services.message_receive(inbox=web, contact=visitor, channel="web", body="hi").message.conversation
    # when an agent picks email for someone with no address, it is refused before anything is stored
    with pytest.raises(InvalidInput) as refused:
        services.message_send(conversation=conversation, by=agent_user(web), body="Hi", channel="email")
    assert refused.value.code == "channel_unavailable"
    assert refused.value.fields == {"channel": ["no email address"]}
    assert conversation.messages.count() == 1
    # and should the address go missing after the reply was written (a merge undone, an erasure),
    # delivery still says why it failed
    sent = services.message_send(conversation=conversation, by=agent_user(web), body="Hi again").message
    Message.objects.filter(pk=sent.pk).update(channel="email", delivery_status="pending")
    outbound.deliver(message_id=sent.pk)
    sent.refresh_from_db()
    assert sent.delivery_status == "failed" and sent.delivery_error == "The customer has no email address."


def test_the_receiver_can_hand_mail_to_a_running_servers_hook(live_server_url):
    # given the SMTP receiver in forward mode (what `make run` starts) and a running server
    from chat.connectors.email import smtp_controller
    from tests.chat.channel_helpers import free_port

    inbox = EmailInboxFactory(email_address="support@acme.test")
    port = free_port()
    controller = smtp_controller(host="127.0.0.1", port=port, forward_url=live_server_url)
    controller.start()
    try:
        # when a mail arrives, and is delivered again
        mail = make_email(message_id="<fwd@example.com>", text="Forwarded hello")
        send(("127.0.0.1", port), mail)
        send(("127.0.0.1", port), mail)
        # then the server stored it once
        message = Message.objects.get()
        assert message.body == "Forwarded hello" and message.inbox == inbox
        # and a reply addressed only by the envelope (Bcc) to the conversation token threads too
        token_address = reply_address(message.conversation)
        send(("127.0.0.1", port), make_email(to="someone@else.test", text="Second"), to=[token_address])
        assert list(message.conversation.messages.values_list("body", flat=True)) == ["Forwarded hello", "Second"]
        # and a mail bigger than Django's in-memory upload limit (2.5 MB) still goes through the hook
        big = make_email(text="With a scan")
        big.add_attachment(b"%PDF" + b"1" * (4 * 1024 * 1024), maintype="application", subtype="pdf", filename="s.pdf")
        send(("127.0.0.1", port), big)
        assert Message.objects.filter(body="With a scan").exists()
    finally:
        controller.stop()


def test_a_body_over_the_message_limit_is_kept_whole_as_an_attachment(client, settings):
    inbox = EmailInboxFactory(email_address="support@acme.test")
    long_text = "word " * 5000  # 25,000 characters
    assert hook(client, inbox, make_email(text=long_text).as_bytes()).status_code == 201
    message = Message.objects.get()
    assert len(message.body) == settings.MESSAGE_BODY_MAX_CHARS and message.body.endswith("…")
    (full,) = message.attachments
    assert full["name"] == "full-message.txt"
    assert (Path(settings.MEDIA_ROOT) / full["path"]).read_text().strip() == long_text.strip()


def test_mail_from_our_own_addresses_is_refused_so_nothing_loops(client):
    inbox = EmailInboxFactory(email_address="support@acme.test")
    own = make_email(sender="support@acme.test")
    response = hook(client, inbox, own.as_bytes())
    assert response.status_code == 400 and response.json()["error"]["code"] == "mail_loop"
    assert not Message.objects.exists()


@pytest.mark.django_db(transaction=False)
@settings_for_fuzz
@given(raw=st.binary(max_size=2000) | st.text(max_size=500).map(lambda t: ("From: a@example.com\r\n" + t).encode()))
def test_any_bytes_parse_or_are_refused_clearly(raw):
    try:
        parsed = parse_email(raw)
    except InvalidInput:
        return
    assert parsed.sender and isinstance(parsed.text, str) and isinstance(parsed.html, str)
