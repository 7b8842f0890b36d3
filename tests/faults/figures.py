"""The figures the fault tests measure (lost, duplicated, latencies, memory…), printed at the end of the run."""

FIGURES: dict = {}
