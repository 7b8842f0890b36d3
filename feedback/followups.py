"""Writes of the closed loop: a detractor answer opens a follow-up and marks the contact at risk.

METRICS.md: a detractor answer (CSAT ≤ 2, CES ≤ 3 or NPS ≤ 6) opens a FollowUp for the team
lead and marks the contact at risk for 30 days; chat.services.message_receive then opens the
contact's next conversation at high priority with the retention team.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from chat.models import Contact, Team
from chat.selectors import root_contact, user_is_supervisor
from cxhub.errors import Conflict, InvalidInput

from . import metrics
from .models import FollowUp, SurveyResponse

NOTE_MAX_CHARS = 5000


def followup_owner_for(*, inbox) -> AbstractBaseUser | None:
    """The retention team's lead, else the inbox's default team's lead, else nobody (yet)."""
    retention = Team.objects.filter(is_retention=True, lead__isnull=False).select_related("lead").order_by("id").first()
    if retention is not None:
        return retention.lead
    team = inbox.default_team
    return team.lead if team is not None and team.lead_id else None


def followup_open_for_response(*, response_id: int) -> FollowUp | None:
    """Idempotent: one follow-up per detractor response; the at-risk mark counts from the answer."""
    response = (
        SurveyResponse.objects.select_related("invitation", "invitation__inbox", "invitation__inbox__default_team")
        .filter(pk=response_id)
        .first()
    )
    if response is None:
        return None
    if not metrics.is_detractor_answer(csat=response.csat, ces=response.ces, nps=response.nps):
        return None
    invitation = response.invitation
    try:
        with transaction.atomic():
            contact = Contact.objects.select_for_update().get(pk=root_contact(invitation.contact).pk)
            at_risk_until = response.answered_at + metrics.AT_RISK_FOR
            if contact.at_risk_until is None or contact.at_risk_until < at_risk_until:
                contact.at_risk_until = at_risk_until
                contact.save(update_fields=["at_risk_until", "updated_at"])
            follow_up, _ = FollowUp.objects.get_or_create(
                response=response,
                defaults={
                    "contact": contact,
                    "conversation_id": invitation.conversation_id,
                    "owner": followup_owner_for(inbox=invitation.inbox),
                    "created_at": response.answered_at,
                },
            )
            return follow_up
    except IntegrityError:
        # Two deliveries of the same answer raced: the other one opened it.
        return FollowUp.objects.filter(response=response).first()


@transaction.atomic
def followup_assign(*, follow_up: FollowUp, owner: AbstractBaseUser, by) -> FollowUp:
    """Give a follow-up to someone who can see its conversation's inbox."""
    follow_up = FollowUp.objects.select_for_update().get(pk=follow_up.pk)
    if follow_up.status == FollowUp.Status.CLOSED:
        raise Conflict("This follow-up is closed.", code="follow_up_closed")
    if not owner.is_active:
        raise InvalidInput("That user is deactivated.", fields={"owner": ["Inactive user."]})
    inbox_id = follow_up.conversation.inbox_id
    if not user_is_supervisor(owner) and not owner.inbox_memberships.filter(inbox_id=inbox_id).exists():
        raise InvalidInput("That agent is not a member of this inbox.", fields={"owner": ["Not a member."]})
    follow_up.owner = owner
    follow_up.save(update_fields=["owner"])
    return follow_up


@transaction.atomic
def followup_close(*, follow_up: FollowUp, by, note: str) -> FollowUp:
    """Close with a note saying what was done; closing twice is a conflict, not a second close."""
    note = (note or "").strip() if isinstance(note, str) else ""
    if not note:
        raise InvalidInput("Say what was done.", fields={"note": ["This field may not be blank."]})
    if len(note) > NOTE_MAX_CHARS:
        raise InvalidInput("The note is too long.", fields={"note": [f"At most {NOTE_MAX_CHARS} characters."]})
    follow_up = FollowUp.objects.select_for_update().get(pk=follow_up.pk)
    if follow_up.status == FollowUp.Status.CLOSED:
        raise Conflict("This follow-up is already closed.", code="follow_up_closed")
    follow_up.status = FollowUp.Status.CLOSED
    follow_up.note = note
    follow_up.closed_at = timezone.now()
    if follow_up.owner_id is None:
        follow_up.owner = by
    follow_up.save(update_fields=["status", "note", "closed_at", "owner"])
    return follow_up
