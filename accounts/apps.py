"""The accounts app: how agents and admins sign in and what they may do with their credentials."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and workspace"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from chat import consumers, timers

        from . import selectors, services

        # a console socket needs what a page needs: the one-time code when the user must give one,
        # and a login session that was not ended
        consumers.register_session_check(selectors.session_may_open_socket)
        # the workspace's retention: old conversations' content deleted, counts kept (chat/retention.py)
        timers.register("accounts.retention", services.retention_run_due)
        # Django's logout ends the listed session too, and closes its console sockets
        user_logged_out.connect(
            lambda sender, request, user, **kwargs: services.session_logged_out(
                session_key=getattr(getattr(request, "session", None), "session_key", None)
            ),
            weak=False,
            dispatch_uid="accounts.session_logged_out",
        )
