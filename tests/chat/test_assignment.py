"""Routing: least-loaded online member under capacity, round robin, queue by priority, release on offline."""

import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from chat import assignment, services
from chat.models import AgentProfile, Conversation
from tests.factories import AgentFactory, ContactFactory, InboxFactory, TeamFactory, UserFactory


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run a service and its after-commit work (routing tasks run eagerly)."""

    def run(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return run


def new_conversation(inbox, on_commit, *, at_risk=False, body="Hello"):
    contact = ContactFactory(at_risk_until=timezone.now() + timedelta(days=3) if at_risk else None)
    message = on_commit(services.message_receive, inbox=inbox, contact=contact, channel="web", body=body).message
    return Conversation.objects.get(pk=message.conversation_id)


def agent(inbox, name, **kwargs):
    return AgentFactory(inboxes=[inbox], display_name=name, user=UserFactory(username=name.lower()), **kwargs)


def assignee_name(conversation) -> str | None:
    conversation.refresh_from_db()
    return conversation.assignee.agent.display_name if conversation.assignee_id else None


pytestmark = pytest.mark.django_db


def test_a_new_conversation_goes_to_the_least_loaded_online_member(on_commit):
    # given Ada with two open conversations and Bob with one
    inbox = InboxFactory()
    ada, bob = agent(inbox, "Ada"), agent(inbox, "Bob")
    for owner, count in ((ada, 2), (bob, 1)):
        for _ in range(count):
            conversation = new_conversation(inbox, on_commit)
            on_commit(services.conversation_assign, conversation=conversation, assignee=owner.user)
    # when a new conversation opens
    conversation = new_conversation(inbox, on_commit)
    # then Bob, the least loaded, takes it
    assert assignee_name(conversation) == "Bob"


def test_offline_busy_inactive_and_outside_agents_are_never_picked(on_commit):
    inbox, elsewhere = InboxFactory(), InboxFactory()
    agent(inbox, "Off", availability="offline")
    agent(inbox, "Busy", availability="busy")
    gone = agent(inbox, "Gone")
    gone.user.is_active = False
    gone.user.save()
    agent(elsewhere, "Outsider")
    conversation = new_conversation(inbox, on_commit)
    assert assignee_name(conversation) is None
    assert list(assignment.queue()) == [conversation]


def test_capacity_is_respected_and_the_overflow_waits_in_the_queue(on_commit):
    inbox = InboxFactory()
    agent(inbox, "Ada", capacity=2)
    first, second, third = (new_conversation(inbox, on_commit) for _ in range(3))
    assert [assignee_name(c) for c in (first, second, third)] == ["Ada", "Ada", None]
    assert list(assignment.queue()) == [third]


def test_resolved_conversations_do_not_count_and_a_resolution_serves_the_queue(on_commit):
    # given Ada full (capacity 1) and one conversation waiting
    inbox = InboxFactory()
    agent(inbox, "Ada", capacity=1)
    first, waiting = new_conversation(inbox, on_commit), new_conversation(inbox, on_commit)
    assert assignee_name(waiting) is None
    # when she resolves her conversation
    on_commit(services.conversation_resolve, conversation=first)
    # then the waiting one comes to her
    assert assignee_name(waiting) == "Ada"


def test_ties_go_round_robin_and_never_assigned_agents_come_first(on_commit):
    # given three equally loaded agents; Cid was assigned long ago, Ada and Bob never
    inbox = InboxFactory()
    cid = agent(inbox, "Cid")
    agent(inbox, "Ada"), agent(inbox, "Bob")
    AgentProfile.objects.filter(pk=cid.pk).update(last_assigned_at=timezone.now() - timedelta(days=30))
    # when conversations arrive one by one and each is resolved before the next
    order = []
    for _ in range(6):
        conversation = new_conversation(inbox, on_commit)
        order.append(assignee_name(conversation))
        on_commit(services.conversation_resolve, conversation=conversation)
    # then never-assigned agents come first, then strictly the least recently assigned
    assert order == ["Ada", "Bob", "Cid", "Ada", "Bob", "Cid"]


def test_a_team_with_members_in_the_inbox_gets_its_conversations(on_commit):
    # given an inbox routing to a team; Ada is in it, Bob (less loaded) is not
    team = TeamFactory()
    inbox = InboxFactory(default_team=team)
    ada, bob = agent(inbox, "Ada"), agent(inbox, "Bob")
    ada.teams.add(team)
    busy_work = new_conversation(inbox, on_commit)  # goes to Ada, the only team member
    # when another conversation opens
    conversation = new_conversation(inbox, on_commit)
    # then it stays in the team even though Bob has less work
    assert assignee_name(busy_work) == "Ada"
    assert assignee_name(conversation) == "Ada"
    assert bob.user.assigned_conversations.count() == 0


def test_a_team_without_members_in_the_inbox_falls_back_to_the_inbox_members(on_commit):
    team, other_inbox = TeamFactory(), InboxFactory()
    outsider = agent(other_inbox, "Outsider")
    outsider.teams.add(team)  # the team has members, just not in this inbox
    inbox = InboxFactory(default_team=team)
    agent(inbox, "Ada")
    assert assignee_name(new_conversation(inbox, on_commit)) == "Ada"


def test_an_at_risk_conversation_whose_team_is_offline_goes_to_another_member_with_room(on_commit):
    # given an at-risk customer, a retention team whose only member is offline, and Bob online
    retention = TeamFactory(is_retention=True)
    inbox = InboxFactory()
    rita = agent(inbox, "Rita", availability="offline")
    rita.teams.add(retention)
    agent(inbox, "Bob")
    # when the customer writes (their conversation opens with the retention team, high priority)
    conversation = new_conversation(inbox, on_commit, at_risk=True)
    conversation.refresh_from_db()
    assert (conversation.team_id, conversation.priority) == (retention.pk, "high")
    # then it does not wait for Rita: Bob, online with room, takes it now
    assert assignee_name(conversation) == "Bob"
    assert list(assignment.queue()) == []


def test_a_full_team_hands_over_to_the_inbox_and_takes_again_once_it_has_room(on_commit):
    # given a team whose only member is full, and Bob (no team) online
    team = TeamFactory()
    inbox = InboxFactory(default_team=team)
    ada = agent(inbox, "Ada", capacity=1)
    ada.teams.add(team)
    agent(inbox, "Bob")
    first = new_conversation(inbox, on_commit)
    # when a second conversation opens while Ada is full, then Bob takes it
    second = new_conversation(inbox, on_commit)
    assert (assignee_name(first), assignee_name(second)) == ("Ada", "Bob")
    # and once Ada has room, the team comes first again
    on_commit(services.conversation_resolve, conversation=first)
    assert assignee_name(new_conversation(inbox, on_commit)) == "Ada"


def test_going_offline_returns_unanswered_conversations_to_the_queue(on_commit):
    # given Ada with an answered and an unanswered conversation, and Bob offline
    inbox = InboxFactory()
    ada = agent(inbox, "Ada")
    bob = agent(inbox, "Bob", availability="offline")
    answered, unanswered = new_conversation(inbox, on_commit), new_conversation(inbox, on_commit)
    on_commit(services.message_send, conversation=answered, by=ada.user, body="On it")
    on_commit(services.message_send, conversation=unanswered, by=ada.user, body="note", is_note=True)
    # when she goes offline
    on_commit(services.agent_set_availability, user=ada.user, availability="offline")
    # then she keeps the answered one; the unanswered one waits in the queue (nobody online)
    assert assignee_name(answered) == "Ada"
    assert assignee_name(unanswered) is None
    # and when Bob comes online, he takes it from the queue
    on_commit(services.agent_set_availability, user=bob.user, availability="online")
    assert assignee_name(unanswered) == "Bob"


def test_going_busy_keeps_conversations_and_stops_new_ones(on_commit):
    inbox = InboxFactory()
    ada = agent(inbox, "Ada")
    mine = new_conversation(inbox, on_commit)
    on_commit(services.agent_set_availability, user=ada.user, availability="busy")
    assert assignee_name(mine) == "Ada"
    assert assignee_name(new_conversation(inbox, on_commit)) is None


def test_the_queue_serves_the_most_urgent_first_then_the_oldest(on_commit):
    # given three waiting conversations: two normal (oldest first) and a newer high-priority one
    inbox = InboxFactory()
    ada = agent(inbox, "Ada", availability="offline", capacity=2)
    old = new_conversation(inbox, on_commit)
    newer = new_conversation(inbox, on_commit)
    urgent = new_conversation(inbox, on_commit, at_risk=True)
    assert urgent.priority == "high"
    assert list(assignment.queue()) == [urgent, old, newer]
    # when Ada comes online with room for two
    on_commit(services.agent_set_availability, user=ada.user, availability="online")
    # then she gets the urgent one and the oldest
    assert [assignee_name(c) for c in (urgent, old, newer)] == ["Ada", "Ada", None]


def test_routing_is_idempotent_and_leaves_resolved_or_assigned_conversations_alone(on_commit):
    inbox = InboxFactory()
    ada = agent(inbox, "Ada", availability="offline")
    agent(inbox, "Bob")
    conversation = new_conversation(inbox, on_commit)
    assert assignee_name(conversation) == "Bob"
    assert assignment.conversation_route(conversation_id=conversation.pk) is None  # already assigned
    on_commit(services.conversation_assign, conversation=conversation, assignee=None)
    on_commit(services.conversation_resolve, conversation=conversation)
    assert assignment.conversation_route(conversation_id=conversation.pk) is None  # resolved
    assert assignment.conversation_route(conversation_id=999_999) is None  # gone
    assert ada.user.assigned_conversations.count() == 0
    events = list(conversation.events.filter(kind="assigned").values_list("data", flat=True))
    assert len(events) == 1


@pytest.mark.django_db(transaction=True)
def test_two_conversations_routed_at_once_cannot_overfill_an_agent():
    # given Ada with room for exactly one more, and two waiting conversations
    inbox = InboxFactory()
    ada = agent(inbox, "Ada", availability="offline", capacity=1)
    waiting = [
        services.message_receive(inbox=inbox, contact=ContactFactory(), channel="web", body="hi").message.conversation
        for _ in range(2)
    ]
    AgentProfile.objects.filter(pk=ada.pk).update(availability="online")
    # when both are routed at the same moment
    barrier = threading.Barrier(2)
    errors = []

    def route(conversation_id):
        try:
            barrier.wait()
            assignment.conversation_route(conversation_id=conversation_id)
        except BaseException as exc:
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=route, args=(c.pk,)) for c in waiting]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then exactly one is hers
    assert errors == []
    assert ada.user.assigned_conversations.count() == 1
