"""factory_boy factories: the given part of every test."""

import factory
from django.contrib.auth import get_user_model

from chat import services
from chat.models import AgentProfile, Contact, ContactIdentity, Inbox, InboxMembership, Team
from chat.services import Claim

PASSWORD = "secret-pass-123"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password(PASSWORD)


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")


class InboxFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Inbox

    name = factory.Sequence(lambda n: f"Inbox {n}")
    channel = "web"
    allowed_origins = factory.LazyFunction(lambda: ["http://testserver", "http://127.0.0.1"])


class EmailInboxFactory(InboxFactory):
    channel = "email"
    email_address = factory.Sequence(lambda n: f"support{n}@acme.test")


class SmsInboxFactory(InboxFactory):
    channel = "sms"
    phone_number = factory.Sequence(lambda n: f"+1500555{n:04d}")
    provider_config = factory.LazyFunction(lambda: {"account_sid": "AC" + "1" * 32, "auth_token": "test-auth-token"})


class AgentFactory(factory.django.DjangoModelFactory):
    """An agent: a user with a profile, member of the given inboxes (`inboxes=[...]`)."""

    class Meta:
        model = AgentProfile
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)
    display_name = factory.LazyAttribute(lambda a: a.user.username.title())
    availability = "online"
    capacity = 5

    @factory.post_generation
    def inboxes(self, create, extracted, **kwargs):
        for inbox in extracted or []:
            InboxMembership.objects.get_or_create(user=self.user, inbox=inbox)


class SupervisorFactory(AgentFactory):
    is_supervisor = True


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    name = factory.Faker("name")


def agent_user(*inboxes, **kwargs):
    """A user who is an agent of these inboxes."""
    return AgentFactory(inboxes=list(inboxes), **kwargs).user


def contact_with(kind: str, value: str, *, verified: bool = True, name: str = "") -> Contact:
    return services.contact_identify(claims=[Claim(kind, value, verified)], name=name)


def visitor_contact(name: str = "Visitor") -> Contact:
    return ContactFactory(name=name)


def conversation_with(inbox: Inbox, contact: Contact | None = None, *, body: str = "Hello", channel: str | None = None):
    """A conversation opened by the contact's first message on the inbox's channel."""
    contact = contact or ContactFactory()
    return services.message_receive(
        inbox=inbox, contact=contact, channel=channel or inbox.channel, body=body
    ).message.conversation


__all__ = [
    "PASSWORD",
    "AgentFactory",
    "ContactFactory",
    "ContactIdentity",
    "EmailInboxFactory",
    "InboxFactory",
    "SmsInboxFactory",
    "SupervisorFactory",
    "TeamFactory",
    "UserFactory",
    "agent_user",
    "contact_with",
    "conversation_with",
    "visitor_contact",
]
