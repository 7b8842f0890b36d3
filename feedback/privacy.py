"""feedback's part of a person's data for chat's export and erasure (chat/privacy.py).

Erasure keeps the invitations and scores the metrics count and empties what the person wrote
(survey comments) and what was written about them (follow-up notes).
"""

from chat.privacy import iso

from .models import FollowUp, SurveyInvitation, SurveyResponse


def export(contact_ids: list[int]) -> dict:
    """The person's survey invitations with their answers, and the follow-ups about them."""
    surveys = []
    invitations = SurveyInvitation.objects.filter(contact_id__in=contact_ids).select_related("response")
    for invitation in invitations.order_by("pk"):
        response = getattr(invitation, "response", None)
        surveys.append(
            {
                "invitation_id": invitation.pk,
                "conversation_id": invitation.conversation_id,
                "channel": invitation.channel,
                "status": invitation.status,
                "questions": invitation.questions,
                "sent_at": iso(invitation.sent_at),
                "answered_at": iso(invitation.answered_at),
                "response": None
                if response is None
                else {
                    "csat": response.csat,
                    "ces": response.ces,
                    "nps": response.nps,
                    "comment": response.comment,
                    "channel": response.channel,
                    "answered_at": iso(response.answered_at),
                    "updated_at": iso(response.updated_at),
                },
            }
        )
    follow_ups = [
        {
            "id": follow_up.pk,
            "conversation_id": follow_up.conversation_id,
            "status": follow_up.status,
            "note": follow_up.note,
            "created_at": iso(follow_up.created_at),
            "closed_at": iso(follow_up.closed_at),
        }
        for follow_up in FollowUp.objects.filter(contact_id__in=contact_ids).order_by("pk")
    ]
    return {"surveys": surveys, "follow_ups": follow_ups}


def erase(contact_ids: list[int]) -> dict:
    return {
        "survey_comments": SurveyResponse.objects.filter(invitation__contact_id__in=contact_ids).update(comment=""),
        "follow_up_notes": FollowUp.objects.filter(contact_id__in=contact_ids).update(note=""),
    }
