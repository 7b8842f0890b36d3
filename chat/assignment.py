"""Who takes a conversation: the least-loaded online member of its inbox, under capacity.

- Candidates: online, active members of the conversation's inbox with room.
- Order: members of the conversation's team first (when it has one), then everyone else, so a
  team whose members are all offline or full does not hold the conversation back while another
  member of the inbox has room; within each, fewest open (non-resolved) assigned conversations
  first; ties go to whoever was assigned least recently (never assigned = first): round-robin
  among equals.
- Capacity is checked again with the chosen agent's profile row locked, so two conversations
  routed at the same moment cannot both take an agent's last free place.
- The queue (unassigned, non-resolved) is served most urgent first, then oldest; it is offered
  again whenever an agent comes online or a resolution frees a place.
- An agent who goes offline (not merely busy) returns the conversations they have not answered.
"""

from django.db import transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from .models import AgentProfile, Conversation, Message

QUEUE_BATCH = 200


def _open_load(user_ref: str = "user_id"):
    """The number of non-resolved conversations assigned to the agent (a correlated subquery)."""
    counts = (
        Conversation.objects.filter(assignee_id=OuterRef(user_ref))
        .active()
        .order_by()
        .values("assignee_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


def open_load(user_id: int) -> int:
    return Conversation.objects.filter(assignee_id=user_id).active().count()


def available_agents(conversation: Conversation) -> list[AgentProfile]:
    """Online members of the inbox with room, best first: the conversation's team first (one query)."""
    in_team = (
        Exists(AgentProfile.teams.through.objects.filter(agentprofile_id=OuterRef("pk"), team_id=conversation.team_id))
        if conversation.team_id
        else Value(False)
    )
    qs = (
        AgentProfile.objects.filter(
            user__is_active=True,
            user__inbox_memberships__inbox_id=conversation.inbox_id,
            availability=AgentProfile.Availability.ONLINE,
        )
        .annotate(load=_open_load(), in_team=in_team)
        .filter(load__lt=F("capacity"))
        .order_by("-in_team", "load", F("last_assigned_at").asc(nulls_first=True), "id")
        .select_related("user")
    )
    return list(qs)


@transaction.atomic
def conversation_route(*, conversation_id: int) -> Conversation | None:
    """Assign an unassigned, active conversation if someone can take it (idempotent)."""
    from .services import conversation_assign

    conversation = (
        Conversation.objects.select_for_update().filter(pk=conversation_id, assignee__isnull=True).active().first()
    )
    if conversation is None:
        return None
    for candidate in available_agents(conversation):
        # Lock order: conversation, then the agent's profile. Recheck with the lock held.
        profile = AgentProfile.objects.select_for_update().get(pk=candidate.pk)
        if profile.availability != AgentProfile.Availability.ONLINE:
            continue
        if open_load(profile.user_id) >= profile.capacity:
            continue
        return conversation_assign(conversation=conversation, assignee=candidate.user)
    return None


def queue():
    """Unassigned active conversations, most urgent first, then oldest."""
    return Conversation.objects.filter(assignee__isnull=True).active().order_by("-priority_rank", "opened_at", "id")


@transaction.atomic
def agent_release_unanswered(*, user_id: int) -> list[int]:
    """An agent who went offline gives back the conversations they have not answered yet."""
    from .services import conversation_assign

    profile = AgentProfile.objects.filter(user_id=user_id).first()
    if profile is None or profile.availability != AgentProfile.Availability.OFFLINE:
        return []
    replied = Message.objects.filter(sender_kind=Message.SenderKind.AGENT, is_note=False, conversation=OuterRef("pk"))
    released = []
    unanswered = (
        Conversation.objects.filter(assignee_id=user_id)
        .active()
        .annotate(replied=Exists(replied))
        .filter(replied=False)
        .order_by("id")
    )
    for conversation in unanswered:
        conversation_assign(conversation=conversation, assignee=None)
        released.append(conversation.pk)
    return released


def route_queue() -> int:
    """Offer waiting conversations, most urgent first, to whoever has room now."""
    assigned = 0
    for conversation_id in queue().values_list("pk", flat=True)[:QUEUE_BATCH]:
        if conversation_route(conversation_id=conversation_id):
            assigned += 1
    return assigned
