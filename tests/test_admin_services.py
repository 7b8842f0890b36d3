"""The Django admin goes through the services: it never writes a model around the service that owns it.

Every registered ModelAdmin has an explicit decision in POLICIES (a new admin without one
fails here); the tests hold each admin to it (permissions, editable fields, actions, and over
HTTP: a refused add, change or delete writes nothing). Then, for the admins that do write,
a change made in the admin leaves what the console's service leaves: the event, the survey,
the audit row; and a service's refusal is a form error with nothing saved.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.forms.models import model_to_dict
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from accounts import selectors as account_selectors
from accounts.models import WorkspaceSettings
from chat import automation, privacy, services, sla_services
from chat.models import (
    AgentProfile,
    AuditLog,
    AutomationRule,
    CannedResponse,
    Contact,
    Conversation,
    ConversationEvent,
    Inbox,
    Message,
    SlaPolicy,
    Team,
    hash_token,
)
from cxhub.service_admin import ServiceModelAdmin
from feedback import services as feedback_services
from feedback.models import (
    ConversationFacts,
    DurationHistogram,
    FollowUp,
    MetricRollup,
    ProcessedEvent,
    SurveyInvitation,
    SurveyPolicy,
    SurveyResponse,
)
from integrations import webhooks
from integrations.models import WebhookDelivery, WebhookSubscription
from tests.factories import AgentFactory, ContactFactory, InboxFactory, TeamFactory, agent_user, conversation_with

pytestmark = pytest.mark.django_db

User = get_user_model()
Kind = ConversationEvent.Kind


@dataclass(frozen=True)
class Policy:
    """What the admin of one model may do, and who writes the model instead."""

    owner: str  # who writes the rows: a service, the pipeline, or "settings" (the admin is their editor)
    add: bool = False
    change: bool = False
    delete: bool = False
    editable: frozenset = frozenset()  # the change form's fields on an existing row
    actions: frozenset = frozenset()
    through_services: bool = False  # save_model calls the owner's services (never a plain save)
    inlines_write: bool = False  # its inlines may add, change or delete rows (settings only)


def _policy(owner, *, editable=(), actions=(), **flags) -> Policy:
    return Policy(owner, editable=frozenset(editable), actions=frozenset(actions), **flags)


SETTINGS = {"add": True, "change": True, "delete": True}
APPEND_ONLY = "append-only: written by the services in the transaction of the change they record"

POLICIES = {
    # --- the conversation core
    Conversation: _policy(
        "chat.services: conversation_reopen, _transfer, _assign, _set_priority, _snooze, _resolve",
        change=True,
        editable={"status", "snoozed_until", "priority", "assignee", "team"},
        actions={"resolve_selected", "reopen_selected"},
        through_services=True,
    ),
    Contact: _policy(
        "chat.services.contact_update (name, attributes, survey opt-out, language, time zone); "
        "erased by chat.privacy.contact_erase",
        change=True,
        editable={"name", "attributes", "survey_opted_out", "locale", "time_zone"},
        actions={"erase_personal_data"},
        through_services=True,
    ),
    AgentProfile: _policy(
        "availability: chat.services.agent_set_availability; the rest is setup (capacity, teams, supervisor)",
        add=True,
        change=True,
        editable={"display_name", "capacity", "availability", "is_supervisor", "teams", "language", "time_zone"},
        through_services=True,
    ),
    ConversationEvent: _policy(APPEND_ONLY),
    AuditLog: _policy(APPEND_ONLY),
    Team: _policy(
        "settings (deleting one would empty its conversations' team with no event: renamed instead)",
        add=True,
        change=True,
        editable={"name", "lead", "is_retention"},
    ),
    Inbox: _policy(
        "settings (an inbox with conversations is protected from deletion by the database)",
        **SETTINGS,
        editable={
            "name",
            "channel",
            "allowed_origins",
            "identity_secret",
            "prechat_form",
            "greeting",
            "language",
            "email_address",
            "phone_number",
            "provider_config",
            "webhook_secret",
            "business_hours",
            "pending_auto_resolve_days",
            "default_team",
            "attachment_kinds",
            "attachment_max_bytes",
        },
        actions={"delete_selected"},
        inlines_write=True,  # memberships
    ),
    SlaPolicy: _policy(
        "chat.sla_services: sla_policy_set, sla_policy_delete (running SLA clocks follow)",
        **SETTINGS,
        editable={"first_response_seconds", "next_response_seconds", "resolution_seconds", "business_hours"},
        actions={"delete_selected"},
        through_services=True,
    ),
    AutomationRule: _policy(
        "chat.automation: automation_rule_create, _update, _delete (checked like the API's, audited)",
        **SETTINGS,
        editable={"name", "event", "inbox", "conditions", "actions", "active"},
        actions={"delete_selected"},
        through_services=True,
    ),
    CannedResponse: _policy(
        "settings", **SETTINGS, editable={"shortcut", "body", "texts"}, actions={"delete_selected"}
    ),
    User: _policy(
        "settings (accounts): deactivated, never deleted; deactivating an agent calls agent_set_availability",
        add=True,
        change=True,
        editable={
            "username",
            "password",
            "first_name",
            "last_name",
            "email",
            "is_active",
            "is_staff",
            "is_superuser",
            "groups",
            "user_permissions",
            "last_login",
            "date_joined",
        },
    ),
    Group: _policy("settings (permissions)", **SETTINGS, editable={"name", "permissions"}, actions={"delete_selected"}),
    # --- surveys
    SurveyPolicy: _policy(
        "feedback.services.survey_policy_update, validated by survey_policy_clean (as the API's PATCH)",
        add=True,
        change=True,
        editable=feedback_services.POLICY_FIELDS,
        through_services=True,
    ),
    SurveyInvitation: _policy("feedback.services (schedule, send, expire); read by the metrics pipeline"),
    SurveyResponse: _policy("feedback.services.survey_answer (the customer's token only); read by the pipeline"),
    # --- webhooks
    WebhookSubscription: _policy(
        "settings, checked by WebhookSubscription.clean()",
        **SETTINGS,
        editable={"name", "url", "secret", "event_types", "inbox", "is_active"},
        actions={"delete_selected"},
    ),
    WebhookDelivery: _policy(
        "integrations.webhooks (dispatch, attempts); redelivered through webhooks.delivery_redeliver",
        actions={"redeliver"},
    ),
    # --- accounts: the workspace's settings (one row), changed through its audited service
    WorkspaceSettings: _policy(
        "accounts.services.workspace_settings_update (audited); one row, so no second add",
        change=True,
        editable={"require_two_factor", "retention_days"},
        through_services=True,
    ),
    # --- django-axes' own admin: deleting an attempt lifts a lockout (docs/security.md)
    AccessAttempt: _policy(
        "django-axes (login throttling)",
        change=True,
        delete=True,
        actions={"delete_selected", "cleanup_expired_attempts"},
    ),
    AccessLog: _policy("django-axes (login log)", change=True, delete=True, actions={"delete_selected"}),
    AccessFailureLog: _policy("django-axes (failed logins)", change=True, delete=True, actions={"delete_selected"}),
}

# Written only by the metrics pipeline or the survey follow-ups: not in the admin at all (or read-only).
PIPELINE_MODELS = [ConversationFacts, MetricRollup, DurationHistogram, ProcessedEvent, FollowUp, Message]


# --- the world: one row of every registered model -----------------------------------------


@pytest.fixture
def root():
    return User.objects.create_superuser("root", "root@example.com", "x")


@pytest.fixture
def admin_client(client, root):
    client.force_login(root)
    return client


@pytest.fixture
def as_root(root):
    request = RequestFactory().get("/admin/")
    request.user = root
    return request


@pytest.fixture
def world(committed, root):
    """One row of every model the admin shows, each made the way the product makes it."""
    inbox = InboxFactory(name="Shop")
    agent = AgentFactory(inboxes=[inbox])
    contact = ContactFactory(name="Maria Garcia")
    with committed():
        conversation = conversation_with(inbox, contact, body="Where is my order?")
        services.message_send(conversation=conversation, by=agent.user, body="On its way.")
        services.conversation_resolve(conversation=conversation, by=agent.user)
    invitation = SurveyInvitation.objects.get(conversation=conversation)
    token = "admin-test-survey-token-0001"
    SurveyInvitation.objects.filter(pk=invitation.pk).update(token_hash=hash_token(token), status="sent")
    response = feedback_services.survey_answer(token=token, channel="web", csat=5)
    privacy.contact_export(contact=contact, by=root)
    subscription = WebhookSubscription.objects.create(  # made before the conversation: it hears of its events
        name="CRM", url="https://crm.example/hook", event_types=["*"], created_at=timezone.now() - timedelta(hours=1)
    )
    webhooks.dispatch_event(event_id=conversation.events.get(kind=Kind.RESOLVED).pk)
    login = {"user_agent": "test", "ip_address": "203.0.113.9", "username": "root", "path_info": "/admin/login/"}
    rows = {
        Conversation: conversation,
        Contact: contact,
        AgentProfile: agent,
        ConversationEvent: conversation.events.first(),
        AuditLog: AuditLog.objects.get(action="contact_export"),
        Team: TeamFactory(),
        Inbox: inbox,
        CannedResponse: CannedResponse.objects.create(shortcut="thanks", body="Thank you!"),
        AutomationRule: automation.automation_rule_create(
            by=root, name="Urgent", event="conversation_created", actions=[{"action": "set_priority", "value": "high"}]
        ),
        SlaPolicy: sla_services.sla_policy_set(inbox=inbox, priority="normal", first_response_seconds=3600),
        User: agent.user,
        Group: Group.objects.create(name="Supervisors"),
        WorkspaceSettings: account_selectors.workspace_settings(),
        SurveyPolicy: feedback_services.survey_policy_update(inbox=inbox, enabled=True),
        SurveyInvitation: invitation,
        SurveyResponse: response,
        WebhookSubscription: subscription,
        WebhookDelivery: WebhookDelivery.objects.get(subscription=subscription),
        AccessAttempt: AccessAttempt.objects.create(**login, get_data="", post_data="", failures_since_start=1),
        AccessLog: AccessLog.objects.create(**login),
        AccessFailureLog: AccessFailureLog.objects.create(**login),
    }
    return rows


def _url(model, name: str, obj=None) -> str:
    args = [] if obj is None else [obj.pk]
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{name}", args=args)


def _stored(obj) -> dict | None:
    row = type(obj)._default_manager.filter(pk=obj.pk).first()
    return None if row is None else model_to_dict(row)


# --- every registered admin has a decision, and keeps to it -------------------------------


def test_every_registered_admin_has_a_written_decision():
    # given the admin site with every app's admin.py loaded
    registered = set(admin.site._registry)
    # then each registered model has exactly one policy here, and no policy names a model gone from the admin
    assert registered - set(POLICIES) == set(), "a new admin needs its policy in POLICIES (who writes the model?)"
    assert set(POLICIES) - registered == set()
    # and the rows only the pipeline writes are not in the admin at all
    assert [model for model in PIPELINE_MODELS if model in registered] == []


@pytest.mark.parametrize("model", list(POLICIES), ids=lambda model: model._meta.label)
def test_each_admin_may_do_only_what_its_policy_says(model, world, as_root):
    # given the admin of the model, a superuser, and a stored row
    model_admin, policy, obj = admin.site._registry[model], POLICIES[model], world[model]
    # then its permissions, editable fields and bulk actions are those of its policy
    assert model_admin.has_add_permission(as_root) == policy.add
    assert model_admin.has_change_permission(as_root, obj) == policy.change
    assert model_admin.has_delete_permission(as_root, obj) == policy.delete
    assert set(model_admin.get_actions(as_root)) == policy.actions
    editable = set(model_admin.get_form(as_root, obj, change=True).base_fields) if policy.change else set()
    assert editable - set(model_admin.get_readonly_fields(as_root, obj)) == policy.editable
    # and an admin that writes a service's fields does it in save_model, through the services
    if policy.through_services:
        assert isinstance(model_admin, ServiceModelAdmin)
        assert type(model_admin).save_model is not admin.ModelAdmin.save_model
    # and its inlines write only where the policy says so (settings), never around a service
    for inline in model_admin.get_inline_instances(as_root, obj):
        writes = (
            inline.has_add_permission(as_root, obj)
            or inline.has_change_permission(as_root, obj)
            or inline.has_delete_permission(as_root, obj)
        )
        assert writes == policy.inlines_write, type(inline).__name__


@pytest.mark.parametrize("model", list(POLICIES), ids=lambda model: model._meta.label)
def test_what_an_admin_may_not_do_is_refused_and_writes_nothing(model, world, admin_client):
    # given a stored row of the model, as the admin's superuser sees it
    policy, obj = POLICIES[model], world[model]
    before = _stored(obj)
    # when they try to add one, change it or delete it (one by one and in bulk) where the policy says no
    if not policy.add:
        assert admin_client.get(_url(model, "add")).status_code == 403
        assert admin_client.post(_url(model, "add"), {}).status_code == 403
    if not policy.change:
        crafted = {"status": "answered", "kind": "resolved"}
        assert admin_client.post(_url(model, "change", obj), crafted).status_code == 403
    if not policy.delete:
        assert admin_client.post(_url(model, "delete", obj), {"post": "yes"}).status_code == 403
        admin_client.post(
            _url(model, "changelist"), {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"}
        )
    # then the row is exactly as it was
    assert _stored(obj) == before
    # and where the policy allows a deletion, it is done (unless what depends on the row holds it:
    # an inbox with conversations)
    if policy.delete:
        response = admin_client.post(_url(model, "delete", obj), {"post": "yes"})
        if model is Inbox:
            assert "Cannot delete inbox" in response.content.decode() and _stored(obj) == before
        else:
            assert (response.status_code, _stored(obj)) == (302, None)


def test_an_inbox_without_conversations_goes_with_its_policy_and_its_webhooks_log(admin_client, committed):
    # given an inbox without conversations, with a survey policy and a webhook that has delivered for it
    inbox = InboxFactory(name="Unused")
    policy = feedback_services.survey_policy_update(inbox=inbox, enabled=False)
    subscription = WebhookSubscription.objects.create(name="CRM", url="https://crm.example/h", event_types=["*"])
    other = conversation_with(InboxFactory(name="Busy"), ContactFactory())
    webhooks.dispatch_event(event_id=other.events.first().pk)
    WebhookSubscription.objects.filter(pk=subscription.pk).update(inbox=inbox)
    delivery = WebhookDelivery.objects.get(subscription=subscription)
    # when the admin deletes the policy or the delivery on its own, they are refused
    assert admin_client.post(_url(SurveyPolicy, "delete", policy), {"post": "yes"}).status_code == 403
    assert admin_client.post(_url(WebhookDelivery, "delete", delivery), {"post": "yes"}).status_code == 403
    # when the admin deletes the inbox (its confirmation page lists what goes with it), then confirms
    page = admin_client.get(_url(Inbox, "delete", inbox)).content.decode()
    assert "Survey policy of Unused" in page and "permission" not in page
    response = admin_client.post(_url(Inbox, "delete", inbox), {"post": "yes"})
    # then the inbox, its policy, its subscription and that subscription's log are gone
    assert response.status_code == 302
    assert not Inbox.objects.filter(pk=inbox.pk).exists()
    assert not SurveyPolicy.objects.filter(pk=policy.pk).exists()
    assert not WebhookDelivery.objects.filter(pk=delivery.pk).exists()


# --- conversations: the change form calls the conversation services -----------------------


class _SubmittedForm(HTMLParser):
    """What a browser submits from the admin's change form: its inputs, selects and textareas."""

    def __init__(self):
        super().__init__()
        self.data = defaultdict(list)
        self._in_form = False
        self._select = None
        self._textarea = None
        self._text = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("id") or "").endswith("_form"):
            self._in_form = True
        if not self._in_form or (tag != "option" and not attrs.get("name")):
            return
        if tag == "input":
            kind = attrs.get("type", "text")
            if kind in ("submit", "button", "file", "image", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            self.data[attrs["name"]].append(attrs.get("value", "on" if kind in ("checkbox", "radio") else ""))
        elif tag == "select":
            self._select = attrs["name"]
        elif tag == "option" and self._select and "selected" in attrs:
            self.data[self._select].append(attrs.get("value", ""))
        elif tag == "textarea":
            self._textarea, self._text = attrs["name"], []

    def handle_data(self, data):
        if self._textarea:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.data[self._textarea].append("".join(self._text).removeprefix("\n"))
            self._textarea = None
        elif tag == "form":
            self._in_form = False


def change_form(client, url: str) -> dict:
    """The change form as the page shows it, ready to edit and post back."""
    page = client.get(url)
    assert page.status_code == 200
    parser = _SubmittedForm()
    parser.feed(page.content.decode())
    return dict(parser.data)


def save(client, url: str, **changes):
    """Open the change form, change some fields (like a person would), press Save."""
    data = change_form(client, url)
    for name, value in changes.items():
        data[name] = [value]
    data["_save"] = ["Save"]
    return client.post(url, data, follow=True)


@pytest.fixture
def shop():
    inbox = InboxFactory(name="Shop")
    agent = agent_user(inbox)
    return inbox, agent


@pytest.fixture
def answered(shop, committed):
    """An open conversation an agent has answered, in an inbox whose survey waits an hour."""
    inbox, agent = shop
    feedback_services.survey_policy_update(inbox=inbox, delay=timedelta(hours=1))
    with committed():
        conversation = conversation_with(inbox, ContactFactory(name="Paul"), body="My invoice is wrong")
        services.conversation_assign(conversation=conversation, assignee=agent)
        services.message_send(conversation=conversation, by=agent, body="Let me fix it.")
    conversation.refresh_from_db()
    return conversation


def _kinds(conversation) -> list[str]:
    return list(conversation.events.order_by("id").values_list("kind", flat=True))


def test_resolving_in_the_admin_writes_the_event_and_schedules_the_survey(answered, admin_client, root, committed):
    # given an answered conversation open in the admin
    url = _url(Conversation, "change", answered)
    # when the admin sets its status to resolved and saves
    with committed():
        response = save(admin_client, url, status="resolved")
    # then it says so, and the conversation is resolved as from the console: the event by the admin,
    # the survey invitation scheduled, the resolution time set
    assert "was changed successfully" in response.content.decode()
    answered.refresh_from_db()
    assert answered.status == "resolved" and answered.resolved_at is not None
    resolved = answered.events.get(kind=Kind.RESOLVED)
    assert resolved.actor == root and resolved.data["resolution_number"] == 1
    invitation = SurveyInvitation.objects.get(conversation=answered)
    assert (invitation.status, invitation.skip_reason) == ("scheduled", "")
    assert answered.events.filter(kind=Kind.SURVEY_SCHEDULED).exists()


def test_an_assignee_change_in_the_admin_writes_assigned(answered, shop, admin_client, root):
    # given a second agent of the inbox
    inbox, _ = shop
    bob = agent_user(inbox)
    # when the admin picks them as the assignee and saves
    save(admin_client, _url(Conversation, "change", answered), assignee=str(bob.pk))
    # then the conversation is theirs, with the event the console's assign writes
    answered.refresh_from_db()
    assert answered.assignee == bob
    assigned = answered.events.filter(kind=Kind.ASSIGNED).last()
    assert (assigned.actor, assigned.data["assignee_id"]) == (root, bob.pk)


def test_a_team_change_in_the_admin_is_a_transfer(answered, admin_client):
    # given a team
    billing = TeamFactory(name="Billing")
    # when the admin moves the conversation to it
    save(admin_client, _url(Conversation, "change", answered), team=str(billing.pk))
    # then it is transferred (the event names both teams), and keeps its agent
    answered.refresh_from_db()
    transferred = answered.events.get(kind=Kind.TRANSFERRED)
    assert (answered.team, transferred.data["to_team_id"]) == (billing, billing.pk)
    assert transferred.data["to_agent_id"] == answered.assignee_id is not None


def test_a_priority_change_in_the_admin_writes_priority_changed(answered, admin_client):
    # when the admin raises the priority
    save(admin_client, _url(Conversation, "change", answered), priority="urgent")
    # then the event records the change, and the queue rank follows
    answered.refresh_from_db()
    assert (answered.priority, answered.priority_rank) == ("urgent", 3)
    assert answered.events.get(kind=Kind.PRIORITY_CHANGED).data == {"from": "normal", "to": "urgent"}


def test_snoozing_in_the_admin_goes_through_the_snooze_service(answered, admin_client):
    # when the admin snoozes the conversation until tomorrow
    until = timezone.localtime() + timedelta(days=1)
    save(
        admin_client,
        _url(Conversation, "change", answered),
        status="snoozed",
        snoozed_until_0=until.strftime("%Y-%m-%d"),
        snoozed_until_1=until.strftime("%H:%M:%S"),
    )
    # then it sleeps until then, with the snoozed event
    answered.refresh_from_db()
    assert answered.status == "snoozed" and answered.snoozed_until is not None
    assert answered.events.filter(kind=Kind.SNOOZED).count() == 1
    # and when the admin opens it again, it is unsnoozed by the service (a woke event, by the admin)
    save(
        admin_client,
        _url(Conversation, "change", answered),
        status="open",
        snoozed_until_0=until.strftime("%Y-%m-%d"),
        snoozed_until_1=until.strftime("%H:%M:%S"),
    )
    answered.refresh_from_db()
    assert (answered.status, answered.snoozed_until) == ("open", None)
    woke = answered.events.get(kind=Kind.WOKE)
    assert woke.data == {"reason": "agent"} and woke.actor.is_staff


def test_an_assignee_outside_the_inbox_is_a_form_error_and_changes_nothing(answered, admin_client):
    # given an agent of another inbox
    stranger = agent_user(InboxFactory(name="Elsewhere"))
    before, events = answered.assignee_id, _kinds(answered)
    # when the admin assigns the conversation to them
    response = save(admin_client, _url(Conversation, "change", answered), assignee=str(stranger.pk))
    # then the form comes back with the service's reason on the field, and nothing was written
    page = response.content.decode()
    assert response.status_code == 200 and "Please correct the error below." in page
    assert "Not a member of this inbox." in page
    answered.refresh_from_db()
    assert answered.assignee_id == before and _kinds(answered) == events
    assert not LogEntry.objects.exists()


def test_a_refusal_late_in_the_save_undoes_what_came_before_it(answered, shop, admin_client):
    # given a second agent of the inbox
    inbox, _ = shop
    bob = agent_user(inbox)
    before, events = model_to_dict(answered), _kinds(answered)
    # when the admin assigns to them (accepted) and snoozes until a time already past (refused)
    past = timezone.localtime() - timedelta(hours=1)
    response = save(
        admin_client,
        _url(Conversation, "change", answered),
        assignee=str(bob.pk),
        status="snoozed",
        snoozed_until_0=past.strftime("%Y-%m-%d"),
        snoozed_until_1=past.strftime("%H:%M:%S"),
    )
    # then the snooze's reason shows on its field, and the assignment is not half-saved
    assert "Must be in the future." in response.content.decode()
    answered.refresh_from_db()
    assert model_to_dict(answered) == before and _kinds(answered) == events


def test_reopening_when_the_contact_has_another_open_conversation_is_a_form_error(shop, admin_client, committed):
    # given a resolved conversation whose contact has written again since (a new open conversation)
    inbox, agent = shop
    paul = ContactFactory(name="Paul")
    first = conversation_with(inbox, paul, body="First question")
    services.conversation_resolve(conversation=first, by=agent)
    conversation_with(inbox, paul, body="Second question")
    # when the admin sets the first one back to open
    response = save(admin_client, _url(Conversation, "change", first), status="open")
    # then the service's reason is shown on the status, never a 500, and it stays resolved
    assert response.status_code == 200
    assert "This contact already has an open conversation; continue there." in response.content.decode()
    first.refresh_from_db()
    assert first.status == "resolved" and not first.events.filter(kind=Kind.REOPENED).exists()


def test_read_only_fields_of_a_conversation_ignore_what_is_posted(answered, admin_client):
    # given the conversation's contact, subject and counters
    before = model_to_dict(answered)
    # when a crafted post sends other values for fields no service owns
    save(admin_client, _url(Conversation, "change", answered), subject="Hacked", last_seq="99", reopen_count="7")
    # then nothing changed
    answered.refresh_from_db()
    assert model_to_dict(answered) == before


def test_resolve_selected_goes_through_the_service_for_each_conversation(shop, admin_client, root, committed):
    # given two open conversations
    inbox, _ = shop
    conversations = [conversation_with(inbox, ContactFactory(), body=f"Question {n}") for n in range(2)]
    # when the admin resolves both from the list
    with committed():
        response = admin_client.post(
            _url(Conversation, "changelist"),
            {"action": "resolve_selected", "_selected_action": [c.pk for c in conversations]},
            follow=True,
        )
    # then each has its resolved event by the admin and its survey invitation
    assert "Resolved 2 conversation(s)." in response.content.decode()
    for conversation in conversations:
        assert conversation.events.get(kind=Kind.RESOLVED).actor == root
        assert SurveyInvitation.objects.filter(conversation=conversation).exists()


def test_reopen_selected_names_each_refusal(shop, admin_client):
    # given a resolved conversation whose contact has another open one
    inbox, agent = shop
    paul = ContactFactory(name="Paul Refused")
    first = conversation_with(inbox, paul)
    services.conversation_resolve(conversation=first, by=agent)
    conversation_with(inbox, paul)
    # when the admin reopens it from the list
    response = admin_client.post(
        _url(Conversation, "changelist"), {"action": "reopen_selected", "_selected_action": [first.pk]}, follow=True
    )
    # then the page names the conversation and the reason, and it stays resolved
    page = response.content.decode()
    assert f"Conversation {first.pk} (resolved): This contact already has an open conversation" in page
    first.refresh_from_db()
    assert first.status == "resolved"


# --- contacts: edited through contact_update, erased through contact_erase -----------------


def test_a_contacts_name_is_changed_through_the_service_and_addresses_are_read_only(admin_client):
    # given a contact with an email address (an identity proven by a channel)
    maria = ContactFactory(name="Maria", email="maria@example.com")
    # when the admin renames her, and a crafted post also sends another address
    save(admin_client, _url(Contact, "change", maria), name="Maria Garcia", email="evil@example.com")
    # then the name changed and the address did not
    maria.refresh_from_db()
    assert (maria.name, maria.email) == ("Maria Garcia", "maria@example.com")


def test_attributes_that_are_not_an_object_are_refused_by_the_service(admin_client):
    # given a contact with attributes
    maria = ContactFactory(name="Maria", attributes={"plan": "Gold"})
    # when the admin writes a list instead of an object
    response = save(admin_client, _url(Contact, "change", maria), attributes="[1, 2]")
    # then the service's reason shows on the field and the attributes stay
    assert "An object, e.g. {&quot;plan&quot;: &quot;Gold&quot;}." in response.content.decode()
    maria.refresh_from_db()
    assert maria.attributes == {"plan": "Gold"}


def test_a_contact_is_erased_through_contact_erase_never_deleted(shop, admin_client, root):
    # given a contact with a conversation
    inbox, agent = shop
    maria = ContactFactory(name="Maria Garcia", email="maria@example.com")
    conversation = conversation_with(inbox, maria, body="I live at 5 rue de la Paix")
    # when the admin tries to delete her
    assert admin_client.post(_url(Contact, "delete", maria), {"post": "yes"}).status_code == 403
    # and instead picks "Erase personal data" on the list: first a confirmation page
    action = {"action": "erase_personal_data", "_selected_action": [maria.pk]}
    confirmation = admin_client.post(_url(Contact, "changelist"), action)
    assert "This cannot be undone" in confirmation.content.decode()
    assert Contact.objects.get(pk=maria.pk).name == "Maria Garcia"
    # when they confirm
    response = admin_client.post(_url(Contact, "changelist"), {**action, "post": "yes"}, follow=True)
    # then she is erased as contact_erase erases (audited, messages emptied), and the rows stay for the metrics
    assert "Erased the personal data of 1 contact(s)" in response.content.decode()
    maria.refresh_from_db()
    assert (maria.name, maria.email) == ("", "")
    assert list(conversation.messages.values_list("body", flat=True)) == [""]
    audit = AuditLog.objects.get(action="contact_erase", target_id=str(maria.pk))
    assert audit.actor == root and audit.data["messages"] == 1
    assert Conversation.objects.filter(pk=conversation.pk).exists()


def test_an_event_cannot_be_deleted(answered, admin_client):
    # given a conversation's events
    event = answered.events.first()
    count = ConversationEvent.objects.count()
    # when the admin tries to delete one, alone or from the list
    assert admin_client.post(_url(ConversationEvent, "delete", event), {"post": "yes"}).status_code == 403
    admin_client.post(
        _url(ConversationEvent, "changelist"),
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    # then the log is whole
    assert ConversationEvent.objects.count() == count


# --- agents and users ---------------------------------------------------------------------


def test_an_agent_set_offline_in_the_admin_hands_back_what_they_have_not_answered(shop, admin_client, committed):
    # given an online agent with an unanswered conversation
    inbox, agent = shop
    waiting = conversation_with(inbox, ContactFactory(), body="Hello?")
    services.conversation_assign(conversation=waiting, assignee=agent)
    # when the admin sets them offline
    with committed():
        save(admin_client, _url(AgentProfile, "change", agent.agent), availability="offline")
    # then agent_set_availability ran: offline, and the conversation is back in the queue with its event
    assert AgentProfile.objects.get(user=agent).availability == "offline"
    waiting.refresh_from_db()
    assert waiting.assignee is None and waiting.events.filter(kind=Kind.UNASSIGNED).exists()


def test_a_user_is_deactivated_not_deleted_and_a_deactivated_agent_goes_offline(shop, admin_client):
    # given an online agent
    _, agent = shop
    # when the admin tries to delete the user, then unticks Active instead
    assert admin_client.post(_url(User, "delete", agent), {"post": "yes"}).status_code == 403
    data = change_form(admin_client, _url(User, "change", agent))
    data.pop("is_active")
    data["_save"] = ["Save"]
    admin_client.post(_url(User, "change", agent), data)
    # then the user is inactive and the agent offline
    agent.refresh_from_db()
    assert not agent.is_active and agent.agent.availability == "offline"


# --- survey policies: the API's validation, in the form ------------------------------------


def test_an_invalid_survey_policy_is_refused_with_the_services_reasons(shop, admin_client):
    # given an inbox's survey policy
    inbox, _ = shop
    policy = feedback_services.survey_policy_update(inbox=inbox, sample_rate=0.5)
    before = model_to_dict(policy)
    # when the admin saves unknown questions, an expiry under an hour and a rate above 1
    response = save(
        admin_client,
        _url(SurveyPolicy, "change", policy),
        questions='["csat", "mood"]',
        expiry="00:10:00",
        sample_rate="2",
    )
    # then each field shows survey_policy_clean's reason (the API's words) and nothing changed
    page = response.content.decode()
    assert "A non-empty list of csat, ces, nps, comment." in page
    assert "At least one hour." in page
    assert "A number from 0 to 1." in page
    policy.refresh_from_db()
    assert model_to_dict(policy) == before


def test_a_valid_survey_policy_is_saved_through_the_service(shop, admin_client):
    # given an inbox without a policy
    inbox, _ = shop
    # when the admin adds one
    data = change_form(admin_client, _url(SurveyPolicy, "add"))
    data.update(inbox=[str(inbox.pk)], questions=['["nps"]'], sample_rate=["0.25"], _save=["Save"])
    response = admin_client.post(_url(SurveyPolicy, "add"), data, follow=True)
    # then the policy is stored as the service stores it
    assert "was added successfully" in response.content.decode()
    policy = SurveyPolicy.objects.get(inbox=inbox)
    assert (policy.questions, policy.sample_rate) == (["nps"], 0.25)


def test_every_admin_list_search_and_change_page_opens(world, admin_client):
    # given one row of every model in the admin
    # then each list (searched too) and each change page opens and shows the row
    for model, obj in world.items():
        assert admin_client.get(_url(model, "changelist")).status_code == 200, model
        assert admin_client.get(_url(model, "changelist"), {"q": "a"}).status_code == 200, model
        assert admin_client.get(_url(model, "change", obj)).status_code == 200, model
