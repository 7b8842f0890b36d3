"""Django admin for the conversation core: inboxes, teams, agents, contacts, conversations.

The admin writes through the services, like the console (docs/security.md, "Admin goes through
the services"): a conversation's status, assignee, team and priority, an agent's availability
and a contact's name are changed by the service that owns them, so the event, the broadcast,
the survey and the metrics follow as from the console; a contact is erased with
`contact_erase`, never deleted. What no service owns is read-only, and the append-only logs
(events, audit) cannot be added to, changed or deleted here.
"""

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.template.response import TemplateResponse

from cxhub.service_admin import ServiceModelAdmin, refused_as

from . import audit, automation, business_hours, models, privacy, selectors, services, sla_services

Status = models.Conversation.Status
User = get_user_model()


class InboxMembershipInline(admin.TabularInline):
    model = models.InboxMembership
    extra = 0
    autocomplete_fields = ["user"]


class InboxAdminForm(forms.ModelForm):
    """Business hours are checked by the service's own parser (the API's 400s, shown by field)."""

    class Meta:
        model = models.Inbox
        fields = [  # memberships: the inline
            "name",
            "channel",
            "allowed_origins",
            "identity_secret",
            "prechat_form",
            "greeting",
            "language",
            "email_address",
            "phone_number",
            "provider_config",
            "webhook_secret",
            "business_hours",
            "pending_auto_resolve_days",
            "default_team",
            "attachment_kinds",  # docs/attachments.md
            "attachment_max_bytes",
        ]

    def clean_business_hours(self):
        value = self.cleaned_data.get("business_hours") or {}
        try:
            business_hours.parse(value)
        except business_hours.ScheduleError as error:
            raise forms.ValidationError([f"{name}: {' '.join(messages)}" for name, messages in error.fields.items()])
        return value


@admin.register(models.Inbox)
class InboxAdmin(ServiceModelAdmin):
    form = InboxAdminForm
    list_display = ["name", "channel", "public_id", "email_address", "phone_number", "default_team"]
    list_filter = ["channel", "default_team"]
    search_fields = ["name", "public_id", "email_address", "phone_number"]
    readonly_fields = ["public_id", "created_at"]
    inlines = [InboxMembershipInline]

    def get_queryset(self, request):
        return selectors.inboxes_visible_to(request.user)

    def save_model(self, request, obj, form, change):
        """Business hours and the pending days go through `sla_services.inbox_set_hours` (running SLA
        clocks are recomputed); the rest is setup."""
        wanted = {"business_hours": obj.business_hours, "pending_auto_resolve_days": obj.pending_auto_resolve_days}
        if change:
            stored = models.Inbox.objects.filter(pk=obj.pk).values(*wanted).first() or {}
            for name, value in stored.items():
                setattr(obj, name, value)
        super().save_model(request, obj, form, change)
        with refused_as("business_hours"):
            saved = sla_services.inbox_set_hours(inbox=obj, **wanted)
        obj.business_hours, obj.pending_auto_resolve_days = saved.business_hours, saved.pending_auto_resolve_days


@admin.register(models.SlaPolicy)
class SlaPolicyAdmin(ServiceModelAdmin):
    """Set and removed by `sla_services.sla_policy_set` / `_delete`: running clocks follow."""

    fields = ["inbox", "priority", *sla_services.TARGET_FIELDS, "business_hours"]
    list_display = fields
    list_filter = ["priority", "business_hours"]
    search_fields = ["inbox__name"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(inbox__in=selectors.inboxes_visible_to(request.user))

    def get_readonly_fields(self, request, obj=None):
        return ["inbox", "priority"] if obj else []

    def save_model(self, request, obj, form, change):
        with refused_as():
            policy = sla_services.sla_policy_set(
                inbox=obj.inbox,
                priority=obj.priority,
                business_hours=obj.business_hours,
                **{name: getattr(obj, name) for name in sla_services.TARGET_FIELDS},
            )
        obj.pk = policy.pk

    def delete_model(self, request, obj):
        sla_services.sla_policy_delete(policy=obj)

    def delete_queryset(self, request, queryset):
        for policy in queryset:
            sla_services.sla_policy_delete(policy=policy)


@admin.register(models.Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "lead", "is_retention"]
    list_filter = ["is_retention"]
    search_fields = ["name"]
    readonly_fields = ["created_at"]

    def get_queryset(self, request):
        return selectors.teams_visible_to(request.user)

    def has_delete_permission(self, request, obj=None):
        # Deleting a team would empty the team of its conversations with no event; rename it instead.
        return False


@admin.register(models.AgentProfile)
class AgentProfileAdmin(ServiceModelAdmin):
    list_display = ["display_name", "user", "availability", "open_conversations", "capacity", "is_supervisor"]
    list_filter = ["availability", "is_supervisor", "teams"]
    search_fields = ["display_name", "user__username", "user__email"]
    autocomplete_fields = ["user"]
    filter_horizontal = ["teams"]
    readonly_fields = ["last_assigned_at"]

    def get_queryset(self, request):
        return selectors.agents_visible_to(request.user)

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "user"] if obj else self.readonly_fields

    @admin.display(description="Open conversations")
    def open_conversations(self, profile):
        return profile.open_conversations

    def has_delete_permission(self, request, obj=None):
        # An agent leaves by deactivating their user (Users → Active): their history stays theirs.
        return False

    def save_model(self, request, obj, form, change):
        """Availability goes through `agent_set_availability` (going offline hands back the
        conversations not answered yet; coming online takes from the queue); the rest is setup."""
        wanted = obj.availability
        stored = models.AgentProfile.objects.filter(pk=obj.pk).values_list("availability", flat=True).first()
        obj.availability = stored or models.AgentProfile.Availability.OFFLINE
        super().save_model(request, obj, form, change)
        _audit_role_change(request, obj.user, form, ["is_supervisor"], created=not change)
        if wanted != obj.availability:
            with refused_as("availability"):
                obj.availability = services.agent_set_availability(user=obj.user, availability=wanted).availability


class ReadOnlyInline(admin.TabularInline):
    """Rows only a service writes, shown beside their parent: no add, change or delete."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ContactIdentityInline(ReadOnlyInline):
    """Identities are proven by the channels (contact_identify) and moved by merges: read-only."""

    model = models.ContactIdentity
    fields = ["kind", "value", "verified", "created_at"]
    readonly_fields = fields
    can_delete = False


# what services.contact_update accepts
CONTACT_EDITABLE = ["name", "attributes", "survey_opted_out", "locale", "time_zone"]


@admin.register(models.Contact)
class ContactAdmin(ServiceModelAdmin):
    list_display = ["__str__", "email", "phone", "external_id", "at_risk_until", "merged_into", "created_at"]
    list_filter = ["sms_opted_out", "survey_opted_out", ("merged_into", admin.EmptyFieldListFilter)]
    search_fields = ["name", "email", "phone", "external_id", "identities__value"]
    fields = [
        "name",
        "email",
        "phone",
        "external_id",
        "attributes",
        "locale",
        "locale_source",
        "time_zone",
        "survey_opted_out",
        "sms_opted_out",
        "at_risk_until",
        "merged_into",
        "created_at",
        "updated_at",
    ]
    # Addresses come from the identities the channels proved; SMS opt-out only from the
    # contact's own STOP/START; at-risk from the survey follow-ups; merges from the console.
    readonly_fields = [name for name in fields if name not in CONTACT_EDITABLE]
    inlines = [ContactIdentityInline]
    actions = ["erase_personal_data"]

    def get_queryset(self, request):
        return selectors.contacts_visible_to(request.user)

    def has_add_permission(self, request):
        return False  # contacts come from the channels (contact_identify)

    def has_delete_permission(self, request, obj=None):
        return False  # a person is erased (the action below), never deleted: the metrics keep their rows

    def save_model(self, request, obj, form, change):
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in CONTACT_EDITABLE}
        if changes:
            with refused_as():
                services.contact_update(contact=obj, by=request.user, **changes)

    @admin.action(description="Erase personal data (GDPR) of the selected contacts", permissions=["change"])
    def erase_personal_data(self, request, queryset):
        """`contact_erase` for each contact, after a confirmation page; each erasure is audited."""
        if request.POST.get("post") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": "Erase personal data?",
                "opts": self.opts,
                "queryset": queryset,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/chat/contact/erase_confirmation.html", context)
        self.run_per_object(
            request,
            queryset,
            lambda contact: privacy.contact_erase(contact=contact, by=request.user),
            done="Erased the personal data of {count} contact(s); see the audit log.",
        )
        return None


class MessageInline(ReadOnlyInline):
    model = models.Message
    fields = ["seq", "sender_kind", "channel", "body", "is_note", "delivery_status", "created_at"]
    readonly_fields = fields
    ordering = ["seq"]


CONVERSATION_EDITABLE = ["status", "snoozed_until", "priority", "assignee", "team"]


class ConversationAdminForm(forms.ModelForm):
    """The fields the conversation services own; ConversationAdmin.save_model calls them."""

    class Meta:
        model = models.Conversation
        fields = CONVERSATION_EDITABLE

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "assignee" in self.fields:
            self.fields["assignee"].queryset = User.objects.filter(is_active=True).order_by("username")

    def clean(self):
        cleaned_data = super().clean()
        changed = set(self.changed_data)
        before = self.initial.get("status")
        status = cleaned_data.get("status", before)
        if "status" in changed and before == Status.PENDING and status == Status.OPEN:
            self.add_error("status", "A pending conversation opens when the customer writes.")
        if status == Status.SNOOZED and not cleaned_data.get("snoozed_until"):
            self.add_error("snoozed_until", "Give the time it wakes up.")
        if "snoozed_until" in changed and cleaned_data.get("snoozed_until") and status != Status.SNOOZED:
            self.add_error("snoozed_until", "Only a snoozed conversation has a wake-up time.")
        if "team" in changed and cleaned_data.get("team") is None:
            self.add_error("team", "A conversation is transferred to another team; its team cannot be removed.")
        return cleaned_data


@admin.register(models.Conversation)
class ConversationAdmin(ServiceModelAdmin):
    form = ConversationAdminForm
    list_display = ["id", "contact", "inbox", "status", "priority", "assignee", "team", "last_activity_at"]
    list_filter = ["status", "priority", "inbox", "team", "last_customer_channel", "assignee"]
    search_fields = ["subject", "contact__name", "contact__email", "contact__phone"]
    list_select_related = ["contact", "inbox", "assignee", "team"]
    fields = [
        "contact",
        "inbox",
        "subject",
        *CONVERSATION_EDITABLE,
        "opened_at",
        "first_customer_message_at",
        "first_reply_at",
        "resolved_at",
        "first_resolved_at",
        "last_activity_at",
        "last_customer_channel",
        "last_seq",
        "reopen_count",
        "previous",
    ]
    readonly_fields = [name for name in fields if name not in CONVERSATION_EDITABLE]
    date_hierarchy = "opened_at"
    inlines = [MessageInline]
    actions = ["resolve_selected", "reopen_selected"]

    def get_queryset(self, request):
        return selectors.conversation_list(request.user)

    def has_add_permission(self, request):
        return False  # conversations are opened by a customer's message

    def has_delete_permission(self, request, obj=None):
        return False  # the metrics count every conversation; a person's data is erased from Contacts

    def save_model(self, request, obj, form, change):
        """Each changed field through its service, in the console's order: reopen first, then
        assignment, transfer and priority, then snooze or resolve (which snapshots the assignee)."""
        data, changed, by = form.cleaned_data, set(form.changed_data), request.user
        before = form.initial.get("status")
        status = data.get("status", before)
        if "status" in changed and before == Status.RESOLVED:
            with refused_as("status"):
                services.conversation_reopen(conversation=obj, by=by)
        if "status" in changed and before == Status.SNOOZED and status != Status.SNOOZED:
            with refused_as("status"):
                services.conversation_unsnooze(conversation=obj, by=by)
        if "team" in changed:
            with refused_as("team", agent="assignee", non_field_errors="team"):
                services.conversation_transfer(conversation=obj, by=by, to_agent=data["assignee"], to_team=data["team"])
        elif "assignee" in changed:
            with refused_as("assignee"):
                services.conversation_assign(conversation=obj, assignee=data["assignee"], by=by)
        if "priority" in changed:
            with refused_as("priority"):
                services.conversation_set_priority(conversation=obj, by=by, priority=data["priority"])
        if status == Status.SNOOZED and changed & {"status", "snoozed_until"}:
            with refused_as("status", until="snoozed_until"):
                services.conversation_snooze(conversation=obj, by=by, until=data["snoozed_until"])
        if "status" in changed and status == Status.PENDING:
            with refused_as("status"):
                services.conversation_set_pending(conversation=obj, by=by)
        if "status" in changed and status == Status.RESOLVED:
            with refused_as("status"):
                services.conversation_resolve(conversation=obj, by=by)
        obj.refresh_from_db()

    @admin.action(description="Resolve the selected conversations", permissions=["change"])
    def resolve_selected(self, request, queryset):
        self.run_per_object(
            request,
            queryset,
            lambda conversation: services.conversation_resolve(conversation=conversation, by=request.user),
            done="Resolved {count} conversation(s).",
        )

    @admin.action(description="Reopen the selected conversations", permissions=["change"])
    def reopen_selected(self, request, queryset):
        self.run_per_object(
            request,
            queryset,
            lambda conversation: services.conversation_reopen(conversation=conversation, by=request.user),
            done="Reopened {count} conversation(s).",
        )


class AppendOnlyAdmin(admin.ModelAdmin):
    """A log: read here, written only by the services, never changed or deleted."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.ConversationEvent)
class ConversationEventAdmin(AppendOnlyAdmin):
    list_display = ["id", "conversation", "kind", "actor", "created_at"]
    list_filter = ["kind"]
    raw_id_fields = ["conversation"]


@admin.register(models.AuditLog)
class AuditLogAdmin(AppendOnlyAdmin):
    list_display = ["created_at", "actor", "action", "target_type", "target_id"]
    list_filter = ["action"]
    search_fields = ["target_id"]


@admin.register(models.CannedResponse)
class CannedResponseAdmin(admin.ModelAdmin):
    """`texts` holds the response in other languages ({"ru": "…"}); the console picks the customer's."""

    list_display = ["shortcut", "body"]
    search_fields = ["shortcut", "body"]
    readonly_fields = ["created_at"]

    def get_queryset(self, request):
        return selectors.canned_responses_visible_to(request.user)


@admin.register(models.AutomationRule)
class AutomationRuleAdmin(ServiceModelAdmin):
    """Made, changed and deleted by `chat.automation` (checked like the API's, audited)."""

    fields = ["name", "event", "inbox", "conditions", "actions", "active"]
    list_display = ["name", "event", "inbox", "active", "active_since"]
    list_filter = ["event", "active", "inbox"]
    search_fields = ["name"]

    def get_queryset(self, request):
        return automation.automation_rules_visible_to(request.user)

    def save_model(self, request, obj, form, change):
        wanted = {name: getattr(obj, name) for name in ["name", "event", "conditions", "actions", "active"]}
        with refused_as():
            if change:
                rule = automation.automation_rule_update(rule=obj, by=request.user, inbox=obj.inbox, **wanted)
            else:
                rule = automation.automation_rule_create(by=request.user, inbox=obj.inbox, **wanted)
        obj.pk, obj.active_since = rule.pk, rule.active_since

    def delete_model(self, request, obj):
        automation.automation_rule_delete(rule=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            automation.automation_rule_delete(rule=rule, by=request.user)


admin.site.unregister(User)


def _audit_role_change(request, user, form, fields: list[str], *, created: bool) -> None:
    """A change of what someone may do (staff, superuser, supervisor, active, groups) is an audit line
    with the new values, beside the admin's own change log."""
    changed = [name for name in fields if name in form.changed_data]
    if changed:
        values = {name: form.cleaned_data[name] for name in changed}
        if "groups" in values:
            values["groups"] = sorted(group.name for group in values["groups"])
        audit.record(actor=request.user, action="role_changed", target=user, data={"set": values, "new_user": created})


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Django's user admin, except that a user is deactivated, never deleted (deleting one
    would unassign their conversations with no event); deactivating an agent takes them offline
    through `agent_set_availability`, which hands back the conversations they have not answered."""

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        _audit_role_change(request, obj, form, ["is_active", "is_staff", "is_superuser", "groups"], created=not change)
        if change and "is_active" in form.changed_data and not obj.is_active and hasattr(obj, "agent"):
            services.agent_set_availability(user=obj, availability=models.AgentProfile.Availability.OFFLINE)
