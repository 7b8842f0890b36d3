"""Authorisation matrix: every HTTP route × role × (own object, foreign object), from the URL conf.

The routes come from `django.urls.get_resolver()` (walked to the leaves) and
`chat.routing.websocket_urlpatterns`. RULES says, for each route, which object it takes, which
methods to try (with a valid body) and who may use it. A route without a rule fails
`test_every_route_has_a_rule`, so a new route cannot ship without saying who may use it.

Roles: anonymous; a widget visitor of the other inbox (its visitor token sent as a credential);
the agent of the other inbox; the inbox's agent; a supervisor; an admin (Django staff).
Expectations:
- allowed: authorised (not 401/403/404) and never a 5xx;
- refused (anonymous, visitor, under-privileged): 401/403/404, or a redirect to a login page;
- a foreign object (the other inbox's): 404 exactly;
and for every refused or foreign request: nothing written, and the other inbox's marker
(SECRET_<A|B>_…, in names and bodies) absent from the answer. A failure of any is a leak.
"""

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from accounts import services as account_services
from accounts.models import AgentSession, ApiToken
from chat import attachments
from chat.models import (
    AttributeDefinition,
    AuditLog,
    AutomationRule,
    Contact,
    ContactLabel,
    ContactNote,
    Conversation,
    ConversationEvent,
    ConversationLabel,
    Inbox,
    Label,
    Macro,
    Mention,
    Message,
    Participant,
    ReadMarker,
    SavedView,
    SlaPolicy,
    VisitorToken,
    WorkspacePreferences,
)
from chat.routing import websocket_urlpatterns
from feedback.models import FollowUp, SurveyPolicy, SurveyResponse

from .figures import FIGURES
from .world import ORIGIN, build_world

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "visitor", "agent_other", "agent", "supervisor", "admin")

# --- who may do what ---------------------------------------------------------------------
# access:
#   scoped      logged-in staff (agents, supervisors, admins); objects limited to the agent's inboxes
#   workspace   any logged-in agent; the objects are shared by the workspace (teams, canned responses)
#   supervisor  supervisors and admins only (agents: 403)
#   staff       Django staff only (admins)
#   public      anyone (no object, no personal data)
#   login       anyone may load it (a login form) — or anyone logged in (logout)
#   page        console pages: logged-in agents; anonymous → redirect to the login page
#   in_url      the credential is in the URL (the survey token): whoever has the link may answer
#   origin      the widget session: no login, the page's Origin must be allowed by the inbox
#               (every role sends an allowed Origin here; test_widget_session_* refuse others)
#   credential  provider webhooks: no login, a signature or secret nobody in the matrix has;
#               every role is refused and nothing is stored
#   admin_site  Django admin: staff only, everyone else → the admin login page
#   personal    the object is one agent's own (a saved view): anyone else, supervisors too, gets 404
#   own         the user's own thing (a login session): its owner and admins; anyone else → 404


@dataclass(frozen=True)
class Rule:
    access: str
    methods: dict = field(default_factory=lambda: {"GET": None})  # method → body (dict) or None
    obj: str | None = None  # which object fills the route's arguments
    list_marker: bool = False  # a list: the other inbox's marker must not appear in it
    query: dict | None = None  # query string for GETs
    write_access: str | None = None  # who may write (POST, PATCH, DELETE) when not those who may read


FUTURE = (timezone.now() + timedelta(days=1)).isoformat()

RULES: dict[str, Rule] = {
    # site
    "start": Rule("public"),  # links only; the demo logins only with DEBUG and the demo seeded
    "healthz": Rule("public"),
    "readyz": Rule("public"),
    "prometheus-metrics": Rule("staff"),
    "schema": Rule("public"),
    "api-docs": Rule("public"),
    "demo": Rule("public"),
    "i18n-widget": Rule("public", obj="language"),
    "i18n-console": Rule("public", obj="language"),
    "console-login": Rule("login"),
    "console-logout": Rule("login", methods={"POST": {}}),
    "console-language": Rule("page", methods={"POST": {"language": "es"}}),
    # customer side: credentials of their own
    "feedback:survey": Rule("in_url", obj="survey_token", methods={"GET": None, "POST": {"csat": "5"}}),
    "widget-session": Rule("origin", obj="widget_inbox", methods={"POST": {"name": "Zed"}}),
    # the visitor token is in the form (a made-up one here: 403 visitor_token_invalid or 400); the
    # scoping of uploads and of their links: tests/chat/test_attachments.py
    "widget-attachments": Rule("origin", obj="widget_inbox", methods={"POST": {"visitor_token": "x"}}),
    "hook-email-inbound": Rule("credential", obj="email_inbox", methods={"POST": "raw-mime"}),
    "hook-twilio-sms": Rule("credential", obj="sms_inbox", methods={"POST": {"From": "+15005550006", "Body": "x"}}),
    "hook-twilio-status": Rule("credential", obj="sms_inbox", methods={"POST": {"MessageSid": "SM1"}}),
    # the conversation core
    "inbox-list": Rule("scoped", list_marker=True),
    "inbox-detail": Rule("scoped", obj="inbox"),
    # business hours and SLA policies: supervisors (a foreign inbox is a 404 for everyone else)
    "inbox-hours": Rule("supervisor", obj="inbox", methods={"GET": None, "PATCH": {"pending_auto_resolve_days": 3}}),
    "inbox-sla-policies": Rule(
        "supervisor", obj="inbox", methods={"GET": None, "POST": {"priority": "high", "first_response_seconds": 60}}
    ),
    "team-list": Rule("workspace"),
    "team-detail": Rule("workspace", obj="team"),
    "agent-list": Rule("scoped", list_marker=True),
    "agent-detail": Rule("scoped", obj="agent"),
    "agent-availability": Rule("workspace", methods={"POST": {"availability": "busy"}}),
    "conversation-list": Rule("scoped", list_marker=True),
    "conversation-detail": Rule("scoped", obj="conversation", methods={"GET": None, "PATCH": {"priority": "high"}}),
    "conversation-assign": Rule("scoped", obj="conversation", methods={"POST": {"assignee": None}}),
    "conversation-transfer": Rule("scoped", obj="conversation", methods={"POST": {"team": "TEAM"}}),
    "conversation-resolve": Rule("scoped", obj="conversation", methods={"POST": {}}),
    "conversation-reopen": Rule("scoped", obj="resolved_conversation", methods={"POST": {}}),
    "conversation-snooze": Rule("scoped", obj="conversation", methods={"POST": {"until": FUTURE}}),
    # allowed roles get 409 not_snoozed (the world's conversation is open): past the authorisation
    "conversation-unsnooze": Rule("scoped", obj="conversation", methods={"POST": {}}),
    "conversation-pending": Rule("scoped", obj="conversation", methods={"POST": {}}),
    "conversation-events": Rule("scoped", obj="conversation"),
    "conversation-read": Rule("scoped", obj="conversation", methods={"POST": {"seq": 1}}),
    "conversation-messages": Rule(
        "scoped", obj="conversation", methods={"GET": None, "POST": {"body": "hi", "client_msg_id": "CMID"}}
    ),
    # the world's messages have no stored file: allowed roles may get 404, foreign ones must
    "message-attachment": Rule("scoped", obj="attachment"),
    # a signed link to the same (absent) file: allowed roles may get 404, the rest must
    "attachment-file": Rule("scoped", obj="signed_file"),
    "contact-list": Rule("scoped", list_marker=True),
    # search: each side's messages say "Reply <marker>"; the other inbox's must never come back
    "search": Rule("scoped", list_marker=True, query={"q": "reply"}),
    "contact-detail": Rule("scoped", obj="contact", methods={"GET": None, "PATCH": {"name": "Renamed"}}),
    "contact-merge": Rule("scoped", obj="contact", methods={"POST": {"source_id": "OTHER_CONTACT"}}),
    "contact-unmerge": Rule("scoped", obj="other_contact", methods={"POST": {"source_id": "MERGED_CONTACT"}}),
    "contact-export": Rule("supervisor", obj="contact"),
    "contact-erase": Rule("supervisor", obj="contact", methods={"POST": {}}),
    "canned-response-list": Rule("workspace"),
    "canned-response-detail": Rule("workspace", obj="canned"),
    # the agent's workspace (issue #15): labels are the workspace's, managed by supervisors;
    # a saved view is its owner's (another's is a 404) unless shared
    "label-list": Rule("workspace"),
    "label-detail": Rule("supervisor", obj="label", methods={"PATCH": {"colour": "#123456"}, "DELETE": None}),
    "conversation-labels": Rule("scoped", obj="conversation", methods={"POST": {"add": ["LABEL"]}}),
    # the ids are in the body: the agent role's own conversation, or the other inbox's (a 404, none changes)
    "conversation-bulk": Rule(
        "scoped", obj="conversation_in_body", methods={"POST": {"ids": ["CONVERSATION"], "action": "resolve"}}
    ),
    "contact-labels": Rule("scoped", obj="contact", methods={"POST": {"add": ["LABEL"]}}),
    "saved-view-list": Rule("workspace", list_marker=True),
    "saved-view-counts": Rule("workspace"),
    "conversation-follow": Rule("scoped", obj="conversation", methods={"POST": {}}),
    "conversation-unfollow": Rule("scoped", obj="conversation", methods={"POST": {}}),
    # mentions are the mentioned agent's own
    "mention-list": Rule("workspace", list_marker=True),
    "mention-read": Rule("personal", obj="mention", methods={"POST": {}}),
    "mention-read-all": Rule("workspace", methods={"POST": {}}),
    # contacts in the console: attribute definitions are the workspace's (supervisors define them)
    "attribute-definition-list": Rule("workspace"),
    "attribute-definition-detail": Rule(
        "supervisor", obj="attribute", methods={"PATCH": {"label": "Tier"}, "DELETE": None}
    ),
    "contact-notes": Rule("scoped", obj="contact", methods={"GET": None, "POST": {"body": "Prefers email."}}),
    "preferences": Rule("workspace", methods={"GET": None, "PATCH": {"send_key": "enter"}}),
    # automation rules: agents read the workspace-wide ones and their inboxes' (another inbox's is a
    # 404); supervisors and admins write them
    "automation-rule-list": Rule(
        "scoped",
        list_marker=True,
        write_access="supervisor",
        methods={
            "GET": None,
            "POST": {
                "name": "Matrix",
                "event": "conversation_created",
                "actions": [{"action": "set_priority", "value": "high"}],
            },
        },
    ),
    "automation-rule-detail": Rule(
        "scoped",
        obj="automation_rule",
        write_access="supervisor",
        methods={"GET": None, "PATCH": {"name": "Renamed"}, "DELETE": None},
    ),
    "macro-list": Rule("workspace", list_marker=True),
    "macro-detail": Rule("personal", obj="macro", methods={"GET": None, "PATCH": {"name": "Renamed"}, "DELETE": None}),
    "macro-run": Rule("personal", obj="macro", methods={"POST": {"conversation": "CONVERSATION"}}),
    "saved-view-detail": Rule(
        "personal", obj="view", methods={"GET": None, "PATCH": {"name": "Renamed"}, "DELETE": None}
    ),
    # feedback
    "survey-response-list": Rule("scoped", list_marker=True),
    "survey-response-detail": Rule("scoped", obj="response"),
    "survey-policy-list": Rule("supervisor"),
    "survey-policy-detail": Rule("supervisor", obj="inbox", methods={"GET": None, "PATCH": {"sample_rate": 1.0}}),
    "metrics-summary": Rule("scoped", obj="inbox_filter"),
    "metrics-timeseries": Rule("scoped", obj="inbox_filter", query={"metric": "csat_percent"}),
    "metrics-breakdown": Rule("scoped", obj="inbox_filter", query={"metric": "csat_percent", "by": "channel"}),
    "metrics-charts": Rule("scoped", obj="inbox_filter"),
    "export-conversations": Rule("scoped", obj="inbox_filter"),
    "metrics-satisfaction": Rule("scoped", obj="inbox_filter"),
    # predicted satisfaction per conversation, the model and its training: supervisors only
    "satisfaction-model": Rule("supervisor"),
    "satisfaction-model-train": Rule("supervisor", methods={"POST": {}}),
    "satisfaction-conversation-list": Rule("supervisor", obj="conversation_query"),
    "satisfaction-conversation-detail": Rule("supervisor", obj="conversation"),
    "webhook-subscription-list": Rule("supervisor"),
    "webhook-subscription-detail": Rule("supervisor", obj="absent"),
    "webhook-delivery-list": Rule("supervisor"),
    "webhook-delivery-detail": Rule("supervisor", obj="absent"),
    "followup-list": Rule("scoped", list_marker=True),
    "followup-detail": Rule("scoped", obj="follow_up"),
    "followup-assign": Rule("scoped", obj="follow_up", methods={"POST": {"owner": "AGENT"}}),
    "followup-close": Rule("scoped", obj="follow_up", methods={"POST": {"note": "Called back."}}),
    # console pages
    "console": Rule("page"),
    "console-conversation": Rule("page", obj="conversation"),
    "console-dashboard": Rule("page"),
    "console-followups": Rule("page", list_marker=True),
    "console-followup-assign": Rule("page", obj="follow_up", methods={"POST": {"owner": "AGENT"}}),
    "console-followup-close": Rule("page", obj="follow_up", methods={"POST": {"note": "Called back."}}),
    # accounts: the code step, the agent's account page, their login sessions (own: the owner and admins)
    "two-factor": Rule("page"),
    "two-factor-setup": Rule("page"),
    "account": Rule("page"),
    "recovery-codes": Rule("page", methods={"POST": {}}),
    "account-session-end": Rule("own", obj="session", methods={"POST": {}}),
    "account-sessions-end-others": Rule("page", methods={"POST": {}}),
    "account-token-create": Rule("page", methods={"POST": {"name": "matrix", "expires_in_days": "5"}}),
    "account-token-revoke": Rule("own", obj="api_token", methods={"POST": {}}),
    "account-session-list": Rule("workspace"),
    "account-session-detail": Rule("own", obj="session", methods={"DELETE": None}),
    "account-token-list": Rule("workspace", methods={"GET": None, "POST": {"name": "matrix"}}),
    "account-token-detail": Rule("own", obj="api_token", methods={"DELETE": None}),
    "audit-export": Rule("staff"),
    "workspace-retention": Rule("staff", methods={"GET": None, "PATCH": {"retention_days": 30}}),
    "workspace-retention-preview": Rule("staff", query={"days": 30}),
}
ADMIN_RULE = Rule("admin_site")
ADMIN_LOGIN_RULE = Rule("login")
WEBSOCKET_RULES = {"ws/widget/": "visitor", "ws/console/": "agent"}  # tested in test_websocket_* below


# --- the routes --------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    pattern: str
    name: str | None
    keys: tuple


def _walk(patterns, prefix="", namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}{entry.name}" if entry.name else None
            yield Route(prefix + str(entry.pattern), name, tuple(_keys(prefix + str(entry.pattern))))


def _keys(pattern: str) -> list[str]:
    return re.findall(r"<(?:\w+:)?(\w+)>", pattern) + re.findall(r"\(\?P<(\w+)>", pattern)


def all_routes() -> list[Route]:
    return list(_walk(get_resolver().url_patterns))


def rule_for(route: Route) -> Rule | None:
    if route.name in ("admin:login", "admin:logout"):
        return ADMIN_LOGIN_RULE
    if route.pattern.startswith("admin/"):
        return ADMIN_RULE
    return RULES.get(route.name or "")


def fill(pattern: str, values: dict) -> str:
    """The path of a route with its arguments filled in (converters and router regexes alike)."""
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: str(values[m.group(1)]), pattern)
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), path)
    return "/" + path.replace("^", "").replace("$", "")


# --- acting and checking -----------------------------------------------------------------


_CLIENTS: dict = {}


def client_for(world, role: str, side) -> Client:
    """A client acting as `role`; `side` is the inbox whose objects are "own" for the agent role.

    Clients are reused (each new one loads the middleware again), their cookies reset each time.
    """
    other = world.other(side)
    extra = {"HTTP_ORIGIN": ORIGIN}
    if role == "visitor":  # a widget visitor of the other inbox, showing its token every way it could
        extra["HTTP_AUTHORIZATION"] = f"Token {other.visitor_token}"
    client = _CLIENTS.get("client")
    if client is None:
        client = _CLIENTS["client"] = Client()
    client.defaults = extra
    client.cookies.clear()
    user = {
        "agent_other": other.agent,
        "agent": side.agent,
        "supervisor": world.supervisor,
        "admin": world.admin,
    }.get(role)
    if user is not None:
        client.cookies["sessionid"] = world.sessions[user.pk]
    elif role == "visitor":
        client.cookies["sessionid"] = other.visitor_token
    return client


def snapshot() -> tuple:
    """What a refused request must not change."""
    return (
        Message.objects.count(),
        ConversationEvent.objects.count(),
        AuditLog.objects.count(),
        Contact.objects.count(),
        VisitorToken.objects.count(),
        tuple(ReadMarker.objects.order_by("id").values_list("user_id", "conversation_id", "last_read_seq")),
        tuple(Label.objects.order_by("id").values_list("name", "colour")),
        tuple(ConversationLabel.objects.order_by("id").values_list("conversation_id", "label_id")),
        tuple(ContactLabel.objects.order_by("id").values_list("contact_id", "label_id")),
        tuple(SavedView.objects.order_by("id").values_list("name", "shared", "filters")),
        tuple(Macro.objects.order_by("id").values_list("name", "shared", "reply")),
        tuple(AutomationRule.objects.order_by("id").values_list("name", "active", "inbox_id")),
        tuple(Participant.objects.order_by("id").values_list("conversation_id", "user_id")),
        tuple(Mention.objects.order_by("id").values_list("user_id", "read_at")),
        tuple(ContactNote.objects.order_by("id").values_list("contact_id", "body")),
        tuple(WorkspacePreferences.objects.order_by("id").values_list("user_id", "send_key")),
        tuple(AttributeDefinition.objects.order_by("id").values_list("key", "label")),
        SurveyResponse.objects.count(),
        tuple(SurveyResponse.objects.order_by("id").values_list("csat", "updated_at")),
        tuple(Conversation.objects.order_by("id").values_list("status", "assignee_id", "priority", "team_id")),
        tuple(Contact.objects.order_by("id").values_list("name", "merged_into_id")),
        tuple(FollowUp.objects.order_by("id").values_list("status", "owner_id", "note")),
        tuple(SurveyPolicy.objects.order_by("id").values_list("inbox_id", "sample_rate")),
        AgentSession.objects.filter(ended_at__isnull=False).count(),
        ApiToken.objects.filter(revoked_at__isnull=False).count(),
        tuple(Inbox.objects.order_by("id").values_list("pending_auto_resolve_days", "business_hours")),
        tuple(SlaPolicy.objects.order_by("id").values_list("inbox_id", "priority", "first_response_seconds")),
    )


def object_args(world, rule: Rule, side, route: Route) -> tuple[dict, dict]:
    """(route arguments, query) for the rule's object of `side`."""
    obj = rule.obj
    if obj == "absent":
        return dict.fromkeys(route.keys, 987654), dict(rule.query or {})
    if obj is None:
        return {}, dict(rule.query or {})
    values = {
        "survey_token": side.survey_token,
        "widget_inbox": side.inbox.public_id,
        "email_inbox": side.email_inbox.public_id,
        "sms_inbox": side.sms_inbox.public_id,
        "inbox": side.inbox.pk,
        "team": world.team.pk,
        "agent": side.agent.pk,
        "conversation": side.conversation.pk,
        "resolved_conversation": side.resolved_conversation.pk,
        "contact": side.contact.pk,
        "other_contact": side.other_contact.pk,
        "canned": world.canned.pk,
        "label": world.label.pk,
        "attribute": world.attribute.pk,
        "view": side.extra["view"].pk,
        "macro": side.extra["macro"].pk,
        "automation_rule": side.extra["automation_rule"].pk,
        "mention": side.extra["mention"].pk,
        "response": side.response.pk,
        "follow_up": side.follow_up.pk,
        "language": "zh-hans",
    }
    if obj == "session":  # the side's agent's own login session (the one the matrix signs in with)
        session, _ = AgentSession.objects.get_or_create(
            session_key=world.sessions[side.agent.pk], defaults={"user": side.agent}
        )
        return dict.fromkeys(route.keys, session.pk), {}
    if obj == "api_token":  # a token of the side's agent
        token, _ = ApiToken.objects.get_or_create(
            user=side.agent,
            name=f"matrix {side.label}",
            defaults={"prefix": "cxh_", "digest": f"matrix-{side.label}", "expires_at": timezone.now() + timedelta(1)},
        )
        return dict.fromkeys(route.keys, token.pk), {}
    if obj == "attachment":
        return {"conversation_pk": side.conversation.pk, "message_pk": side.message.pk, "index": 0}, {}
    if obj == "signed_file":
        token = attachments.file_url(side.message.pk, 0, audience=attachments.Audience.AGENT).rsplit("/", 1)[1]
        return {"token": token}, {}
    if obj == "inbox_filter":
        return {}, {**(rule.query or {}), "inbox": side.inbox.public_id}
    if obj == "conversation_in_body":
        return {}, dict(rule.query or {})
    if obj == "conversation_query":
        return {}, {**(rule.query or {}), "conversation": side.conversation.pk}
    return {key: values[obj] for key in route.keys}, dict(rule.query or {})


def body_for(world, template, side):
    if not isinstance(template, dict):
        return template
    replacements = {
        "CMID": str(uuid.uuid4()),
        "TEAM": world.team.pk,
        "AGENT": side.agent.pk,
        "OTHER_CONTACT": side.extra["spare_contact"].pk,
        "MERGED_CONTACT": side.merged_contact.pk,
        "LABEL": world.label.pk,
        "CONVERSATION": side.conversation.pk,
    }

    def filled(value):
        if isinstance(value, list):
            return [filled(item) for item in value]
        return replacements.get(value, value) if isinstance(value, str) else value

    return {k: filled(v) for k, v in template.items()}


def send(client, method: str, path: str, query: dict, body):
    if method == "GET":
        return client.get(path, query)
    suffix = ("?" + "&".join(f"{k}={v}" for k, v in query.items())) if query else ""
    if body == "raw-mime":
        return client.generic(method, path + suffix, b"From: a@b.test\r\nSubject: x\r\n\r\nhi", "message/rfc822")
    if method == "PATCH":
        return client.patch(path + suffix, body or {}, content_type="application/json")
    if method == "DELETE":
        return client.delete(path + suffix)
    if path.startswith("/api/"):
        return client.post(path + suffix, body or {}, content_type="application/json")
    return client.post(path + suffix, body or {})


def expected(rule: Rule, role: str, owner: str) -> str:
    """allow | refuse | hide for `role` acting on an object of `owner` ("own" or "foreign")."""
    access = rule.access
    if access == "public" and role == "visitor":
        return "any"  # a made-up API token may be refused or ignored
    if access in ("public", "login", "in_url", "origin"):
        return "allow"
    if access == "credential":
        return "refuse"  # no role carries the credential; the credential tests are in the other files
    if access == "admin_site":  # the admin's own answers (403 on a read-only model's add) are Django's
        return "any" if role == "admin" else "refuse"
    if rule.obj in ("attachment", "signed_file") and role in ("agent", "supervisor", "admin"):
        return "any"
    if rule.obj == "absent" and role in ("supervisor", "admin"):
        return "any"  # no such object in the world: a 404 is right too
    if role in ("anonymous", "visitor"):
        return "refuse"
    if access == "personal":
        return "allow" if role == "agent" and owner == "own" else "hide"
    if access == "own":
        return "allow" if role == "admin" or (role == "agent" and owner == "own") else "hide"
    if access == "staff":
        return "allow" if role == "admin" else "refuse"
    if access == "supervisor" and role not in ("supervisor", "admin"):
        return "refuse"
    if access == "workspace" or rule.obj is None:
        return "allow"
    # scoped / page / supervisor with an object: the agent role sees only its own inbox's
    if role == "agent_other":
        return "hide" if owner == "own" else "allow"
    if role == "agent":
        return "allow" if owner == "own" else "hide"
    return "allow"


LOGIN_REDIRECT = re.compile(r"/(console|admin)/login/")


def verdict(outcome: str, response, *, wrote: bool, foreign_marker: str | None, list_marker: bool) -> str | None:
    """None when the response is right; else what leaked."""
    status = response.status_code
    if status >= 500:
        return f"server error {status}"
    body = b"".join(response.streaming_content) if response.streaming else response.content
    if outcome == "any":
        return "the answer shows the other inbox's data" if foreign_marker and foreign_marker.encode() in body else None
    if outcome == "allow":
        if status in (401, 403, 404):
            return f"refused with {status} where allowed"
        if list_marker and foreign_marker and foreign_marker.encode() in body:
            return "a list shows the other inbox's objects"
        return None
    if wrote:
        return "a refused request changed data"
    if foreign_marker and foreign_marker.encode() in body:
        return "the answer shows the other inbox's data"
    if outcome == "hide":
        return None if status == 404 else f"{status} for a foreign object (want 404)"
    if status in (401, 403, 404, 405):
        return None
    if status in (301, 302, 303) and LOGIN_REDIRECT.search(response.get("Location", "")):
        return None
    return f"{status} where refused"


# --- the tests ---------------------------------------------------------------------------


def test_every_route_has_a_rule():
    missing = [r.pattern for r in all_routes() if rule_for(r) is None]
    assert not missing, f"routes without an authorisation rule in {__name__}.RULES: {missing}"
    stale = set(RULES) - {r.name for r in all_routes()}
    assert not stale, f"rules for routes that no longer exist: {sorted(stale)}"
    ws = {str(p.pattern) for p in websocket_urlpatterns}
    assert ws == set(WEBSOCKET_RULES), f"websocket routes without a rule: {sorted(ws - set(WEBSOCKET_RULES))}"


def _route_ids():
    routes = [r for r in all_routes() if rule_for(r) is not None]
    return [pytest.param(r, id=r.name or r.pattern) for r in routes]


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """One world for the module (committed; each check runs in a savepoint that is rolled back)."""
    from django.core.management import call_command
    from django.test import override_settings

    from cxhub.celery import app

    eager, app.conf.task_always_eager = app.conf.task_always_eager, True
    fast_hashing = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
    with django_db_blocker.unblock(), fast_hashing:
        world = build_world()
        world.sessions = {}
        for user in (world.a.agent, world.b.agent, world.supervisor, world.admin):
            client = Client()
            client.force_login(user)
            world.sessions[user.pk] = client.cookies["sessionid"].value
        app.conf.task_always_eager = eager
        try:
            yield world
        finally:
            call_command("flush", interactive=False, verbosity=0)


@pytest.mark.parametrize("route", _route_ids())
def test_route_matrix(route, world):
    """Every role against the route, with inbox A's objects and with inbox B's: 0 leaks."""
    # given two inboxes with their agents, a supervisor, an admin, visitors and data (the world)
    rule = rule_for(route)
    methods = rule.methods
    sides = (world.a, world.b)
    if rule.access == "admin_site":
        methods = {"GET": None}  # the admin's own forms are Django's; refusing everyone else is ours
        sides = (world.a,)  # the admin has no inbox scoping: one side is enough
    checks, leaks = 0, []
    for side in sides:
        for role in ROLES:
            for method, template in methods.items():
                if route.pattern.startswith("admin/"):
                    values = dict.fromkeys(route.keys, side.contact.pk)
                    path, query = fill(route.pattern, values), {}
                else:
                    values, query = object_args(world, rule, side, route)
                    path = fill(route.pattern, values)
                acting = rule if method == "GET" or not rule.write_access else replace(rule, access=rule.write_access)
                outcome = expected(acting, role, "own")
                if role in ("supervisor", "admin"):
                    marker = None  # they see everything
                elif outcome != "allow" or role == "agent_other":
                    marker = side.marker  # nothing of this side for whoever may not see it
                elif role == "agent":
                    marker = world.other(side).marker
                else:
                    marker = None
                # when the request is made (inside a savepoint: each check starts from the same data)
                sid = transaction.savepoint()
                before = snapshot()
                response = send(client_for(world, role, side), method, path, query, body_for(world, template, side))
                wrote = snapshot() != before
                transaction.savepoint_rollback(sid)
                # then it is answered as the rule says
                checks += 1
                problem = verdict(
                    outcome,
                    response,
                    wrote=wrote,
                    foreign_marker=marker if outcome != "allow" or rule.list_marker else None,
                    list_marker=rule.list_marker,
                )
                if problem:
                    leaks.append(f"{method} {path} {query or ''} as {role} (side {side.label}): {problem}")
    FIGURES["authz_http_checks"] += checks
    FIGURES["authz_http_leaks"] += len(leaks)
    assert not leaks, "\n".join(leaks)


def test_widget_session_and_webhooks_refuse_the_other_inboxes_credentials(world):
    """The credential routes, with what the other inbox would accept: refused, nothing stored."""
    from django.conf import settings
    from twilio.request_validator import RequestValidator

    checks, leaks = 0, []
    for side in (world.a, world.b):
        other = world.other(side)
        sid = transaction.savepoint()
        before = snapshot()
        client = Client()
        attempts = [
            # the widget session from a page the inbox does not allow
            client.post(
                f"/api/v1/widget/{side.inbox.public_id}/session", {"name": "x"}, HTTP_ORIGIN="https://evil.example"
            ),
            client.post(f"/api/v1/widget/{side.inbox.public_id}/session", {"name": "x"}),
            # the email hook with the other inbox's secret
            client.generic(
                "POST",
                f"/hooks/email/{side.email_inbox.public_id}/inbound",
                b"From: a@b.test\r\nSubject: x\r\n\r\nhi",
                "message/rfc822",
                HTTP_AUTHORIZATION=f"Bearer {other.email_inbox.webhook_secret}",
            ),
        ]
        # Twilio, signed with the other inbox's auth token
        for kind, params in (("sms", {"From": "+15005550006", "Body": "x"}), ("status", {"MessageSid": "SM1"})):
            path = f"/hooks/twilio/{side.sms_inbox.public_id}/{kind}"
            signature = RequestValidator(other.sms_inbox.provider_config["auth_token"]).compute_signature(
                settings.PUBLIC_URL + path, params
            )
            attempts.append(client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature))
        wrote = snapshot() != before
        transaction.savepoint_rollback(sid)
        for response in attempts:
            checks += 1
            if response.status_code != 403:
                leaks.append(f"{response.request['PATH_INFO']} (side {side.label}): {response.status_code}")
        checks += 1
        if wrote:
            leaks.append(f"refused credential requests changed data (side {side.label})")
    FIGURES["authz_http_checks"] += checks
    FIGURES["authz_http_leaks"] += len(leaks)
    assert not leaks, "\n".join(leaks)


# --- API tokens: limited to inboxes, read-only -------------------------------------------------


# Objects of the whole workspace, of no inbox (labels, contact attribute definitions): any token
# reads them, and only a token not limited to some inboxes changes them (may_manage_workspace).
WORKSPACE_WIDE = ("label", "attribute")


def _token_route_ids():
    """The API routes that take an inbox's object: what a token limited to inboxes must narrow."""
    routes = []
    for route in all_routes():
        rule = rule_for(route)
        takes_an_inbox_object = rule and rule.obj not in (None, "absent", "attachment")
        if takes_an_inbox_object and route.pattern.startswith("api/") and rule.access in ("scoped", "supervisor"):
            routes.append(pytest.param(route, id=route.name))
    return routes


def _bearer(raw: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_ORIGIN=ORIGIN)


@pytest.mark.parametrize("route", _token_route_ids())
def test_token_matrix(route, world):
    """A supervisor's token limited to inbox A's inboxes reaches A's objects and finds none of B's;
    their read-only token reads and is refused every write (403 token_read_only), writing nothing."""
    # given the supervisor's two tokens
    a = world.a
    _, limited = account_services.api_token_create(
        user=world.supervisor, name="A only", inbox_ids=[a.inbox.pk, a.email_inbox.pk, a.sms_inbox.pk]
    )
    _, read_only = account_services.api_token_create(user=world.supervisor, name="reports", read_only=True)
    rule = rule_for(route)
    checks, leaks = 0, []
    for side in (world.a, world.b):
        values, query = object_args(world, rule, side, route)
        path = fill(route.pattern, values)
        for method, template in rule.methods.items():
            for raw, outcome in ((limited, "allow" if side is a else "hide"), (read_only, "read_only")):
                if outcome == "read_only" or rule.obj in WORKSPACE_WIDE:
                    # what every inbox shares: read by any token, changed by no token limited to inboxes
                    outcome = "allow" if method == "GET" else "refuse"
                if outcome == "hide" and rule.obj == "conversation_query":
                    outcome = "any"  # a list filtered to B's conversation: empty or 404, never B's data
                # when the request is made with the token (inside a savepoint)
                sid = transaction.savepoint()
                before = snapshot()
                response = send(_bearer(raw), method, path, query, body_for(world, template, side))
                wrote = snapshot() != before
                transaction.savepoint_rollback(sid)
                checks += 1
                marker = side.marker if outcome in ("hide", "any") else None
                problem = verdict(outcome, response, wrote=wrote, foreign_marker=marker, list_marker=False)
                refused_for_read_only = raw == read_only and outcome == "refuse"
                if refused_for_read_only and not problem and response.json()["error"]["code"] != "token_read_only":
                    problem = f"refused as {response.json()['error']['code']}, not token_read_only"
                if problem:
                    leaks.append(
                        f"{method} {path} {query or ''} with the {raw[:10]}… token (side {side.label}): {problem}"
                    )
    FIGURES["authz_token_checks"] += checks
    FIGURES["authz_token_leaks"] += len(leaks)
    assert not leaks, "\n".join(leaks)


def test_token_lists_hold_only_the_inboxes_of_the_token(world):
    _, limited = account_services.api_token_create(user=world.supervisor, name="A only", inbox_ids=[world.a.inbox.pk])
    leaks = []
    for route in all_routes():
        rule = rule_for(route)
        if rule and route.pattern.startswith("api/") and rule.list_marker:
            response = _bearer(limited).get(fill(route.pattern, {}), rule.query or {})
            if response.status_code != 200 or world.b.marker.encode() in response.content:
                leaks.append(f"{route.name}: {response.status_code}, or inbox B's objects listed")
    FIGURES["authz_token_checks"] += 1
    assert not leaks, "\n".join(leaks)


def test_a_limited_token_reads_the_workspace_wide_supervisor_objects_and_changes_none(world):
    """Webhook subscriptions and the satisfaction model (issue #19): the rule of may_manage_workspace.
    A supervisor's token limited to inbox A sees A's subscriptions and the workspace-wide ones, only
    the deliveries of A's subscriptions (a workspace-wide one's carry every inbox's events), reads
    the satisfaction model and may not train it; an unlimited token trains it."""
    from integrations.models import WebhookDelivery, WebhookSubscription

    # given subscriptions for inbox A, inbox B and the whole workspace, each with one delivery
    sid = transaction.savepoint()
    try:
        subscriptions = {}
        for key, inbox in (("a", world.a.inbox), ("b", world.b.inbox), ("all", None)):
            subscriptions[key] = WebhookSubscription.objects.create(
                name=f"Hook {key}", url=f"https://hooks.example.com/{key}", inbox=inbox, event_types=[]
            )
            WebhookDelivery.objects.create(
                subscription=subscriptions[key], event_type="message.created", payload={"about": key}
            )
        _, limited = account_services.api_token_create(
            user=world.supervisor, name="A only", inbox_ids=[world.a.inbox.pk]
        )
        _, read_only = account_services.api_token_create(user=world.supervisor, name="reports", read_only=True)
        _, unlimited = account_services.api_token_create(user=world.supervisor, name="ops")

        # when the limited token lists the webhooks
        listed = _bearer(limited).get("/api/v1/webhooks/subscriptions/").json()["results"]
        deliveries = _bearer(limited).get("/api/v1/webhooks/deliveries/").json()["results"]
        hidden = _bearer(limited).get(f"/api/v1/webhooks/subscriptions/{subscriptions['b'].pk}/")
        # then it sees A's and the workspace-wide subscriptions, and A's deliveries only
        assert sorted(s["name"] for s in listed) == ["Hook a", "Hook all"]
        assert [d["payload"] for d in deliveries] == [{"about": "a"}]
        assert hidden.status_code == 404
        # and the unlimited token sees them all
        assert len(_bearer(unlimited).get("/api/v1/webhooks/deliveries/").json()["results"]) == 3

        # when each token reads the satisfaction model and asks to train it
        audited = AuditLog.objects.filter(action="satisfaction_model_train").count()
        reads = [_bearer(raw).get("/api/v1/satisfaction/model/").status_code for raw in (limited, read_only)]
        refused = _bearer(limited).post("/api/v1/satisfaction/model/train/")
        read_only_refused = _bearer(read_only).post("/api/v1/satisfaction/model/train/")
        # then both read it; the limited and the read-only one may not train it, and nothing is recorded
        assert reads == [200, 200]
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
        assert (read_only_refused.status_code, read_only_refused.json()["error"]["code"]) == (403, "token_read_only")
        assert AuditLog.objects.filter(action="satisfaction_model_train").count() == audited
        # and the unlimited token trains it
        assert _bearer(unlimited).post("/api/v1/satisfaction/model/train/").status_code == 202
    finally:
        transaction.savepoint_rollback(sid)
    FIGURES["authz_token_checks"] += 9
