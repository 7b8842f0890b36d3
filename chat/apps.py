"""The chat app: the conversation core every channel feeds."""

from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Conversations"

    def ready(self) -> None:
        from . import services, timers

        timers.register("chat.snoozes", services.conversations_wake_due)
