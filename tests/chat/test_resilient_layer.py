"""ResilientRedisChannelLayer's own round-trip savings against a real Redis: same behaviour as
its parent (docs/benchmarks.md, chat), fewer calls."""

import asyncio
import os
import uuid

import pytest

from chat.resilient_layer import ResilientRedisChannelLayer
from tests.conftest import requires_redis

pytestmark = [requires_redis]


@pytest.fixture
async def layer():
    layer = ResilientRedisChannelLayer(
        hosts=[os.environ["REDIS_URL"]], prefix=f"cxhub-test-{uuid.uuid4().hex[:8]}", capacity=1000
    )
    yield layer
    await layer.flush()


async def test_a_batch_of_waiting_messages_arrives_complete_and_in_order(layer):
    # given 250 messages waiting on one process-local channel (more than one receive batch)
    channel = await layer.new_channel()
    for n in range(250):
        await layer.send(channel, {"type": "chat.test", "n": n})
    # when they are received, then every one arrives once, in order
    received = [(await asyncio.wait_for(layer.receive(channel), 5))["n"] for _ in range(250)]
    assert received == list(range(250))
    # and nothing is left behind in the queue or its backup
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(layer.receive(channel), 0.5)


async def test_group_send_reaches_every_member_and_skips_the_expired(layer):
    # given three channels in a group, one of them added longer ago than group_expiry
    channels = [await layer.new_channel() for _ in range(3)]
    for channel in channels:
        await layer.group_add("room", channel)
    connection = layer.connection(layer.consistent_hash("room"))
    await connection.zadd(layer._group_key("room"), {channels[2]: 1.0})  # 1970: expired
    # when a message is sent to the group
    await layer.group_send("room", {"type": "chat.test", "text": "hi"})
    # then the live members get it and the expired one is dropped from the group
    for channel in channels[:2]:
        assert (await asyncio.wait_for(layer.receive(channel), 5))["text"] == "hi"
    members = await connection.zrange(layer._group_key("room"), 0, -1)
    assert sorted(m.decode() for m in members) == sorted(channels[:2])


async def test_the_layer_renews_its_memberships_before_redis_expires_them(layer):
    # given a membership whose group key Redis has forgotten (group_expiry passed)
    channel = await layer.new_channel()
    await layer.group_add("room", channel)
    connection = layer.connection(layer.consistent_hash("room"))
    await connection.delete(layer._group_key("room"))
    # when the layer renews its process's memberships (hourly, from its watchdog)
    await layer._renew()
    # then the group reaches the socket again
    await layer.group_send("room", {"type": "chat.test", "text": "still here"})
    assert (await asyncio.wait_for(layer.receive(channel), 5))["text"] == "still here"


def new_layer() -> ResilientRedisChannelLayer:
    return ResilientRedisChannelLayer(
        hosts=[os.environ["REDIS_URL"]], prefix=f"cxhub-test-{uuid.uuid4().hex[:8]}", capacity=1000
    )


def test_a_sync_reader_on_a_new_event_loop_per_call_gets_each_event_once():
    """The survey tests' reader (tests/feedback/test_survey_widget.received): async_to_sync per call,
    so each receive runs on an event loop of its own, which ends with the call."""
    from asgiref.sync import async_to_sync

    layer = new_layer()

    def received(channel: str, timeout: float = 1.0):
        async def receive():
            return await asyncio.wait_for(layer.receive(channel), timeout)

        return async_to_sync(receive)()

    try:
        # given three events waiting on a process-local channel (one receive batch)
        channel = async_to_sync(layer.new_channel)()
        for n in range(3):
            async_to_sync(layer.send)(channel, {"type": "chat.test", "n": n})
        # when a sync reader takes them one call (one event loop) at a time
        got = [received(channel)["n"] for _ in range(3)]
        # then each comes once, in order, and nothing comes again
        assert got == [0, 1, 2]
        with pytest.raises(TimeoutError):
            received(channel, timeout=0.5)
        # and after that abandoned receive (its loop is gone), a new loop still receives
        async_to_sync(layer.send)(channel, {"type": "chat.test", "n": 3})
        assert received(channel)["n"] == 3
        with pytest.raises(TimeoutError):
            received(channel, timeout=0.5)
    finally:
        async_to_sync(layer.flush)()
