"""One conversation follows the customer across web, email and SMS, when (and only when) identities are verified."""

import smtplib
from email import message_from_bytes, policy

import pytest

from chat import services
from chat.connectors.sms import outbox_messages
from chat.models import Contact, ContactIdentity, Conversation, Message
from chat.services import Claim
from tests.chat.channel_helpers import inbound_params, make_email, twilio_post
from tests.factories import EmailInboxFactory, InboxFactory, SmsInboxFactory, agent_user

pytestmark = pytest.mark.django_db(transaction=True)

Kind = ContactIdentity.Kind
EMAIL, PHONE = "maria@example.com", "+14155550101"


def email_in(receiver, text, **kwargs):
    host, port = receiver
    with smtplib.SMTP(host, port, timeout=10) as client:
        client.send_message(make_email(sender=f"Maria <{EMAIL}>", to="support@acme.test", text=text, **kwargs))


def sms_in(client, inbox, body, sid):
    response = twilio_post(client, inbox, inbound_params(inbox, sender=PHONE, body=body, sid=sid))
    assert response.status_code == 200


@pytest.fixture
def inboxes():
    return InboxFactory(), EmailInboxFactory(email_address="support@acme.test"), SmsInboxFactory()


def test_a_verified_customer_on_web_then_email_then_sms_has_one_conversation(
    client, smtp_receiver, smtp_sink, sms_outbox, inboxes
):
    web, email_inbox, sms_inbox = inboxes
    agent = agent_user(web, email_inbox, sms_inbox)
    # given a widget user the website signed (external id), with the email and phone it vouches for
    maria = services.contact_identify(
        claims=[Claim(Kind.EXTERNAL, "shop-42", True), Claim(Kind.EMAIL, EMAIL, True), Claim(Kind.PHONE, PHONE, True)],
        name="Maria",
    )
    services.message_receive(inbox=web, contact=maria, channel="web", body="My order #1042 is late.")
    # when she emails, then texts
    email_in(smtp_receiver, "Here is the tracking number: 1Z999.", subject="Order #1042")
    sms_in(client, sms_inbox, "Any news?", "SM1")
    # then it is one person, one conversation, three channels in order, two switches recorded
    assert Contact.objects.count() == 1
    conversation = Conversation.objects.get()
    timeline = list(conversation.messages.order_by("seq").values_list("seq", "channel", "body"))
    assert timeline == [
        (1, "web", "My order #1042 is late."),
        (2, "email", "Here is the tracking number: 1Z999."),
        (3, "sms", "Any news?"),
    ]
    switches = list(conversation.events.filter(kind="channel_switched").values_list("data", flat=True))
    assert switches == [{"from": "web", "to": "email"}, {"from": "email", "to": "sms"}]
    # and the agent's reply goes where she last wrote (SMS), or by email when the agent picks it
    by_default = services.message_send(conversation=conversation, by=agent, body="It arrives tomorrow.").message
    assert by_default.channel == "sms" and [s.body for s in outbox_messages(PHONE)] == ["It arrives tomorrow."]
    by_email = services.message_send(conversation=conversation, by=agent, body="Details below.", channel="email")
    assert by_email.message.channel == "email"
    mail = message_from_bytes(smtp_sink.messages[0]["raw"], policy=policy.default)
    assert smtp_sink.messages[0]["to"] == [EMAIL] and mail["From"].addresses[0].addr_spec == "support@acme.test"
    statuses = Message.objects.filter(direction="out").values_list("delivery_status", flat=True)
    assert set(statuses) == {"sent"}


def test_unverified_identities_never_join_someone_elses_conversation(client, smtp_receiver, sms_outbox, inboxes):
    web, _email_inbox, sms_inbox = inboxes
    # given a web visitor who merely typed Maria's email and phone into the pre-chat form
    visitor = services.contact_identify(
        claims=[Claim(Kind.VISITOR, "v-77", False), Claim(Kind.EMAIL, EMAIL, False), Claim(Kind.PHONE, PHONE, False)],
        name="Somebody",
    )
    web_conversation = services.message_receive(
        inbox=web, contact=visitor, channel="web", body="Tell me about Maria's order"
    ).message.conversation
    # when the real Maria emails
    email_in(smtp_receiver, "Hello from my own mailbox.")
    # then she is a second contact with her own conversation; the visitor's holds only the visitor's message
    assert Contact.objects.count() == 2 and Conversation.objects.count() == 2
    assert list(web_conversation.messages.values_list("body", flat=True)) == ["Tell me about Maria's order"]
    email_identity = ContactIdentity.objects.get(kind=Kind.EMAIL, value=EMAIL)
    assert email_identity.verified and email_identity.contact_id != visitor.pk
    # when she texts: her phone is proven, nothing proves it is the mailbox's owner: a third, separate contact
    sms_in(client, sms_inbox, "And from my phone.", "SM2")
    phone_identity = ContactIdentity.objects.get(kind=Kind.PHONE, value=PHONE)
    assert phone_identity.verified and phone_identity.contact_id not in (visitor.pk, email_identity.contact_id)
    assert list(web_conversation.messages.values_list("body", flat=True)) == ["Tell me about Maria's order"]
    assert all(c.messages.count() == 1 for c in Conversation.objects.all())
