"""Demo data for `make run`: people, inboxes and cross-channel histories (idempotent)."""

from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from chat import services, sla_services
from chat.demo import DEMO_PASSWORD, USERS
from chat.models import AgentProfile, CannedResponse, Contact, ContactIdentity, Inbox, InboxMembership, Team
from chat.services import Claim

# The web inbox's SLA policies: priority, first response, next response, resolution (seconds).
DEMO_SLA = [("normal", 5 * 60, 10 * 60, 4 * 3600), ("high", 2 * 60, 5 * 60, 3600), ("urgent", 60, 2 * 60, 1800)]


def demo_origins() -> list[str]:
    """The origins /demo/ is opened from: the server's public URL, and its 127.0.0.1/localhost twin."""
    public = urlsplit(settings.PUBLIC_URL)
    origins = [f"{public.scheme}://{public.netloc}"]
    twins = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}
    if public.hostname in twins:
        port = f":{public.port}" if public.port else ""
        origins.append(f"{public.scheme}://{twins[public.hostname]}{port}")
    return origins


class Command(BaseCommand):
    help = "Create the demo workspace (users, inboxes, contacts, conversations); safe to run twice."

    def handle(self, *args, **options):
        with transaction.atomic():
            users = self._users()
            inboxes = self._inboxes(users)
        if not Contact.objects.filter(identities__kind="external", identities__value="demo-maria").exists():
            # The demo's replies and survey emails go to fake people: keep them off the console.
            with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
                self._histories(users, inboxes)
        self._print(inboxes)

    def _users(self) -> dict:
        User = get_user_model()
        support, _ = Team.objects.get_or_create(name="Support")
        retention, _ = Team.objects.get_or_create(name="Retention", defaults={"is_retention": True})
        users = {}
        for username, display_name, supervisor, staff in USERS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"email": f"{username}@acme.localhost"}
            )
            if created:
                user.set_password(DEMO_PASSWORD)
            user.is_staff = user.is_superuser = staff
            user.save()
            profile, _ = AgentProfile.objects.get_or_create(
                user=user, defaults={"display_name": display_name, "is_supervisor": supervisor, "capacity": 5}
            )
            profile.teams.add(support)
            users[username] = user
        users["bob"].agent.teams.add(retention)
        if retention.lead_id is None:
            retention.lead = users["supervisor"]
            retention.save(update_fields=["lead"])
        # One text per language: the console inserts the customer's (docs/i18n.md).
        CannedResponse.objects.get_or_create(
            shortcut="thanks",
            defaults={
                "body": "Thank you for reaching out! Is there anything else I can help with?",
                "texts": {
                    "zh-hans": "感谢您的联系！还有什么可以帮您的吗？",
                    "ru": "Спасибо, что обратились к нам! Можем ли мы помочь чем-то ещё?",
                    "es": "¡Gracias por escribirnos! ¿Hay algo más en lo que pueda ayudarle?",
                    "ar": "شكرًا لتواصلك معنا! هل هناك أي شيء آخر يمكنني مساعدتك فيه؟",
                },
            },
        )
        CannedResponse.objects.get_or_create(
            shortcut="refund",
            defaults={
                "body": "I have started your refund; it reaches your account in 3-5 days.",
                "texts": {
                    "zh-hans": "我已为您办理退款，款项将在 3-5 天内到账。",
                    "ru": "Возврат оформлен: деньги поступят на ваш счёт в течение 3–5 дней.",
                    "es": "He iniciado su reembolso; llegará a su cuenta en 3-5 días.",
                    "ar": "لقد بدأتُ إجراءات استرداد أموالك، وستصل إلى حسابك خلال 3-5 أيام.",
                },
            },
        )
        return users

    def _inboxes(self, users) -> dict:
        support = Team.objects.get(name="Support")
        web, _ = Inbox.objects.get_or_create(
            name="Acme Shop website",
            channel="web",
            defaults={"allowed_origins": demo_origins(), "prechat_form": True, "default_team": support},
        )
        missing = [origin for origin in demo_origins() if origin not in web.allowed_origins]
        if missing:  # `make run` on another host or port than last time: its /demo/ may use the widget too
            web.allowed_origins = [*web.allowed_origins, *missing]
            web.save(update_fields=["allowed_origins"])
        email, _ = Inbox.objects.get_or_create(
            name="Acme support email",
            channel="email",
            defaults={"email_address": "support@acme.localhost", "default_team": support},
        )
        sms, _ = Inbox.objects.get_or_create(
            name="Acme SMS",
            channel="sms",
            defaults={
                "phone_number": "+15005550006",
                "default_team": support,
                "provider_config": {"account_sid": "AC" + "0" * 32, "auth_token": "demo-twilio-auth-token"},
            },
        )
        for inbox in (web, email, sms):
            for name in ("alice", "bob"):
                InboxMembership.objects.get_or_create(user=users[name], inbox=inbox)
        for inbox in (web, email, sms):
            if inbox.sla_policies.exists():
                continue
            # a promise the console counts down to (docs/sla.md), in calendar time so it runs at any hour
            for priority, first, following, resolution in DEMO_SLA:
                sla_services.sla_policy_set(
                    inbox=inbox, priority=priority, first_response_seconds=first, next_response_seconds=following,
                    resolution_seconds=resolution, business_hours=False,
                )  # fmt: skip
        return {"web": web, "email": email, "sms": sms}

    def _histories(self, users, inboxes) -> None:
        alice, bob = users["alice"], users["bob"]
        now = timezone.now()

        # Maria: chatted on the website, then emailed (one person, verified), resolved a week ago;
        # today she texts about the same order and the agent sees all of it.
        maria = services.contact_identify(
            claims=[
                Claim(ContactIdentity.Kind.EXTERNAL, "demo-maria", True),
                Claim(ContactIdentity.Kind.EMAIL, "maria@example.com", True),
                Claim(ContactIdentity.Kind.PHONE, "+14155550101", True),
            ],
            name="Maria Garcia",
            attributes={"plan": "Gold", "orders": 12},
        )
        first = services.message_receive(
            inbox=inboxes["web"],
            contact=maria,
            channel="web",
            body="Hi, my order #1042 has not arrived yet.",
            created_at=now - timedelta(days=9),
        ).message.conversation
        services.message_send(conversation=first, by=alice, body="Sorry about that! Let me check with the carrier.")
        services.message_receive(
            inbox=inboxes["email"],
            contact=maria,
            channel="email",
            subject="Order #1042",
            body="Here is the tracking number the carrier gave me: 1Z999AA10123456784.",
            external_id="<demo-maria-1@example.com>",
            provider="email",
        )
        services.message_send(conversation=first, by=alice, body="Thanks! It is on its way and arrives Friday.")
        services.conversation_resolve(conversation=first, by=alice)
        services.message_receive(
            inbox=inboxes["sms"],
            contact=maria,
            channel="sms",
            body="Friday came and went, still no parcel. This is really frustrating, nobody helps me :(",
            provider="twilio",
            external_id="SMdemo0000000000000000000000000001",
        )

        # Tom: SMS only, resolved; a happy customer.
        tom = services.contact_identify(
            claims=[Claim(ContactIdentity.Kind.PHONE, "+14155550102", True)], name="Tom Lee"
        )
        tom_conv = services.message_receive(
            inbox=inboxes["sms"],
            contact=tom,
            channel="sms",
            body="Do you ship to Canada?",
            provider="twilio",
            external_id="SMdemo0000000000000000000000000002",
        ).message.conversation
        services.message_send(conversation=tom_conv, by=bob, body="We do! Shipping takes 5-7 days.")
        services.conversation_resolve(conversation=tom_conv, by=bob)

        # Priya: an email thread still open, unassigned, waiting in the queue.
        priya = services.contact_identify(
            claims=[Claim(ContactIdentity.Kind.EMAIL, "priya@example.com", True)], name="Priya Patel"
        )
        services.message_receive(
            inbox=inboxes["email"],
            contact=priya,
            channel="email",
            subject="Invoice for March",
            body="Could you send me the invoice for my March order?",
            provider="email",
            external_id="<demo-priya-1@example.com>",
        )

    def _print(self, inboxes) -> None:
        out = self.stdout
        out.write(self.style.SUCCESS("Demo workspace ready."))
        out.write(f"  Logins (password for all: {DEMO_PASSWORD}):")
        for username, display_name, _supervisor, staff in USERS:
            role = "supervisor + admin" if staff else "agent"
            out.write(f"    {username:<11} {display_name:<16} {role}")
        out.write("  Inboxes (SLA policies: a first reply within 5 minutes at normal priority, 2 at high):")
        for inbox in inboxes.values():
            address = inbox.email_address or inbox.phone_number or ", ".join(inbox.allowed_origins)
            out.write(f"    {inbox.channel:<6} {inbox.name:<20} public id {inbox.public_id}  {address}")
