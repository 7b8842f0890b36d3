"""The figures the trust tests report (checks, leaks, payloads, replays…), printed at the end of the run."""

from collections import Counter

FIGURES: Counter = Counter()
