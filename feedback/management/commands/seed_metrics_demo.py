"""Demo history for the dashboard: five weeks of resolved, surveyed conversations (idempotent).

Conversations are written through chat.services (so every event exists), then moved back in
time as a history import would be, answered, and the days recomputed with
`feedback.pipeline.recompute` and `feedback.predictions.recompute` — the same rebuild as
`manage.py recompute_metrics`. Each customer has a mood that waits, transfers and channel switches
make worse; it shows in their words (English, and a few in French or Spanish, which the sentiment
does not read) and in their answer, and the delighted and the furious answer more often than
the others (the survey's non-response bias). With enough answers the satisfaction model is
trained once at the end, so the dashboard shows the estimate for the silent customers too.
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
from feedback import followups, metrics, pipeline, predictions
from feedback.models import SurveyInvitation, SurveyResponse

DAYS = 35
PER_DAY = (7, 11)
MARK = "demo_history"
MOODS = ("delighted", "fine", "annoyed", "furious")
WORDS = {
    "delighted": ("Thanks so much, that was fast and really helpful!", "Brilliant, it works perfectly now. Thank you!"),
    "fine": ("Hi, I need some help with my order.", "Could you check my invoice, please?"),
    "annoyed": ("I have been waiting for ages and still no answer.", "This is the second time I ask, still not fixed."),
    "furious": ("This is terrible. Nobody helps me and my order is lost!", "Awful service, I want a refund now."),
}
OTHER_LANGUAGES = ("Bonjour, ma commande n'est pas arrivée.", "Hola, mi pedido no ha llegado todavía.")
CSAT = {"delighted": (5, 5, 4), "fine": (4, 5, 4, 3), "annoyed": (2, 3, 3, 4), "furious": (1, 1, 2)}
ANSWERS = {"delighted": 0.85, "fine": 0.6, "annoyed": 0.7, "furious": 0.9}  # who answers a survey


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
        day_from, day_to = metrics.local_day(now - timedelta(days=days + 1), tz), metrics.local_day(now, tz)
        report = pipeline.recompute(day_from=day_from, day_to=day_to)
        predictions.recompute(day_from=day_from, day_to=day_to)
        for response in responses:
            followups.followup_open_for_response(response_id=response.pk)
        self.stdout.write(
            f"metrics demo history: {count} conversations, {len(responses)} answers, "
            f"{report.conversations} conversations recomputed"
        )
        run = predictions.model_train(trigger="seed")
        self.stdout.write(
            f"  satisfaction model v{run.pk}: {run.status} on {run.answers} answers"
            + (f" ({run.reason})" if run.reason else "")
        )
        if undelivered:
            self.stdout.write(
                f"  {len(undelivered)} email and SMS replies of the history were not delivered: "
                "its demo customers have no address (expected)"
            )

    def _conversation(self, rng, inbox, agent, opened, n, now):
        contact = Contact.objects.create(name=f"Demo customer {n + 1}", attributes={MARK: True})
        channel = inbox.channel if inbox.channel != "email" or rng.random() < 0.9 else "web"
        first_reply_seconds = rng.choice([20, 45, 90, 200, 600, 1500, 4000, 20000])
        switched = rng.random() < 0.15
        transferred = rng.random() < 0.1
        trouble = (first_reply_seconds > 1800) + switched + transferred + (rng.random() < 0.2)
        mood = MOODS[min(3, max(0, round(rng.gauss(0.3 + 0.9 * trouble, 0.8))))]
        words = rng.choice(OTHER_LANGUAGES) if rng.random() < 0.1 else rng.choice(WORDS[mood])
        received = services.message_receive(inbox=inbox, contact=contact, channel=channel, body=words)
        conversation = received.message.conversation
        services.message_send(conversation=conversation, by=agent, body="Happy to help, one moment.")
        if switched:
            services.message_receive(inbox=inbox, contact=contact, channel="sms", body="Texting you instead.")
        if transferred:
            others = [a for a in AgentProfile.objects.filter(is_supervisor=False).exclude(user=agent)]
            if others:
                services.conversation_transfer(conversation=conversation, by=agent, to_agent=others[0].user)
        services.conversation_resolve(conversation=conversation, by=agent)
        # a history import: the same rows and events, moved back to when they happened
        first_reply = opened + timedelta(seconds=first_reply_seconds)
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
            if rng.random() > ANSWERS[mood]:
                return None
            conversation.refresh_from_db()
            invitation, _ = SurveyInvitation.objects.get_or_create(
                conversation=conversation,
                resolution_number=1,
                defaults={"contact": contact, "channel": channel, "inbox": inbox},
            )
            csat = rng.choice(CSAT[mood])
            ces = max(1, min(7, round(rng.gauss(4.2 if switched else 5.6, 1.3))))
            nps = max(0, min(10, round(rng.gauss(2.0 * csat - 0.5, 1.5))))
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
