"""Benchmarks: one script per figure of issue #8, run together by `make bench` (bench/run_all.py)."""
