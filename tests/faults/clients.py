"""Widget clients that behave like chat/static/chat/widget.js, for the fault tests.

Each client sends messages at a person's pace (a new client_msg_id each; one not acknowledged is
sent again with the same id), retries an `unavailable` error frame after its `retry_after`,
reconnects with backoff when its socket closes, and resumes inside its `auth` frame (the
conversation and the last seq it saw), as the widget does. It checks what it receives: every
`message` frame must be exactly the next seq of its conversation.
"""

import asyncio
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

TIMEOUT = 30.0


@dataclass
class WidgetClient:
    number: int
    token: str
    conversation_id: int | None = None
    last_seq: int = 0
    sent: dict = field(default_factory=dict)  # client_msg_id → acknowledged?
    duplicated: int = 0
    out_of_order: int = 0
    frames: int = 0
    connections: int = 0
    unavailable: int = 0  # `unavailable` error frames met (each followed by a retry)
    closes: Counter = field(default_factory=Counter)  # close codes the server sent
    acked_at: dict = field(default_factory=dict)  # client_msg_id → when acknowledged (monotonic)

    @property
    def acked(self) -> set:
        return {cmid for cmid, acked in self.sent.items() if acked}

    def see(self, message: dict) -> None:
        self.frames += 1
        if message["conversation_id"] != self.conversation_id:
            self.conversation_id, self.last_seq = message["conversation_id"], 0
        seq = message["seq"]
        if seq <= self.last_seq:
            self.duplicated += 1
        elif seq > self.last_seq + 1:
            self.out_of_order += 1
            self.last_seq = seq
        else:
            self.last_seq = seq

    async def open(self, url: str, origin: str):
        """Connect and authenticate, resuming after the last seq seen (in the auth frame)."""
        ws = await connect(url, origin=origin, open_timeout=TIMEOUT, ping_interval=None, max_size=2**20)
        auth = {"type": "auth", "token": self.token, "after_seq": self.last_seq}
        if self.conversation_id:
            auth["conversation_id"] = self.conversation_id
        await ws.send(json.dumps(auth))
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            if frame["type"] == "auth.ok":
                self.connections += 1
                if frame["conversation_id"] and not self.conversation_id:
                    self.conversation_id = frame["conversation_id"]
                if not frame["conversation_id"] or frame["conversation_id"] != self.conversation_id:
                    return ws  # nothing to resume
            elif frame["type"] == "message":
                self.see(frame["message"])
            elif frame["type"] == "resume.done":
                return ws
            elif frame["type"] == "error" and frame.get("retryable"):
                self.unavailable += 1  # the server closes (1013) next: reconnect later

    async def send_one(self, ws) -> None:
        """Send the oldest unacknowledged message (or a new one) until it is acknowledged or the
        socket closes; `unavailable` waits `retry_after` and sends it again."""
        pending = [cmid for cmid, acked in self.sent.items() if not acked]
        cmid = pending[0] if pending else f"c{self.number}-{uuid.uuid4().hex[:12]}"
        self.sent.setdefault(cmid, False)
        while True:
            await ws.send(json.dumps({"type": "message.send", "client_msg_id": cmid, "body": f"client {self.number}"}))
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
                if frame["type"] == "message":
                    self.see(frame["message"])
                elif frame["type"] == "ack" and frame["client_msg_id"] == cmid:
                    self.sent[cmid] = True
                    self.acked_at[cmid] = time.monotonic()
                    self.see_ack(frame["message"])
                    return
                elif frame["type"] == "error" and frame.get("client_msg_id") == cmid:
                    if frame.get("retryable"):
                        self.unavailable += 1
                        await asyncio.sleep(frame.get("retry_after", 2) * random.uniform(0.5, 1.0))
                        break  # send it again, same id
                    if frame.get("code") == "rate_limited":
                        await asyncio.sleep(1)
                        break
                    raise AssertionError(f"client {self.number}: {frame}")

    def see_ack(self, message: dict) -> None:
        """The ack carries the stored message; its `message` frame (the live echo) may come before
        or after it, and is what `see` counts."""
        if message["conversation_id"] != self.conversation_id:
            self.conversation_id, self.last_seq = message["conversation_id"], 0

    async def chat(self, url: str, origin: str, stop_at: float, pause: tuple[float, float]) -> None:
        """Chat until `stop_at`, reconnecting (with backoff) whenever the socket closes."""
        rng = random.Random(self.number)
        await asyncio.sleep(rng.uniform(0, 2))
        attempts = 0
        while time.monotonic() < stop_at:
            try:
                ws = await self.open(url, origin)
                attempts = 0
                try:
                    while time.monotonic() < stop_at:
                        await self.send_one(ws)
                        await asyncio.sleep(rng.uniform(*pause))
                    await self.drain(ws, 0.5)
                finally:
                    await ws.close()
            except ConnectionClosed as closed:
                self.closes[closed.rcvd.code if closed.rcvd else 1006] += 1
            except (OSError, TimeoutError) as error:
                self.closes[type(error).__name__] += 1
            except Exception as error:  # a refused handshake during an outage, …: like the widget, try again
                self.closes[type(error).__name__] += 1
            attempts += 1
            delay = min(5.0, 0.25 * 2**attempts)
            await asyncio.sleep(rng.uniform(delay / 2, delay))

    async def drain(self, ws, seconds: float) -> None:
        """Read what is still coming for `seconds` (live echoes of the last messages)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                frame = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
            except TimeoutError:
                return
            if frame["type"] == "message":
                self.see(frame["message"])

    async def final_resume(self, url: str, origin: str) -> None:
        """Reconnect once more: whatever this client has not seen comes now, in order."""
        for attempt in range(10):
            try:
                ws = await self.open(url, origin)
                await self.drain(ws, 0.3)
                await ws.close()
                return
            except Exception:
                await asyncio.sleep(0.5 * (attempt + 1))
        raise AssertionError(f"client {self.number} could not resume")


def tally(clients: list[WidgetClient], stored: dict[int, list[str]], last_seqs: dict[int, int]) -> dict:
    """Lost, duplicated and out-of-order counts over every client.

    `stored`: conversation id → the client_msg_ids of its stored customer messages;
    `last_seqs`: conversation id → its last seq. Lost: an acknowledged message that is not stored,
    or a stored one the client never received."""
    lost = duplicated = out_of_order = 0
    for client in clients:
        ids = stored.get(client.conversation_id, [])
        lost += len(client.acked - set(ids))
        duplicated += len(ids) - len(set(ids)) + client.duplicated
        out_of_order += client.out_of_order
        lost += max(0, last_seqs.get(client.conversation_id, 0) - client.last_seq)
    return {"lost": lost, "duplicated": duplicated, "out_of_order": out_of_order}
