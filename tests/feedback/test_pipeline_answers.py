"""Survey answers in the pipeline's batches: counted from the invitations alone, equal to a full
recomputation, once, whatever is delivered twice; the closed loop once per detractor answer."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chat import services as chat_services
from chat.models import Contact, ConversationEvent, Message, hash_token
from cxhub import legacy_tasks
from feedback import pipeline, services
from feedback.models import (
    ConversationFacts,
    FollowUp,
    MetricRollup,
    ProcessedEvent,
    SurveyInvitation,
    SurveyPolicy,
)
from tests.factories import ContactFactory, InboxFactory, TeamFactory, agent_user, conversation_with

from .metrics_helpers import differences, rollup_snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def surveyed(committed):
    """Four resolved conversations, each with a sent survey whose token is known (`tokens[i]`)."""
    inbox = InboxFactory(default_team=TeamFactory(lead=agent_user()))
    SurveyPolicy.objects.create(inbox=inbox, questions=["csat", "ces", "nps", "comment"])
    agent = agent_user(inbox)
    conversations, tokens = [], []
    for n in range(4):
        with committed():
            conversation = conversation_with(inbox, ContactFactory(), body=f"Help {n}")
            chat_services.message_send(conversation=conversation, by=agent, body="Done")
            chat_services.conversation_resolve(conversation=conversation, by=agent)
        invitation = SurveyInvitation.objects.get(conversation=conversation, status="sent")
        tokens.append(f"pipeline-answers-token-{n:04d}-abcdef")
        SurveyInvitation.objects.filter(pk=invitation.pk).update(token_hash=hash_token(tokens[-1]))
        conversations.append(conversation)
    return {"inbox": inbox, "agent": agent, "conversations": conversations, "tokens": tokens}


def facts_rows() -> list[dict]:
    return [
        {k: v for k, v in row.items() if k != "updated_at"}
        for row in ConversationFacts.objects.order_by("conversation_id").values()
    ]


def answered_events() -> list[int]:
    return list(ConversationEvent.objects.filter(kind="survey_answered").order_by("pk").values_list("pk", flat=True))


def test_answers_edits_and_second_deliveries_count_once_and_equal_a_full_recomputation(surveyed, committed):
    tokens = surveyed["tokens"]
    # given answers recorded by the surveys' service, counted as their events' tasks run
    with committed():
        first = services.survey_answer(token=tokens[0], channel="web", csat=2, ces=6)
        services.survey_answer(token=tokens[1], channel="web", csat=5, nps=3)
        services.survey_answer(token=tokens[2], channel="email", csat=4, ces=7, nps=10)
    # when the first customer changes their answer 23 hours later, and another one submits twice
    SurveyInvitation.objects.filter(response=first).update(answered_at=timezone.now() - timedelta(hours=23))
    with committed():
        services.survey_answer(token=tokens[0], channel="web", csat=5, ces=6)
        services.survey_answer(token=tokens[3], channel="web", csat=1)
        services.survey_answer(token=tokens[3], channel="web", csat=1)
    # then every answer's event is processed and the rollups equal the recomputation
    assert ProcessedEvent.objects.count() == ConversationEvent.objects.count()
    assert differences() == []
    assert MetricRollup.objects.get(metric="csat_5").count == 2  # the edit moved 2 → 5
    assert not MetricRollup.objects.filter(metric="csat_2").exclude(count=0).exists()
    # and the facts the answers path wrote are what recomputing everything writes
    rollups, facts = rollup_snapshot(), facts_rows()
    pipeline.refresh_conversations([c.pk for c in surveyed["conversations"]])
    assert facts_rows() == facts and rollup_snapshot() == rollups
    # and one follow-up per detractor answer: CSAT 2 (later edited), NPS 3, CSAT 1 (sent twice)
    assert FollowUp.objects.count() == 3
    # when every event's task and every answer's task is delivered again
    for event_id in answered_events():
        legacy_tasks.event_created.run(event_id)  # as an earlier release queued it
    ProcessedEvent.objects.filter(event_id__in=answered_events()).delete()
    pipeline.process_pending()
    for invitation in SurveyInvitation.objects.filter(response__isnull=False):
        pipeline.response_arrived(response_id=invitation.response.pk)
    # then nothing changes
    assert rollup_snapshot() == rollups and facts_rows() == facts
    assert FollowUp.objects.count() == 3


def test_a_backlog_of_answers_is_counted_in_one_batch_beside_other_events(surveyed, django_capture_on_commit_callbacks):
    # given answers whose tasks were lost (nothing ran after their commits), and in one of the
    # same conversations a customer message that is pending too
    tokens, conversations = surveyed["tokens"], surveyed["conversations"]
    with django_capture_on_commit_callbacks(execute=False):
        for n, token in enumerate(tokens):
            services.survey_answer(token=token, channel="web", csat=1 + n, ces=7 - n)
        chat_services.message_receive(
            inbox=surveyed["inbox"], contact=conversations[0].contact, channel="sms", body="one more thing"
        )
    pending = ConversationEvent.objects.exclude(pk__in=ProcessedEvent.objects.values("event_id")).count()
    assert pending >= 5
    # when the every-minute sweep runs
    assert pipeline.process_pending() == pending
    # then all of it is counted once, equal to the recomputation, the loop closed for CSAT 1 and 2
    assert differences() == []
    assert sum(r.count for r in MetricRollup.objects.filter(metric__startswith="csat_")) == 4
    assert FollowUp.objects.count() == 2
    assert Message.objects.filter(conversation__contact=conversations[0].contact, channel="sms").exists()


def test_an_answer_after_the_seven_day_window_refreshes_the_whole_conversation(surveyed, committed):
    # given a conversation resolved eight days ago whose window the hourly task has not closed yet
    conversation = surveyed["conversations"][0]
    resolved = timezone.now() - timedelta(days=8)
    type(conversation).objects.filter(pk=conversation.pk).update(first_resolved_at=resolved)
    ConversationEvent.objects.filter(conversation=conversation, kind="resolved").update(created_at=resolved)
    pipeline.refresh_conversations([conversation.pk], now=timezone.now() - timedelta(days=2))
    assert not ConversationFacts.objects.get(conversation=conversation).window_ended
    # when its survey is answered now
    with committed():
        services.survey_answer(token=surveyed["tokens"][0], channel="web", csat=3)
    # then its recontact window counts as ended, as a recomputation says
    assert ConversationFacts.objects.get(conversation=conversation).window_ended
    assert differences() == []


def test_the_closed_loop_of_a_batch_marks_the_person_a_merged_contact_became(surveyed, committed):
    # given a customer whose contact was merged into another after they were surveyed
    conversation = surveyed["conversations"][0]
    person = ContactFactory()
    Contact.objects.filter(pk=conversation.contact_id).update(merged_into=person)
    # when they answer CSAT 1
    with committed():
        response = services.survey_answer(token=surveyed["tokens"][0], channel="web", csat=1)
    # then the follow-up and the at-risk mark are the person's
    assert FollowUp.objects.get(response=response).contact == person
    person.refresh_from_db()
    assert person.is_at_risk
