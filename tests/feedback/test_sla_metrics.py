"""Business-hours durations, time in queue and SLA figures: the dashboard's API against an
independent recomputation from the raw rows of generated conversations, and rollups equal to
`recompute_metrics`."""

import random
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from chat import business_hours, services, sla_services
from chat.models import Conversation, ConversationEvent, Message
from feedback import metrics
from tests.factories import ContactFactory, InboxFactory, SupervisorFactory, TeamFactory, agent_user

from .metrics_helpers import answered, differences, wide_range

pytestmark = pytest.mark.django_db

PARIS_9_TO_5 = {
    "time_zone": "Europe/Paris",
    "days": {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": [{"date": "2026-12-25"}],
}
TARGETS = ("first_response", "next_response", "resolution")


@pytest.fixture
def generated(committed):
    """40 conversations in two inboxes (business hours in Paris; none in the other), each with a
    policy; customers who wrote up to three days ago, replies now, some reassigned, most resolved."""
    rng = random.Random(16)
    team = TeamFactory(name="Care")
    paris = InboxFactory(name="Paris", business_hours=PARIS_9_TO_5, default_team=team)
    anywhere = InboxFactory(name="Anywhere")
    agents = [agent_user(paris, anywhere), agent_user(paris, anywhere)]
    sla_services.sla_policy_set(
        inbox=paris, priority="normal", first_response_seconds=4 * 3600, next_response_seconds=600,
        resolution_seconds=8 * 3600, business_hours=True,
    )  # fmt: skip
    sla_services.sla_policy_set(
        inbox=anywhere, priority="normal", first_response_seconds=20 * 3600, resolution_seconds=30 * 3600,
        business_hours=False,
    )  # fmt: skip
    now = timezone.now()
    with committed():
        for n in range(40):
            inbox = paris if n % 2 else anywhere
            contact = ContactFactory()
            written = now - timedelta(seconds=rng.randint(60, 3 * 86400))
            received = services.message_receive(
                inbox=inbox, contact=contact, channel="web", body=f"help {n}", created_at=written
            )
            conversation = received.message.conversation
            agent = rng.choice(agents)
            if n % 5 == 0:  # assigned before anyone replies
                services.conversation_assign(conversation=conversation, assignee=agent, by=agent)
            if n % 7 == 3:
                continue  # never answered
            services.message_send(conversation=conversation, by=agent, body="On it")
            if n % 3 == 0:  # the customer writes again and gets a next reply
                services.message_receive(inbox=inbox, contact=contact, channel="web", body="and?")
                services.message_send(conversation=conversation, by=agent, body="Here")
            if n % 4 != 1:
                services.conversation_resolve(conversation=conversation, by=agent)
    with committed():
        for index, conversation in enumerate(Conversation.objects.filter(status="resolved").order_by("pk")):
            if index % 2 == 0:
                answered(conversation, csat=1 + index % 5)
    return {"paris": paris, "anywhere": anywhere}


def by_hand():
    """The figures from raw rows only: messages, events, each inbox's hours, each clock's outcome."""
    frt, resolution, queue = [], [], []
    due, met = Counter(), Counter()
    sla_met_csat, sla_breached_csat = [0, 0], [0, 0]
    for conversation in Conversation.objects.select_related("inbox", "facts").order_by("pk"):
        schedule = business_hours.parse(conversation.inbox.business_hours or {})
        messages = list(conversation.messages.order_by("seq"))
        first_customer = next(m.created_at for m in messages if m.sender_kind == "contact")
        reply = next((m.created_at for m in messages if m.sender_kind == "agent" and not m.is_note), None)
        if reply:
            frt.append(business_hours.business_seconds(schedule, first_customer, reply))
        if conversation.first_resolved_at:
            resolution.append(
                business_hours.business_seconds(schedule, conversation.opened_at, conversation.first_resolved_at)
            )
        assigned = conversation.events.filter(kind="assigned").order_by("id").first()
        if assigned:
            queue.append((assigned.created_at - conversation.opened_at).total_seconds())
        outcomes = (conversation.sla or {}).get("outcomes", [])
        for outcome in outcomes:
            due[outcome["target"]] += 1
            met[outcome["target"]] += bool(outcome["met"])
        csat = getattr(conversation.facts, "csat", None)
        if outcomes and csat is not None:
            tally = sla_breached_csat if any(not o["met"] for o in outcomes) else sla_met_csat
            tally[0] += csat >= 4
            tally[1] += 1
    breaches = ConversationEvent.objects.filter(kind="sla_breached").count()
    return {
        "first_response_business_seconds": metrics.duration(frt),
        "resolution_business_seconds": metrics.duration(resolution),
        "queue_seconds": metrics.duration(queue),
        **{f"sla_{t}_achievement": metrics.share(met[t], due[t]) for t in TARGETS},
        "sla_breaches": metrics.count_figure(breaches),
        "csat_by_sla": [
            {"label": "met", "figure": metrics.share(*sla_met_csat)},
            {"label": "breached", "figure": metrics.share(*sla_breached_csat)},
        ],
    }


def test_dashboard_figures_equal_an_independent_recomputation(generated, client):
    # given the generated conversations, processed by the pipeline as they happened
    expected = by_hand()
    assert expected["sla_breaches"]["value"] > 0 and expected["first_response_business_seconds"]["count"] > 10
    assert 0 < expected["sla_first_response_achievement"]["value"] < 100  # both outcomes occur
    # when a supervisor's dashboard reads the summary and the charts
    client.force_login(SupervisorFactory().user)
    day_from, day_to = wide_range()
    query = {"from": day_from.isoformat(), "to": day_to.isoformat()}
    summary = client.get("/api/v1/metrics/summary/", query).json()["metrics"]
    charts = client.get("/api/v1/metrics/charts/", query).json()
    # then every business-hours and SLA figure equals the recomputation from raw rows
    for name in (
        "first_response_business_seconds",
        "resolution_business_seconds",
        "queue_seconds",
        *(f"sla_{t}_achievement" for t in TARGETS),
        "sla_breaches",
    ):
        assert summary[name] == expected[name], name
    assert charts["csat_by_sla"] == expected["csat_by_sla"]
    # and business time is never more than calendar time
    calendar = summary["first_response_seconds"]
    assert summary["first_response_business_seconds"]["mean"] <= calendar["mean"]


def test_breaches_by_agent_team_inbox_and_channel_add_up(generated, client):
    client.force_login(SupervisorFactory().user)
    day_from, day_to = wide_range()
    total = ConversationEvent.objects.filter(kind="sla_breached").count()
    for by in ("agent", "team", "inbox", "channel"):
        rows = client.get(
            "/api/v1/metrics/breakdown/",
            {"metric": "sla_breaches", "by": by, "from": day_from.isoformat(), "to": day_to.isoformat()},
        ).json()["rows"]
        assert sum(row["figure"]["value"] for row in rows) == total, by
    per_inbox = Counter(
        ConversationEvent.objects.filter(kind="sla_breached").values_list("conversation__inbox__name", flat=True)
    )
    rows = client.get("/api/v1/metrics/breakdown/", {"metric": "sla_breaches", "by": "inbox",
                      "from": day_from.isoformat(), "to": day_to.isoformat()}).json()["rows"]  # fmt: skip
    assert {row["label"]: row["figure"]["value"] for row in rows} == dict(per_inbox)


def test_rollups_equal_recompute_metrics_and_the_export_has_the_columns(generated, client):
    assert differences() == []
    day_from, day_to = wide_range()
    call_command("recompute_metrics", "--check", "--from", day_from.isoformat(), "--to", day_to.isoformat())
    client.force_login(SupervisorFactory().user)
    response = client.get("/api/v1/exports/conversations.csv", {"from": day_from.isoformat(), "to": day_to.isoformat()})
    header = b"".join(response.streaming_content).decode().splitlines()[0].split(",")
    assert {"first_response_business_seconds", "resolution_business_seconds", "queue_seconds", "sla_breached"} <= set(
        header
    )
    assert Message.objects.filter(sender_kind="system").count() == 0
