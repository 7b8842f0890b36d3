"""survey_ingest: survey responses/s into the metric rollups, and answer → visible staleness.

Target (issue #8): at least 5,000 responses/s with a real Celery worker, staleness p99 under
5 s, beside a naive task per response recomputing from raw rows.

Not measured yet: driving it needs thousands of sent survey invitations (tokens) per second
of load and a poller of /api/v1/metrics/summary/; the seeder for that (bulk invitations for
resolved conversations, bypassing the widget) is the next piece of bench work. The script
reports "skipped" so `make bench` still runs end to end; docs/benchmarks.md says what is
missing.

    .venv/bin/python bench/survey_ingest.py [--quick]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

NAME = "survey_ingest"
TARGET = {"responses_per_s_min": 5000, "staleness_p99_s_max": 5}


def main(argv=None) -> dict:
    harness.parse_args(__doc__.splitlines()[0], argv)
    return harness.skipped(NAME, "not built yet: bulk survey-invitation seeder and summary poller", TARGET)


if __name__ == "__main__":
    main()
