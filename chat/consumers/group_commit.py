"""Group commit: the chat messages of every widget and console socket of this process, stored
together (ADR 0015).

A socket's `message.send` waits on `submit(...)`. The first message of a batch opens a window of
CHAT_GROUP_COMMIT_WINDOW_MS; the batch is stored when the window ends or CHAT_GROUP_COMMIT_MAX
messages wait, in one worker thread and one transaction: the customers' messages set-based
(`services.message_receive_many`), then each agent's (`message_send`, in its savepoint); the
next batch gathers meanwhile. Broadcasts go out after the commit, then each socket gets its
answer and sends its ack, as with one message.

One message's failure never fails the others: bodies are checked before (the socket answers
with its own error frame), a revoked token or an erased contact is that message's answer, so
is an agent's refusal (a conversation resolved or hidden meanwhile: its savepoint is undone),
and when the batch's transaction fails (a deadlock with another process's batch, a constraint) each
message is stored alone in its own transaction, with its own answer. When the database does not
answer, every message of the batch gets `unavailable` and nothing was stored.
"""

import asyncio
import contextvars
import logging
import time
import weakref
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import close_old_connections, transaction
from django.utils import translation

from cxhub import db
from cxhub.errors import DomainError, Unavailable

from .. import payloads, selectors, services, widget
from ..models import Contact, Inbox
from .base import in_worker_thread

logger = logging.getLogger(__name__)


@dataclass
class Incoming:
    """One socket's message: who sent it, and the language of that socket's error texts."""

    inbox: Inbox
    contact_id: int
    token_id: int
    body: str
    client_msg_id: str
    language: str | None = None


@dataclass
class Stored:
    """What the socket needs to ack: the person (followed through merges), the conversation's inbox
    and the message's payload."""

    contact_id: int
    conversation_id: int
    inbox_id: int
    payload: dict


@dataclass
class AgentMessage:
    """One console socket's reply or note."""

    user: AbstractBaseUser
    conversation_id: int
    body: str
    client_msg_id: str
    is_note: bool
    language: str | None = None


# A message's answer: Stored, None (token revoked, contact erased: the socket closes), an agent
# message's payload, or an error.
Answer = Stored | None | dict | BaseException


def _stored(received: services.Received | None) -> Stored | None:
    if received is None:
        return None
    message = received.message
    conversation = message.conversation
    return Stored(
        conversation.contact_id, conversation.pk, conversation.inbox_id, payloads.message_for_console(message)
    )


def store_one(item: Incoming) -> Stored | None:
    """One message in its own transaction (the per-message path, and the fallback of a failed batch)."""
    if not widget.visitor_token_live(item.token_id):
        return None
    try:
        received = services.message_receive(
            inbox=item.inbox,
            contact=Contact(pk=item.contact_id),
            channel="web",
            body=item.body,
            client_msg_id=item.client_msg_id,
        )
    except Contact.DoesNotExist:  # erased meanwhile
        return None
    return _stored(received)


def send_one(item: AgentMessage) -> dict:
    """An agent's message (its own savepoint inside a batch), as the console acks it."""
    conversation = selectors.conversation_get(item.user, item.conversation_id)  # NotFound when foreign
    received = services.message_send(
        conversation=conversation,
        by=item.user,
        body=item.body,
        is_note=item.is_note,
        client_msg_id=item.client_msg_id,
    )
    return payloads.message_for_console(selectors.message_with_sender(received.message.pk))


def _store_alone(item: Incoming | AgentMessage) -> Stored | None | dict:
    return store_one(item) if isinstance(item, Incoming) else send_one(item)


def store_batch(items: list[Incoming | AgentMessage]) -> list[Answer]:
    """Store the batch in one transaction; if that fails, each message alone (worker thread)."""
    answers: list[Answer] = [None] * len(items)
    customers = [index for index, item in enumerate(items) if isinstance(item, Incoming)]
    agents = [index for index, item in enumerate(items) if isinstance(item, AgentMessage)]
    # A revoked token's sockets close at once (chat.token_revoked); a frame that raced the
    # revocation is refused here, in one read for the batch (outside its transaction).
    live = widget.live_visitor_token_ids({items[index].token_id for index in customers}) if customers else set()
    todo = [index for index in customers if items[index].token_id in live]
    try:
        with transaction.atomic():
            received = services.message_receive_many(
                [
                    services.Inbound(
                        items[index].inbox, items[index].contact_id, items[index].body, items[index].client_msg_id
                    )
                    for index in todo
                ]
            )
            for index in agents:
                with translation.override(items[index].language):
                    try:
                        answers[index] = send_one(items[index])
                    except DomainError as error:  # refused: message_send's savepoint is undone
                        answers[index] = error
    except Exception as error:
        if db.is_outage(error):
            raise
        logger.warning("a group commit of %d messages failed (%r): storing each alone", len(items), error)
        for index in [*todo, *agents]:
            answers[index] = _alone(items[index])
        return answers
    for index, one in zip(todo, received, strict=True):
        answers[index] = _stored(one)
    return answers


def _alone(item: Incoming | AgentMessage) -> Answer:
    with translation.override(item.language):
        try:
            return _store_alone(item)
        except Exception as error:  # this message's own answer (the socket turns it into its error frame)
            if not db.is_outage(error):
                return error
            close_old_connections()
            db.connection_failed(error)
            return Unavailable()


@dataclass
class _Waiting:
    item: Incoming | AgentMessage
    future: asyncio.Future
    at: float = field(default_factory=time.monotonic)


class GroupCommit:
    """The batches of one event loop (one server process)."""

    def __init__(self) -> None:
        self.queue: list[_Waiting] = []
        self.full = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.store = in_worker_thread(store_batch)

    async def submit(self, item: Incoming | AgentMessage) -> Stored | None | dict:
        waiting = _Waiting(item, asyncio.get_running_loop().create_future())
        self.queue.append(waiting)
        if len(self.queue) >= settings.CHAT_GROUP_COMMIT_MAX:
            self.full.set()
        if self.task is None or self.task.done():
            # Its own context: not the first socket's language (each message keeps its own).
            self.task = asyncio.get_running_loop().create_task(self._run(), context=contextvars.Context())
        return await asyncio.shield(waiting.future)

    async def _run(self) -> None:
        while self.queue:
            limit = settings.CHAT_GROUP_COMMIT_MAX
            delay = self.queue[0].at + settings.CHAT_GROUP_COMMIT_WINDOW_MS / 1000 - time.monotonic()
            if len(self.queue) < limit and delay > 0:
                self.full.clear()
                try:
                    async with asyncio.timeout(delay):
                        await self.full.wait()
                except TimeoutError:
                    pass
            batch = self.queue[:limit]
            del self.queue[:limit]
            if len(self.queue) < limit:
                self.full.clear()
            try:
                answers = await self.store([waiting.item for waiting in batch])
                if len(answers) != len(batch):
                    raise RuntimeError(f"a group commit answered {len(answers)} of {len(batch)} messages")
            except Exception as error:  # the whole batch: the database does not answer (or a bug)
                answers = [error] * len(batch)
            for waiting, answer in zip(batch, answers, strict=True):
                if waiting.future.done():
                    continue
                if isinstance(answer, BaseException):
                    waiting.future.set_exception(answer)
                else:
                    waiting.future.set_result(answer)


_per_loop: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GroupCommit]" = weakref.WeakKeyDictionary()


def committer() -> GroupCommit:
    loop = asyncio.get_running_loop()
    if loop not in _per_loop:
        _per_loop[loop] = GroupCommit()
    return _per_loop[loop]


async def store(item: Incoming | AgentMessage) -> Stored | None | dict:
    """Store one socket's message: with others of this process (group commit), or alone when
    CHAT_GROUP_COMMIT_MAX is 1."""
    if settings.CHAT_GROUP_COMMIT_MAX <= 1:
        return await in_worker_thread(_store_alone)(item)
    return await committer().submit(item)


def unavailable(error: Unavailable) -> Unavailable:
    """The batch's `unavailable` again, in the language of the socket that raises it."""
    again = Unavailable()
    again.retry_after = error.retry_after
    return again
