"""Workspace settings and what an agent's account holds beyond Django's user."""

from django.db import models
from django.utils import timezone


class WorkspaceSettings(models.Model):
    """The workspace's own settings: one row (pk 1), read with `selectors.workspace_settings()`."""

    require_two_factor = models.BooleanField(
        default=False,
        help_text="Supervisors and admins must sign in with a one-time code (TOTP) from an authenticator app.",
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "workspace settings"
        verbose_name_plural = "workspace settings"

    def __str__(self) -> str:
        return "Workspace settings"
