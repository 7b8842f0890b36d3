"""Workspace settings and what an agent's account holds beyond Django's user."""

import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone


class WorkspaceSettings(models.Model):
    """The workspace's own settings: one row (pk 1), read with `selectors.workspace_settings()`."""

    require_two_factor = models.BooleanField(
        default=False,
        help_text="Supervisors and admins must sign in with a one-time code (TOTP) from an authenticator app.",
    )
    retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Delete the content of conversations resolved more than this many days ago (messages, "
        "attachments, subjects; the anonymous counts stay). Empty: keep everything.",
    )
    retention_next_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "workspace settings"
        verbose_name_plural = "workspace settings"

    def __str__(self) -> str:
        return "Workspace settings"


class AgentSession(models.Model):
    """A login session, listed so its user (or an admin) can see and end it.

    The row follows Django's session (`session_key`); ending it deletes that session from the
    store and closes the console sockets opened with it (`chat.events.broadcast_session_ended`).
    """

    class EndReason(models.TextChoices):
        LOGOUT = "logout"
        REVOKED = "revoked"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="login_sessions")
    session_key = models.CharField(max_length=40, unique=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=10, choices=EndReason.choices, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-last_seen_at"], name="agent_session_user_seen_idx")]

    def __str__(self) -> str:
        return f"Session {self.pk} of user {self.user_id}"


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A credential for the REST API (`Authorization: Bearer cxh_…`): read-only or not, limited to
    some inboxes or not, and always expiring. Only its digest is kept; the token is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="The token's first characters, to recognise it.")
    digest = models.CharField(max_length=64, unique=True)
    read_only = models.BooleanField(default=False)
    inboxes = models.ManyToManyField(
        "chat.Inbox", blank=True, related_name="+", help_text="Empty: every inbox its user sees."
    )
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
