"""Predicted satisfaction in the database: scoring in the pipeline, training runs, rescoring, reads.

- **Scoring rides the metrics pipeline** (docs/adr/0003-metrics-pipeline.md): the batch that
  refreshes a conversation's facts calls `refresh(...)`, which locks the conversations'
  `SatisfactionScore` rows (after the facts rows), computes their features
  (feedback/satisfaction.py), scores them with the active model, stores them, and returns what
  changes in the satisfaction cells (new − old), which the batch applies after its rollup cells.
  A conversation whose only news is a survey answer keeps its features and prediction; its cells
  move from *predicted* to *answered*.
- **Training** (`model_train`): the answered conversations' stored features (never their text;
  erased people's conversations left out) → feedback/satisfaction_training.py → a
  `SatisfactionModel` row, promoted only if it beats the baseline on its hold-out; then every
  conversation is scored again with the model now in force (`rescore`).
- **Exactness**: `SatisfactionRollup` has its own recompute (`recompute`), which rebuilds the
  cells of some days from raw rows, as `pipeline.recompute` does for `MetricRollup`;
  `manage.py recompute_metrics` and the nightly reconciliation run both.
- Lock order (extends ADR 0003): the rollup tables (ROW EXCLUSIVE; `recompute` EXCLUSIVE), facts
  rows, score rows, rollup cells, satisfaction cells.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, Sum, TextField
from django.db.models.functions import Cast, Substr
from django.utils import timezone
from django.utils.translation import gettext

from chat.models import AuditLog, Conversation, ConversationEvent, Inbox, Message
from cxhub.db import update_rows

from . import metrics, pipeline, satisfaction
from .models import ConversationFacts, FollowUp, SatisfactionModel, SatisfactionRollup, SatisfactionScore, SurveyPolicy

logger = logging.getLogger(__name__)

RESCORE_BATCH = 1000
SCORE_FIELDS = [
    "contact_id",
    "inbox_id",
    "agent_id",
    "team_id",
    "channel",
    "is_open",
    "first_resolved_at",
    "feature_version",
    "features",
    "text_sentiment",
    "csat",
    "answered_at",
    "model_version",
    "satisfied_probability",
    "expected_csat",
    "likely_unhappy",
    "reasons",
    "contributions",
    "scored_at",
]
# What an answer changes on a score row (the rest is as stored).
ANSWER_FIELDS = ["csat", "answered_at", "model_version", "satisfied_probability", "expected_csat", "likely_unhappy",
                 "reasons", "contributions", "scored_at"]  # fmt: skip
# What refreshing and rescoring read of a score row: its features and what its cells are keyed by.
RESCORE_READS = [
    "conversation_id", "contact_id", "inbox_id", "agent_id", "team_id", "channel", "is_open", "first_resolved_at",
    "feature_version", "features", "csat", "model_version", "satisfied_probability", "contributions",
]  # fmt: skip
PREDICTION_FIELDS = ["model_version", "satisfied_probability", "expected_csat", "likely_unhappy", "reasons",
                     "contributions", "scored_at"]  # fmt: skip


def min_answers() -> int:
    return getattr(settings, "SATISFACTION_MIN_ANSWERS", satisfaction.MIN_ANSWERS)


# --- the model in force ------------------------------------------------------------------------

_models: dict[tuple, satisfaction.Model] = {}


def active_model() -> satisfaction.Model | None:
    """The promoted model the pipeline scores with now (its parameters parsed once per process)."""
    active = SatisfactionModel.objects.filter(is_active=True).values_list("pk", "trained_at").first()
    if active is None:
        return None
    model = _models.get(active)
    if model is None:
        row = SatisfactionModel.objects.only("parameters", "evaluation").get(pk=active[0])
        if len(_models) > 8:
            _models.clear()
        model = _models[active] = satisfaction.Model.from_parameters(active[0], row.parameters, row.evaluation)
    return model


# --- signals from raw rows --------------------------------------------------------------------


@dataclass
class Extra:
    """What scoring reads beyond the pipeline's inputs: state, the opening, the customer's words."""

    priority: str = "normal"
    status: str = "open"
    language: str = ""  # the customer's known language (Contact.locale), empty when not known
    opened: dict = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)


def load_extra(conversation_ids: list[int]) -> dict[int, Extra]:
    """Three queries for a batch: conversations (with the contact's language when known), their
    `opened` events, the customer's messages (the first TEXT_CHARS characters of each; an erased
    person's are empty)."""
    extra = {
        r["pk"]: Extra(priority=r["priority"], status=r["status"], language=r["contact__locale"] or "")
        for r in Conversation.objects.filter(pk__in=conversation_ids).values(
            "pk", "priority", "status", "contact__locale"
        )
    }
    for e in ConversationEvent.objects.filter(conversation_id__in=conversation_ids, kind="opened").values(
        "conversation_id", "data"
    ):
        extra[e["conversation_id"]].opened = e["data"] or {}
    texts = (
        Message.objects.filter(conversation_id__in=conversation_ids, sender_kind="contact", is_note=False)
        .order_by("conversation_id", "seq")
        .values_list("conversation_id", Substr("body", 1, satisfaction.TEXT_CHARS))
    )
    for conversation_id, text in texts:
        extra[conversation_id].texts.append(text)
    return extra


def signals_of(item: pipeline.Inputs, facts: metrics.Facts, extra: Extra) -> satisfaction.Signals:
    customer = tuple(m.created_at for m in item.messages if m.sender_kind == "contact")
    return satisfaction.Signals(
        opened_at=item.conversation.opened_at,
        first_resolved_at=facts.first_resolved_at,
        customer_message_times=customer,
        first_reply_at=facts.first_reply_at,
        agent_messages=facts.agent_messages,
        transfers=facts.transfers,
        channel_switches=facts.channel_switches,
        reopens=item.conversation.reopen_count,
        is_recontact=bool(extra.opened.get("recontact")),
        recontacted_later=satisfaction.recontacted_after(
            facts.first_resolved_at, [at for at in item.later_openings if at > item.conversation.opened_at]
        ),
        opened_at_risk=bool(extra.opened.get("at_risk")),
        priority=extra.priority,
        customer_texts=tuple(extra.texts[-satisfaction.TEXT_MESSAGES :]),
        language=extra.language or None,
    )


def _fill(row: SatisfactionScore, item: pipeline.Inputs, facts: metrics.Facts, info: Extra, *, now) -> None:
    """A score row's dimensions, state, answer and features from the conversation's raw rows."""
    row.contact_id = item.contact_id
    row.inbox_id, row.agent_id, row.team_id, row.channel = facts.inbox_id, facts.agent_id, facts.team_id, facts.channel
    row.is_open = info.status != Conversation.Status.RESOLVED
    row.first_resolved_at = facts.first_resolved_at
    row.features, row.text_sentiment = satisfaction.features(signals_of(item, facts, info), now=now)
    row.feature_version = satisfaction.FEATURE_VERSION
    row.csat, row.answered_at = facts.csat, facts.survey_answered_at


def _predict(model: satisfaction.Model | None, row: SatisfactionScore) -> None:
    """Score a row from its stored features with `model` (or clear the prediction without one)."""
    if model is None or row.feature_version != model.feature_version or not row.features:
        row.model_version = row.satisfied_probability = row.expected_csat = None
        row.likely_unhappy, row.reasons = False, []
        return
    prediction = model.predict(
        row.features, {"channel": row.channel, "inbox": row.inbox_id, "team": row.team_id}
    )  # fmt: skip
    row.model_version = model.version
    row.satisfied_probability = prediction.satisfied_probability
    row.expected_csat = prediction.expected_csat
    row.likely_unhappy = prediction.likely_unhappy and row.is_open
    row.reasons = prediction.reasons


def _scored(row: SatisfactionScore) -> satisfaction.ScoredConversation:
    return satisfaction.ScoredConversation(
        inbox_id=row.inbox_id,
        agent_id=row.agent_id,
        team_id=row.team_id,
        channel=row.channel,
        first_resolved_at=row.first_resolved_at,
        csat=row.csat,
        satisfied_probability=row.satisfied_probability,
        expected_csat=row.expected_csat,
    )


def _account(delta: dict, old: Mapping, new: Mapping) -> None:
    for key, (c, t) in metrics.contribution_delta(old or {}, new).items():
        delta[key][0] += c
        delta[key][1] += t


def _locked_scores(conversation_ids: list[int], facts: Mapping[int, object]) -> dict[int, SatisfactionScore]:
    """Score rows of these conversations (created when missing), locked, in id order."""
    existing = set(
        SatisfactionScore.objects.filter(conversation_id__in=conversation_ids).values_list("conversation_id", flat=True)
    )
    missing = [pk for pk in conversation_ids if pk not in existing]
    if missing:
        contacts = dict(Conversation.objects.filter(pk__in=missing).values_list("pk", "contact_id"))
        SatisfactionScore.objects.bulk_create(
            [
                SatisfactionScore(
                    conversation_id=pk,
                    contact_id=contacts[pk],
                    inbox_id=facts[pk].inbox_id,
                    channel=facts[pk].channel,
                )
                for pk in missing
                if pk in contacts
            ],
            ignore_conflicts=True,
        )
    locked = SatisfactionScore.objects.filter(conversation_id__in=conversation_ids).order_by("conversation_id")
    return {row.conversation_id: row for row in locked.only(*RESCORE_READS).select_for_update()}


def refresh(
    computed: Mapping[int, tuple[pipeline.Inputs, metrics.Facts]],
    answered: Mapping[int, ConversationFacts],
    *,
    now: datetime,
) -> dict[str, tuple[int, int]]:
    """Inside the pipeline's batch transaction, after its facts: score, store; the cells' new − old.

    `computed`: conversations recomputed from their raw rows (inputs and facts); `answered`:
    conversations whose only news is survey answers (their facts rows, survey fields updated).
    """
    ids = sorted({*computed, *answered})
    if not ids:
        return {}
    facts_of = {pk: facts for pk, (_, facts) in computed.items()} | dict(answered)
    rows = _locked_scores(ids, facts_of)
    model = active_model()  # read after the lock: a rescoring that passed these rows used it
    extra = load_extra(sorted(computed))
    delta: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    unhappy: list[SatisfactionScore] = []
    for conversation_id in ids:
        row = rows.get(conversation_id)
        if row is None:
            continue
        if conversation_id in computed:
            item, facts = computed[conversation_id]
            _fill(row, item, facts, extra.get(conversation_id, Extra()), now=now)
        else:
            stored = answered[conversation_id]
            row.csat, row.answered_at = stored.csat, stored.survey_answered_at
        _predict(model, row)
        new = satisfaction.contributions(_scored(row), tz=pipeline.workspace_tz())
        _account(delta, row.contributions, new)
        row.contributions = {key: [c, t] for key, (c, t) in sorted(new.items())}
        row.scored_at = now
        if row.likely_unhappy:
            unhappy.append(row)
    update_rows([rows[pk] for pk in ids if pk in rows and pk in computed], SCORE_FIELDS)
    update_rows([rows[pk] for pk in ids if pk in rows and pk not in computed], ANSWER_FIELDS)
    _open_follow_ups(unhappy)
    return {key: (c, t) for key, (c, t) in delta.items() if c or t}


def _open_follow_ups(rows: list[SatisfactionScore]) -> None:
    """A likely-unhappy open conversation opens one follow-up where its inbox's policy asks for it."""
    if not rows:
        return
    from . import followups

    wanted = set(
        SurveyPolicy.objects.filter(inbox_id__in={r.inbox_id for r in rows}, follow_up_likely_unhappy=True)
        .values_list("inbox_id", flat=True)
    )  # fmt: skip
    rows = [r for r in rows if r.inbox_id in wanted]
    if not rows:
        return
    inboxes = Inbox.objects.select_related("default_team").in_bulk({r.inbox_id for r in rows})
    owners = {pk: followups.followup_owner_for(inbox=inbox) for pk, inbox in inboxes.items()}
    FollowUp.objects.bulk_create(
        [
            FollowUp(
                reason=FollowUp.Reason.LIKELY_UNHAPPY,
                contact_id=r.contact_id,
                conversation_id=r.conversation_id,
                owner=owners.get(r.inbox_id),
                created_at=r.scored_at,
            )
            for r in rows
        ],
        ignore_conflicts=True,
    )


# --- the satisfaction cells ------------------------------------------------------------------


def lock_shared() -> None:
    """Taken with the metrics rollups' lock by every pipeline writer (pipeline._lock_rollups_shared)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {SatisfactionRollup._meta.db_table} IN ROW EXCLUSIVE MODE")


def _lock_exclusive() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {SatisfactionRollup._meta.db_table} IN EXCLUSIVE MODE")


def apply_delta(delta: Mapping[str, tuple[int, int]]) -> None:
    """Add counts and totals to satisfaction cells, in key order (one upsert per cell)."""
    if not delta:
        return
    rows = []
    for key in sorted(delta):
        day, inbox, agent, team, channel, metric = metrics.parse_cell_key(key)
        rows.append((date.fromisoformat(day), inbox, agent, team, channel, metric, *delta[key]))
    table = SatisfactionRollup._meta.db_table
    sql = (
        f"INSERT INTO {table} (day, inbox_id, agent_key, team_key, channel, metric, count, total) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (day, inbox_id, agent_key, team_key, channel, metric) DO UPDATE SET "
        f"count = {table}.count + excluded.count, total = {table}.total + excluded.total"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


# --- rescoring after a change of model ---------------------------------------------------------


def rescore(*, batch_size: int = RESCORE_BATCH, now: datetime | None = None) -> int:
    """Score every conversation again with the model in force (none: clear the predictions).

    Keyset batches by conversation id, one transaction each (score rows, then satisfaction cells,
    as the pipeline locks them); rows already scored by that model are left alone. Safe to run
    twice or beside the pipeline. Returns how many rows changed.
    """
    changed, after = 0, 0
    while True:
        done, last = pipeline._retrying(_rescore_batch, after=after, batch_size=batch_size, now=now)
        changed += done
        if last is None:
            return changed
        after = last


def _rescore_batch(*, after: int, batch_size: int, now: datetime | None) -> tuple[int, int | None]:
    with transaction.atomic():
        lock_shared()
        rows = list(
            SatisfactionScore.objects.filter(conversation_id__gt=after)
            .order_by("conversation_id")
            .only(*RESCORE_READS)
            .select_for_update()[:batch_size]
        )
        if not rows:
            return 0, None
        model = active_model()
        version = model.version if model else None
        stale = [
            r for r in rows if r.model_version != version or (version is not None and r.satisfied_probability is None)
        ]
        delta: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        tz = pipeline.workspace_tz()
        for row in stale:
            _predict(model, row)
            new = satisfaction.contributions(_scored(row), tz=tz)
            _account(delta, row.contributions, new)
            row.contributions = {key: [c, t] for key, (c, t) in sorted(new.items())}
            row.scored_at = now or timezone.now()
        update_rows(stale, PREDICTION_FIELDS)
        cells = {key: (c, t) for key, (c, t) in delta.items() if c or t}
        apply_delta(cells)
        pipeline.announce(cells)
        return len(stale), rows[-1].conversation_id


# --- training ----------------------------------------------------------------------------------


def erased_contact_ids() -> set[int]:
    """Contacts whose personal data was erased (chat.privacy.contact_erase, from its audit log)."""
    ids: set[int] = set()
    for target, data in AuditLog.objects.filter(action="contact_erase").values_list("target_id", "data"):
        ids.update(int(pk) for pk in (data or {}).get("contact_ids", []) if str(pk).isdigit())
        if str(target).isdigit():
            ids.add(int(target))
    return ids


SENTIMENT_FEATURES = ("sentiment_mean", "sentiment_min", "sentiment_last", "text_sentiment")


def forget_conversation_words(conversation_ids: Iterable[int]) -> dict:
    """chat's retention purge emptied these conversations' words: `forget_words` for them."""
    return {"satisfaction_sentiments": forget_words(conversation_ids=conversation_ids)}


def forget_words(contact_ids: Iterable[int] = (), *, conversation_ids: Iterable[int] = ()) -> int:
    """Drop what was derived from these people's words (their erasure, feedback/privacy.py), or from
    these conversations' (their content deleted by retention, chat/retention.py).

    The sentiment features become what the emptied messages give (0, not scored), the prediction
    is made again without them and the cells follow, so nothing derived from erased text is
    kept and the cells still equal a recomputation. Inside the caller's transaction; the
    satisfaction table's lock is taken before the score rows, as the pipeline takes it.
    """
    lock_shared()
    rows = list(
        SatisfactionScore.objects.filter(
            Q(contact_id__in=list(contact_ids)) | Q(conversation_id__in=list(conversation_ids)), text_sentiment=True
        )
        .order_by("conversation_id")
        .select_for_update()
    )
    if not rows:
        return 0
    model = active_model()
    delta: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    tz = pipeline.workspace_tz()
    for row in rows:
        features = list(row.features)
        for name in SENTIMENT_FEATURES:
            if len(features) == len(satisfaction.FEATURES):
                features[satisfaction.FEATURE_INDEX[name]] = 0.0
        row.features, row.text_sentiment = features, False
        _predict(model, row)
        new = satisfaction.contributions(_scored(row), tz=tz)
        _account(delta, row.contributions, new)
        row.contributions = {key: [c, t] for key, (c, t) in sorted(new.items())}
        row.scored_at = timezone.now()
    update_rows(rows, ["features", "text_sentiment", *PREDICTION_FIELDS])
    cells = {key: (c, t) for key, (c, t) in delta.items() if c or t}
    apply_delta(cells)
    pipeline.announce(cells)
    return len(rows)


def forget_erased() -> int:
    """Before training: `forget_words` for everyone ever erased (erasures made before this release)."""
    erased = erased_contact_ids()
    if not erased:
        return 0
    with transaction.atomic():
        return forget_words(erased)


def training_set():
    """The answered, resolved conversations' features, oldest answer first; erased people's left out.

    The features come as JSON text and are parsed in one `json.loads` per chunk, not one per row
    (a million rows: most of the training's reading time otherwise).
    """
    import json

    import numpy as np

    from .satisfaction_training import TrainingSet

    rows = (
        SatisfactionScore.objects.filter(
            csat__isnull=False, first_resolved_at__isnull=False, feature_version=satisfaction.FEATURE_VERSION
        )
        .exclude(contact_id__in=erased_contact_ids())
        .order_by("answered_at", "conversation_id")
        .annotate(features_text=Cast("features", TextField()))
        .values_list("features_text", "channel", "inbox_id", "team_id", "csat")
    )
    width = len(satisfaction.FEATURES)
    chunks, channels, inboxes, teams, scores = [], [], [], [], []
    texts: list[str] = []

    def parse() -> None:
        if texts:
            chunks.append(np.asarray(json.loads("[" + ",".join(texts) + "]"), dtype=np.float64).reshape(-1, width))
            texts.clear()

    for text, channel, inbox, team, csat in rows.iterator(chunk_size=20000):
        if text.count(",") != width - 1:
            continue  # not this feature set's vector
        texts.append(text)
        channels.append(satisfaction.category_value("channel", channel))
        inboxes.append(satisfaction.category_value("inbox", inbox))
        teams.append(satisfaction.category_value("team", team))
        scores.append(csat)
        if len(texts) >= 50000:
            parse()
    parse()
    return TrainingSet(
        np.vstack(chunks) if chunks else np.zeros((0, width)),
        {"channel": np.asarray(channels), "inbox": np.asarray(inboxes), "team": np.asarray(teams)},
        np.asarray(scores, dtype=np.int64),
    )


def _check_active_on(model: satisfaction.Model, rows, evaluation: Mapping) -> dict:
    """The model in force, evaluated on a newer run's hold-out (to keep it only while it still beats the baseline)."""
    holdout = evaluation["answers"]["holdout"]
    part = rows.rows(slice(len(rows) - holdout, len(rows)))
    predictions = [
        model.predict(part.features[i].tolist(), {name: part.categories[name][i] for name in satisfaction.CATEGORIES})
        for i in range(len(part))
    ]
    baseline = evaluation["baseline"]
    return satisfaction.evaluate(
        probabilities=[p.satisfied_probability for p in predictions],
        expected=[p.expected_csat for p in predictions],
        scores=[int(s) for s in part.scores],
        baseline_probability=baseline["satisfied_probability"],
        baseline_score=baseline["expected_csat"],
    )


def model_train(*, trigger: str = "nightly", by=None, minimum: int | None = None) -> SatisfactionModel:
    """Train, evaluate and (when it beats the baseline) promote; then rescore every conversation.

    A run that declines (too few answers) withdraws the model in force: no prediction is better
    than one nobody can check. A rejected run keeps the model in force only while that model
    still beats the baseline on the new run's hold-out.
    """
    from . import satisfaction_training

    started = time.perf_counter()
    forget_erased()
    rows = training_set()
    outcome = satisfaction_training.train(rows, min_answers=minimum or min_answers())
    current = active_model()
    keep_current = False
    if outcome.status == "rejected" and current is not None:
        check = _check_active_on(current, rows, outcome.evaluation)
        outcome.evaluation["model_in_force"] = {"version": current.version, **check}
        keep_current = check["beats_baseline"]
    with transaction.atomic():
        if connection.vendor == "postgresql":  # one promotion at a time (two runs at once: the later wins)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext('cxhub.satisfaction.promote'))")
        run = SatisfactionModel.objects.create(
            status=outcome.status,
            reason=outcome.reason,
            feature_version=satisfaction.FEATURE_VERSION,
            answers=outcome.answers,
            parameters=outcome.parameters,
            evaluation=outcome.evaluation,
            training_seconds=time.perf_counter() - started,
            trigger=trigger,
            requested_by=by,
        )
        if outcome.status == "promoted" or not keep_current:
            SatisfactionModel.objects.filter(is_active=True).update(is_active=False)
        if outcome.status == "promoted":
            SatisfactionModel.objects.filter(pk=run.pk).update(is_active=True)
            run.is_active = True
    logger.info(
        "satisfaction model v%s: %s on %d answers (%s)", run.pk, run.status, run.answers, run.reason or "promoted"
    )
    after = active_model()
    if outcome.status == "promoted" or (after.version if after else None) != (current.version if current else None):
        rescore()
    return run


# --- exact recomputation ---------------------------------------------------------------------


def recompute(*, day_from: date, day_to: date, now: datetime | None = None, write: bool = True) -> pipeline.Report:
    """Rebuild the satisfaction cells of [day_from, day_to] from raw rows and the model in force.

    Every conversation first resolved in those days (and every score row that says so) is
    recomputed: facts and features from its rows, its prediction by the active model. Returns
    the cells where the stored rollups differed; with write=False nothing changes.
    """
    now = now or timezone.now()
    tz = pipeline.workspace_tz()
    report = pipeline.Report(day_from, day_to)
    start, end = pipeline._day_bounds(day_from, day_to, tz)
    with transaction.atomic():
        if write:
            _lock_exclusive()
        ids = set(
            Conversation.objects.filter(first_resolved_at__gte=start, first_resolved_at__lt=end).values_list(
                "pk", flat=True
            )
        )
        ids |= set(
            SatisfactionScore.objects.filter(first_resolved_at__gte=start, first_resolved_at__lt=end).values_list(
                "conversation_id", flat=True
            )
        )
        ids = sorted(ids)
        report.conversations = len(ids)
        inputs = pipeline.load_inputs(ids)
        computed = {pk: (item, pipeline.compute(item, now=now, tz=tz)[0]) for pk, item in inputs.items()}
        if write:
            rows = _locked_scores(ids, {pk: f for pk, (_, f) in computed.items()})
        else:
            rows = {r.conversation_id: r for r in SatisfactionScore.objects.filter(conversation_id__in=ids)}
        model = active_model()
        extra = load_extra(ids)
        expected: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        outside: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        changed = []
        lo, hi = day_from.isoformat(), day_to.isoformat()
        for pk in ids:
            if pk not in computed:
                continue
            item, facts = computed[pk]
            row = rows.get(pk) or SatisfactionScore(conversation_id=pk, contact_id=item.contact_id)
            old = dict(row.contributions or {})
            _fill(row, item, facts, extra.get(pk, Extra()), now=now)
            _predict(model, row)
            new = satisfaction.contributions(_scored(row), tz=tz)
            for key, (c, t) in new.items():
                target = expected if lo <= key[:10] <= hi else outside
                target[key][0] += c
                target[key][1] += t
            for key, (c, t) in old.items():
                if not lo <= key[:10] <= hi:
                    outside[key][0] -= c
                    outside[key][1] -= t
            row.contributions = {key: [c, t] for key, (c, t) in sorted(new.items())}
            row.scored_at = now
            changed.append(row)
        expected_cells = {k: (c, t) for k, (c, t) in expected.items() if c or t}
        stored = stored_cells(day_from, day_to)
        for key in sorted(set(stored) | set(expected_cells)):
            if stored.get(key, (0, 0)) != expected_cells.get(key, (0, 0)):
                report.differences.append((key, stored.get(key, (0, 0)), expected_cells.get(key, (0, 0))))
        if write:
            apply_delta({k: (c, t) for k, (c, t) in outside.items() if c or t})
            SatisfactionRollup.objects.filter(day__gte=day_from, day__lte=day_to).delete()
            apply_delta(expected_cells)
            update_rows([r for r in changed if r.pk], SCORE_FIELDS)
            pipeline.announce([key for key, _, _ in report.differences])
    return report


def stored_cells(day_from: date, day_to: date) -> dict[str, tuple[int, int]]:
    rows = SatisfactionRollup.objects.filter(day__gte=day_from, day__lte=day_to).exclude(count=0, total=0)
    return {
        metrics.cell_key((r.day.isoformat(), r.inbox_id, r.agent_key, r.team_key, r.channel, r.metric)): (
            r.count,
            r.total,
        )
        for r in rows
    }


def reconcile(*, days: int = 3, now: datetime | None = None) -> pipeline.Report:
    """Nightly, after the metrics' reconciliation: the satisfaction cells of the last days."""
    now = now or timezone.now()
    today = metrics.local_day(now, pipeline.workspace_tz())
    from datetime import timedelta

    report = recompute(day_from=today - timedelta(days=days), day_to=today, now=now)
    for key, stored, expected in report.differences:
        logger.warning("satisfaction reconciliation: cell %s was %s, recomputed %s", key, stored, expected)
    return report


# --- reads ---------------------------------------------------------------------------------


def counters(filters, group_by: str | None = None) -> dict:
    """Summed satisfaction counters in the filters (by first-resolution day); by a dimension if asked."""
    from . import reports

    qs = SatisfactionRollup.objects.filter(day__gte=filters.day_from, day__lte=filters.day_to)
    qs = reports.narrow(qs, filters, agent="agent_key", team="team_key")
    columns = ["metric"] if group_by is None else [group_by, "metric"]
    out: dict = defaultdict(dict)
    for r in qs.values(*columns).annotate(c=Sum("count"), t=Sum("total")):
        key = None if group_by is None else r[group_by]
        out[key][r["metric"]] = (int(r["c"] or 0), int(r["t"] or 0))
    return out.get(None, {}) if group_by is None else dict(out)


def model_document(run: SatisfactionModel | None) -> dict | None:
    if run is None:
        return None
    evaluation = run.evaluation or {}
    return {
        "version": run.pk,
        "status": run.status,
        "active": run.is_active,
        "reason": run.reason,
        "answers": run.answers,
        "trained_at": run.trained_at.isoformat(),
        "training_seconds": run.training_seconds,
        "trigger": run.trigger,
        "feature_version": run.feature_version,
        "evaluation": evaluation,
    }


def answered_conversations() -> int:
    return SatisfactionScore.objects.filter(csat__isnull=False, first_resolved_at__isnull=False).count()


def model_status() -> dict:
    """The model in force (with its evaluation), the latest run, and what the API and dashboard say."""
    active = SatisfactionModel.objects.filter(is_active=True).first()
    latest = SatisfactionModel.objects.order_by("-pk").first()
    # Counted only when it explains something: it reads every answered conversation's row.
    answers = active.answers if active else answered_conversations()
    if active is not None:
        explanation = ""
    elif latest is None:
        explanation = (
            f"No model has been trained yet ({answers} answered conversations; it needs at least "
            f"{min_answers()}). Training runs every night, or now with `manage.py "
            "train_satisfaction_model`."
        )
    else:
        explanation = latest.reason or "The last training did not produce a model that can be used."
    return {
        "available": active is not None,
        "explanation": explanation,
        "min_answers": min_answers(),
        "answered_conversations": answers,
        "likely_unhappy_below": satisfaction.LIKELY_UNHAPPY_BELOW,
        "model": model_document(active),
        "latest_run": model_document(latest),
    }


def model_error(status: Mapping) -> satisfaction.ModelError | None:
    """The hold-out error of the model in force (None without one: then there is no estimate)."""
    return satisfaction.ModelError.of(status["model"]["evaluation"]) if status["available"] else None


def figures_for(filters, status: Mapping | None = None) -> dict:
    """The satisfaction figures of docs/metrics.md in the filters, with the model behind them."""
    status = status or model_status()
    return satisfaction.figures(counters(filters), error=model_error(status)) | {"model": status}


def breakdown(filters, *, by: str, status: Mapping | None = None) -> list[dict]:
    """Estimated CSAT % beside the answered CSAT % (same resolved conversations) per agent, team, channel or inbox."""
    from . import reports

    column = reports.ROLLUP_COLUMN[by]
    error = model_error(status or model_status())
    grouped = counters(filters, group_by=column)
    labels = reports._labels(by, grouped)
    rows = []
    for key, cells in grouped.items():
        figures = satisfaction.figures(cells, error=error)
        rows.append(
            {
                "key": key if key != 0 else None,
                "label": labels.get(key, "—" if key in (0, None) else str(key)),
                "figure": figures["estimated_csat_percent"],
                "answered": figures["respondents_csat_percent"],
                "coverage": figures["satisfaction_coverage"],
            }
        )
    rows.sort(key=lambda r: (-(r["coverage"]["denominator"] or 0), str(r["label"])))
    return rows


def prediction_document(row: SatisfactionScore | None) -> dict:
    if row is None or row.satisfied_probability is None:
        status = model_status()
        return {
            "available": False,
            "explanation": status["explanation"] or "This conversation has not been scored yet.",
            "answered_csat": row.csat if row else None,
        }
    return {
        "available": True,
        "conversation_id": row.conversation_id,
        "satisfied_probability": row.satisfied_probability,
        "expected_csat": row.expected_csat,
        "likely_unhappy": row.likely_unhappy,
        "is_open": row.is_open,
        # the labels in the reader's language (stored in English, marked in feedback/satisfaction.py)
        "reasons": [
            reason | {"label": gettext(satisfaction.LABELS.get(reason.get("feature"), reason.get("label", "")))}
            for reason in row.reasons or []
        ],  # fmt: skip
        "answered_csat": row.csat,
        "text_sentiment": row.text_sentiment,
        "model_version": row.model_version,
        "scored_at": row.scored_at.isoformat(),
    }


def predictions_of(conversation_ids: Iterable[int]) -> dict[int, SatisfactionScore]:
    return {r.conversation_id: r for r in SatisfactionScore.objects.filter(conversation_id__in=list(conversation_ids))}


def export_columns(conversation_ids: Iterable[int]) -> dict[int, tuple]:
    """The CSV export's satisfaction columns per conversation."""
    out = {}
    rows = SatisfactionScore.objects.filter(conversation_id__in=list(conversation_ids)).values_list(
        "conversation_id", "satisfied_probability", "expected_csat", "likely_unhappy", "model_version", "csat"
    )
    for pk, p, expected, unhappy, version, csat in rows:
        source = "answered" if csat is not None else "predicted" if p is not None else "neither"
        out[pk] = (source, p, expected, unhappy if p is not None else None, version)
    return out
