"""The SMS channel: webhooks signed with Twilio's algorithm, replies through a fake Twilio REST server."""

import io

import pytest
from django.conf import settings as django_settings
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from PIL import Image

from chat import attachments, services
from chat.connectors import outbound
from chat.connectors import sms as sms_connector
from chat.connectors.sms import outbox_messages, send_sms
from chat.models import Contact, ContactIdentity, Conversation, Message
from tests.chat.channel_helpers import fetch_like_twilio, inbound_params, twilio_post
from tests.factories import SmsInboxFactory, agent_user

pytestmark = pytest.mark.django_db(transaction=True)

CUSTOMER = "+14155550123"


def text_in(client, inbox, body="hello", *, sid="SM" + "a" * 32, sender=CUSTOMER, **kwargs):
    return twilio_post(client, inbox, inbound_params(inbox, sender=sender, body=body, sid=sid), **kwargs)


# --- in ---------------------------------------------------------------------------------


def test_a_signed_sms_opens_a_conversation_for_a_verified_phone(client):
    inbox = SmsInboxFactory()
    response = text_in(client, inbox, "Where is my order?", sender="+1 (415) 555-0123")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/xml")
    message = Message.objects.get()
    assert message.channel == "sms" and message.body == "Where is my order?" and message.inbox == inbox
    assert (message.provider, message.external_id) == ("twilio", "SM" + "a" * 32)
    identity = ContactIdentity.objects.get(kind="phone")
    assert identity.value == CUSTOMER and identity.verified
    assert message.conversation.contact.phone == CUSTOMER


@pytest.mark.parametrize("signature", ["", "bm90IHRoZSBzaWduYXR1cmU=", None])
def test_forged_or_missing_signatures_get_403_and_nothing_is_stored(client, signature):
    inbox = SmsInboxFactory()
    if signature is None:  # signed, but with someone else's token
        response = text_in(client, inbox, token="not-the-inbox-token")
    else:
        path = f"/hooks/twilio/{inbox.public_id}/sms"
        headers = {"HTTP_X_TWILIO_SIGNATURE": signature} if signature else {}
        response = client.post(path, inbound_params(inbox), **headers)
    assert response.status_code == 403 and response.json()["error"]["code"] == "invalid_signature"
    assert not Message.objects.exists() and not Contact.objects.exists()


def test_a_signature_for_other_params_or_another_url_is_refused(client, settings):
    inbox = SmsInboxFactory()
    good = inbound_params(inbox)
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(inbox.provider_config["auth_token"])
    signature = validator.compute_signature(settings.PUBLIC_URL + f"/hooks/twilio/{inbox.public_id}/sms", good)
    tampered = {**good, "Body": "send me a refund"}
    path = f"/hooks/twilio/{inbox.public_id}/sms"
    assert client.post(path, tampered, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 403
    elsewhere = validator.compute_signature("https://evil.example" + path, good)
    assert client.post(path, good, HTTP_X_TWILIO_SIGNATURE=elsewhere).status_code == 403
    assert not Message.objects.exists()


def test_a_replayed_webhook_stores_one_message(client):
    inbox = SmsInboxFactory()
    assert text_in(client, inbox, "hi").status_code == 200
    assert text_in(client, inbox, "hi").status_code == 200
    assert Message.objects.count() == 1


def test_unknown_inboxes_numbers_and_senders_are_refused_clearly(client):
    inbox = SmsInboxFactory()
    assert client.post("/hooks/twilio/nope/sms", {"Body": "x"}).status_code == 404
    wrong_to = inbound_params(inbox, To="+15005550999")
    response = twilio_post(client, inbox, wrong_to)
    assert response.status_code == 400 and response.json()["error"]["code"] == "unknown_number"
    assert text_in(client, inbox, sender="not a number").status_code == 400
    no_sid = {k: v for k, v in inbound_params(inbox).items() if k != "MessageSid"}
    assert twilio_post(client, inbox, no_sid).status_code == 400
    assert client.get(f"/hooks/twilio/{inbox.public_id}/sms").status_code == 405
    assert not Message.objects.exists()


def test_an_sms_that_another_app_answers_is_not_a_chat_message(client, monkeypatch):
    # given an app's reply handler (feedback registers its survey replies so) that takes a "5"
    seen = []
    monkeypatch.setattr(
        sms_connector, "_reply_handlers", [lambda *, contact, inbox, body: seen.append(body) or body == "5"]
    )
    inbox = SmsInboxFactory()
    assert text_in(client, inbox, "5").status_code == 200
    assert seen == ["5"] and not Message.objects.exists()


# --- STOP / START / HELP ----------------------------------------------------------------


def test_stop_opts_out_and_nothing_is_sent_afterwards(client, sms_outbox):
    inbox = SmsInboxFactory()
    agent = agent_user(inbox)
    text_in(client, inbox, "my order?", sid="SM1")
    conversation = Conversation.objects.get()
    # when the customer texts STOP
    assert text_in(client, inbox, " stop ", sid="SM2").status_code == 200
    contact = Contact.objects.get()
    assert contact.sms_opted_out
    # then an agent reply is not sent, and says why; surveys are suppressed too
    reply = services.message_send(conversation=conversation, by=agent, body="Here it is").message
    reply.refresh_from_db()
    assert reply.delivery_status == "failed" and "opted out" in reply.delivery_error
    assert send_sms(inbox=inbox, to=CUSTOMER, body="How did we do?") is None
    assert outbox_messages() == []
    # the agent sees a note about it; STOP itself is not a chat message
    assert conversation.messages.filter(is_note=True, body__contains="no more SMS").exists()
    assert not conversation.messages.filter(body__iexact=" stop ").exists()
    # when they text START, SMS flow again
    text_in(client, inbox, "START", sid="SM3")
    assert send_sms(inbox=inbox, to=CUSTOMER, body="Welcome back") is not None
    assert [sms.body for sms in outbox_messages(CUSTOMER)] == ["Welcome back"]


def test_help_gets_an_answer_in_twiml(client):
    inbox = SmsInboxFactory(name="Acme SMS")
    response = text_in(client, inbox, "HELP")
    assert b"<Message>Acme SMS: reply to this number" in response.content and b"STOP" in response.content
    assert not Message.objects.exists()


# --- out --------------------------------------------------------------------------------


def test_an_agent_reply_goes_out_through_the_twilio_rest_api(client, fake_twilio, settings):
    inbox = SmsInboxFactory()
    text_in(client, inbox, "hi")
    conversation = Conversation.objects.get()
    reply = services.message_send(conversation=conversation, by=agent_user(inbox), body="Hello from Acme").message
    # then Twilio was asked once, with the inbox's credentials, number and a status callback
    (request,) = fake_twilio.requests
    account = inbox.provider_config["account_sid"]
    assert request["path"] == f"/2010-04-01/Accounts/{account}/Messages.json"
    assert request["auth"] == f"{account}:{inbox.provider_config['auth_token']}"
    form = request["form"]
    assert (form["To"], form["From"], form["Body"]) == (CUSTOMER, inbox.phone_number, "Hello from Acme")
    assert form["StatusCallback"] == f"{settings.PUBLIC_URL}/hooks/twilio/{inbox.public_id}/status"
    reply.refresh_from_db()
    assert reply.delivery_status == "sent" and (reply.provider, reply.external_id) == ("twilio", f"SM{1:032d}")
    # a second delivery run sends nothing
    outbound.deliver(message_id=reply.pk)
    assert len(fake_twilio.requests) == 1


def test_status_callbacks_move_delivery_forward_only(client, fake_twilio):
    inbox = SmsInboxFactory()
    text_in(client, inbox, "hi")
    reply = services.message_send(conversation=Conversation.objects.get(), by=agent_user(inbox), body="Hi").message
    sid = f"SM{1:032d}"

    def status(value, **extra):
        return twilio_post(client, inbox, {"MessageSid": sid, "MessageStatus": value, **extra}, kind="status")

    assert status("delivered").status_code == 200
    reply.refresh_from_db()
    assert reply.delivery_status == "delivered"
    status("sent")  # late and out of order
    reply.refresh_from_db()
    assert reply.delivery_status == "delivered"
    # forged status callbacks change nothing
    forged = twilio_post(client, inbox, {"MessageSid": sid, "MessageStatus": "failed"}, kind="status", token="x")
    assert forged.status_code == 403
    reply.refresh_from_db()
    assert reply.delivery_status == "delivered"
    # unknown sids (a survey SMS, someone else's) are acknowledged and ignored
    other = twilio_post(client, inbox, {"MessageSid": "SMother", "MessageStatus": "failed"}, kind="status")
    assert other.status_code == 200 and other.json() == {"message_id": None}


def test_a_failed_status_records_the_error(client, fake_twilio):
    inbox = SmsInboxFactory()
    text_in(client, inbox, "hi")
    reply = services.message_send(conversation=Conversation.objects.get(), by=agent_user(inbox), body="Hi").message
    params = {"MessageSid": f"SM{1:032d}", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    twilio_post(client, inbox, params, kind="status")
    reply.refresh_from_db()
    assert reply.delivery_status == "failed" and "30003" in reply.delivery_error


def test_twilio_refusals_are_recorded_and_an_unsubscribed_number_opts_out(client, fake_twilio):
    inbox = SmsInboxFactory()
    text_in(client, inbox, "hi")
    conversation = Conversation.objects.get()
    agent = agent_user(inbox)
    fake_twilio.answer_status = 500
    fake_twilio.answer_body = {"code": 20500, "message": "Internal Server Error", "status": 500}
    failed = services.message_send(conversation=conversation, by=agent, body="one").message
    failed.refresh_from_db()
    assert failed.delivery_status == "failed" and "20500" in failed.delivery_error
    fake_twilio.answer_status = 400
    fake_twilio.answer_body = {"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400}
    services.message_send(conversation=conversation, by=agent, body="two")
    assert Contact.objects.get().sms_opted_out


def test_unreachable_twilio_is_a_recorded_failure(client, settings):
    settings.SMS_OUTBOX = False
    settings.TWILIO_API_BASE = "http://127.0.0.1:9"  # nothing listens there
    inbox = SmsInboxFactory()
    text_in(client, inbox, "hi")
    reply = services.message_send(conversation=Conversation.objects.get(), by=agent_user(inbox), body="Hi").message
    reply.refresh_from_db()
    assert reply.delivery_status == "failed" and "could not be reached" in reply.delivery_error


def test_the_embedded_default_keeps_sms_in_the_outbox(client, sms_outbox):
    inbox = SmsInboxFactory()
    text_in(client, inbox, "hi")
    reply = services.message_send(conversation=Conversation.objects.get(), by=agent_user(inbox), body="Hi!").message
    (sms,) = outbox_messages()
    assert (sms.to, sms.from_number, sms.body) == (CUSTOMER, inbox.phone_number, "Hi!")
    reply.refresh_from_db()
    assert reply.delivery_status == "sent" and reply.external_id == sms.sid


# --- the demo script --------------------------------------------------------------------


def test_simulate_sms_posts_a_correctly_signed_sms_to_a_running_server(live_server_url, settings):
    settings.PUBLIC_URL = live_server_url
    SmsInboxFactory(phone_number="+15005550006")
    call_command("simulate_sms", "hello from the demo", to="+15005550006", sender="+14155550123")
    message = Message.objects.get()
    assert message.body == "hello from the demo" and message.channel == "sms"
    with pytest.raises(Exception, match="refused"):
        call_command("simulate_sms", "forged", to="+15005550006", sender="+14155550123", bad_signature=True)
    assert Message.objects.count() == 1


# --- MMS: an agent's files, fetched by Twilio from signed links ----------------------------


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (250, 200, 0)).save(out, "PNG")
    return out.getvalue()


def sms_conversation_with_a_reply(client, as_user, files: dict, **fields):
    """An SMS conversation, and the agent's reply (or note) with `files` (name → bytes) posted as multipart."""
    inbox = SmsInboxFactory()
    text_in(client, inbox, "Can you send me the label?")
    conversation = Conversation.objects.get()
    uploads = [SimpleUploadedFile(name, data, content_type="application/octet-stream") for name, data in files.items()]
    return as_user(agent_user(inbox)).post(
        f"/api/v1/conversations/{conversation.pk}/messages/", {**fields, "files": uploads}, format="multipart"
    )


def test_files_on_an_sms_reply_go_out_as_mms_from_signed_expiring_links(
    client, as_user, fake_twilio, live_server_url, settings
):
    # given this server reachable by Twilio at PUBLIC_URL
    settings.PUBLIC_URL = live_server_url
    label, photo = b"%PDF-1.4 the label", png_bytes()
    # when the agent replies to an SMS conversation with a PDF and a picture
    files = {"label.pdf": label, "parcel.png": photo}
    response = sms_conversation_with_a_reply(client, as_user, files, body="Here it is")
    assert response.status_code == 201
    # then Twilio was asked for one message with both files as MediaUrls under PUBLIC_URL
    (request,) = fake_twilio.requests
    assert request["form"]["Body"] == "Here it is"
    urls = [fetched["url"] for fetched in fake_twilio.media]
    assert len(urls) == 2 and all(url.startswith(f"{live_server_url}/files/") for url in urls)
    # and fetching them without a login (as Twilio did) gave the files, with their types
    assert [(m["status"], m["type"], m["body"]) for m in fake_twilio.media] == [
        (200, "application/pdf", label),
        (200, "image/png", photo),
    ]
    assert Message.objects.get(pk=response.json()["id"]).delivery_status == "sent"
    # and a forged or altered link is a dead link
    message_id = response.json()["id"]
    forged = signing.dumps([message_id, 0, "p", 0], salt="not-ours")
    assert fetch_like_twilio(f"{live_server_url}/files/{forged}")["status"] == 404
    assert fetch_like_twilio(urls[0][:-3] + "xyz")["status"] == 404
    # and so is a link once it has expired
    settings.ATTACHMENT_URL_MAX_AGE = -1
    assert fetch_like_twilio(urls[0])["status"] == 404


def test_an_mms_link_never_opens_a_note(client, as_user, fake_twilio):
    # given a note with a file (notes never leave)
    note = sms_conversation_with_a_reply(client, as_user, {"n.pdf": b"%PDF-1.4 note"}, body="internal", is_note="true")
    assert note.status_code == 201 and fake_twilio.requests == []
    # then a provider's link for it, even correctly signed, finds nothing
    link = attachments.file_url(note.json()["id"], 0, audience=attachments.Audience.PROVIDER)
    assert client.get(link).status_code == 404


def test_the_embedded_outbox_keeps_an_mms_links(client, as_user, sms_outbox):
    response = sms_conversation_with_a_reply(client, as_user, {"parcel.png": png_bytes()}, body="")
    assert response.status_code == 201
    (sms,) = outbox_messages(CUSTOMER)
    assert sms.body == "" and len(sms.media_urls) == 1 and "/files/" in sms.media_urls[0]
    assert client.get(sms.media_urls[0].removeprefix(django_settings.PUBLIC_URL)).status_code == 200
