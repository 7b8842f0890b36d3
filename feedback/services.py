"""Writes of the feedback app: survey policies, invitations (schedule, send, cancel, expire) and answers.

Every function runs in one transaction, writes its ConversationEvent there (survey_scheduled,
survey_skipped, survey_sent, survey_answered) and broadcasts or queues tasks with on_commit.
No function here answers for a customer without the customer's token (or, for SMS, the
customer's own text from their phone number).
"""

import logging
import random
import secrets
from datetime import timedelta
from email.utils import formataddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from chat import audit, languages, outbox
from chat.connectors import sms
from chat.events import contact_group, inbox_group
from chat.events import send as broadcast
from chat.models import Channel, Contact, Conversation, ConversationEvent, Inbox, Message, hash_token
from chat.selectors import root_contact
from chat.sms_segments import sms_length
from cxhub.errors import Gone, InvalidInput, NotFound, not_one_of
from feedback.errors import ErrorCode

from . import selectors
from .models import SurveyInvitation, SurveyPolicy, SurveyResponse
from .parsing import parse_score_reply
from .questions import (
    COMMENT_MAX_CHARS,
    QUESTIONS,
    SCORE_KEYS,
    Question,
    frame_questions,
    questions_for,
    sms_prompt,
    sms_thanks,
    survey_title,
)

logger = logging.getLogger(__name__)

Status = SurveyInvitation.Status
EventKind = ConversationEvent.Kind

EDIT_WINDOW = timedelta(hours=24)
MAX_SEND_ATTEMPTS = 5
TOKEN_BYTES = 32  # 256 bits of randomness; only its SHA-256 is stored
COUNTED_FOR_COOLDOWN = (Status.SCHEDULED, Status.SENT, Status.ANSWERED, Status.EXPIRED)


class SkipReason:
    DISABLED = "disabled"
    REOPENED = "reopened"
    CHANNEL_NOT_ALLOWED = "channel_not_allowed"
    CHANNEL_UNSUPPORTED = "channel_unsupported"
    BOT_RESOLVED = "bot_resolved"
    NO_AGENT_REPLY = "no_agent_reply"
    OPTED_OUT = "opted_out"
    SMS_OPTED_OUT = "sms_opted_out"
    NO_ADDRESS = "no_address"
    NO_QUESTIONS = "no_questions"
    COOLDOWN = "cooldown"
    SAMPLED_OUT = "sampled_out"
    DELIVERY_FAILED = "delivery_failed"


def survey_url(token: str) -> str:
    return f"{settings.PUBLIC_URL}/s/{token}/"


def policy_of(inbox: Inbox) -> SurveyPolicy:
    """The inbox's survey policy, or the defaults (unsaved) when none was set."""
    return SurveyPolicy.objects.filter(inbox=inbox).first() or SurveyPolicy(inbox=inbox)


# --- policies ---------------------------------------------------------------------------

POLICY_FIELDS = {
    "enabled",
    "questions",
    "wording",
    "delay",
    "expiry",
    "cooldown",
    "sample_rate",
    "skip_without_agent_reply",
    "skip_bot_resolved",
    "channels",
}


WORDING_MAX_CHARS = 300


def _wording_errors(wording, *, default_language: str, sms: bool) -> list[str]:
    """What is wrong with a policy's wording: {"<language>": {"<key>": "text"}}, or a flat
    {"<key>": "text"} in the inbox's default language. With SMS allowed, a reworded score question
    must still fit one text message in its language."""
    if not isinstance(wording, dict):
        return [_('An object of language to question texts, e.g. {"ru": {"csat": "…"}}.')]
    shipped = languages.shipped()
    by_language: dict[str, dict] = {}
    for key, value in wording.items():
        if key in QUESTIONS:
            by_language.setdefault(default_language, {}).setdefault(key, value)
        elif key in shipped and isinstance(value, dict):
            by_language.setdefault(key, {}).update(value)
        else:
            return [
                _("Unknown language or question: %(key)s (languages: %(languages)s; questions: %(keys)s).")
                % {"key": str(key)[:20], "languages": ", ".join(shipped), "keys": ", ".join(QUESTIONS)}
            ]
    errors = []
    for language, texts in by_language.items():
        for key, text in texts.items():
            if key not in QUESTIONS or not isinstance(text, str) or len(text) > WORDING_MAX_CHARS:
                return [_("An object of question key to text (at most 300 characters).")]
            if not sms or not text.strip() or not QUESTIONS[key].is_score:
                continue
            with translation.override(language):
                [question] = questions_for([key], {language: {key: text}}, default_language=default_language)
                length = sms_length(sms_prompt(question))
            if length.segments > 1:
                errors.append(
                    _(
                        "%(language)s: asked by SMS, “%(text)s” takes %(segments)s text messages; "
                        "keep the question under %(limit)s characters with its scale."
                    )
                    % {
                        "language": language,
                        "text": text.strip(),
                        "segments": length.segments,
                        "limit": length.single_limit,
                    }
                )
    return errors


def survey_policy_clean(fields: dict, *, default_language: str = "", channels: list | None = None) -> dict:
    """The one validation of a survey policy's fields (the API's PATCH and the admin's form):
    the fields back, or InvalidInput naming each wrong field. `default_language` is the inbox's
    (for a flat wording), `channels` the policy's current ones (for the SMS length check)."""
    errors: dict[str, list[str]] = {}
    unknown = set(fields) - POLICY_FIELDS
    for name in unknown:
        errors[name] = [_("Unknown field.")]
    if "questions" in fields:
        questions = fields["questions"]
        if not isinstance(questions, list) or not questions or not all(q in QUESTIONS for q in questions):
            errors["questions"] = [_("A non-empty list of %(keys)s.") % {"keys": ", ".join(QUESTIONS)}]
        elif len(set(questions)) != len(questions):
            errors["questions"] = [_("Each question at most once.")]
    if "wording" in fields:
        allowed_channels = (
            fields.get("channels", channels) if isinstance(fields.get("channels", channels), list) else []
        )
        wording_errors = _wording_errors(
            fields["wording"],
            default_language=default_language or languages.default_language(),
            sms=not allowed_channels or Channel.SMS in allowed_channels,
        )
        if wording_errors:
            errors["wording"] = wording_errors
    limits = {"delay": timedelta(days=7), "expiry": timedelta(days=90), "cooldown": timedelta(days=365)}
    for name, limit in limits.items():
        if name in fields:
            value = fields[name]
            if not isinstance(value, timedelta) or value < timedelta(0) or value > limit:
                errors[name] = [_("A duration between 0 and %(days)s days.") % {"days": limit.days}]
    if "expiry" in fields and "expiry" not in errors and fields["expiry"] < timedelta(hours=1):
        errors["expiry"] = [_("At least one hour.")]
    if "sample_rate" in fields:
        rate = fields["sample_rate"]
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            errors["sample_rate"] = [_("A number from 0 to 1.")]
    if "channels" in fields:
        channels = fields["channels"]
        allowed = [Channel.WEB, Channel.EMAIL, Channel.SMS]
        if not isinstance(channels, list) or not all(c in allowed for c in channels):
            errors["channels"] = [_("A list of %(channels)s (empty: all).") % {"channels": ", ".join(allowed)}]
    for name in ("enabled", "skip_without_agent_reply", "skip_bot_resolved"):
        if name in fields and not isinstance(fields[name], bool):
            errors[name] = [_("true or false.")]
    if errors:
        raise InvalidInput(_("The survey policy is not valid."), fields=errors)
    return fields


@transaction.atomic
def survey_policy_update(*, inbox: Inbox, by=None, **fields) -> SurveyPolicy:
    """Change an inbox's survey policy (created with the defaults on first change)."""
    policy, _created = SurveyPolicy.objects.select_for_update().get_or_create(inbox=inbox)
    fields = survey_policy_clean(fields, default_language=inbox.language, channels=policy.channels)
    if "wording" in fields:
        fields["wording"] = _wording_by_language(fields["wording"], inbox.language)
    for name, value in fields.items():
        setattr(policy, name, value)
    policy.save()
    logger.info("survey policy of inbox %s changed by %s: %s", inbox.pk, getattr(by, "pk", None), sorted(fields))
    audit.record(
        actor=by, action="survey_policy_changed", target=policy, data={"inbox": inbox.pk, "fields": sorted(fields)}
    )
    return policy


def _wording_by_language(wording: dict, default_language: str) -> dict:
    """Stored per language: a flat {"<key>": "text"} becomes the inbox's default language's; empty
    texts (back to the default wording) are dropped."""
    stored: dict[str, dict] = {}
    for key, value in wording.items():
        language, texts = (default_language, {key: value}) if key in QUESTIONS else (key, value)
        for question, text in texts.items():
            if text.strip():
                stored.setdefault(language, {})[question] = text.strip()
    return stored


# --- scheduling -------------------------------------------------------------------------


def _contact_scope(contact: Contact) -> Q:
    """The person: this contact and those merged into it."""
    return Q(contact=contact) | Q(contact__merged_into=contact)


def _skip_reason(
    *, conversation: Conversation, policy: SurveyPolicy, channel: str, by_bot: bool, resolution_number: int, now
) -> str:
    contact = conversation.contact
    if not policy.enabled:
        return SkipReason.DISABLED
    if conversation.reopen_count >= resolution_number or conversation.status != Conversation.Status.RESOLVED:
        return SkipReason.REOPENED
    if channel not in (Channel.WEB, Channel.EMAIL, Channel.SMS):
        return SkipReason.CHANNEL_UNSUPPORTED
    if policy.channels and channel not in policy.channels:
        return SkipReason.CHANNEL_NOT_ALLOWED
    if by_bot and policy.skip_bot_resolved:
        return SkipReason.BOT_RESOLVED
    if (
        policy.skip_without_agent_reply
        and not conversation.messages.filter(sender_kind=Message.SenderKind.AGENT, is_note=False).exists()
    ):
        return SkipReason.NO_AGENT_REPLY
    opted_out = _opt_out_reason(contact, channel)
    if opted_out:
        return opted_out
    questions = questions_for(policy.questions)
    if not questions or (channel == Channel.SMS and not any(q.is_score for q in questions)):
        return SkipReason.NO_QUESTIONS
    recent = SurveyInvitation.objects.filter(
        _contact_scope(contact), status__in=COUNTED_FOR_COOLDOWN, created_at__gt=now - policy.cooldown
    )
    if policy.cooldown and recent.exists():
        return SkipReason.COOLDOWN
    if policy.sample_rate < 1 and random.random() >= policy.sample_rate:
        return SkipReason.SAMPLED_OUT
    return ""


def _opt_out_reason(contact: Contact, channel: str) -> str:
    if contact.survey_opted_out:
        return SkipReason.OPTED_OUT
    if channel == Channel.SMS and contact.sms_opted_out:
        return SkipReason.SMS_OPTED_OUT
    if channel == Channel.EMAIL and not contact.email:
        return SkipReason.NO_ADDRESS
    if channel == Channel.SMS and not contact.phone:
        return SkipReason.NO_ADDRESS
    return ""


def survey_schedule(*, conversation_id: int, resolution_number: int) -> SurveyInvitation | None:
    """One invitation per resolution: scheduled (and queued for sending when due) or skipped with a reason.

    Called by the surveys drain (`surveys_drain`) on the resolution's event; running it twice
    returns the first invitation.
    """
    try:
        with transaction.atomic():
            return _survey_schedule(conversation_id=conversation_id, resolution_number=resolution_number)
    except IntegrityError:
        # A concurrent run created the invitation of this resolution first.
        return SurveyInvitation.objects.filter(
            conversation_id=conversation_id, resolution_number=resolution_number
        ).first()


def _survey_schedule(*, conversation_id: int, resolution_number: int) -> SurveyInvitation | None:
    # Locks go contact first, then conversation (as in chat.services): the invitation's foreign
    # key to the contact would otherwise wait on a message_receive holding the contact.
    contact_id = Conversation.objects.filter(pk=conversation_id).values_list("contact_id", flat=True).first()
    if contact_id is None:
        return None
    Contact.objects.select_for_update().filter(pk=contact_id).first()
    conversation = (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("inbox", "contact")
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None:
        return None
    existing = SurveyInvitation.objects.filter(conversation=conversation, resolution_number=resolution_number).first()
    if existing:
        return existing
    resolved = (
        conversation.events.filter(kind=EventKind.RESOLVED, data__resolution_number=resolution_number)
        .order_by("-id")
        .first()
    )
    resolution = resolved.data if resolved else {}
    now = timezone.now()
    policy = policy_of(conversation.inbox)
    channel = conversation.last_customer_channel or conversation.inbox.channel
    reason = _skip_reason(
        conversation=conversation,
        policy=policy,
        channel=channel,
        by_bot=bool(resolution.get("by_bot")),
        resolution_number=resolution_number,
        now=now,
    )
    invitation = SurveyInvitation.objects.create(
        conversation=conversation,
        contact=conversation.contact,
        resolution_number=resolution_number,
        channel=channel,
        status=Status.SKIPPED if reason else Status.SCHEDULED,
        skip_reason=reason,
        questions=[q.key for q in questions_for(policy.questions)],
        scheduled_for=now + policy.delay,
        # The snapshot that gets the credit: who and where at the moment of resolution.
        agent_id=resolution.get("agent_id", conversation.assignee_id) if resolved else conversation.assignee_id,
        team_id=resolution.get("team_id", conversation.team_id) if resolved else conversation.team_id,
        inbox=conversation.inbox,
        created_at=now,
    )
    if reason:
        outbox.record(
            conversation,
            EventKind.SURVEY_SKIPPED,
            invitation_id=invitation.pk,
            resolution_number=resolution_number,
            reason=reason,
        )
        return invitation
    outbox.record(
        conversation,
        EventKind.SURVEY_SCHEDULED,
        invitation_id=invitation.pk,
        resolution_number=resolution_number,
        channel=channel,
        scheduled_for=invitation.scheduled_for.isoformat(),
    )
    from . import tasks

    eta = invitation.scheduled_for if policy.delay else None
    transaction.on_commit(lambda: tasks.survey_send.apply_async((invitation.pk,), eta=eta))
    return invitation


@transaction.atomic
def surveys_drain(since: int) -> int:
    """feedback's outbox drain for surveys (chat/outbox.py): a resolution schedules its
    invitation, a reopen cancels the ones still only scheduled; each once, in event order."""

    def handle(events) -> None:
        for event in events:
            if event.kind == EventKind.RESOLVED:
                number = (event.data or {}).get("resolution_number") or 1
                survey_schedule(conversation_id=event.conversation_id, resolution_number=number)
            else:
                survey_cancel_scheduled(conversation_id=event.conversation_id)

    return outbox.drain_marked("surveys", since=since, handle=handle, kinds=[EventKind.RESOLVED, EventKind.REOPENED])


def survey_cancel_scheduled(*, conversation_id: int) -> int:
    """A reopen cancels the conversation's invitations that are still only scheduled; sent ones stay sent."""
    cancelled = 0
    for invitation in SurveyInvitation.objects.select_for_update().filter(
        conversation_id=conversation_id, status=Status.SCHEDULED
    ):
        _cancel(invitation, SkipReason.REOPENED)
        cancelled += 1
    return cancelled


def _cancel(invitation: SurveyInvitation, reason: str, *, status: str = Status.CANCELLED) -> None:
    invitation.status = status
    invitation.skip_reason = reason
    invitation.save(update_fields=["status", "skip_reason"])
    outbox.record(
        invitation.conversation,
        EventKind.SURVEY_SKIPPED,
        invitation_id=invitation.pk,
        resolution_number=invitation.resolution_number,
        reason=reason,
    )


# --- sending ----------------------------------------------------------------------------


class _DeliveryFailed(Exception):
    pass


def survey_send(*, invitation_id: int) -> bool:
    """Send a due invitation on its channel, once. True when it was sent by this call.

    The token is made here; email and SMS leave inside the transaction, so a failed delivery
    rolls the invitation back to scheduled (retried by the sweep with a back-off, given up
    after MAX_SEND_ATTEMPTS). The widget's card is broadcast after commit.
    """
    try:
        with transaction.atomic():
            return _survey_send(invitation_id)
    except _DeliveryFailed as failure:
        logger.warning("survey %s not delivered: %s", invitation_id, failure.__cause__ or failure)
        _record_failed_attempt(invitation_id)
        return False


def _survey_send(invitation_id: int) -> bool:
    invitation = (
        SurveyInvitation.objects.select_for_update(of=("self",))
        .select_related("conversation", "contact", "inbox")
        .filter(pk=invitation_id)
        .first()
    )
    now = timezone.now()
    if invitation is None or invitation.status != Status.SCHEDULED or invitation.scheduled_for > now:
        return False
    conversation = invitation.conversation
    if conversation.reopen_count >= invitation.resolution_number:
        _cancel(invitation, SkipReason.REOPENED)
        return False
    reason = _opt_out_reason(invitation.contact, invitation.channel)
    if reason:
        _cancel(invitation, reason, status=Status.SKIPPED)
        return False
    policy = policy_of(invitation.inbox)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    invitation.token_hash = hash_token(token)
    invitation.status = Status.SENT
    invitation.sent_at = now
    invitation.expires_at = now + policy.expiry
    first_score = next(
        (QUESTIONS[key] for key in QUESTIONS if key in invitation.questions and QUESTIONS[key].is_score), None
    )
    if invitation.channel == Channel.SMS:
        invitation.sms_pending_question = first_score.key if first_score else ""
    invitation.save()
    outbox.record(
        conversation,
        EventKind.SURVEY_SENT,
        invitation_id=invitation.pk,
        resolution_number=invitation.resolution_number,
        channel=invitation.channel,
    )
    try:
        # In the customer's language and time zone (their inbox's default language when not known).
        with languages.speaking_to(root_contact(invitation.contact), invitation.inbox):
            questions = questions_for(invitation.questions, policy.wording, default_language=invitation.inbox.language)
            if invitation.channel == Channel.WEB:
                _deliver_widget(invitation, token, questions)
            elif invitation.channel == Channel.EMAIL:
                _deliver_email(invitation, token, questions)
            elif invitation.channel == Channel.SMS:
                _deliver_sms(invitation, next(q for q in questions if q.is_score))
    except Exception as exc:
        raise _DeliveryFailed(str(exc)) from exc
    return True


@transaction.atomic
def _record_failed_attempt(invitation_id: int) -> None:
    invitation = SurveyInvitation.objects.select_for_update().filter(pk=invitation_id, status=Status.SCHEDULED).first()
    if invitation is None:
        return
    invitation.send_attempts += 1
    if invitation.send_attempts >= MAX_SEND_ATTEMPTS:
        invitation.save(update_fields=["send_attempts"])
        _cancel(invitation, SkipReason.DELIVERY_FAILED, status=Status.SKIPPED)
        return
    invitation.scheduled_for = timezone.now() + timedelta(minutes=2**invitation.send_attempts)
    invitation.save(update_fields=["send_attempts", "scheduled_for"])


def _sending_inbox(invitation: SurveyInvitation) -> Inbox:
    """The inbox the customer last wrote to on the invitation's channel (their address or number)."""
    inbox_id = (
        Message.objects.filter(
            conversation_id=invitation.conversation_id,
            direction=Message.Direction.INBOUND,
            channel=invitation.channel,
        )
        .order_by("-seq")
        .values_list("inbox_id", flat=True)
        .first()
    )
    if inbox_id and inbox_id != invitation.inbox_id:
        return Inbox.objects.get(pk=inbox_id)
    return invitation.inbox


def _deliver_widget(invitation: SurveyInvitation, token: str, questions: list[Question]) -> None:
    event = {
        "type": "chat.survey_request",
        "invitation": token,
        "title": survey_title(),
        "language": translation.get_language(),
        "questions": frame_questions(questions),
        "url": survey_url(token),
        "conversation_id": invitation.conversation_id,
    }
    group = contact_group(invitation.contact_id)
    transaction.on_commit(lambda: broadcast(group, event))


def _deliver_email(invitation: SurveyInvitation, token: str, questions: list[Question]) -> None:
    inbox = _sending_inbox(invitation)
    address = inbox.email_address or settings.DEFAULT_FROM_EMAIL
    first_score = next((q for q in questions if q.is_score), None)
    url = survey_url(token)
    links = []
    if first_score:
        links = [
            {"score": n, "url": f"{url}?{first_score.key}={n}"} for n in range(first_score.low, first_score.high + 1)
        ]
    context = {
        "inbox": inbox,
        "contact": invitation.contact,
        "question": first_score,
        "links": links,
        "url": url,
        "more": len(questions) > 1,
        "expires_at": invitation.expires_at,
    }
    message = EmailMultiAlternatives(
        subject=_("%(title)s (%(inbox)s)") % {"title": survey_title(), "inbox": inbox.name},
        body=render_to_string("feedback/survey_email.txt", context),
        from_email=formataddr((inbox.name, address)),
        to=[invitation.contact.email],
        headers={
            "Auto-Submitted": "auto-generated",
            "X-Auto-Response-Suppress": "All",
            "Content-Language": translation.get_language(),
        },
    )
    message.attach_alternative(render_to_string("feedback/survey_email.html", context), "text/html")
    message.send(fail_silently=False)


def _send_sms(invitation: SurveyInvitation, body: str) -> str | None:
    return sms.send_sms(inbox=_sending_inbox(invitation), to=invitation.contact.phone, body=body)


def _deliver_sms(invitation: SurveyInvitation, question: Question) -> None:
    _send_sms(invitation, sms_prompt(question))


# --- expiry -----------------------------------------------------------------------------


def survey_expire_due(*, limit: int = 500) -> int:
    """Timer: sent invitations past their expiry become expired (their token stops working).

    Nothing due costs one indexed read and no write transaction (the timer runs every second)."""
    now = timezone.now()
    due = SurveyInvitation.objects.filter(status=Status.SENT, expires_at__lte=now)
    if not due.exists():
        return 0
    expired = 0
    with transaction.atomic():
        for invitation in due.select_for_update(skip_locked=True)[:limit]:
            invitation.status = Status.EXPIRED
            invitation.sms_pending_question = ""
            invitation.save(update_fields=["status", "sms_pending_question"])
            expired += 1
    return expired


def surveys_send_due() -> int:
    """Timer: scheduled invitations whose time has come (a delay after resolution, a retry after
    a failed delivery, a lost eta) are sent, each once."""
    return sum(survey_send(invitation_id=invitation_id) for invitation_id in selectors.due_invitation_ids())


# --- answers ----------------------------------------------------------------------------


def _whole_number(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and value.strip().isascii():
        return int(value.strip())
    return None


def clean_answer(questions: list[str], *, csat=None, ces=None, nps=None, comment="") -> dict:
    """Scores checked against the invitation's questions and scales; InvalidInput with field errors."""
    errors: dict[str, list[str]] = {}
    cleaned: dict = {}
    for key, raw in (("csat", csat), ("ces", ces), ("nps", nps)):
        if raw is None or raw == "":
            continue
        question = QUESTIONS[key]
        value = _whole_number(raw)
        if key not in questions:
            errors[key] = [_("This question was not asked.")]
        elif value is None:
            errors[key] = [_("Enter a whole number.")]
        elif not question.low <= value <= question.high:
            errors[key] = [_("Choose a score from %(low)s to %(high)s.") % {"low": question.low, "high": question.high}]
        else:
            cleaned[key] = value
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        errors["comment"] = [_("Enter text.")]
    elif len(comment) > COMMENT_MAX_CHARS:
        errors["comment"] = [_("At most %(limit)s characters.") % {"limit": COMMENT_MAX_CHARS}]
    else:
        comment = comment.strip()
    if errors:
        raise InvalidInput(_("Some answers are not valid."), fields=errors)
    if not cleaned and not comment:
        raise InvalidInput(
            _("Answer at least one question."), fields={"non_field_errors": [_("Answer at least one question.")]}
        )
    return {**cleaned, "comment": comment}


def check_open(invitation: SurveyInvitation | None, *, now=None) -> SurveyInvitation:
    """The invitation when it can be answered (or its answer edited) now; else NotFound or Gone."""
    now = now or timezone.now()
    if invitation is None or invitation.status not in (Status.SENT, Status.ANSWERED, Status.EXPIRED):
        raise NotFound(_("This survey link is not valid."), code=ErrorCode.SURVEY_NOT_FOUND)
    if invitation.status == Status.ANSWERED:
        if invitation.answered_at and invitation.answered_at + EDIT_WINDOW <= now:
            raise Gone(_("This survey was already answered. Thank you!"), code=ErrorCode.SURVEY_ANSWERED)
        return invitation
    if invitation.status == Status.EXPIRED or (invitation.expires_at and invitation.expires_at <= now):
        raise Gone(_("This survey has expired."), code=ErrorCode.SURVEY_EXPIRED)
    return invitation


def survey_answer(
    *,
    token: str,
    channel: str | None,
    csat: int | None = None,
    ces: int | None = None,
    nps: int | None = None,
    comment: str = "",
) -> SurveyResponse:
    """Record (or, within 24 h, edit) the answer to the invitation behind `token`.

    `channel` is where the answer came from; None: the invitation's own channel (its page).
    Unknown tokens raise NotFound, expired or closed ones Gone, bad scores InvalidInput; in
    every such case nothing is written. Submitting the same answer twice changes nothing.
    """
    if channel is not None and channel not in Channel.values:
        raise InvalidInput(_("Unknown channel."), fields={"channel": [not_one_of(Channel.values)]})
    if not isinstance(token, str) or not 16 <= len(token) <= 128:
        raise NotFound(_("This survey link is not valid."), code=ErrorCode.SURVEY_NOT_FOUND)
    with transaction.atomic():
        invitation = (
            SurveyInvitation.objects.select_for_update(of=("self",))
            .select_related("conversation")
            .filter(token_hash=hash_token(token))
            .first()
        )
        check_open(invitation)
        answer = clean_answer(invitation.questions, csat=csat, ces=ces, nps=nps, comment=comment)
        return _record_answer(invitation, channel=channel or invitation.channel, answer=answer, token=token)


def survey_answer_frame(frame: dict, *, contact_id: int, inbox_id: int) -> None:
    """The widget's `survey.answer` frame (registered on chat's widget socket in
    feedback/apps.py): the token is the credential; the checks are `survey_answer`'s own."""
    survey_answer(
        token=frame.get("invitation"),
        channel=Channel.WEB,
        csat=frame.get("csat"),
        ces=frame.get("ces"),
        nps=frame.get("nps"),
        comment=frame.get("comment", ""),
    )


def _record_answer(
    invitation: SurveyInvitation, *, channel: str, answer: dict, token: str | None, append_comment: bool = False
) -> SurveyResponse:
    now = timezone.now()
    response = SurveyResponse.objects.filter(invitation=invitation).first()
    edited = response is not None
    if response is None:
        response = SurveyResponse(invitation=invitation, channel=channel, answered_at=now)
    before = (response.csat, response.ces, response.nps, response.comment)
    for key in SCORE_KEYS:
        if key in answer:
            setattr(response, key, answer[key])
    if answer.get("comment"):
        if append_comment and response.comment:
            response.comment = f"{response.comment}\n{answer['comment']}"[:COMMENT_MAX_CHARS]
        else:
            response.comment = answer["comment"]
    if edited and before == (response.csat, response.ces, response.nps, response.comment):
        return response  # a double submit: one response, one event
    response.updated_at = now
    response.save()
    if invitation.status != Status.ANSWERED:
        invitation.status = Status.ANSWERED
        invitation.answered_at = now
        invitation.save(update_fields=["status", "answered_at"])
    outbox.record(
        invitation.conversation,
        EventKind.SURVEY_ANSWERED,
        invitation_id=invitation.pk,
        response_id=response.pk,
        channel=channel,
        csat=response.csat,
        ces=response.ces,
        nps=response.nps,
        has_comment=bool(response.comment),
        edited=edited,
    )
    # The event's task (after commit) counts the answer and closes the loop: the metrics
    # pipeline takes answers in batches (feedback/pipeline.py, ADR 0003).
    _announce_answer(invitation, response, token)
    return response


def _announce_answer(invitation: SurveyInvitation, response: SurveyResponse, token: str | None) -> None:
    """After commit: the customer's widgets close the card; the consoles show the answer."""
    console_event = {
        "type": "chat.survey_answered",
        # Never the raw token on the console side: it would let an agent answer for the customer.
        "invitation": invitation.pk,
        "conversation_id": invitation.conversation_id,
        "response": {
            "id": response.pk,
            "csat": response.csat,
            "ces": response.ces,
            "nps": response.nps,
            "comment": response.comment,
            "channel": response.channel,
            "answered_at": response.answered_at.isoformat(),
            "updated_at": response.updated_at.isoformat(),
        },
    }
    contact_id, inbox_id = invitation.contact_id, invitation.conversation.inbox_id

    def send() -> None:
        if token:
            broadcast(contact_group(contact_id), {"type": "chat.survey_answered", "invitation": token})
        broadcast(inbox_group(inbox_id), console_event)

    transaction.on_commit(send)


# --- SMS replies ------------------------------------------------------------------------


def sms_survey_reply(*, contact: Contact, inbox: Inbox, body: str) -> bool:
    """An SMS that answers an open survey is consumed here (True); otherwise it is a message (False).

    The open survey is the contact's latest SMS invitation whose question is still awaiting a
    reply. A score ("5", "five", "5 great service") answers it; the CES question follows when
    the policy asks it; anything else is an ordinary message.
    """
    now = timezone.now()
    with transaction.atomic():
        invitation = (
            SurveyInvitation.objects.select_for_update(of=("self",))
            .select_related("conversation", "contact", "inbox")
            .filter(_contact_scope(contact), channel=Channel.SMS, status__in=(Status.SENT, Status.ANSWERED))
            .exclude(sms_pending_question="")
            .order_by("-sent_at", "-id")
            .first()
        )
        if invitation is None:
            return False
        try:
            check_open(invitation, now=now)
        except (NotFound, Gone):
            return False
        question = QUESTIONS.get(invitation.sms_pending_question)
        if question is None or not question.is_score:
            return False
        parsed = parse_score_reply(body, low=question.low, high=question.high)
        if parsed is None:
            return False
        answer = {question.key: parsed.score, "comment": parsed.comment[:COMMENT_MAX_CHARS]}
        _record_answer(invitation, channel=Channel.SMS, answer=answer, token=None, append_comment=True)
        keys = [q.key for q in questions_for(invitation.questions) if q.is_score]
        following = keys[keys.index(question.key) + 1 :] if question.key in keys else []
        invitation.sms_pending_question = following[0] if following else ""
        invitation.save(update_fields=["sms_pending_question"])
        if following:
            policy = policy_of(invitation.inbox)
            with languages.speaking_to(root_contact(invitation.contact), invitation.inbox):
                next_question = questions_for(
                    [following[0]], policy.wording, default_language=invitation.inbox.language
                )
                text = sms_prompt(next_question[0])
        else:
            with languages.speaking_to(root_contact(invitation.contact), invitation.inbox):
                text = sms_thanks()
        transaction.on_commit(lambda: _send_sms_quietly(invitation, text))
    return True


def _send_sms_quietly(invitation: SurveyInvitation, body: str) -> None:
    try:
        _send_sms(invitation, body)
    except Exception:  # the answer is stored; a lost follow-up text must not undo it
        logger.exception("survey follow-up SMS for invitation %s failed", invitation.pk)
