"""Exact percentiles from the duration histograms (docs/adr/0004-exact-percentiles.md).

The summary's count, mean, median and p90 of each duration must equal `metrics.duration` over
the raw values of the period and filters, for any data: random data and filters, ties, empty
periods, single values, values on bucket edges and on the periods' boundaries.
"""

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat.models import Conversation
from feedback import metrics, pipeline, reports
from feedback.models import ConversationFacts, DurationHistogram
from tests.factories import ContactFactory, InboxFactory, SupervisorFactory, TeamFactory, agent_user

pytestmark = pytest.mark.django_db

NAMES = ("first_response_seconds", "resolution_seconds")  # the business-hours ones: tests/feedback/test_sla_metrics.py
EDGES = metrics.DURATION_BUCKET_EDGES


@dataclass
class Row:
    """One conversation's durations: when each counts, and its dimensions."""

    inbox: object
    agent: object
    team: object
    channel: str
    replied_at: datetime | None = None
    first_response: float | None = None
    resolved_at: datetime | None = None
    resolution: float | None = None


@pytest.fixture
def place():
    """Two inboxes, two agents, two teams and a supervisor who reads the summary."""
    inboxes = [InboxFactory(), InboxFactory()]
    return {
        "inboxes": inboxes,
        "agents": [agent_user(*inboxes), agent_user(*inboxes)],
        "teams": [TeamFactory(), TeamFactory()],
        "boss": SupervisorFactory().user,
    }


def given(rows: list[Row]) -> None:
    """The rows' facts, and their contributions added to the rollups and histograms, as the pipeline adds them."""
    contact = ContactFactory()
    now = timezone.now()
    conversations = Conversation.objects.bulk_create(
        [Conversation(contact=contact, inbox=r.inbox, status="resolved", opened_at=now) for r in rows]
    )
    tz = pipeline.workspace_tz()
    stored, added = [], []
    for conversation, r in zip(conversations, rows, strict=True):
        facts = metrics.Facts(
            conversation_id=conversation.pk,
            inbox_id=r.inbox.pk,
            agent_id=r.agent.pk if r.agent else None,
            team_id=r.team.pk if r.team else None,
            channel=r.channel,
            opened_at=now,
            first_reply_at=r.replied_at,
            first_response_seconds=r.first_response,
            first_response_bucket=metrics.duration_bucket(r.first_response),
            first_resolved_at=r.resolved_at,
            resolution_seconds=r.resolution,
            resolution_bucket=metrics.duration_bucket(r.resolution),
        )
        contributions = metrics.conversation_contributions(facts, tz=tz)
        stored.append(
            ConversationFacts(
                conversation=conversation,
                contributions=contributions,
                **{name: getattr(facts, name) for name in pipeline.FACT_FIELDS},
            )
        )
        added.append(contributions)
    ConversationFacts.objects.bulk_create(stored)
    pipeline.apply_delta(metrics.merge_contributions(*added))


def expected(rows: list[Row], filters: reports.MetricFilters) -> dict[str, dict]:
    """What `metrics.duration` gives over the raw values that count in the period, by hand."""
    start, end = filters.bounds()

    def matches(r: Row) -> bool:
        return all(
            wanted is None or value in wanted
            for wanted, value in (
                (filters.inbox_ids, r.inbox.pk),
                (filters.agent_ids, r.agent.pk if r.agent else None),
                (filters.team_ids, r.team.pk if r.team else None),
                (filters.channels, r.channel),
            )
        )

    mine = [r for r in rows if matches(r)]
    return {
        "first_response_seconds": metrics.duration(
            [r.first_response for r in mine if r.replied_at and start <= r.replied_at < end]
        ),
        "resolution_seconds": metrics.duration(
            [r.resolution for r in mine if r.resolved_at and start <= r.resolved_at < end]
        ),
    }


def summary_durations(place, params=None) -> tuple[list[dict], list[reports.MetricFilters]]:
    filters = reports.parse_filters(place["boss"], params or {})
    periods = [filters, filters.previous()]
    figures = reports.figures_of_periods(periods, NAMES)
    return [{name: f[name] for name in NAMES} for f in figures], periods


def assert_exact(place, rows, params=None, *, caplog=None):
    actual, periods = summary_durations(place, params)
    assert actual == [expected(rows, period) for period in periods]
    if caplog is not None:  # and from the histograms, not by reading every value
        assert "disagrees" not in caplog.text


def today_start() -> datetime:
    today = metrics.local_day(timezone.now(), pipeline.workspace_tz())
    return datetime.combine(today, datetime.min.time(), tzinfo=pipeline.workspace_tz())


def random_duration(rng: random.Random) -> float:
    kind = rng.random()
    if kind < 0.3:  # ties
        return rng.choice([0.0, 30.0, 61.5, 3600.0])
    if kind < 0.5:  # on a bucket edge, or the float just below one
        edge = rng.choice(EDGES)
        return edge if rng.random() < 0.5 else math.nextafter(edge, -math.inf)
    if kind < 0.55:  # beyond the last edge, below the first
        return rng.choice([2.0**31, 1e-5, -2.0])
    return round(10 ** rng.uniform(-3, 7), 6)  # whole microseconds, as timestamps give


def random_rows(rng: random.Random, place, count: int) -> list[Row]:
    start = today_start()
    rows = []
    for _ in range(count):
        row = Row(
            inbox=rng.choice(place["inboxes"]),
            agent=rng.choice([*place["agents"], None]),
            team=rng.choice([*place["teams"], None]),
            channel=rng.choice(["web", "email", "sms"]),
        )
        if rng.random() < 0.8:
            row.replied_at = start + timedelta(seconds=rng.randint(-65 * 86400, 86400 - 1))
            row.first_response = random_duration(rng)
        if rng.random() < 0.8:
            row.resolved_at = start + timedelta(seconds=rng.randint(-65 * 86400, 86400 - 1), microseconds=1)
            row.resolution = random_duration(rng)
        rows.append(row)
    return rows


def random_params(rng: random.Random, place) -> dict:
    params = {}
    if rng.random() < 0.3:
        params["inbox"] = ",".join(str(i.pk) for i in rng.sample(place["inboxes"], rng.randint(1, 2)))
    if rng.random() < 0.3:
        params["agent"] = str(rng.choice(place["agents"]).pk)
    if rng.random() < 0.2:
        params["team"] = str(rng.choice(place["teams"]).pk)
    if rng.random() < 0.3:
        params["channel"] = ",".join(rng.sample(["web", "email", "sms"], rng.randint(1, 2)))
    return params


@pytest.mark.parametrize("seed", range(12))
def test_random_durations_and_filters_give_the_percentiles_of_the_raw_values(place, seed, caplog):
    # given random durations in random dimensions over 65 days (ties, edges, tiny and huge values)
    rng = random.Random(seed)
    rows = random_rows(rng, place, rng.choice([1, 2, 3, 40, 250]))
    given(rows)
    # then the summary's figures, unfiltered and under random filters, are those of the raw values
    assert_exact(place, rows, caplog=caplog)
    for _ in range(4):
        assert_exact(place, rows, random_params(rng, place), caplog=caplog)


def test_no_durations_are_nulls_not_zeros(place):
    figures, _ = summary_durations(place)
    assert figures[0]["first_response_seconds"] == {
        "median": None, "p90": None, "mean": None, "count": 0, "numerator": 0.0, "denominator": 0, "version": 1,
    }  # fmt: skip
    assert figures == [{name: metrics.duration([]) for name in NAMES}] * 2


@pytest.mark.parametrize(
    "values",
    [
        [42.0],  # a single value
        [60.0] * 100,  # ties only
        [61.5] * 9 + [1.0],  # p90 interpolates between a tie and the value below
        [EDGES[5000], math.nextafter(EDGES[5000], 0.0)] * 7,  # both sides of an edge
        [EDGES[0], EDGES[-1], 0.0, -1.0, 1e12],  # the first and last buckets
        [1.0 + n / 1024 for n in range(300)],  # many leaves of one octave
    ],
)
def test_table_of_awkward_values(place, values, caplog):
    start = today_start()
    rows = [
        Row(place["inboxes"][n % 2], place["agents"][0], None, "web", start + timedelta(minutes=n), value,
            start + timedelta(minutes=n), value)
        for n, value in enumerate(values)
    ]  # fmt: skip
    given(rows)
    assert_exact(place, rows, caplog=caplog)
    assert_exact(place, rows, {"inbox": str(place["inboxes"][0].pk)}, caplog=caplog)


@pytest.mark.parametrize("zone", ["UTC", "America/Sao_Paulo", "Pacific/Auckland"])
def test_each_duration_counts_in_the_period_of_its_local_day(place, settings, zone, caplog):
    # given durations at the first and last microsecond of the period, and just outside it
    settings.TIME_ZONE = zone
    filters = reports.parse_filters(place["boss"], {})
    start, end = filters.bounds()
    previous_start, _ = filters.previous().bounds()
    moments = [start, start - timedelta(microseconds=1), end - timedelta(microseconds=1), end,
               previous_start, previous_start - timedelta(microseconds=1)]  # fmt: skip
    rows = [
        Row(place["inboxes"][0], None, None, "web", at, 10.0 * (n + 1), at, 100.0 * (n + 1))
        for n, at in enumerate(moments)
    ]
    given(rows)
    # then each counts in the period its local day falls in, and nowhere else
    figures, _ = summary_durations(place)
    assert [f["first_response_seconds"]["count"] for f in figures] == [2, 2]
    assert_exact(place, rows, caplog=caplog)


def test_the_summary_reads_a_few_rows_in_a_fixed_number_of_queries(place, django_assert_max_num_queries):
    rows = random_rows(random.Random(7), place, 200)
    given(rows)
    # counters, three histogram levels, the values of the buckets reached: whatever the data
    with django_assert_max_num_queries(5):
        summary_durations(place)
    with django_assert_max_num_queries(4):  # filtered: two levels, then the facts
        summary_durations(place, {"channel": "web"})


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda: DurationHistogram.objects.all().delete(), id="histograms-not-built-yet"),
        pytest.param(lambda: DurationHistogram.objects.filter(level=3).update(count=1), id="leaf-counts-wrong"),
        pytest.param(lambda: DurationHistogram.objects.filter(level=2).delete(), id="a-level-missing"),
        pytest.param(lambda: ConversationFacts.objects.filter(pk__in=ConversationFacts.objects.values("pk")[:9])
                     .update(first_response_bucket=None, resolution_bucket=None), id="facts-without-leaves"),
    ],
)  # fmt: skip
def test_histograms_that_disagree_give_exact_figures_anyway(place, damage, caplog):
    # given histograms that disagree with the rollups or the facts (before a rebuild, after damage)
    rows = random_rows(random.Random(3), place, 120)
    given(rows)
    damage()
    # then the figures come from every value instead, still exact, and the fallback is logged
    assert_exact(place, rows)
    assert_exact(place, rows, {"inbox": str(place["inboxes"][0].pk)})
    assert "disagrees" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_every_read_sees_one_snapshot(place):
    # given durations, read as a request reads them: in autocommit, not inside a test's transaction
    rows = random_rows(random.Random(11), place, 60)
    given(rows)
    with CaptureQueriesContext(connection) as queries:
        assert_exact(place, rows)
    # then on PostgreSQL the reads share one REPEATABLE READ snapshot (on SQLite they run as they are)
    if connection.vendor == "postgresql":
        assert any("REPEATABLE READ" in q["sql"] for q in queries.captured_queries[:2])
