"""A generated history whose true satisfaction follows known rules (tests, benchmarks; no ORM).

Each conversation gets operational facts drawn at random, then a true probability of CSAT ≥ 4
from RULES (a logistic function of them), then an answer drawn from that probability. A model
trained on such a history should recover the rules: its AUC approaches the AUC of the true
probabilities (the best any model can do), and its calibration error stays small.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import satisfaction

# The true logit of P(CSAT >= 4): a base, minus what hurts, plus the customer's own words.
RULES = {
    "base": 2.2,
    "per_doubling_of_first_response_past_5_min": -0.35,
    "no_agent_reply": -1.5,
    "per_transfer": -0.6,
    "per_channel_switch": -0.4,
    "per_reopen": -0.8,
    "recontacted_later": -0.7,
    "high_priority": -0.3,
    "email_channel": -0.3,
    "per_unit_of_sentiment": 1.6,
}
CHANNELS = ("web", "email", "sms")


@dataclass
class History:
    features: np.ndarray  # n × len(FEATURES), as satisfaction.features() computes them
    channel: np.ndarray
    inbox: np.ndarray
    team: np.ndarray
    true_probability: np.ndarray
    scores: np.ndarray  # the CSAT each customer would give

    def training_set(self, rows: slice = slice(None)):
        from .satisfaction_training import TrainingSet

        return TrainingSet(
            self.features[rows],
            {"channel": self.channel[rows], "inbox": self.inbox[rows], "team": self.team[rows]},
            self.scores[rows],
        )


def generate(n: int, *, seed: int = 2026, english_share: float = 0.7, inboxes: int = 6, teams: int = 4) -> History:
    """n conversations (oldest first) with features, categories, true probabilities and answers."""
    rng = np.random.default_rng(seed)
    first_response = rng.lognormal(mean=math.log(300), sigma=1.6, size=n)
    no_reply = rng.random(n) < 0.04
    duration = first_response + rng.lognormal(mean=math.log(3600), sigma=1.5, size=n)
    customer_messages = 1 + rng.poisson(1.8, n)
    before_reply = np.minimum(customer_messages, 1 + rng.poisson(0.3 + first_response / 3600, n))
    agent_messages = np.where(no_reply, 0, 1 + rng.poisson(1.5, n))
    transfers = rng.poisson(0.25, n)
    switches = rng.poisson(0.15, n)
    reopens = rng.poisson(0.1, n)
    is_recontact = rng.random(n) < 0.08
    recontacted = rng.random(n) < 0.1
    at_risk = rng.random(n) < 0.05
    priority = np.where(at_risk, 2, rng.choice([0, 1, 1, 1, 1, 2, 3], size=n))
    english = rng.random(n) < english_share
    mood = np.clip(rng.normal(0.15, 0.45, n), -1, 1)
    sentiment_mean = np.where(english, mood, 0.0)
    sentiment_min = np.where(english, np.clip(mood - np.abs(rng.normal(0, 0.25, n)), -1, 1), 0.0)
    sentiment_last = np.where(english, np.clip(mood + rng.normal(0, 0.2, n), -1, 1), 0.0)
    channel = rng.choice(np.array(CHANNELS), size=n, p=[0.5, 0.35, 0.15])
    inbox = rng.integers(1, inboxes + 1, n).astype(str)
    team = rng.integers(1, teams + 1, n).astype(str)

    waited = np.where(no_reply, duration, first_response)
    z = (
        RULES["base"]
        + RULES["per_doubling_of_first_response_past_5_min"] * np.maximum(0.0, np.log2(waited / 300))
        + RULES["no_agent_reply"] * no_reply
        + RULES["per_transfer"] * transfers
        + RULES["per_channel_switch"] * switches
        + RULES["per_reopen"] * reopens
        + RULES["recontacted_later"] * recontacted
        + RULES["high_priority"] * (priority >= 2)
        + RULES["email_channel"] * (channel == "email")
        + RULES["per_unit_of_sentiment"] * np.where(english, mood, 0.0)
    )
    probability = 1.0 / (1.0 + np.exp(-z))
    satisfied = rng.random(n) < probability
    scores = np.where(
        satisfied,
        np.where(rng.random(n) < probability, 5, 4),
        np.where(rng.random(n) < 1 - probability, 1 + rng.integers(0, 2, n), 3),
    )
    cap = satisfaction.COUNT_CAP
    columns = {
        "first_response_log": np.log1p(waited),
        "no_agent_reply": no_reply.astype(float),
        "duration_log": np.log1p(duration),
        "customer_messages_log": np.log1p(customer_messages),
        "messages_before_reply_log": np.log1p(np.where(no_reply, customer_messages, before_reply)),
        "agent_messages_log": np.log1p(agent_messages),
        "transfers": np.minimum(transfers, cap).astype(float),
        "channel_switches": np.minimum(switches, cap).astype(float),
        "reopens": np.minimum(reopens, cap).astype(float),
        "is_recontact": is_recontact.astype(float),
        "recontacted_later": recontacted.astype(float),
        "opened_at_risk": at_risk.astype(float),
        "priority_rank": priority.astype(float),
        "sentiment_mean": sentiment_mean,
        "sentiment_min": sentiment_min,
        "sentiment_last": sentiment_last,
        "text_sentiment": english.astype(float),
    }
    features = np.column_stack([columns[name] for name in satisfaction.FEATURE_NAMES])
    return History(features, channel, inbox, team, probability, scores.astype(np.int64))
