"""Survey answers for the dashboard's browser tests: a real resolution, a real invitation, a real answer."""

from datetime import timedelta

from django.utils import timezone

from chat import services
from chat.models import hash_token
from feedback import services as feedback_services
from feedback.models import SurveyInvitation
from tests.factories import ContactFactory, conversation_with

from .conftest import server_side


def resolved_with_invitation(inbox, agent, *, name: str = "", channel: str | None = None) -> tuple:
    """A customer writes, the agent takes it, replies and resolves: the survey goes out (eager Celery).

    Returns the invitation and a token for it (only a token's hash is stored, so the test sets
    a known one, as the survey tests do).
    """

    def run():
        conversation = conversation_with(inbox, ContactFactory(name=name or "Customer"), channel=channel)
        services.conversation_assign(conversation=conversation, assignee=agent)  # the credit is theirs
        services.message_send(conversation=conversation, by=agent, body="Here is your answer.")
        services.conversation_resolve(conversation=conversation, by=agent)
        invitation = SurveyInvitation.objects.get(conversation=conversation)
        assert invitation.status == SurveyInvitation.Status.SENT, invitation.status
        token = f"e2e-token-{invitation.pk:08d}-abcdefgh"
        SurveyInvitation.objects.filter(pk=invitation.pk).update(token_hash=hash_token(token))
        return invitation, token

    return server_side(run)


def answer(token: str, **scores):
    """The customer answers (the survey page, the widget and SMS all call this service)."""
    return server_side(feedback_services.survey_answer, token=token, channel=None, **scores)


def answered_days_ago(inbox, agent, days: int, **scores):
    """An answer given `days` ago: the conversation, invitation and answer all dated back."""
    from feedback import pipeline
    from feedback.models import SurveyResponse

    invitation, token = resolved_with_invitation(inbox, agent)
    response = answer(token, **scores)
    then = timezone.now() - timedelta(days=days)

    def backdate():
        SurveyInvitation.objects.filter(pk=invitation.pk).update(sent_at=then, answered_at=then)
        SurveyResponse.objects.filter(pk=response.pk).update(answered_at=then, updated_at=then)
        pipeline.refresh_conversations([invitation.conversation_id])

    server_side(backdate)
    return response
