"""Replay: every inbound path, the same request 100 times, stores exactly one row.

Paths: the widget's message.send frame (over several reconnections, as a retrying widget does),
the REST message POST with a client_msg_id, SMTP (smtplib → run_smtp's receiver), the inbound
email hook, the signed Twilio SMS webhook, and the survey page's POST.
"""

import smtplib
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from twilio.request_validator import RequestValidator

from chat import services
from chat.models import AgentProfile, ConversationEvent, Message
from chat.widget import widget_session_start
from cxhub.asgi import application
from feedback.models import SurveyResponse
from tests.chat.channel_helpers import inbound_params, make_email, smtp_receiver  # noqa: F401  (fixture)
from tests.factories import (
    AgentFactory,
    ContactFactory,
    EmailInboxFactory,
    InboxFactory,
    SmsInboxFactory,
    conversation_with,
)

from .figures import FIGURES
from .world import send_survey

pytestmark = pytest.mark.django_db(transaction=True)
REPLAYS = 100


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def counted(path: str, rows: int) -> None:
    FIGURES["replay_paths"] += 1
    FIGURES["replay_requests"] += REPLAYS
    FIGURES["replay_rows_extra"] += rows - 1
    assert rows == 1, f"{path}: {REPLAYS} replays stored {rows} rows"


async def test_widget_message_send_frame_replayed_100_times_over_reconnections():
    # given a visitor of a web inbox
    inbox = await database_sync_to_async(InboxFactory)(allowed_origins=["http://127.0.0.1"])
    session = await database_sync_to_async(widget_session_start)(inbox=inbox, name="Replay")
    frame = {"type": "message.send", "client_msg_id": str(uuid.uuid4()), "body": "Where is my parcel?"}
    acks = []
    # when the same frame is sent 100 times: 10 sockets (a reconnecting widget), 10 sends each
    for _ in range(REPLAYS // 10):
        socket = WebsocketCommunicator(
            application,
            f"/ws/widget/?inbox={inbox.public_id}",
            headers=[(b"host", b"127.0.0.1"), (b"origin", b"http://127.0.0.1")],
        )
        connected, _ = await socket.connect()
        assert connected
        await socket.send_json_to({"type": "auth", "token": session.visitor_token})
        assert (await socket.receive_json_from(timeout=3))["type"] == "auth.ok"
        for _ in range(10):
            await socket.send_json_to(frame)
        received = 0
        while received < 10:
            answer = await socket.receive_json_from(timeout=5)
            if answer["type"] == "error":
                pytest.fail(f"a replayed frame was refused: {answer}")
            if answer["type"] == "ack":
                acks.append(answer["message"]["id"])
                received += 1
        await socket.disconnect()
    # then every send was acknowledged with the same message, stored once
    rows = await database_sync_to_async(Message.objects.filter(client_msg_id=frame["client_msg_id"]).count)()
    assert len(acks) == REPLAYS and len(set(acks)) == 1
    counted("ws/widget/ message.send", rows)


def test_rest_message_post_with_a_client_msg_id_replayed_100_times():
    # given an agent and a conversation
    inbox = InboxFactory()
    agent = AgentFactory(inboxes=[inbox]).user
    conversation = conversation_with(inbox)
    client = Client()
    client.force_login(agent)
    body = {"body": "On its way.", "client_msg_id": str(uuid.uuid4())}
    # when the same POST is made 100 times
    answers = [
        client.post(f"/api/v1/conversations/{conversation.pk}/messages/", body, content_type="application/json")
        for _ in range(REPLAYS)
    ]
    # then the first creates (201), the rest give the same message back (200)
    assert answers[0].status_code == 201 and all(a.status_code == 200 for a in answers[1:])
    assert len({a.json()["id"] for a in answers}) == 1
    counted("POST /api/v1/conversations/{id}/messages/", conversation.messages.filter(**body).count())


def test_smtp_delivery_of_the_same_email_replayed_100_times(smtp_receiver):  # noqa: F811
    # given an email inbox and a mail with its Message-ID
    inbox = EmailInboxFactory(email_address="replay@acme.test")
    mail = make_email(to=inbox.email_address, text="My parcel is late.")
    host, port = smtp_receiver
    # when it is delivered 100 times (a sending server retrying)
    with smtplib.SMTP(host, port, timeout=10) as client:
        for _ in range(REPLAYS):
            client.send_message(mail, to_addrs=[inbox.email_address])
    # then one message
    counted("SMTP run_smtp", Message.objects.filter(inbox=inbox, direction="in").count())


def test_email_hook_with_the_same_raw_mime_replayed_100_times():
    inbox = EmailInboxFactory(email_address="hook@acme.test")
    raw = make_email(to=inbox.email_address, text="Refund please.").as_bytes()
    client = Client()
    answers = [
        client.generic(
            "POST",
            f"/hooks/email/{inbox.public_id}/inbound",
            raw,
            "message/rfc822",
            HTTP_AUTHORIZATION=f"Bearer {inbox.webhook_secret}",
        )
        for _ in range(REPLAYS)
    ]
    assert answers[0].status_code == 201 and all(a.status_code == 200 for a in answers[1:])
    counted("POST /hooks/email/{inbox}/inbound", Message.objects.filter(inbox=inbox).count())


def test_signed_twilio_sms_webhook_replayed_100_times(settings):
    settings.SMS_OUTBOX = True
    inbox = SmsInboxFactory()
    params = inbound_params(inbox, body="Is my order shipped?", sid="SM" + uuid.uuid4().hex)
    path = f"/hooks/twilio/{inbox.public_id}/sms"
    signature = RequestValidator(inbox.provider_config["auth_token"]).compute_signature(
        settings.PUBLIC_URL + path, params
    )
    client = Client()
    answers = [client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature) for _ in range(REPLAYS)]
    assert all(a.status_code == 200 for a in answers)
    counted("POST /hooks/twilio/{inbox}/sms", Message.objects.filter(inbox=inbox, direction="in").count())


def test_survey_page_post_replayed_100_times():
    # given a sent survey
    inbox = InboxFactory()
    agent = AgentFactory(inboxes=[inbox], availability=AgentProfile.Availability.ONLINE).user
    conversation = services.message_receive(
        inbox=inbox, contact=ContactFactory(), channel="web", body="Hi"
    ).message.conversation
    services.message_send(conversation=conversation, by=agent, body="Hello!")
    token = uuid.uuid4().hex
    invitation = send_survey(conversation, token)
    client = Client()
    # when the same answer is posted 100 times (a double-clicking customer, a retrying browser)
    answers = [client.post(f"/s/{token}/", {"csat": "4", "comment": "Fine"}) for _ in range(REPLAYS)]
    # then one response and one survey_answered event
    assert all(a.status_code == 303 for a in answers)
    events = ConversationEvent.objects.filter(conversation=conversation, kind="survey_answered").count()
    assert events == 1
    counted("POST /s/{token}/", SurveyResponse.objects.filter(invitation=invitation).count())
