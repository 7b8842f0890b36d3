"""feedback/metrics.py: the formulas of docs/metrics.md, as tables of inputs and expected outputs."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from feedback import metrics as m

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def csat(*scores):
    counters = {}
    for s in scores:
        c, t = counters.get(f"csat_{s}", (0, 0))
        counters[f"csat_{s}"] = (c + 1, t)
    return counters


def dist(question, *scores):
    counters = {}
    for s in scores:
        c, _ = counters.get(f"{question}_{s}", (0, 0))
        counters[f"{question}_{s}"] = (c + 1, 0)
    return counters


@pytest.mark.parametrize(
    ("name", "counters", "value", "numerator", "denominator"),
    [
        # CSAT %: 4 and 5 count as satisfied
        ("csat_percent", dist("csat", 5, 4, 3, 1), 50.0, 2, 4),
        ("csat_percent", dist("csat", 5), 100.0, 1, 1),
        ("csat_percent", dist("csat", 2, 1), 0.0, 0, 2),
        ("csat_percent", {}, None, 0, 0),
        ("csat_average", dist("csat", 5, 4, 3), 4.0, 12, 3),
        ("csat_average", {}, None, 0, 0),
        # CES: 1–7, higher is easier; easy = 5, 6, 7
        ("ces_average", dist("ces", 7, 1), 4.0, 8, 2),
        ("ces_easy_percent", dist("ces", 7, 5, 4, 1), 50.0, 2, 4),
        ("ces_easy_percent", {}, None, 0, 0),
        # NPS: % promoters (9–10) − % detractors (0–6)
        ("nps", dist("nps", 10, 9, 8, 7, 6, 0), 0.0, 0, 6),
        ("nps", dist("nps", 10, 10, 10, 0), 50.0, 2, 4),
        ("nps", dist("nps", 0, 3, 6), -100.0, -3, 3),
        ("nps", dist("nps", 7, 8), 0.0, 0, 2),
        ("nps", {}, None, 0, 0),
        # shares of counters
        ("response_rate", {"invitation_sent": (4, 0), "invitation_answered": (1, 0)}, 25.0, 1, 4),
        ("response_rate", {"invitation_answered": (0, 0)}, None, 0, 0),
        ("reopen_rate", {"resolved": (10, 0), "reopened": (1, 0)}, 10.0, 1, 10),
        ("recontact_rate_7d", {"window_ended": (3, 0), "recontacted": (1, 0)}, 100 / 3, 1, 3),
        ("recontact_rate_7d", {"resolved": (5, 0)}, None, 0, 0),  # windows still open: null, not 0
        ("first_contact_resolution", {"window_ended": (4, 0), "fcr": (3, 0)}, 75.0, 3, 4),
        ("channel_switch_rate", {"opened": (8, 3), "channel_switch": (2, 2)}, 25.0, 2, 8),
        # averages from sums and counts
        ("customer_messages_per_resolution", {"customer_messages": (2, 7)}, 3.5, 7, 2),
        ("transfers_per_conversation", {"opened": (4, 2)}, 0.5, 2, 4),
        ("transfers_per_conversation", {}, None, 0, 0),
    ],
)
def test_figure_from_counters(name, counters, value, numerator, denominator):
    # given summed counters / when the figure is computed / then value, numerator, denominator, version
    figure = m.figure(name, counters)
    assert figure == {"value": value, "numerator": numerator, "denominator": denominator, "version": 1}


@pytest.mark.parametrize(
    ("values", "median", "p90", "mean", "count"),
    [
        ([], None, None, None, 0),
        ([None, None], None, None, None, 0),
        ([30.0], 30.0, 30.0, 30.0, 1),
        ([10, 20], 15.0, 19.0, 15.0, 2),
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 5.5, 9.1, 5.5, 10),
        ([100, 1, 50], 50.0, 90.0, 151 / 3, 3),
    ],
)
def test_duration_is_exact_percentile_cont(values, median, p90, mean, count):
    figure = m.duration(values)
    assert figure["median"] == pytest.approx(median) if median is not None else figure["median"] is None
    assert figure["p90"] == pytest.approx(p90) if p90 is not None else figure["p90"] is None
    assert figure["mean"] == pytest.approx(mean) if mean is not None else figure["mean"] is None
    assert figure["count"] == count


def test_duration_mean_is_the_exact_sum_of_microseconds_over_the_count():
    # given durations as timestamps give them (whole microseconds) whose float sum is inexact
    values = [0.1, 0.2, 0.000001, 86400.123456]
    figure = m.duration(values)
    # then the sum is the exact one, rounded once, and so is the mean
    assert figure["numerator"] == 86400423457 / 1_000_000
    assert figure["mean"] == 86400423457 / 4_000_000
    assert (figure["count"], figure["denominator"]) == (4, 4)


def test_bucket_edges_are_exact_increasing_binary_fractions():
    edges = m.DURATION_BUCKET_EDGES
    assert all(a < b for a, b in zip(edges, edges[1:], strict=False))
    assert len(edges) == 40 * 256
    # every octave is cut into 256 equal parts: 1 s is an edge, so is 1 + 1/256 s
    one = edges.index(1.0)
    assert edges[one + 1] == 1 + 1 / 256 and edges[one + 256] == 2.0
    # levels group 16 consecutive buckets: the octave of 1 s is level-1 bucket 10
    assert m.bucket_at(1, m.duration_bucket(1.0)) == 10 == m.bucket_at(1, m.duration_bucket(1.999))
    assert m.bucket_at(1, m.duration_bucket(2.0)) == 11


@pytest.mark.parametrize(
    ("seconds", "leaf"),
    [
        (None, None),
        (-5.0, 0),  # below the first edge: the first bucket
        (0.0, 0),
        (2.0**-10, 0),  # the lowest octave's first part is the first bucket too
        (2.0**-10 * (1 + 1 / 256), 1),  # on an edge: the bucket above
        (1.0, 10 * 256),
        (1.0 - 1e-12, 10 * 256 - 1),
        (900.0, 19 * 256 + 194),
        (2.0**30 - 1, 40 * 256 - 1),
        (2.0**30, 40 * 256),  # from the last edge up: the last bucket
        (1e300, 40 * 256),
    ],
)
def test_duration_bucket(seconds, leaf):
    assert m.duration_bucket(seconds) == leaf


@pytest.mark.parametrize(
    ("count", "ranks"),
    [(0, set()), (1, {0}), (2, {0, 1}), (10, {4, 5, 8, 9}), (11, {5, 9}), (101, {50, 90})],
)
def test_ranks_read_by_the_median_and_p90(count, ranks):
    # percentile_cont reads the ranks either side of fraction × (count − 1)
    assert m.ranks_read(count) == ranks


@pytest.mark.parametrize(
    ("counts", "rank", "found"),
    [
        ({3: 2, 1: 1}, 0, (1, 0)),
        ({3: 2, 1: 1}, 1, (3, 0)),
        ({3: 2, 1: 1}, 2, (3, 1)),
        ({3: 2, 1: 1}, 3, None),  # fewer values than the rank: the histogram disagrees
        ({}, 0, None),
        ({5: 0, 7: 1}, 0, (7, 0)),
    ],
)
def test_locate(counts, rank, found):
    assert m.locate(counts, rank) == found


@pytest.mark.parametrize(
    ("pairs", "rank", "value"),
    [([(1.5, 2), (4.0, 1)], 0, 1.5), ([(1.5, 2), (4.0, 1)], 1, 1.5), ([(1.5, 2), (4.0, 1)], 2, 4.0),
     ([(1.5, 2)], 2, None), ([], 0, None)],
)  # fmt: skip
def test_value_at(pairs, rank, value):
    assert m.value_at(pairs, rank) == value


@pytest.mark.parametrize(
    ("scores", "detractor"),
    [
        ({"csat": 2}, True),
        ({"csat": 3}, False),
        ({"ces": 3}, True),
        ({"ces": 4}, False),
        ({"nps": 6}, True),
        ({"nps": 7}, False),
        ({"nps": 0}, True),
        ({"csat": 5, "nps": 6}, True),
        ({}, False),
    ],
)
def test_detractor_answer(scores, detractor):
    assert m.is_detractor_answer(**scores) is detractor


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [(None, None), (0, "< 1 min"), (59.9, "< 1 min"), (60, "1–5 min"), (299, "1–5 min"), (300, "5–30 min"),
     (1800, "30 min–4 h"), (14399, "30 min–4 h"), (14400, "> 4 h"), (10**7, "> 4 h")],
)  # fmt: skip
def test_first_response_bucket(seconds, bucket):
    assert m.first_response_bucket(seconds) == bucket


def conv(**kw):
    base = {"id": 1, "inbox_id": 10, "inbox_channel": "web", "opened_at": T0, "first_resolved_at": None,
            "assignee_id": 5, "team_id": 7, "reopen_count": 0}  # fmt: skip
    return m.ConversationRow(**{**base, **kw})


def msg(kind, minutes, channel="web", note=False):
    return m.MessageRow(kind, note, channel, T0 + timedelta(minutes=minutes))


@pytest.mark.parametrize(
    ("case", "conversation", "messages", "events", "later", "now_days", "expected"),
    [
        (
            "first human reply, not a note or a bot",
            conv(),
            [msg("contact", 0), msg("bot", 1), msg("agent", 2, note=True), msg("agent", 5), msg("agent", 9)],
            [],
            [],
            1,
            {"first_response_seconds": 300.0, "customer_messages": 1, "agent_messages": 2, "resolution_seconds": None},
        ),
        (
            "resolution and an unfinished window: recontact and FCR are null",
            conv(first_resolved_at=T0 + timedelta(hours=2)),
            [msg("contact", 0)],
            [],
            [],
            3,
            {"resolution_seconds": 7200.0, "window_ended": False, "recontacted_7d": None, "fcr": None},
        ),
        (
            "window ended, no recontact, never reopened: FCR",
            conv(first_resolved_at=T0),
            [msg("contact", 0)],
            [],
            [T0 - timedelta(days=30), T0 + timedelta(days=8)],
            8,
            {"window_ended": True, "recontacted_7d": False, "fcr": True},
        ),
        (
            "a new conversation within 7 days on any channel: recontact, no FCR",
            conv(first_resolved_at=T0),
            [msg("contact", 0)],
            [],
            [T0 + timedelta(days=6)],
            8,
            {"recontacted_7d": True, "fcr": False},
        ),
        (
            "reopened: no FCR",
            conv(first_resolved_at=T0, reopen_count=1),
            [msg("contact", 0)],
            [m.EventRow("reopened", {}, T0)],
            [],
            8,
            {"reopened": True, "recontacted_7d": False, "fcr": False},
        ),
        (
            "channels, switches and transfers; credit to the agent at the last resolution",
            conv(first_resolved_at=T0 + timedelta(hours=1)),
            [msg("contact", 0, "email"), msg("contact", 10, "sms"), msg("contact", 20, "email")],
            [
                m.EventRow("channel_switched", {}, T0),
                m.EventRow("channel_switched", {}, T0),
                m.EventRow("transferred", {}, T0),
                m.EventRow("resolved", {"agent_id": 42, "team_id": 3, "resolution_number": 1}, T0),
            ],
            [],
            1,
            {
                "channels_used": ["email", "sms"],
                "channel_switches": 2,
                "transfers": 1,
                "agent_id": 42,
                "team_id": 3,
                "channel": "email",
            },
        ),  # fmt: skip
    ],
)
def test_conversation_facts(case, conversation, messages, events, later, now_days, expected):
    facts = m.conversation_facts(
        conversation, messages=messages, events=events, later_openings=later, now=T0 + timedelta(days=now_days)
    )
    assert {k: getattr(facts, k) for k in expected} == expected, case


def test_contributions_count_each_thing_in_its_own_period():
    # given a conversation opened late on 2 Nov (UTC), answered after midnight, resolved on 3 Nov
    facts = m.Facts(
        conversation_id=1, inbox_id=10, agent_id=None, team_id=7, channel="web",
        opened_at=datetime(2026, 11, 2, 23, 50, tzinfo=UTC),
        first_reply_at=datetime(2026, 11, 3, 0, 5, tzinfo=UTC), first_response_seconds=900.0,
        first_resolved_at=datetime(2026, 11, 3, 2, 0, tzinfo=UTC), resolution_seconds=7800.0,
        customer_messages=3, transfers=1,
    )  # fmt: skip
    # when its contributions are computed in UTC
    out = m.conversation_contributions(facts, tz=UTC)
    # then each counter sits on the day that counts, agent 0 standing for "none"
    assert {k: v for k, v in out.items() if m.parse_histogram_cell(k.split("|")[-1]) is None} == {
        "2026-11-02|10|0|7|web|opened": (1, 1),
        "2026-11-03|10|0|7|web|first_response": (1, 900_000),
        "2026-11-03|10|0|7|web|resolved": (1, 7_800_000),
        "2026-11-03|10|0|7|web|customer_messages": (1, 3),
    }
    # and each duration counts once at each histogram level (total: microseconds), in the cells
    # of everything and, but for the leaf, in its own dimensions: 900 s = 2**9 × (1 + 194/256),
    # on an edge, so octave 9 + 10 = 19, leaf 19 × 256 + 194 = 5058, level 2 5058 // 16 = 316
    histogram = {k: v for k, v in out.items() if "first_response_seconds/" in k}
    assert histogram == {
        "2026-11-03|0|0|0||first_response_seconds/1/19": (1, 900_000_000),
        "2026-11-03|0|0|0||first_response_seconds/2/316": (1, 900_000_000),
        "2026-11-03|0|0|0||first_response_seconds/3/5058": (1, 900_000_000),
        "2026-11-03|10|0|7|web|first_response_seconds/1/19": (1, 900_000_000),
        "2026-11-03|10|0|7|web|first_response_seconds/2/316": (1, 900_000_000),
    }
    assert sum(1 for k in out if "resolution_seconds/" in k) == 5
    # and in a time zone east of UTC the opening moves to the next local day
    paris = m.conversation_contributions(facts, tz=ZoneInfo("Europe/Paris"))
    assert "2026-11-03|10|0|7|web|opened" in paris


def test_invitation_contributions_rate_by_sent_time_scores_by_answer_time():
    response = m.ResponseRow(1, 5, 2, None, datetime(2026, 11, 5, 10, tzinfo=UTC))
    invitation = m.InvitationRow(10, 4, 7, "email", datetime(2026, 11, 4, 10, tzinfo=UTC), response)
    assert m.invitation_contributions(invitation, tz=UTC) == {
        "2026-11-04|10|4|7|email|invitation_sent": (1, 0),
        "2026-11-04|10|4|7|email|invitation_answered": (1, 0),
        "2026-11-05|10|4|7|email|csat_5": (1, 0),
        "2026-11-05|10|4|7|email|ces_2": (1, 0),
    }
    unsent = m.InvitationRow(10, 4, 7, "email", None, None)
    assert m.invitation_contributions(unsent, tz=UTC) == {}


@pytest.mark.parametrize(
    ("old", "new", "delta"),
    [
        ({}, {"a": (1, 5)}, {"a": (1, 5)}),
        ({"a": [1, 5]}, {"a": (1, 5)}, {}),  # a re-run changes nothing
        ({"a": [1, 5]}, {}, {"a": (-1, -5)}),
        ({"a": [1, 5], "b": [1, 0]}, {"a": (1, 7), "c": (2, 0)}, {"a": (0, 2), "b": (-1, 0), "c": (2, 0)}),
    ],
)
def test_contribution_delta(old, new, delta):
    assert m.contribution_delta(old, new) == delta


@pytest.mark.parametrize(
    ("current", "previous", "expected"), [(50.0, 40.0, 10.0), (None, 40.0, None), (50.0, None, None), (0.0, 0.0, 0.0)]
)
def test_trend(current, previous, expected):
    assert m.trend(current, previous) == expected
