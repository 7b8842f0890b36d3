"""Serializers: the JSON shapes of the REST API. Reads only; writes go through services."""

from django.conf import settings
from django.utils.translation import get_language_info
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from chat import attachments
from chat.models import (
    INBOX_CHANNEL_CHOICES,
    AgentProfile,
    AttributeDefinition,
    Channel,
    Contact,
    ContactIdentity,
    Conversation,
    ConversationEvent,
    Inbox,
    Label,
    Message,
    Priority,
    SlaPolicy,
    Team,
)
from chat.payloads import email_subject, sender_name, shortened, sla_clocks
from chat.selectors import MAX_ID


class AttachmentLimitsSerializer(serializers.Serializer):
    kinds = serializers.ListField(child=serializers.CharField(), help_text="Any of image, pdf, text, office.")
    max_bytes = serializers.IntegerField(help_text="The largest file accepted.")
    extensions = serializers.ListField(child=serializers.CharField(), help_text="File name endings accepted.")


class InboxSerializer(serializers.ModelSerializer):
    class Meta:
        model = Inbox
        fields = [
            "id",
            "public_id",
            "name",
            "channel",
            "email_address",
            "phone_number",
            "allowed_origins",
            "prechat_form",
            "greeting",
            "default_team",
            "attachments",
            "created_at",
        ]

    attachments = serializers.SerializerMethodField(help_text="The files this inbox accepts.")

    @extend_schema_field(AttachmentLimitsSerializer)
    def get_attachments(self, inbox) -> dict:
        return attachments.limits_of(inbox)


class InboxRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Inbox
        fields = ["id", "public_id", "name", "channel", "language"]
        extra_kwargs = {"language": {"help_text": "The default language of its customers."}}


class TeamSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "lead", "is_retention"]


class AgentSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="user_id", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    teams = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    open_conversations = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = AgentProfile
        fields = [
            "id",
            "username",
            "display_name",
            "availability",
            "capacity",
            "is_supervisor",
            "teams",
            "open_conversations",
        ]


class AgentListQuerySerializer(serializers.Serializer):
    inbox = serializers.CharField(
        required=False, max_length=64, help_text="Only who can take a conversation of this inbox (id or public id)."
    )


class AvailabilitySerializer(serializers.Serializer):
    availability = serializers.ChoiceField(choices=AgentProfile.Availability.choices)


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.SerializerMethodField()

    def get_name(self, user) -> str:
        profile = getattr(user, "agent", None)
        return profile.display_name if profile else user.get_username()


class ContactRefSerializer(serializers.ModelSerializer):
    at_risk = serializers.BooleanField(source="is_at_risk", read_only=True)

    class Meta:
        model = Contact
        fields = ["id", "name", "email", "phone", "at_risk"]


class BusinessHoursSerializer(serializers.Serializer):
    """An inbox's business hours (docs/sla.md); `open_now` and `back_at` are read-only."""

    business_hours = serializers.JSONField(
        required=False,
        help_text='{} for always open, or {"time_zone": "Europe/Paris", "days": {"mon": [["09:00", "17:00"]], …}, '
        '"holidays": [{"date": "2026-12-25"}, {"start": "2026-12-31T18:00", "end": "2027-01-02T08:00"}]}',
    )
    pending_auto_resolve_days = serializers.IntegerField(
        required=False, help_text="Days a pending conversation waits for the customer before the system resolves it."
    )
    open_now = serializers.BooleanField(read_only=True)
    back_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="When it opens next, when closed.")


class SlaPolicySerializer(serializers.ModelSerializer):
    """Targets in seconds (null: no target); business_hours: count only the inbox's open hours."""

    priority = serializers.ChoiceField(choices=Priority.choices)
    first_response_seconds = serializers.IntegerField(allow_null=True, required=False)
    next_response_seconds = serializers.IntegerField(allow_null=True, required=False)
    resolution_seconds = serializers.IntegerField(allow_null=True, required=False)
    business_hours = serializers.BooleanField(required=False, default=True)

    class Meta:
        model = SlaPolicy
        fields = ["priority", "first_response_seconds", "next_response_seconds", "resolution_seconds", "business_hours"]


class SlaClockSerializer(serializers.Serializer):
    target = serializers.ChoiceField(choices=["first_response", "next_response", "resolution"])
    target_seconds = serializers.IntegerField(help_text="The policy's target for this clock.")
    due_at = serializers.DateTimeField(allow_null=True, help_text="Null while paused or without a target.")
    warn_at = serializers.DateTimeField(allow_null=True)
    warned = serializers.BooleanField()
    breached = serializers.BooleanField()
    paused = serializers.BooleanField(help_text="Pending or snoozed: the clock stands still.")


class LabelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Label
        fields = ["id", "name", "colour"]
        extra_kwargs = {"colour": {"help_text": '"#rrggbb"'}}


class LastMessageSerializer(serializers.Serializer):
    body = serializers.CharField(help_text="Its first 160 characters.")
    sender_kind = serializers.ChoiceField(choices=Message.SenderKind.choices)
    created_at = serializers.DateTimeField()


class ConversationSerializer(serializers.ModelSerializer):
    inbox = InboxRefSerializer(read_only=True)
    contact = ContactRefSerializer(read_only=True)
    assignee = UserRefSerializer(read_only=True, allow_null=True)
    team = TeamSerializer(read_only=True, allow_null=True)
    previous_id = serializers.IntegerField(read_only=True, allow_null=True)
    sla = serializers.SerializerMethodField(help_text="The running SLA clocks, soonest due first (docs/sla.md).")
    sla_due_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="The soonest due time.")
    unread_count = serializers.SerializerMethodField(
        help_text="The customer's messages the asking agent has not read (after their read marker)."
    )
    last_message = serializers.SerializerMethodField(help_text="The last message that is not a note (the preview).")
    labels = LabelSerializer(many=True, read_only=True)
    participants = serializers.SerializerMethodField(help_text="User ids of the agents who follow it.")

    class Meta:
        model = Conversation
        fields = [
            "id",
            "status",
            "priority",
            "subject",
            "inbox",
            "contact",
            "assignee",
            "team",
            "opened_at",
            "first_reply_at",
            "resolved_at",
            "snoozed_until",
            "last_activity_at",
            "last_seq",
            "last_customer_channel",
            "reopen_count",
            "previous_id",
            "pending_resolve_at",
            "sla_due_at",
            "sla",
            "waiting_since",
            "unread_count",
            "last_message",
            "labels",
            "participants",
        ]
        extra_kwargs = {
            "waiting_since": {"help_text": "When the customer's first unanswered message came; null: nobody waits."}
        }

    def get_participants(self, conversation) -> list[int]:
        return sorted(participant.user_id for participant in conversation.participants.all())

    def get_unread_count(self, conversation) -> int:
        return getattr(conversation, "unread_count", None) or 0

    @extend_schema_field(LastMessageSerializer(allow_null=True))
    def get_last_message(self, conversation) -> dict | None:
        if getattr(conversation, "last_message_at", None) is None:
            return None
        return LastMessageSerializer(
            {
                "body": conversation.last_message_body or "",
                "sender_kind": conversation.last_message_sender,
                "created_at": conversation.last_message_at,
            }
        ).data

    @extend_schema_field(SlaClockSerializer(many=True))
    def get_sla(self, conversation) -> list[dict]:
        return sla_clocks(conversation)


class ReplyChannelSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=INBOX_CHANNEL_CHOICES)
    available = serializers.BooleanField()
    reason = serializers.CharField(
        help_text="Why not, as a code: no_web_session, no_email_inbox, no_email_address, no_sms_inbox, "
        "sms_not_configured, no_phone_number, opted_out; empty when available."
    )
    detail = serializers.CharField(help_text="The same in words, for the agent.")


class ConversationDetailSerializer(ConversationSerializer):
    """One conversation: the list's fields, and the channels a reply can reach the customer on."""

    reply_channels = serializers.SerializerMethodField()

    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "reply_channels"]

    @extend_schema_field(ReplyChannelSerializer(many=True))
    def get_reply_channels(self, conversation) -> list[dict]:
        from chat.connectors.outbound import reply_channels

        return reply_channels(conversation)


class RefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class TimelineEventSerializer(serializers.Serializer):
    """A conversation event as the console shows it, among the messages (agents only)."""

    id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=sorted(ConversationEvent.TIMELINE_KINDS))
    actor = RefSerializer(allow_null=True, help_text="Who did it; null for the system (routing, timers).")
    data = serializers.DictField(
        help_text="By kind: assigned {assignee, reason}; transferred {from_agent, from_team, to_agent, to_team}; "
        "snoozed {until}; woke {reason: timer|agent|message, was: snoozed|pending}; resolved {by_bot, reason}; "
        "reopened {reopen_count}; priority_changed {from, to}; pending {resolve_at}; sla_warning and "
        "sla_breached {target, due_at, assignee}. Agents and teams as {id, name}."
    )
    after_seq = serializers.IntegerField(help_text="Its place: after the message with this seq (0: before all).")
    created_at = serializers.DateTimeField()


class ConversationListQuerySerializer(serializers.Serializer):
    sort = serializers.ChoiceField(
        choices=["newest", "waiting", "priority", "due"],
        required=False,
        help_text="newest (last activity, the default), waiting (longest waiting first), priority, or due (the "
        "soonest SLA due time first, conversations without a running clock last).",
    )


class ReadSerializer(serializers.Serializer):
    seq = serializers.IntegerField(min_value=0, max_value=MAX_ID, help_text="Read up to this message's seq.")


class ReadMarkerSerializer(serializers.Serializer):
    conversation_id = serializers.IntegerField()
    last_read_seq = serializers.IntegerField()
    unread_count = serializers.IntegerField()


class ConversationUpdateSerializer(serializers.Serializer):
    priority = serializers.ChoiceField(choices=Priority.choices)


class AssignSerializer(serializers.Serializer):
    assignee = serializers.IntegerField(
        allow_null=True, min_value=1, max_value=MAX_ID, help_text="User id of the agent, or null to unassign."
    )


class TransferSerializer(serializers.Serializer):
    agent = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_ID)
    team = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_ID)
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text=f"At most {settings.MESSAGE_BODY_MAX_CHARS} characters (longer: 400 body_too_long).",
    )

    def validate(self, attrs):
        if not attrs.get("agent") and not attrs.get("team"):
            raise serializers.ValidationError("Give an agent, a team, or both.")
        return attrs


class SnoozeSerializer(serializers.Serializer):
    until = serializers.DateTimeField()


class AttachmentSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="As its sender named it: show it as text, never as markup.")
    content_type = serializers.CharField(required=False, help_text="Sniffed from the content, not the name.")
    kind = serializers.CharField(required=False, help_text="image, pdf, text or office.")
    size = serializers.IntegerField(required=False)
    rejected = serializers.CharField(required=False, help_text="Why it was not stored, when it was not.")
    pending = serializers.BooleanField(help_text="SMS media the worker has not fetched yet.")
    url = serializers.CharField(
        allow_null=True, help_text="Download link, signed and expiring, valid in the session of a user who sees it."
    )
    preview_url = serializers.CharField(allow_null=True, help_text="A PNG preview of an image (same rules).")


class ShortenedSerializer(serializers.Serializer):
    original_chars = serializers.IntegerField()
    limit = serializers.IntegerField()
    over_by = serializers.IntegerField()
    attachment = serializers.CharField(help_text="The attachment holding the whole text (email), or empty.")


class MessageSerializer(serializers.ModelSerializer):
    sender = serializers.SerializerMethodField()
    attachments = serializers.SerializerMethodField()
    subject = serializers.SerializerMethodField(help_text="The subject of an inbound email; empty otherwise.")
    shortened = serializers.SerializerMethodField(
        help_text="An inbound email or SMS over the body limit is stored cut: by how much (null when whole)."
    )

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation_id",
            "seq",
            "sender",
            "channel",
            "direction",
            "body",
            "html",
            "attachments",
            "is_note",
            "client_msg_id",
            "delivery_status",
            "delivery_error",
            "subject",
            "shortened",
            "created_at",
        ]

    def get_sender(self, message) -> dict:
        return {"kind": message.sender_kind, "id": message.sender_user_id, "name": sender_name(message)}

    def get_subject(self, message) -> str:
        return email_subject(message)

    @extend_schema_field(ShortenedSerializer(allow_null=True))
    def get_shortened(self, message) -> dict | None:
        return shortened(message)

    @extend_schema_field(AttachmentSerializer(many=True))
    def get_attachments(self, message) -> list[dict]:
        """Stored files are served through signed, expiring links (chat/attachments.py)."""
        return attachments.listing(message.pk, message.attachments, audience=attachments.Audience.AGENT)


class MessageCreateSerializer(serializers.Serializer):
    # The length is checked by the service, so an over-long body is refused with its own code.
    body = serializers.CharField(
        trim_whitespace=False,
        required=False,
        allow_blank=True,
        default="",
        help_text=f"At most {settings.MESSAGE_BODY_MAX_CHARS} characters (longer: 400 body_too_long); "
        "may be empty when files are sent.",
    )
    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True),
        required=False,
        default=list,
        help_text="As multipart/form-data: files checked against the inbox's types and size (400 "
        "attachment_too_large, attachment_type_refused, attachment_content_mismatch; nothing is stored).",
    )
    is_note = serializers.BooleanField(default=False)
    client_msg_id = serializers.CharField(max_length=64, required=False, allow_null=True)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)


class MessageListQuerySerializer(serializers.Serializer):
    after_seq = serializers.IntegerField(min_value=0, max_value=MAX_ID, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=500, default=100)


class IdentitySerializer(serializers.ModelSerializer):
    class Meta:
        model = ContactIdentity
        fields = ["id", "kind", "value", "verified", "created_at"]


class ContactSerializer(serializers.ModelSerializer):
    identities = IdentitySerializer(many=True, read_only=True)
    at_risk = serializers.BooleanField(source="is_at_risk", read_only=True)
    labels = LabelSerializer(many=True, read_only=True)

    class Meta:
        model = Contact
        fields = [
            "id",
            "name",
            "email",
            "phone",
            "external_id",
            "attributes",
            "at_risk",
            "at_risk_until",
            "merged_into",
            "identities",
            "labels",
            "created_at",
            "updated_at",
        ]


class ConversationHistorySerializer(serializers.ModelSerializer):
    inbox = InboxRefSerializer(read_only=True)
    message_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Conversation
        fields = ["id", "status", "subject", "inbox", "opened_at", "resolved_at", "message_count", "previous_id"]


class ContactLanguageSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="A shipped language code, e.g. `zh-hans`.")
    name = serializers.CharField(help_text="Its name in the reader's language.")
    name_local = serializers.CharField(help_text="Its name in itself.")
    source = serializers.CharField(help_text="browser, email, website or agent: where it came from.")


class ContactDetailSerializer(ContactSerializer):
    conversations = serializers.SerializerMethodField()
    merged_contacts = serializers.SerializerMethodField()
    survey_history = serializers.SerializerMethodField()
    language = serializers.SerializerMethodField(
        help_text="The contact's own language (null: not known; their inbox's default applies)."
    )

    class Meta(ContactSerializer.Meta):
        fields = [
            *ContactSerializer.Meta.fields,
            "locale",
            "time_zone",
            "language",
            "conversations",
            "merged_contacts",
            "survey_history",
        ]

    @extend_schema_field(ContactLanguageSerializer(allow_null=True))
    def get_language(self, contact) -> dict | None:
        if not contact.locale:
            return None
        info = get_language_info(contact.locale)
        return {
            "code": contact.locale,
            "name": info["name_translated"],
            "name_local": info["name_local"],
            "source": contact.locale_source,
        }

    def get_conversations(self, contact) -> list[dict]:
        return ConversationHistorySerializer(self.context["history"], many=True).data

    def get_merged_contacts(self, contact) -> list[int]:
        return list(contact.merged_contacts.values_list("pk", flat=True))

    def get_survey_history(self, contact) -> list[dict]:
        return self.context.get("survey_history", [])


class ContactUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    email = serializers.CharField(max_length=254, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True, help_text="Stored as E.164.")
    attributes = serializers.DictField(
        required=False,
        help_text="Merged into the contact's: a defined attribute is checked against its kind; null removes one.",
    )
    locale = serializers.CharField(
        max_length=35,
        required=False,
        allow_blank=True,
        help_text="The contact's language (a shipped code or a tag such as `ru-RU`; empty: not known). "
        "It wins over what their browser or email says; one cxhub does not speak is a 400.",
    )
    time_zone = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text='An IANA name, e.g. "Europe/Moscow".'
    )


class MergeSerializer(serializers.Serializer):
    source_id = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text="The contact merged into this one.")


class LabelChangeSerializer(serializers.Serializer):
    add = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False, max_length=50, default=list
    )
    remove = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False, max_length=50, default=list
    )


class BulkSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        min_length=1,
        max_length=100,
        help_text="1 to 100 conversation ids; one that is not yours (or missing) makes it a 404 and none change.",
    )
    action = serializers.ChoiceField(choices=["assign", "label", "snooze", "resolve"])
    assignee = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_ID, help_text="assign: a user id, or null."
    )
    add = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False, max_length=50, default=list
    )
    remove = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False, max_length=50, default=list
    )
    until = serializers.DateTimeField(required=False, help_text="snooze: until when (in the future).")

    def validate(self, attrs):
        if attrs["action"] == "assign" and "assignee" not in attrs:
            raise serializers.ValidationError({"assignee": ["Give a user id, or null to unassign."]})
        return attrs


class BulkResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    ok = serializers.BooleanField()
    code = serializers.CharField(help_text="Why it failed (an error code); empty when it worked.")
    detail = serializers.CharField()


class BulkResponseSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    results = BulkResultSerializer(many=True)


class ContactNoteSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    body = serializers.CharField()
    author = UserRefSerializer(allow_null=True)
    created_at = serializers.DateTimeField()


class ContactNoteCreateSerializer(serializers.Serializer):
    body = serializers.CharField(help_text=f"At most {settings.MESSAGE_BODY_MAX_CHARS} characters.")


class AttributeDefinitionSerializer(serializers.ModelSerializer):
    class Meta:
        model = AttributeDefinition
        fields = ["id", "key", "label", "kind", "options"]
