"""The audit log: every admin and supervisor action (settings, policies, role changes, exports,
erasures), exported as JSON lines by the API and by manage.py, in time order; the export is audited."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from chat import privacy
from chat.models import AgentProfile, AuditLog
from tests.factories import AgentFactory, ContactFactory, InboxFactory, SupervisorFactory, UserFactory
from tests.test_admin_services import save

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def exported(client, **query) -> list[dict]:
    answer = client.get("/api/v1/audit/", query)
    assert answer.status_code == 200 and answer["Content-Type"] == "application/x-ndjson"
    return [json.loads(line) for line in b"".join(answer.streaming_content).decode().splitlines()]


def test_every_kind_of_admin_and_supervisor_action_is_in_the_json_lines_export():
    # given an admin and a supervisor at work
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    supervisor = SupervisorFactory(user=UserFactory(username="sue")).user
    inbox = InboxFactory()
    admin, sue = signed_in(root), signed_in(supervisor)
    # settings (the workspace's), a role change (in the admin), a policy, an export, an erasure
    account_services.workspace_settings_update(by=root, require_two_factor=True)
    account_services.workspace_settings_update(by=root, require_two_factor=False)  # (for this test's sake)
    agent = AgentFactory(display_name="Ann")
    url = reverse("admin:chat_agentprofile_change", args=[agent.pk])
    assert save(admin, url, is_supervisor="on").status_code == 200
    assert AgentProfile.objects.get(pk=agent.pk).is_supervisor
    answer = sue.patch(f"/api/v1/surveys/policies/{inbox.pk}/", {"sample_rate": 0.5}, content_type="application/json")
    assert answer.status_code == 200, answer.content
    today = timezone.localdate().isoformat()
    assert sue.get("/api/v1/exports/conversations.csv", {"from": today, "to": today}).status_code == 200
    privacy.contact_erase(contact=ContactFactory(), by=supervisor)
    # when the admin exports the audit log
    lines = exported(admin)
    # then each action is a line, in time order, with who did it
    actions = [(line["source"], line["action"], (line["actor"] or {}).get("username")) for line in lines]
    for expected in [
        ("service", "workspace_settings_changed", "root"),
        ("service", "role_changed", "root"),
        ("admin", "admin_change", "root"),
        ("service", "survey_policy_changed", "sue"),
        ("service", "conversations_exported", "sue"),
        ("service", "contact_erase", "sue"),
        ("service", "audit_export", "root"),
    ]:
        assert expected in actions, expected
    assert [line["at"] for line in lines] == sorted(line["at"] for line in lines)
    role = next(line for line in lines if line["action"] == "role_changed")
    assert role["target"] == {"type": "user", "id": str(agent.user_id)}
    assert role["data"]["set"] == {"is_supervisor": True}
    admin_line = next(line for line in lines if line["source"] == "admin")
    assert admin_line["target"] == {"type": "chat.agentprofile", "id": str(agent.pk)}


def test_only_admins_export_it_and_each_export_is_audited():
    supervisor = SupervisorFactory().user
    assert signed_in(supervisor).get("/api/v1/audit/").status_code == 403
    assert signed_in(AgentFactory().user).get("/api/v1/audit/").status_code == 403
    assert Client().get("/api/v1/audit/").status_code == 403
    assert not AuditLog.objects.filter(action="audit_export").exists()


def test_the_command_exports_a_period_as_json_lines():
    # given lines of yesterday and of today
    old = AuditLog.objects.create(action="contact_export", target_type="contact", target_id="1")
    AuditLog.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=1))
    AuditLog.objects.create(action="contact_erase", target_type="contact", target_id="2")
    # when today's are exported with manage.py
    out, err = StringIO(), StringIO()
    call_command("audit_export", "--since", timezone.now().date().isoformat(), stdout=out, stderr=err)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    # then only today's are there (and the export itself, which is audited)
    assert [line["action"] for line in lines] == ["contact_erase", "audit_export"]
    assert lines[1]["data"]["via"] == "manage.py"


def test_a_bad_period_is_a_400():
    admin = signed_in(UserFactory(is_staff=True))
    answer = admin.get("/api/v1/audit/", {"since": "yesterday"})
    assert answer.status_code == 400 and "since" in answer.json()["error"]["fields"]
