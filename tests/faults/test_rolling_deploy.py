"""Rolling deploy (issue #19, item 2): two uvicorn processes behind nginx, restarted one after the
other while 200 widget clients chat.

nginx (Debian's, `make proxy` installs it when missing) listens on a free port and passes
websockets to two uvicorn processes on the test database and the run's Redis. Each process in
turn gets SIGTERM, as a process manager sends it, and is started again once it has exited.
SIGTERM closes every socket with 1012 (service restart) after the frame it is handling (stored
and acknowledged; chat/consumers/draining.py); the clients reconnect through nginx, which sends
them to the process still running, and resume after the last seq they saw, as the widget does.

Checked: 0 lost (every acknowledged message stored, every stored one delivered), 0 duplicated,
0 out of order; the sockets were closed with 1012 (no dropped connection); each process exits
within the shutdown timeout.

DEPLOY_CLIENTS (200) and DEPLOY_SECONDS (40) set the size.
"""

import asyncio
import os
import time
from collections import Counter
from pathlib import Path

import pytest
import redis

from chat.models import Conversation, Message
from chat.widget import widget_session_start
from tests.chat.channel_helpers import free_port
from tests.conftest import requires_postgres, requires_redis
from tests.factories import InboxFactory
from tests.servers import run_database_url

from .clients import WidgetClient, tally
from .figures import FIGURES
from .processes import Nginx, Uvicorn

pytestmark = [
    requires_postgres,
    requires_redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(240),
]

CLIENTS = int(os.environ.get("DEPLOY_CLIENTS", "200"))
RUN = float(os.environ.get("DEPLOY_SECONDS", "40"))
PAUSE = (2.0, 5.0)  # 200 clients ≈ 57 messages a second
SHUTDOWN_TIMEOUT = 10
ORIGIN = "http://127.0.0.1"
LOGS = Path(__file__).resolve().parents[2] / "test-artifacts" / "faults"


@pytest.fixture
def deployment(tmp_path):
    """nginx in front of two uvicorn processes (the run's databases, a channel-layer prefix and a
    task queue of their own: no worker reads it, the drains are not what this test is about)."""
    ports = [free_port(), free_port()]
    queue = f"cxhub_faults_deploy_{ports[0]}"
    env = {"DATABASE_URL": run_database_url(), "CHANNEL_LAYER_PREFIX": queue, "CELERY_QUEUE": queue, "DEBUG": "true"}
    LOGS.mkdir(parents=True, exist_ok=True)
    servers = [
        Uvicorn(port, env=env, log=LOGS / f"deploy-server-{n}.log", graceful_seconds=SHUTDOWN_TIMEOUT)
        for n, port in enumerate(ports)
    ]
    proxy = Nginx(free_port(), ports, tmp_path / "nginx")
    try:
        for server in servers:
            server.start()
        proxy.start()
        yield proxy, servers
    finally:
        proxy.stop()
        for server in servers:
            server.kill()
        redis.Redis.from_url(os.environ["REDIS_URL"]).delete(queue)


def test_a_rolling_deploy_loses_nothing(deployment):
    proxy, servers = deployment
    # given CLIENTS visitors of a web inbox, chatting through nginx
    inbox = InboxFactory(allowed_origins=[ORIGIN], prechat_form=False)
    clients = [WidgetClient(n, widget_session_start(inbox=inbox, name=f"V{n}").visitor_token) for n in range(CLIENTS)]
    url = f"ws://127.0.0.1:{proxy.port}/ws/widget/?inbox={inbox.public_id}"
    restarts = []

    async def run():
        stop_at = time.monotonic() + RUN
        chats = [asyncio.create_task(c.chat(url, ORIGIN, stop_at, PAUSE)) for c in clients]
        await asyncio.sleep(RUN / 4)
        # when each process in turn is stopped (SIGTERM) and started again
        for server in servers:
            stopped_in = await asyncio.to_thread(server.terminate)
            started = time.monotonic()
            await asyncio.to_thread(server.start)
            restarts.append({"stopped_in": round(stopped_in, 2), "down": round(time.monotonic() - started, 2)})
            await asyncio.sleep(RUN / 4)
        await asyncio.gather(*chats)
        gate = asyncio.Semaphore(20)

        async def resume(client):
            async with gate:
                await client.final_resume(url, ORIGIN)

        await asyncio.gather(*(resume(c) for c in clients))

    started = time.monotonic()
    asyncio.run(run())

    # then nothing is lost, duplicated or out of order
    stored: dict[int, list[str]] = {}
    for conversation_id, client_msg_id in (
        Message.objects.filter(conversation__inbox=inbox)
        .order_by("seq")
        .values_list("conversation_id", "client_msg_id")
    ):
        stored.setdefault(conversation_id, []).append(client_msg_id)
    last_seqs = dict(Conversation.objects.filter(inbox=inbox).values_list("id", "last_seq"))
    figures = tally(clients, stored, last_seqs)
    closes = sum((c.closes for c in clients), start=Counter())
    FIGURES.update(
        deploy_clients=CLIENTS,
        deploy_run_seconds=round(time.monotonic() - started, 1),
        deploy_restarts=restarts,
        deploy_messages_acked=sum(len(c.acked) for c in clients),
        deploy_reconnects=sum(c.connections for c in clients) - CLIENTS,
        deploy_close_codes=dict(closes),
        deploy_lost=figures["lost"],
        deploy_duplicated=figures["duplicated"],
        deploy_out_of_order=figures["out_of_order"],
    )
    assert figures == {"lost": 0, "duplicated": 0, "out_of_order": 0}
    assert closes[1012] >= CLIENTS / 2, closes  # every socket was on one of the two processes
    assert not closes[1006] and not closes[1011], closes  # closed with 1012, never dropped
    # within the bound docs/operations.md gives: SHUTDOWN_TIMEOUT for the sockets, as long for uvicorn
    assert all(r["stopped_in"] < 2 * SHUTDOWN_TIMEOUT for r in restarts), restarts
