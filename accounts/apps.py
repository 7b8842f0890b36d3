"""The accounts app: how agents and admins sign in and what they may do with their credentials."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and workspace"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chat import consumers

        from . import selectors

        # a console socket needs what a page needs: the one-time code when the user must give one
        consumers.register_session_check(selectors.session_passes_two_factor)
