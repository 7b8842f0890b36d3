"""Helpers of the predicted-satisfaction tests: an answered history written through the services."""

import random
from datetime import timedelta

from django.utils import timezone

from chat import services
from tests.factories import conversation_with

from .metrics_helpers import answered

HAPPY = (
    "Thanks, that was quick and helpful!",
    "Great, it works now. Thank you so much!",
    "Perfect, thanks for the help.",
    "Wonderful, problem solved. Thanks!",
)
UNHAPPY = (
    "This is terrible, nobody helps me and my order is still missing.",
    "Awful service. I am angry and I want a refund.",
    "Still broken. Worst support ever, this is unacceptable.",
    "I am very disappointed, nothing works and I am tired of waiting.",
)


def answered_history(n, *, inbox, agent, seed=1, random_scores=False, minutes_apart=10, agreement=0.9):
    """n conversations: the customer writes happy or unhappy words, an agent replies and resolves, the
    customer answers (oldest first, `minutes_apart`). The score follows the words (happy: 4–5,
    unhappy: 1–2; `agreement` of the time, the other way otherwise), or is random."""
    rng = random.Random(seed)
    start = timezone.now() - timedelta(minutes=minutes_apart * (n + 1))
    conversations = []
    for i in range(n):
        happy = rng.random() < 0.6
        conversation = conversation_with(inbox, body=rng.choice(HAPPY if happy else UNHAPPY))
        services.message_send(conversation=conversation, by=agent, body="Let me look into it.")
        services.conversation_resolve(conversation=conversation, by=agent)
        if random_scores:
            csat = rng.randint(1, 5)
        else:
            csat = rng.choice((4, 5)) if happy == (rng.random() < agreement) else rng.choice((1, 2))
        answered(conversation, csat=csat, answered_at=start + timedelta(minutes=minutes_apart * i))
        conversations.append(conversation)
    return conversations
