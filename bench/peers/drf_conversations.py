"""Peer of conversation_list: a plain DRF ModelViewSet with nested serializers (the N+1 version).

What a first version of the endpoint usually looks like: nested ModelSerializers for every
related object, no select_related, page-number pagination (COUNT + OFFSET). Mounted only by
bench/urls.py at /bench/peer/conversations/.
"""

from django.contrib.auth import get_user_model
from rest_framework import pagination, serializers, viewsets
from rest_framework.routers import SimpleRouter

from chat.models import AgentProfile, Contact, Conversation, Inbox, Team


class ContactSerializer(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "name", "email", "phone", "at_risk_until"]


class InboxSerializer(serializers.ModelSerializer):
    class Meta:
        model = Inbox
        fields = ["id", "public_id", "name", "channel"]


class AgentProfileSerializer(serializers.ModelSerializer):
    class Meta:
        model = AgentProfile
        fields = ["display_name", "availability"]


class UserSerializer(serializers.ModelSerializer):
    agent = AgentProfileSerializer(read_only=True)

    class Meta:
        model = get_user_model()
        fields = ["id", "username", "agent"]


class TeamSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "lead", "is_retention"]


class ConversationSerializer(serializers.ModelSerializer):
    contact = ContactSerializer(read_only=True)
    inbox = InboxSerializer(read_only=True)
    assignee = UserSerializer(read_only=True)
    team = TeamSerializer(read_only=True)

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
            "previous",
        ]


class PagePagination(pagination.PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class ConversationViewSet(viewsets.ModelViewSet):
    serializer_class = ConversationSerializer
    pagination_class = PagePagination
    filter_backends: list = []

    def get_queryset(self):
        user = self.request.user
        return Conversation.objects.filter(inbox__memberships__user=user).order_by("-last_activity_at", "-id")


router = SimpleRouter()
router.register("conversations", ConversationViewSet, basename="peer-conversation")
urlpatterns = router.urls
