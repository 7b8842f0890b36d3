"""The email channel: MIME in (SMTP receiver, HTTP hook), agent replies out through Django's mail backend.

In: `email_receive(raw=..., recipients=...)` parses the MIME for real (the reply above the quoted
history, sanitised HTML, attachments within limits, any charset), works out the inbox (its
address, or a `reply+<token>@EMAIL_DOMAIN` reply-to address) and who wrote (the sender's address
is a verified claim: it emailed in), and calls `chat.services.message_receive`. The Message-ID
(provider "email") makes a retried delivery store one message.

Out: `email_send(message=...)` sends an agent's reply From the inbox's address with Reply-To the
conversation's token address, a Message-ID we keep (so replies thread back) and In-Reply-To /
References set from the thread, as text and HTML alternatives.
"""

import hashlib
import hmac
import html as html_lib
import logging
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formataddr, getaddresses, parseaddr

import nh3
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.validators import validate_email
from django.db import transaction
from django.utils.html import escape, linebreaks
from django.utils.translation import gettext as _
from mailparser_reply import EmailReplyParser
from rest_framework import status

from chat import attachments, languages, payloads, selectors, services
from chat.errors import ErrorCode
from chat.models import Channel, ContactIdentity, Conversation, Inbox, Message
from chat.selectors import root_contact
from chat.services import Claim, Received
from cxhub.errors import DomainError, InvalidInput, NotFound

logger = logging.getLogger(__name__)

PROVIDER = "email"
REPLY_LOCAL_PREFIX = "reply+"
SYNTHETIC_ID_PREFIX = "<sha256."
# Text handed to the reply parser: its regexes are not meant for megabytes.
REPLY_PARSER_MAX_CHARS = 100_000
HTML_MAX_CHARS = 200_000
REPLY_LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pt", "sv", "pl"]
SANITISER_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4", "hr", "i", "img", "li",
    "ol", "p", "pre", "s", "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr",
    "u", "ul",
}  # fmt: skip


class EmailTooLarge(DomainError):
    code = "email_too_large"
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "This email is larger than the limit."


@dataclass
class ParsedEmail:
    """What the connector needs from one MIME message; every field is safe to store."""

    message_id: str
    sender: str
    sender_name: str
    subject: str
    text: str
    full_text: str
    html: str
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)
    attachments: list[EmailMessage] = field(default_factory=list)
    auto_submitted: bool = False
    # The language the sender's client says it wrote in (Content-Language) or reads (Accept-Language),
    # as sent: chat.languages makes it one cxhub speaks, or nothing.
    language: str = ""


# --- parsing ----------------------------------------------------------------------------


def _header(message: EmailMessage, name: str) -> str:
    """A header as text; a header the parser chokes on is read raw rather than crash."""
    try:
        value = message.get(name)
    except Exception:  # the email package raises assorted errors on hostile headers
        value = None
        for key, raw in message.raw_items():
            if key.lower() == name.lower():
                value = raw
                break
    return "" if value is None else str(value).replace("\r", " ").replace("\n", " ").strip()


def _all_headers(message: EmailMessage, name: str) -> list[str]:
    try:
        return [str(v) for v in message.get_all(name) or []]
    except Exception:
        return [str(raw) for key, raw in message.raw_items() if key.lower() == name.lower()]


_MSGID = re.compile(r"<[^<>\s]{1,250}>")


def message_ids(value: str) -> list[str]:
    """The `<id@host>` tokens of a Message-ID / In-Reply-To / References header."""
    return _MSGID.findall(value or "")


def normalise_address(value: str) -> str:
    """A bare email address, lower-cased, or "" when it is not one."""
    address = parseaddr(value or "")[1].strip().strip("<>").lower()
    if not address or len(address) > 254:
        return ""
    try:
        validate_email(address)
    except ValidationError:
        return ""
    return address


def _decode_part(part: EmailMessage) -> str:
    """A text part as str, whatever its charset claims; undecodable bytes are replaced."""
    try:
        content = part.get_content()
        if isinstance(content, str):
            return content
    except Exception:  # unknown charset (LookupError), broken transfer encoding, ...
        pass
    try:
        payload = part.get_payload(decode=True) or b""
    except Exception:
        payload = b""
    if isinstance(payload, str):
        return payload
    charset = "utf-8"
    try:
        charset = part.get_content_charset() or "utf-8"
        return payload.decode(charset, errors="replace")
    except (LookupError, ValueError, TypeError):
        return payload.decode("utf-8", errors="replace")


def sanitise_html(raw_html: str) -> str:
    """Email HTML made safe to show: no scripts, styles, handlers or dangerous URLs."""
    cleaned = nh3.clean(
        raw_html[: HTML_MAX_CHARS * 2],
        tags=SANITISER_TAGS,
        attributes={"a": {"href", "title"}, "img": {"src", "alt", "width", "height"}, "td": {"colspan", "rowspan"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return cleaned[:HTML_MAX_CHARS]


def html_to_text(raw_html: str) -> str:
    """Readable plain text of an HTML body (no tags, no script or style content)."""
    with_breaks = re.sub(r"(?i)<\s*(br|/p|/div|/li|/tr|/h\d)\b[^>]*>", "\n", raw_html[: HTML_MAX_CHARS * 2])
    text = html_lib.unescape(nh3.clean(with_breaks, tags=set()))
    lines = [line.strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def latest_reply(text: str) -> str:
    """The new part of an email: quoted history ("On … wrote:", "> …") and signatures removed."""
    text = text.replace("\r\n", "\n")
    try:
        replies = EmailReplyParser(languages=REPLY_LANGUAGES).read(text[:REPLY_PARSER_MAX_CHARS]).replies
        reply = replies[0].body if replies else text
    except Exception:  # a parser bug must not lose the mail
        logger.exception("reply parser failed; keeping the whole text")
        reply = text
    # A bare block of "> " lines left at the end is quoted history too.
    lines = reply.rstrip().split("\n")
    while lines and lines[-1].lstrip().startswith(">"):
        lines.pop()
    reply = "\n".join(lines).strip()
    return reply or text.strip()


def parse_email(raw: bytes) -> ParsedEmail:
    """Parse raw MIME; raises InvalidInput when there is no usable sender."""
    if not isinstance(raw, bytes | bytearray):
        raise InvalidInput("An email is bytes.")
    try:
        message = BytesParser(policy=policy.default).parsebytes(bytes(raw))
    except Exception:
        raise InvalidInput("This is not a MIME message.", code=ErrorCode.MALFORMED_EMAIL) from None

    from_header = _header(message, "From")
    sender = normalise_address(from_header) or normalise_address(_header(message, "Reply-To"))
    if not sender:
        raise InvalidInput("The email has no valid From address.", code=ErrorCode.EMAIL_WITHOUT_SENDER)
    sender_name = parseaddr(from_header)[0].strip()[:200]

    text_part = html_part = None
    try:
        text_part = message.get_body(preferencelist=("plain",))
        html_part = message.get_body(preferencelist=("html",))
    except Exception:
        logger.info("unusual MIME structure; falling back to walking the parts")
    if text_part is None and html_part is None and not message.is_multipart():
        if message.get_content_type() == "text/html":
            html_part = message
        else:
            text_part = message

    raw_html = _decode_part(html_part) if html_part is not None else ""
    if text_part is not None:
        full_text = _decode_part(text_part)
    else:
        full_text = html_to_text(raw_html) if raw_html else ""
    full_text = full_text.replace("\x00", "")

    attachments: list[EmailMessage] = []
    body_parts = {id(text_part), id(html_part)}
    try:
        for part in message.walk():
            if part.is_multipart() or id(part) in body_parts or part is message and not message.is_multipart():
                continue
            disposition = part.get_content_disposition()
            if disposition == "attachment" or part.get_filename() or part.get_content_maintype() not in ("text",):
                attachments.append(part)
    except Exception:
        logger.info("could not walk every MIME part; attachments may be missing")

    message_id = (message_ids(_header(message, "Message-ID")) or [""])[0]
    if not message_id:
        # No Message-ID: the same bytes delivered twice must still store one message.
        message_id = f"{SYNTHETIC_ID_PREFIX}{hashlib.sha256(bytes(raw)).hexdigest()}@{settings.EMAIL_DOMAIN}>"

    recipients = []
    for name in ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To"):
        for _name, address in getaddresses(_all_headers(message, name)):
            address = normalise_address(address)
            if address and address not in recipients:
                recipients.append(address)

    auto = _header(message, "Auto-Submitted").lower()
    language = _header(message, "Content-Language")
    if not language and text_part is not None and text_part is not message:
        language = _header(text_part, "Content-Language")
    language = language or _header(message, "Accept-Language")
    return ParsedEmail(
        message_id=message_id,
        sender=sender,
        sender_name=sender_name,
        subject=_header(message, "Subject")[:300],
        text=latest_reply(full_text) if full_text else "",
        full_text=full_text,
        html=sanitise_html(raw_html) if raw_html else "",
        in_reply_to=message_ids(_header(message, "In-Reply-To")),
        references=message_ids(_header(message, "References")),
        recipients=recipients,
        attachments=attachments,
        auto_submitted=bool(auto and auto != "no"),
        language=language[:200],
    )


# --- addresses, inboxes and threads -----------------------------------------------------


def reply_address(conversation: Conversation) -> str:
    """The Reply-To of our emails: carries the conversation's token, routes back to it."""
    return f"{REPLY_LOCAL_PREFIX}{conversation.email_thread_token}@{settings.EMAIL_DOMAIN}"


def conversation_for_address(address: str) -> Conversation | None:
    """The conversation behind a `reply+<token>@EMAIL_DOMAIN` address, if it is one."""
    local, _at, domain = (address or "").rpartition("@")
    if domain.lower() != settings.EMAIL_DOMAIN.lower() or not local.lower().startswith(REPLY_LOCAL_PREFIX):
        return None
    token = local[len(REPLY_LOCAL_PREFIX) :]
    if not token:
        return None
    return Conversation.objects.select_related("inbox", "contact").filter(email_thread_token=token).first()


def inbox_for_address(address: str) -> Inbox | None:
    address = normalise_address(address)
    if not address:
        return None
    return Inbox.objects.filter(channel=Channel.EMAIL, email_address__iexact=address).first()


def email_inbox_for(conversation: Conversation) -> Inbox | None:
    """The email inbox a conversation's mail goes through: where the customer last emailed, else its own."""
    return selectors.reply_inbox_for(conversation, Channel.EMAIL)


def recipient_known(address: str) -> bool:
    """Whether the SMTP receiver accepts mail for this address (an inbox, or a conversation token)."""
    if conversation_for_address(address.strip().strip("<>")) is not None:
        return True
    return inbox_for_address(address) is not None


def _thread_conversation(parsed: ParsedEmail, recipients: list[str]) -> Conversation | None:
    for address in recipients:
        conversation = conversation_for_address(address)
        if conversation is not None:
            return conversation
    ids = [*reversed(parsed.in_reply_to), *reversed(parsed.references)]
    if ids:
        earlier = (
            Message.objects.filter(provider=PROVIDER, external_id__in=ids[:50])
            .select_related("conversation", "conversation__inbox", "conversation__contact")
            .order_by("-id")
            .first()
        )
        if earlier is not None:
            return earlier.conversation
    return None


def _sender_contact(parsed: ParsedEmail, thread: Conversation | None):
    """Who wrote. The address is verified (it emailed in); a reply in a thread proves its owner."""
    claim = Claim(ContactIdentity.Kind.EMAIL, parsed.sender, True)
    if thread is not None:
        owner = root_contact(thread.contact)
        holds = (
            owner.email.lower() == parsed.sender
            or owner.identities.filter(kind=ContactIdentity.Kind.EMAIL, value=parsed.sender).exists()
        )
        if holds:
            # Our mail reached this address and its owner answered: the address is theirs.
            return services.contact_identity_confirm(contact=owner, claim=claim, name=parsed.sender_name)
    return services.contact_identify(claims=[claim], name=parsed.sender_name)


# --- attachments ------------------------------------------------------------------------


def _part_data(part: EmailMessage) -> bytes:
    try:
        data = part.get_content() if part.get_content_maintype() != "text" else _decode_part(part).encode()
        if isinstance(data, EmailMessage):
            data = data.as_bytes()
        if isinstance(data, str):
            data = data.encode()
        return data
    except Exception:
        return part.get_payload(decode=True) or b""


def _checked_attachments(inbox: Inbox, parts: list[EmailMessage]) -> list[attachments.Checked | attachments.Refused]:
    """Each attached part checked like an upload (docs/attachments.md: by its content, against the
    inbox's kinds and size); one over the per-message count or refused is listed with its reason."""
    checked: list[attachments.Checked | attachments.Refused] = []
    for index, part in enumerate(parts):
        try:
            name = part.get_filename() or ""
        except Exception:
            name = ""
        declared = part.get_content_type().lower()
        # A part without a name gets one; check() adds the extension of what its content is.
        upload = attachments.Upload(name=name or f"attachment-{index + 1}", data=_part_data(part))
        if index >= settings.ATTACHMENTS_PER_MESSAGE:
            detail = _("%(name)s: at most %(count)s files per message.") % {
                "name": attachments.display_name(upload.name),
                "count": settings.ATTACHMENTS_PER_MESSAGE,
            }
            error = InvalidInput(detail, code=ErrorCode.TOO_MANY_ATTACHMENTS)
            checked.append(attachments.refused(upload.name, declared, error))
        else:
            checked.append(attachments.check_received(inbox, upload, declared=declared))
    return checked


def _full_text_attachment(text: str) -> attachments.Checked:
    """The whole text of a mail too long for one message, as a text file (made here: not checked)."""
    data = text.encode()
    return attachments.Checked(name="full-message.txt", data=data, content_type="text/plain", kind="text", preview=None)


def _refusals_note(refusals: list[attachments.Refused]) -> str:
    """The internal note that tells agents which files of an email were not kept, and why."""
    lines = [_("Not every file of this email was kept:")]
    lines += [f"• {refusal.detail}" for refusal in refusals]
    return "\n".join(lines)


# --- in ---------------------------------------------------------------------------------


def email_receive(*, raw: bytes, recipients: list[str] | None = None, inbox: Inbox | None = None) -> Received:
    """One inbound email (raw MIME) into its conversation; a redelivery returns the stored message.

    `recipients` are the SMTP envelope's RCPT TO addresses; `inbox` is given by the HTTP hook.
    """
    if len(raw) > settings.EMAIL_MAX_BYTES:
        raise EmailTooLarge(f"An email is at most {settings.EMAIL_MAX_BYTES} bytes.")
    parsed = parse_email(raw)
    if parsed.sender.endswith("@" + settings.EMAIL_DOMAIN.lower()) or inbox_for_address(parsed.sender):
        # Our own address as the sender: a bounce or a forwarding loop, not a customer.
        raise InvalidInput("Mail from this system's own addresses is not accepted.", code=ErrorCode.MAIL_LOOP)
    addresses = [normalise_address(a) or a.strip().strip("<>") for a in (recipients or [])]
    addresses += [a for a in parsed.recipients if a not in addresses]

    duplicate = Message.objects.filter(provider=PROVIDER, external_id=parsed.message_id[:255]).first()
    if duplicate is not None:
        return Received(duplicate, False)

    thread = _thread_conversation(parsed, addresses)
    if inbox is None:
        for address in addresses:
            inbox = inbox_for_address(address)
            if inbox is not None:
                break
    if inbox is None and thread is not None:
        inbox = email_inbox_for(thread)
    if inbox is None:
        raise NotFound("No inbox has this address.", code=ErrorCode.UNKNOWN_RECIPIENT)

    contact = _sender_contact(parsed, thread)
    if parsed.language:
        contact = services.contact_set_locale(
            contact=contact, locale=languages.from_header(parsed.language, source="email"), source="email"
        )
    body = parsed.text or parsed.subject
    limit = settings.MESSAGE_BODY_MAX_CHARS
    checked = _checked_attachments(inbox, parsed.attachments)
    shortened = None
    if len(body) > limit:
        # Too long for one message: the message holds the start, the whole text is attached,
        # and the timeline says how much was cut (Message.metadata["shortened"]).
        checked.append(_full_text_attachment(parsed.full_text))
        shortened = {"original_chars": len(body), "limit": limit, "attachment": "full-message.txt"}
        body = body[: limit - 1] + "…"
    refusals = [item for item in checked if isinstance(item, attachments.Refused)]
    entries, stored = attachments.store_received(inbox, checked)
    metadata = {
        "email": {
            "message_id": parsed.message_id,
            "from": parsed.sender,
            "to": addresses[:20],
            "subject": parsed.subject,
            "in_reply_to": parsed.in_reply_to[:5],
            "references": parsed.references[-20:],
            "auto_submitted": parsed.auto_submitted,
        }
    }
    if shortened:
        metadata["shortened"] = shortened
    try:
        with transaction.atomic():  # the message and the note about refused files, or neither
            received = services.message_receive(
                inbox=inbox,
                contact=contact,
                channel=Channel.EMAIL,
                body=body,
                html=parsed.html,
                attachments=entries,
                provider=PROVIDER,
                external_id=parsed.message_id[:255],
                subject=parsed.subject,
                metadata=metadata,
            )
            if received.created and refusals:
                services.message_send(
                    conversation=received.message.conversation,
                    by=None,
                    body=_refusals_note(refusals),
                    is_note=True,
                    sender_kind=Message.SenderKind.SYSTEM,
                )
    except BaseException:
        attachments.delete(stored)
        raise
    if not received.created:
        attachments.delete(stored)
    logger.info(
        "email from %s into conversation %s (message %s%s)",
        parsed.sender,
        received.message.conversation_id,
        received.message.pk,
        "" if received.created else ", duplicate",
    )
    return received


# --- out --------------------------------------------------------------------------------


class EmailDeliveryError(Exception):
    """An agent's email reply could not be sent; the text is shown to the agent."""


def outbound_message_id(message: Message) -> str:
    """The Message-ID of our email for `message`: stable, so a resend is recognisably the same mail."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"message:{message.pk}".encode(), hashlib.sha256).hexdigest()
    return f"<cxhub.{message.pk}.{digest[:16]}@{settings.EMAIL_DOMAIN}>"


def recipient_for(conversation: Conversation) -> str:
    contact = root_contact(conversation.contact)
    identities = contact.identities.filter(kind=ContactIdentity.Kind.EMAIL).order_by("-verified", "-id")
    last_in = (
        conversation.messages.filter(channel=Channel.EMAIL, direction=Message.Direction.INBOUND)
        .order_by("-seq")
        .first()
    )
    candidates = []
    if last_in is not None:
        candidates.append((last_in.metadata or {}).get("email", {}).get("from", ""))
    candidates += [i.value for i in identities] + [contact.email]
    for candidate in candidates:
        address = normalise_address(candidate or "")
        if address:
            return address
    raise EmailDeliveryError("The customer has no email address.")


def _subject(conversation: Conversation, inbox: Inbox) -> str:
    """The customer's last email subject (so their client threads it), else the conversation's."""
    last_in = (
        conversation.messages.filter(channel=Channel.EMAIL, direction=Message.Direction.INBOUND)
        .order_by("-seq")
        .first()
    )
    subject = ((last_in.metadata or {}).get("email", {}).get("subject", "") if last_in else "").strip()
    subject = subject or conversation.subject.strip()
    if not subject:
        with languages.speaking_to(root_contact(conversation.contact), conversation.inbox):
            return _("Your conversation with %(inbox)s") % {"inbox": inbox.name}
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"


def build_email(message: Message) -> EmailMultiAlternatives:
    """The email that carries an agent's reply, with the headers that thread it."""
    conversation = message.conversation
    inbox = email_inbox_for(conversation)
    if inbox is None or not inbox.email_address:
        raise EmailDeliveryError("No email inbox is set up to send from.")
    to = recipient_for(conversation)
    thread_ids = list(
        conversation.messages.filter(provider=PROVIDER, channel=Channel.EMAIL)
        .exclude(pk=message.pk)
        .exclude(external_id=None)
        .order_by("seq")
        .values_list("external_id", flat=True)
    )
    # Ids we made up for mails that had none were never seen by the customer's client.
    thread_ids = [i for i in thread_ids if not i.startswith(SYNTHETIC_ID_PREFIX)]
    headers = {"Message-ID": outbound_message_id(message)}
    if thread_ids:
        headers["In-Reply-To"] = thread_ids[-1]
        headers["References"] = " ".join(thread_ids[-20:])
    if (message.metadata or {}).get("auto_reply"):  # the out-of-hours notice (docs/sla.md), per RFC 3834
        headers["Auto-Submitted"] = "auto-replied"
    sender = agent_name(message)
    from_address = formataddr((f"{sender} ({inbox.name})" if sender else inbox.name, inbox.email_address))
    mail = EmailMultiAlternatives(
        subject=_subject(conversation, inbox),
        body=message.body,
        from_email=from_address,
        to=[to],
        reply_to=[reply_address(conversation)],
        headers=headers,
    )
    language = languages.contact_language(root_contact(conversation.contact), conversation.inbox)
    mail.extra_headers["Content-Language"] = language
    html = f'<!doctype html><html lang="{language}" dir="{languages.direction(language)}"><body dir="auto">'
    mail.attach_alternative(f"{html}{linebreaks(escape(message.body))}</body></html>", "text/html")
    for entry in message.attachments or []:
        if isinstance(entry, dict) and entry.get("path"):
            with default_storage.open(entry["path"], "rb") as file:
                mail.attach(entry.get("name") or "attachment", file.read(), entry.get("content_type"))
    return mail


def agent_name(message: Message) -> str:
    """The replying agent's name for the From header ("" for a message no agent wrote)."""
    return payloads.sender_name(message) if message.sender_user_id else ""


def email_send(*, message: Message) -> str:
    """Send one agent reply by email; returns the Message-ID it went out with."""
    mail = build_email(message)
    try:
        with get_connection(fail_silently=False, timeout=20) as connection:
            sent = connection.send_messages([mail])
    except Exception as exc:  # SMTP refusals, network errors: recorded on the message
        raise EmailDeliveryError(f"The mail server refused or failed: {exc}") from exc
    if not sent:
        raise EmailDeliveryError("The mail backend sent nothing.")
    return mail.extra_headers["Message-ID"]


# --- the SMTP receiver (`manage.py run_smtp`) -------------------------------------------


class InboxSMTPHandler:
    """aiosmtpd handler: RCPT TO an unknown address → 550, too big → 552, else stored (250).

    Database work runs in a worker thread, one call at a time per session, with Django's
    connection handling; a failure we did not expect answers 451 (try later), never crashes.
    """

    def __init__(self, *, max_bytes: int | None = None, forward_url: str = ""):
        self.max_bytes = max_bytes or settings.EMAIL_MAX_BYTES
        # With a forward URL the mail is handed to that server's HTTP hook rather than stored
        # here: the running web server then stores and broadcasts it (its consoles see it live).
        self.forward_url = forward_url.rstrip("/")

    @staticmethod
    async def _db(func, *args, **kwargs):
        from asgiref.sync import sync_to_async

        return await sync_to_async(func, thread_sensitive=False)(*args, **kwargs)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd's name)
        try:
            known = await self._db(_recipient_known_closing, address)
        except Exception:
            logger.exception("checking recipient %s failed", address)
            return "451 4.3.0 Temporary failure, try again later"
        if not known:
            logger.info("SMTP: refused mail for unknown recipient %s", address)
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="replace")
        if len(raw) > self.max_bytes:
            return "552 5.3.4 Message too big"
        if self.forward_url:
            return await self._db(_forward_closing, raw, list(envelope.rcpt_tos), self.forward_url)
        try:
            received = await self._db(_receive_closing, raw, list(envelope.rcpt_tos))
        except EmailTooLarge:
            return "552 5.3.4 Message too big"
        except DomainError as exc:
            logger.info("SMTP: refused mail from %s: %s", envelope.mail_from, exc.detail)
            if exc.status_code == 404:
                return "550 5.1.1 No such mailbox here"
            return f"550 5.6.0 {exc.detail}"
        except Exception:
            logger.exception("SMTP: storing mail from %s failed", envelope.mail_from)
            return "451 4.3.0 Temporary failure, try again later"
        return f"250 OK message {received.message.pk} in conversation {received.message.conversation_id}"


def _closing(func):
    """Run `func` in a worker thread with fresh database connections, closed afterwards
    (the receiver's threads must not hold connections between mails)."""

    def run(*args, **kwargs):
        from django.db import close_old_connections, connections

        close_old_connections()
        try:
            return func(*args, **kwargs)
        finally:
            connections.close_all()

    return run


def forward_to_hook(raw: bytes, recipients: list[str], base_url: str) -> str:
    """POST a received mail to `base_url`'s HTTP hook of the recipient's inbox; the SMTP answer."""
    import json
    import urllib.error
    import urllib.request

    inbox = None
    for address in recipients:
        inbox = inbox_for_address(address)
        if inbox is None:
            conversation = conversation_for_address(address.strip().strip("<>"))
            inbox = email_inbox_for(conversation) if conversation is not None else None
        if inbox is not None:
            break
    if inbox is None:
        return "550 5.1.1 No such mailbox here"
    request = urllib.request.Request(
        f"{base_url}/hooks/email/{inbox.public_id}/inbound",
        data=raw,
        method="POST",
        headers={
            "Authorization": f"Bearer {inbox.webhook_secret}",
            "Content-Type": "message/rfc822",
            "X-Envelope-To": ",".join(recipients[:20]),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read() or b"{}")
            return f"250 OK message {answer.get('message_id')} in conversation {answer.get('conversation_id')}"
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read())["error"]["detail"]
        except (ValueError, KeyError, TypeError):
            detail = exc.reason
        if exc.code == 413:
            return "552 5.3.4 Message too big"
        if exc.code in (400, 403, 404):
            return f"550 5.6.0 {detail}"
        return "451 4.3.0 Temporary failure, try again later"
    except OSError as exc:
        logger.warning("SMTP: cannot forward to %s: %s", base_url, exc)
        return "451 4.3.0 Temporary failure, try again later"


_forward_closing = _closing(forward_to_hook)
_recipient_known_closing = _closing(recipient_known)
_receive_closing = _closing(lambda raw, rcpts: email_receive(raw=raw, recipients=rcpts))


def smtp_controller(*, host: str, port: int, forward_url: str = ""):
    """The aiosmtpd controller of the receiver (start() / stop()); used by run_smtp and tests."""
    from aiosmtpd.controller import Controller

    return Controller(
        InboxSMTPHandler(forward_url=forward_url),
        hostname=host,
        port=port,
        data_size_limit=settings.EMAIL_MAX_BYTES,
        ident="cxhub SMTP receiver",
    )
