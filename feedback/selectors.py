"""Reads of the feedback app, scoped like chat's selectors (an agent sees only their inboxes)."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet
from django.utils import timezone

from chat.models import hash_token
from chat.selectors import inbox_ids_visible_to, inboxes_visible_to

from .models import SurveyInvitation, SurveyPolicy, SurveyResponse

SHOWN_STATUSES = (SurveyInvitation.Status.SENT, SurveyInvitation.Status.ANSWERED, SurveyInvitation.Status.EXPIRED)


def responses_visible_to(user: AbstractBaseUser) -> QuerySet[SurveyResponse]:
    """Survey answers of conversations in the inboxes the user may see."""
    if not user or not user.is_authenticated or not user.is_active:
        return SurveyResponse.objects.none()
    qs = SurveyResponse.objects.select_related(
        "invitation",
        "invitation__contact",
        "invitation__agent",
        "invitation__agent__agent",
        "invitation__team",
        "invitation__inbox",
    )
    ids = inbox_ids_visible_to(user)
    if ids is not None:
        qs = qs.filter(invitation__conversation__inbox_id__in=ids)
    return qs


def response_list(user: AbstractBaseUser) -> QuerySet[SurveyResponse]:
    return responses_visible_to(user).order_by("-answered_at", "-id")


def _agent_name(user) -> str | None:
    if user is None:
        return None
    profile = getattr(user, "agent", None)
    return profile.display_name if profile else user.get_username()


def contact_survey_history(user, contact) -> list[dict]:
    """A contact's surveys (sent, answered or expired), newest first, with their answers.

    The person includes contacts merged into this one; only conversations the user may see.
    """
    if not user or not user.is_authenticated or not user.is_active:
        return []
    qs = (
        SurveyInvitation.objects.filter(Q(contact=contact) | Q(contact__merged_into=contact))
        .filter(status__in=SHOWN_STATUSES)
        .select_related("agent", "agent__agent", "team", "response")
        .order_by("-sent_at", "-id")
    )
    ids = inbox_ids_visible_to(user)
    if ids is not None:
        qs = qs.filter(conversation__inbox_id__in=ids)
    history = []
    for invitation in qs[:100]:
        response = getattr(invitation, "response", None)
        history.append(
            {
                "invitation_id": invitation.pk,
                "conversation_id": invitation.conversation_id,
                "resolution_number": invitation.resolution_number,
                "status": invitation.status,
                "channel": invitation.channel,
                "sent_at": invitation.sent_at.isoformat() if invitation.sent_at else None,
                "answered_at": response.answered_at.isoformat() if response else None,
                "csat": response.csat if response else None,
                "ces": response.ces if response else None,
                "nps": response.nps if response else None,
                "comment": response.comment if response else "",
                "agent": {"id": invitation.agent_id, "name": _agent_name(invitation.agent)}
                if invitation.agent_id
                else None,
                "team": {"id": invitation.team_id, "name": invitation.team.name} if invitation.team_id else None,
            }
        )
    return history


def due_invitation_ids(*, limit: int = 500) -> list[int]:
    """Scheduled invitations whose time has come, oldest first."""
    return list(
        SurveyInvitation.objects.filter(status=SurveyInvitation.Status.SCHEDULED, scheduled_for__lte=timezone.now())
        .order_by("scheduled_for", "id")
        .values_list("pk", flat=True)[:limit]
    )


def policy_inboxes(user: AbstractBaseUser):
    """Inboxes whose survey policy the user may read, with their policy (or None for the defaults)."""
    inboxes = list(inboxes_visible_to(user).order_by("id"))
    policies = {p.inbox_id: p for p in SurveyPolicy.objects.filter(inbox__in=inboxes)}
    return [(inbox, policies.get(inbox.pk)) for inbox in inboxes]


def invitation_for_token(token) -> SurveyInvitation | None:
    """The invitation behind a raw survey token (None for anything that is not one)."""
    if not isinstance(token, str) or not 16 <= len(token) <= 128:
        return None
    return (
        SurveyInvitation.objects.select_related("inbox", "response", "contact")
        .filter(token_hash=hash_token(token))
        .first()
    )
