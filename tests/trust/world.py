"""Two inboxes side by side, each with its people, conversations, surveys and follow-ups.

The trust tests act as someone of one inbox against the objects of the other; every object of
inbox A carries the marker SECRET_A in a field an API could show (and B likewise), so a leak is
also visible as a marker in a body that should not have it.
"""

import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from chat import services
from chat.models import (
    AttributeDefinition,
    AutomationRule,
    CannedResponse,
    Contact,
    Conversation,
    Inbox,
    Label,
    Macro,
    Mention,
    Message,
    SavedView,
    Team,
    hash_token,
)
from chat.widget import widget_session_start
from feedback.followups import followup_open_for_response
from feedback.models import FollowUp, SurveyInvitation, SurveyPolicy, SurveyResponse
from feedback.services import survey_answer
from tests.factories import (
    AgentFactory,
    ContactFactory,
    EmailInboxFactory,
    InboxFactory,
    SmsInboxFactory,
    SupervisorFactory,
    UserFactory,
)

ORIGIN = "http://testserver"


def send_survey(conversation: Conversation, token: str) -> SurveyInvitation:
    """Resolve the conversation and put its survey in the `sent` state under a known token."""
    agent = conversation.inbox.members.first()
    services.conversation_resolve(conversation=conversation, by=agent)
    invitation = SurveyInvitation.objects.filter(conversation=conversation).order_by("-id").first()
    if invitation is None:  # the policy may skip; the trust tests need one all the same
        invitation = SurveyInvitation.objects.create(
            conversation=conversation,
            contact=conversation.contact,
            inbox=conversation.inbox,
            channel=conversation.inbox.channel,
            questions=["csat", "nps", "comment"],
            scheduled_for=timezone.now(),
        )
    SurveyInvitation.objects.filter(pk=invitation.pk).update(
        token_hash=hash_token(token),
        status=SurveyInvitation.Status.SENT,
        sent_at=timezone.now(),
        expires_at=timezone.now() + timedelta(days=7),
    )
    invitation.refresh_from_db()
    return invitation


@dataclass
class Side:
    """Everything of one inbox."""

    label: str
    marker: str
    inbox: Inbox
    email_inbox: Inbox
    sms_inbox: Inbox
    agent: object
    contact: Contact
    other_contact: Contact
    merged_contact: Contact
    conversation: Conversation
    resolved_conversation: Conversation
    message: Message
    survey_token: str
    response: SurveyResponse
    follow_up: FollowUp
    visitor_token: str
    extra: dict = field(default_factory=dict)


def build_side(label: str, team: Team) -> Side:
    marker = f"SECRET_{label}_{secrets.token_hex(4)}"
    inbox = InboxFactory(name=f"Inbox {marker}", allowed_origins=[ORIGIN, "http://127.0.0.1"])
    email_inbox = EmailInboxFactory(name=f"Mail {marker}")
    sms_inbox = SmsInboxFactory(
        name=f"Sms {marker}", provider_config={"account_sid": "AC" + "1" * 32, "auth_token": secrets.token_hex(16)}
    )
    SurveyPolicy.objects.get_or_create(inbox=inbox, defaults={"questions": ["csat", "nps", "comment"]})
    agent = AgentFactory(
        user=UserFactory(username=f"agent_{label.lower()}"),
        display_name=f"Agent {marker}",
        inboxes=[inbox, email_inbox, sms_inbox],
    ).user
    contact = ContactFactory(name=f"Customer {marker}", email=f"{label.lower()}@example.com")
    other_contact = ContactFactory(name=f"Other {marker}")
    merged_contact = ContactFactory(name=f"Merged {marker}")
    conversation = services.message_receive(
        inbox=inbox, contact=contact, channel="web", body=f"Body {marker}"
    ).message.conversation
    services.message_send(conversation=conversation, by=agent, body=f"Note {marker}", is_note=True)
    message = services.message_send(conversation=conversation, by=agent, body=f"Reply {marker}").message
    services.message_receive(inbox=inbox, contact=other_contact, channel="web", body=f"Other {marker}")
    merged_conversation = services.message_receive(
        inbox=inbox, contact=merged_contact, channel="web", body=f"Merged {marker}"
    ).message.conversation
    services.conversation_resolve(conversation=merged_conversation, by=agent)
    spare_contact = ContactFactory(name=f"Spare {marker}")
    spare_conversation = services.message_receive(
        inbox=inbox, contact=spare_contact, channel="web", body=f"Spare {marker}"
    ).message.conversation
    services.conversation_resolve(conversation=spare_conversation, by=agent)
    services.contact_merge(source=merged_contact, target=other_contact, by=agent)

    # a second person whose conversation is resolved, surveyed and answered as a detractor
    surveyed = ContactFactory(name=f"Surveyed {marker}")
    resolved = services.message_receive(
        inbox=inbox, contact=surveyed, channel="web", body=f"Survey {marker}"
    ).message.conversation
    services.message_send(conversation=resolved, by=agent, body="Done.")
    answered_token = secrets.token_urlsafe(24)
    send_survey(resolved, answered_token)
    response = survey_answer(token=answered_token, channel="web", csat=1, nps=0, comment=f"Bad {marker}")
    follow_up = followup_open_for_response(response_id=response.pk) or FollowUp.objects.get(response=response)

    # and one more resolved conversation with an open (unanswered) survey
    pending = ContactFactory(name=f"Pending {marker}")
    pending_conversation = services.message_receive(
        inbox=inbox, contact=pending, channel="web", body=f"Pending {marker}"
    ).message.conversation
    services.message_send(conversation=pending_conversation, by=agent, body="Done.")
    survey_token = secrets.token_urlsafe(24)
    send_survey(pending_conversation, survey_token)

    session = widget_session_start(inbox=inbox, name=f"Visitor {marker}")
    services.message_receive(inbox=inbox, contact=session.contact, channel="web", body=f"Visitor {marker}")
    return Side(
        label=label,
        marker=marker,
        inbox=inbox,
        email_inbox=email_inbox,
        sms_inbox=sms_inbox,
        agent=agent,
        contact=contact,
        other_contact=other_contact,
        merged_contact=merged_contact,
        conversation=conversation,
        resolved_conversation=resolved,
        message=message,
        survey_token=survey_token,
        response=response,
        follow_up=follow_up,
        visitor_token=session.visitor_token,
        extra={
            "visitor_contact": session.contact,
            "spare_contact": spare_contact,
            "pending_conversation": pending_conversation,
            "view": SavedView.objects.create(owner=agent, name=f"View {marker}", filters={"q": marker}),
            "mention": Mention.objects.create(message=message, conversation=conversation, user=agent),
            "macro": Macro.objects.create(owner=agent, name=f"Macro {marker}", reply=f"Macro reply {marker}"),
            # off: the matrix's own requests should not set it to work
            "automation_rule": AutomationRule.objects.create(
                name=f"Rule {marker}",
                event="conversation_created",
                inbox=inbox,
                actions=[{"action": "set_priority", "value": "high"}],
                active=False,
            ),
        },
    )


@dataclass
class World:
    a: Side
    b: Side
    supervisor: object
    admin: object
    team: Team
    canned: CannedResponse
    label: Label | None = None
    attribute: AttributeDefinition | None = None

    def side_of(self, label: str) -> Side:
        return self.a if label == "A" else self.b

    def other(self, side: Side) -> Side:
        return self.b if side is self.a else self.a


def build_world() -> World:
    """Inbox A and inbox B, a supervisor, an admin (staff), a team and a canned response."""
    with transaction.atomic():
        team = Team.objects.create(name=f"Team {secrets.token_hex(3)}")
        a = build_side("A", team)
        b = build_side("B", team)
        supervisor = SupervisorFactory(user=UserFactory(username="supervisor"), display_name="Sup").user
        admin = UserFactory(username="admin", is_staff=True, is_superuser=True)
        canned = CannedResponse.objects.create(shortcut=f"c{secrets.token_hex(3)}", body="Canned")
        label = Label.objects.create(name=f"Label {secrets.token_hex(3)}")
        attribute = AttributeDefinition.objects.create(key="plan", label="Plan")
    return World(
        a=a, b=b, supervisor=supervisor, admin=admin, team=team, canned=canned, label=label, attribute=attribute
    )


def users():
    return get_user_model().objects.all()
