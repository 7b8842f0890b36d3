"""The agent's workspace: read markers and the list's rows (unread counts, previews, sorts), labels,
saved views, bulk actions, macros, mentions and participants, contacts in the console (audited
edits, custom attribute definitions, notes) and the agent's preferences (the send key).

Writes here follow the services' rules (keyword-only, one transaction, broadcasts after commit);
reads follow the selectors' (built on `selectors.conversations_visible_to`, a foreign id is a 404).
"""

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Count, DateTimeField, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Lower, Substr
from django.utils import timezone
from django.utils.translation import gettext as _

from cxhub.errors import DomainError, Forbidden, InvalidInput, NotFound, not_one_of

from . import events, outbox, services
from .models import (
    AttributeDefinition,
    AuditLog,
    Contact,
    ContactLabel,
    ContactNote,
    Conversation,
    ConversationEvent,
    ConversationLabel,
    Label,
    Macro,
    Mention,
    Message,
    Participant,
    Priority,
    ReadMarker,
    SavedView,
    Team,
    WorkspacePreferences,
)
from .selectors import conversations_visible_to, may_manage_workspace, parse_id

# --- read markers --------------------------------------------------------------------------


@transaction.atomic
def conversation_mark_read(*, conversation: Conversation, user: AbstractBaseUser, seq: int) -> ReadMarker:
    """The agent has read `conversation` up to `seq` (never backwards, never past its last message)."""
    last_seq = Conversation.objects.filter(pk=conversation.pk).values_list("last_seq", flat=True).first() or 0
    seq = max(0, min(int(seq), last_seq))
    marker, created = ReadMarker.objects.select_for_update().get_or_create(
        user=user, conversation=conversation, defaults={"last_read_seq": seq}
    )
    if not created and seq > marker.last_read_seq:
        marker.last_read_seq = seq
        marker.updated_at = timezone.now()
        marker.save(update_fields=["last_read_seq", "updated_at"])
    return marker


def unread_count(conversation: Conversation, *, after_seq: int) -> int:
    """The customer's messages in `conversation` after `after_seq` (what an agent has not read)."""
    return conversation.messages.filter(direction=Message.Direction.INBOUND, seq__gt=after_seq).count()


# --- the list's rows -------------------------------------------------------------------------

PREVIEW_CHARS = 160
# "Longest waiting" puts conversations nobody waits in after the others (no NULLs in a cursor).
NOBODY_WAITS = datetime(9999, 12, 31, tzinfo=UTC)

# ?sort= → the list's order (its first field is the cursor's position; the id breaks ties).
SORTS = {
    "newest": ("-last_activity_at", "-id"),
    "activity": ("-last_activity_at", "-id"),  # the same, by its older name
    "waiting": ("waiting_key", "id"),
    "priority": ("-priority_rank", "-last_activity_at", "-id"),
    "due": ("sla_due_sort", "id"),  # the soonest SLA due time, none last (selectors.sorted_by_due)
}
DEFAULT_SORT = "newest"


def list_sort(value: str | None) -> tuple[str, ...]:
    """The ordering of `?sort=`; an unknown sort is a 400."""
    value = (value or DEFAULT_SORT).strip()
    if value not in SORTS:
        raise InvalidInput(_("Unknown sort."), fields={"sort": [not_one_of(list(SORTS))]})
    return SORTS[value]


def conversation_rows(user: AbstractBaseUser, conversations: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """The list's conversations with what each row shows: the last message's preview, and how many
    customer messages this agent has not read (after their read marker), in the same query."""
    read_seq = ReadMarker.objects.filter(user_id=user.pk, conversation=OuterRef("pk")).values("last_read_seq")[:1]
    unread = (
        Message.objects.filter(
            conversation=OuterRef("pk"), direction=Message.Direction.INBOUND, seq__gt=OuterRef("read_seq")
        )
        .order_by()
        .values("conversation")
        .annotate(count=Count("*"))
        .values("count")
    )
    last = Message.objects.filter(conversation=OuterRef("pk"), is_note=False).order_by("-seq")
    return (
        with_labels(conversations)
        .prefetch_related("participants")
        .annotate(
            read_seq=Coalesce(Subquery(read_seq, output_field=IntegerField()), Value(0)),
            unread_count=Coalesce(Subquery(unread, output_field=IntegerField()), Value(0)),
            last_message_body=Substr(Subquery(last.values("body")[:1]), 1, PREVIEW_CHARS),
            last_message_sender=Subquery(last.values("sender_kind")[:1]),
            last_message_at=Subquery(last.values("created_at")[:1], output_field=DateTimeField()),
            waiting_key=Coalesce("waiting_since", Value(NOBODY_WAITS, output_field=DateTimeField())),
        )
    )


# --- labels ----------------------------------------------------------------------------------

COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


def labels_visible_to(user: AbstractBaseUser) -> QuerySet[Label]:
    """The workspace's labels: every active agent may see and apply them."""
    if not user or not user.is_authenticated or not user.is_active:
        return Label.objects.none()
    return Label.objects.order_by(Lower("name"), "id")


def label_get(user: AbstractBaseUser, label_id) -> Label:
    label = labels_visible_to(user).filter(pk=parse_id(label_id) or 0).first()
    if label is None:
        raise NotFound(_("Label not found."))
    return label


def labels_get(user: AbstractBaseUser, label_ids: Iterable) -> list[Label]:
    """Labels by id; one that does not exist makes it a 404 (nothing is changed)."""
    return [label_get(user, label_id) for label_id in dict.fromkeys(label_ids)]


def with_labels(queryset: QuerySet) -> QuerySet:
    """Conversations or contacts with their labels (one more query for a whole page)."""
    return queryset.prefetch_related(Prefetch("labels", queryset=Label.objects.order_by(Lower("name"), "id")))


def _require_supervisor(user: AbstractBaseUser, detail: str) -> None:
    """Workspace-wide changes: a supervisor's, with a credential not limited to some inboxes."""
    if not may_manage_workspace(user):
        raise Forbidden(detail)


def _label_fields(*, name: str | None, colour: str | None, exclude_pk: int | None = None) -> dict:
    fields: dict = {}
    if name is not None:
        name = " ".join(str(name).split())
        if not name or len(name) > 50:
            raise InvalidInput(_("A label's name is 1 to 50 characters."), fields={"name": [_("1 to 50 characters.")]})
        taken = Label.objects.filter(name__iexact=name).exclude(pk=exclude_pk or 0).exists()
        if taken:
            raise InvalidInput(_("A label with this name exists."), fields={"name": [_("Already taken.")]})
        fields["name"] = name
    if colour is not None:
        if not COLOUR.match(str(colour)):
            raise InvalidInput(_("A colour is #rrggbb."), fields={"colour": [_('e.g. "#2563eb".')]})
        fields["colour"] = colour.lower()
    return fields


@transaction.atomic
def label_create(*, by: AbstractBaseUser, name: str, colour: str = "#6b7280") -> Label:
    """A new label (supervisors and admins)."""
    _require_supervisor(by, _("Only supervisors and admins manage labels."))
    return Label.objects.create(**_label_fields(name=name, colour=colour))


@transaction.atomic
def label_update(*, label: Label, by: AbstractBaseUser, name: str | None = None, colour: str | None = None) -> Label:
    _require_supervisor(by, _("Only supervisors and admins manage labels."))
    fields = _label_fields(name=name, colour=colour, exclude_pk=label.pk)
    for key, value in fields.items():
        setattr(label, key, value)
    if fields:
        label.save(update_fields=list(fields))
    return label


@transaction.atomic
def label_delete(*, label: Label, by: AbstractBaseUser) -> None:
    """Remove a label from everything it was on."""
    _require_supervisor(by, _("Only supervisors and admins manage labels."))
    label.delete()


def _changes(current: set[int], add: list[Label], remove: list[Label]) -> tuple[list[Label], list[Label]]:
    added = [label for label in add if label.pk not in current]
    removed = [label for label in remove if label.pk in current and label not in add]
    return added, removed


@transaction.atomic
def conversation_set_labels(
    *, conversation: Conversation, by: AbstractBaseUser | None, add: Iterable[Label] = (), remove: Iterable[Label] = ()
) -> Conversation:
    """Add and remove labels on a conversation (event `labelled`, the consoles hear of it)."""
    conversation = Conversation.objects.select_for_update(of=("self",)).get(pk=conversation.pk)
    current = set(ConversationLabel.objects.filter(conversation=conversation).values_list("label_id", flat=True))
    added, removed = _changes(current, list(add), list(remove))
    if not added and not removed:
        return conversation
    ConversationLabel.objects.bulk_create(
        [ConversationLabel(conversation=conversation, label=label, added_by=by) for label in added]
    )
    ConversationLabel.objects.filter(conversation=conversation, label__in=removed).delete()
    outbox.record(
        conversation,
        ConversationEvent.Kind.LABELLED,
        actor=by,
        added=[label.name for label in added],
        removed=[label.name for label in removed],
    )
    events.broadcast_conversation(conversation)
    return conversation


@transaction.atomic
def contact_set_labels(
    *, contact: Contact, by: AbstractBaseUser | None, add: Iterable[Label] = (), remove: Iterable[Label] = ()
) -> Contact:
    """Add and remove labels on a contact (audited)."""
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    current = set(ContactLabel.objects.filter(contact=contact).values_list("label_id", flat=True))
    added, removed = _changes(current, list(add), list(remove))
    if not added and not removed:
        return contact
    ContactLabel.objects.bulk_create([ContactLabel(contact=contact, label=label, added_by=by) for label in added])
    ContactLabel.objects.filter(contact=contact, label__in=removed).delete()
    AuditLog.objects.create(
        actor=by,
        action="contact_labelled",
        target_type="contact",
        target_id=str(contact.pk),
        data={"added": [label.name for label in added], "removed": [label.name for label in removed]},
    )
    return contact


# --- saved views -------------------------------------------------------------------------------

# What a view may hold: the list's filters (chat/api/filters.py) and its sort.
VIEW_LIST_KEYS = ("status", "priority", "inbox", "assignee", "team", "channel", "label", "attribute")
VIEW_TEXT_KEYS = ("q", "sort", "following")


def owned_visible_to(model, user: AbstractBaseUser) -> QuerySet:
    """Saved views and macros: the user's own and the shared ones."""
    if not user or not user.is_authenticated or not user.is_active:
        return model.objects.none()
    return model.objects.filter(Q(owner=user) | Q(shared=True))


def saved_views_visible_to(user: AbstractBaseUser) -> QuerySet[SavedView]:
    return owned_visible_to(SavedView, user)


def saved_view_get(user: AbstractBaseUser, view_id) -> SavedView:
    """A view the user may see; another agent's own view is a 404."""
    view = saved_views_visible_to(user).filter(pk=parse_id(view_id) or 0).first()
    if view is None:
        raise NotFound(_("View not found."))
    return view


def clean_view_filters(filters) -> dict:
    """A view's filters as the list's query: lists of strings, `q` and `sort` as strings."""
    if not isinstance(filters, dict):
        raise InvalidInput(_("Filters are an object."), fields={"filters": [_('e.g. {"status": ["open"]}.')]})
    unknown = set(filters) - set(VIEW_LIST_KEYS) - set(VIEW_TEXT_KEYS)
    if unknown:
        raise InvalidInput(_("Unknown filters."), fields={"filters": [not_one_of([*VIEW_LIST_KEYS, *VIEW_TEXT_KEYS])]})
    cleaned: dict = {}
    for key in VIEW_LIST_KEYS:
        values = filters.get(key) or []
        values = values if isinstance(values, list) else [values]
        if len(values) > 50 or not all(isinstance(v, str | int) and len(str(v)) <= 64 for v in values):
            raise InvalidInput(_("Filters are lists of ids or names."), fields={"filters": [key]})
        if values:
            cleaned[key] = [str(v) for v in values]
    for key in VIEW_TEXT_KEYS:
        value = filters.get(key)
        if value in (None, ""):
            continue
        if not isinstance(value, str) or len(value) > 200:
            raise InvalidInput(_("Filters are lists of ids or names."), fields={"filters": [key]})
        cleaned[key] = value
    if "sort" in cleaned:
        list_sort(cleaned["sort"])
    return cleaned


def _view_name(name) -> str:
    name = " ".join(str(name or "").split())
    if not name or len(name) > 80:
        raise InvalidInput(_("A view's name is 1 to 80 characters."), fields={"name": [_("1 to 80 characters.")]})
    return name


@transaction.atomic
def saved_view_create(*, by: AbstractBaseUser, name: str, filters: dict, shared: bool = False) -> SavedView:
    """A personal view, or a shared one (supervisors and admins)."""
    if shared:
        _require_supervisor(by, _("Only supervisors and admins share views."))
    return SavedView.objects.create(owner=by, name=_view_name(name), filters=clean_view_filters(filters), shared=shared)


def _check_may_change(owned: SavedView | Macro, by: AbstractBaseUser) -> None:
    if owned.owner_id != by.pk and not (owned.shared and may_manage_workspace(by)):
        raise Forbidden(_("Only its owner (or a supervisor, when it is shared) may change this."))


@transaction.atomic
def saved_view_update(
    *, view: SavedView, by: AbstractBaseUser, name: str | None = None, filters: dict | None = None, shared=None
) -> SavedView:
    _check_may_change(view, by)
    if shared is not None and shared != view.shared:
        _require_supervisor(by, _("Only supervisors and admins share views."))
        view.shared = shared
    if name is not None:
        view.name = _view_name(name)
    if filters is not None:
        view.filters = clean_view_filters(filters)
    view.save()
    return view


@transaction.atomic
def saved_view_delete(*, view: SavedView, by: AbstractBaseUser) -> None:
    _check_may_change(view, by)
    view.delete()


# --- bulk actions --------------------------------------------------------------------------------

BULK_MAX = 100
BULK_ACTIONS = ("assign", "label", "snooze", "resolve")


def bulk_conversations(user: AbstractBaseUser, ids: Iterable) -> list[Conversation]:
    """The conversations of a bulk action, all visible to the user, or a 404 for the lot (one
    foreign or missing id and none of them is touched)."""
    wanted = list(dict.fromkeys(parse_id(value) for value in ids))
    if not wanted or len(wanted) > BULK_MAX:
        raise InvalidInput(
            _("Pick 1 to %(max)s conversations.") % {"max": BULK_MAX},
            fields={"ids": [_("1 to %(max)s ids.") % {"max": BULK_MAX}]},
        )
    found = {c.pk: c for c in conversations_visible_to(user).filter(pk__in=[pk for pk in wanted if pk])}
    if None in wanted or len(found) != len(wanted):
        raise NotFound(_("Conversation not found."))
    return [found[pk] for pk in wanted]


def conversations_bulk(
    *,
    conversations: list[Conversation],
    by: AbstractBaseUser,
    action: str,
    assignee: AbstractBaseUser | None = None,
    add: Iterable[Label] = (),
    remove: Iterable[Label] = (),
    until: datetime | None = None,
) -> list[dict]:
    """One action over many conversations, each through its own service in its own transaction:
    one that fails (resolved meanwhile, an agent not of its inbox) is reported and the others go on.
    The caller has checked every conversation is the user's (`bulk_conversations`)."""
    if action not in BULK_ACTIONS:
        raise InvalidInput(_("Unknown bulk action."), fields={"action": [not_one_of(BULK_ACTIONS)]})
    if action == "snooze" and (until is None or until <= timezone.now()):
        raise InvalidInput(_("Snooze until a time in the future."), fields={"until": [_("Must be in the future.")]})
    add, remove = list(add), list(remove)
    if action == "label" and not add and not remove:
        raise InvalidInput(_("Add or remove at least one label."), fields={"add": [_("Give labels.")]})
    run = {
        "assign": lambda c: services.conversation_assign(conversation=c, assignee=assignee, by=by),
        "label": lambda c: conversation_set_labels(conversation=c, by=by, add=add, remove=remove),
        "snooze": lambda c: services.conversation_snooze(conversation=c, by=by, until=until),
        "resolve": lambda c: services.conversation_resolve(conversation=c, by=by),
    }[action]
    results = []
    for conversation in conversations:
        try:
            run(conversation)
        except DomainError as error:
            results.append({"id": conversation.pk, "ok": False, "code": error.code, "detail": error.detail})
        else:
            results.append({"id": conversation.pk, "ok": True, "code": "", "detail": ""})
    return results


# --- macros --------------------------------------------------------------------------------------

MACRO_SNOOZE_MAX_MINUTES = 60 * 24 * 90


def macros_visible_to(user: AbstractBaseUser) -> QuerySet[Macro]:
    return owned_visible_to(Macro, user).select_related("team").prefetch_related("labels")


def macro_get(user: AbstractBaseUser, macro_id) -> Macro:
    """A macro the user may run; another agent's own macro is a 404."""
    macro = macros_visible_to(user).filter(pk=parse_id(macro_id) or 0).first()
    if macro is None:
        raise NotFound(_("Macro not found."))
    return macro


def _macro_fields(fields: dict) -> dict:
    """Check what a macro does: a name, at most a snooze or a resolution, a known priority."""
    cleaned = dict(fields)
    if "name" in cleaned:
        name = " ".join(str(cleaned["name"] or "").split())
        if not name or len(name) > 80:
            raise InvalidInput(_("A macro's name is 1 to 80 characters."), fields={"name": [_("1 to 80 characters.")]})
        cleaned["name"] = name
    if "reply" in cleaned:
        cleaned["reply"] = services.checked_body(cleaned["reply"] or "")
    if cleaned.get("priority") and cleaned["priority"] not in Priority.values:
        raise InvalidInput(_("Unknown priority."), fields={"priority": [not_one_of(Priority.values)]})
    minutes = cleaned.get("snooze_minutes")
    if minutes is not None and not 1 <= minutes <= MACRO_SNOOZE_MAX_MINUTES:
        raise InvalidInput(
            _("Snooze for 1 minute to 90 days."), fields={"snooze_minutes": [_("1 to %(max)s.") % {"max": 129600}]}
        )
    return cleaned


def _macro_save(macro: Macro, fields: dict, labels: list[Label] | None) -> Macro:
    for key, value in fields.items():
        setattr(macro, key, value)
    if macro.snooze_minutes and macro.resolve:
        raise InvalidInput(_("A macro snoozes or resolves, not both."), fields={"resolve": [_("Not with a snooze.")]})
    macro.save()
    if labels is not None:
        macro.labels.set(labels)
    return macro


@transaction.atomic
def macro_create(
    *, by: AbstractBaseUser, name: str, shared: bool = False, labels: list[Label] | None = None, **fields
) -> Macro:
    """A personal macro, or a shared one (supervisors and admins)."""
    if shared:
        _require_supervisor(by, _("Only supervisors and admins share macros."))
    cleaned = _macro_fields({"name": name, **fields})
    return _macro_save(Macro(owner=by, shared=shared), cleaned, labels or [])


@transaction.atomic
def macro_update(*, macro: Macro, by: AbstractBaseUser, labels: list[Label] | None = None, **fields) -> Macro:
    _check_may_change(macro, by)
    if "shared" in fields and fields["shared"] != macro.shared:
        _require_supervisor(by, _("Only supervisors and admins share macros."))
    return _macro_save(macro, _macro_fields(fields), labels)


@transaction.atomic
def macro_delete(*, macro: Macro, by: AbstractBaseUser) -> None:
    _check_may_change(macro, by)
    macro.delete()


@transaction.atomic
def macro_run(*, macro: Macro, conversation: Conversation, by: AbstractBaseUser) -> Conversation:
    """Run a macro on a conversation: the reply, then labels, team, priority, snooze or resolution,
    each through its service, all in one transaction (one that fails undoes the others)."""
    if macro.reply.strip():
        services.message_send(conversation=conversation, by=by, body=macro.reply)
    labels = list(macro.labels.all())
    if labels:
        conversation_set_labels(conversation=conversation, by=by, add=labels)
    if macro.team_id:
        team = Team.objects.get(pk=macro.team_id)
        services.conversation_transfer(conversation=conversation, by=by, to_team=team)
    if macro.priority:
        services.conversation_set_priority(conversation=conversation, by=by, priority=macro.priority)
    if macro.snooze_minutes:
        until = timezone.now() + timedelta(minutes=macro.snooze_minutes)
        services.conversation_snooze(conversation=conversation, by=by, until=until)
    if macro.resolve:
        services.conversation_resolve(conversation=conversation, by=by)
    return Conversation.objects.get(pk=conversation.pk)


# --- mentions and participants -----------------------------------------------------------------
# A note's `@username`s are recorded by `services.message_send` itself (chat/mentions.py), so a
# note from the console, the API, a macro or a socket names the same people.


def mentions_of(user: AbstractBaseUser) -> QuerySet[Mention]:
    """The user's mentions in conversations they may still see, newest first."""
    return (
        Mention.objects.filter(user_id=user.pk, conversation__in=conversations_visible_to(user))
        .select_related(
            "message", "message__sender_user__agent", "message__conversation__contact", "conversation__contact"
        )
        .order_by("-id")
    )


def mention_get(user: AbstractBaseUser, mention_id) -> Mention:
    mention = mentions_of(user).filter(pk=parse_id(mention_id) or 0).first()
    if mention is None:
        raise NotFound(_("Mention not found."))
    return mention


@transaction.atomic
def mentions_mark_read(*, user: AbstractBaseUser, mention: Mention | None = None, conversation=None) -> int:
    """Mark one mention, or all of a conversation's, or all of them, read; how many were unread."""
    unread = Mention.objects.filter(user_id=user.pk, read_at__isnull=True)
    if mention is not None:
        unread = unread.filter(pk=mention.pk)
    if conversation is not None:
        unread = unread.filter(conversation=conversation)
    return unread.update(read_at=timezone.now())


@transaction.atomic
def conversation_follow(*, conversation: Conversation, user: AbstractBaseUser) -> Participant:
    """The agent follows the conversation: its customer's messages alert them like their own."""
    participant, _created = Participant.objects.get_or_create(conversation=conversation, user=user)
    return participant


@transaction.atomic
def conversation_unfollow(*, conversation: Conversation, user: AbstractBaseUser) -> None:
    Participant.objects.filter(conversation=conversation, user=user).delete()


# --- contacts in the console ---------------------------------------------------------------------

ATTRIBUTE_TEXT_MAX = 500


def attribute_definitions() -> QuerySet[AttributeDefinition]:
    return AttributeDefinition.objects.order_by("label", "id")


def attribute_definition_get(user: AbstractBaseUser, definition_id) -> AttributeDefinition:
    if not user or not user.is_authenticated:
        raise NotFound(_("Attribute not found."))
    definition = attribute_definitions().filter(pk=parse_id(definition_id) or 0).first()
    if definition is None:
        raise NotFound(_("Attribute not found."))
    return definition


def attribute_value(definition: AttributeDefinition, value):
    """A value as its definition stores it (number, ISO date, one of the options, text), or InvalidInput."""
    if value is None or value == "":
        return None
    kind = definition.kind
    try:
        if kind == AttributeDefinition.Kind.NUMBER:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
            if number != number or number in (float("inf"), float("-inf")):
                raise ValueError
            return int(number) if number.is_integer() and abs(number) < 2**53 else number
        if kind == AttributeDefinition.Kind.DATE:
            return date.fromisoformat(str(value)).isoformat()
        if kind == AttributeDefinition.Kind.LIST:
            if str(value) not in definition.options:
                raise ValueError
            return str(value)
    except (TypeError, ValueError):
        raise InvalidInput(
            _("%(label)s: not a valid %(kind)s.") % {"label": definition.label, "kind": kind},
            fields={f"attributes.{definition.key}": [_("Not a valid %(kind)s.") % {"kind": kind}]},
        ) from None
    if not isinstance(value, str | int | float) or len(str(value)) > ATTRIBUTE_TEXT_MAX:
        raise InvalidInput(
            _("%(label)s: at most %(max)s characters.") % {"label": definition.label, "max": ATTRIBUTE_TEXT_MAX},
            fields={f"attributes.{definition.key}": [_("Too long.")]},
        )
    return str(value)


def _definition_fields(fields: dict) -> dict:
    cleaned = dict(fields)
    if "label" in cleaned:
        cleaned["label"] = " ".join(str(cleaned["label"] or "").split())[:80]
        if not cleaned["label"]:
            raise InvalidInput(_("An attribute needs a label."), fields={"label": [_("This field may not be blank.")]})
    if "kind" in cleaned and cleaned["kind"] not in AttributeDefinition.Kind.values:
        raise InvalidInput(_("Unknown kind."), fields={"kind": [not_one_of(AttributeDefinition.Kind.values)]})
    if "options" in cleaned:
        options = cleaned["options"] or []
        if not isinstance(options, list) or len(options) > 100 or not all(isinstance(o, str) and o for o in options):
            raise InvalidInput(_("Options are a list of texts."), fields={"options": [_("A list of texts.")]})
        cleaned["options"] = list(dict.fromkeys(option.strip()[:100] for option in options))
    return cleaned


@transaction.atomic
def attribute_definition_create(*, by: AbstractBaseUser, key: str, **fields) -> AttributeDefinition:
    """A custom attribute (supervisors and admins)."""
    _require_supervisor(by, _("Only supervisors and admins define attributes."))
    key = str(key or "").strip()
    if not re.fullmatch(r"[-a-zA-Z0-9_]{1,50}", key):
        raise InvalidInput(_("A key is letters, digits, - and _."), fields={"key": [_('e.g. "plan".')]})
    if AttributeDefinition.objects.filter(key=key).exists():
        raise InvalidInput(_("This key is defined already."), fields={"key": [_("Already taken.")]})
    cleaned = _definition_fields({"label": fields.pop("label", key), **fields})
    definition = AttributeDefinition(key=key, **cleaned)
    if definition.kind == AttributeDefinition.Kind.LIST and not definition.options:
        raise InvalidInput(_("A list attribute needs options."), fields={"options": [_("Give the choices.")]})
    definition.save()
    return definition


@transaction.atomic
def attribute_definition_update(*, definition: AttributeDefinition, by: AbstractBaseUser, **fields):
    _require_supervisor(by, _("Only supervisors and admins define attributes."))
    for key, value in _definition_fields(fields).items():
        setattr(definition, key, value)
    definition.save()
    return definition


@transaction.atomic
def attribute_definition_delete(*, definition: AttributeDefinition, by: AbstractBaseUser) -> None:
    """Forget the definition; the contacts' values stay as plain attributes."""
    _require_supervisor(by, _("Only supervisors and admins define attributes."))
    definition.delete()


def attribute_filter(value: str, *, prefix: str = "") -> Q:
    """`key:value` as a filter on Contact.attributes: a defined attribute compares as its kind (text:
    contains, case-insensitive); an undefined one as text, exactly."""
    key, sep, wanted = str(value).partition(":")
    key = key.strip()
    if not sep or not re.fullmatch(r"[-a-zA-Z0-9_]{1,50}", key):
        raise InvalidInput(_("An attribute filter is key:value."), fields={"attribute": [_('e.g. "plan:Gold".')]})
    definition = AttributeDefinition.objects.filter(key=key).first()
    if definition is None:
        return Q(**{f"{prefix}attributes__{key}": wanted})
    if definition.kind == AttributeDefinition.Kind.TEXT:
        return Q(**{f"{prefix}attributes__{key}__icontains": wanted})
    return Q(**{f"{prefix}attributes__{key}": attribute_value(definition, wanted)})


def _changes_of(contact: Contact, fields: dict) -> dict:
    return {
        key: [getattr(contact, key), value]
        for key, value in fields.items()
        if getattr(contact, key) != value and key != "attributes"
    }


@transaction.atomic
def contact_edit(*, contact: Contact, by: AbstractBaseUser | None, **fields) -> Contact:
    """An agent edits a person: name, email, phone and attributes (checked against their
    definitions), and what `services.contact_update` takes; audited (`contact_edited`, old and new
    values). The identities channels match on stay as they are."""
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    own: dict = {}
    if "email" in fields:
        email = str(fields.pop("email") or "").strip().lower()
        if email:
            try:
                validate_email(email)
            except ValidationError:
                raise InvalidInput(_("Not an email address."), fields={"email": [_("Not an email address.")]}) from None
        own["email"] = email
    if "phone" in fields:
        phone = str(fields.pop("phone") or "").strip()
        own["phone"] = services.normalise_phone(phone) if phone else ""
    if "attributes" in fields:
        attributes = fields["attributes"]
        if not isinstance(attributes, dict):
            raise InvalidInput(
                _("Attributes are an object of names to values."),
                fields={"attributes": [_('An object, e.g. {"plan": "Gold"}.')]},
            )
        definitions = {d.key: d for d in AttributeDefinition.objects.filter(key__in=list(attributes))}
        merged = dict(contact.attributes or {})
        for key, value in attributes.items():
            value = attribute_value(definitions[key], value) if key in definitions else value
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        fields["attributes"] = merged
    changes = _changes_of(contact, {**own, **{k: v for k, v in fields.items() if k != "attributes"}})
    if "attributes" in fields and fields["attributes"] != (contact.attributes or {}):
        before = contact.attributes or {}
        changes["attributes"] = {
            key: [before.get(key), fields["attributes"].get(key)]
            for key in set(before) | set(fields["attributes"])
            if before.get(key) != fields["attributes"].get(key)
        }
    for key, value in own.items():
        setattr(contact, key, value)
    if own:
        contact.save(update_fields=[*own, "updated_at"])
    if fields:
        contact = services.contact_update(contact=contact, by=by, **fields)
    if changes:
        AuditLog.objects.create(
            actor=by, action="contact_edited", target_type="contact", target_id=str(contact.pk), data=changes
        )
    return contact


def contact_notes_of(contact: Contact) -> QuerySet[ContactNote]:
    """A person's notes, newest first (the caller has checked the contact is visible)."""
    return contact.notes.select_related("author__agent")


@transaction.atomic
def contact_note_add(*, contact: Contact, by: AbstractBaseUser, body: str) -> ContactNote:
    body = services.checked_body(body or "")
    if not body.strip():
        raise InvalidInput(_("A note needs a body."), fields={"body": [_("This field may not be blank.")]})
    return ContactNote.objects.create(contact=contact, author=by, body=body)


def contact_notes_export(contact_ids: list[int]) -> dict:
    """A person's notes in their data export (chat.privacy)."""
    notes = ContactNote.objects.filter(contact_id__in=contact_ids).order_by("id")
    return {"contact_notes": [{"body": n.body, "created_at": n.created_at.isoformat()} for n in notes]}


def contact_notes_erase(contact_ids: list[int]) -> dict:
    """Erasure removes a person's notes."""
    deleted, _by_model = ContactNote.objects.filter(contact_id__in=contact_ids).delete()
    return {"contact_notes": deleted}


# --- preferences -----------------------------------------------------------------------------------


def preferences_of(user: AbstractBaseUser) -> WorkspacePreferences:
    """The agent's console preferences (the defaults until they change one)."""
    return WorkspacePreferences.objects.filter(user_id=user.pk).first() or WorkspacePreferences(user_id=user.pk)


@transaction.atomic
def preferences_set(*, user: AbstractBaseUser, send_key: str) -> WorkspacePreferences:
    """Enter or Ctrl+Enter sends, as the agent chooses."""
    if send_key not in WorkspacePreferences.SendKey.values:
        raise InvalidInput(
            _("Unknown send key."), fields={"send_key": [not_one_of(WorkspacePreferences.SendKey.values)]}
        )
    preferences, _created = WorkspacePreferences.objects.select_for_update().get_or_create(user=user)
    preferences.send_key = send_key
    preferences.save(update_fields=["send_key"])
    return preferences
