"""Writes of accounts: two-factor enrolment and verification, workspace settings; audited.

A time-based one-time code (TOTP, RFC 6238) is accepted once: the device row is locked while it
is checked, and django-otp refuses a code whose time step is not after the last one accepted, so
the same code replayed within its 30-second window (or raced from two requests) is refused.
Recovery codes are django-otp static tokens: each works once and is deleted when used.
"""

import logging
import secrets
from datetime import timedelta
from importlib import import_module

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from chat import audit, events, retention
from chat import selectors as chat_selectors
from cxhub.errors import Forbidden, InvalidInput

from . import selectors
from .errors import ErrorCode
from .models import AgentSession, ApiToken, WorkspaceSettings, token_digest

logger = logging.getLogger(__name__)

RECOVERY_CODE_COUNT = 10
TOTP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"


def _clean_code(code: str) -> str:
    return "".join(str(code or "").split()).replace("-", "").lower()


@transaction.atomic
def totp_enrol_start(*, user: AbstractBaseUser) -> TOTPDevice:
    """A new, unconfirmed authenticator for `user` (its secret is shown once to be scanned)."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)


def _recovery_codes_issue(user: AbstractBaseUser) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def _totp_check(device: TOTPDevice, code: str) -> bool:
    """Check `code` against a locked device row; a throttled device refuses without checking."""
    allowed, _details = device.verify_is_allowed()
    if not allowed:
        raise Forbidden(_("Too many wrong codes; wait a little and try again."), code=ErrorCode.OTP_THROTTLED)
    return device.verify_token(code)


def totp_enrol_confirm(*, user: AbstractBaseUser, code: str) -> tuple[TOTPDevice, list[str]]:
    """The first code from the new authenticator confirms it; returns it with fresh recovery codes."""
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("-pk").first()
        if device is None:
            raise InvalidInput(_("Start the set-up again."), code=ErrorCode.NOT_ENROLLED)
        accepted = _totp_check(device, _clean_code(code))
        if accepted:
            TOTPDevice.objects.filter(user=user, confirmed=True).delete()
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            codes = _recovery_codes_issue(user)
            audit.record(actor=user, action="two_factor_enrolled", target=user)
    # refused outside the transaction: the device's failure count (its throttle) is kept
    if not accepted:
        raise InvalidInput(_("That code is not right. Try the current one."), code=ErrorCode.OTP_INVALID)
    return device, codes


def two_factor_verify(*, user: AbstractBaseUser, code: str):
    """The device that accepts `code` (the authenticator, else a recovery code, used up), or InvalidInput.

    The refusal is raised after the transaction commits, so the device keeps its failure count
    (django-otp's throttle: each wrong code doubles the wait before the next try)."""
    code = _clean_code(code)
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).order_by("-pk").first()
        if device is not None and code.isdigit() and _totp_check(device, code):
            return device
        recovery = StaticDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
        if recovery is not None and code and not code.isdigit() and recovery.verify_token(code):
            audit.record(
                actor=user, action="recovery_code_used", target=user, data={"left": recovery.token_set.count()}
            )
            return recovery
    logger.info("wrong one-time code for user %s", user.pk)
    raise InvalidInput(_("That code is not right. Try the current one."), code=ErrorCode.OTP_INVALID)


@transaction.atomic
def recovery_codes_regenerate(*, user: AbstractBaseUser) -> list[str]:
    if not selectors.two_factor_enrolled(user):
        raise InvalidInput(_("Set up an authenticator app first."), code=ErrorCode.NOT_ENROLLED)
    codes = _recovery_codes_issue(user)
    audit.record(actor=user, action="recovery_codes_regenerated", target=user)
    return codes


@transaction.atomic
def two_factor_reset(*, user: AbstractBaseUser, by: AbstractBaseUser) -> None:
    """An admin removes a user's authenticator and recovery codes (a lost phone); audited."""
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    audit.record(actor=by, action="two_factor_reset", target=user)


def retention_days_clean(value) -> int | None:
    """None (keep everything) or a whole number of days, at least 1; else InvalidInput (a 400)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(
            _("Retention is a whole number of days, at least 1 (or none: keep everything)."),
            fields={"retention_days": [_("At least 1 day.")]},
            code=ErrorCode.RETENTION_INVALID,
        )
    return value


@transaction.atomic
def workspace_settings_update(*, by: AbstractBaseUser | None, **changes) -> WorkspaceSettings:
    """Change the workspace's settings (admins); every change is in the audit log."""
    if "retention_days" in changes:
        changes["retention_days"] = retention_days_clean(changes["retention_days"])
        changes["retention_next_run_at"] = None  # a new period applies at the next timer run
    row = WorkspaceSettings.objects.select_for_update().get(pk=selectors.workspace_settings().pk)
    before = {}
    for name, value in changes.items():
        if getattr(row, name) != value:
            before[name] = getattr(row, name)
            setattr(row, name, value)
    before.pop("retention_next_run_at", None)
    if before:
        row.updated_at = timezone.now()
        row.save()
        audit.record(
            actor=by,
            action="workspace_settings_changed",
            target=row,
            data={"changes": {name: [old, changes[name]] for name, old in before.items()}},
        )
    return row


# --- login sessions ------------------------------------------------------------------------

SESSION_SEEN_EVERY = timedelta(minutes=1)  # how often a session's `last_seen_at` is written


def session_touch(*, user: AbstractBaseUser, session_key: str, ip_address=None, user_agent: str = "") -> bool:
    """Note that `user` used this login session now (listed from then on); False when it was ended."""
    now = timezone.now()
    row, created = AgentSession.objects.get_or_create(
        session_key=session_key,
        defaults={"user": user, "ip_address": ip_address, "user_agent": user_agent[:300], "last_seen_at": now},
    )
    if row.ended_at is not None or row.user_id != user.pk:
        return False
    if not created and now - row.last_seen_at >= SESSION_SEEN_EVERY:
        AgentSession.objects.filter(pk=row.pk).update(last_seen_at=now, ip_address=ip_address or row.ip_address)
    return True


def _session_store_delete(session_key: str) -> None:
    import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key).delete()


@transaction.atomic
def session_end(*, session: AgentSession, by: AbstractBaseUser | None, reason: str = AgentSession.EndReason.REVOKED):
    """End a login session: it is signed out at once (its cookie stops working, its console sockets
    close). Ending someone else's session is audited."""
    row = AgentSession.objects.select_for_update().get(pk=session.pk)
    if row.ended_at is None:
        row.ended_at, row.end_reason = timezone.now(), reason
        row.save(update_fields=["ended_at", "end_reason"])
    _session_store_delete(row.session_key)
    events.broadcast_session_ended(row.session_key)
    if by is not None and by.pk != row.user_id:
        audit.record(actor=by, action="session_revoked", target=row.user, data={"session_id": row.pk})
    return row


def sessions_end_others(*, user: AbstractBaseUser, keep_session_key: str | None) -> int:
    """ "Sign out everywhere else": every open session of `user` but this one."""
    others = AgentSession.objects.filter(user=user, ended_at__isnull=True).exclude(session_key=keep_session_key or "")
    ended = 0
    for row in others:
        session_end(session=row, by=user)
        ended += 1
    return ended


def session_logged_out(*, session_key: str | None) -> None:
    """Django's logout ended a session: its row says so and its console sockets close."""
    if not session_key:
        return
    with transaction.atomic():
        AgentSession.objects.filter(session_key=session_key, ended_at__isnull=True).update(
            ended_at=timezone.now(), end_reason=AgentSession.EndReason.LOGOUT
        )
        events.broadcast_session_ended(session_key)


# --- API tokens --------------------------------------------------------------------------

TOKEN_PREFIX = "cxh_"
TOKEN_MAX_DAYS = 365
TOKEN_DEFAULT_DAYS = 90


@transaction.atomic
def api_token_create(
    *,
    user: AbstractBaseUser,
    name: str,
    read_only: bool = False,
    inbox_ids: list[int] | None = None,
    expires_in_days: int = TOKEN_DEFAULT_DAYS,
) -> tuple[ApiToken, str]:
    """A new API token for `user`; returns it with the raw token, which is never shown again.

    `inbox_ids` limits it to some of the inboxes the user sees (empty: all of them); it expires
    after `expires_in_days` (1 to 365)."""
    fields = {}
    name = (name or "").strip()
    if not name or len(name) > 100:
        fields["name"] = [_("Give the token a name of at most 100 characters.")]
    if not isinstance(expires_in_days, int) or not 1 <= expires_in_days <= TOKEN_MAX_DAYS:
        fields["expires_in_days"] = [_("A whole number of days from 1 to %(max)s.") % {"max": TOKEN_MAX_DAYS}]
    inbox_ids = sorted(set(inbox_ids or []))
    visible = set(chat_selectors.inboxes_visible_to(user).filter(pk__in=inbox_ids).values_list("pk", flat=True))
    if set(inbox_ids) - visible:
        fields["inboxes"] = [_("Not an inbox you can see: %(ids)s.") % {"ids": sorted(set(inbox_ids) - visible)}]
    if fields:
        raise InvalidInput(fields=fields)
    secret = secrets.token_urlsafe(32)
    raw = f"{TOKEN_PREFIX}{secret}"
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=raw[: len(TOKEN_PREFIX) + 6],
        digest=token_digest(raw),
        read_only=bool(read_only),
        expires_at=timezone.now() + timedelta(days=expires_in_days),
    )
    token.inboxes.set(inbox_ids)
    audit.record(
        actor=user,
        action="api_token_created",
        target=token,
        data={"read_only": token.read_only, "inboxes": inbox_ids, "expires_at": token.expires_at.isoformat()},
    )
    return token, raw


@transaction.atomic
def api_token_revoke(*, token: ApiToken, by: AbstractBaseUser | None) -> ApiToken:
    if token.revoked_at is None:
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        audit.record(actor=by, action="api_token_revoked", target=token, data={"user": token.user_id})
    token.refresh_from_db()
    return token


def api_token_used(*, token: ApiToken) -> None:
    """Note the token's use (at most once a minute: no write on every request)."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= SESSION_SEEN_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)


def audit_exported(*, by: AbstractBaseUser | None, since, until, via: str) -> None:
    """The audit export is itself audited (who took a copy of the log, of which period)."""
    audit.record(
        actor=by,
        action="audit_export",
        target_type="audit_log",
        target_id="",
        data={"since": since.isoformat() if since else None, "until": until.isoformat() if until else None, "via": via},
    )


# --- retention -----------------------------------------------------------------------------

RETENTION_EVERY = timedelta(hours=1)  # how often the timer looks for newly due conversations


def retention_cutoff(days: int, now=None):
    return (now or timezone.now()) - timedelta(days=days)


def retention_run_due() -> int:
    """The `accounts.retention` timer (chat/timers.py): when the workspace keeps conversations for N
    days and its next run is due, purge one batch of the conversations resolved before now − N days.
    A full batch runs again at the next tick, else in an hour. One read of the settings row when
    nothing is due; safe twice (the row is locked while a run decides)."""
    row = selectors.workspace_settings()
    now = timezone.now()
    if row.retention_days is None or (row.retention_next_run_at and row.retention_next_run_at > now):
        return 0
    with transaction.atomic():
        row = WorkspaceSettings.objects.select_for_update().get(pk=row.pk)
        if row.retention_days is None or (row.retention_next_run_at and row.retention_next_run_at > now):
            return 0
        counts = retention.purge(cutoff=retention_cutoff(row.retention_days, now))
        more = counts["conversations"] >= retention.BATCH
        row.retention_next_run_at = now if more else now + RETENTION_EVERY
        row.save(update_fields=["retention_next_run_at"])
        if counts["conversations"]:
            audit.record(
                actor=None,
                action="retention_purge",
                target=row,
                data={**counts, "retention_days": row.retention_days},
            )
    return counts["conversations"]


def retention_purge_all(*, days: int, by: AbstractBaseUser | None = None) -> dict:
    """Purge every conversation due at now − `days` (manage.py retention_run), batch after batch."""
    days = retention_days_clean(days)
    cutoff = retention_cutoff(days)
    total: dict[str, int] = {}
    while True:
        counts = retention.purge(cutoff=cutoff)
        for name, value in counts.items():
            total[name] = total.get(name, 0) + value
        if counts["conversations"] < retention.BATCH:
            break
    audit.record(
        actor=by,
        action="retention_purge",
        target=selectors.workspace_settings(),
        data={**total, "retention_days": days},
    )
    return total
