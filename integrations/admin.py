"""Admin of the outbound webhooks: subscriptions (editable settings, checked by the model's
clean()) and the delivery log (read-only; redelivery goes through `webhooks.delivery_redeliver`)."""

from django.contrib import admin, messages

from cxhub.service_admin import deleted_with_its_owner

from . import webhooks
from .models import WebhookDelivery, WebhookSubscription


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["name", "url", "inbox", "is_active", "created_at"]
    list_filter = ["is_active", "inbox"]
    search_fields = ["name", "url"]
    readonly_fields = ["created_by", "created_at"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "event_type", "subscription", "status", "attempts", "last_status_code", "last_error"]
    list_filter = ["status", "event_type", "subscription"]
    search_fields = ["event_type", "last_error", "=event_id"]
    actions = ["redeliver"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # The log of what was sent: never deleted on its own; it goes with its subscription.
        return deleted_with_its_owner(request, obj)

    @admin.action(description="Deliver again from the first attempt")
    def redeliver(self, request, queryset):
        for delivery in queryset:
            webhooks.delivery_redeliver(delivery=delivery)
        self.message_user(request, f"{queryset.count()} deliveries queued again.", messages.SUCCESS)
