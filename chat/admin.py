"""Django admin for the conversation core: inboxes, teams, agents, contacts, conversations."""

from django.contrib import admin

from . import models


class InboxMembershipInline(admin.TabularInline):
    model = models.InboxMembership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(models.Inbox)
class InboxAdmin(admin.ModelAdmin):
    list_display = ["name", "channel", "public_id", "email_address", "phone_number", "default_team"]
    list_filter = ["channel", "default_team"]
    search_fields = ["name", "public_id", "email_address", "phone_number"]
    readonly_fields = ["public_id", "created_at"]
    inlines = [InboxMembershipInline]


@admin.register(models.Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "lead", "is_retention"]
    list_filter = ["is_retention"]
    search_fields = ["name"]


@admin.register(models.AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    list_display = ["display_name", "user", "availability", "capacity", "is_supervisor"]
    list_filter = ["availability", "is_supervisor", "teams"]
    search_fields = ["display_name", "user__username", "user__email"]
    autocomplete_fields = ["user"]
    filter_horizontal = ["teams"]


class ContactIdentityInline(admin.TabularInline):
    model = models.ContactIdentity
    extra = 0
    fields = ["kind", "value", "verified", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(models.Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["__str__", "email", "phone", "external_id", "at_risk_until", "merged_into", "created_at"]
    list_filter = ["sms_opted_out", "survey_opted_out", ("merged_into", admin.EmptyFieldListFilter)]
    search_fields = ["name", "email", "phone", "external_id", "identities__value"]
    readonly_fields = ["merged_into", "created_at", "updated_at"]
    inlines = [ContactIdentityInline]


class MessageInline(admin.TabularInline):
    model = models.Message
    extra = 0
    fields = ["seq", "sender_kind", "channel", "body", "is_note", "delivery_status", "created_at"]
    readonly_fields = fields
    can_delete = False
    ordering = ["seq"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(models.Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["id", "contact", "inbox", "status", "priority", "assignee", "team", "last_activity_at"]
    list_filter = ["status", "priority", "inbox", "team", "last_customer_channel", "assignee"]
    search_fields = ["subject", "contact__name", "contact__email", "contact__phone"]
    list_select_related = ["contact", "inbox", "assignee", "team"]
    readonly_fields = ["last_seq", "opened_at", "first_reply_at", "resolved_at", "first_resolved_at", "previous"]
    raw_id_fields = ["contact"]
    date_hierarchy = "opened_at"
    inlines = [MessageInline]


@admin.register(models.ConversationEvent)
class ConversationEventAdmin(admin.ModelAdmin):
    list_display = ["id", "conversation", "kind", "actor", "created_at"]
    list_filter = ["kind"]
    raw_id_fields = ["conversation"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(models.AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor", "action", "target_type", "target_id"]
    list_filter = ["action"]
    search_fields = ["target_id"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.CannedResponse)
class CannedResponseAdmin(admin.ModelAdmin):
    list_display = ["shortcut", "body"]
    search_fields = ["shortcut", "body"]
