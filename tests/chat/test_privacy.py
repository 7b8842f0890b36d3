"""Privacy: a contact's export (API, command) and erasure (API, command), audited, metrics unchanged."""

import json
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db.models import Count, Sum

from chat import privacy, services
from chat.models import (
    AuditLog,
    Contact,
    ContactIdentity,
    Conversation,
    ConversationEvent,
    Message,
    VisitorToken,
    hash_token,
)
from feedback import services as feedback_services
from feedback.models import ConversationFacts, FollowUp, MetricRollup, SurveyInvitation, SurveyResponse
from tests.factories import EmailInboxFactory, InboxFactory, SupervisorFactory, agent_user, contact_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(django_capture_on_commit_callbacks):
    """Maria: a web and an email conversation, an attachment file, a survey answer with a comment,
    a follow-up, a visitor token, and a second contact merged into her."""
    web, email = InboxFactory(), EmailInboxFactory()
    agent = agent_user(web, email)
    maria = contact_with("email", "maria@example.com", name="Maria Garcia")
    services.contact_update(contact=maria, attributes={"plan": "gold", "city": "Lyon"})
    VisitorToken.objects.create(inbox=web, contact=maria, token_hash=hash_token("visitor-token-of-maria-123456"))
    stored = default_storage.save("email/maria/invoice.pdf", ContentFile(b"%PDF-1.4 maria's invoice"))
    with django_capture_on_commit_callbacks(execute=True):
        first = services.message_receive(
            inbox=email,
            contact=maria,
            channel="email",
            body="My order 1234 to 5 rue de la Paix never came",
            html="<p>My order 1234 to 5 rue de la Paix never came</p>",
            attachments=[{"name": "invoice.pdf", "content_type": "application/pdf", "size": 24, "path": stored}],
            subject="Missing order",
            metadata={"email": {"from": "maria@example.com"}},
        ).message.conversation
        services.message_send(conversation=first, by=agent, body="Sorry Maria, we resend it today.")
        services.message_send(conversation=first, by=agent, body="She lives at 5 rue de la Paix", is_note=True)
        services.conversation_resolve(conversation=first, by=agent)
    invitation = SurveyInvitation.objects.get(conversation=first)
    token = "privacy-test-token-0001-abcdef"
    SurveyInvitation.objects.filter(pk=invitation.pk).update(token_hash=hash_token(token))
    with django_capture_on_commit_callbacks(execute=True):
        response = feedback_services.survey_answer(
            token=token, channel="email", csat=1, comment="Maria here: the courier was rude"
        )
    follow_up, _ = FollowUp.objects.get_or_create(response=response, defaults={"contact": maria, "conversation": first})
    FollowUp.objects.filter(pk=follow_up.pk).update(note="Call Maria on 0612345678")
    # a second contact (her phone) merged into her, with its own web conversation
    phone_contact = contact_with("phone", "+33612345678", name="M. Garcia")
    with django_capture_on_commit_callbacks(execute=True):
        services.message_receive(inbox=web, contact=phone_contact, channel="web", body="Hi, it's Maria again")
        services.contact_merge(source=phone_contact, target=maria, by=agent)
    return {"contact": Contact.objects.get(pk=maria.pk), "file": stored, "merged": phone_contact, "agent": agent}


def metric_counts() -> dict:
    """What the dashboards count: rows and sums that must not move with an erasure."""
    return {
        "contacts": Contact.objects.count(),
        "conversations": Conversation.objects.count(),
        "conversations_by_status": dict(Conversation.objects.values_list("status").annotate(n=Count("id"))),
        "messages": Message.objects.count(),
        "messages_by_sender": dict(Message.objects.values_list("sender_kind").annotate(n=Count("id"))),
        "events": ConversationEvent.objects.count(),
        "events_by_kind": dict(ConversationEvent.objects.values_list("kind").annotate(n=Count("id"))),
        "invitations": SurveyInvitation.objects.count(),
        "responses": SurveyResponse.objects.count(),
        "scores": SurveyResponse.objects.aggregate(csat=Sum("csat"), ces=Sum("ces"), nps=Sum("nps")),
        "facts": list(ConversationFacts.objects.order_by("pk").values("csat", "customer_messages", "agent_messages")),
        "rollups": list(MetricRollup.objects.order_by("pk").values("metric", "count", "total")),
        "follow_ups": FollowUp.objects.count(),
    }


# --- export ---------------------------------------------------------------------------------


def test_the_export_holds_everything_about_the_person_and_is_audited(person):
    maria = person["contact"]
    document = privacy.contact_export(contact=maria, by=None)
    text = json.dumps(document)
    # then every kind of personal data is in it
    for expected in [
        "Maria Garcia",
        "maria@example.com",
        "+33612345678",
        "gold",
        "never came",
        "<p>My order",
        "invoice.pdf",
        "Sorry Maria",
        "5 rue de la Paix",
        "the courier was rude",
        "Call Maria",
        "Hi, it's Maria again",
    ]:
        assert expected in text, expected
    assert document["merged_contacts"][0]["id"] == person["merged"].pk
    assert len(document["conversations"]) == 2
    assert {"kind": "email", "value": "maria@example.com"}.items() <= document["identities"][0].items()
    assert document["surveys"][0]["response"]["csat"] == 1
    assert "token_hash" not in text  # credentials are not personal data to hand out
    # and the export is in the audit log
    record = AuditLog.objects.get(action="contact_export")
    assert record.target_id == str(maria.pk) and record.data["messages"] == 4


def test_supervisors_export_through_the_api_and_agents_may_not(person, as_user, api):
    maria = person["contact"]
    response = as_user(person["agent"]).get(f"/api/v1/contacts/{maria.pk}/export/")
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    supervisor = SupervisorFactory().user
    response = as_user(supervisor).get(f"/api/v1/contacts/{maria.pk}/export/")
    assert response.status_code == 200
    assert response.json()["contact"]["email"] == "maria@example.com"
    assert AuditLog.objects.get(action="contact_export").actor == supervisor


def test_the_export_command_prints_json(person):
    out = StringIO()
    call_command("contact_export", str(person["contact"].pk), stdout=out)
    document = json.loads(out.getvalue())
    assert document["format"] == "cxhub.contact_export" and document["contact"]["name"] == "Maria Garcia"
    assert AuditLog.objects.filter(action="contact_export", actor=None).count() == 1


# --- erasure --------------------------------------------------------------------------------


def test_erasure_removes_personal_data_and_keeps_the_metric_counts(person, django_capture_on_commit_callbacks):
    maria = person["contact"]
    before = metric_counts()
    assert default_storage.exists(person["file"])
    # when the contact is erased
    with django_capture_on_commit_callbacks(execute=True):
        counts = privacy.contact_erase(contact=maria, by=None)
    # then the counts the dashboards show are the same
    assert metric_counts() == before
    # and nothing personal is left: contact fields, identities, tokens, bodies, files, comments, notes
    for contact in Contact.objects.filter(pk__in=[maria.pk, person["merged"].pk]):
        assert (contact.name, contact.email, contact.phone, contact.external_id, contact.attributes) == (
            "",
            "",
            "",
            "",
            {},
        )
    ids = [maria.pk, person["merged"].pk]
    assert not ContactIdentity.objects.filter(contact_id__in=ids).exists()
    assert not VisitorToken.objects.filter(contact_id__in=ids).exists()
    messages = Message.objects.filter(conversation__contact_id__in=ids)
    assert messages.count() == 4
    assert set(messages.values_list("body", "html")) == {("", "")}
    assert all(m.attachments == [] and m.metadata == {} for m in messages)
    assert set(Conversation.objects.filter(contact_id__in=ids).values_list("subject", flat=True)) == {""}
    assert not default_storage.exists(person["file"])
    assert set(SurveyResponse.objects.values_list("comment", flat=True)) == {""}
    assert set(FollowUp.objects.values_list("note", flat=True)) == {""}
    # the export after erasure holds no trace of the person
    text = json.dumps(privacy.contact_export(contact=maria, by=None))
    for secret in ["Maria", "maria@example.com", "+33612345678", "rue de la Paix", "courier", "gold", "invoice"]:
        assert secret not in text, secret
    # and the erasure is audited with counts only
    record = AuditLog.objects.get(action="contact_erase")
    assert record.data["messages"] == 4 and record.data["identities"] == 2 and record.data["attachment_files"] == 1
    assert "Maria" not in json.dumps(record.data)
    assert counts["contacts"] == 2


def test_erasing_twice_changes_nothing_more(person):
    maria = person["contact"]
    privacy.contact_erase(contact=maria, by=None)
    after_first = metric_counts()
    counts = privacy.contact_erase(contact=maria, by=None)
    assert metric_counts() == after_first
    assert counts["identities"] == 0 and counts["visitor_tokens"] == 0


def test_only_supervisors_erase_through_the_api(person, as_user):
    maria = person["contact"]
    response = as_user(person["agent"]).post(f"/api/v1/contacts/{maria.pk}/erase/")
    assert response.status_code == 403
    assert Contact.objects.get(pk=maria.pk).name == "Maria Garcia"
    supervisor = SupervisorFactory().user
    response = as_user(supervisor).post(f"/api/v1/contacts/{maria.pk}/erase/")
    assert response.status_code == 200 and response.json()["counts"]["messages"] == 4
    assert Contact.objects.get(pk=maria.pk).name == ""
    assert AuditLog.objects.get(action="contact_erase").actor == supervisor


def test_the_erase_command_asks_unless_told_not_to(person, monkeypatch):
    maria = person["contact"]
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    with pytest.raises(Exception, match="Not erased"):
        call_command("contact_erase", str(maria.pk))
    assert Contact.objects.get(pk=maria.pk).name == "Maria Garcia"
    out = StringIO()
    call_command("contact_erase", str(maria.pk), "--noinput", stdout=out)
    assert json.loads(out.getvalue())["erased"] == maria.pk
    assert Contact.objects.get(pk=maria.pk).email == ""


def test_merges_exports_and_erasures_are_in_the_admin_audit_log(person, admin_client):
    privacy.contact_export(contact=person["contact"], by=None)
    privacy.contact_erase(contact=person["contact"], by=None)
    page = admin_client.get("/admin/chat/auditlog/").content.decode()
    for action in ["contact_merge", "contact_export", "contact_erase"]:
        assert action in page
