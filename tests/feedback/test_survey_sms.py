"""SMS surveys end to end: the question goes out by SMS, the customer's replies come back through the
signed Twilio webhook, a score answers ("5 great service"), CES follows, anything else is a message."""

import itertools

import pytest
from django.test import Client
from twilio.request_validator import RequestValidator

from chat import services as chat_services
from chat.connectors import sms as sms_connector
from chat.models import Message
from feedback.models import SurveyInvitation, SurveyPolicy, SurveyResponse
from tests.factories import InboxFactory, SmsInboxFactory, agent_user, contact_with

pytestmark = pytest.mark.django_db

PHONE = "+14155550123"
sids = itertools.count(1)


@pytest.fixture(autouse=True)
def outbox(settings):
    settings.SMS_OUTBOX = True
    sms_connector.outbox_clear()
    yield sms_connector
    sms_connector.outbox_clear()


def texts_to(number: str) -> list[str]:
    return [sms.body for sms in sms_connector.outbox_messages(to=number)]


def text_in(inbox, body: str, committed, *, sender: str = PHONE):
    """The customer texts `body` to the inbox: a correctly signed Twilio webhook."""
    from django.conf import settings

    path = f"/hooks/twilio/{inbox.public_id}/sms"
    params = {"MessageSid": f"SM{next(sids):032d}", "From": sender, "To": inbox.phone_number, "Body": body}
    signature = RequestValidator(inbox.provider_config["auth_token"]).compute_signature(
        settings.PUBLIC_URL + path, params
    )
    with committed():
        response = Client().post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 200, response.content
    return response


@pytest.fixture
def surveyed(resolve):
    """An SMS conversation, resolved: the CSAT question has gone out by SMS."""
    inbox = SmsInboxFactory(name="Acme SMS")
    contact = contact_with("phone", PHONE)
    conversation = resolve(inbox, contact)
    return inbox, conversation


def test_sms_survey_csat_then_ces_then_thanks(surveyed, committed):
    inbox, conversation = surveyed
    # then the CSAT question went out from the inbox's number
    question = texts_to(PHONE)[-1]
    assert question.startswith("How satisfied are you with the help you received? Reply 1-5")
    invitation = SurveyInvitation.objects.get(conversation=conversation)
    assert invitation.channel == "sms" and invitation.sms_pending_question == "csat"
    messages_before = Message.objects.count()
    # when the customer replies "5 great service"
    text_in(inbox, "5 great service", committed)
    # then it is their CSAT answer with a comment (not a message), and the CES question follows
    response = SurveyResponse.objects.get()
    assert (response.csat, response.comment, response.channel) == (5, "great service", "sms")
    assert texts_to(PHONE)[-1].startswith("The company made it easy for me to handle my issue. Reply 1-7")
    # when they reply " 6!"
    text_in(inbox, " 6!", committed)
    # then the CES score joins the same response, they are thanked, and no message was stored
    response.refresh_from_db()
    assert (response.csat, response.ces, response.comment) == (5, 6, "great service")
    assert texts_to(PHONE)[-1] == "Thank you for your feedback!"
    assert Message.objects.count() == messages_before
    assert conversation.events.filter(kind="survey_answered").count() == 2
    # and a later text is an ordinary message again (it opens a new conversation)
    text_in(inbox, "5", committed)
    assert Message.objects.count() == messages_before + 1
    assert Message.objects.order_by("-id").first().conversation_id != conversation.pk


def test_a_number_word_answers_too(surveyed, committed):
    inbox, _ = surveyed
    text_in(inbox, "Five", committed)
    assert SurveyResponse.objects.get().csat == 5


def test_a_text_that_is_no_score_is_an_ordinary_message_and_the_survey_stays_open(surveyed, committed):
    inbox, conversation = surveyed
    # when the customer texts something else while the survey is open
    text_in(inbox, "one more question: where is my parcel?", committed)
    # then it is a message (in a new conversation), not an answer
    assert not SurveyResponse.objects.exists()
    message = Message.objects.order_by("-id").first()
    assert message.body == "one more question: where is my parcel?" and message.channel == "sms"
    # and the survey still takes a score afterwards
    text_in(inbox, "4", committed)
    assert SurveyResponse.objects.get().csat == 4


def test_a_reply_with_no_survey_open_is_an_ordinary_message(committed):
    inbox = SmsInboxFactory()
    text_in(inbox, "5", committed, sender="+14155550999")
    assert not SurveyResponse.objects.exists()
    assert Message.objects.get().body == "5"


def test_csat_only_policy_thanks_after_the_first_answer(resolve, committed):
    inbox = SmsInboxFactory()
    SurveyPolicy.objects.create(inbox=inbox, questions=["csat"])
    resolve(inbox, contact_with("phone", PHONE))
    text_in(inbox, "3", committed)
    assert SurveyResponse.objects.get().csat == 3
    assert texts_to(PHONE)[-1] == "Thank you for your feedback!"


def test_sms_opt_out_skips_the_survey(resolve):
    inbox = SmsInboxFactory()
    contact = contact_with("phone", PHONE)
    contact.sms_opted_out = True
    contact.save()
    conversation = resolve(inbox, contact)
    invitation = SurveyInvitation.objects.get(conversation=conversation)
    assert (invitation.status, invitation.skip_reason) == ("skipped", "sms_opted_out")
    assert not any("Reply 1-5" in body for body in texts_to(PHONE))


def test_the_survey_goes_to_the_channel_the_customer_last_used(committed):
    # given a web conversation in which the customer last wrote by SMS
    web, sms = InboxFactory(), SmsInboxFactory()
    agent = agent_user(web, sms)
    contact = contact_with("phone", PHONE)
    with committed():
        conversation = chat_services.message_receive(
            inbox=web, contact=contact, channel="web", body="hi"
        ).message.conversation
        chat_services.message_receive(inbox=sms, contact=contact, channel="sms", body="texting now")
        chat_services.message_send(conversation=conversation, by=agent, body="ok")
        chat_services.conversation_resolve(conversation=conversation, by=agent)
    # then the survey goes out by SMS, from the number they texted, under the web inbox's policy
    invitation = SurveyInvitation.objects.get(conversation=conversation)
    assert (invitation.channel, invitation.inbox, invitation.status) == ("sms", web, "sent")
    sent = [s for s in sms_connector.outbox_messages(to=PHONE) if "Reply 1-5" in s.body]
    assert len(sent) == 1 and sent[0].from_number == sms.phone_number
