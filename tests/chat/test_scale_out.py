"""Scale-out: two uvicorn processes share PostgreSQL and Redis; a customer on one, the agent on the other.

Every message must reach the other side exactly once, in seq order, although no process holds
the other's sockets: broadcasts cross through the Redis channel layer (docs/adr/0002).
"""

import asyncio
import json
import urllib.request
from pathlib import Path

import pytest
from django.test import Client
from websockets.asyncio.client import connect

from chat.models import Conversation
from tests.chat.channel_helpers import free_port
from tests.conftest import requires_postgres, requires_redis
from tests.factories import AgentFactory, InboxFactory
from tests.servers import run_database_url, uvicorn_server

pytestmark = [pytest.mark.slow, requires_postgres, requires_redis, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 30


def http_json(url: str, body: dict, origin: str) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", "Origin": origin}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


@pytest.fixture
def two_servers(transactional_db, tmp_path):
    """Two `uvicorn cxhub.asgi:application` processes on the test database and the run's Redis."""
    env = {"DATABASE_URL": run_database_url(), "CELERY_TASK_ALWAYS_EAGER": "true", "DEBUG": "true"}
    ports = [free_port(), free_port()]
    with (
        uvicorn_server(ports[0], env=env, log=tmp_path / "server-1.log"),
        uvicorn_server(ports[1], env=env, log=tmp_path / "server-2.log"),
    ):
        yield [f"http://127.0.0.1:{port}" for port in ports]


def test_a_customer_on_one_process_and_an_agent_on_the_other_get_every_message_once_in_order(two_servers):
    # given a web inbox served by two processes, its agent logged in
    one, two = two_servers
    inbox = InboxFactory(allowed_origins=[one, two], prechat_form=False)
    agent = AgentFactory(inboxes=[inbox], availability="online").user
    client = Client()
    client.force_login(agent)
    cookie = client.cookies["sessionid"].value
    session = http_json(f"{one}/api/v1/widget/{inbox.public_id}/session", {}, origin=one)

    async def chat():
        customer = await connect(f"{one.replace('http', 'ws')}/ws/widget/?inbox={inbox.public_id}", origin=one)
        console = await connect(
            f"{two.replace('http', 'ws')}/ws/console/", origin=two, additional_headers={"Cookie": f"sessionid={cookie}"}
        )
        await customer.send(json.dumps({"type": "auth", "token": session["visitor_token"]}))
        assert json.loads(await customer.recv())["type"] == "auth.ok"
        assert json.loads(await console.recv())["type"] == "ready"
        agent_got, customer_got = [], []

        async def agent_side():
            # the agent (on process two) answers each customer message it is sent
            while len(agent_got) < MESSAGES:
                frame = json.loads(await asyncio.wait_for(console.recv(), 30))
                if frame["type"] == "message" and frame["message"]["sender"]["kind"] == "contact":
                    message = frame["message"]
                    agent_got.append((message["seq"], message["body"]))
                    await console.send(json.dumps({
                        "type": "message.send", "conversation_id": message["conversation_id"],
                        "client_msg_id": f"re-{message['id']}", "body": f"re: {message['body']}",
                    }))  # fmt: skip

        async def customer_side():
            # the customer (on process one) writes, at a person's pace, and reads the answers
            async def read():
                while len(customer_got) < MESSAGES:
                    frame = json.loads(await asyncio.wait_for(customer.recv(), 30))
                    if frame["type"] == "message" and frame["message"]["sender"]["kind"] == "agent":
                        customer_got.append((frame["message"]["seq"], frame["message"]["body"]))

            reader = asyncio.ensure_future(read())
            for n in range(MESSAGES):
                await customer.send(json.dumps({"type": "message.send", "client_msg_id": f"m-{n}", "body": f"m{n}"}))
                await asyncio.sleep(0.12)  # under the socket's 10 frames/s
            await reader

        await asyncio.gather(agent_side(), customer_side())
        await customer.close()
        await console.close()
        return agent_got, customer_got

    agent_got, customer_got = asyncio.run(chat())

    # then each side got every message of the other exactly once, in seq order
    assert [body for _, body in agent_got] == [f"m{n}" for n in range(MESSAGES)]
    assert sorted(body for _, body in customer_got) == sorted(f"re: m{n}" for n in range(MESSAGES))
    for got in (agent_got, customer_got):
        seqs = [seq for seq, _ in got]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # and the conversation holds the 60 messages, seq 1..60
    conversation = Conversation.objects.get()
    assert list(conversation.messages.order_by("seq").values_list("seq", flat=True)) == list(range(1, 2 * MESSAGES + 1))
