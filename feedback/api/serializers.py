"""Serializers of the survey API: responses out, policies in and out."""

from datetime import timedelta

from django.utils import translation
from rest_framework import serializers

from chat.models import Channel
from feedback.questions import QUESTIONS, questions_for

DAY = 86400


class SurveyResponseSerializer(serializers.Serializer):
    """One answer, with the snapshot of the resolution it rates (who and where gets the credit)."""

    id = serializers.IntegerField()
    invitation_id = serializers.IntegerField()
    conversation_id = serializers.IntegerField(source="invitation.conversation_id")
    resolution_number = serializers.IntegerField(source="invitation.resolution_number")
    contact = serializers.SerializerMethodField()
    inbox_id = serializers.IntegerField(source="invitation.inbox_id")
    agent = serializers.SerializerMethodField()
    team = serializers.SerializerMethodField()
    channel = serializers.CharField(source="invitation.channel", help_text="The channel the survey was sent on.")
    answered_channel = serializers.CharField(source="channel", help_text="The channel the answer came from.")
    csat = serializers.IntegerField(allow_null=True)
    ces = serializers.IntegerField(allow_null=True)
    nps = serializers.IntegerField(allow_null=True)
    comment = serializers.CharField()
    sent_at = serializers.DateTimeField(source="invitation.sent_at")
    answered_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_contact(self, response) -> dict:
        contact = response.invitation.contact
        return {"id": contact.pk, "name": str(contact)}

    def get_agent(self, response) -> dict | None:
        user = response.invitation.agent
        if user is None:
            return None
        profile = getattr(user, "agent", None)
        return {"id": user.pk, "name": profile.display_name if profile else user.get_username()}

    def get_team(self, response) -> dict | None:
        team = response.invitation.team
        return {"id": team.pk, "name": team.name} if team else None


class QuestionSerializer(serializers.Serializer):
    key = serializers.CharField()
    text = serializers.CharField()
    min = serializers.IntegerField(source="low", allow_null=True)
    max = serializers.IntegerField(source="high", allow_null=True)


class SurveyPolicySerializer(serializers.Serializer):
    """An inbox's survey policy (the defaults when none was set); durations in seconds."""

    inbox_id = serializers.IntegerField(source="inbox.pk")
    inbox_name = serializers.CharField(source="inbox.name")
    enabled = serializers.BooleanField()
    questions = serializers.ListField(child=serializers.CharField())
    wording = serializers.DictField(
        help_text='The inbox\'s own question texts by language, e.g. {"ru": {"csat": "…"}}; '
        "the others are the default wording in each language."
    )
    effective_questions = serializers.SerializerMethodField()
    delay_seconds = serializers.SerializerMethodField()
    expiry_seconds = serializers.SerializerMethodField()
    cooldown_seconds = serializers.SerializerMethodField()
    sample_rate = serializers.FloatField()
    skip_without_agent_reply = serializers.BooleanField()
    skip_bot_resolved = serializers.BooleanField()
    channels = serializers.ListField(child=serializers.CharField())

    def get_effective_questions(self, policy) -> list[dict]:
        """The questions as customers of the inbox's default language read them."""
        with translation.override(policy.inbox.language):
            questions = questions_for(policy.questions, policy.wording, default_language=policy.inbox.language)
        return QuestionSerializer(questions, many=True).data

    def get_delay_seconds(self, policy) -> int:
        return int(policy.delay.total_seconds())

    def get_expiry_seconds(self, policy) -> int:
        return int(policy.expiry.total_seconds())

    def get_cooldown_seconds(self, policy) -> int:
        return int(policy.cooldown.total_seconds())


class SurveyPolicyUpdateSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(required=False)
    questions = serializers.ListField(
        child=serializers.ChoiceField(choices=list(QUESTIONS)), required=False, allow_empty=False, max_length=4
    )
    wording = serializers.DictField(
        required=False,
        help_text='Question texts by language, e.g. {"ru": {"csat": "…"}} (a flat {"csat": "…"} is the inbox\'s '
        "default language); an empty text goes back to the default wording. A question asked by SMS must fit "
        "one text message in its language.",
    )
    delay_seconds = serializers.IntegerField(required=False, min_value=0, max_value=7 * DAY)
    expiry_seconds = serializers.IntegerField(required=False, min_value=3600, max_value=90 * DAY)
    cooldown_seconds = serializers.IntegerField(required=False, min_value=0, max_value=365 * DAY)
    sample_rate = serializers.FloatField(required=False, min_value=0, max_value=1)
    skip_without_agent_reply = serializers.BooleanField(required=False)
    skip_bot_resolved = serializers.BooleanField(required=False)
    channels = serializers.ListField(
        child=serializers.ChoiceField(choices=[Channel.WEB, Channel.EMAIL, Channel.SMS]), required=False, max_length=3
    )

    def to_service_fields(self) -> dict:
        """The validated data as the service's fields (durations as timedelta)."""
        fields = dict(self.validated_data)
        for name in ("delay", "expiry", "cooldown"):
            if f"{name}_seconds" in fields:
                fields[name] = timedelta(seconds=fields.pop(f"{name}_seconds"))
        return fields
