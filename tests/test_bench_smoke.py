"""The benchmark harness imports and its pure helpers work (benchmarks themselves run with `make bench`)."""

import json
import math

from bench import growth, harness, run_all


def test_percentiles_interpolate_between_closest_ranks():
    # given latencies 1..100 ms
    values = [n / 1000 for n in range(1, 101)]
    # when the figures are computed
    figures = harness.latency_figures(values)
    # then p50 and p99 are the interpolated ranks, in milliseconds
    assert figures == {"p50_ms": 50.5, "p99_ms": 99.01, "max_ms": 100.0}
    assert math.isnan(harness.percentile([], 50))


def test_report_ends_with_the_one_json_line(capsys):
    # when a benchmark reports
    harness.report("demo", {"p99_ms": 3.0}, {"p99_ms": 30.0}, 10.0, {"ratio_min": 5}, True)
    # then its last line is the JSON the runner reads, with exactly the agreed keys
    last = capsys.readouterr().out.strip().splitlines()[-1]
    line = json.loads(last)
    assert list(line) == ["bench", "figures", "peer", "ratio", "target", "ok"]
    assert line["ratio"] == 10.0 and line["ok"] is True


def test_runner_knows_every_benchmark_and_renders_a_table():
    # given one result per benchmark
    results = [
        {"bench": name, "figures": {"x": 1}, "peer": {}, "ratio": None, "target": {}, "ok": False}
        for name in run_all.BENCHMARKS
    ]
    # when the docs table is rendered
    text = run_all.table(results)
    # then every benchmark has its row
    for name in run_all.BENCHMARKS:
        assert f"| {name} |" in text
    assert (harness.ROOT / "bench" / f"{run_all.BENCHMARKS[0]}.py").exists()


def test_growth_holds_rates_and_latencies_within_ten_percent():
    # given the empty database's figures
    empty = {key: 100.0 for key, _, _ in growth.GATES}
    empty["chat_roundtrip.lost"] = 0
    # when the grown database's are 8 % slower everywhere
    slower = {key: 92.0 if better == "higher" else 108.0 for key, better, _ in growth.GATES}
    slower["chat_roundtrip.lost"] = 0
    ratios, missed = growth.compare(empty, slower)
    # then every figure held, and the ratios are grown / empty
    assert missed == []
    assert ratios["chat_saturation.messages_per_s"] == 0.92 and ratios["chat_roundtrip.p99_ms"] == 1.08
    # and a rate 11 % lower, a p99 12 % higher or one message lost each miss
    worse = {**slower, "connections.connects_per_s": 89.0, "chat_roundtrip.p99_ms": 112.0, "chat_roundtrip.lost": 1}
    assert growth.compare(empty, worse)[1] == [
        "chat_roundtrip.p99_ms",
        "chat_roundtrip.lost",
        "connections.connects_per_s",
    ]
