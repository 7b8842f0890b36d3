"""Dashboards hear the metrics pipeline: `metrics.updated` after a batch commits, only for their inboxes.

The console socket with `?watch=metrics` (docs/websocket-protocol.md) joins `metrics.<inbox>` for
every inbox its user sees; the pipeline (feedback/pipeline.py) calls
`chat.events.broadcast_metrics_updated` for the inboxes whose rollup cells a batch changed. In the
embedded default the pipeline runs eagerly in-process (in-memory layer); with a real worker the
frame crosses processes through the Redis channel layer.
"""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from chat import events
from chat import services as chat_services
from chat.models import hash_token
from feedback import services as feedback_services
from feedback.models import SurveyInvitation
from tests.chat.test_consumers import console, drain, next_of
from tests.conftest import requires_postgres, requires_redis, wait_for
from tests.factories import ContactFactory, InboxFactory, SupervisorFactory, agent_user, conversation_with

in_thread = database_sync_to_async


def invitation_in(inbox, agent) -> str:
    """A customer of `inbox` was helped by `agent` and got a survey; its token."""
    conversation = conversation_with(inbox, ContactFactory())
    chat_services.conversation_assign(conversation=conversation, assignee=agent)
    chat_services.message_send(conversation=conversation, by=agent, body="Done.")
    chat_services.conversation_resolve(conversation=conversation, by=agent)
    # (sent at once in-process; a real worker takes a moment)
    invitation = wait_for(lambda: SurveyInvitation.objects.filter(conversation=conversation, status="sent").first())
    token = f"live-token-{invitation.pk:08d}-abcdefgh"
    SurveyInvitation.objects.filter(pk=invitation.pk).update(token_hash=hash_token(token))
    return token


def customer_answers(token: str, csat: int) -> None:
    feedback_services.survey_answer(token=token, channel=None, csat=csat)


@pytest.mark.django_db(transaction=True)
async def test_each_dashboard_hears_only_of_its_own_inboxes_after_the_pipeline_commits():
    # given two inboxes with an agent each, a supervisor, and a survey waiting in each inbox
    shop, partner = await in_thread(InboxFactory)(name="Shop"), await in_thread(InboxFactory)(name="Partner")
    alice, bob = await in_thread(agent_user)(shop), await in_thread(agent_user)(partner)
    boss = (await in_thread(SupervisorFactory)()).user
    shop_token, partner_token = (
        await in_thread(invitation_in)(shop, alice),
        await in_thread(invitation_in)(partner, bob),
    )
    # and open dashboards: alice's, the supervisor's; and alice's ordinary console
    alice_dashboard, ready = await console(alice, "?watch=metrics")
    boss_dashboard, _ = await console(boss, "?watch=metrics")
    alice_console, _ = await console(alice)
    assert ready["inbox_ids"] == [shop.pk]

    # when the partner inbox's customer answers
    await in_thread(customer_answers)(partner_token, 1)
    # then the supervisor's dashboard hears of that inbox (and only it), alice's dashboard nothing
    assert await next_of(boss_dashboard, "metrics.updated") == {"type": "metrics.updated", "inbox_ids": [partner.pk]}
    assert await alice_dashboard.receive_nothing(timeout=0.5)

    # when the shop's customer answers, alice's dashboard hears of the shop
    await in_thread(customer_answers)(shop_token, 5)
    assert await next_of(alice_dashboard, "metrics.updated") == {"type": "metrics.updated", "inbox_ids": [shop.pk]}
    assert await next_of(boss_dashboard, "metrics.updated") == {"type": "metrics.updated", "inbox_ids": [shop.pk]}
    # and the ordinary console got its survey frame but no metrics frames (dashboards only)
    frames = await drain(alice_console)
    assert "survey.answered" in {f["type"] for f in frames}
    assert "metrics.updated" not in {f["type"] for f in frames}
    for socket in (alice_dashboard, boss_dashboard, alice_console):
        await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_dashboard_reads_again_after_lost_broadcasts_and_sends_no_conversation_frames():
    # given alice's dashboard
    shop = await in_thread(InboxFactory)()
    alice = await in_thread(agent_user)(shop)
    dashboard, _ = await console(alice, "?watch=metrics")
    # when a customer writes (a conversation frame for consoles)
    await in_thread(conversation_with)(shop)
    # then the dashboard is not sent messages, only what the pipeline committed
    frames = await drain(dashboard)
    assert {f["type"] for f in frames} <= {"metrics.updated"}
    # when the channel layer lost broadcasts (a Redis restart: chat.resync), it is told to read again
    await get_channel_layer().group_send(events.metrics_group(shop.pk), {"type": "chat.resync"})
    assert await next_of(dashboard, "metrics.updated") == {"type": "metrics.updated", "inbox_ids": [shop.pk]}
    await dashboard.disconnect()


@pytest.mark.real_worker
@pytest.mark.slow
@requires_postgres
@requires_redis
def test_a_real_workers_batch_reaches_the_dashboard_through_redis(celery_worker_process):
    # given a running worker and alice's dashboard socket (this process; the layer is Redis)
    celery_worker_process.start()
    shop = InboxFactory()
    alice = agent_user(shop)
    token = invitation_in(shop, alice)

    async def watch_and_answer():
        dashboard, _ = await console(alice, "?watch=metrics")
        try:
            await drain(dashboard)  # the resolution's batch, if the worker is that quick
            # when the customer answers (the pipeline runs in the worker process)
            await in_thread(customer_answers)(token, 2)
            # then the worker's commit reaches the socket through the Redis channel layer
            return await next_of(dashboard, "metrics.updated", timeout=60)
        finally:
            await dashboard.disconnect()

    frame = async_to_sync(watch_and_answer)()
    assert frame == {"type": "metrics.updated", "inbox_ids": [shop.pk]}


@pytest.mark.django_db
async def test_the_broadcast_names_each_inbox_to_its_own_group_only():
    # given listeners on two inboxes' metrics groups and on one inbox's console group
    layer = get_channel_layer()
    channels = {}
    for group in (events.metrics_group(7), events.metrics_group(9), events.inbox_group(7)):
        channels[group] = await layer.new_channel()
        await layer.group_add(group, channels[group])

    # when the pipeline announces inboxes 9, 7 and 9 again (and 0, "no inbox"); outside a
    # transaction, on_commit sends at once
    await in_thread(events.broadcast_metrics_updated)([9, 7, 9, 0])

    async def received(channel) -> list[dict]:
        """What reached the channel before a marker sent after the broadcast (a channel is FIFO).
        No receive is cancelled: channels-redis can hang its event loop's shutdown after one is."""
        await layer.send(channel, {"type": "test.marker"})
        events_before = []
        while (event := await layer.receive(channel))["type"] != "test.marker":
            events_before.append(event)
        return events_before

    # then each metrics group gets one event naming only itself; the console's inbox group nothing
    assert await received(channels["metrics.7"]) == [{"type": "chat.metrics_updated", "inbox_ids": [7]}]
    assert await received(channels["metrics.9"]) == [{"type": "chat.metrics_updated", "inbox_ids": [9]}]
    assert await received(channels["inbox.7"]) == []
