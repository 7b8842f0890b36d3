"""REST routes of the agent's workspace: labels, saved views (with their live counts) and macros."""

from django.http import QueryDict
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action, api_view
from rest_framework.response import Response

from chat import mentions, selectors, workspace
from chat.models import Macro, Priority, SavedView
from chat.selectors import MAX_ID
from cxhub.errors import InvalidInput

from .filters import ConversationFilter
from .serializers import AttributeDefinitionSerializer, ConversationDetailSerializer, LabelSerializer
from .views import _valid


class LabelWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=50, required=False)
    colour = serializers.CharField(max_length=7, required=False, help_text='"#rrggbb"')


@extend_schema_view(
    create=extend_schema(request=LabelWriteSerializer, responses={201: LabelSerializer}),
    partial_update=extend_schema(request=LabelWriteSerializer, responses=LabelSerializer),
)
class LabelViewSet(viewsets.ModelViewSet):
    """The workspace's labels: every agent lists and applies them; supervisors and admins manage them."""

    serializer_class = LabelSerializer
    pagination_class = None
    lookup_value_regex = r"[0-9]+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return workspace.labels_visible_to(self.request.user)

    def get_object(self):
        return workspace.label_get(self.request.user, self.kwargs["pk"])

    def create(self, request, *args, **kwargs):
        data = _valid(LabelWriteSerializer, request.data)
        label = workspace.label_create(by=request.user, name=data.get("name", ""), **_colour(data))
        return Response(LabelSerializer(label).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        label = self.get_object()
        data = _valid(LabelWriteSerializer, request.data)
        label = workspace.label_update(label=label, by=request.user, name=data.get("name"), colour=data.get("colour"))
        return Response(LabelSerializer(label).data)

    def destroy(self, request, *args, **kwargs):
        workspace.label_delete(label=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _colour(data: dict) -> dict:
    return {"colour": data["colour"]} if "colour" in data else {}


class SavedViewSerializer(serializers.ModelSerializer):
    owner = serializers.IntegerField(source="owner_id", read_only=True)
    mine = serializers.SerializerMethodField(help_text="The asking user made it.")

    class Meta:
        model = SavedView
        fields = ["id", "name", "shared", "owner", "mine", "filters", "created_at"]
        extra_kwargs = {
            "filters": {
                "help_text": "The conversation list's query: status, priority, inbox, assignee, team, channel, "
                "label (lists), q and sort (strings)."
            }
        }

    def get_mine(self, view) -> bool:
        return view.owner_id == self.context["request"].user.pk


class SavedViewWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80, required=False)
    filters = serializers.JSONField(required=False)
    shared = serializers.BooleanField(required=False, help_text="Everyone sees it (supervisors and admins).")


class SavedViewCountSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    count = serializers.IntegerField(help_text="Conversations the asking user may see that match the view.")


@extend_schema_view(
    create=extend_schema(request=SavedViewWriteSerializer, responses={201: SavedViewSerializer}),
    partial_update=extend_schema(request=SavedViewWriteSerializer, responses=SavedViewSerializer),
    counts=extend_schema(responses=SavedViewCountSerializer(many=True)),
)
class SavedViewViewSet(viewsets.ModelViewSet):
    """Saved views: named sets of the list's filters, the user's own or shared by a supervisor.
    Another agent's own view is a 404."""

    serializer_class = SavedViewSerializer
    pagination_class = None
    lookup_value_regex = r"[0-9]+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return workspace.saved_views_visible_to(self.request.user)

    def get_object(self):
        return workspace.saved_view_get(self.request.user, self.kwargs["pk"])

    def _out(self, view, code=status.HTTP_200_OK):
        return Response(SavedViewSerializer(view, context=self.get_serializer_context()).data, status=code)

    def create(self, request, *args, **kwargs):
        data = _valid(SavedViewWriteSerializer, request.data)
        name, filters, shared = data.get("name", ""), data.get("filters", {}), data.get("shared", False)
        view = workspace.saved_view_create(by=request.user, name=name, filters=filters, shared=shared)
        return self._out(view, status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        view = self.get_object()
        data = _valid(SavedViewWriteSerializer, request.data)
        return self._out(workspace.saved_view_update(view=view, by=request.user, **data))

    def destroy(self, request, *args, **kwargs):
        workspace.saved_view_delete(view=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=False, methods=["get"])
    def counts(self, request):
        """How many conversations match each view the user sees, now (the sidebar's counts)."""
        conversations = selectors.conversations_visible_to(request.user)
        counts = []
        for view in self.get_queryset():
            query = view_query(view.filters)
            matching = ConversationFilter(data=query, queryset=conversations, request=request)
            counts.append({"id": view.pk, "count": matching.qs.count() if matching.is_valid() else 0})
        return Response(counts)


def view_query(filters: dict):
    """A view's filters as the QueryDict the list's FilterSet reads (sort is not a filter)."""
    query = QueryDict(mutable=True)
    for key, value in filters.items():
        if key == "sort":
            continue
        query.setlist(key, [str(v) for v in value] if isinstance(value, list) else [str(value)])
    return query


class MacroSerializer(serializers.ModelSerializer):
    owner = serializers.IntegerField(source="owner_id", read_only=True)
    mine = serializers.SerializerMethodField(help_text="The asking user made it.")
    labels = LabelSerializer(many=True, read_only=True)
    team = serializers.IntegerField(source="team_id", read_only=True, allow_null=True)

    class Meta:
        model = Macro
        fields = [
            "id",
            "name",
            "shared",
            "owner",
            "mine",
            "reply",
            "labels",
            "team",
            "priority",
            "snooze_minutes",
            "resolve",
            "created_at",
        ]

    def get_mine(self, macro) -> bool:
        return macro.owner_id == self.context["request"].user.pk


class MacroWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80, required=False)
    shared = serializers.BooleanField(required=False, help_text="Everyone may run it (supervisors and admins).")
    reply = serializers.CharField(required=False, allow_blank=True, help_text="Sent first; empty: no reply.")
    labels = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False, max_length=50
    )
    team = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_ID)
    priority = serializers.ChoiceField(choices=[("", "unchanged"), *Priority.choices], required=False)
    snooze_minutes = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=129600)
    resolve = serializers.BooleanField(required=False)


class MacroRunSerializer(serializers.Serializer):
    conversation = serializers.IntegerField(min_value=1, max_value=MAX_ID)


def _macro_fields(request, data: dict) -> dict:
    """The write body as the services take it (labels and the team as objects)."""
    fields = dict(data)
    if "labels" in fields:
        fields["labels"] = workspace.labels_get(request.user, fields["labels"])
    if fields.get("team"):
        team = selectors.teams_visible_to(request.user).filter(pk=fields["team"]).first()
        if team is None:
            raise InvalidInput("No such team.", fields={"team": ["No such team."]})
        fields["team"] = team
    return fields


@extend_schema_view(
    create=extend_schema(request=MacroWriteSerializer, responses={201: MacroSerializer}),
    partial_update=extend_schema(request=MacroWriteSerializer, responses=MacroSerializer),
    run=extend_schema(
        request=MacroRunSerializer,
        responses=ConversationDetailSerializer,
        description="Run the macro on a conversation: its reply, then labels, team, priority, snooze or "
        "resolution, all or nothing. A foreign conversation (or macro) is a 404.",
    ),
)
class MacroViewSet(viewsets.ModelViewSet):
    """Macros: one named click (a canned reply and actions), the user's own or shared by a supervisor.
    Another agent's own macro is a 404."""

    serializer_class = MacroSerializer
    pagination_class = None
    lookup_value_regex = r"[0-9]+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return workspace.macros_visible_to(self.request.user)

    def get_object(self):
        return workspace.macro_get(self.request.user, self.kwargs["pk"])

    def _out(self, macro, code=status.HTTP_200_OK):
        macro = workspace.macro_get(self.request.user, macro.pk)
        return Response(MacroSerializer(macro, context=self.get_serializer_context()).data, status=code)

    def create(self, request, *args, **kwargs):
        fields = _macro_fields(request, _valid(MacroWriteSerializer, request.data))
        macro = workspace.macro_create(by=request.user, name=fields.pop("name", ""), **fields)
        return self._out(macro, status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        macro = self.get_object()
        fields = _macro_fields(request, _valid(MacroWriteSerializer, request.data))
        return self._out(workspace.macro_update(macro=macro, by=request.user, **fields))

    def destroy(self, request, *args, **kwargs):
        workspace.macro_delete(macro=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        macro = self.get_object()
        data = _valid(MacroRunSerializer, request.data)
        conversation = selectors.conversation_get(request.user, data["conversation"])
        workspace.macro_run(macro=macro, conversation=conversation, by=request.user)
        detail = selectors.conversation_get(request.user, conversation.pk)
        return Response(ConversationDetailSerializer(detail, context=self.get_serializer_context()).data)


class MentionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()
    message_id = serializers.IntegerField()
    seq = serializers.IntegerField()
    by = serializers.CharField(help_text="Who wrote the note.")
    contact = serializers.CharField(help_text="The conversation's customer.")
    excerpt = serializers.CharField(help_text="The note's first 160 characters.")
    created_at = serializers.DateTimeField()
    read_at = serializers.DateTimeField(allow_null=True)


class MentionListQuerySerializer(serializers.Serializer):
    unread = serializers.BooleanField(required=False, allow_null=True, default=None, help_text="Only unread ones.")


class MentionsReadSerializer(serializers.Serializer):
    conversation = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="Only this conversation's; else all of them."
    )


class MarkedSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many were unread.")


@extend_schema_view(
    list=extend_schema(parameters=[MentionListQuerySerializer]),
    read=extend_schema(request=None, responses=MarkedSerializer),
    read_all=extend_schema(request=MentionsReadSerializer, responses=MarkedSerializer),
)
class MentionViewSet(viewsets.GenericViewSet):
    """The asking agent's mentions (`@username` in colleagues' notes), newest first, the latest 100."""

    serializer_class = MentionSerializer
    pagination_class = None
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        return workspace.mentions_of(self.request.user)

    def list(self, request):
        query = _valid(MentionListQuerySerializer, request.query_params)
        found = self.get_queryset()
        if query.get("unread") is not None:
            found = found.filter(read_at__isnull=query["unread"])
        return Response([mentions.mention_payload(mention) for mention in found[:100]])

    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        mention = workspace.mention_get(request.user, pk)
        return Response({"marked": workspace.mentions_mark_read(user=request.user, mention=mention)})

    @action(detail=False, methods=["post"], url_path="read-all", url_name="read-all")
    def read_all(self, request):
        data = _valid(MentionsReadSerializer, request.data)
        conversation = None
        if data.get("conversation"):
            conversation = selectors.conversation_get(request.user, data["conversation"])
        return Response({"marked": workspace.mentions_mark_read(user=request.user, conversation=conversation)})


class AttributeDefinitionWriteSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=50, required=False, help_text="Letters, digits, - and _; not changeable.")
    label = serializers.CharField(max_length=80, required=False)
    kind = serializers.ChoiceField(choices=["text", "number", "date", "list"], required=False)
    options = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=100)


@extend_schema_view(
    create=extend_schema(request=AttributeDefinitionWriteSerializer, responses={201: AttributeDefinitionSerializer}),
    partial_update=extend_schema(request=AttributeDefinitionWriteSerializer, responses=AttributeDefinitionSerializer),
)
class AttributeDefinitionViewSet(viewsets.ModelViewSet):
    """Custom attributes of contacts (text, number, date, list): every agent reads them (the contact
    panel shows and checks them); supervisors and admins define them."""

    serializer_class = AttributeDefinitionSerializer
    pagination_class = None
    lookup_value_regex = r"[0-9]+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return workspace.attribute_definitions()

    def get_object(self):
        return workspace.attribute_definition_get(self.request.user, self.kwargs["pk"])

    def create(self, request, *args, **kwargs):
        data = _valid(AttributeDefinitionWriteSerializer, request.data)
        definition = workspace.attribute_definition_create(by=request.user, key=data.pop("key", ""), **data)
        return Response(AttributeDefinitionSerializer(definition).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        definition = self.get_object()
        data = _valid(AttributeDefinitionWriteSerializer, request.data)
        data.pop("key", None)
        definition = workspace.attribute_definition_update(definition=definition, by=request.user, **data)
        return Response(AttributeDefinitionSerializer(definition).data)

    def destroy(self, request, *args, **kwargs):
        workspace.attribute_definition_delete(definition=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PreferencesSerializer(serializers.Serializer):
    send_key = serializers.ChoiceField(
        choices=["enter", "ctrl_enter"],
        help_text="enter: Enter sends (Shift+Enter: a new line); ctrl_enter: Ctrl+Enter or ⌘+Enter sends.",
    )


@extend_schema(responses=PreferencesSerializer)
@extend_schema(methods=["PATCH"], request=PreferencesSerializer, responses=PreferencesSerializer)
@api_view(["GET", "PATCH"])
def preferences(request):
    """The asking agent's console preferences."""
    if request.method == "PATCH":
        data = _valid(PreferencesSerializer, request.data)
        found = workspace.preferences_set(user=request.user, send_key=data["send_key"])
    else:
        found = workspace.preferences_of(request.user)
    return Response({"send_key": found.send_key})
