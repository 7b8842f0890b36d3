"""Reads of the metrics: filters parsed and scoped, rollups and facts turned into figures.

Every figure goes through feedback/metrics.py. Rollups give the counters; facts give the exact
percentiles of the durations and the joins (CSAT by first-response bucket, CES by channel
switches). Scoping follows chat.selectors: an agent sees their own inboxes and their own
figures (another agent's → 404); supervisors see everything.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from chat.models import Channel, Contact, Inbox, Team
from chat.selectors import inbox_ids_visible_to, is_number, user_is_supervisor
from cxhub.errors import InvalidInput, NotFound

from . import metrics
from .models import ConversationFacts, MetricRollup
from .pipeline import workspace_tz

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
    """from/to/inbox/agent/team/channel (METRICS.md "Filters"); unknown → 400, foreign → 404.

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
            code="period_too_long",
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


def narrow(
    qs: QuerySet, filters: MetricFilters, *, inbox="inbox_id", agent="agent_id", team="team_id", channel="channel"
):
    """The filters' inbox, agent, team and channel on any queryset, given where each lives on it."""
    for values, lookup in (
        (filters.inbox_ids, inbox),
        (filters.agent_ids, agent),
        (filters.team_ids, team),
        (filters.channels, channel),
    ):
        if values is not None:
            qs = qs.filter(**{f"{lookup}__in": values})
    return qs


def rollups(filters: MetricFilters) -> QuerySet[MetricRollup]:
    qs = MetricRollup.objects.filter(day__gte=filters.day_from, day__lte=filters.day_to)
    return narrow(qs, filters, agent="agent_key", team="team_key")


def facts(filters: MetricFilters) -> QuerySet[ConversationFacts]:
    """Facts in the filters' dimensions (any period: callers pick the timestamp that counts)."""
    return narrow(ConversationFacts.objects.all(), filters)


def _in_period(qs: QuerySet, filters: MetricFilters, field_name: str) -> QuerySet:
    start, end = filters.bounds()
    return qs.filter(**{f"{field_name}__gte": start, f"{field_name}__lt": end})


def counters(filters: MetricFilters) -> dict[str, tuple[int, int]]:
    rows = rollups(filters).values("metric").annotate(c=Sum("count"), t=Sum("total"))
    return {r["metric"]: (r["c"] or 0, r["t"] or 0) for r in rows}


DURATION_SOURCES = {
    "first_response_seconds": ("first_reply_at", "first_response_seconds"),
    "resolution_seconds": ("first_resolved_at", "resolution_seconds"),
}


def durations(filters: MetricFilters, names: Iterable[str] = metrics.DURATION_METRICS) -> dict[str, list[float]]:
    out = {}
    for name in names:
        at, value = DURATION_SOURCES[name]
        qs = _in_period(facts(filters), filters, at).exclude(**{f"{value}__isnull": True})
        out[name] = list(qs.values_list(value, flat=True))
    return out


def at_risk_count(filters: MetricFilters) -> int:
    contact_ids = facts(filters).values("conversation__contact_id")
    return Contact.objects.filter(pk__in=contact_ids, at_risk_until__gt=timezone.now()).count()


def figures(filters: MetricFilters, names: Iterable[str] = metrics.METRIC_NAMES) -> dict[str, dict]:
    names = list(names)
    wanted = [n for n in names if n in metrics.DURATION_METRICS]
    return metrics.figures_from_counters(
        counters(filters),
        durations=durations(filters, wanted),
        at_risk=at_risk_count(filters) if "at_risk_contacts" in names else 0,
        names=names,
    )


def summary(filters: MetricFilters) -> dict:
    previous = filters.previous()
    return {
        "from": filters.day_from.isoformat(),
        "to": filters.day_to.isoformat(),
        "filters": filters.echo,
        "metrics": figures(filters),
        "previous": {
            "from": previous.day_from.isoformat(),
            "to": previous.day_to.isoformat(),
            "metrics": figures(previous),
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
        at, value = DURATION_SOURCES[metric]
        tz = workspace_tz()
        qs = _in_period(facts(filters), filters, at).exclude(**{f"{value}__isnull": True})
        for moment, seconds in qs.values_list(at, value):
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
            durations={metric: per_bucket_durations[n]},
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
        at, value = DURATION_SOURCES[metric]
        qs = _in_period(facts(filters), filters, at).exclude(**{f"{value}__isnull": True})
        for key, seconds in qs.values_list(FACTS_COLUMN[by], value):
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
            durations={metric: group_durations.get(key, [])},
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
]


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

    fields = [c if c != "inbox" else "inbox__name" for c in EXPORT_COLUMNS]
    for row in qs.values_list(*fields).iterator(chunk_size=1000):
        yield [cell(v) for v in row]
