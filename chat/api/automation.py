"""REST routes of automation rules (docs/automation.md): agents read them, supervisors manage them."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.response import Response

from chat import automation
from chat.models import AutomationRule
from chat.selectors import MAX_ID

from .views import _valid


class ConditionSerializer(serializers.Serializer):
    attribute = serializers.ChoiceField(choices=list(automation.CONDITION_OPERATORS))
    operator = serializers.ChoiceField(
        choices=sorted({op for ops in automation.CONDITION_OPERATORS.values() for op in ops}),
        help_text="channel, inbox, email_domain, language: is | is_not (value: a list); message: contains | "
        "not_contains; contact_attribute: is | is_not | contains (with key).",
    )
    value = serializers.JSONField(help_text='e.g. ["email"], [3], "refund", ["acme.com"], ["es"], "pro".')
    key = serializers.CharField(required=False, help_text="contact_attribute: the attribute's key, e.g. plan.")


class ActionSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=list(automation.ACTIONS))
    value = serializers.JSONField(
        help_text="add_label: a label id; assign_team: a team id; set_priority: low | normal | high | urgent; "
        "send_message: the text (a system message to the customer)."
    )


class AutomationRuleSerializer(serializers.ModelSerializer):
    inbox = serializers.IntegerField(source="inbox_id", allow_null=True, read_only=True)
    conditions = ConditionSerializer(many=True, read_only=True)
    actions = ActionSerializer(many=True, read_only=True)

    class Meta:
        model = AutomationRule
        fields = ["id", "name", "event", "inbox", "conditions", "actions", "active", "active_since", "created_at"]
        read_only_fields = fields


class AutomationRuleWriteSerializer(serializers.Serializer):
    """The shapes here; what the values mean (labels, teams, inboxes that exist) the service checks."""

    name = serializers.CharField(max_length=80, required=False)
    event = serializers.ChoiceField(choices=AutomationRule.Event.choices, required=False)
    inbox = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_ID, help_text="Only this inbox; null: every inbox."
    )
    conditions = serializers.ListField(
        child=serializers.DictField(), required=False, max_length=automation.CONDITIONS_MAX, help_text="All must hold."
    )
    actions = serializers.ListField(
        child=serializers.DictField(), required=False, max_length=automation.ACTIONS_MAX, help_text="Done in order."
    )
    active = serializers.BooleanField(required=False)


@extend_schema_view(
    create=extend_schema(request=AutomationRuleWriteSerializer, responses={201: AutomationRuleSerializer}),
    partial_update=extend_schema(request=AutomationRuleWriteSerializer, responses=AutomationRuleSerializer),
)
class AutomationRuleViewSet(viewsets.ModelViewSet):
    """Automation rules: on an event (conversation_created, message_created by the customer,
    conversation_resolved) in one inbox or any, when every condition holds, the actions run, after
    the event committed. Agents read the rules of their inboxes and the workspace-wide ones;
    supervisors and admins create, change and delete them (403 for agents; another inbox's rule is 404)."""

    serializer_class = AutomationRuleSerializer
    pagination_class = None
    lookup_value_regex = r"[0-9]+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return automation.automation_rules_visible_to(self.request.user)

    def get_object(self):
        return automation.automation_rule_get(self.request.user, self.kwargs["pk"])

    def create(self, request, *args, **kwargs):
        automation.require_manager(request.user)  # an agent hears 403 before anything about the body
        data = _valid(AutomationRuleWriteSerializer, request.data)
        rule = automation.automation_rule_create(
            by=request.user,
            name=data.get("name", ""),
            event=data.get("event", ""),
            inbox=data.get("inbox"),
            conditions=data.get("conditions", []),
            actions=data.get("actions", []),
            active=data.get("active", True),
        )
        return Response(AutomationRuleSerializer(rule).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        rule = self.get_object()
        automation.require_manager(request.user)
        data = _valid(AutomationRuleWriteSerializer, request.data)
        rule = automation.automation_rule_update(rule=rule, by=request.user, **data)
        return Response(AutomationRuleSerializer(rule).data)

    def destroy(self, request, *args, **kwargs):
        automation.automation_rule_delete(rule=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
