"""Writes of the closed loop: a detractor answer opens a follow-up and marks the contact at risk.

docs/metrics.md: a detractor answer (CSAT ≤ 2, CES ≤ 3 or NPS ≤ 6) opens a FollowUp for the team
lead and marks the contact at risk for 30 days; chat.services.message_receive then opens the
contact's next conversation at high priority with the retention team.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from chat.models import Contact, Inbox, Team
from chat.selectors import root_contact, user_is_supervisor
from cxhub.db import update_rows
from cxhub.errors import Conflict, InvalidInput
from feedback.errors import ErrorCode

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
    followups_open_for_responses(response_ids=[response_id])
    return FollowUp.objects.filter(response_id=response_id).first()


def followups_open_for_responses(*, response_ids: Iterable[int]) -> int:
    """The closed loop for many answers at once (the pipeline's batch); the detractors among them.

    Idempotent: a response has at most one follow-up (a second run, or a race, inserts
    nothing), and a contact's at-risk mark is the latest answer time + 30 days, never moved back.
    Contacts are locked in id order (after the pipeline's facts and rollups; ADR 0003).
    """
    ids = sorted(set(response_ids))
    if not ids:
        return 0
    rows = SurveyResponse.objects.filter(pk__in=ids).order_by("pk")
    answers = [
        a
        for a in rows.values(
            "pk",
            "csat",
            "ces",
            "nps",
            "answered_at",
            "invitation__conversation_id",
            "invitation__contact_id",
            "invitation__contact__merged_into_id",
            "invitation__inbox_id",
        )
        if metrics.is_detractor_answer(csat=a["csat"], ces=a["ces"], nps=a["nps"])
    ]
    if not answers:
        return 0
    now = timezone.now()
    with transaction.atomic():
        person = {}  # response → the contact that stands for the person now
        for a in answers:
            merged = a["invitation__contact__merged_into_id"] is not None
            contact = a["invitation__contact_id"]
            person[a["pk"]] = root_contact(Contact.objects.get(pk=contact)).pk if merged else contact
        contacts = Contact.objects.select_for_update().filter(pk__in=set(person.values())).order_by("pk")
        contacts = {c.pk: c for c in contacts.only("at_risk_until", "updated_at")}
        marked = {}
        for a in answers:
            contact = contacts[person[a["pk"]]]
            at_risk_until = a["answered_at"] + metrics.AT_RISK_FOR
            if contact.at_risk_until is None or contact.at_risk_until < at_risk_until:
                contact.at_risk_until, contact.updated_at = at_risk_until, now
                marked[contact.pk] = contact
        update_rows(list(marked.values()), ["at_risk_until", "updated_at"])
        inboxes = Inbox.objects.select_related("default_team").in_bulk({a["invitation__inbox_id"] for a in answers})
        owners = {pk: followup_owner_for(inbox=inbox) for pk, inbox in inboxes.items()}
        FollowUp.objects.bulk_create(
            [
                FollowUp(
                    response_id=a["pk"],
                    contact_id=person[a["pk"]],
                    conversation_id=a["invitation__conversation_id"],
                    owner=owners[a["invitation__inbox_id"]],
                    created_at=a["answered_at"],
                )
                for a in answers
            ],
            ignore_conflicts=True,
        )
    return len(answers)


@transaction.atomic
def followup_assign(*, follow_up: FollowUp, owner: AbstractBaseUser, by) -> FollowUp:
    """Give a follow-up to someone who can see its conversation's inbox."""
    follow_up = FollowUp.objects.select_for_update().get(pk=follow_up.pk)
    if follow_up.status == FollowUp.Status.CLOSED:
        raise Conflict("This follow-up is closed.", code=ErrorCode.FOLLOW_UP_CLOSED)
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
        raise Conflict("This follow-up is already closed.", code=ErrorCode.FOLLOW_UP_CLOSED)
    follow_up.status = FollowUp.Status.CLOSED
    follow_up.note = note
    follow_up.closed_at = timezone.now()
    if follow_up.owner_id is None:
        follow_up.owner = by
    follow_up.save(update_fields=["status", "note", "closed_at", "owner"])
    return follow_up
