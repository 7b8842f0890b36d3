"""Automation rules (docs/automation.md): on an event, when every condition holds, the actions run
through their services in the outbox's drain, after the event committed, once per event, audited;
supervisors manage the rules (REST API, Django admin), agents read them."""

import pytest
from django.urls import reverse

from chat import automation, outbox, services, workspace
from chat.models import AuditLog, AutomationRule, Conversation, ConversationEvent, Label, Message
from tests.factories import (
    ContactFactory,
    EmailInboxFactory,
    InboxFactory,
    SupervisorFactory,
    TeamFactory,
    UserFactory,
    agent_user,
    conversation_with,
)

pytestmark = pytest.mark.django_db(transaction=True)

Kind = ConversationEvent.Kind


@pytest.fixture
def supervisor():
    return SupervisorFactory().user


def rule(by, **fields) -> AutomationRule:
    fields.setdefault("name", "A rule")
    fields.setdefault("event", "conversation_created")
    return automation.automation_rule_create(by=by, **fields)


def label_names(conversation: Conversation) -> list[str]:
    return sorted(Label.objects.filter(conversations=conversation).values_list("name", flat=True))


def applied(conversation: Conversation) -> list[str]:
    rows = AuditLog.objects.filter(target_type="conversation", target_id=str(conversation.pk)).order_by("id")
    return [f"{row.action}:{row.data['name']}" for row in rows if row.action.startswith("automation_rule_")]


# --- rules at work -------------------------------------------------------------------------------


def test_a_refund_email_from_a_customer_domain_is_labelled_routed_and_raised(supervisor):
    # given an email inbox, a rule for it on new conversations: email, "refund" in the text, acme.com
    inbox, other = EmailInboxFactory(), InboxFactory()
    billing, refunds = TeamFactory(name="Billing"), Label.objects.create(name="refund")
    rule(
        supervisor,
        name="Refunds to billing",
        inbox=inbox.pk,
        conditions=[
            {"attribute": "channel", "operator": "is", "value": ["email"]},
            {"attribute": "message", "operator": "contains", "value": "REFUND"},
            {"attribute": "email_domain", "operator": "is", "value": ["acme.com"]},
        ],
        actions=[
            {"action": "add_label", "value": refunds.pk},
            {"action": "assign_team", "value": billing.pk},
            {"action": "set_priority", "value": "high"},
        ],
    )
    ana = ContactFactory(email="ana@ACME.com")
    # when Ana asks for a refund by email, and others write that do not match
    conversation = conversation_with(inbox, ana, body="I would like a refund please")
    elsewhere = conversation_with(other, ContactFactory(email="bo@acme.com"), body="refund", channel="email")
    unrelated = conversation_with(inbox, ContactFactory(email="cy@other.org"), body="refund")
    # then her conversation has the label, the team and the priority, done by the system and audited
    conversation.refresh_from_db()
    assert label_names(conversation) == ["refund"]
    assert (conversation.team_id, conversation.priority) == (billing.pk, "high")
    kinds = list(conversation.events.filter(actor=None).values_list("kind", flat=True))
    assert {Kind.LABELLED, Kind.TRANSFERRED, Kind.PRIORITY_CHANGED} <= set(kinds)
    assert applied(conversation) == ["automation_rule_applied:Refunds to billing"]
    # and the others are untouched
    for untouched in (elsewhere, unrelated):
        untouched.refresh_from_db()
        assert label_names(untouched) == [] and untouched.priority == "normal" and applied(untouched) == []


def test_each_event_runs_its_rules_once_even_when_the_drain_runs_again(supervisor):
    # given a rule that greets every customer message in any inbox whose plan is "pro"
    inbox = InboxFactory()
    rule(
        supervisor,
        name="Pro greeting",
        event="message_created",
        conditions=[{"attribute": "contact_attribute", "key": "plan", "operator": "is", "value": "Pro"}],
        actions=[{"action": "send_message", "value": "A specialist is on it."}],
    )
    pro = ContactFactory(attributes={"plan": "pro"})
    # when a pro customer writes twice, an agent answers, and the drains run again from the start
    conversation = conversation_with(inbox, pro, body="first")
    services.message_receive(inbox=inbox, contact=pro, channel="web", body="second")
    services.message_send(conversation=conversation, by=agent_user(inbox), body="Hello!")
    outbox.run_drains(0)
    outbox.run_drains(0)
    # then one system message per customer message, none for the agent's nor for the system's own
    greetings = conversation.messages.filter(sender_kind=Message.SenderKind.SYSTEM, body="A specialist is on it.")
    assert greetings.count() == 2
    assert applied(conversation) == ["automation_rule_applied:Pro greeting"] * 2


def test_a_rule_that_cannot_act_is_audited_and_holds_up_nothing(supervisor):
    # given, on resolution, a rule that messages the customer (refused: resolved) and one that labels
    inbox = InboxFactory()
    done = Label.objects.create(name="done")
    rule(supervisor, name="Bye", event="conversation_resolved", actions=[{"action": "send_message", "value": "Bye"}])
    rule(supervisor, name="Tag", event="conversation_resolved", actions=[{"action": "add_label", "value": done.pk}])
    conversation = conversation_with(inbox)
    # when the conversation is resolved
    services.conversation_resolve(conversation=conversation, by=agent_user(inbox))
    # then the label is added, the message was refused and audited with why, nothing half done
    assert label_names(conversation) == ["done"]
    assert applied(conversation) == ["automation_rule_failed:Bye", "automation_rule_applied:Tag"]
    failed = AuditLog.objects.get(action="automation_rule_failed")
    assert "resolved" in failed.data["error"]
    assert not conversation.messages.filter(body="Bye").exists()
    # and later events are still handled
    again = conversation_with(inbox, ContactFactory())
    services.conversation_resolve(conversation=again, by=agent_user(inbox))
    assert label_names(again) == ["done"]


def test_rules_match_only_events_after_they_start_and_while_active(supervisor):
    # given a conversation that opened before any rule
    inbox = InboxFactory(language="es")
    vip = Label.objects.create(name="vip")
    before = conversation_with(inbox, ContactFactory(locale="es"))
    # when a rule for Spanish speakers is made and the drains run from the start
    spanish = rule(
        supervisor,
        name="Spanish",
        conditions=[{"attribute": "language", "operator": "is", "value": ["es"]}],
        actions=[{"action": "add_label", "value": vip.pk}],
    )
    outbox.run_drains(0)
    # then the earlier conversation is not touched, a new one is
    assert label_names(before) == []
    after = conversation_with(inbox, ContactFactory(locale="es"))
    assert label_names(after) == ["vip"]
    # and a rule turned off does nothing
    automation.automation_rule_update(rule=spanish, by=supervisor, active=False)
    off = conversation_with(inbox, ContactFactory(locale="es"))
    assert label_names(off) == []


def test_a_deleted_label_makes_the_rule_fail_not_the_drain(supervisor):
    inbox = InboxFactory()
    gone = Label.objects.create(name="gone")
    rule(supervisor, name="Gone", actions=[{"action": "add_label", "value": gone.pk}])
    workspace.label_delete(label=gone, by=supervisor)
    conversation = conversation_with(inbox)
    assert applied(conversation) == ["automation_rule_failed:Gone"]


# --- managing rules: the REST API ------------------------------------------------------------------

URL = "/api/v1/automation-rules/"


def test_supervisors_manage_rules_and_every_change_is_audited(as_user, supervisor):
    # given a label and a team
    label, team = Label.objects.create(name="billing"), TeamFactory()
    client = as_user(supervisor)
    body = {
        "name": "Billing",
        "event": "message_created",
        "conditions": [{"attribute": "message", "operator": "contains", "value": "invoice"}],
        "actions": [{"action": "add_label", "value": label.pk}, {"action": "assign_team", "value": team.pk}],
    }
    # when a supervisor creates, changes and deletes a rule
    created = client.post(URL, body, format="json")
    assert created.status_code == 201, created.content
    rule_id = created.json()["id"]
    assert created.json()["conditions"] == [{"attribute": "message", "operator": "contains", "value": "invoice"}]
    changed = client.patch(f"{URL}{rule_id}/", {"active": False, "name": "Billing (off)"}, format="json")
    assert changed.status_code == 200 and changed.json()["active"] is False
    assert client.delete(f"{URL}{rule_id}/").status_code == 204
    # then each change is an audit line by the supervisor
    actions = list(
        AuditLog.objects.filter(target_type="automationrule").order_by("id").values_list("action", "actor_id")
    )
    assert actions == [
        ("automation_rule_created", supervisor.pk),
        ("automation_rule_updated", supervisor.pk),
        ("automation_rule_deleted", supervisor.pk),
    ]


def test_agents_read_the_rules_of_their_inboxes_and_may_not_change_them(as_user, supervisor):
    # given a workspace-wide rule, one for the agent's inbox and one for another inbox
    mine, theirs = InboxFactory(), InboxFactory()
    actions = [{"action": "set_priority", "value": "high"}]
    everywhere = rule(supervisor, name="Everywhere", actions=actions)
    own = rule(supervisor, name="Mine", inbox=mine, actions=actions)
    foreign = rule(supervisor, name="Theirs", inbox=theirs, actions=actions)
    client = as_user(agent_user(mine))
    # then the agent lists and reads the first two; the third is a 404
    assert sorted(r["name"] for r in client.get(URL).json()) == ["Everywhere", "Mine"]
    assert client.get(f"{URL}{own.pk}/").status_code == 200
    assert client.get(f"{URL}{foreign.pk}/").status_code == 404
    # and may not create, change or delete any (403), nothing changes
    assert (
        client.post(URL, {"name": "x", "event": "conversation_created", "actions": actions}, format="json").status_code
        == 403
    )
    assert client.patch(f"{URL}{everywhere.pk}/", {"active": False}, format="json").status_code == 403
    assert client.delete(f"{URL}{own.pk}/").status_code == 403
    assert AutomationRule.objects.filter(active=True).count() == 3
    assert not AuditLog.objects.exclude(action="automation_rule_created").filter(target_type="automationrule").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"event": "conversation_created", "actions": [{"action": "set_priority", "value": "high"}]}, "name"),
        ({"name": "x", "event": "typed", "actions": [{"action": "set_priority", "value": "high"}]}, "event"),
        ({"name": "x", "event": "conversation_created", "actions": []}, "actions"),
        ({"name": "x", "event": "conversation_created", "actions": [{"action": "delete_all"}]}, "actions"),
        (
            {"name": "x", "event": "conversation_created", "actions": [{"action": "add_label", "value": 99999}]},
            "actions",
        ),
        (
            {"name": "x", "event": "conversation_created", "actions": [{"action": "set_priority", "value": "max"}]},
            "actions",
        ),
        (
            {
                "name": "x",
                "event": "conversation_created",
                "inbox": 99999,
                "actions": [{"action": "set_priority", "value": "high"}],
            },
            "inbox",
        ),
        (
            {
                "name": "x",
                "event": "conversation_created",
                "conditions": [{"attribute": "mood", "operator": "is", "value": ["sad"]}],
                "actions": [{"action": "set_priority", "value": "high"}],
            },
            "conditions",
        ),
        (
            {
                "name": "x",
                "event": "conversation_created",
                "conditions": [{"attribute": "channel", "operator": "contains", "value": ["email"]}],
                "actions": [{"action": "set_priority", "value": "high"}],
            },
            "conditions",
        ),
        (
            {
                "name": "x",
                "event": "conversation_created",
                "conditions": [{"attribute": "channel", "operator": "is", "value": ["pigeon"]}],
                "actions": [{"action": "set_priority", "value": "high"}],
            },
            "conditions",
        ),
        (
            {
                "name": "x",
                "event": "conversation_created",
                "conditions": [{"attribute": "message", "operator": "contains", "value": "a\x00b"}],
                "actions": [{"action": "set_priority", "value": "high"}],
            },
            "conditions",
        ),
        (
            {
                "name": "x",
                "event": "conversation_created",
                "conditions": "all",
                "actions": [{"action": "set_priority", "value": "high"}],
            },
            "conditions",
        ),
    ],
)
def test_bad_rules_are_400_with_the_field_and_nothing_is_stored(as_user, supervisor, body, field):
    response = as_user(supervisor).post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert not AutomationRule.objects.exists() and not AuditLog.objects.filter(target_type="automationrule").exists()


# --- managing rules: the Django admin ---------------------------------------------------------------


def test_the_admin_makes_rules_through_the_service_and_shows_its_refusals(client):
    # given a superuser in the admin
    root = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(root)
    label = Label.objects.create(name="urgent")
    url = reverse("admin:chat_automationrule_add")
    form = {
        "name": "Urgent words",
        "event": "message_created",
        "inbox": "",
        "conditions": '[{"attribute": "message", "operator": "contains", "value": "urgent"}]',
        "actions": f'[{{"action": "add_label", "value": {label.pk}}}]',
        "active": "on",
    }
    # when a bad rule is posted, then a good one
    refused = client.post(url, {**form, "actions": '[{"action": "add_label", "value": 99999}]'})
    assert refused.status_code == 200 and b"no such label" in refused.content
    assert not AutomationRule.objects.exists()
    assert client.post(url, form).status_code == 302
    # then the rule is stored and audited as the service does it, and it works
    saved = AutomationRule.objects.get()
    assert saved.created_by == root and AuditLog.objects.filter(action="automation_rule_created").count() == 1
    conversation = conversation_with(InboxFactory(), body="This is urgent!")
    assert label_names(conversation) == ["urgent"]
