"""The website widget's sessions: identity verification, visitor tokens and what a token may see.

`widget_session_start` is the write behind `POST /api/v1/widget/{inbox}/session`;
`signed_visitor_token` and `widget_connect_state` are what the widget socket's `auth` frame
checks and reads (one database hop; docs/adr/0016-signed-visitor-tokens.md).
"""

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from django.core import signing
from django.db import transaction
from django.db.models import Exists, FilteredRelation, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from chat.errors import ErrorCode
from cxhub import db
from cxhub.errors import Forbidden, NotFound

from . import events, languages
from .models import (
    DEFAULT_GREETING,
    AgentProfile,
    Contact,
    ContactIdentity,
    Conversation,
    Inbox,
    VisitorToken,
    hash_token,
)
from .selectors import active_conversation_of, root_contact
from .services import Claim, contact_identify, contact_set_locale

Kind = ContactIdentity.Kind


@dataclass(frozen=True)
class WidgetSession:
    visitor_token: str
    contact: Contact
    conversation: Conversation | None
    verified: bool


def web_inbox_by_public_id(public_id: str) -> Inbox:
    inbox = Inbox.objects.filter(public_id=str(public_id), channel="web").first()
    if inbox is None:
        raise NotFound(_("Inbox not found."))
    return inbox


# The widget socket's handshake reads its inbox on every connect: each process keeps the web
# inboxes it found for a few seconds (a changed origin list applies within that time).
INBOX_CACHE_SECONDS = 10.0
INBOX_CACHE_SIZE = 1000
_inboxes: dict[str, tuple[float, Inbox]] = {}


def cached_web_inbox(public_id: str) -> Inbox | None:
    """The web inbox `web_inbox_by_public_id` found within the last few seconds, or None."""
    hit = _inboxes.get(public_id)
    if hit is None or hit[0] < time.monotonic():
        return None
    return hit[1]


def remember_web_inbox(inbox: Inbox) -> None:
    if len(_inboxes) >= INBOX_CACHE_SIZE:
        _inboxes.clear()
    _inboxes[str(inbox.public_id)] = (time.monotonic() + INBOX_CACHE_SECONDS, inbox)


def origin_allowed(inbox: Inbox, origin: str | None) -> bool:
    """Whether a page served from `origin` may embed this inbox's widget (exact match, no wildcards)."""
    if not origin:
        return False
    allowed = {str(o).rstrip("/").lower() for o in (inbox.allowed_origins or [])}
    return origin.rstrip("/").lower() in allowed


def identity_hash_valid(inbox: Inbox, external_id: str, identity_hash: str) -> bool:
    """hex HMAC-SHA256(inbox.identity_secret, external_id), compared in constant time."""
    expected = hmac.new(inbox.identity_secret.encode(), external_id.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, identity_hash.strip().lower())


def inbox_agents_online(inbox_id: int) -> bool:
    return online_agents_of(inbox_id).exists()


# --- signed visitor tokens (docs/widget-identity.md, "Visitor tokens") ---------------------------

TOKEN_VERSION = "2"
_TOKEN_SALT = "chat.widget.visitor-token"


def _signer() -> signing.Signer:
    return signing.Signer(salt=_TOKEN_SALT, algorithm="sha256")  # SECRET_KEY, then SECRET_KEY_FALLBACKS


@dataclass(frozen=True, slots=True)
class SignedToken:
    """What a signed visitor token says: whose it is, for which inbox, which row, since when."""

    contact_id: int
    inbox_id: int
    token_id: int
    issued_at: int


def _signed_token_text(*, contact_id: int, inbox_id: int, token_id: int, issued_at: int) -> str:
    return _signer().sign(f"{TOKEN_VERSION}.{contact_id}.{inbox_id}.{token_id}.{issued_at}")


def signed_visitor_token(raw_token: str) -> SignedToken | None:
    """The claims of a version-2 token whose signature is good (no database read), else None.

    None is not a refusal: an opaque token of before version 2, or one signed with a key no
    longer configured, is looked up by its hash as before (`live_visitor_token`). Whether the
    token is still live is read with the session state (`widget_connect_state`).
    """
    if not isinstance(raw_token, str) or ":" not in raw_token or len(raw_token) > 200:
        return None
    try:
        value = _signer().unsign(raw_token)
    except signing.BadSignature:
        return None
    version, *fields = value.split(".")
    if version != TOKEN_VERSION or len(fields) != 4 or not all(f.isdigit() for f in fields):
        return None
    contact_id, inbox_id, token_id, issued_at = map(int, fields)
    return SignedToken(contact_id, inbox_id, token_id, issued_at)


@dataclass(frozen=True, slots=True)
class ConnectState:
    """What a widget socket's `auth.ok` needs, read in one statement."""

    token_live: bool
    merged_into_id: int | None
    name: str
    locale: str
    conversation_id: int | None
    conversation_inbox_id: int | None
    status: str | None
    last_seq: int
    agents_online: bool


def _connect_state_query(*, contact_id: int, inbox_id: int, token_id: int, token_contact_id: int):
    return (
        Contact.objects.filter(pk=contact_id)
        .annotate(
            open_conversation=FilteredRelation("conversations", condition=~Q(conversations__status="resolved")),
            token_live=Exists(
                VisitorToken.objects.filter(
                    visitor_token_live_q(token_id), contact_id=token_contact_id, inbox_id=inbox_id
                )
            ),
            agents_online=Exists(online_agents_of(inbox_id)),
        )
        .values_list(
            "token_live",
            "merged_into_id",
            "name",
            "locale",
            "open_conversation__id",
            "open_conversation__inbox_id",
            "open_conversation__status",
            "open_conversation__last_seq",
            "agents_online",
        )
        .order_by("pk")[:1]
    )


# Built and compiled once (cxhub.db.PreparedQuery): every widget connect runs it.
_CONNECT_STATE = db.PreparedQuery(
    _connect_state_query, contact_id=-9_000_001, inbox_id=-9_000_002, token_id=-9_000_003, token_contact_id=-9_000_004
)


def widget_connect_state(
    *, contact_id: int, inbox_id: int, token_id: int, token_contact_id: int | None = None
) -> ConnectState | None:
    """One query: is the token live (not revoked, not erased, its contact's — `token_contact_id`,
    else `contact_id` — and this inbox's), the contact's name, language and merge, its open
    conversation and whether an agent is online. None when the contact is gone."""
    token_contact_id = contact_id if token_contact_id is None else token_contact_id
    row = _CONNECT_STATE.first(
        contact_id=contact_id, inbox_id=inbox_id, token_id=token_id, token_contact_id=token_contact_id
    )
    if row is None:
        return None
    live, merged_into_id, name, locale, conversation_id, conversation_inbox_id, status, last_seq, online = row
    return ConnectState(
        bool(live),
        merged_into_id,
        name,
        locale,
        conversation_id,
        conversation_inbox_id,
        status,
        last_seq or 0,
        bool(online),
    )


def online_agents_of(inbox_id: int):
    return AgentProfile.objects.filter(
        availability=AgentProfile.Availability.ONLINE,
        user__is_active=True,
        user__inbox_memberships__inbox_id=inbox_id,
    )


def visitor_token_live_q(token_id: int) -> Q:
    return Q(pk=token_id, revoked_at__isnull=True)


def legacy_visitor_token(inbox: Inbox, raw_token: str) -> SignedToken | None:
    """What an opaque token (before version 2, or signed with a retired key) stands for, read by
    its hash: the path every token took before (one more hop on the socket's `auth`)."""
    row = (
        VisitorToken.objects.filter(token_hash=hash_token(raw_token), inbox=inbox, revoked_at__isnull=True)
        .values_list("contact_id", "pk", "created_at")
        .first()
        if raw_token and isinstance(raw_token, str) and len(raw_token) <= 200
        else None
    )
    if row is None:
        return None
    contact_id, token_id, created_at = row
    return SignedToken(contact_id, inbox.pk, token_id, int(created_at.timestamp()))


def live_visitor_token(inbox: Inbox, raw_token: str) -> VisitorToken | None:
    """The unrevoked token of this inbox (with its contact), or None."""
    if not raw_token or not isinstance(raw_token, str) or len(raw_token) > 200:
        return None
    return (
        VisitorToken.objects.select_related("contact")
        .filter(token_hash=hash_token(raw_token), inbox=inbox, revoked_at__isnull=True)
        .first()
    )


def visitor_token_live(token_id: int) -> bool:
    """Whether this token is still live (not revoked, not erased): one primary-key read."""
    return VisitorToken.objects.filter(visitor_token_live_q(token_id)).exists()


def live_visitor_token_ids(token_ids: set[int]) -> set[int]:
    """Which of these tokens are still live: one read for a group commit's messages."""
    return set(VisitorToken.objects.filter(pk__in=token_ids, revoked_at__isnull=True).values_list("pk", flat=True))


def _issue_token(*, inbox: Inbox, contact: Contact, verified: bool) -> str:
    """A signed token (version 2) naming its own row: the row first (under a random placeholder
    hash), then its hash. Stored hashed like before, so the REST endpoints read it the same way."""
    token = VisitorToken.objects.create(
        inbox=inbox, contact=contact, token_hash=secrets.token_hex(32), verified=verified
    )
    raw = signed_token_of(token)
    VisitorToken.objects.filter(pk=token.pk).update(token_hash=hash_token(raw))
    return raw


def signed_token_of(token: VisitorToken) -> str:
    """The signed (version 2) text of a stored token row; its `token_hash` must be this text's hash."""
    return _signed_token_text(
        contact_id=token.contact_id,
        inbox_id=token.inbox_id,
        token_id=token.pk,
        issued_at=int(token.created_at.timestamp()),
    )


@transaction.atomic
def widget_session_start(
    *,
    inbox: Inbox,
    name: str = "",
    email: str = "",
    phone: str = "",
    external_id: str = "",
    identity_hash: str = "",
    visitor_token: str = "",
    locale: str = "",
    browser_locale: str = "",
    time_zone: str = "",
) -> WidgetSession:
    """Who is chatting: a verified website user, a returning visitor, or a new anonymous one.

    A valid `identity_hash` makes the external id (and email/phone given with it) verified
    claims; a wrong one is refused before anything is written. Without one the visitor is
    anonymous and what they typed stays unverified (it never attaches to an existing person).
    The contact's language is the website's `locale` when it gives one, else the browser's;
    a malformed or unknown one is logged and left out (chat.languages).
    """
    session = _session_start(
        inbox=inbox,
        name=name,
        email=email,
        phone=phone,
        external_id=external_id,
        identity_hash=identity_hash,
        visitor_token=visitor_token,
    )
    contact = session.contact
    if locale and languages.normalise(locale, source="website"):
        contact = contact_set_locale(contact=contact, locale=locale, source=Contact.LocaleSource.WEBSITE)
    elif browser_locale:
        contact = contact_set_locale(contact=contact, locale=browser_locale, source=Contact.LocaleSource.BROWSER)
    if time_zone:
        contact = contact_set_locale(contact=contact, source=Contact.LocaleSource.BROWSER, time_zone=time_zone)
    return WidgetSession(session.visitor_token, contact, session.conversation, session.verified)


def _session_start(
    *,
    inbox: Inbox,
    name: str,
    email: str,
    phone: str,
    external_id: str,
    identity_hash: str,
    visitor_token: str,
) -> WidgetSession:
    previous = live_visitor_token(inbox, visitor_token)
    if identity_hash:
        if not external_id or not identity_hash_valid(inbox, external_id, identity_hash):
            raise Forbidden(_("The identity signature does not match."), code=ErrorCode.IDENTITY_INVALID)
        claims = [Claim(Kind.EXTERNAL, external_id, True)]
        if email:
            claims.append(Claim(Kind.EMAIL, email, True))
        if phone:
            claims.append(Claim(Kind.PHONE, phone, True))
        contact = contact_identify(claims=claims, name=name)
        reuse = previous is not None and previous.verified and root_contact(previous.contact).pk == contact.pk
        token = visitor_token if reuse else _issue_token(inbox=inbox, contact=contact, verified=True)
        return WidgetSession(token, contact, active_conversation_of(contact), True)

    # Anonymous. A verified token is only honoured with its signature: a signed-out page must
    # not get the signed-in user's conversation back.
    if previous is not None and not previous.verified:
        contact = root_contact(previous.contact)
        visitor = contact.identities.filter(kind=Kind.VISITOR).first()
        typed = _unverified_claims(email=email, phone=phone, external_id=external_id)
        if visitor is not None and (typed or name):
            contact = contact_identify(claims=[Claim(Kind.VISITOR, visitor.value, False), *typed], name=name)
        return WidgetSession(visitor_token, contact, active_conversation_of(contact), False)

    claims = [
        Claim(Kind.VISITOR, secrets.token_urlsafe(16), False),
        *_unverified_claims(email=email, phone=phone, external_id=external_id),
    ]
    contact = contact_identify(claims=claims, name=name)
    token = _issue_token(inbox=inbox, contact=contact, verified=False)
    return WidgetSession(token, contact, active_conversation_of(contact), False)


def greeting_of(inbox: Inbox) -> str:
    """The widget's greeting in the active language: the inbox's own, or the default's translation."""
    if not inbox.greeting or inbox.greeting == DEFAULT_GREETING:
        return _("Hi! How can we help?")
    return inbox.greeting


def _unverified_claims(*, email: str, phone: str, external_id: str) -> list[Claim]:
    claims = []
    if email:
        claims.append(Claim(Kind.EMAIL, email, False))
    if phone:
        claims.append(Claim(Kind.PHONE, phone, False))
    if external_id:
        claims.append(Claim(Kind.EXTERNAL, external_id, False))
    return claims


@transaction.atomic
def visitor_token_revoke(*, inbox: Inbox, token: str) -> bool:
    """Revoke a visitor token (e.g. the website signs the user out); True when one was live."""
    live = VisitorToken.objects.filter(token_hash=hash_token(token), inbox=inbox, revoked_at__isnull=True)
    rows = list(live.values_list("pk", "contact_id"))
    if not live.update(revoked_at=timezone.now()):
        return False
    for token_id, contact_id in rows:
        events.broadcast_tokens_revoked(contact_id, token_id=token_id)
    return True
