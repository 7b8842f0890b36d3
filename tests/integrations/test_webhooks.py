"""Outbound webhooks against a real HTTP receiver on 127.0.0.1: signature, retries, redirects, SSRF guard."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from chat import services
from chat.models import ConversationEvent
from integrations import safe_http, webhooks
from integrations.models import WebhookDelivery, WebhookSubscription
from tests.conftest import wait_for
from tests.factories import InboxFactory, SupervisorFactory, agent_user, conversation_with

pytestmark = pytest.mark.django_db

Status = WebhookDelivery.Status


class Receiver:
    """A tiny HTTP server: records every request, answers from a script of statuses (then 200)."""

    def __init__(self, family=socket.AF_INET, host="127.0.0.1"):
        self.requests: list[dict] = []
        self.script: list[int] = []
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if receiver.delay:
                    time.sleep(receiver.delay)
                status = receiver.script.pop(0) if receiver.script else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(f"answer {status}".encode())

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            address_family = family
            daemon_threads = True

        self.server = Server((host, 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://{host if family == socket.AF_INET else f'[{host}]'}:{self.port}/hooks/cxhub"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _webhook_settings(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the receiver lives on 127.0.0.1
    settings.WEBHOOK_TIMEOUT_SECONDS = 2
    settings.WEBHOOK_MAX_ATTEMPTS = 4
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def subscribe(url, *types, inbox=None) -> WebhookSubscription:
    return WebhookSubscription.objects.create(name="CRM", url=url, event_types=list(types), inbox=inbox)


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    def block():
        return django_capture_on_commit_callbacks(execute=True)

    return block


def one_delivery_for(receiver_url, event_type="conversation.opened") -> WebhookDelivery:
    """A pending delivery of a real event (dispatch only, nothing sent yet)."""
    subscription = subscribe(receiver_url, event_type)
    conversation = conversation_with(InboxFactory())
    event = conversation.events.get(kind="opened")
    webhooks.dispatch_event(event_id=event.pk)
    return WebhookDelivery.objects.get(subscription=subscription)


# --- signed deliveries ------------------------------------------------------------------


def test_events_arrive_signed_with_the_subscription_secret(receiver, run_on_commit):
    # given a subscription to every conversation event and to new messages
    subscription = subscribe(receiver.url, "conversation.*", "message.created")
    inbox = InboxFactory()
    # when a customer writes (opened + message_created) and an agent resolves
    with run_on_commit():
        conversation = conversation_with(inbox, body="Where is my parcel?")
    with run_on_commit():
        services.conversation_resolve(conversation=conversation, by=agent_user(inbox))
    # then the receiver got each event once, in order, signed over "<timestamp>.<body>"
    types = [r["headers"]["X-Cxhub-Event"] for r in receiver.requests]
    assert types == ["conversation.opened", "message.created", "conversation.resolved"]
    for request in receiver.requests:
        assert webhooks.verify_signature(secret=subscription.secret, headers=request["headers"], body=request["body"])
        assert not webhooks.verify_signature(secret="another-secret", headers=request["headers"], body=request["body"])
        assert request["headers"]["Content-Type"] == "application/json"
        assert request["path"] == "/hooks/cxhub"
    message = json.loads(receiver.requests[1]["body"])
    assert message["type"] == "message.created"
    assert message["data"]["message"]["body"] == "Where is my parcel?"
    assert message["data"]["conversation"]["id"] == conversation.pk
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {Status.SUCCEEDED}


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body(receiver, run_on_commit):
    import hashlib
    import hmac

    subscription = subscribe(receiver.url, "conversation.opened")
    with run_on_commit():
        conversation_with(InboxFactory())
    request = receiver.requests[0]
    timestamp = request["headers"]["X-Cxhub-Timestamp"]
    expected = hmac.new(subscription.secret.encode(), f"{timestamp}.".encode() + request["body"], hashlib.sha256)
    assert request["headers"]["X-Cxhub-Signature"] == "v1=" + expected.hexdigest()
    assert abs(int(timestamp) - time.time()) < 60


def test_a_tampered_body_or_an_old_timestamp_does_not_verify():
    body = b'{"type":"conversation.opened"}'
    now = int(time.time())
    headers = {
        "X-Cxhub-Timestamp": str(now),
        "X-Cxhub-Signature": "v1=" + webhooks.signature(secret="s", timestamp=now, body=body),
    }
    assert webhooks.verify_signature(secret="s", headers=headers, body=body)
    assert not webhooks.verify_signature(secret="s", headers=headers, body=body + b" ")
    assert not webhooks.verify_signature(secret="s", headers=headers, body=body, now=now + 3600)


def test_subscriptions_get_only_their_types_and_inbox(receiver, run_on_commit):
    inbox, other_inbox = InboxFactory(), InboxFactory()
    subscribe(receiver.url, "message.created", inbox=inbox)
    with run_on_commit():
        conversation_with(other_inbox)
        conversation_with(inbox)
    assert [r["headers"]["X-Cxhub-Event"] for r in receiver.requests] == ["message.created"]
    assert json.loads(receiver.requests[0]["body"])["data"]["conversation"]["inbox_id"] == inbox.pk


def test_dispatching_an_event_twice_delivers_it_once(receiver, run_on_commit):
    subscribe(receiver.url, "conversation.opened")
    with run_on_commit():
        conversation = conversation_with(InboxFactory())
    event = conversation.events.get(kind="opened")
    with run_on_commit():
        assert webhooks.dispatch_event(event_id=event.pk) == []
    assert len(receiver.requests) == 1 and WebhookDelivery.objects.count() == 1


@pytest.mark.parametrize(
    ("kind", "data", "types"),
    [
        ("survey_sent", {}, ["survey.sent"]),
        ("survey_answered", {"csat": 5}, ["survey.answered"]),
        ("survey_answered", {"csat": 2}, ["survey.answered", "survey.detractor"]),
        ("survey_answered", {"nps": 6}, ["survey.answered", "survey.detractor"]),
        ("survey_answered", {"ces": 3}, ["survey.answered", "survey.detractor"]),
        ("transferred", {}, ["conversation.transferred"]),
        ("reopened", {}, ["conversation.reopened"]),
    ],
)
def test_event_kinds_map_to_webhook_types(kind, data, types):
    conversation = conversation_with(InboxFactory())
    event = ConversationEvent.objects.create(conversation=conversation, kind=kind, data=data)
    assert webhooks.event_types_of(event) == types


def test_a_detractor_answer_is_delivered_as_survey_detractor(receiver, run_on_commit):
    subscribe(receiver.url, "survey.detractor")
    conversation = conversation_with(InboxFactory())
    with run_on_commit():
        event = ConversationEvent.objects.create(conversation=conversation, kind="survey_answered", data={"nps": 2})
        webhooks.dispatch_event(event_id=event.pk)
    assert [r["headers"]["X-Cxhub-Event"] for r in receiver.requests] == ["survey.detractor"]


# --- retries ----------------------------------------------------------------------------


def test_a_500_is_retried_with_exponential_backoff_until_it_succeeds(receiver):
    receiver.script = [500, 503]
    delivery = one_delivery_for(receiver.url)
    # attempt 1 and 2 fail: the next attempts wait 30 s, then 60 s
    assert webhooks.delivery_attempt(delivery_id=delivery.pk, attempt=1) == 30
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (Status.PENDING, 1, 500)
    assert delivery.next_attempt_at is not None
    assert webhooks.delivery_attempt(delivery_id=delivery.pk, attempt=2) == 60
    # a duplicate of attempt 2 (a redelivered task) does nothing
    assert webhooks.delivery_attempt(delivery_id=delivery.pk, attempt=2) is None
    assert webhooks.delivery_attempt(delivery_id=delivery.pk, attempt=3) is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (Status.SUCCEEDED, 3, 200)
    assert len(receiver.requests) == 3
    # every attempt carries the same delivery id (receivers deduplicate on it)
    assert {r["headers"]["X-Cxhub-Delivery"] for r in receiver.requests} == {str(delivery.pk)}


def test_the_timer_sends_each_retry_when_its_time_comes_not_before(receiver, run_on_commit, settings):
    # given a receiver that fails twice, and retries 1 s, then 2 s apart
    settings.WEBHOOK_RETRY_BASE_SECONDS = 1
    receiver.script = [500, 502]
    subscribe(receiver.url, "conversation.opened")
    # when a conversation opens, the first attempt fails
    with run_on_commit():
        conversation_with(InboxFactory())
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (Status.PENDING, 1)
    # then the timer sends nothing before the retry's time (eager Celery used to send all at once)
    assert webhooks.deliveries_send_due() == 0 and len(receiver.requests) == 1
    # and sends it once the time has come, once however often it runs
    wait_for(lambda: webhooks.deliveries_send_due(), timeout=5)
    assert webhooks.deliveries_send_due() == 0
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, len(receiver.requests)) == (Status.PENDING, 2, 2)
    wait_for(lambda: webhooks.deliveries_send_due(), timeout=5)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, len(receiver.requests)) == (Status.SUCCEEDED, 3, 3)


def test_a_delivery_whose_task_was_lost_is_sent_when_its_lease_ends(receiver, settings):
    # given a delivery handed to a task that never ran (its lease has ended)
    delivery = one_delivery_for(receiver.url)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    # when the timer runs twice, then it is sent once
    assert webhooks.deliveries_send_due() == 1
    assert webhooks.deliveries_send_due() == 0
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, len(receiver.requests)) == (Status.SUCCEEDED, 1, 1)


def test_after_the_last_attempt_the_delivery_fails(receiver, run_on_commit, settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0
    receiver.script = [500] * 10
    subscribe(receiver.url, "conversation.opened")
    with run_on_commit():
        conversation_with(InboxFactory())
    while webhooks.deliveries_send_due():
        pass
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (Status.FAILED, 4, "HTTP 500")
    assert len(receiver.requests) == 4


def test_backoff_doubles():
    assert [webhooks.backoff_seconds(n) for n in range(1, 6)] == [30, 60, 120, 240, 480]


def test_a_client_error_is_not_retried(receiver):
    receiver.script = [410]
    delivery = one_delivery_for(receiver.url)
    assert webhooks.delivery_attempt(delivery_id=delivery.pk, attempt=1) is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_status_code) == (Status.FAILED, 410)


def test_429_and_timeouts_are_retried(receiver, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    receiver.script = [429]
    delivery = one_delivery_for(receiver.url)
    assert webhooks.delivery_attempt(delivery_id=delivery.pk, attempt=1) == 30
    receiver.delay = 1.5
    assert webhooks.delivery_attempt(delivery_id=delivery.pk, attempt=2) == 60
    delivery.refresh_from_db()
    assert delivery.status == Status.PENDING and "timed out" in delivery.last_error.lower()


def test_an_unreachable_port_is_retried():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    delivery = one_delivery_for(f"http://127.0.0.1:{port}/")
    assert webhooks.delivery_attempt(delivery_id=delivery.pk, attempt=1) == 30
    delivery.refresh_from_db()
    assert "Connection" in delivery.last_error or "refused" in delivery.last_error.lower()


def test_redirects_are_not_followed(receiver):
    receiver.script = [302]
    delivery = one_delivery_for(receiver.url)
    assert webhooks.delivery_attempt(delivery_id=delivery.pk, attempt=1) is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_status_code) == (Status.FAILED, 302)
    assert "Redirects are not followed" in delivery.last_error
    assert [r["path"] for r in receiver.requests] == ["/hooks/cxhub"]  # nothing went to /elsewhere


# --- SSRF guard ---------------------------------------------------------------------------


@pytest.fixture
def ipv6_receiver():
    try:
        server = Receiver(family=socket.AF_INET6, host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    yield server
    server.close()


def test_private_loopback_and_link_local_destinations_are_refused(receiver, ipv6_receiver, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    urls = [
        receiver.url,  # 127.0.0.1
        f"http://localhost:{receiver.port}/hooks/cxhub",  # a DNS name that resolves to loopback
        ipv6_receiver.url,  # [::1]
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://172.16.5.4/hook",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://[::ffff:127.0.0.1]:80/hook",
        "http://0.0.0.0/hook",
        "http://100.64.0.1/hook",
    ]
    for url in urls:
        delivery = one_delivery_for(url)
        assert webhooks.delivery_attempt(delivery_id=delivery.pk, attempt=1) is None, url
        delivery.refresh_from_db()
        assert delivery.status == Status.REFUSED, url
        assert "refused" in delivery.last_error, url
        WebhookSubscription.objects.all().delete()
    assert receiver.requests == [] and ipv6_receiver.requests == []


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("127.0.0.1", True),
        ("10.0.0.1", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),
        ("100.64.0.1", True),
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("240.0.0.1", True),
        ("::1", True),
        ("fe80::1", True),
        ("fc00::1", True),
        ("::ffff:10.0.0.1", True),
        ("2002:7f00:1::", True),  # 6to4 of 127.0.0.1
        ("93.184.216.34", False),
        ("2606:4700:4700::1111", False),
    ],
)
def test_forbidden_addresses(address, refused):
    assert (safe_http.forbidden_reason(address) is not None) == refused


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "file:///etc/passwd", "http://user:pw@example.com/", "http:///x"]
)
def test_only_plain_http_urls_are_called(url):
    with pytest.raises(safe_http.RefusedDestination):
        safe_http.resolve(url)


def test_the_connection_is_pinned_to_the_checked_address(receiver, monkeypatch):
    # given a name whose first DNS answer is the receiver and any later one would be elsewhere
    answers = [("127.0.0.1", receiver.port), ("192.0.2.1", receiver.port)]
    real = socket.getaddrinfo

    def rebinding_dns(host, port, *args, **kwargs):
        if host == "hooks.example.test":
            address = answers.pop(0) if answers else ("192.0.2.1", port)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", address)]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    # when a request is posted there
    answer = safe_http.post(f"http://hooks.example.test:{receiver.port}/pinned", body=b"{}", headers={})
    # then it reached the address that was resolved (once) and checked, with the name as Host
    assert answer.status == 200
    assert receiver.requests[0]["headers"]["Host"] == f"hooks.example.test:{receiver.port}"
    assert len(answers) == 1  # the name was resolved exactly once


def test_the_subscription_form_checks_types_and_scheme():
    from django.core.exceptions import ValidationError

    subscription = WebhookSubscription(name="x", url="ftp://example.com/", event_types=["conversation.*", "nope"])
    with pytest.raises(ValidationError) as error:
        subscription.full_clean()
    assert set(error.value.message_dict) == {"url", "event_types"}
    WebhookSubscription(
        name="ok", url="https://example.com/h", event_types=["survey.*", "message.created"]
    ).full_clean()


# --- the delivery log -----------------------------------------------------------------------


def test_supervisors_read_the_delivery_log_and_agents_may_not(receiver, run_on_commit, as_user, settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0
    receiver.script = [500]
    subscribe(receiver.url, "conversation.opened")
    inbox = InboxFactory()
    with run_on_commit():
        conversation_with(inbox)
    webhooks.deliveries_send_due()  # the retry, when the timer runs
    api = as_user(SupervisorFactory().user)
    deliveries = api.get("/api/v1/webhooks/deliveries/").json()["results"]
    assert len(deliveries) == 1 and deliveries[0]["status"] == "succeeded" and deliveries[0]["attempts"] == 2
    assert api.get("/api/v1/webhooks/deliveries/?status=failed").json()["results"] == []
    subscriptions = api.get("/api/v1/webhooks/subscriptions/").json()["results"]
    assert subscriptions[0]["url"] == receiver.url and "secret" not in subscriptions[0]
    agent_api = as_user(agent_user(inbox))
    assert agent_api.get("/api/v1/webhooks/deliveries/").status_code == 403


def test_admin_shows_subscriptions_and_deliveries_and_redelivers(receiver, run_on_commit, admin_client):
    receiver.script = [404]
    subscribe(receiver.url, "conversation.opened")
    with run_on_commit():
        conversation_with(InboxFactory())
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.FAILED
    assert admin_client.get("/admin/integrations/webhooksubscription/").status_code == 200
    assert admin_client.get("/admin/integrations/webhookdelivery/").status_code == 200
    assert admin_client.get(f"/admin/integrations/webhookdelivery/{delivery.pk}/change/").status_code == 200
    with run_on_commit():
        admin_client.post(
            "/admin/integrations/webhookdelivery/", {"action": "redeliver", "_selected_action": [str(delivery.pk)]}
        )
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Status.SUCCEEDED, 1)
    assert len(receiver.requests) == 2
