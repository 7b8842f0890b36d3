"""Admin of accounts: the workspace's settings (through its service, audited). The authenticator
devices stay out of the admin (their secrets are nobody's to read): `manage.py two_factor_reset`."""

from django.contrib import admin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from cxhub.service_admin import ServiceModelAdmin, refused_as

from . import services
from .models import WorkspaceSettings

for device_model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(device_model):
        admin.site.unregister(device_model)

SETTINGS_FIELDS = ["require_two_factor", "retention_days"]


@admin.register(WorkspaceSettings)
class WorkspaceSettingsAdmin(ServiceModelAdmin):
    fields = SETTINGS_FIELDS
    list_display = ["__str__", *SETTINGS_FIELDS, "updated_at"]

    def has_add_permission(self, request):
        return not WorkspaceSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        with refused_as():
            row = services.workspace_settings_update(
                by=request.user, **{name: form.cleaned_data[name] for name in SETTINGS_FIELDS}
            )
        obj.pk = row.pk
