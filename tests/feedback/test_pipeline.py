"""The metrics pipeline: events and answers → facts and rollups that equal a recomputation, exactly once."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from chat import privacy, services
from chat.models import ConversationEvent, Priority
from feedback import metrics, pipeline, reports
from feedback.models import (
    ConversationFacts,
    DurationHistogram,
    FollowUp,
    MetricRollup,
    ProcessedEvent,
    SurveyInvitation,
)
from tests.factories import ContactFactory, EmailInboxFactory, InboxFactory, TeamFactory, agent_user, conversation_with

from .metrics_helpers import answered, differences, rollup_snapshot, sent_only, wide_range

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(committed):
    """Two inboxes, two agents, a handful of conversations through every kind of event."""
    team = TeamFactory(name="Support")
    web = InboxFactory(name="Web", default_team=team)
    email = EmailInboxFactory(name="Mail", default_team=team)
    alice, bob = agent_user(web, email), agent_user(web, email)
    conversations = []
    with committed():
        for n in range(6):
            inbox = web if n % 2 else email
            contact = ContactFactory()
            conversation = conversation_with(inbox, contact, body=f"Help {n}")
            agent = alice if n < 3 else bob
            services.message_send(conversation=conversation, by=agent, body="On it")
            if n == 1:  # the customer switches channel
                services.message_receive(inbox=inbox, contact=contact, channel="sms", body="by text now")
            if n == 2:
                services.conversation_transfer(conversation=conversation, by=agent, to_agent=bob)
            services.conversation_resolve(conversation=conversation, by=agent)
            if n == 3:  # reopened and resolved again
                services.conversation_reopen(conversation=conversation, by=agent)
                services.conversation_resolve(conversation=conversation, by=agent)
            conversations.append(conversation)
        # one left open, never answered
        conversation_with(web, ContactFactory(), body="still waiting")
    for n, conversation in enumerate(conversations[:4]):
        answered(conversation, csat=5 - n, ces=7 - n, nps=10 - 2 * n)
    sent_only(conversations[4])
    return {"web": web, "email": email, "alice": alice, "bob": bob, "team": team, "conversations": conversations}


def test_every_event_is_processed_and_rollups_equal_the_recomputation(world):
    # given the world's events, delivered through on_commit → chat.tasks.events_drain
    # then every event is marked processed, one facts row per conversation, and nothing differs
    assert ProcessedEvent.objects.count() == ConversationEvent.objects.count()
    assert ConversationFacts.objects.count() == 7
    assert differences() == []


def test_figures_are_what_a_person_counting_by_hand_gets(world, django_user_model):
    # when a supervisor reads the summary
    supervisor = django_user_model.objects.create(username="boss", is_staff=True)
    figures = reports.summary(reports.parse_filters(supervisor, {}))["metrics"]
    # then: 4 answers, csat 5,4,3,2 → 2 satisfied of 4
    assert figures["csat_percent"] == {"value": 50.0, "numerator": 2, "denominator": 4, "version": 1}
    assert figures["csat_average"]["value"] == 3.5
    # ces 7,6,5,4 → 3 easy of 4; nps 10,8,6,4 → 1 promoter − 2 detractors of 4
    assert figures["ces_easy_percent"]["numerator"] == 3
    assert figures["nps"] == {"value": -25.0, "numerator": -1, "denominator": 4, "version": 1}
    # invitations answered ÷ invitations sent (the surveys' own scheduling may have sent more)
    sent = SurveyInvitation.objects.filter(sent_at__isnull=False).count()
    assert sent >= 5
    assert figures["response_rate"] == {"value": 400 / sent, "numerator": 4, "denominator": sent, "version": 1}
    # 6 resolved, 1 reopened; 7 opened, 1 with two channels, 1 transfer
    assert figures["reopen_rate"]["numerator"] == 1 and figures["reopen_rate"]["denominator"] == 6
    assert figures["channel_switch_rate"]["numerator"] == 1 and figures["channel_switch_rate"]["denominator"] == 7
    assert figures["transfers_per_conversation"]["numerator"] == 1
    assert figures["first_response_seconds"]["count"] == 6
    # windows still open: recontact and FCR are null, not 0
    assert figures["recontact_rate_7d"]["value"] is None
    assert figures["first_contact_resolution"]["value"] is None


def test_running_everything_twice_changes_nothing(world):
    # given the rollups after one delivery of everything
    before = rollup_snapshot()
    facts_before = list(ConversationFacts.objects.order_by("pk").values())
    # when every event is delivered again, markers forgotten, and every answer again
    for event_id in ConversationEvent.objects.values_list("pk", flat=True):
        pipeline.event_arrived(event_id=event_id)
    ProcessedEvent.objects.all().delete()
    assert pipeline.process_pending() == ConversationEvent.objects.count()
    for conversation in world["conversations"][:4]:
        pipeline.response_arrived(response_id=conversation.survey_invitations.get(response__isnull=False).response.pk)
    # then the rollups are exactly the same, and so are the facts (but for their timestamp)
    assert rollup_snapshot() == before
    after = list(ConversationFacts.objects.order_by("pk").values())
    strip = [{k: v for k, v in row.items() if k != "updated_at"} for row in facts_before]
    assert [{k: v for k, v in row.items() if k != "updated_at"} for row in after] == strip
    assert FollowUp.objects.count() == 2  # csat 2 / nps ≤ 6 answers: one follow-up each, never two


def test_a_crash_mid_batch_commits_nothing_and_the_retry_counts_once(world, committed, monkeypatch, caplog):
    # given a new message whose processing dies after the rollups were updated, before the commit
    before = rollup_snapshot()
    real = ProcessedEvent.objects.bulk_create

    def die(*args, **kwargs):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(ProcessedEvent.objects, "bulk_create", die)
    contact = ContactFactory()
    with committed():
        conversation_with(world["web"], contact, body="new one")
    # then the metrics drain failed (logged; the other drains ran) and nothing of it is in the rollups
    assert "outbox drain metrics failed" in caplog.text
    assert rollup_snapshot() == before
    # when the task is delivered again (the worker is back)
    monkeypatch.setattr(ProcessedEvent.objects, "bulk_create", real)
    pipeline.process_pending()
    # then it counts once
    assert differences() == []
    assert sum(c for (_, _, _, _, _, metric), (c, _) in rollup_snapshot().items() if metric == "opened") == 8


def test_recompute_metrics_rebuilds_lost_rollups(world):
    # given the rollups and histograms, then a disaster: half of them gone and facts scribbled on
    before = rollup_snapshot()
    assert DurationHistogram.objects.filter(inbox_key=0, level=metrics.HISTOGRAM_LEVELS).exists()
    MetricRollup.objects.filter(metric__in=["opened", "csat_5", "resolved"]).delete()
    DurationHistogram.objects.filter(level=2).delete()
    ConversationFacts.objects.update(contributions={})
    assert differences() != []
    # when the command rebuilds the whole range
    day_from, day_to = wide_range()
    call_command("recompute_metrics", "--from", day_from.isoformat(), "--to", day_to.isoformat())
    # then everything is back
    assert rollup_snapshot() == before
    assert differences() == []


def exact_durations(supervisor, params=None) -> bool:
    """The summary's durations (from histograms) equal those of every value (`reports.durations`)."""
    filters = reports.parse_filters(supervisor, params or {})
    periods = [filters, filters.previous()]
    summaries = reports.figures_of_periods(periods, metrics.DURATION_METRICS)
    return all(
        {name: s[name] for name in metrics.DURATION_METRICS} == reports.durations(period)
        for s, period in zip(summaries, periods, strict=True)
    )


def test_histograms_follow_replies_transfers_answers_merges_and_erasure(world, committed, django_user_model, caplog):
    supervisor = django_user_model.objects.create(username="boss", is_staff=True)
    alice, bob = world["alice"], world["bob"]
    checks = [{}, {"agent": str(alice.pk)}, {"agent": str(bob.pk)}, {"inbox": str(world["web"].pk)}]

    def agree() -> None:
        assert differences() == []
        assert all(exact_durations(supervisor, params) for params in checks)
        assert "disagrees" not in caplog.text

    agree()
    with committed():
        # the conversation still waiting gets its first reply: a first response time appears
        open_one = ConversationFacts.objects.get(first_reply_at__isnull=True).conversation
        services.message_send(conversation=open_one, by=alice, body="Sorry for the wait")
        services.conversation_resolve(conversation=open_one, by=alice)
        # alice's first one is reopened and resolved by bob: its durations move to bob
        moved = world["conversations"][0]
        services.conversation_reopen(conversation=moved, by=alice)
        services.conversation_transfer(conversation=moved, by=alice, to_agent=bob)
        services.conversation_resolve(conversation=moved, by=bob)
    assert ConversationFacts.objects.get(conversation=moved).agent_id == bob.pk
    agree()
    # an answer is edited (the durations stay where they are)
    answered(world["conversations"][1], csat=1)
    agree()
    # two customers turn out to be one person; then that person asks to be erased
    first, second = world["conversations"][2].contact, world["conversations"][3].contact
    with committed():
        services.contact_merge(source=second, target=first, by=alice)
    agree()
    with committed():
        privacy.contact_erase(contact=first, by=None)
    agree()
    # and a rebuild of every day finds the histograms as they are
    before = rollup_snapshot()
    day_from, day_to = wide_range()
    call_command("recompute_metrics", "--from", day_from.isoformat(), "--to", day_to.isoformat())
    assert rollup_snapshot() == before


def test_reconcile_logs_and_counts_differences(world, caplog):
    MetricRollup.objects.filter(metric="opened").update(count=99)
    report = pipeline.reconcile(days=3)
    assert len(report.differences) >= 1
    assert "metrics reconciliation" in caplog.text
    assert pipeline.reconcile(days=3).differences == []


def test_windows_are_finalised_after_seven_days(world, committed, django_user_model):
    # given six resolved conversations, one of whose customers writes again the same day (a recontact)
    recontacted = world["conversations"][0]
    with committed():
        conversation_with(recontacted.inbox, recontacted.contact, body="me again")
    supervisor = django_user_model.objects.create(username="boss", is_staff=True)
    names = ["recontact_rate_7d", "first_contact_resolution"]
    figures = reports.figures(reports.parse_filters(supervisor, {}), names)
    assert figures["recontact_rate_7d"]["value"] is None  # windows still open
    # when the hourly task runs eight days later
    later = timezone.now() + timedelta(days=8)
    assert pipeline.finalise_windows(now=later) == 6
    # then recontact and FCR have values: 1 recontacted, 1 reopened → 4 first-contact resolutions of 6
    figures = reports.figures(reports.parse_filters(supervisor, {}), names)
    assert figures["recontact_rate_7d"] == {"value": 100 / 6, "numerator": 1, "denominator": 6, "version": 1}
    assert figures["first_contact_resolution"]["numerator"] == 4
    assert differences(now=later) == []
    assert pipeline.finalise_windows(now=later) == 0


def test_a_detractor_answer_closes_the_loop(committed):
    # given a retention team with a lead, and a customer who answers CSAT 1
    lead = agent_user()
    retention = TeamFactory(name="Retention", is_retention=True, lead=lead)
    inbox = InboxFactory()
    agent = agent_user(inbox)
    contact = ContactFactory()
    with committed():
        conversation = conversation_with(inbox, contact)
        services.message_send(conversation=conversation, by=agent, body="Sorted")
        services.conversation_resolve(conversation=conversation, by=agent)
    response = answered(conversation, csat=1)
    # then a follow-up for the retention lead, and the contact is at risk for 30 days
    follow_up = FollowUp.objects.get(response=response)
    assert follow_up.owner == lead and follow_up.status == "open" and follow_up.contact == contact
    contact.refresh_from_db()
    assert contact.is_at_risk
    assert abs((contact.at_risk_until - response.answered_at) - timedelta(days=30)) < timedelta(seconds=1)
    # and their next conversation starts at high priority with the retention team
    with committed():
        following = conversation_with(inbox, contact, body="Me again")
    assert following.priority == Priority.HIGH
    assert following.team == retention


def test_a_happy_answer_opens_nothing_and_the_inbox_team_lead_is_the_fallback_owner(committed):
    lead = agent_user()
    inbox = InboxFactory(default_team=TeamFactory(lead=lead))
    agent = agent_user(inbox)
    with committed():
        happy = conversation_with(inbox)
        services.message_send(conversation=happy, by=agent, body="Done")
        services.conversation_resolve(conversation=happy, by=agent)
        unhappy = conversation_with(inbox)
        services.message_send(conversation=unhappy, by=agent, body="Done")
        services.conversation_resolve(conversation=unhappy, by=agent)
    answered(happy, csat=5, nps=9)
    answered(unhappy, nps=3)
    assert FollowUp.objects.get().conversation == unhappy
    assert FollowUp.objects.get().owner == lead
    happy.contact.refresh_from_db()
    assert not happy.contact.is_at_risk


def test_the_demo_history_and_the_rollups_agree(django_capture_on_commit_callbacks):
    # given the demo workspace with a few days of surveyed history (what `make run` shows)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo")
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_metrics_demo", "--days", "4")
    # then the dashboard has figures, and recompute_metrics agrees with the rollups
    assert MetricRollup.objects.filter(metric__startswith="csat_").exists()
    assert differences() == []
    call_command("recompute_metrics", "--check", "--from", wide_range()[0].isoformat())
