"""End to end on a real server: 20 customers and 3 agents chat while their connections drop.

uvicorn serves cxhub.asgi:application (the `live_server_url` fixture); customers and agents are
`websockets` clients speaking docs/websocket-protocol.md, reconnecting and resuming the way a
browser would. Every message must reach exactly the right people, once each, in seq order.
"""

import asyncio
import json
import random
import urllib.request
from collections import defaultdict

import pytest
from django.core.cache import cache
from django.test import Client
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chat.models import Conversation, Message
from tests.factories import AgentFactory, InboxFactory

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

CUSTOMERS = 20
MESSAGES_EACH = 4
SETTLE_SECONDS = 90


def http_json(url: str, *, method: str = "GET", body: dict | None = None, headers: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


class Customer:
    """A widget: session over HTTP, then a socket that drops now and then and resumes in its auth frame."""

    def __init__(self, number: int, base: str, inbox, token: str, rng: random.Random):
        self.number, self.base, self.inbox, self.token, self.rng = number, base, inbox, token, rng
        self.socket = None
        self.conversation_id: int | None = None
        self.received: list[dict] = []  # every message frame, in arrival order, over all connections
        self.errors: list[dict] = []
        self.pending: dict[str, asyncio.Future] = {}
        self.connections = 0

    def last_seq(self) -> int:
        return max((m["seq"] for m in self.received), default=0)

    async def connect(self) -> None:
        url = self.base.replace("http", "ws", 1) + f"/ws/widget/?inbox={self.inbox.public_id}"
        socket = await connect(url, origin=self.base)
        auth = {"type": "auth", "token": self.token}
        if self.conversation_id:
            auth.update(conversation_id=self.conversation_id, after_seq=self.last_seq())
        else:  # maybe the first message was stored but its ack was lost: resume the open one
            auth.update(after_seq=0)
        await socket.send(json.dumps(auth))
        authed = asyncio.get_running_loop().create_future()
        self.socket = socket
        self.connections += 1
        asyncio.ensure_future(self.read(socket, authed))
        await asyncio.wait_for(authed, 10)

    async def read(self, socket, authed) -> None:
        try:
            async for raw in socket:
                frame = json.loads(raw)
                if frame["type"] == "auth.ok" and not authed.done():
                    authed.set_result(frame)
                elif frame["type"] == "message":
                    self.received.append(frame["message"])
                    self.conversation_id = frame["message"]["conversation_id"]
                elif frame["type"] == "ack":
                    future = self.pending.get(frame["client_msg_id"])
                    if future and not future.done():
                        future.set_result(frame["message"])
                elif frame["type"] == "error":
                    self.errors.append(frame)
        except ConnectionClosed:
            pass

    async def drop(self) -> None:
        if self.socket is not None:
            if self.rng.random() < 0.5:
                self.socket.transport.abort()  # the network goes away
            else:
                await self.socket.close()
            self.socket = None

    async def send(self, client_msg_id: str, body: str) -> dict:
        """Send until acknowledged; a lost ack means the same client_msg_id is sent again."""
        while True:
            if self.socket is None:
                await self.connect()
            future = self.pending[client_msg_id] = asyncio.get_running_loop().create_future()
            try:
                await self.socket.send(
                    json.dumps({"type": "message.send", "client_msg_id": client_msg_id, "body": body})
                )
                if self.rng.random() < 0.15:
                    await self.drop()  # gone before the ack came
                    continue
                message = await asyncio.wait_for(future, 10)
            except (ConnectionClosed, TimeoutError):
                await self.drop()
                continue
            self.conversation_id = message["conversation_id"]
            return message

    async def run(self) -> None:
        await asyncio.sleep(self.rng.random())
        for n in range(MESSAGES_EACH):
            await self.send(f"c{self.number}-{n}", f"customer {self.number} message {n}")
            await asyncio.sleep(self.rng.uniform(0.05, 0.4))
            if self.rng.random() < 0.35:
                await self.drop()

    async def settle(self, expected: int) -> None:
        """Stay (or come back) online until every reply has arrived."""
        deadline = asyncio.get_running_loop().time() + SETTLE_SECONDS
        while len(self.received) < expected and asyncio.get_running_loop().time() < deadline:
            if self.socket is None:
                await self.connect()
            await asyncio.sleep(0.1)


class Agent:
    """A console: replies (and sometimes adds a note) to every customer message of its conversations."""

    def __init__(self, name: str, base: str, user_id: int, cookie: str, rng: random.Random):
        self.name, self.base, self.user_id, self.cookie, self.rng = name, base, user_id, cookie, rng
        self.socket = None
        self.seen: dict[int, set[int]] = defaultdict(set)  # conversation → seqs received
        self.received: list[dict] = []
        self.by_connection: list[dict[int, list[int]]] = []
        self.late: list[set[int]] = []  # per connection: conversations resumed after live frames began
        self.assignee: dict[int, int | None] = {}
        self.customer_messages: dict[int, list[dict]] = defaultdict(list)
        self.sent: set[str] = set()
        self.pending: dict[str, dict] = {}
        self.errors: list[dict] = []
        self.stopped = False
        self.pace = asyncio.Lock()
        self.last_sent = 0.0

    def contiguous(self, conversation_id: int) -> int:
        seqs, n = self.seen[conversation_id], 0
        while n + 1 in seqs:
            n += 1
        return n

    def list_conversations(self) -> list[dict]:
        body = http_json(f"{self.base}/api/v1/conversations/", headers={"Cookie": f"sessionid={self.cookie}"})
        return body["results"]

    async def connect(self) -> None:
        listed = await asyncio.to_thread(self.list_conversations)
        for item in listed:
            self.assignee[item["id"]] = (item.get("assignee") or {}).get("id")
        known = sorted({*self.seen, *(item["id"] for item in listed)})
        query = "?resume=" + ",".join(f"{c}:{self.contiguous(c)}" for c in known) if known else ""
        url = self.base.replace("http", "ws", 1) + "/ws/console/" + query
        socket = await connect(url, origin=self.base, additional_headers={"Cookie": f"sessionid={self.cookie}"})
        self.by_connection.append(defaultdict(list))
        self.late.append(set())
        ready = asyncio.get_running_loop().create_future()
        self.socket = socket
        asyncio.ensure_future(self.read(socket, ready, self.by_connection[-1]))
        await asyncio.wait_for(ready, 10)
        # Conversations opened while the list was being fetched: resume them now.
        for item in await asyncio.to_thread(self.list_conversations):
            self.assignee.setdefault(item["id"], (item.get("assignee") or {}).get("id"))
            if item["id"] not in known:
                self.late[-1].add(item["id"])
                await self.safe_send({"type": "resume", "conversation_id": item["id"], "after_seq": 0})
        for frame in list(self.pending.values()):
            await self.safe_send(frame)
        for conversation_id in list(self.customer_messages):
            await self.answer(conversation_id)

    async def safe_send(self, frame: dict) -> None:
        # A console stays under the server's frame rate (10/s, burst 20) as a person does (a
        # fast server lets customers write faster than one agent may answer), without holding
        # up its reader: frames leave in order from tasks queued on one lock.
        asyncio.ensure_future(self.paced_send(frame))

    async def paced_send(self, frame: dict) -> None:
        async with self.pace:
            wait = self.last_sent + 0.12 - asyncio.get_running_loop().time()
            if wait > 0:
                await asyncio.sleep(wait)
            self.last_sent = asyncio.get_running_loop().time()
            try:
                if self.socket is not None:
                    await self.socket.send(json.dumps(frame))
            except ConnectionClosed:
                pass

    async def read(self, socket, ready, connection_log) -> None:
        try:
            async for raw in socket:
                if socket is not self.socket and ready.done():
                    # Dropped: what the old socket still had buffered is lost with it, as in a
                    # browser (the next connection resumes from what was seen before the drop).
                    break
                frame = json.loads(raw)
                kind = frame["type"]
                if kind == "ready" and not ready.done():
                    ready.set_result(frame)
                elif kind == "message":
                    message = frame["message"]
                    connection_log[message["conversation_id"]].append(message["seq"])
                    if message["seq"] in self.seen[message["conversation_id"]]:
                        # Seen on an earlier connection: a resume from below a gap (a drop between a
                        # late conversation's live frame and its replay) sends it again, and the
                        # console ignores a seq it has (app.js). One connection never repeats one.
                        continue
                    self.received.append(message)
                    self.seen[message["conversation_id"]].add(message["seq"])
                    if message["sender"]["kind"] == "contact":
                        self.customer_messages[message["conversation_id"]].append(message)
                        await self.answer(message["conversation_id"])
                elif kind == "conversation.updated":
                    conversation = frame["conversation"]
                    self.assignee[conversation["id"]] = conversation["assignee_id"]
                    await self.answer(conversation["id"])
                elif kind == "ack":
                    self.pending.pop(frame["client_msg_id"], None)
                elif kind == "error":
                    self.errors.append(frame)
        except ConnectionClosed:
            pass

    async def answer(self, conversation_id: int) -> None:
        if self.assignee.get(conversation_id) != self.user_id:
            return
        for message in self.customer_messages[conversation_id]:
            reply_id = f"r-{message['id']}"
            if reply_id in self.sent:
                continue
            self.sent.add(reply_id)
            if message["seq"] % 3 == 0:
                note = {
                    "type": "message.send",
                    "conversation_id": conversation_id,
                    "client_msg_id": f"n-{message['id']}",
                    "body": f"note on {message['body']}",
                    "is_note": True,
                }
                self.pending[note["client_msg_id"]] = note
                await self.safe_send(note)
            reply = {
                "type": "message.send",
                "conversation_id": conversation_id,
                "client_msg_id": reply_id,
                "body": f"{self.name} answers: {message['body']}",
            }
            self.pending[reply_id] = reply
            await self.safe_send(reply)

    async def drop_now_and_then(self) -> None:
        while not self.stopped:
            await asyncio.sleep(self.rng.uniform(0.6, 1.5))
            if self.stopped:
                break
            socket, self.socket = self.socket, None
            if self.rng.random() < 0.5:
                socket.transport.abort()
            else:
                await socket.close()
            await asyncio.sleep(self.rng.uniform(0, 0.3))
            await self.connect()


@pytest.fixture
def chat_world(live_server_url):
    """Two web inboxes: Ada and Bob work the shop (14 customers), Cid the outlet (6 customers)."""
    cache.clear()  # the session endpoint's throttle
    shop = InboxFactory(name="Shop", allowed_origins=[live_server_url])
    outlet = InboxFactory(name="Outlet", allowed_origins=[live_server_url])
    agents = {}
    for name, inbox in (("Ada", shop), ("Bob", shop), ("Cid", outlet)):
        profile = AgentFactory(inboxes=[inbox], display_name=name, availability="online", capacity=20)
        client = Client()
        client.force_login(profile.user)
        agents[name] = (profile.user.pk, client.cookies["sessionid"].value, inbox)
    customers = []
    for number in range(CUSTOMERS):
        inbox = shop if number < 14 else outlet
        session = http_json(
            f"{live_server_url}/api/v1/widget/{inbox.public_id}/session",
            method="POST",
            body={"name": f"Customer {number}"},
            headers={"Origin": live_server_url},
        )
        customers.append((number, inbox, session["visitor_token"]))
    return live_server_url, shop, outlet, agents, customers


def conversation_messages() -> dict[int, list[Message]]:
    result = defaultdict(list)
    for message in Message.objects.order_by("conversation_id", "seq"):
        result[message.conversation_id].append(message)
    return result


async def test_twenty_customers_and_three_agents_lose_nothing_and_double_nothing(chat_world):
    base, shop, outlet, agents_info, customers_info = chat_world
    rng = random.Random(20261126)
    agents = {
        name: Agent(name, base, uid, cookie, random.Random(rng.random()))
        for name, (uid, cookie, _) in agents_info.items()
    }
    customers = [Customer(n, base, inbox, token, random.Random(rng.random())) for n, inbox, token in customers_info]

    # given three agents online
    for agent in agents.values():
        await agent.connect()
    droppers = [asyncio.ensure_future(agent.drop_now_and_then()) for agent in agents.values()]
    # when twenty customers write while connections drop on both sides
    await asyncio.gather(*(customer.run() for customer in customers))
    # and everyone stays until every reply has arrived
    await asyncio.gather(*(customer.settle(2 * MESSAGES_EACH) for customer in customers))
    for agent in agents.values():
        agent.stopped = True
    await asyncio.gather(*droppers)
    for agent in agents.values():
        if agent.socket is None:
            await agent.connect()

    truth = await asyncio.to_thread(conversation_messages)
    inbox_of = dict(await asyncio.to_thread(lambda: list(Conversation.objects.values_list("id", "inbox_id"))))
    deadline = asyncio.get_running_loop().time() + 30
    while asyncio.get_running_loop().time() < deadline:
        if all(
            {m["id"] for m in agent.received}
            >= {m.pk for c, ms in truth.items() if inbox_of[c] == agents_info[name][2].pk for m in ms}
            for name, agent in agents.items()
        ):
            break
        await asyncio.sleep(0.2)
        truth = await asyncio.to_thread(conversation_messages)

    # then the database holds each customer's 4 messages and 4 replies, once each, seq 1..N
    assert len(truth) == CUSTOMERS
    for messages in truth.values():
        assert [m.seq for m in messages] == list(range(1, len(messages) + 1))
        public = [m for m in messages if not m.is_note]
        assert sum(m.sender_kind == "contact" for m in public) == MESSAGES_EACH
        assert sum(m.sender_kind == "agent" for m in public) == MESSAGES_EACH

    # and each customer got exactly their conversation's public messages, once, in seq order
    for customer in customers:
        expected = [m for m in truth[customer.conversation_id] if not m.is_note]
        assert [m["id"] for m in customer.received] == [m.pk for m in expected], f"customer {customer.number}"
        assert all(not m["is_note"] and "delivery_status" not in m for m in customer.received)
        assert customer.errors == []
        assert customer.connections > 1  # they really did reconnect

    # and each agent got every message (notes too) of their inbox and nothing else, once
    for name, agent in agents.items():
        inbox = agents_info[name][2]
        expected_ids = {m.pk for c, ms in truth.items() if inbox_of[c] == inbox.pk for m in ms}
        received_ids = [m["id"] for m in agent.received]
        assert len(received_ids) == len(set(received_ids)), f"{name} got a message twice"
        assert set(received_ids) == expected_ids, name
        assert agent.errors == []
        assert len(agent.by_connection) > 2
        # in seq order on every connection (a conversation first resumed late excepted), never twice on one
        for log, late in zip(agent.by_connection, agent.late, strict=True):
            for conversation_id, seqs in log.items():
                assert len(seqs) == len(set(seqs)), (name, conversation_id, seqs)
                if conversation_id not in late:
                    assert seqs == sorted(seqs), (name, conversation_id, seqs)

    for socket in [c.socket for c in customers] + [a.socket for a in agents.values()]:
        if socket is not None:
            await socket.close()


async def test_the_real_server_refuses_a_foreign_origin_and_a_bad_token(chat_world):
    base, shop, _, _, customers_info = chat_world
    url = base.replace("http", "ws", 1) + f"/ws/widget/?inbox={shop.public_id}"
    with pytest.raises(InvalidStatus) as refused:
        await connect(url, origin="http://localhost:1")
    assert refused.value.response.status_code == 403
    socket = await connect(url, origin=base)
    await socket.send(json.dumps({"type": "auth", "token": "forged"}))
    with pytest.raises(ConnectionClosed) as closed:
        await socket.recv()
    assert closed.value.rcvd.code == 4401
