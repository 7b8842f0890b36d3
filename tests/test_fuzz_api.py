"""API fuzzing: schemathesis generates requests from the OpenAPI schema and checks every answer.

Every operation of /api/schema/ is called in process (Django's WSGI handler, inside the test's
own database transaction) as a supervisor with token auth, over the seeded demo data, with
valid and invalid inputs. The targets: no server error, and every response on the schema
(documented status code, content type, headers and body shape).

Quick profile (the normal suite): FUZZ_EXAMPLES examples per operation, 6 by default, derandomised.
Long profile (`make fuzz`): FUZZ_EXAMPLES=1000, random.
"""

import os

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _load_schema():
    """The same document /api/schema/ serves, built without a request so tests can be listed per operation."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(document)
    loaded.app = get_wsgi_application()
    return loaded


SCHEMA = _load_schema()
OPERATIONS = {op.label: op for op in (result.ok() for result in SCHEMA.get_all_operations())}


@pytest.fixture
def in_process_app(db):
    """Requests keep the test's database connection open (as Django's own test client does)."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def supervisor_token(in_process_app):
    from django.contrib.auth import get_user_model

    from accounts.services import api_token_create

    with open(os.devnull, "w") as quiet:
        call_command("seed_demo", stdout=quiet)
    user = get_user_model().objects.get(username="supervisor")
    return api_token_create(user=user, name="API fuzzer")[1]


def test_the_served_schema_is_the_fuzzed_one(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    assert set(response.json()["paths"]) == set(SCHEMA.raw_schema["paths"])


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_every_operation_answers_on_the_schema_without_server_errors(label, supervisor_token):
    # given a supervisor's token and the seeded demo data
    operation = OPERATIONS[label]
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    existing = _existing_ids(operation.path)

    @given(case=strategy, use_existing=st.booleans(), pick=st.integers(min_value=0, max_value=10_000))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=EXAMPLES < 100,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def call(case, use_existing, pick):
        # half the time the path names a real object, so actions run on seeded data
        if use_existing and existing and case.path_parameters:
            name = list(case.path_parameters)[-1]
            case.path_parameters[name] = existing[pick % len(existing)]
        # when any generated request is sent
        response = case.call(headers={"Authorization": f"Bearer {supervisor_token}"})
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        # then no 500 and nothing off the schema
        case.validate_response(response, checks=CHECKS)

    statuses: dict[int, int] = {}
    call()
    _report(label, statuses)


def _existing_ids(path: str) -> list:
    """Ids of seeded rows for the resource a path's last parameter names (empty when unknown)."""
    from django.contrib.auth import get_user_model

    from chat.models import CannedResponse, Contact, Conversation, Inbox, Team
    from feedback.models import FollowUp, SurveyPolicy, SurveyResponse
    from integrations.models import WebhookDelivery, WebhookSubscription

    rows = {
        "/conversations/": lambda: Conversation.objects.values_list("pk", flat=True),
        "/contacts/": lambda: Contact.objects.values_list("pk", flat=True),
        "/agents/": lambda: get_user_model().objects.filter(agent__isnull=False).values_list("pk", flat=True),
        "/inboxes/": lambda: Inbox.objects.values_list("pk", flat=True),
        "/widget/": lambda: Inbox.objects.values_list("public_id", flat=True),
        "/teams/": lambda: Team.objects.values_list("pk", flat=True),
        "/canned-responses/": lambda: CannedResponse.objects.values_list("pk", flat=True),
        "/followups/": lambda: FollowUp.objects.values_list("pk", flat=True),
        "/surveys/policies/": lambda: SurveyPolicy.objects.values_list("pk", flat=True),
        "/surveys/responses/": lambda: SurveyResponse.objects.values_list("pk", flat=True),
        "/webhooks/deliveries/": lambda: [str(pk) for pk in WebhookDelivery.objects.values_list("pk", flat=True)],
        "/webhooks/subscriptions/": lambda: WebhookSubscription.objects.values_list("pk", flat=True),
    }
    last = path.rfind("{")
    for prefix, ids in rows.items():
        if prefix in path[:last]:
            return list(ids())
    return []


def _report(label: str, statuses: dict[int, int]) -> None:
    """With FUZZ_REPORT=path (make fuzz), one line per operation: cases sent and answers by status."""
    path = os.environ.get("FUZZ_REPORT")
    if not path:
        return
    answers = " ".join(f"{code}:{count}" for code, count in sorted(statuses.items()))
    with open(path, "a") as report:
        report.write(f"{label}\t{sum(statuses.values())} cases\t0 server errors\t0 off-schema\t{answers}\n")


# --- what the fuzzing found, pinned as plain regression tests -------------------------------

HUGE = "9" * 25  # beyond any database integer column


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/agents/{HUGE}/",
        f"/api/v1/conversations/{HUGE}/",
        f"/api/v1/conversations/{HUGE}/messages/",
        f"/api/v1/contacts/{HUGE}/",
        f"/api/v1/inboxes/{HUGE}/",
        f"/api/v1/conversations/?team={HUGE}",
        f"/api/v1/conversations/?assignee={HUGE}",
        f"/api/v1/conversations/?inbox={HUGE}",
    ],
)
def test_ids_too_big_for_the_database_are_not_found_not_a_crash(as_user, path):
    from tests.factories import SupervisorFactory

    api = as_user(SupervisorFactory().user)
    response = api.get(path)
    assert response.status_code in (200, 400, 404)
    assert response.status_code == 200 or response.json()["error"]["code"] in ("not_found", "invalid")


@pytest.mark.django_db
def test_id_fields_in_bodies_refuse_numbers_too_big_for_the_database(as_user):
    from tests.factories import InboxFactory, SupervisorFactory, conversation_with

    api = as_user(SupervisorFactory().user)
    conversation = conversation_with(InboxFactory())
    for action, body in [("assign", {"assignee": int(HUGE)}), ("transfer", {"team": int(HUGE)})]:
        response = api.post(f"/api/v1/conversations/{conversation.pk}/{action}/", body, format="json")
        assert response.status_code == 400, action
    response = api.post(f"/api/v1/contacts/{conversation.contact_id}/merge/", {"source_id": int(HUGE)}, format="json")
    assert response.status_code == 400


@pytest.mark.django_db
def test_errors_are_json_even_where_success_is_csv(as_user):
    from tests.factories import SupervisorFactory

    api = as_user(SupervisorFactory().user)
    response = api.get("/api/v1/exports/conversations.csv?format=csv&team=x&from=not-a-date")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "invalid"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/conversations/?inbox=web%00",
        "/api/v1/metrics/timeseries/?metric=csat&inbox=a%00b",
        "/api/v1/contacts/?q=%00",
        "/api/v1/inboxes/ab%00c/",
    ],
)
def test_a_nul_character_is_refused_before_it_reaches_the_database(as_user, path):
    # PostgreSQL text holds no NUL: found by the fuzzing against PostgreSQL
    from tests.factories import SupervisorFactory

    response = as_user(SupervisorFactory().user).get(path)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


@pytest.mark.django_db
def test_a_nul_character_in_a_login_form_is_a_400_page(client):
    body = "username=root%00&password=x"
    response = client.post("/admin/login/", body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")
    # multipart forms: the form's own field validation refuses it (no crash either)
    assert client.post("/admin/login/", {"username": "root\x00", "password": "x"}).status_code == 200
