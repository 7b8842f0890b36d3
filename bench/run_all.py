"""Run every benchmark, one after another, and write the table into docs/benchmarks.md.

    .venv/bin/python bench/run_all.py            # the full run (`make bench`)
    .venv/bin/python bench/run_all.py --quick    # each under a minute
    .venv/bin/python bench/run_all.py --only connections conversation_list --no-docs

Each script runs in its own process (so one that fails cannot take the others down) and ends
with one JSON line; this collects those lines into bench/results/latest.json and rewrites the
results section of docs/benchmarks.md with the machine, the date and the table of that run.
The exit status is 0 when every benchmark ran, whether or not it met its target: a missed
target is a finding, written down, not a broken build.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

BENCHMARKS = [
    "conversation_list",
    "connections",
    "chat_saturation",
    "chat_roundtrip",  # at half the rate chat_saturation held in this run
    "chat_scale_out",
    "survey_ingest",
    "metrics_summary",
    "satisfaction",
    "search",
    "growth",  # the chat, connection and survey loads again with 10,000,000 messages stored
]
# Seconds a benchmark may take when more than --timeout (growth seeds 10,000,000 messages).
TIMEOUTS = {"growth": 3600}
DOCS = harness.ROOT / "docs" / "benchmarks.md"
RESULTS = harness.ROOT / "bench" / "results"
BEGIN, END = "<!-- results:begin (bench/run_all.py rewrites this part) -->", "<!-- results:end -->"


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kb = 0
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def run_one(name: str, quick: bool, timeout: float, extra: Sequence[str] = ()) -> dict:
    argv = [harness.PYTHON, str(harness.ROOT / "bench" / f"{name}.py"), *(["--quick"] if quick else []), *extra]
    print(f"\n### {name}", flush=True)
    started = time.monotonic()
    try:
        proc = subprocess.run(argv, cwd=harness.ROOT, stdout=subprocess.PIPE, text=True, timeout=timeout)
        output, code = proc.stdout, proc.returncode
    except subprocess.TimeoutExpired as exc:
        output, code = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or ""), -1
    print(output, end="", flush=True)
    seconds = round(time.monotonic() - started, 1)
    for line in reversed(output.splitlines()):
        if line.startswith("{") and '"bench"' in line:
            result = json.loads(line)
            result["seconds"] = seconds
            return result
    return {"bench": name, "figures": {"error": f"exit code {code}, no result line"}, "peer": {}, "ratio": None,
            "target": {}, "ok": False, "seconds": seconds}  # fmt: skip


def options_for(name: str, earlier: list[dict]) -> list[str]:
    """chat_roundtrip's target holds at half the saturation rate: the rate chat_saturation held
    earlier in the same run (the script's own default when that did not run)."""
    if name != "chat_roundtrip":
        return []
    for result in earlier:
        held = result["bench"] == "chat_saturation" and result["figures"].get("messages_per_s")
        if held:
            return ["--rate", f"{held / 2:.1f}"]
    return []


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)


def table(results: list[dict]) -> str:
    lines = ["| benchmark | cxhub | peer | ratio | target | met |", "|---|---|---|---|---|---|"]
    for r in results:
        ours = "<br>".join(f"{k}: {_cell(v)}" for k, v in r["figures"].items())
        peer = "<br>".join(f"{k}: {_cell(v)}" for k, v in r["peer"].items()) or "—"
        ratio = "—" if r["ratio"] is None else f"{r['ratio']:.2f}"
        met = "yes" if r["ok"] else "no"
        lines.append(f"| {r['bench']} | {ours} | {peer} | {ratio} | {_cell(r['target'])} | {met} |")
    return "\n".join(lines)


def write_docs(results: list[dict], info: dict, quick: bool) -> None:
    section = "\n".join(
        [
            BEGIN,
            f"Run of {info['date']} (`make bench`{' --quick' if quick else ''}), {info['seconds']:.0f} s in all.",
            f"Machine: {info['machine']['cores']} cores ({info['machine']['cpu'] or 'unknown CPU'}), "
            f"{info['machine']['memory_gb']} GB, Python {info['machine']['python']}, "
            f"load average at start {info['machine']['load_average_at_start']} "
            "(the machine was shared with other work: figures are noisy).",
            "",
            table(results),
            END,
        ]
    )
    text = DOCS.read_text() if DOCS.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    DOCS.write_text(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS)
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    parser.add_argument("--timeout", type=float, default=2400, help="seconds per benchmark")
    args = parser.parse_args(argv)
    started = time.monotonic()
    info = {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine()}
    results = []
    for name in args.only or BENCHMARKS:
        timeout = max(args.timeout, TIMEOUTS.get(name, 0))
        results.append(run_one(name, args.quick, timeout, options_for(name, results)))
    info["seconds"] = time.monotonic() - started
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / ("latest-quick.json" if args.quick else "latest.json")).write_text(
        json.dumps({**info, "results": results}, indent=2) + "\n"
    )
    if not args.no_docs:
        write_docs(results, info, args.quick)
    print("\n" + table(results))
    ran = all("error" not in r["figures"] for r in results)
    return 0 if ran else 1


if __name__ == "__main__":
    sys.exit(main())
