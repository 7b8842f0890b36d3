"""REST views: parse, authorise through selectors, call one service, serialise."""

from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.http import FileResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from chat import attachments, privacy, selectors, services, sla_services, workspace
from chat.events import timeline_event_payloads
from chat.models import Message, Team
from cxhub.api import CursorPagination
from cxhub.errors import Forbidden, InvalidInput, NotFound

from . import serializers as s
from .filters import ContactFilter, ConversationFilter


class ActivityPagination(CursorPagination):
    ordering = ("-last_activity_at", "-id")


class ConversationPagination(ActivityPagination):
    """The list's pages in the order of `?sort=` (chat.workspace.SORTS)."""

    def get_ordering(self, request, queryset, view):
        return workspace.list_sort(request.query_params.get("sort"))


@extend_schema_view(
    hours=extend_schema(
        request=s.BusinessHoursSerializer,
        responses=s.BusinessHoursSerializer,
        description="The inbox's business hours and pending auto-resolve days (supervisors). A bad schedule "
        "(overlapping or inverted intervals, an unknown time zone) is a 400 with the fields at fault.",
    ),
    sla_policies=extend_schema(
        request=s.SlaPolicySerializer,
        responses=s.SlaPolicySerializer(many=True),
        description="The inbox's SLA policies, one per priority (supervisors). POST creates or replaces the "
        "policy of the body's priority; a target ≤ 0 is a 400.",
    ),
)
class InboxViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.InboxSerializer

    def get_queryset(self):
        return selectors.inboxes_visible_to(self.request.user).order_by("id")

    def get_object(self):
        return selectors.inbox_get(self.request.user, self.kwargs["pk"])

    def _supervised_inbox(self):
        inbox = self.get_object()  # a foreign inbox is a 404 before the role is looked at
        if not selectors.user_is_supervisor(self.request.user):
            raise Forbidden("Only supervisors and admins may set business hours and SLAs.")
        return inbox

    @action(detail=True, methods=["get", "patch"], url_path="hours", url_name="hours", pagination_class=None)
    def hours(self, request, pk=None):
        inbox = self._supervised_inbox()
        if request.method == "PATCH":
            data = _valid(s.BusinessHoursSerializer, request.data)
            inbox = sla_services.inbox_set_hours(
                inbox=inbox,
                business_hours=data.get("business_hours"),
                pending_auto_resolve_days=data.get("pending_auto_resolve_days"),
            )
        back = sla_services.back_at(inbox, timezone.now())
        body = {
            "business_hours": inbox.business_hours,
            "pending_auto_resolve_days": inbox.pending_auto_resolve_days,
            "open_now": back is None,
            "back_at": back,
        }
        return Response(s.BusinessHoursSerializer(body).data)

    @action(
        detail=True,
        methods=["get", "post"],
        url_path="sla-policies",
        url_name="sla-policies",
        pagination_class=None,
    )
    def sla_policies(self, request, pk=None):
        inbox = self._supervised_inbox()
        if request.method == "POST":
            data = _valid(s.SlaPolicySerializer, request.data)
            sla_services.sla_policy_set(inbox=inbox, **data)
        return Response(s.SlaPolicySerializer(inbox.sla_policies.order_by("id"), many=True).data)


class TeamViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.TeamSerializer

    def get_queryset(self):
        return selectors.teams_visible_to(self.request.user).order_by("id")


@extend_schema_view(
    availability=extend_schema(request=s.AvailabilitySerializer, responses=s.AgentSerializer),
    list=extend_schema(parameters=[s.AgentListQuerySerializer]),
)
class AgentViewSet(viewsets.ReadOnlyModelViewSet):
    """Agents with their availability and load (`open_conversations` of `capacity`), in one query.

    `?inbox=<id>`: the candidates for a conversation of that inbox (the transfer dialog)."""

    serializer_class = s.AgentSerializer
    lookup_value_regex = r"[0-9]+|me"

    def get_queryset(self):
        inbox = None
        if self.action == "list":
            query = _valid(s.AgentListQuerySerializer, self.request.query_params)
            if query.get("inbox"):
                inbox = selectors.inbox_get(self.request.user, query["inbox"])  # a foreign inbox is a 404
        return selectors.agents_visible_to(self.request.user, candidates_for=inbox)

    def get_object(self):
        pk = self.request.user.pk if self.kwargs["pk"] == "me" else selectors.parse_id(self.kwargs["pk"])
        agent = self.get_queryset().filter(user_id=pk).first() if pk else None
        if agent is None:
            raise NotFound("Agent not found.")
        return agent

    @action(detail=False, methods=["post"], url_path="me/availability")
    def availability(self, request):
        """The agent's own availability switch: online, busy or offline."""
        data = _valid(s.AvailabilitySerializer, request.data)
        services.agent_set_availability(user=request.user, availability=data["availability"])
        self.kwargs["pk"] = "me"
        return Response(self.get_serializer(self.get_object()).data)


def _valid(serializer_class, data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _agent(user_id) -> object | None:
    if user_id is None:
        return None
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise InvalidInput("No such agent.", fields={"agent": ["No such agent."]})
    return user


@extend_schema_view(
    assign=extend_schema(request=s.AssignSerializer, responses=s.ConversationDetailSerializer),
    transfer=extend_schema(request=s.TransferSerializer, responses=s.ConversationDetailSerializer),
    resolve=extend_schema(request=None, responses=s.ConversationDetailSerializer),
    reopen=extend_schema(request=None, responses=s.ConversationDetailSerializer),
    snooze=extend_schema(request=s.SnoozeSerializer, responses=s.ConversationDetailSerializer),
    pending=extend_schema(
        request=None,
        responses=s.ConversationDetailSerializer,
        description="Wait on the customer: their next message opens it again; without one for the inbox's "
        "`pending_auto_resolve_days` the system resolves it. 409 `conversation_resolved` when resolved.",
    ),
    unsnooze=extend_schema(
        request=None,
        responses={200: s.ConversationDetailSerializer, 409: OpenApiTypes.OBJECT},
        description="Open a snoozed conversation now. 409 `not_snoozed` when it is not snoozed.",
    ),
    timeline_events=extend_schema(
        responses=s.TimelineEventSerializer(many=True),
        description="Assignments, transfers, snoozes and wake-ups, resolutions, reopenings and priority changes, "
        "oldest first (the latest 500), each placed after the message `after_seq`. Agents only.",
    ),
    partial_update=extend_schema(request=s.ConversationUpdateSerializer, responses=s.ConversationDetailSerializer),
    list=extend_schema(parameters=[s.ConversationListQuerySerializer]),
    labels=extend_schema(
        request=s.LabelChangeSerializer,
        responses=s.ConversationDetailSerializer,
        description="Add and remove labels (ids; an unknown one is a 404 and nothing changes).",
    ),
    follow=extend_schema(
        request=None,
        responses=s.ConversationDetailSerializer,
        description="The asking agent follows the conversation (a participant: its customer's messages alert them).",
    ),
    unfollow=extend_schema(request=None, responses=s.ConversationDetailSerializer),
    bulk=extend_schema(
        request=s.BulkSerializer,
        responses=s.BulkResponseSerializer,
        description="One action (assign, label, snooze, resolve) over many conversations, each through its own "
        "service: a failure is reported per conversation and the others go on. A foreign or missing id makes "
        "the whole request a 404, and nothing changes.",
    ),
    read=extend_schema(
        request=s.ReadSerializer,
        responses=s.ReadMarkerSerializer,
        description="Mark the conversation read up to `seq` for the asking agent (never backwards).",
    ),
)
class ConversationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Conversations in the inboxes the user may see, newest activity first."""

    serializer_class = s.ConversationSerializer
    filterset_class = ConversationFilter
    pagination_class = ConversationPagination
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_serializer_class(self):
        return s.ConversationSerializer if self.action == "list" else s.ConversationDetailSerializer

    def get_queryset(self):
        conversations = selectors.conversation_list(self.request.user)
        if self.action == "list":
            conversations = workspace.conversation_rows(self.request.user, conversations)
            if self.request.query_params.get("sort") == "due":
                conversations = selectors.sorted_by_due(conversations)
        return conversations

    def get_object(self):
        return selectors.conversation_get(self.request.user, self.kwargs["pk"])

    def _respond(self, conversation):
        return Response(self.get_serializer(selectors.conversation_get(self.request.user, conversation.pk)).data)

    def partial_update(self, request, pk=None):
        data = _valid(s.ConversationUpdateSerializer, request.data)
        conversation = services.conversation_set_priority(
            conversation=self.get_object(), by=request.user, priority=data["priority"]
        )
        return self._respond(conversation)

    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        conversation = self.get_object()
        data = _valid(s.AssignSerializer, request.data)
        assignee = _agent(data["assignee"])
        return self._respond(
            services.conversation_assign(conversation=conversation, assignee=assignee, by=request.user)
        )

    @action(detail=True, methods=["post"])
    def transfer(self, request, pk=None):
        conversation = self.get_object()
        data = _valid(s.TransferSerializer, request.data)
        team = None
        if data.get("team"):
            team = Team.objects.filter(pk=data["team"]).first()
            if team is None:
                raise InvalidInput("No such team.", fields={"team": ["No such team."]})
        conversation = services.conversation_transfer(
            conversation=conversation,
            by=request.user,
            to_agent=_agent(data.get("agent")),
            to_team=team,
            note=data.get("note", ""),
        )
        return self._respond(conversation)

    @action(detail=True, methods=["post"])
    def labels(self, request, pk=None):
        conversation = self.get_object()
        data = _valid(s.LabelChangeSerializer, request.data)
        add, remove = (workspace.labels_get(request.user, data[key]) for key in ("add", "remove"))
        return self._respond(
            workspace.conversation_set_labels(conversation=conversation, by=request.user, add=add, remove=remove)
        )

    @action(detail=True, methods=["post"])
    def follow(self, request, pk=None):
        conversation = self.get_object()
        workspace.conversation_follow(conversation=conversation, user=request.user)
        return self._respond(conversation)

    @action(detail=True, methods=["post"])
    def unfollow(self, request, pk=None):
        conversation = self.get_object()
        workspace.conversation_unfollow(conversation=conversation, user=request.user)
        return self._respond(conversation)

    @action(detail=False, methods=["post"])
    def bulk(self, request):
        data = _valid(s.BulkSerializer, request.data)
        conversations = workspace.bulk_conversations(request.user, data["ids"])
        results = workspace.conversations_bulk(
            conversations=conversations,
            by=request.user,
            action=data["action"],
            assignee=_agent(data.get("assignee")),
            add=workspace.labels_get(request.user, data["add"]),
            remove=workspace.labels_get(request.user, data["remove"]),
            until=data.get("until"),
        )
        done = sum(1 for result in results if result["ok"])
        return Response({"done": done, "failed": len(results) - done, "results": results})

    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        conversation = self.get_object()
        data = _valid(s.ReadSerializer, request.data)
        marker = workspace.conversation_mark_read(conversation=conversation, user=request.user, seq=data["seq"])
        unread = workspace.unread_count(conversation, after_seq=marker.last_read_seq)
        return Response(
            {"conversation_id": conversation.pk, "last_read_seq": marker.last_read_seq, "unread_count": unread}
        )

    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        return self._respond(services.conversation_resolve(conversation=self.get_object(), by=request.user))

    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        return self._respond(services.conversation_reopen(conversation=self.get_object(), by=request.user))

    @action(detail=True, methods=["post"])
    def snooze(self, request, pk=None):
        conversation = self.get_object()
        data = _valid(s.SnoozeSerializer, request.data)
        return self._respond(
            services.conversation_snooze(conversation=conversation, by=request.user, until=data["until"])
        )

    @action(detail=True, methods=["post"])
    def pending(self, request, pk=None):
        return self._respond(services.conversation_set_pending(conversation=self.get_object(), by=request.user))

    @action(detail=True, methods=["post"])
    def unsnooze(self, request, pk=None):
        return self._respond(services.conversation_unsnooze(conversation=self.get_object(), by=request.user))

    @action(
        detail=True, methods=["get"], url_path="events", url_name="events", pagination_class=None, filterset_class=None
    )
    def timeline_events(self, request, pk=None):
        events = selectors.timeline_events_of(self.get_object())
        return Response(s.TimelineEventSerializer(timeline_event_payloads(events), many=True).data)


class MessageViewSet(viewsets.GenericViewSet):
    """The timeline of one conversation: `?after_seq=N` for what came after seq N."""

    serializer_class = s.MessageSerializer
    pagination_class = None
    queryset = Message.objects.none()  # reads go through selectors, scoped to the user

    @extend_schema(
        parameters=[
            OpenApiParameter("after_seq", int, description="Only messages with a greater seq."),
            OpenApiParameter("limit", int, description="At most this many (1-500, default 100)."),
        ],
        responses=s.MessageSerializer(many=True),
    )
    def list(self, request, conversation_pk=None):
        query = _valid(s.MessageListQuerySerializer, request.query_params)
        conversation = selectors.conversation_get(request.user, conversation_pk)
        messages = list(selectors.messages_of(conversation, after_seq=query["after_seq"])[: query["limit"]])
        return Response(self.get_serializer(messages, many=True).data)

    @extend_schema(request=s.MessageCreateSerializer, responses={201: s.MessageSerializer, 200: s.MessageSerializer})
    def create(self, request, conversation_pk=None):
        conversation = selectors.conversation_get(request.user, conversation_pk)
        data = _valid(s.MessageCreateSerializer, request.data)

        def send(files: list[dict]):
            return services.message_send(
                conversation=conversation,
                by=request.user,
                body=data["body"],
                is_note=data["is_note"],
                client_msg_id=data.get("client_msg_id"),
                channel=data.get("channel"),
                attachments=files,
            )

        if data["files"]:
            uploads = attachments.uploads_from(conversation.inbox, data["files"])
            received = attachments.with_files(conversation.inbox, uploads, send)
        else:
            received = send([])
        return Response(
            self.get_serializer(received.message).data,
            status=status.HTTP_201_CREATED if received.created else status.HTTP_200_OK,
        )


@extend_schema_view(
    merge=extend_schema(request=s.MergeSerializer, responses=s.ContactDetailSerializer),
    unmerge=extend_schema(request=s.MergeSerializer, responses=s.ContactDetailSerializer),
    export=extend_schema(responses=OpenApiTypes.OBJECT, description="Supervisors and admins; audited."),
    erase=extend_schema(request=None, responses=OpenApiTypes.OBJECT, description="Supervisors and admins; audited."),
    partial_update=extend_schema(request=s.ContactUpdateSerializer, responses=s.ContactDetailSerializer),
    labels=extend_schema(
        request=s.LabelChangeSerializer,
        responses=s.ContactDetailSerializer,
        description="Add and remove labels (ids; an unknown one is a 404 and nothing changes). Audited.",
    ),
    notes=extend_schema(
        methods=["GET"], responses=s.ContactNoteSerializer(many=True), description="Agents' notes, newest first."
    ),
)
class ContactViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """People, with their identities, their conversations on every channel and their answers."""

    filterset_class = ContactFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_serializer_class(self):
        return s.ContactSerializer if self.action == "list" else s.ContactDetailSerializer

    def get_queryset(self):
        return workspace.with_labels(selectors.contact_list(self.request.user)).order_by("-id")

    def get_object(self):
        return selectors.contact_get(self.request.user, self.kwargs["pk"])

    def _detail(self, contact):
        contact = selectors.contact_get(self.request.user, contact.pk)
        context = {
            **self.get_serializer_context(),
            "history": selectors.contact_history(self.request.user, contact),
            **selectors.contact_sections(self.request.user, contact),  # survey_history: feedback's
        }
        return Response(s.ContactDetailSerializer(contact, context=context).data)

    def retrieve(self, request, pk=None):
        return self._detail(self.get_object())

    def partial_update(self, request, pk=None):
        contact = self.get_object()
        data = _valid(s.ContactUpdateSerializer, request.data)
        return self._detail(workspace.contact_edit(contact=contact, by=request.user, **data))

    @extend_schema(methods=["POST"], request=s.ContactNoteCreateSerializer, responses={201: s.ContactNoteSerializer})
    @action(detail=True, methods=["get", "post"], pagination_class=None, filter_backends=[])
    def notes(self, request, pk=None):
        """Notes on the person (agents only, never shown to them; erased with their data)."""
        contact = self.get_object()
        if request.method == "POST":
            data = _valid(s.ContactNoteCreateSerializer, request.data)
            note = workspace.contact_note_add(contact=contact, by=request.user, body=data["body"])
            return Response(s.ContactNoteSerializer(note).data, status=status.HTTP_201_CREATED)
        return Response(s.ContactNoteSerializer(workspace.contact_notes_of(contact)[:200], many=True).data)

    @action(detail=True, methods=["post"])
    def labels(self, request, pk=None):
        contact = self.get_object()
        data = _valid(s.LabelChangeSerializer, request.data)
        add, remove = (workspace.labels_get(request.user, data[key]) for key in ("add", "remove"))
        return self._detail(workspace.contact_set_labels(contact=contact, by=request.user, add=add, remove=remove))

    @action(detail=True, methods=["post"])
    def merge(self, request, pk=None):
        """Merge the contact `source_id` into this one (identities and conversations move)."""
        target = self.get_object()
        data = _valid(s.MergeSerializer, request.data)
        source = selectors.contact_get(request.user, data["source_id"])
        return self._detail(services.contact_merge(source=source, target=target, by=request.user))

    @action(detail=True, methods=["post"])
    def unmerge(self, request, pk=None):
        """Undo the merge of `source_id` into this contact."""
        target = self.get_object()
        data = _valid(s.MergeSerializer, request.data)
        source = target.merged_contacts.filter(pk=data["source_id"]).first()
        if source is None:
            raise NotFound("That contact was not merged into this one.")
        services.contact_unmerge(contact=source, by=request.user)
        return self._detail(target)

    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        """Everything stored about the contact, as JSON (a data subject access request)."""
        _require_supervisor(request.user)
        return Response(privacy.contact_export(contact=self.get_object(), by=request.user))

    @action(detail=True, methods=["post"])
    def erase(self, request, pk=None):
        """Remove the contact's personal data; conversations, messages and scores stay as anonymous rows."""
        _require_supervisor(request.user)
        contact = self.get_object()
        return Response({"erased": contact.pk, "counts": privacy.contact_erase(contact=contact, by=request.user)})


def _require_supervisor(user) -> None:
    if not selectors.user_is_supervisor(user):
        raise Forbidden("Only supervisors and admins may export or erase a contact's data.")


@extend_schema(responses={(200, "application/octet-stream"): bytes})
@api_view(["GET"])
def message_attachment(request, conversation_pk: int, message_pk: int, index: int):
    """Download one stored attachment of a message the user may see (always as a download)."""
    conversation = selectors.conversation_get(request.user, conversation_pk)
    message = conversation.messages.filter(pk=message_pk).first()
    attachments = message.attachments if message else []
    entry = attachments[index] if 0 <= index < len(attachments) else {}
    path = entry.get("path")
    if not path or not default_storage.exists(path):
        raise NotFound("Attachment not found.")
    response = FileResponse(
        default_storage.open(path, "rb"),
        as_attachment=True,
        filename=entry.get("name") or "attachment",
        content_type="application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@extend_schema(
    responses={(200, "application/octet-stream"): bytes, (200, "image/png"): bytes},
    auth=[],
    description="A signed, expiring attachment link as the messages list it (`url`, `preview_url`).",
)
@api_view(["GET"])
@permission_classes([AllowAny])
def attachment_file(request, token: str):
    """A signed, expiring attachment link (chat/attachments.py). An agent's link works only for a
    user (session or API token) who sees the conversation; a customer's only for a message that was
    theirs (never a note). Files are downloads; previews (PNG, made here) are shown inline, sandboxed."""
    message_id, index, audience, preview = attachments.read_link(token)
    if audience == attachments.Audience.AGENT:
        if not request.user.is_authenticated:
            raise NotFound("Attachment not found.")
        entry = selectors.message_attachment(message_id, index, user=request.user)
    else:
        entry = selectors.message_attachment(message_id, index)
    path = entry.get("preview_path") if preview else entry["path"]
    if not path or not default_storage.exists(path):
        raise NotFound("Attachment not found.")
    content_type = "application/octet-stream"
    if preview:
        content_type = "image/png"
    elif audience == attachments.Audience.PROVIDER and entry.get("content_type") in attachments.ACCEPTED_TYPES:
        content_type = entry["content_type"]  # Twilio takes a file by its type (a sniffed one: never markup)
    response = FileResponse(
        default_storage.open(path, "rb"),
        as_attachment=not preview,
        filename="preview.png" if preview else entry.get("name") or "attachment",
        content_type=content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=300"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"  # the widget shows previews on the shop's page
    return response
