"""Django admin for surveys: policies per inbox (through the policy service), invitations and
responses (read-only: they are the metrics' input).

Nothing here can answer a survey: answers come only from the customer's token or phone.
"""

from django import forms
from django.contrib import admin

from cxhub.errors import InvalidInput
from cxhub.service_admin import ServiceModelAdmin, ServiceRefusal, deleted_with_its_owner, refused_as

from . import selectors, services
from .models import SurveyInvitation, SurveyPolicy, SurveyResponse


class SurveyPolicyAdminForm(forms.ModelForm):
    """Validated by `services.survey_policy_clean`, the function behind the API's PATCH too."""

    class Meta:
        model = SurveyPolicy
        fields = [field.name for field in SurveyPolicy._meta.fields if field.name in {"inbox", *services.POLICY_FIELDS}]

    def clean(self):
        cleaned_data = super().clean()
        fields = {name: cleaned_data[name] for name in services.POLICY_FIELDS if name in cleaned_data}
        try:
            inbox = cleaned_data.get("inbox")
            services.survey_policy_clean(fields, default_language=inbox.language if inbox else "")
        except InvalidInput as error:
            ServiceRefusal(error).add_to(self)
        return cleaned_data


@admin.register(SurveyPolicy)
class SurveyPolicyAdmin(ServiceModelAdmin):
    form = SurveyPolicyAdminForm
    list_display = ["inbox", "enabled", "questions", "delay", "expiry", "cooldown", "sample_rate"]
    list_filter = ["enabled"]
    search_fields = ["inbox__name"]
    autocomplete_fields = ["inbox"]

    def get_readonly_fields(self, request, obj=None):
        return ["inbox"] if obj else []

    def has_delete_permission(self, request, obj=None):
        # As in the API: a policy is changed (or disabled), never removed; it goes with its inbox.
        return deleted_with_its_owner(request, obj)

    def save_model(self, request, obj, form, change):
        fields = {
            name: form.cleaned_data[name]
            for name in services.POLICY_FIELDS
            if name in form.cleaned_data and (not change or name in form.changed_data)
        }
        with refused_as():
            policy = services.survey_policy_update(inbox=obj.inbox, by=request.user, **fields)
        obj.pk = policy.pk


class ReadOnlyAdmin(admin.ModelAdmin):
    """Written only by the survey services and read by the metrics pipeline: never edited here."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
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

    def get_queryset(self, request):
        return selectors.responses_visible_to(request.user)
