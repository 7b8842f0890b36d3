"""Django admin for surveys: policies per inbox (editable), invitations and responses (read-only).

Nothing here can answer a survey: answers come only from the customer's token or phone.
"""

from django.contrib import admin

from .models import SurveyInvitation, SurveyPolicy, SurveyResponse


@admin.register(SurveyPolicy)
class SurveyPolicyAdmin(admin.ModelAdmin):
    list_display = ["inbox", "enabled", "questions", "delay", "expiry", "cooldown", "sample_rate"]
    list_filter = ["enabled"]
    search_fields = ["inbox__name"]
    autocomplete_fields = ["inbox"]


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SurveyInvitation)
class SurveyInvitationAdmin(ReadOnlyAdmin):
    list_display = ["id", "conversation", "contact", "channel", "status", "skip_reason", "scheduled_for", "sent_at"]
    list_filter = ["status", "channel", "skip_reason", "inbox"]
    search_fields = ["contact__name", "contact__email", "contact__phone", "conversation__id"]
    exclude = ["token_hash"]
    date_hierarchy = "created_at"


@admin.register(SurveyResponse)
class SurveyResponseAdmin(ReadOnlyAdmin):
    list_display = ["id", "invitation", "csat", "ces", "nps", "channel", "answered_at"]
    list_filter = ["channel", "csat", "invitation__inbox"]
    search_fields = ["comment", "invitation__contact__name", "invitation__contact__email"]
    date_hierarchy = "answered_at"
