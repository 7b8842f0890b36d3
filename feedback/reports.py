"""Reads of the metrics: filters parsed and scoped, rollups and facts turned into figures.

Every figure goes through feedback/metrics.py. Rollups give the counters; duration histograms
and a handful of facts rows give the exact percentiles of the summary (docs/adr/0004-exact-
percentiles.md); facts give the other percentiles and the joins (CSAT by first-response bucket,
CES by channel switches). Scoping follows chat.selectors: an agent sees their own inboxes and their own
figures (another agent's → 404); supervisors see everything.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Case, IntegerField, Q, QuerySet, Sum, Value, When
from django.utils import timezone

from chat.models import Channel, Contact, Inbox, Team
from chat.selectors import inbox_ids_visible_to, is_number, user_is_supervisor
from cxhub.errors import InvalidInput, NotFound
from feedback.errors import ErrorCode

from . import metrics
from .models import ConversationFacts, DurationHistogram, MetricRollup
from .pipeline import workspace_tz

logger = logging.getLogger(__name__)

DEFAULT_PERIOD_DAYS = 30
MAX_PERIOD_DAYS = 731
BREAKDOWN_DIMENSIONS = ("agent", "channel", "inbox", "team")
INTERVALS = ("day", "week")


def export_max_days() -> int:
    return getattr(settings, "METRICS_EXPORT_MAX_DAYS", 92)


@dataclass
class MetricFilters:
    """A parsed, validated and scoped filter set; the same for every metrics endpoint."""

    day_from: date
    day_to: date
    inbox_ids: list[int] | None = None  # None: every inbox the user may see
    agent_ids: list[int] | None = None
    team_ids: list[int] | None = None
    channels: list[str] | None = None
    echo: dict = field(default_factory=dict)

    @property
    def days(self) -> int:
        return (self.day_to - self.day_from).days + 1

    def previous(self) -> MetricFilters:
        """The period of the same length just before this one, same dimensions."""
        length = timedelta(days=self.days)
        return MetricFilters(
            self.day_from - length,
            self.day_to - length,
            self.inbox_ids,
            self.agent_ids,
            self.team_ids,
            self.channels,
            self.echo,
        )

    def bounds(self) -> tuple[datetime, datetime]:
        tz = workspace_tz()
        start = datetime.combine(self.day_from, datetime.min.time(), tzinfo=tz)
        end = datetime.combine(self.day_to + timedelta(days=1), datetime.min.time(), tzinfo=tz)
        return start, end


def _values(params, name: str) -> list[str]:
    """Repeated parameters, and comma-separated lists within them (`?inbox=1&inbox=2`, `?inbox=1,2`)."""
    getter = getattr(params, "getlist", None)
    raw = getter(name) if getter else ([params[name]] if name in params else [])
    return [v.strip() for item in raw for v in str(item).split(",") if v.strip()]


def _date(params, name: str) -> date | None:
    values = _values(params, name)
    if not values:
        return None
    if len(values) > 1:
        raise InvalidInput("Give one date.", fields={name: ["Only one value allowed."]})
    try:
        return date.fromisoformat(values[0])
    except ValueError:
        raise InvalidInput("Dates are YYYY-MM-DD.", fields={name: [f"Not a date: {values[0][:40]!r}."]}) from None


def _ids(values: list[str], name: str) -> list[int]:
    bad = [v for v in values if not is_number(v) or len(v) > 18]
    if bad:
        raise InvalidInput(f"Unknown {name}.", fields={name: [f"Not an id: {bad[0][:40]!r}."]})
    return sorted({int(v) for v in values})


def parse_filters(user, params, *, max_days: int = MAX_PERIOD_DAYS, own_figures: bool = True) -> MetricFilters:
    """from/to/inbox/agent/team/channel (docs/metrics.md "Filters"); unknown → 400, foreign → 404.

    `own_figures`: an agent's figures are their own (agent filter forced to themselves).
    """
    today = metrics.local_day(timezone.now(), workspace_tz())
    day_to = _date(params, "to") or today
    day_from = _date(params, "from") or (day_to - timedelta(days=DEFAULT_PERIOD_DAYS - 1))
    if day_from > day_to:
        raise InvalidInput("`from` is after `to`.", fields={"from": ["Must be on or before `to`."]})
    if (day_to - day_from).days + 1 > max_days:
        raise InvalidInput(
            f"The period is at most {max_days} days.",
            fields={"to": [f"The period is at most {max_days} days."]},
            code=ErrorCode.PERIOD_TOO_LONG,
        )
    filters = MetricFilters(day_from, day_to)
    filters.echo = {"from": day_from.isoformat(), "to": day_to.isoformat()}
    supervisor = user_is_supervisor(user)
    visible = inbox_ids_visible_to(user)

    inbox_values = _values(params, "inbox")
    if inbox_values:
        numeric = {int(v) for v in inbox_values if is_number(v) and len(v) <= 18}
        public = {v for v in inbox_values if not (is_number(v) and len(v) <= 18)}
        found = {
            i.pk: i for i in Inbox.objects.filter(Q(pk__in=numeric) | Q(public_id__in=public)).only("pk", "public_id")
        }
        known = set(found) | {i.public_id for i in found.values()}
        unknown = [v for v in inbox_values if (int(v) if is_number(v) and len(v) <= 18 else v) not in known]
        if unknown:
            raise InvalidInput("Unknown inbox.", fields={"inbox": [f"No such inbox: {unknown[0][:40]!r}."]})
        ids = sorted(found)
        if visible is not None and any(pk not in visible for pk in ids):
            raise NotFound("Inbox not found.")
        filters.inbox_ids = ids
        filters.echo["inbox"] = ids
    elif visible is not None:
        filters.inbox_ids = sorted(visible)

    agent_values = _values(params, "agent")
    if agent_values:
        ids = _ids(agent_values, "agent")
        existing = set(get_user_model().objects.filter(pk__in=ids).values_list("pk", flat=True))
        if missing := [pk for pk in ids if pk not in existing]:
            raise InvalidInput("Unknown agent.", fields={"agent": [f"No such agent: {missing[0]}."]})
        if own_figures and not supervisor and any(pk != user.pk for pk in ids):
            raise NotFound("Agent not found.")
        filters.agent_ids = ids
        filters.echo["agent"] = ids
    elif own_figures and not supervisor:
        filters.agent_ids = [user.pk]

    team_values = _values(params, "team")
    if team_values:
        ids = _ids(team_values, "team")
        existing = set(Team.objects.filter(pk__in=ids).values_list("pk", flat=True))
        if missing := [pk for pk in ids if pk not in existing]:
            raise InvalidInput("Unknown team.", fields={"team": [f"No such team: {missing[0]}."]})
        filters.team_ids = ids
        filters.echo["team"] = ids

    channel_values = _values(params, "channel")
    if channel_values:
        if unknown := [v for v in channel_values if v not in Channel.values]:
            raise InvalidInput(
                "Unknown channel.",
                fields={"channel": [f"Not one of {', '.join(Channel.values)}: {unknown[0][:40]!r}."]},
            )
        filters.channels = sorted(set(channel_values))
        filters.echo["channel"] = filters.channels
    return filters


# --- queries -----------------------------------------------------------------------------


def _dimensions(
    filters: MetricFilters, *, inbox="inbox_id", agent="agent_id", team="team_id", channel="channel"
) -> list[tuple[list, str]]:
    """(values, where they live) of each dimension the filters restrict."""
    pairs = [
        (filters.inbox_ids, inbox),
        (filters.agent_ids, agent),
        (filters.team_ids, team),
        (filters.channels, channel),
    ]
    return [(values, column) for values, column in pairs if values is not None]


def narrow(qs: QuerySet, filters: MetricFilters, **columns):
    """The filters' inbox, agent, team and channel on any queryset, given where each lives on it."""
    for values, lookup in _dimensions(filters, **columns):
        qs = qs.filter(**{f"{lookup}__in": values})
    return qs


def _narrow_sql(filters: MetricFilters, **columns) -> tuple[str, list]:
    """The same restriction as `narrow`, as SQL (` AND column IN (...)` each) and its parameters."""
    sql, params = "", []
    for values, column in _dimensions(filters, **columns):
        if not values:
            return " AND 1 = 0", []
        sql += f" AND {column} IN ({', '.join(['%s'] * len(values))})"
        params += list(values)
    return sql, params


def rollups(filters: MetricFilters) -> QuerySet[MetricRollup]:
    qs = MetricRollup.objects.filter(day__gte=filters.day_from, day__lte=filters.day_to)
    return narrow(qs, filters, agent="agent_key", team="team_key")


def facts(filters: MetricFilters) -> QuerySet[ConversationFacts]:
    """Facts in the filters' dimensions (any period: callers pick the timestamp that counts)."""
    return narrow(ConversationFacts.objects.all(), filters)


def _in_period(qs: QuerySet, filters: MetricFilters, field_name: str) -> QuerySet:
    start, end = filters.bounds()
    return qs.filter(**{f"{field_name}__gte": start, f"{field_name}__lt": end})


def _periods_by_day(periods: list[MetricFilters]) -> tuple[Q, Case]:
    """Rows whose `day` falls in any of the periods, and the index of the period each falls in."""
    conditions = [Q(day__gte=period.day_from, day__lte=period.day_to) for period in periods]
    either = Q()
    for condition in conditions:
        either |= condition
    which = Case(*(When(c, then=Value(n)) for n, c in enumerate(conditions)), output_field=IntegerField())
    return either, which


def counters_of_periods(periods: list[MetricFilters]) -> list[dict[str, tuple[int, int]]]:
    """The summed rollup counters of each period (all in the first one's dimensions), in one query."""
    in_periods, period = _periods_by_day(periods)
    qs = narrow(MetricRollup.objects.filter(in_periods), periods[0], agent="agent_key", team="team_key")
    out: list[dict[str, tuple[int, int]]] = [{} for _ in periods]
    for r in qs.annotate(period=period).values("period", "metric").annotate(c=Sum("count"), t=Sum("total")):
        out[r["period"]][r["metric"]] = (int(r["c"] or 0), int(r["t"] or 0))
    return out


def counters(filters: MetricFilters) -> dict[str, tuple[int, int]]:
    return counters_of_periods([filters])[0]


class DurationSource(NamedTuple):
    at: str  # the timestamp that puts the duration in a period
    value: str
    leaf: str  # its histogram leaf (metrics.duration_bucket)


DURATION_SOURCES = {
    "first_response_seconds": DurationSource("first_reply_at", "first_response_seconds", "first_response_bucket"),
    "resolution_seconds": DurationSource("first_resolved_at", "resolution_seconds", "resolution_bucket"),
    "first_response_business_seconds": DurationSource(
        "first_reply_at", "first_response_business_seconds", "first_response_business_bucket"
    ),
    "resolution_business_seconds": DurationSource(
        "first_resolved_at", "resolution_business_seconds", "resolution_business_bucket"
    ),
    "queue_seconds": DurationSource("first_assigned_at", "queue_seconds", "queue_bucket"),
}


def duration_values(filters: MetricFilters, name: str) -> QuerySet:
    """Every duration of this metric in the period and dimensions: the facts rows it is read from."""
    source = DURATION_SOURCES[name]
    return _in_period(facts(filters), filters, source.at).exclude(**{f"{source.value}__isnull": True})


def durations(filters: MetricFilters, names: Iterable[str] = metrics.DURATION_METRICS) -> dict[str, dict]:
    """Duration figures from every value of the period: exact, and linear in the values read."""
    return {
        name: metrics.duration(
            duration_values(filters, name).values_list(DURATION_SOURCES[name].value, flat=True),
            version=metrics.VERSIONS[name],
        )
        for name in names
    }


def _unfiltered(filters: MetricFilters) -> bool:
    return all(v is None for v in (filters.inbox_ids, filters.agent_ids, filters.team_ids, filters.channels))


def _values_sql(rows: list[tuple]) -> tuple[str, list]:
    """`VALUES (%s, …), …` for these rows, and their parameters."""
    placeholders = "(" + ", ".join(["%s"] * len(rows[0])) + ")"
    return "VALUES " + ", ".join([placeholders] * len(rows)), [value for row in rows for value in row]


def _histogram_children(periods: list[MetricFilters], level: int, parents: list[tuple]) -> list[tuple]:
    """(period, metric, parent, bucket, count, microseconds) of the `level` buckets under each
    (period, metric, parent), summed over the period's days: one index range per parent.

    The rows that count everything when the filters restrict nothing, else those of the
    filters' dimensions. (SQL rather than the ORM: building one queryset per parent cost more
    than running them.)
    """
    table = DurationHistogram._meta.db_table
    if _unfiltered(periods[0]):
        scope, scope_params = "h.inbox_key = 0", []
    else:
        dimensions, scope_params = _narrow_sql(
            periods[0], inbox="h.inbox_key", agent="h.agent_key", team="h.team_key", channel="h.channel"
        )
        scope = "h.inbox_key > 0" + dimensions
    day = connection.ops.adapt_datefield_value
    wanted, params = _values_sql(
        [(n, name, parent, day(periods[n].day_from), day(periods[n].day_to)) for n, name, parent in parents]
    )
    sql = (
        f"WITH wanted (period, metric, parent, day_from, day_to) AS ({wanted}) "
        "SELECT wanted.period, h.metric, h.parent, h.bucket, SUM(h.count), SUM(h.total) "
        f"FROM wanted JOIN {table} h ON h.metric = wanted.metric AND h.parent = wanted.parent "
        "AND h.day >= wanted.day_from AND h.day <= wanted.day_to "
        f"WHERE h.level = %s AND {scope} "
        "GROUP BY wanted.period, h.metric, h.parent, h.bucket"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, level, *scope_params])
        return cursor.fetchall()


def duration_figures(
    periods: list[MetricFilters], names: Iterable[str], counted: list[dict[str, tuple[int, int]]]
) -> list[dict[str, dict]]:
    """Count, mean, median and p90 of each duration metric in each period, exact, from histograms.

    `periods` share the first one's dimensions; `counted` holds their rollup counters (read in
    the same snapshot). A percentile reads two ranks (percentile_cont interpolates). For each
    rank, descend the histogram levels: sum a level's buckets over the period's days, take the
    bucket holding the rank, then read only that bucket's children. The last bucket reached
    (a leaf without filters, a sixteenth of an octave with them) is read from the facts rows,
    value by value: the value at the rank is exactly what `metrics.duration` finds among every
    value (docs/adr/0004-exact-percentiles.md). One query per level, one for the values.

    Any count that disagrees (histograms not rebuilt yet after an upgrade or a deletion: the
    rollups' count and the histogram's, a bucket and its children, a bucket and its facts) makes
    that figure come from every value instead: slower, never wrong.
    """
    names = [n for n in names if n in metrics.DURATION_METRICS]
    keys = [(n, name) for n in range(len(periods)) for name in names]
    deepest = metrics.HISTOGRAM_LEVELS if _unfiltered(periods[0]) else metrics.DIMENSION_LEVELS
    sizes: dict[tuple, int] = {}  # (period, metric, level, bucket) → durations in the bucket
    totals: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])  # (period, metric) → [count, microseconds]
    found: dict[tuple, dict[int, tuple[int, int]]] = {}  # (period, metric) → {rank: (bucket, rank inside)}
    broken: set[tuple] = set()

    targets = [(*key, 0) for key in keys]  # (period, metric, parent): whose children to read
    for level in range(1, deepest + 1):
        children: dict[tuple, dict[int, int]] = defaultdict(dict)
        for n, name, parent, bucket, count, total in _histogram_children(periods, level, targets) if targets else ():
            children[(n, name, parent)][bucket] = sizes[(n, name, level, bucket)] = int(count)
            if level == 1:
                totals[(n, name)][0] += int(count)
                totals[(n, name)][1] += int(total)
        if level == 1:
            for key in keys:
                count = totals[key][0]
                if count != counted[key[0]].get(metrics.DURATION_COUNTERS[key[1]], (0, 0))[0]:
                    broken.add(key)
                found[key] = {rank: (0, rank) for rank in metrics.ranks_read(count)}
        targets = []
        for key, ranks in found.items():
            for rank, (parent, inside) in ranks.items():
                kids = children.get((*key, parent), {})
                located = metrics.locate(kids, inside)
                if located is None or (level > 1 and sum(kids.values()) != sizes.get((*key, level - 1, parent))):
                    broken.add(key)
                    continue
                ranks[rank] = located
                targets.append((*key, located[0]))
        found = {key: ranks for key, ranks in found.items() if key not in broken}
        targets = sorted({t for t in targets if t[:2] not in broken})

    values = _bucket_values(periods, deepest, targets)
    out: list[dict[str, dict]] = [{} for _ in periods]
    for key in keys:
        n, name = key
        reached = found.get(key, {})
        for bucket, _ in reached.values():
            if sum(c for _, c in values.get((*key, bucket), ())) != sizes[(*key, deepest, bucket)]:
                broken.add(key)
        if key in broken:
            logger.warning("duration histogram of %s disagrees with the rollups or facts: reading every value", name)
            out[n][name] = durations(periods[n], [name])[name]
            continue

        def value_at(rank: int, key=key, reached=reached) -> float:
            bucket, inside = reached[rank]
            return metrics.value_at(values[(*key, bucket)], inside)

        count, total = totals[key]
        out[n][name] = metrics.duration_figure(
            count=count,
            total_micros=total,
            median=metrics.percentile_by_rank(count, metrics.PERCENTILES["median"], value_at),
            p90=metrics.percentile_by_rank(count, metrics.PERCENTILES["p90"], value_at),
            version=metrics.VERSIONS[name],
        )
    return out


def _bucket_values(periods: list[MetricFilters], level: int, buckets: list[tuple]) -> dict[tuple, list]:
    """(period, metric, bucket of `level`) → the bucket's (value, how many) in the period, by value.

    One query: an index range scan (leaf, timestamp) of the facts per leaf of each bucket.
    """
    moment = connection.ops.adapt_datetimefield_value
    dimensions, dimension_params = _narrow_sql(periods[0], inbox="f.inbox_id", agent="f.agent_id",
                                               team="f.team_id", channel="f.channel")  # fmt: skip
    ctes, selects, params, select_params = [], [], [], []
    for number, name in enumerate(sorted({name for _, name, _ in buckets})):
        source, cte = DURATION_SOURCES[name], f"wanted_{number}"
        rows = []
        for n, _, bucket in (b for b in buckets if b[1] == name):
            start, end = periods[n].bounds()
            rows += [(n, bucket, leaf, moment(start), moment(end)) for leaf in metrics.leaves_of(level, bucket)]
        wanted, values_params = _values_sql(rows)
        ctes.append(f"{cte} (period, bucket, leaf, start_at, end_at) AS ({wanted})")
        params += values_params
        selects.append(
            f"SELECT w.period, %s, w.bucket, f.{source.value}, COUNT(*) "
            f"FROM {cte} w JOIN {ConversationFacts._meta.db_table} f ON f.{source.leaf} = w.leaf "
            f"AND f.{source.at} >= w.start_at AND f.{source.at} < w.end_at "
            f"WHERE 1 = 1{dimensions} GROUP BY w.period, w.bucket, f.{source.value}"
        )
        select_params += [name, *dimension_params]
    out: dict[tuple, list] = defaultdict(list)
    if not selects:
        return out
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(ctes)} {' UNION ALL '.join(selects)}", [*params, *select_params])
        for n, name, bucket, value, count in cursor.fetchall():
            out[(n, name, bucket)].append((value, count))
    for pairs in out.values():
        pairs.sort()
    return out


def at_risk_count(filters: MetricFilters) -> int:
    """Contacts at risk now with a conversation in the filters' dimensions (any period)."""
    contact_ids = facts(filters).values("conversation__contact_id")
    return Contact.objects.filter(pk__in=contact_ids, at_risk_until__gt=timezone.now()).count()


@contextmanager
def one_snapshot() -> Iterator[None]:
    """Every read inside sees the same committed state (PostgreSQL: a REPEATABLE READ, READ ONLY
    transaction), so histograms, rollups and facts agree while the pipeline writes.

    Inside a caller's transaction, and on SQLite (whose transactions here take the write lock),
    reads run as they are; a disagreement then costs `duration_figures` speed, never exactness.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            # A few small index scans: parallel workers would only add their start-up time.
            cursor.execute(
                "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY; "
                "SET LOCAL max_parallel_workers_per_gather = 0"
            )
        yield


def figures_of_periods(periods: list[MetricFilters], names: Iterable[str] = metrics.METRIC_NAMES) -> list[dict]:
    """Every named figure of each period (the periods share the first one's dimensions)."""
    names = list(names)
    with one_snapshot():
        counted = counters_of_periods(periods)
        timed = duration_figures(periods, names, counted)
        # "at risk now" does not depend on the period: one count serves them all
        at_risk = at_risk_count(periods[0]) if "at_risk_contacts" in names else 0
    return [
        metrics.figures_from_counters(c, durations=d, at_risk=at_risk, names=names)
        for c, d in zip(counted, timed, strict=True)
    ]


def figures(filters: MetricFilters, names: Iterable[str] = metrics.METRIC_NAMES) -> dict[str, dict]:
    return figures_of_periods([filters], names)[0]


def summary(filters: MetricFilters) -> dict:
    previous = filters.previous()
    current_figures, previous_figures = figures_of_periods([filters, previous])
    return {
        "from": filters.day_from.isoformat(),
        "to": filters.day_to.isoformat(),
        "filters": filters.echo,
        "metrics": current_figures,
        "previous": {
            "from": previous.day_from.isoformat(),
            "to": previous.day_to.isoformat(),
            "metrics": previous_figures,
        },
    }


def _buckets(filters: MetricFilters, interval: str) -> list[tuple[date, date]]:
    out = []
    day = filters.day_from
    while day <= filters.day_to:
        end = day if interval == "day" else min(day + timedelta(days=6 - day.weekday()), filters.day_to)
        out.append((day, end))
        day = end + timedelta(days=1)
    return out


def timeseries(filters: MetricFilters, *, metric: str, interval: str) -> dict:
    """One figure per day or week (weeks start on Monday, clipped to the period); empty → null."""
    buckets = _buckets(filters, interval)
    index = {}
    for n, (start, end) in enumerate(buckets):
        day = start
        while day <= end:
            index[day] = n
            day += timedelta(days=1)
    per_bucket: list[dict[str, list[int]]] = [defaultdict(lambda: [0, 0]) for _ in buckets]
    per_bucket_durations: list[list[float]] = [[] for _ in buckets]
    if metric in metrics.DURATION_METRICS:
        source = DURATION_SOURCES[metric]
        tz = workspace_tz()
        for moment, seconds in duration_values(filters, metric).values_list(source.at, source.value):
            per_bucket_durations[index[metrics.local_day(moment, tz)]].append(seconds)
    else:
        rows = rollups(filters).values("day", "metric").annotate(c=Sum("count"), t=Sum("total"))
        for r in rows:
            cell = per_bucket[index[r["day"]]][r["metric"]]
            cell[0] += r["c"] or 0
            cell[1] += r["t"] or 0
    at_risk = at_risk_count(filters) if metric == "at_risk_contacts" else 0
    series = []
    for n, (start, end) in enumerate(buckets):
        figure = metrics.figure(
            metric,
            {k: (c, t) for k, (c, t) in per_bucket[n].items()},
            durations={metric: metrics.duration(per_bucket_durations[n], version=metrics.VERSIONS[metric])},
            at_risk=at_risk,
        )
        series.append({"start": start.isoformat(), "end": end.isoformat(), "figure": figure})
    return {
        "metric": metric,
        "interval": interval,
        "from": filters.day_from.isoformat(),
        "to": filters.day_to.isoformat(),
        "filters": filters.echo,
        "buckets": series,
    }


ROLLUP_COLUMN = {"agent": "agent_key", "team": "team_key", "inbox": "inbox_id", "channel": "channel"}
FACTS_COLUMN = {"agent": "agent_id", "team": "team_id", "inbox": "inbox_id", "channel": "channel"}


def _labels(by: str, keys: Iterable) -> dict:
    keys = [k for k in keys if k not in (None, 0)]
    if by == "agent":
        users = get_user_model().objects.filter(pk__in=keys).select_related("agent")
        return {u.pk: getattr(getattr(u, "agent", None), "display_name", "") or u.get_username() for u in users}
    if by == "team":
        return dict(Team.objects.filter(pk__in=keys).values_list("pk", "name"))
    if by == "inbox":
        return dict(Inbox.objects.filter(pk__in=keys).values_list("pk", "name"))
    return {value: label for value, label in Channel.choices}


def breakdown(filters: MetricFilters, *, metric: str, by: str) -> dict:
    """One figure per agent, team, inbox or channel, biggest denominator first."""
    groups: dict = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    group_durations: dict = defaultdict(list)
    if metric in metrics.DURATION_METRICS:
        values = duration_values(filters, metric).values_list(FACTS_COLUMN[by], DURATION_SOURCES[metric].value)
        for key, seconds in values:
            group_durations[key or 0].append(seconds)
        keys = list(group_durations)
    else:
        column = ROLLUP_COLUMN[by]
        rows = rollups(filters).values(column, "metric").annotate(c=Sum("count"), t=Sum("total"))
        for r in rows:
            cell = groups[r[column]][r["metric"]]
            cell[0] += r["c"] or 0
            cell[1] += r["t"] or 0
        keys = list(groups)
    labels = _labels(by, keys)
    out = []
    for key in keys:
        figure = metrics.figure(
            metric,
            {k: (c, t) for k, (c, t) in groups[key].items()},
            durations={metric: metrics.duration(group_durations.get(key, []), version=metrics.VERSIONS[metric])},
        )
        if figure.get("denominator") in (0, None) and figure.get("count", 0) == 0 and figure.get("value") is None:
            continue
        out.append({"key": key if key != 0 else None, "label": labels.get(key, "—" if key == 0 else str(key)),
                    "figure": figure})  # fmt: skip
    out.sort(key=lambda row: (-(row["figure"].get("denominator") or 0), str(row["label"])))
    return {
        "metric": metric,
        "by": by,
        "from": filters.day_from.isoformat(),
        "to": filters.day_to.isoformat(),
        "filters": filters.echo,
        "rows": out,
    }


def distributions(filters: MetricFilters) -> dict[str, dict[int, int]]:
    c = counters(filters)
    return {q: metrics.score_distribution(c, q) for q in ("csat", "ces", "nps")}


def csat_by_first_response(filters: MetricFilters) -> list[dict]:
    """CSAT % per first-response bucket, over conversations whose answer falls in the period."""
    qs = _in_period(facts(filters), filters, "survey_answered_at").exclude(csat__isnull=True)
    tally = {label: [0, 0] for label, _ in metrics.FIRST_RESPONSE_BUCKETS}
    for seconds, csat in qs.values_list("first_response_seconds", "csat"):
        label = metrics.first_response_bucket(seconds)
        if label is None:
            continue
        tally[label][1] += 1
        tally[label][0] += 1 if metrics.csat_satisfied(csat) else 0
    return [{"label": label, "figure": metrics.share(s, n)} for label, (s, n) in tally.items()]


def ces_by_channel_switches(filters: MetricFilters) -> list[dict]:
    """CES average by the number of channel switches (0, 1, 2+) of the answered conversation."""
    qs = _in_period(facts(filters), filters, "survey_answered_at").exclude(ces__isnull=True)
    tally = {"0": [0, 0], "1": [0, 0], "2+": [0, 0]}
    for switches, ces in qs.values_list("channel_switches", "ces"):
        label = "2+" if switches >= 2 else str(switches)
        tally[label][0] += ces
        tally[label][1] += 1
    return [{"label": label, "figure": metrics.average(t, n)} for label, (t, n) in tally.items()]


def csat_by_sla(filters: MetricFilters) -> list[dict]:
    """CSAT % of answered conversations whose SLA clocks were all met against those with a breach
    (conversations no SLA clock ended in are left out), by the answer's period."""
    qs = _in_period(facts(filters), filters, "survey_answered_at").exclude(csat__isnull=True)
    tally = {"met": [0, 0], "breached": [0, 0]}
    for breached, csat in qs.exclude(sla_breached__isnull=True).values_list("sla_breached", "csat"):
        cell = tally["breached" if breached else "met"]
        cell[1] += 1
        cell[0] += 1 if metrics.csat_satisfied(csat) else 0
    return [{"label": label, "figure": metrics.share(s, n)} for label, (s, n) in tally.items()]


EXPORT_COLUMNS = [
    "conversation_id",
    "inbox_id",
    "inbox",
    "channel",
    "agent_id",
    "team_id",
    "opened_at",
    "first_reply_at",
    "first_resolved_at",
    "first_response_seconds",
    "resolution_seconds",
    "first_response_business_seconds",
    "resolution_business_seconds",
    "queue_seconds",
    "sla_breached",
    "customer_messages",
    "agent_messages",
    "transfers",
    "channels_used",
    "channel_switches",
    "reopened",
    "recontacted_7d",
    "fcr",
    "csat",
    "ces",
    "nps",
    # predicted satisfaction (docs/metrics.md): answered | predicted | neither, and the model's figures
    "satisfaction_source",
    "predicted_satisfied_probability",
    "predicted_csat",
    "likely_unhappy",
    "prediction_model_version",
]
# Where each export column comes from, when it is not a facts column of the same name.
EXPORT_SOURCES = {
    "inbox": "inbox__name",
    "satisfaction_source": "conversation__satisfaction__feature_version",  # replaced below
    "predicted_satisfied_probability": "conversation__satisfaction__satisfied_probability",
    "predicted_csat": "conversation__satisfaction__expected_csat",
    "likely_unhappy": "conversation__satisfaction__likely_unhappy",
    "prediction_model_version": "conversation__satisfaction__model_version",
}


def export_rows(filters: MetricFilters) -> Iterable[list]:
    """One row per conversation opened in the period (the CSV export), streamed from the database."""
    qs = _in_period(facts(filters), filters, "opened_at").order_by("opened_at", "conversation_id")

    def cell(value):
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, list):
            return " ".join(str(v) for v in value)
        if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
            return "'" + value  # never a formula in a spreadsheet
        return value

    fields = [EXPORT_SOURCES.get(c, c) for c in EXPORT_COLUMNS]
    source = EXPORT_COLUMNS.index("satisfaction_source")
    csat = EXPORT_COLUMNS.index("csat")
    probability = EXPORT_COLUMNS.index("predicted_satisfied_probability")
    unhappy = EXPORT_COLUMNS.index("likely_unhappy")
    for row in qs.values_list(*fields).iterator(chunk_size=1000):
        row = list(row)
        predicted = row[probability] is not None
        row[source] = "answered" if row[csat] is not None else "predicted" if predicted else "neither"
        if not predicted:
            row[unhappy] = None
        yield [cell(v) for v in row]
