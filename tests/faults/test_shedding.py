"""How a socket that falls behind is found and shed (issue #19, item 3), in seconds, on any setup.

`tests/faults/test_slow_consumer.py` runs the real scenario (a console that reads nothing for 60 s
under 50 messages a second) against a real server; these pin the two ways the server notices:
the send that its client does not take within SOCKET_SEND_TIMEOUT, and the channel layer's
capacity overflow (chat.resilient_layer.OverflowQueue).
"""

import asyncio

import pytest
from channels.exceptions import StopConsumer
from channels.layers import InMemoryChannelLayer

from chat.consumers.base import CLOSE_SLOW_CONSUMER, ChatConsumer
from chat.resilient_layer import OverflowQueue


async def a_socket_in_a_group(base_send):
    consumer = ChatConsumer()
    consumer.channel_layer = InMemoryChannelLayer()
    consumer.channel_name = await consumer.channel_layer.new_channel()
    consumer.base_send = base_send
    consumer.groups_joined = ["inbox.1"]
    await consumer.channel_layer.group_add("inbox.1", consumer.channel_name)
    return consumer


async def test_a_socket_whose_client_takes_no_frame_is_closed_with_a_resume_hint(settings):
    # given a socket whose client takes frames until it stops reading
    settings.SOCKET_SEND_TIMEOUT = 1
    reading = asyncio.Event()
    reading.set()
    closes = []

    async def client(message):
        if message["type"] == "websocket.close":
            closes.append(message)
            return
        await reading.wait()

    consumer = await a_socket_in_a_group(client)
    await consumer.send_json({"type": "message"})
    # when it stops reading
    reading.clear()
    # then the next send gives up after SOCKET_SEND_TIMEOUT: the socket leaves its groups, is
    # closed with 4008 (resume) and its consumer ends
    with pytest.raises(StopConsumer):
        await consumer.send_json({"type": "message"})
    assert consumer.groups_joined == []
    assert not consumer.channel_layer.groups.get("inbox.1")
    assert closes == [{"type": "websocket.close", "code": CLOSE_SLOW_CONSUMER, "reason": "resume"}]


async def test_a_socket_a_whole_capacity_behind_is_closed_with_a_resume_hint():
    # given a socket whose channel overflowed
    closes = []

    async def client(message):
        closes.append(message)

    consumer = await a_socket_in_a_group(client)
    # when it gets to the overflow event
    with pytest.raises(StopConsumer):
        await consumer.chat_overflow({"type": "chat.overflow"})
    # then it is closed with 4008 and leaves its groups
    assert closes[-1]["code"] == CLOSE_SLOW_CONSUMER
    assert not consumer.channel_layer.groups.get("inbox.1")


def test_an_overflowing_channel_keeps_one_overflow_event_instead_of_its_backlog():
    # given a channel buffer of capacity 3, full: its socket stopped taking events
    queue = OverflowQueue(3)
    for n in range(3):
        queue.put_nowait({"type": "chat.message", "n": n})
    before = OverflowQueue.overflows
    # when one more event comes
    queue.put_nowait({"type": "chat.message", "n": 3})
    # then the backlog (all of it can be read again from the database) is gone, and the socket
    # will meet the overflow first, then what came after
    assert [queue.get_nowait() for _ in range(queue.qsize())] == [
        {"type": "chat.overflow"},
        {"type": "chat.message", "n": 3},
    ]
    assert OverflowQueue.overflows == before + 1
