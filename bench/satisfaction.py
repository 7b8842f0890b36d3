"""satisfaction: training on 1,000,000 answered conversations, scoring in the pipeline, prediction quality.

(a) **Training.** Seeds, with set-based SQL and COPY, 1,000,000 resolved and answered
    conversations (contacts, conversations) and their `SatisfactionScore` rows, whose features and
    answers come from `feedback.satisfaction_history.generate` (a history whose true satisfaction
    follows known rules). Times what the nightly training does before it rescores: read the
    answered conversations' features from PostgreSQL, fit, calibrate, evaluate on the newest
    20 %, store the model (`training_seconds`; target under 60 s). Then the rescoring of every
    conversation with the promoted model (`rescore_per_s`).
(b) **Scoring.** 5,000 open conversations (1,000 with --quick), each with 3 customer messages in
    English and one agent reply, written with set-based SQL and their events left pending; one
    drain of the metrics pipeline (`pipeline.process_pending`) takes them in its batches of 500.
    Each conversation's four events fall in four batches, so it is scored four times, once per
    batch with news of it. Reports, per conversation scored in a batch, the pipeline's time and,
    within it, the scoring's (`predictions.refresh`: lock the score rows, read the words, VADER,
    features, the model, store; target under 1 ms) and the features' (VADER included).
(c) **Quality.** A generated history of 200,000 answered conversations (20,000 with --quick):
    AUC, Brier score and calibration error on the newest 20 %, beside the average-only baseline
    and the true probabilities (the best any model can do).

    .venv/bin/python bench/satisfaction.py [--quick]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

NAME = "satisfaction"
TARGET = {"training_seconds_max": 60, "scoring_ms_per_conversation_max": 1.0}
ENGLISH = (
    "Hi, my order has not arrived yet and I need it for Friday.",
    "This is terrible, nobody answers and I am angry.",
    "Thanks, that was quick and helpful!",
    "Could you check the invoice, please? The amount looks wrong.",
)


def _base():
    """An inbox, a team and an agent; their ids."""
    from django.contrib.auth import get_user_model

    from chat.models import AgentProfile, Inbox, InboxMembership, Team

    inbox = Inbox.objects.create(name="Web", channel="web")
    team = Team.objects.create(name="Support")
    user = get_user_model().objects.create_user(username="agent", password="bench-pass-123")
    AgentProfile.objects.create(user=user, display_name="Agent")
    InboxMembership.objects.create(user=user, inbox=inbox)
    return inbox.pk, team.pk, user.pk


def seed_answered(*, n: int) -> dict:
    """n resolved, answered conversations and their score rows (features from the generated history)."""
    import json

    from django.db import connection, transaction
    from django.utils import timezone

    from bench.metrics_summary import _insert_select, _next_id
    from chat.models import Contact, Conversation
    from feedback import satisfaction, satisfaction_history
    from feedback.models import SatisfactionScore

    started = time.perf_counter()
    inbox, team, agent = _base()
    history = satisfaction_history.generate(n, seed=2026)
    now = timezone.now()
    c0, v0 = _next_id(Contact), _next_id(Conversation)
    series = f"generate_series(1::bigint, {int(n)}::bigint) AS g"
    resolved = f"('{now.isoformat()}'::timestamptz - make_interval(secs => ({n} - g) * 2 + 3600))"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        _insert_select(Contact, {"name": "'Customer ' || g"}, series)
        _insert_select(
            Conversation,
            {
                "contact_id": f"{c0 - 1} + g",
                "inbox_id": str(inbox),
                "status": "'resolved'",
                "assignee_id": str(agent),
                "team_id": str(team),
                "opened_at": resolved,
                "resolved_at": resolved,
                "first_resolved_at": resolved,
                "last_activity_at": resolved,
                "email_thread_token": "md5(random()::text || g)",
            },
            series,
        )
        columns = ["conversation_id", "contact_id", "inbox_id", "agent_id", "team_id", "channel", "is_open",
                   "first_resolved_at", "feature_version", "features", "text_sentiment", "csat", "answered_at",
                   "likely_unhappy", "reasons", "contributions", "scored_at"]  # fmt: skip
        table = SatisfactionScore._meta.db_table
        english = satisfaction.FEATURE_INDEX["text_sentiment"]
        with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for i in range(n):
                features = history.features[i].tolist()
                copy.write_row(
                    (v0 + i, c0 + i, inbox, agent, team, str(history.channel[i]), False, now, 1,
                     json.dumps(features), bool(features[english]), int(history.scores[i]), now, False, "[]",
                     "{}", now)
                )  # fmt: skip
        # the answers' order is the conversations' (oldest first), as in the generated history
        cursor.execute(
            f"UPDATE {table} s SET answered_at = c.first_resolved_at + interval '1 hour', "
            "first_resolved_at = c.first_resolved_at FROM chat_conversation c WHERE c.id = s.conversation_id"
        )
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {table}")
    return {"seconds": time.perf_counter() - started}


def train(*, n: int) -> dict:
    """The nightly training without its rescoring, timed by part; then the rescoring, timed."""
    from feedback import predictions, satisfaction_training
    from feedback.models import SatisfactionModel

    started = time.perf_counter()
    rows = predictions.training_set()
    read = time.perf_counter() - started
    outcome = satisfaction_training.train(rows)
    fitted = time.perf_counter() - started
    run = SatisfactionModel.objects.create(
        status=outcome.status, reason=outcome.reason, feature_version=1, answers=outcome.answers,
        parameters=outcome.parameters, evaluation=outcome.evaluation, training_seconds=fitted, trigger="bench",
        is_active=outcome.status == "promoted",
    )  # fmt: skip
    stored = time.perf_counter() - started
    rescore_started = time.perf_counter()
    rescored = predictions.rescore()
    rescore_seconds = time.perf_counter() - rescore_started
    return {
        "answers": len(rows),
        "read_seconds": read,
        "fit_seconds": fitted - read,
        "training_seconds": stored,
        "status": run.status,
        "auc": outcome.evaluation.get("auc"),
        "rescored": rescored,
        "rescore_seconds": rescore_seconds,
    }


def seed_open(*, n: int) -> dict:
    """n open conversations: 3 customer messages and one agent reply each, every event pending;
    and a promoted model (trained on a generated history) to score them with."""
    from django.db import connection, transaction
    from django.utils import timezone

    from bench.metrics_summary import _insert_select, _next_id
    from chat.models import Contact, Conversation, ConversationEvent, Message
    from feedback import satisfaction_history, satisfaction_training
    from feedback.models import SatisfactionModel

    inbox, team, agent = _base()
    outcome = satisfaction_training.train(satisfaction_history.generate(20_000, seed=7).training_set())
    SatisfactionModel.objects.create(
        status=outcome.status, feature_version=1, answers=outcome.answers, parameters=outcome.parameters,
        evaluation=outcome.evaluation, trigger="bench", is_active=True,
    )  # fmt: skip
    now = timezone.now()
    c0, v0 = _next_id(Contact), _next_id(Conversation)
    series = f"generate_series(1::bigint, {int(n)}::bigint) AS g"
    opened = f"('{now.isoformat()}'::timestamptz - make_interval(secs => 600 + g %% 3600))"
    texts = "(ARRAY[" + ",".join("'" + t.replace("'", "''") + "'" for t in ENGLISH) + "])"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        _insert_select(Contact, {"name": "'Customer ' || g"}, series)
        _insert_select(
            Conversation,
            {
                "contact_id": f"{c0 - 1} + g",
                "inbox_id": str(inbox),
                "status": "'open'",
                "assignee_id": str(agent),
                "team_id": str(team),
                "opened_at": opened,
                "first_customer_message_at": opened,
                "first_reply_at": f"{opened} + interval '2 minutes'",
                "last_activity_at": opened,
                "last_seq": "4",
                "last_customer_channel": "'web'",
                "email_thread_token": "md5(random()::text || g)",
            },
            series,
        )
        # four messages per conversation; s = 2 is the agent's reply
        messages = f"generate_series(1::bigint, {int(n)}::bigint) AS g, generate_series(1, 4) AS s"
        _insert_select(
            Message,
            {
                "conversation_id": f"{v0 - 1} + g",
                "inbox_id": str(inbox),
                "seq": "s",
                "sender_kind": "CASE WHEN s = 2 THEN 'agent' ELSE 'contact' END",
                "sender_user_id": f"CASE WHEN s = 2 THEN {agent} END",
                "channel": "'web'",
                "direction": "CASE WHEN s = 2 THEN 'out' ELSE 'in' END",
                # every text its own (an order number), as real ones are: no sentiment is reused across conversations
                "body": f"{texts}[1 + ((g + s) %% {len(ENGLISH)})::int] || ' Order ' || g || '.'",
                "created_at": f"{opened} + make_interval(secs => s * 60)",
            },
            messages,
        )
        _insert_select(
            ConversationEvent,
            {
                "conversation_id": f"{v0 - 1} + g",
                "kind": "CASE WHEN s = 1 THEN 'opened' ELSE 'message_created' END",
                "data": "'{}'::jsonb",
                "created_at": opened,
            },
            messages,
        )
    return {"conversations": n}


def score(*, n: int) -> dict:
    """One drain of the pending events, the scoring's share of it timed (a wrapper, not a change)."""
    from feedback import pipeline, predictions, satisfaction

    spent = {"refresh": 0.0, "features": 0.0, "calls": 0, "scored": 0}
    refresh, features = predictions.refresh, satisfaction.features

    def timed_refresh(computed, answered, **kwargs):
        started = time.perf_counter()
        try:
            return refresh(computed, answered, **kwargs)
        finally:
            spent["refresh"] += time.perf_counter() - started
            spent["calls"] += 1
            spent["scored"] += len(set(computed) | set(answered))

    def timed_features(*args, **kwargs):
        started = time.perf_counter()
        try:
            return features(*args, **kwargs)
        finally:
            spent["features"] += time.perf_counter() - started

    predictions.refresh, satisfaction.features = timed_refresh, timed_features
    started = time.perf_counter()
    try:
        events = pipeline.process_pending(since=0)
    finally:
        predictions.refresh, satisfaction.features = refresh, features
    total = time.perf_counter() - started
    from feedback.models import SatisfactionScore

    scored = SatisfactionScore.objects.filter(satisfied_probability__isnull=False).count()
    # Each conversation's four events fall in different batches here, as they would arrive: a
    # conversation is scored once per batch that has news of it. Per conversation in a batch:
    scorings = spent["scored"]
    return {
        "events": events,
        "scored": scored,
        "batches": spent["calls"],
        "scorings": scorings,
        "pipeline_ms_per_conversation": 1000 * total / scorings,
        "scoring_ms_per_conversation": 1000 * spent["refresh"] / scorings,
        "features_ms_per_conversation": 1000 * spent["features"] / scorings,
    }


def quality(*, n: int) -> dict:
    """AUC, Brier, calibration error on the newest 20 % of a generated history, beside baseline and truth."""
    from feedback import satisfaction, satisfaction_history, satisfaction_training

    history = satisfaction_history.generate(n, seed=99)
    outcome = satisfaction_training.train(history.training_set())
    e = outcome.evaluation
    holdout = slice(n - e["holdout_answers"], n)
    truth = history.true_probability[holdout].tolist()
    outcomes = (history.scores[holdout] >= 4).astype(int).tolist()
    truth_table = satisfaction.calibration_table(truth, outcomes)
    return {
        "answers": n,
        "auc": e["auc"],
        "brier": e["brier"],
        "calibration_error": e["calibration_error"],
        "csat_error_pp": e["holdout_csat"]["error_pp"],
        "baseline_auc": 0.5,
        "baseline_brier": e["baseline"]["brier"],
        "baseline_calibration_error": e["baseline"]["calibration_error"],
        "truth_auc": satisfaction.auc(truth, outcomes),
        "truth_brier": satisfaction.brier(truth, outcomes),
        "truth_calibration_error": satisfaction.calibration_error(truth_table),
    }


def main(argv=None) -> dict:
    args = harness.parse_args(__doc__.splitlines()[0], argv)
    answered = 100_000 if args.quick else 1_000_000
    open_conversations = 1_000 if args.quick else 5_000
    generated = 20_000 if args.quick else 200_000
    with harness.Stack(NAME) as stack:
        started = time.monotonic()
        seeded = stack.call("bench.satisfaction:seed_answered", n=answered)
        print(f"  seeded {answered:,} answered conversations in {seeded['seconds']:.0f} s", flush=True)
        trained = stack.call("bench.satisfaction:train", n=answered)
        print(f"  trained: {trained}", flush=True)
    with harness.Stack(NAME) as stack:
        stack.call("bench.satisfaction:seed_open", n=open_conversations)
        scored = stack.call("bench.satisfaction:score", n=open_conversations)
        print(f"  scored: {scored}", flush=True)
    with harness.Stack(NAME) as stack:
        judged = stack.call("bench.satisfaction:quality", n=generated)
    ours = {
        "training_answers": trained["answers"],
        "training_seconds": round(trained["training_seconds"], 2),
        "training_read_seconds": round(trained["read_seconds"], 2),
        "training_fit_seconds": round(trained["fit_seconds"], 2),
        "rescore_per_s": round(trained["rescored"] / trained["rescore_seconds"], 1),
        "scored_conversations": scored["scored"],
        "scorings_in_batches": scored["scorings"],
        "scoring_ms_per_conversation": round(scored["scoring_ms_per_conversation"], 3),
        "features_ms_per_conversation": round(scored["features_ms_per_conversation"], 3),
        "pipeline_ms_per_conversation": round(scored["pipeline_ms_per_conversation"], 3),
        "quality_answers": judged["answers"],
        "auc": round(judged["auc"], 4),
        "brier": round(judged["brier"], 4),
        "calibration_error": round(judged["calibration_error"], 4),
        "csat_error_pp": round(judged["csat_error_pp"], 2),
        "truth_auc": round(judged["truth_auc"], 4),
        "truth_brier": round(judged["truth_brier"], 4),
        "truth_calibration_error": round(judged["truth_calibration_error"], 4),
        "wall_seconds": round(time.monotonic() - started, 0),
    }
    peer = {
        "baseline_auc": 0.5,
        "baseline_brier": round(judged["baseline_brier"], 4),
        "baseline_calibration_error": round(judged["baseline_calibration_error"], 4),
    }
    ratio = judged["baseline_brier"] / judged["brier"] if judged["brier"] else None
    ok = (
        trained["training_seconds"] < TARGET["training_seconds_max"]
        and scored["scoring_ms_per_conversation"] < TARGET["scoring_ms_per_conversation_max"]
        and scored["scored"] == open_conversations
    )
    return harness.report(NAME, ours, peer, ratio, TARGET, ok)


if __name__ == "__main__":
    main()


def profile_rescore(*, n: int) -> dict:
    """Where a rescoring's time goes (cProfile; for development)."""
    import cProfile
    import io
    import pstats

    from feedback import predictions
    from feedback.models import SatisfactionModel

    train(n=n)
    SatisfactionModel.objects.update(is_active=False)
    profiler = cProfile.Profile()
    profiler.enable()
    predictions.rescore()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
    return {"profile": out.getvalue()}


def profile_score(*, n: int) -> dict:
    """Where the scoring's time goes inside one drain (cProfile; for development)."""
    import cProfile
    import io
    import pstats

    from feedback import pipeline, predictions

    profiler = cProfile.Profile()
    refresh = predictions.refresh

    def profiled(*args, **kwargs):
        profiler.enable()
        try:
            return refresh(*args, **kwargs)
        finally:
            profiler.disable()

    predictions.refresh = profiled
    try:
        pipeline.process_pending(since=0)
    finally:
        predictions.refresh = refresh
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
    return {"profile": out.getvalue()}
