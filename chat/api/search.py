"""GET /api/v1/search/?q=…: one box over messages, contacts and conversation subjects (docs/search.md)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import search, selectors
from chat.payloads import sender_name

HIGHLIGHT_HELP = "The text as [piece, is_match] pairs: show matches marked, every piece as text."


def _highlight_field(**kwargs):
    return serializers.ListField(
        child=serializers.ListField(child=serializers.JSONField(), min_length=2, max_length=2),
        help_text=HIGHLIGHT_HELP,
        **kwargs,
    )


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(
        allow_blank=True,
        trim_whitespace=False,
        help_text=f'Words, "a phrase", -excluded, a or b (websearch syntax); at most {search.QUERY_MAX_CHARS} '
        "characters. Empty, too long or malformed: 400 search_empty, search_too_long, search_malformed.",
    )
    inbox = serializers.IntegerField(required=False, min_value=1, help_text="Only this inbox (one you see).")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=selectors.SEARCH_LIMIT_MAX, default=20)


class MessageHitSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()
    inbox_id = serializers.IntegerField()
    seq = serializers.IntegerField()
    sender = serializers.DictField()
    channel = serializers.CharField()
    is_note = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    highlight = _highlight_field()


class ContactHitSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.CharField()
    phone = serializers.CharField()
    conversation_id = serializers.IntegerField(allow_null=True, help_text="Their latest conversation you see.")
    highlight = serializers.DictField(
        child=_highlight_field(), help_text="name, email, phone and the matching attributes (`key: value`)."
    )


class ConversationHitSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    inbox_id = serializers.IntegerField()
    contact_id = serializers.IntegerField()
    status = serializers.CharField()
    subject = serializers.CharField()
    last_activity_at = serializers.DateTimeField()
    highlight = _highlight_field()


class SearchResultSerializer(serializers.Serializer):
    query = serializers.CharField()
    messages = MessageHitSerializer(many=True)
    contacts = ContactHitSerializer(many=True)
    conversations = ConversationHitSerializer(many=True)


def _contact_hit(contact, query) -> dict:
    marked = {field: search.highlight(getattr(contact, field), query) for field in ("name", "email", "phone")}
    for key, value in (contact.attributes or {}).items() if isinstance(contact.attributes, dict) else []:
        pieces = search.highlight(f"{key}: {value}", query)
        if any(is_match for _piece, is_match in pieces):
            marked[f"attributes.{key}"] = pieces
    return {
        "id": contact.pk,
        "name": contact.name,
        "email": contact.email,
        "phone": contact.phone,
        "conversation_id": contact.latest_conversation_id,
        "highlight": marked,
    }


class SearchView(APIView):
    """Everything the user may see that matches, newest first, with the matches marked."""

    @extend_schema(parameters=[SearchQuerySerializer], responses=SearchResultSerializer)
    def get(self, request):
        params = SearchQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        query = search.parse(data["q"])
        inbox = selectors.inbox_get(request.user, data["inbox"]) if data.get("inbox") else None
        found = selectors.search(request.user, query, inbox=inbox, limit=data["limit"])
        return Response(
            {
                "query": query.text,
                "messages": [
                    {
                        "id": message.pk,
                        "conversation_id": message.conversation_id,
                        "inbox_id": message.inbox_id,
                        "seq": message.seq,
                        "sender": {"kind": message.sender_kind, "name": sender_name(message)},
                        "channel": message.channel,
                        "is_note": message.is_note,
                        "created_at": message.created_at,
                        "highlight": search.highlight(message.body, query),
                    }
                    for message in found["messages"]
                ],
                "contacts": [_contact_hit(contact, query) for contact in found["contacts"]],
                "conversations": [
                    {
                        "id": conversation.pk,
                        "inbox_id": conversation.inbox_id,
                        "contact_id": conversation.contact_id,
                        "status": conversation.status,
                        "subject": conversation.subject,
                        "last_activity_at": conversation.last_activity_at,
                        "highlight": search.highlight(conversation.subject, query),
                    }
                    for conversation in found["conversations"]
                ],
            }
        )
