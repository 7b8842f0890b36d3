"""Demo history for the dashboard: five weeks of resolved, surveyed conversations (idempotent).

Conversations are written through chat.services (so every event exists), then moved back in
time as a history import would be, answered, and the days recomputed with
`feedback.pipeline.recompute` — the same rebuild as `manage.py recompute_metrics`.
Run after `seed_demo` (it uses its inboxes and agents).
"""

import logging
import random
from contextlib import contextmanager
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from chat import services
from chat.models import AgentProfile, Contact, Conversation, ConversationEvent, Inbox, Message
from feedback import followups, metrics, pipeline
from feedback.models import SurveyInvitation, SurveyResponse

DAYS = 35
PER_DAY = (2, 6)
MARK = "demo_history"


@contextmanager
def counted_warnings(logger_name: str):
    """Count the warnings a logger gives inside the block instead of printing each one."""
    counted = []

    def count(record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING:
            counted.append(record)
            return False
        return True

    logger = logging.getLogger(logger_name)
    logger.addFilter(count)
    try:
        yield counted
    finally:
        logger.removeFilter(count)


class Command(BaseCommand):
    help = "Add five weeks of surveyed conversation history to the demo workspace; safe to run twice."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=DAYS)

    def handle(self, *args, days=DAYS, **options):
        if Contact.objects.filter(attributes__has_key=MARK).exists():
            self.stdout.write("metrics demo history: already there")
            return
        inboxes = list(Inbox.objects.order_by("id"))
        agents = [p.user for p in AgentProfile.objects.select_related("user").filter(is_supervisor=False)]
        if not inboxes or not agents:
            self.stdout.write("metrics demo history: run seed_demo first")
            return
        rng = random.Random(2026)
        now = timezone.now()
        responses = []
        count = 0
        # One transaction: the tasks scheduled on commit (the pipeline's among them) run once, at
        # the end. The demo customers have no address: the agents' email and SMS replies are not
        # delivered, which the outbound connector warns of once per message; one line says it here.
        with counted_warnings("chat.connectors.outbound") as undelivered, transaction.atomic():
            for day in range(days, 0, -1):
                for _ in range(rng.randint(*PER_DAY)):
                    inbox = rng.choice(inboxes)
                    agent = rng.choice(agents)
                    opened = now - timedelta(days=day, hours=rng.uniform(0, 10))
                    response = self._conversation(rng, inbox, agent, opened, count, now)
                    if response is not None:
                        responses.append(response)
                    count += 1
        tz = pipeline.workspace_tz()
        report = pipeline.recompute(
            day_from=metrics.local_day(now - timedelta(days=days + 1), tz), day_to=metrics.local_day(now, tz)
        )
        for response in responses:
            followups.followup_open_for_response(response_id=response.pk)
        self.stdout.write(
            f"metrics demo history: {count} conversations, {len(responses)} answers, "
            f"{report.conversations} conversations recomputed"
        )
        if undelivered:
            self.stdout.write(
                f"  {len(undelivered)} email and SMS replies of the history were not delivered: "
                "its demo customers have no address (expected)"
            )

    def _conversation(self, rng, inbox, agent, opened, n, now):
        contact = Contact.objects.create(name=f"Demo customer {n + 1}", attributes={MARK: True})
        channel = inbox.channel if inbox.channel != "email" or rng.random() < 0.9 else "web"
        received = services.message_receive(inbox=inbox, contact=contact, channel=channel, body="I need some help.")
        conversation = received.message.conversation
        services.message_send(conversation=conversation, by=agent, body="Happy to help, one moment.")
        switched = rng.random() < 0.15
        if switched:
            services.message_receive(inbox=inbox, contact=contact, channel="sms", body="Texting you instead.")
        if rng.random() < 0.1:
            others = [a for a in AgentProfile.objects.filter(is_supervisor=False).exclude(user=agent)]
            if others:
                services.conversation_transfer(conversation=conversation, by=agent, to_agent=others[0].user)
        services.conversation_resolve(conversation=conversation, by=agent)
        # a history import: the same rows and events, moved back to when they happened
        first_reply = opened + timedelta(seconds=rng.choice([20, 45, 90, 200, 600, 1500, 4000, 20000]))
        # the history ends before now: a recent case was resolved at the latest half an hour ago
        resolved = min(first_reply + timedelta(minutes=rng.uniform(5, 36 * 60)), now - timedelta(minutes=30))
        with transaction.atomic():
            messages = list(conversation.messages.order_by("seq"))
            for index, message in enumerate(messages):
                at = opened if index == 0 else first_reply + timedelta(seconds=index)
                if message.sender_kind == Message.SenderKind.AGENT and index == 1:
                    at = first_reply
                Message.objects.filter(pk=message.pk).update(created_at=at)
            Conversation.objects.filter(pk=conversation.pk).update(
                opened_at=opened,
                first_customer_message_at=opened,
                first_reply_at=first_reply,
                first_resolved_at=resolved,
                resolved_at=resolved,
                last_activity_at=resolved,
            )
            ConversationEvent.objects.filter(conversation=conversation).update(created_at=opened)
            ConversationEvent.objects.filter(conversation=conversation, kind="resolved").update(created_at=resolved)
            if rng.random() > 0.55:
                return None
            conversation.refresh_from_db()
            invitation, _ = SurveyInvitation.objects.get_or_create(
                conversation=conversation,
                resolution_number=1,
                defaults={"contact": contact, "channel": channel, "inbox": inbox},
            )
            slow = (first_reply - opened).total_seconds() > 1800
            csat = max(1, min(5, round(rng.gauss(3.4 if slow else 4.3, 1.0))))
            ces = max(1, min(7, round(rng.gauss(4.2 if switched else 5.6, 1.3))))
            nps = max(0, min(10, round(rng.gauss(5.5 if slow else 8.2, 2.0))))
            answered = min(resolved + timedelta(minutes=rng.uniform(2, 600)), now - timedelta(minutes=1))
            SurveyInvitation.objects.filter(pk=invitation.pk).update(
                status=SurveyInvitation.Status.ANSWERED,
                sent_at=resolved + timedelta(minutes=1),
                answered_at=answered,
                created_at=resolved,
                scheduled_for=resolved,
                agent_id=conversation.assignee_id,
                team_id=conversation.team_id,
                inbox_id=inbox.pk,
                channel=channel,
            )
            response, _ = SurveyResponse.objects.update_or_create(
                invitation=invitation,
                defaults={"csat": csat, "ces": ces, "nps": nps, "channel": channel, "answered_at": answered,
                          "updated_at": answered},
            )  # fmt: skip
            return response
