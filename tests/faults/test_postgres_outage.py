"""PostgreSQL outage (issue #19, item 1): 100 widget clients chat while PostgreSQL stops for 10 s.

The server under test is a uvicorn child process whose database is a PostgreSQL cluster of this
test's own (pg_createcluster on a free port, a copy of the test database), so stopping it touches
nothing else; its channel layer is the run's Redis under a prefix of its own. Halfway through,
PostgreSQL stops (fast shutdown: every connection cut) and starts again 10 s later.

Checked: messages sent meanwhile get an `unavailable` error frame (retryable) or are acknowledged
only once stored, and the clients retry on their own; afterwards every acknowledged message is
stored and every stored one delivered exactly once, in order (0 lost, 0 duplicated, 0 out of
order); sockets opened before the outage still get live frames (no server restart); /healthz
says `degraded` during the outage and `ok` after (/readyz: 503 `unavailable`, then 200 `ready`);
email and SMS webhooks answer 503 with Retry-After meanwhile and, sent again as providers do, store
each message once.

OUTAGE_CLIENTS (100), OUTAGE_SECONDS (10) and OUTAGE_RUN_SECONDS (40) set the size.
"""

import asyncio
import json
import os
import shutil
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from email.utils import make_msgid
from pathlib import Path

import pytest
import redis
from twilio.request_validator import RequestValidator

from chat.widget import widget_session_start
from tests.chat.channel_helpers import free_port, inbound_params, make_email
from tests.conftest import requires_postgres, requires_redis
from tests.factories import EmailInboxFactory, InboxFactory, SmsInboxFactory
from tests.servers import uvicorn_server

from .clients import WidgetClient, tally
from .figures import FIGURES
from .postgres import OwnPostgres

pytestmark = [
    pytest.mark.skipif(
        shutil.which("pg_createcluster") is None, reason="needs Debian's postgresql-common (pg_createcluster)"
    ),
    requires_postgres,
    requires_redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
]

CLIENTS = int(os.environ.get("OUTAGE_CLIENTS", "100"))
OUTAGE = float(os.environ.get("OUTAGE_SECONDS", "10"))
RUN = float(os.environ.get("OUTAGE_RUN_SECONDS", "40"))
PAUSE = (1.5, 3.5)  # seconds between a client's messages: 100 clients ≈ 40 messages a second
LOGS = Path(__file__).resolve().parents[2] / "test-artifacts" / "faults"
ORIGIN = "http://127.0.0.1"


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


class Provider:
    """An email or SMS provider: posts each item until it is accepted, waiting Retry-After on a 503."""

    def __init__(self):
        self.refused: list[tuple[int, str | None]] = []  # (status, Retry-After) of each refusal
        self.accepted = 0

    def deliver(self, post) -> None:
        for _attempt in range(60):
            status, headers, _body = post()
            if status in (200, 201):
                self.accepted += 1
                return
            assert status == 503, (status, _body[:300])
            retry_after = headers.get("Retry-After")
            self.refused.append((status, retry_after))
            time.sleep(float(retry_after or 1))
        raise AssertionError("a provider gave up: the hook never accepted")


@pytest.fixture
def own_postgres():
    cluster = OwnPostgres("cxhub_faults_outage")
    cluster.create()
    yield cluster
    cluster.drop()


def test_a_postgresql_outage_loses_nothing(own_postgres, tmp_path):
    # given a web, an email and an SMS inbox, copied into PostgreSQL of our own, served by uvicorn
    web = InboxFactory(allowed_origins=[ORIGIN], prechat_form=False)
    email_inbox = EmailInboxFactory()
    sms_inbox = SmsInboxFactory()
    # and CLIENTS visitors with their widget sessions
    tokens = [widget_session_start(inbox=web, name=f"Visitor {n}").visitor_token for n in range(CLIENTS)]
    own_postgres.copy_test_database()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    queue = f"cxhub_faults_outage_{port}"
    env = {
        "DATABASE_URL": own_postgres.url,
        "CHANNEL_LAYER_PREFIX": f"cxhub_faults_outage_{port}",
        # Tasks (the outbox drains: metrics, surveys, webhooks) go to a queue of this test that no
        # worker reads, as they would go to workers in production: this test is about the chat path.
        "CELERY_QUEUE": queue,
        "PUBLIC_URL": base,
        "DEBUG": "true",
    }
    LOGS.mkdir(parents=True, exist_ok=True)
    with uvicorn_server(port, env=env, log=LOGS / "outage-server.log") as server:
        clients = [WidgetClient(n, token) for n, token in enumerate(tokens)]
        url = f"ws://127.0.0.1:{port}/ws/widget/?inbox={web.public_id}"
        health: list[tuple[float, str]] = []
        ready: list[tuple[float, str]] = []
        email_provider, sms_provider = Provider(), Provider()
        outage = {}

        def watch_health(stop: threading.Event):
            while not stop.is_set():
                status, _h, body = http("GET", f"{base}/healthz")
                health.append((time.monotonic(), json.loads(body)["status"] if status == 200 else f"http {status}"))
                status, _h, body = http("GET", f"{base}/readyz")
                ready.append((time.monotonic(), f"{status} {json.loads(body)['status']}"))
                stop.wait(0.5)

        def post_email(n: int):
            raw = make_email(to=email_inbox.email_address, message_id=make_msgid(domain="faults.test"),
                             sender=f"Mail {n} <mail{n}@example.com>", text=f"email {n}").as_bytes()  # fmt: skip
            headers = {"Authorization": f"Bearer {email_inbox.webhook_secret}", "Content-Type": "message/rfc822"}
            return lambda: http("POST", f"{base}/hooks/email/{email_inbox.public_id}/inbound", raw, headers)

        def post_sms(n: int):
            path = f"/hooks/twilio/{sms_inbox.public_id}/sms"
            params = inbound_params(sms_inbox, sender=f"+1415555{n:04d}", body=f"sms {n}", sid=f"SM{n:032d}")
            signature = RequestValidator(sms_inbox.provider_config["auth_token"]).compute_signature(base + path, params)
            body = urllib.parse.urlencode(params).encode()
            headers = {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}
            return lambda: http("POST", base + path, body, headers)

        async def run():
            stop_at = time.monotonic() + RUN
            chats = [asyncio.create_task(c.chat(url, ORIGIN, stop_at, PAUSE)) for c in clients]
            # a few sockets opened before the outage, kept across it, must get live frames after
            await asyncio.sleep(RUN / 3)
            # when PostgreSQL stops for OUTAGE seconds; meanwhile emails and SMS arrive
            outage["start"] = time.monotonic()
            await asyncio.to_thread(own_postgres.stop)
            outage["stopped"] = time.monotonic()
            # (threads of their own: the loop's default executor must stay free to start PostgreSQL)
            loop = asyncio.get_running_loop()
            webhooks = [
                loop.run_in_executor(providers, provider.deliver, post(n))
                for n in range(5)
                for provider, post in ((email_provider, post_email), (sms_provider, post_sms))
            ]
            hooks = asyncio.gather(*webhooks)
            await asyncio.sleep(OUTAGE)
            outage["starting"] = time.monotonic()
            await asyncio.to_thread(own_postgres.start)
            outage["end"] = time.monotonic()
            await hooks
            await asyncio.gather(*chats)
            outage["kept"] = [c for c in clients if c.connections == 1]
            # every client resumes once more: whatever it has not seen comes now
            gate = asyncio.Semaphore(20)

            async def resume(client):
                async with gate:
                    await client.final_resume(url, ORIGIN)

            await asyncio.gather(*(resume(c) for c in clients))

        stop = threading.Event()
        watcher = threading.Thread(target=watch_health, args=(stop,), daemon=True)
        watcher.start()
        started = time.monotonic()
        with ThreadPoolExecutor(10) as providers:
            asyncio.run(run())
        stop.set()
        watcher.join()
        assert server.poll() is None, "the server process died"
    redis.Redis.from_url(os.environ["REDIS_URL"]).delete(queue)

    # then every acknowledged message is stored, every stored one delivered once, in order
    stored: dict[int, list[str]] = {}
    for conversation_id, client_msg_id in own_postgres.rows(
        "SELECT conversation_id, client_msg_id FROM chat_message WHERE client_msg_id <> '' ORDER BY seq"
    ):
        stored.setdefault(conversation_id, []).append(client_msg_id)
    last_seqs = dict(own_postgres.rows("SELECT id, last_seq FROM chat_conversation"))
    figures = tally(clients, stored, last_seqs)
    during = [status for at, status in health if outage["stopped"] + 0.5 < at < outage["starting"]]
    after = [status for at, status in health if at > outage["end"] + 10]
    ready_during = [status for at, status in ready if outage["stopped"] + 0.5 < at < outage["starting"]]
    ready_after = [status for at, status in ready if at > outage["end"] + 10]
    emails = own_postgres.rows("SELECT count(*), count(DISTINCT body) FROM chat_message WHERE channel = 'email'")[0]
    sms = own_postgres.rows("SELECT count(*), count(DISTINCT body) FROM chat_message WHERE channel = 'sms'")[0]
    acked_in_outage = sum(1 for c in clients for at in c.acked_at.values() if outage["start"] < at < outage["end"])
    FIGURES.update(
        outage_clients=CLIENTS,
        outage_seconds=OUTAGE,
        outage_postgres_stop_seconds=round(outage["stopped"] - outage["start"], 1),
        outage_postgres_start_seconds=round(outage["end"] - outage["starting"], 1),
        outage_first_ack_after_start_seconds=round(
            min((at for c in clients for at in c.acked_at.values() if at > outage["end"]), default=float("nan"))
            - outage["end"],
            2,
        ),
        outage_run_seconds=round(time.monotonic() - started, 1),
        outage_messages_acked=sum(len(c.acked) for c in clients),
        outage_acked_while_down=acked_in_outage,
        outage_unavailable_frames=sum(c.unavailable for c in clients),
        outage_reconnects=sum(c.connections for c in clients) - CLIENTS,
        outage_close_codes=dict(sum((c.closes for c in clients), start=Counter())),
        outage_lost=figures["lost"],
        outage_duplicated=figures["duplicated"],
        outage_out_of_order=figures["out_of_order"],
        outage_sockets_kept_across=len(outage["kept"]),
        outage_healthz_during=sorted(set(during)),
        outage_readyz_during=sorted(set(ready_during)),
        outage_webhook_refusals=len(email_provider.refused) + len(sms_provider.refused),
        outage_emails_stored=emails[0],
        outage_sms_stored=sms[0],
    )
    assert figures == {"lost": 0, "duplicated": 0, "out_of_order": 0}
    assert sum(c.unavailable for c in clients) > 0, "no message met the outage: the test proved nothing"
    assert during and set(during) == {"degraded"}, health
    assert after and set(after) == {"ok"}
    # and readiness (for load balancers) was 503 during it, 200 after
    assert ready_during and set(ready_during) == {"503 unavailable"}, ready
    assert ready_after and set(ready_after) == {"200 ready"}
    # sockets that lived through the outage kept chatting: acknowledged after it, no server restart
    silent = [
        (c.number, round(max(c.acked_at.values(), default=0) - outage["end"], 1), c.unavailable)
        for c in outage["kept"]
        if not any(at > outage["end"] for at in c.acked_at.values())
    ]
    assert not silent, f"(client, last ack after the outage, unavailable frames): {silent}"
    assert email_provider.refused and sms_provider.refused
    refusals = email_provider.refused + sms_provider.refused
    assert all(status == 503 and retry_after for status, retry_after in refusals), refusals
    assert emails == (5, 5) and sms == (5, 5)
