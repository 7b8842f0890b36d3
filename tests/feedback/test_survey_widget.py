"""Widget surveys: the card reaches the customer's widget group after commit, the answer closes it
there and shows up on the consoles (which never see the raw token)."""

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from chat import services as chat_services
from chat.events import contact_group, inbox_group
from chat.models import Conversation
from chat.widget import widget_session_start
from cxhub.asgi import application
from feedback import services
from feedback.models import SurveyResponse
from tests.factories import AgentFactory, ContactFactory, InboxFactory

pytestmark = pytest.mark.django_db
ORIGIN = b"http://127.0.0.1"


def listen(group: str) -> str:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, channel)
    return channel


def received(channel: str, *, timeout: float = 5) -> dict:
    layer = get_channel_layer()

    async def receive():
        return await asyncio.wait_for(layer.receive(channel), timeout)

    return async_to_sync(receive)()


def drain(channel: str, kind: str) -> dict:
    """The first event of this type on the channel (skipping message and status broadcasts)."""
    seen = []
    for _ in range(1000):
        event = received(channel)
        if event["type"] == kind:
            return event
        seen.append(event["type"])
    raise AssertionError(f"no {kind} event, but {len(seen)} others: {seen[:20]}")


def test_widget_survey_card_then_answer_reaches_widget_and_console(resolve, committed):
    # given a customer with the widget open (subscribed to their contact group) and a console on the inbox
    inbox, contact = InboxFactory(), ContactFactory()
    widget = listen(contact_group(contact.pk))
    console = listen(inbox_group(inbox.pk))
    # when the agent resolves the conversation
    conversation = resolve(inbox, contact)
    # then the widget gets the survey request with the questions and the raw token
    request = drain(widget, "chat.survey_request")
    assert [q["key"] for q in request["questions"]] == ["csat", "ces", "comment"]
    assert request["questions"][0] == {
        "key": "csat",
        "text": "How satisfied are you with the help you received?",
        "min": 1,
        "max": 5,
        "low_label": "Very dissatisfied",
        "high_label": "Very satisfied",
    }
    assert request["title"] == "How did we do?"
    assert request["questions"][2]["min"] is None
    assert request["url"].endswith(f"/s/{request['invitation']}/")
    assert request["conversation_id"] == conversation.pk
    token = request["invitation"]
    assert len(token) >= 22  # at least 128 bits
    # when the customer answers in the widget (what the consumer does with a survey.answer frame)
    with committed():
        services.survey_answer(token=token, channel="web", csat=5, ces=7)
    # then the widget closes its card and the console shows the answer, without the token
    assert drain(widget, "chat.survey_answered") == {"type": "chat.survey_answered", "invitation": token}
    shown = drain(console, "chat.survey_answered")
    assert shown["conversation_id"] == conversation.pk and token not in str(shown)
    assert shown["response"]["csat"] == 5 and shown["response"]["ces"] == 7
    response = SurveyResponse.objects.get()
    assert response.channel == "web" and response.invitation.channel == "web"
    # and the same survey stays answerable by its link (an edit, within 24 h)
    page = Client().get(f"/s/{token}/")
    assert page.status_code == 200 and 'name="csat" value="5" checked' in page.content.decode()


# --- the real widget and console sockets ---------------------------------------------------


async def _next_of(socket, frame_type: str, *, timeout: float = 5) -> dict:
    while True:
        frame = await socket.receive_json_from(timeout=timeout)
        if frame["type"] == frame_type:
            return frame


@pytest.mark.django_db(transaction=True)
async def test_widget_socket_shows_the_card_and_answers_it():
    # given a visitor with the widget open who wrote, and an agent who replied
    inbox = await database_sync_to_async(InboxFactory)()
    agent = (await database_sync_to_async(AgentFactory)(inboxes=[inbox])).user
    session = await database_sync_to_async(widget_session_start)(inbox=inbox, name="Ana")
    socket = WebsocketCommunicator(
        application, f"/ws/widget/?inbox={inbox.public_id}", headers=[(b"host", b"127.0.0.1"), (b"origin", ORIGIN)]
    )
    assert (await socket.connect())[0]
    await socket.send_json_to({"type": "auth", "token": session.visitor_token})
    assert (await _next_of(socket, "auth.ok"))["contact_id"] == session.contact.pk
    await socket.send_json_to({"type": "message.send", "client_msg_id": "m-1", "body": "My parcel is late"})
    conversation_id = (await _next_of(socket, "ack"))["message"]["conversation_id"]

    def reply_and_resolve():
        conversation = Conversation.objects.get(pk=conversation_id)
        chat_services.message_send(conversation=conversation, by=agent, body="It arrives tomorrow.")
        chat_services.conversation_resolve(conversation=conversation, by=agent)

    # when the agent resolves the conversation
    await database_sync_to_async(reply_and_resolve)()
    # then the widget shows a survey card
    request = await _next_of(socket, "survey.request")
    assert [q["key"] for q in request["questions"]] == ["csat", "ces", "comment"]
    token = request["invitation"]
    # when the customer sends an out-of-range score: an error frame with field errors, nothing stored
    await socket.send_json_to({"type": "survey.answer", "invitation": token, "csat": 5, "ces": 9})
    error = await _next_of(socket, "error")
    assert error["code"] == "invalid" and "ces" in error["fields"]
    # and a comment over the page's limit (2,000 characters: one validation for every channel)
    await socket.send_json_to({"type": "survey.answer", "invitation": token, "csat": 5, "comment": "x" * 2001})
    error = await _next_of(socket, "error")  # a late broadcast of the resolve may come first
    assert error["code"] == "invalid" and error["fields"]["comment"] == ["At most 2000 characters."]
    # when they answer properly
    await socket.send_json_to({"type": "survey.answer", "invitation": token, "csat": 5, "ces": 7, "comment": "Thanks"})
    # then the widget hears it is stored, and the response is there
    assert await _next_of(socket, "survey.answered") == {"type": "survey.answered", "invitation": token}
    response = await database_sync_to_async(SurveyResponse.objects.select_related("invitation").get)()
    assert (response.csat, response.ces, response.comment, response.channel) == (5, 7, "Thanks", "web")
    assert response.invitation.conversation_id == conversation_id
    # and a forged token is refused without closing the socket
    await socket.send_json_to({"type": "survey.answer", "invitation": "forged-token-123456789", "csat": 1})
    assert (await _next_of(socket, "error"))["code"] == "survey_not_found"
    await socket.disconnect()
