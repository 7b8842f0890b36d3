"""Reads of accounts: the workspace's settings and what a user's sign-in needs."""

import heapq
import json
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from chat import retention
from chat.models import AuditLog
from chat.selectors import user_is_supervisor
from cxhub.errors import NotFound

from .models import AgentSession, ApiToken, WorkspaceSettings, token_digest


def workspace_settings() -> WorkspaceSettings:
    """The one settings row (made with its defaults the first time it is read)."""
    row, _ = WorkspaceSettings.objects.get_or_create(pk=1)
    return row


def totp_device_of(user: AbstractBaseUser, *, confirmed: bool = True) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=confirmed).order_by("-pk").first()


def recovery_codes_left(user: AbstractBaseUser) -> int:
    device = StaticDevice.objects.filter(user=user, confirmed=True).first()
    return device.token_set.count() if device else 0


def two_factor_enrolled(user: AbstractBaseUser) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def two_factor_mandatory(user: AbstractBaseUser) -> bool:
    """Supervisors and admins must use a second factor when the workspace says so."""
    return user_is_supervisor(user) and workspace_settings().require_two_factor


def two_factor_required(user: AbstractBaseUser) -> bool:
    """Whether this user's sign-in needs a one-time code: they enrolled, or their role must."""
    if not user or not user.is_authenticated:
        return False
    return two_factor_enrolled(user) or two_factor_mandatory(user)


def session_two_factor_verified(session) -> bool:
    """The session was verified with a one-time code (django_otp.login put the device there)."""
    return bool(session is not None and session.get(DEVICE_ID_SESSION_KEY))


def session_passes_two_factor(user: AbstractBaseUser, session) -> bool:
    """A session may use the console, the API and the sockets: no code needed, or one was given."""
    return session_two_factor_verified(session) or not two_factor_required(user)


def sessions_of(user: AbstractBaseUser):
    """A user's open login sessions, the most recently used first."""
    return AgentSession.objects.filter(user=user, ended_at__isnull=True).order_by("-last_seen_at", "-pk")


def _owned_get(rows, viewer: AbstractBaseUser, row_id):
    """One of `rows` that is the viewer's own (admins, who are staff: anyone's), else NotFound."""
    if not viewer.is_staff:
        rows = rows.filter(user=viewer)
    row = rows.filter(pk=row_id).first() if str(row_id).isdigit() else None
    if row is None:
        raise NotFound()
    return row


def session_get(viewer: AbstractBaseUser, session_id) -> AgentSession:
    """One open session the viewer may end: their own; admins (staff) any. Else NotFound."""
    return _owned_get(AgentSession.objects.filter(ended_at__isnull=True), viewer, session_id)


def session_may_open_socket(user: AbstractBaseUser, session) -> bool:
    """The console socket's check: a second factor when one is needed, and a session not ended."""
    if not session_passes_two_factor(user, session):
        return False
    key = getattr(session, "session_key", None)
    return not key or not AgentSession.objects.filter(session_key=key, ended_at__isnull=False).exists()


def api_token_for(raw: str) -> ApiToken | None:
    """The token a request shows (any state: the caller says why one is refused), with its user and
    their agent profile, in one query; `limited_inbox_ids` reads its inboxes only when it has some."""
    limited = ApiToken.inboxes.through.objects.filter(apitoken_id=OuterRef("pk"))
    return (
        ApiToken.objects.select_related("user", "user__agent")
        .annotate(limited=Exists(limited))
        .filter(digest=token_digest(raw))
        .first()
    )


def limited_inbox_ids(token: ApiToken) -> list[int]:
    """The inboxes a token is limited to (none: not limited), without a query when it is not."""
    if not getattr(token, "limited", True):
        return []
    return list(token.inboxes.values_list("id", flat=True))


def api_tokens_of(user: AbstractBaseUser):
    """A user's tokens that still work (not revoked, not expired), newest first."""
    return (
        ApiToken.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=timezone.now())
        .prefetch_related("inboxes")
        .order_by("-pk")
    )


def api_token_get(viewer: AbstractBaseUser, token_id) -> ApiToken:
    """One of the viewer's tokens not yet revoked (admins: anyone's). Else NotFound."""
    return _owned_get(ApiToken.objects.filter(revoked_at__isnull=True), viewer, token_id)


# --- the audit log as JSON lines -----------------------------------------------------------

ADMIN_ACTIONS = {1: "admin_add", 2: "admin_change", 3: "admin_delete"}


def _actor(user) -> dict | None:
    return None if user is None else {"id": user.pk, "username": user.get_username()}


def _service_lines(since, until) -> Iterator[tuple]:
    rows = AuditLog.objects.select_related("actor").order_by("created_at", "pk")
    rows = rows.filter(created_at__gte=since) if since else rows
    rows = rows.filter(created_at__lt=until) if until else rows
    for row in rows.iterator(chunk_size=1000):
        yield (
            row.created_at,
            0,
            row.pk,
            {
                "at": row.created_at.isoformat(),
                "source": "service",
                "actor": _actor(row.actor),
                "action": row.action,
                "target": {"type": row.target_type, "id": row.target_id},
                "data": row.data,
            },
        )


def _admin_lines(since, until) -> Iterator[tuple]:
    rows = LogEntry.objects.select_related("user", "content_type").order_by("action_time", "pk")
    rows = rows.filter(action_time__gte=since) if since else rows
    rows = rows.filter(action_time__lt=until) if until else rows
    for row in rows.iterator(chunk_size=1000):
        try:
            changes = json.loads(row.change_message or "[]")
        except ValueError:
            changes = row.change_message
        content_type = row.content_type
        yield (
            row.action_time,
            1,
            row.pk,
            {
                "at": row.action_time.isoformat(),
                "source": "admin",
                "actor": _actor(row.user),
                "action": ADMIN_ACTIONS.get(row.action_flag, "admin"),
                "target": {
                    "type": f"{content_type.app_label}.{content_type.model}" if content_type else "",
                    "id": row.object_id or "",
                },
                "data": {"object": row.object_repr, "changes": changes},
            },
        )


def audit_lines(*, since: datetime | None = None, until: datetime | None = None) -> Iterator[dict]:
    """Every audited action in time order: the services' audit log (privacy, accounts, settings,
    policies, exports) and everything done in the Django admin (its LogEntry: role changes among
    them), one dict per line of the JSON-lines export."""
    for _at, _source, _pk, line in heapq.merge(_service_lines(since, until), _admin_lines(since, until)):
        yield line


def retention_preview(days: int) -> dict:
    """What a retention of `days` would delete now (a dry run: counts, nothing changed)."""
    return retention.count_due(timezone.now() - timedelta(days=days))
