"""The website widget's sessions: identity verification, visitor tokens and what a token may see.

`widget_session_start` is the write behind `POST /api/v1/widget/{inbox}/session`;
`live_visitor_token` is the read behind the widget socket's `auth` frame.
"""

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from chat.errors import ErrorCode
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
    return AgentProfile.objects.filter(
        availability=AgentProfile.Availability.ONLINE,
        user__is_active=True,
        user__inbox_memberships__inbox_id=inbox_id,
    ).exists()


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
    return VisitorToken.objects.filter(pk=token_id, revoked_at__isnull=True).exists()


def live_visitor_token_ids(token_ids: set[int]) -> set[int]:
    """Which of these tokens are still live: one read for a group commit's messages."""
    return set(VisitorToken.objects.filter(pk__in=token_ids, revoked_at__isnull=True).values_list("pk", flat=True))


def _issue_token(*, inbox: Inbox, contact: Contact, verified: bool) -> str:
    raw = secrets.token_urlsafe(32)
    VisitorToken.objects.create(inbox=inbox, contact=contact, token_hash=hash_token(raw), verified=verified)
    return raw


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
    contact_ids = list(live.values_list("contact_id", flat=True))
    if not live.update(revoked_at=timezone.now()):
        return False
    for contact_id in contact_ids:
        events.broadcast_tokens_revoked(contact_id, token_hash=hash_token(token))
    return True
