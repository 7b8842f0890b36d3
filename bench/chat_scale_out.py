"""chat_scale_out: the chat load on two uvicorn processes beside one, and the ratio.

The chat_saturation ramp (bench/chat_saturation.py: widget customers sending, agent consoles
receiving, rising offered rates until the p99 send→deliver latency passes 250 ms or more than
1 % is not delivered) twice against the same database, Redis and Celery worker: first with
every socket on one uvicorn process, then with the sockets alternating between two processes
(customer k on process k mod 2, agent k likewise), so every message reaches consoles on its
own process and on the other one through Redis. The figure is the best delivered rate of a
step that held, each side; the ratio is two processes over one. Exactly-once and order are
checked by the load (0 duplicated, `lost` per step) as in chat_saturation.

On one 2-core machine the two processes share those cores with PostgreSQL, Redis, the worker
and this load generator, so the ratio shows what a second process buys on the same machine;
on a machine per process (or more cores) it is the scale-out factor. Target: at least 1.5x.

    .venv/bin/python bench/chat_scale_out.py [--quick]
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import chatload, harness
from bench.chat_saturation import ramp

NAME = "chat_scale_out"
TARGET = {"ratio_two_to_one_min": 1.5, "duplicated": 0}


def spread(endpoints: list[chatload.Endpoints]) -> chatload.Endpoints:
    """Socket k of each kind on process k mod n (every process holds customers and consoles)."""
    first, n = endpoints[0], len(endpoints)
    return chatload.Endpoints(
        customer_urls=[endpoints[k % n].customer_urls[k] for k in range(len(first.customer_urls))],
        customer_tokens=first.customer_tokens,
        agent_urls=[endpoints[k % n].agent_urls[k] for k in range(len(first.agent_urls))],
        agent_headers=first.agent_headers,
    )


def main(argv=None) -> dict:
    args = harness.parse_args(__doc__.splitlines()[0], argv)
    customers, agents = (20, 2) if args.quick else (200, 4)
    if args.quick:
        rates, seconds = [10.0, 40.0, 80.0], 2.0
    else:
        rates, seconds = [2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 200.0, 300.0, 400.0, 600.0, 800.0, 1200.0, 1600.0], 4.0
    harness.raise_open_files_limit(8192)
    with harness.Stack(NAME) as stack:
        # Visitors of their own for each side: the same client_msg_ids from the same visitor would
        # be one message (deduplicated), not a new one.
        seeded = stack.call("bench.chatload:seed", visitors=2 * customers, agents=agents)
        others = {**seeded, "tokens": seeded["tokens"][customers:]}
        stack.worker(nice=10)  # background work below the chat servers, as in chat_saturation
        server = stack.server()
        with harness.profiled(stack, server, args.profile):
            alone = chatload.cxhub_endpoints(server, seeded, customers)
            one = asyncio.run(ramp(alone, rates, seconds, "one", server.pid))
        second = stack.server(name="server-b")
        endpoints = spread([chatload.cxhub_endpoints(s, others, customers) for s in (server, second)])
        two = asyncio.run(ramp(endpoints, rates, seconds, "two", [server.pid, second.pid]))
    ratio = two["messages_per_s"] / one["messages_per_s"] if one["messages_per_s"] else float("nan")
    two["processes"], one["processes"] = 2, 1
    ok = ratio >= TARGET["ratio_two_to_one_min"] and two["duplicated"] == one["duplicated"] == 0
    return harness.report(NAME, two, one, ratio, TARGET, ok)


if __name__ == "__main__":
    main()
