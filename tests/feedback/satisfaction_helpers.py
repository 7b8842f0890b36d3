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


def stored_history(n, *, inbox, seed=5, shuffled=False):
    """n resolved, answered conversations whose score rows hold features and answers of the generated
    history (feedback/satisfaction_history.py: known rules), written straight to the tables, oldest
    answer first; `shuffled`: the answers have nothing to do with the conversations."""
    import json

    import numpy as np

    from chat.models import Contact, Conversation
    from feedback import satisfaction_history
    from feedback.models import SatisfactionScore

    history = satisfaction_history.generate(n, seed=seed)
    scores = np.random.default_rng(seed).permutation(history.scores) if shuffled else history.scores
    now = timezone.now()
    contacts = Contact.objects.bulk_create([Contact(name=f"Customer {i}") for i in range(n)])
    conversations = Conversation.objects.bulk_create(
        [
            Conversation(contact=c, inbox=inbox, status="resolved", resolved_at=now, first_resolved_at=now)
            for c in contacts
        ]
    )
    SatisfactionScore.objects.bulk_create(
        [
            SatisfactionScore(
                conversation=conversation,
                contact_id=conversation.contact_id,
                inbox=inbox,
                channel=str(history.channel[i]),
                is_open=False,
                first_resolved_at=now - timedelta(hours=1),
                feature_version=1,
                features=json.loads(json.dumps(history.features[i].tolist())),
                csat=int(scores[i]),
                answered_at=now - timedelta(minutes=n - i),
            )
            for i, conversation in enumerate(conversations)
        ]
    )
    return conversations
