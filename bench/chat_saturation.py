"""chat_saturation: the rate of persisted-and-delivered messages before latency breaks.

The chat_roundtrip load (widget customers, agent consoles) at rising offered rates until the
p99 send→deliver latency passes 250 ms or more than 1% is not delivered within the grace
period; the figure is the best delivered rate (acked by the server and received by every
agent socket) of a step that held. Measured for cxhub, for the Channels tutorial's chat
consumer saving each message (bench/peers/tutorial_chat.py) and for a raw ASGI broadcast app
with no database and no channel layer (bench/peers/raw_ws.py), the limit.
Target: at least 3x the peer and at least 0.15x the limit.

    .venv/bin/python bench/chat_saturation.py [--quick] [--rates 100,200,400]

`--rates` replaces the ramp's rates (on a machine other work loads, the low steps' handful of
messages can miss the p99 by one late message: start where the comparison is), and every listed
step runs (the best one that held still counts). Each step also
says the server's CPU per delivered message.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import chatload, harness

NAME = "chat_saturation"
TARGET = {"ratio_to_peer_min": 3.0, "ratio_to_limit_min": 0.15}
P99_LIMIT_S = 0.250


async def ramp(
    endpoints: chatload.Endpoints,
    rates: list[float],
    seconds: float,
    label: str,
    pid: int | Sequence[int],
    every: bool = False,
) -> dict:
    pids = [pid] if isinstance(pid, int) else list(pid)  # the servers whose CPU a message costs
    best, steps = None, []
    async with chatload.ChatLoad(endpoints) as load:
        await load.warm_up()
        for rate in rates:
            cpu = sum(harness.cpu_seconds(p) for p in pids)
            result = await load.step(f"r{int(rate)}", rate=rate, seconds=seconds, grace=3)
            cpu_ms = 1000 * (sum(harness.cpu_seconds(p) for p in pids) - cpu) / max(result.delivered, 1)
            p99 = harness.percentile(result.latencies, 99)
            held = p99 <= P99_LIMIT_S and result.lost <= 0.01 * result.sent
            steps.append(
                f"{int(rate)}/s: {result.delivered_per_s:.0f}/s p99 {p99 * 1000:.0f} ms lost {result.lost}"
                f" cpu {cpu_ms:.1f} ms/msg"
            )
            print(f"  {label}: offered {steps[-1]}", flush=True)
            if held and (best is None or result.delivered_per_s > best.delivered_per_s):
                best = result
            if not held and not every:
                break
        duplicated = load.duplicated
    figures = {"messages_per_s": round(best.delivered_per_s, 1) if best else 0.0, "duplicated": duplicated}
    if best:
        figures.update(harness.latency_figures(best.latencies, prefix="at_best_"))
    figures["steps"] = steps
    return figures


def main(argv=None) -> dict:
    args = harness.parse_args(
        __doc__.splitlines()[0], argv, rates={"help": "comma-separated offered rates (messages/s) instead of the ramp"}
    )
    customers, agents = (20, 2) if args.quick else (200, 4)
    if args.quick:
        rates, seconds = [10.0, 40.0], 2.0
    else:
        rates, seconds = [2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 200.0, 300.0, 400.0, 600.0, 800.0, 1200.0, 1600.0], 4.0
    if args.rates:
        rates = [float(rate) for rate in args.rates.split(",")]
    harness.raise_open_files_limit(8192)
    with harness.Stack(NAME) as stack:
        seeded = stack.call("bench.chatload:seed", visitors=customers, agents=agents)
        stack.call("bench.peers.tutorial_chat:create_table")
        stack.worker(nice=10)  # background work below the chat server (docs/benchmarks.md)
        server = stack.server()
        with harness.profiled(stack, server, args.profile):
            ours = asyncio.run(
                ramp(
                    chatload.cxhub_endpoints(server, seeded, customers),
                    rates,
                    seconds,
                    "cxhub",
                    server.pid,
                    bool(args.rates),
                )
            )
        server.process.stop()
        peer_server = stack.server("bench.peers.tutorial_chat:application", name="peer")
        peer = asyncio.run(
            ramp(
                chatload.room_endpoints(peer_server, "/ws/peer/chat/", customers, agents),
                rates,
                seconds,
                "peer",
                peer_server.pid,
                bool(args.rates),
            )
        )
        peer_server.process.stop()
        limit_server = stack.server("bench.peers.raw_ws:broadcast_app", name="limit", wait_path="/")
        limit_rates = [*rates, 200.0] if args.quick else [*rates, 2400.0]
        limit = asyncio.run(
            ramp(
                chatload.room_endpoints(limit_server, "/ws/", customers, agents),
                limit_rates,
                seconds,
                "limit",
                limit_server.pid,
                bool(args.rates),
            )
        )
    ratio = ours["messages_per_s"] / peer["messages_per_s"] if peer["messages_per_s"] else float("nan")
    ratio_to_limit = ours["messages_per_s"] / limit["messages_per_s"] if limit["messages_per_s"] else float("nan")
    ours["ratio_to_limit"] = round(ratio_to_limit, 3)
    peer["limit_messages_per_s"] = limit["messages_per_s"]
    peer["limit_steps"] = limit["steps"]
    ok = ratio >= TARGET["ratio_to_peer_min"] and ratio_to_limit >= TARGET["ratio_to_limit_min"]
    return harness.report(NAME, ours, peer, ratio, TARGET, ok)


if __name__ == "__main__":
    main()
