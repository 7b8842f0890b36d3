"""chat_roundtrip: 200 widget customers and 4 agent consoles, at half the saturation rate.

Every customer sends on its /ws/widget/ socket at a fixed rate (open loop); the figure is the
time from a customer's `message.send` to the `message` frame at each agent console
(PostgreSQL write, commit, RedisChannelLayer group_send, console socket), plus the messages
never delivered within the grace period (lost) and the frames any socket got twice.
Target: p99 at most 25 ms, nothing lost, nothing duplicated, offered half the rate chat_saturation
holds (`make bench` passes it from the same run with `--rate`; alone, 1,000 messages/s).

    .venv/bin/python bench/chat_roundtrip.py [--quick] [--rate N]
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import chatload, harness

NAME = "chat_roundtrip"
TARGET = {"p99_ms_max": 25, "lost": 0, "duplicated": 0}


async def drive(endpoints: chatload.Endpoints, *, rate: float, seconds: float, server_pid: int) -> dict:
    async with chatload.ChatLoad(endpoints) as load:
        await load.warm_up()
        cpu = harness.cpu_seconds(server_pid)
        result = await load.step("run", rate=rate, seconds=seconds, grace=10)
        cpu = harness.cpu_seconds(server_pid) - cpu
        figures = result.figures()
        # CPU of the server process per delivered message: less bent by a shared machine than latency
        figures["server_cpu_ms_per_message"] = round(1000 * cpu / max(figures.get("delivered", 0), 1), 2)
        if load.errors:
            figures["error_frames"] = dict(load.errors)
        return figures


def main(argv=None) -> dict:
    args = harness.parse_args(
        __doc__.splitlines()[0], argv, rate=dict(type=float, help="messages/s offered (default 1,000; 50 quick)")
    )
    customers, agents = (20, 2) if args.quick else (200, 4)
    rate, seconds = (50.0, 3.0) if args.quick else (1000.0, 10.0)
    rate = args.rate or rate
    harness.raise_open_files_limit(8192)
    with harness.Stack(NAME) as stack:
        seeded = stack.call("bench.chatload:seed", visitors=customers, agents=agents)
        stack.worker(nice=10)  # background work below the chat server (docs/benchmarks.md)
        server = stack.server()
        endpoints = chatload.cxhub_endpoints(server, seeded, customers)
        with harness.profiled(stack, server, args.profile):
            ours = asyncio.run(drive(endpoints, rate=rate, seconds=seconds, server_pid=server.pid))
    ours.update(customers=customers, agents=agents)  # offered_per_s says the rate
    ok = ours["p99_ms"] <= TARGET["p99_ms_max"] and ours["lost"] == 0 and ours["duplicated"] == 0
    return harness.report(NAME, ours, {}, None, TARGET, ok)


if __name__ == "__main__":
    main()
