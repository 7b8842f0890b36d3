"""Automation rules (docs/automation.md): when a conversation opens, a customer writes or a
conversation is resolved, the workspace's rules whose conditions all hold run their actions (add
a label, hand to a team, set a priority, send a message), each through the service that owns it.

Rules run in the outbox's "automation" drain (chat/outbox.py), after the event committed, never
in the request that caused it: a rule that cannot act (a resolved conversation cannot be
messaged, a label was deleted) is rolled back alone and audited as failed, and the event is
marked in the same transaction as what the rules did, so a second run does nothing again.
Supervisors manage rules (the REST API, the Django admin), through the services here; agents
read the rules of their inboxes and the workspace-wide ones.
"""

import logging
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Min, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from cxhub.errors import DomainError, Forbidden, InvalidInput, NotFound, not_one_of

from . import audit, languages, outbox, services, workspace
from .models import (
    AutomationRule,
    Channel,
    Conversation,
    ConversationEvent,
    Inbox,
    Label,
    Message,
    Priority,
    Team,
)
from .selectors import credential_inbox_ids, inbox_ids_visible_to, parse_id, root_contact, user_is_supervisor

logger = logging.getLogger(__name__)

Event = AutomationRule.Event
EventKind = ConversationEvent.Kind
DRAIN = "automation"
NAME_MAX_CHARS = 80
CONDITIONS_MAX = 20
ACTIONS_MAX = 10
TEXT_MAX_CHARS = 500

# The outbox's kinds each rule event stands for (a message only when the customer wrote it).
EVENT_OF_KIND = {
    EventKind.OPENED: Event.CONVERSATION_CREATED,
    EventKind.MESSAGE_CREATED: Event.MESSAGE_CREATED,
    EventKind.RESOLVED: Event.CONVERSATION_RESOLVED,
}

# attribute → the operators it takes. "is"/"is_not" compare with one of a list of values.
CONDITION_OPERATORS = {
    "channel": ("is", "is_not"),
    "inbox": ("is", "is_not"),
    "message": ("contains", "not_contains"),
    "email_domain": ("is", "is_not"),
    "contact_attribute": ("is", "is_not", "contains"),
    "language": ("is", "is_not"),
}
ACTIONS = ("add_label", "assign_team", "set_priority", "send_message")


# --- reading -----------------------------------------------------------------------------------


def automation_rules_visible_to(user: AbstractBaseUser) -> QuerySet[AutomationRule]:
    """The workspace-wide rules and those of the inboxes the user sees (agents read, supervisors manage)."""
    if not user or not user.is_authenticated or not user.is_active:
        return AutomationRule.objects.none()
    rules = AutomationRule.objects.select_related("inbox")
    inbox_ids = inbox_ids_visible_to(user)
    return rules if inbox_ids is None else rules.filter(Q(inbox=None) | Q(inbox_id__in=inbox_ids))


def automation_rule_get(user: AbstractBaseUser, rule_id) -> AutomationRule:
    rule = automation_rules_visible_to(user).filter(pk=parse_id(rule_id) or 0).first()
    if rule is None:
        raise NotFound(_("Automation rule not found."))
    return rule


# --- checking what a rule says -----------------------------------------------------------------


def _invalid(field: str, position: int | None, message: str) -> InvalidInput:
    where = message if position is None else f"{position + 1}: {message}"
    return InvalidInput(_("This automation rule is not valid: %(why)s") % {"why": where}, fields={field: [where]})


def _values(raw, *, position: int, field: str = "conditions") -> list:
    values = raw if isinstance(raw, list) else [raw]
    if not values or len(values) > 50:
        raise _invalid(field, position, _("give 1 to 50 values."))
    return values


def _text(raw, *, position: int, field: str) -> str:
    text = " ".join(str(raw if isinstance(raw, str | int) else "").split())
    if not text or len(text) > TEXT_MAX_CHARS or "\x00" in text:  # PostgreSQL holds no NUL
        raise _invalid(field, position, _("a text of 1 to %(max)s characters.") % {"max": TEXT_MAX_CHARS})
    return text


def clean_conditions(raw) -> list[dict]:
    """The conditions as stored: a list of {"attribute", "operator", "value"(, "key")}, or a 400
    naming the one that is wrong."""
    if not isinstance(raw, list) or len(raw) > CONDITIONS_MAX:
        raise _invalid("conditions", None, _("a list of at most %(max)s conditions.") % {"max": CONDITIONS_MAX})
    cleaned = []
    for position, condition in enumerate(raw):
        condition = condition if isinstance(condition, dict) else {}
        attribute, operator = condition.get("attribute"), condition.get("operator")
        if attribute not in CONDITION_OPERATORS:
            raise _invalid("conditions", position, _("attribute: %(how)s") % {"how": not_one_of(CONDITION_OPERATORS)})
        if operator not in CONDITION_OPERATORS[attribute]:
            operators = CONDITION_OPERATORS[attribute]
            raise _invalid("conditions", position, _("operator: %(how)s") % {"how": not_one_of(operators)})
        value = condition.get("value")
        item = {"attribute": attribute, "operator": operator}
        if attribute == "channel":
            values = [str(v) for v in _values(value, position=position)]
            if set(values) - set(Channel.values):
                raise _invalid("conditions", position, _("channel: %(how)s") % {"how": not_one_of(Channel.values)})
            item["value"] = values
        elif attribute == "inbox":
            ids = [parse_id(v) for v in _values(value, position=position)]
            if None in ids or Inbox.objects.filter(pk__in=ids).count() != len(set(ids)):
                raise _invalid("conditions", position, _("inbox: no such inbox."))
            item["value"] = ids
        elif attribute == "language":
            values = [str(v) for v in _values(value, position=position)]
            if set(values) - set(languages.shipped()):
                how = not_one_of(languages.shipped())
                raise _invalid("conditions", position, _("language: %(how)s") % {"how": how})
            item["value"] = values
        elif attribute == "email_domain":
            domains = [
                _text(v, position=position, field="conditions").lower().lstrip("@")
                for v in _values(value, position=position)
            ]
            item["value"] = domains
        elif attribute == "message":
            item["value"] = _text(value, position=position, field="conditions")
        else:  # contact_attribute
            item["key"] = _text(condition.get("key"), position=position, field="conditions")[:50]
            item["value"] = _text(value, position=position, field="conditions")
        cleaned.append(item)
    return cleaned


def clean_actions(raw) -> list[dict]:
    """The actions as stored: a list of {"action", "value"}; labels and teams must exist."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= ACTIONS_MAX:
        raise _invalid("actions", None, _("a list of 1 to %(max)s actions.") % {"max": ACTIONS_MAX})
    cleaned = []
    for position, action in enumerate(raw):
        action = action if isinstance(action, dict) else {}
        name, value = action.get("action"), action.get("value")
        if name not in ACTIONS:
            raise _invalid("actions", position, _("action: %(how)s") % {"how": not_one_of(ACTIONS)})
        if name == "add_label":
            label_id = parse_id(value)
            if label_id is None or not Label.objects.filter(pk=label_id).exists():
                raise _invalid("actions", position, _("add_label: no such label."))
            value = label_id
        elif name == "assign_team":
            team_id = parse_id(value)
            if team_id is None or not Team.objects.filter(pk=team_id).exists():
                raise _invalid("actions", position, _("assign_team: no such team."))
            value = team_id
        elif name == "set_priority":
            if value not in Priority.values:
                raise _invalid("actions", position, _("set_priority: %(how)s") % {"how": not_one_of(Priority.values)})
        else:  # send_message
            value = services.checked_body(str(value if isinstance(value, str) else "")).strip()
            if not value or "\x00" in value:
                raise _invalid("actions", position, _("send_message: the message may not be empty."))
        cleaned.append({"action": name, "value": value})
    return cleaned


def _clean(fields: dict) -> dict:
    cleaned = {}
    if "name" in fields:
        name = " ".join(str(fields["name"] or "").split())
        if not name or len(name) > NAME_MAX_CHARS:
            raise InvalidInput(_("A rule's name is 1 to 80 characters."), fields={"name": [_("1 to 80 characters.")]})
        cleaned["name"] = name
    if "event" in fields:
        if fields["event"] not in Event.values:
            raise InvalidInput(_("Unknown event."), fields={"event": [not_one_of(Event.values)]})
        cleaned["event"] = fields["event"]
    if "inbox" in fields:
        inbox = fields["inbox"]
        if inbox is not None and not isinstance(inbox, Inbox):
            inbox = Inbox.objects.filter(pk=parse_id(inbox) or 0).first()
            if inbox is None:
                raise InvalidInput(_("No such inbox."), fields={"inbox": [_("No such inbox.")]})
        cleaned["inbox"] = inbox
    if "conditions" in fields:
        cleaned["conditions"] = clean_conditions(fields["conditions"])
    if "actions" in fields:
        cleaned["actions"] = clean_actions(fields["actions"])
    if "active" in fields:
        cleaned["active"] = bool(fields["active"])
    return cleaned


def require_manager(by: AbstractBaseUser, *inboxes: Inbox | None) -> None:
    """Supervisors and admins manage rules; a credential limited to some inboxes only the rules
    of those inboxes (a workspace-wide rule, inbox None, needs an unlimited one)."""
    if not user_is_supervisor(by):
        raise Forbidden(_("Only supervisors and admins manage automation rules."))
    limited = credential_inbox_ids(by)
    if limited is not None and any(inbox is None or inbox.pk not in limited for inbox in inboxes):
        raise Forbidden(_("This credential is limited to some inboxes: it manages only their rules."))


def _described(rule: AutomationRule) -> dict:
    return {
        "name": rule.name,
        "event": rule.event,
        "inbox": rule.inbox_id,
        "conditions": rule.conditions,
        "actions": rule.actions,
        "active": rule.active,
    }


# --- managing (supervisors; audited) -----------------------------------------------------------


@transaction.atomic
def automation_rule_create(
    *,
    by: AbstractBaseUser,
    name: str,
    event: str,
    actions: list,
    conditions: list | None = None,
    inbox: Inbox | int | None = None,
    active: bool = True,
) -> AutomationRule:
    """A new rule; it matches events from now on (never earlier ones)."""
    require_manager(by)
    fields = _clean({"name": name, "event": event, "inbox": inbox, "conditions": conditions or [], "actions": actions})
    require_manager(by, fields["inbox"])
    rule = AutomationRule.objects.create(**fields, active=active, active_since=timezone.now(), created_by=by)
    audit.record(actor=by, action="automation_rule_created", target=rule, data=_described(rule))
    return rule


@transaction.atomic
def automation_rule_update(*, rule: AutomationRule, by: AbstractBaseUser, **fields) -> AutomationRule:
    """Change what a rule does; turned on again, it matches events from that moment on."""
    require_manager(by, rule.inbox)
    rule = AutomationRule.objects.select_for_update().get(pk=rule.pk)
    cleaned = _clean(fields)
    require_manager(by, cleaned.get("inbox", rule.inbox))
    if cleaned.get("active") and not rule.active:
        cleaned["active_since"] = timezone.now()
    for key, value in cleaned.items():
        setattr(rule, key, value)
    rule.save()
    audit.record(actor=by, action="automation_rule_updated", target=rule, data=_described(rule))
    return rule


@transaction.atomic
def automation_rule_delete(*, rule: AutomationRule, by: AbstractBaseUser) -> None:
    require_manager(by, rule.inbox)
    audit.record(actor=by, action="automation_rule_deleted", target=rule, data=_described(rule))
    rule.delete()


# --- matching ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What a rule's conditions look at, for one event."""

    inbox_id: int
    channel: str
    text: str
    email_domain: str
    attributes: dict
    language: str


def _message_of(event: ConversationEvent, conversation: Conversation) -> Message | None:
    """The customer's message the event is about: the new one, the first, or (resolved) the last."""
    if event.kind == EventKind.MESSAGE_CREATED:
        return Message.objects.filter(pk=event.data.get("message_id")).first()
    inbound = conversation.messages.filter(direction=Message.Direction.INBOUND).order_by("seq")
    return inbound.first() if event.kind == EventKind.OPENED else inbound.last()


def facts_of(event: ConversationEvent) -> Facts:
    conversation = event.conversation
    contact = root_contact(conversation.contact)
    message = _message_of(event, conversation)
    channel = message.channel if message else conversation.last_customer_channel or conversation.inbox.channel
    email = (contact.email or "").lower()
    return Facts(
        inbox_id=conversation.inbox_id,
        channel=channel,
        text=(message.body if message else "").lower(),
        email_domain=email.rpartition("@")[2] if "@" in email else "",
        attributes=contact.attributes if isinstance(contact.attributes, dict) else {},
        language=languages.contact_language(contact, conversation.inbox),
    )


def _holds(condition: dict, facts: Facts) -> bool:
    attribute, operator, value = condition["attribute"], condition["operator"], condition["value"]
    if attribute == "message":
        found = str(value).lower() in facts.text
        return found if operator == "contains" else not found
    if attribute == "contact_attribute":
        actual = str(facts.attributes.get(condition.get("key"), "")).lower()
        wanted = str(value).lower()
        if operator == "contains":
            return wanted in actual
        return (actual == wanted) == (operator == "is")
    actual = {
        "channel": facts.channel,
        "inbox": facts.inbox_id,
        "email_domain": facts.email_domain,
        "language": facts.language,
    }[attribute]
    return (actual in value) == (operator == "is")


def matches(rule: AutomationRule, facts: Facts) -> bool:
    """Every condition of the rule holds (a rule without conditions always matches)."""
    return all(_holds(condition, facts) for condition in rule.conditions or [])


# --- acting (the drain) ------------------------------------------------------------------------


def _act(action: dict, conversation: Conversation) -> None:
    """One action through its service, as the system (no agent)."""
    name, value = action["action"], action["value"]
    if name == "add_label":
        workspace.conversation_set_labels(conversation=conversation, by=None, add=[Label.objects.get(pk=value)])
    elif name == "assign_team":
        team = Team.objects.get(pk=value)
        if Conversation.objects.filter(pk=conversation.pk, team=team).exists():
            return  # already the team's: a transfer would take it from its agent for nothing
        services.conversation_transfer(conversation=conversation, by=None, to_team=team)
    elif name == "set_priority":
        services.conversation_set_priority(conversation=conversation, by=None, priority=value)
    elif name == "send_message":
        services.message_send(conversation=conversation, by=None, body=value, sender_kind=Message.SenderKind.SYSTEM)


def _run(rule: AutomationRule, event: ConversationEvent) -> None:
    """Do a matching rule's actions, all or none (a savepoint), and audit what happened."""
    conversation = event.conversation
    data = {"rule": rule.pk, "name": rule.name, "event_id": event.pk, "event": rule.event}
    try:
        with transaction.atomic():
            for action in rule.actions:
                _act(action, conversation)
    except (DomainError, Label.DoesNotExist, Team.DoesNotExist) as error:
        logger.info("automation rule %s could not act on conversation %s: %s", rule.pk, conversation.pk, error)
        audit.record(
            actor=None, action="automation_rule_failed", target=conversation, data={**data, "error": str(error)}
        )
        return
    audit.record(
        actor=None, action="automation_rule_applied", target=conversation, data={**data, "actions": rule.actions}
    )


def _handle(batch: list[ConversationEvent]) -> None:
    rules = list(AutomationRule.objects.filter(active=True).order_by("id"))
    for event in batch:
        kind = EVENT_OF_KIND.get(event.kind)
        wanted = [
            rule
            for rule in rules
            if rule.event == kind
            and rule.active_since <= event.created_at
            and rule.inbox_id in (None, event.conversation.inbox_id)
        ]
        if not wanted:
            continue
        facts = facts_of(event)
        for rule in wanted:
            if matches(rule, facts):
                _run(rule, event)


def drain(since: int) -> int:
    """The outbox drain (registered in chat's AppConfig.ready): rule events from the first active
    rule's start on, each marked with what its rules did, in one transaction."""
    start = AutomationRule.objects.filter(active=True).aggregate(start=Min("active_since"))["start"]
    if start is None:
        return 0  # no rule: nothing to match, nothing to mark (a rule made later starts then)
    where = Q(created_at__gte=start) & (~Q(kind=EventKind.MESSAGE_CREATED) | Q(data__sender="contact"))
    return outbox.drain_marked(DRAIN, since=since, handle=_handle, kinds=list(EVENT_OF_KIND), where=where)
