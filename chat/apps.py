"""The chat app: the conversation core every channel feeds."""

from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Conversations"

    def ready(self) -> None:
        from . import automation, outbox, privacy, services, sla_services, timers, workspace

        timers.register("chat.snoozes", services.conversations_wake_due)
        timers.register("chat.pending", services.conversations_resolve_pending_due)
        timers.register("chat.sla", sla_services.sla_due)
        outbox.register_drain(automation.DRAIN, automation.drain)
        privacy.register_personal_data(export=workspace.contact_notes_export, erase=workspace.contact_notes_erase)
