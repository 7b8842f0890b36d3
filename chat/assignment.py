"""Who takes a conversation: the least-loaded online member of its inbox, under capacity."""

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q

from .models import AgentProfile, Conversation, Message


def _open_load_filter() -> Q:
    return ~Q(user__assigned_conversations__status=Conversation.Status.RESOLVED) & Q(
        user__assigned_conversations__isnull=False
    )


def available_agents(conversation: Conversation):
    """Online members of the inbox (of the team, when it has one) with room, least loaded first.

    Ties go to whoever was assigned least recently: round-robin among equals.
    """
    qs = AgentProfile.objects.filter(
        availability=AgentProfile.Availability.ONLINE,
        user__is_active=True,
        user__inbox_memberships__inbox_id=conversation.inbox_id,
    )
    if conversation.team_id and AgentProfile.objects.filter(teams=conversation.team_id).exists():
        qs = qs.filter(teams=conversation.team_id)
    qs = qs.annotate(load=Count("user__assigned_conversations", filter=_open_load_filter(), distinct=True))
    return [
        agent
        for agent in qs.order_by("load", "last_assigned_at", "id").select_related("user")
        if agent.load < agent.capacity
    ]


@transaction.atomic
def conversation_route(*, conversation_id: int) -> Conversation | None:
    """Assign an unassigned, active conversation if someone can take it (idempotent)."""
    from .services import conversation_assign

    conversation = (
        Conversation.objects.select_for_update()
        .filter(pk=conversation_id, assignee__isnull=True)
        .exclude(status=Conversation.Status.RESOLVED)
        .first()
    )
    if conversation is None:
        return None
    candidates = available_agents(conversation)
    if not candidates:
        return None
    return conversation_assign(conversation=conversation, assignee=candidates[0].user)


def queue():
    """Unassigned active conversations, most urgent first, then oldest."""
    return (
        Conversation.objects.filter(assignee__isnull=True)
        .exclude(status=Conversation.Status.RESOLVED)
        .order_by("-priority_rank", "opened_at", "id")
    )


@transaction.atomic
def agent_release_unanswered(*, user_id: int) -> list[int]:
    """An agent who went offline gives back the conversations they have not answered yet."""
    from .services import conversation_assign

    profile = AgentProfile.objects.filter(user_id=user_id).first()
    if profile is None or profile.availability == AgentProfile.Availability.ONLINE:
        return []
    replied = Message.objects.filter(sender_kind=Message.SenderKind.AGENT, is_note=False, conversation=OuterRef("pk"))
    released = []
    for conversation in (
        Conversation.objects.select_for_update()
        .filter(assignee_id=user_id)
        .exclude(status=Conversation.Status.RESOLVED)
        .annotate(replied=Exists(replied))
        .filter(replied=False)
    ):
        conversation_assign(conversation=conversation, assignee=None)
        released.append(conversation.pk)
    return released


def route_queue() -> int:
    """Offer waiting conversations, most urgent first, to whoever has room now."""
    assigned = 0
    for conversation_id in queue().values_list("pk", flat=True)[:200]:
        if conversation_route(conversation_id=conversation_id):
            assigned += 1
    return assigned
