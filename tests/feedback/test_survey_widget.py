"""Widget surveys: the card reaches the customer's widget group after commit, the answer closes it
there and shows up on the consoles (which never see the raw token)."""

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.test import Client

from chat.events import contact_group, inbox_group
from feedback import services
from feedback.models import SurveyResponse
from tests.factories import ContactFactory, InboxFactory

pytestmark = pytest.mark.django_db


def listen(group: str) -> str:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, channel)
    return channel


def received(channel: str, *, timeout: float = 5) -> dict:
    import asyncio

    layer = get_channel_layer()

    async def receive():
        return await asyncio.wait_for(layer.receive(channel), timeout)

    return async_to_sync(receive)()


def drain(channel: str, kind: str) -> dict:
    """The first event of this type on the channel (skipping message and status broadcasts)."""
    for _ in range(50):
        event = received(channel)
        if event["type"] == kind:
            return event
    raise AssertionError(f"no {kind} event")


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
    }
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
