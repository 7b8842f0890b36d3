"""channel_layer: group_send fan-out, RedisChannelLayer (cxhub) vs RedisPubSubChannelLayer (peer).

What the live chat does with its layer: one process (the one that committed a message)
calls group_send on `inbox.<id>` or `contact.<id>`; the consoles/widgets subscribed to that
group live in other processes and receive it. Here the sender and the receivers use
separate layer instances (as separate uvicorn workers would) on one Redis.

Figures, for groups of 1, 10 and 100 receivers:
- latency: time from group_send to each receiver's receive, sends paced every 2 ms (p50/p99)
- throughput: deliveries per second when group_send is called back to back (burst)
- lost: deliveries that never arrived
Target (RedisChannelLayer): p99 at most 10 ms at fan-out 10, nothing lost.

    .venv/bin/python bench/channel_layer.py [--quick]
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

NAME = "channel_layer"
TARGET = {"p99_ms_fanout_10_max": 10, "lost": 0}
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379") + f"/{harness.REDIS_DB}"


def make_layer(flavour: str, prefix: str):
    if flavour == "core":
        from channels_redis.core import RedisChannelLayer

        return RedisChannelLayer(hosts=[REDIS_URL], prefix=prefix, capacity=1500, expiry=30)
    from channels_redis.pubsub import RedisPubSubChannelLayer

    return RedisPubSubChannelLayer(hosts=[REDIS_URL], prefix=prefix)


async def fan_out(flavour: str, receivers: int, messages: int, *, paced: bool) -> dict:
    """Send `messages` group messages to `receivers` channels; latencies in seconds, losses."""
    prefix = f"bench{secrets.token_hex(4)}"
    sender, receiver_layer = make_layer(flavour, prefix), make_layer(flavour, prefix)
    group = "inbox.1"
    channels = [await receiver_layer.new_channel() for _ in range(receivers)]
    for channel in channels:
        await receiver_layer.group_add(group, channel)
    latencies: list[float] = []
    got = [0] * receivers
    done = asyncio.Event()
    expected = receivers * messages

    async def receive(index: int, channel: str) -> None:
        while got[index] < messages:
            message = await receiver_layer.receive(channel)
            latencies.append(time.perf_counter() - message["sent"])
            got[index] += 1
            if len(latencies) >= expected:
                done.set()

    tasks = [asyncio.create_task(receive(i, c)) for i, c in enumerate(channels)]
    await asyncio.sleep(0.2)  # subscriptions settle (pub/sub subscribes lazily)
    started = time.perf_counter()
    for _ in range(messages):
        await sender.group_send(group, {"type": "chat.message", "sent": time.perf_counter(), "body": "x" * 200})
        if paced:
            await asyncio.sleep(0.002)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), timeout=30)
    elapsed = time.perf_counter() - started
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for layer in (sender, receiver_layer):
        await layer.flush()
    return {"latencies": latencies, "lost": expected - len(latencies), "elapsed": elapsed, "deliveries": len(latencies)}


async def measure(flavour: str, quick: bool) -> dict:
    figures: dict = {}
    for receivers, messages in ((1, 2000), (10, 500), (100, 100)):
        if quick:
            messages //= 4
        paced = await fan_out(flavour, receivers, messages, paced=True)
        figures[f"fanout_{receivers}_p50_ms"] = round(harness.percentile(paced["latencies"], 50) * 1000, 2)
        figures[f"fanout_{receivers}_p99_ms"] = round(harness.percentile(paced["latencies"], 99) * 1000, 2)
        burst = await fan_out(flavour, receivers, messages, paced=False)
        figures[f"fanout_{receivers}_burst_deliveries_per_s"] = round(burst["deliveries"] / burst["elapsed"])
        figures[f"fanout_{receivers}_lost"] = paced["lost"] + burst["lost"]
    return figures


def main(argv=None) -> dict:
    args = harness.parse_args(__doc__.splitlines()[0], argv)
    ours = asyncio.run(measure("core", args.quick))
    peer = asyncio.run(measure("pubsub", args.quick))
    ratio = peer["fanout_10_p99_ms"] / ours["fanout_10_p99_ms"] if ours["fanout_10_p99_ms"] else None
    lost = sum(v for k, v in ours.items() if k.endswith("_lost"))
    ok = ours["fanout_10_p99_ms"] <= TARGET["p99_ms_fanout_10_max"] and lost == 0
    return harness.report(NAME, ours, peer, ratio, TARGET, ok)


if __name__ == "__main__":
    main()
