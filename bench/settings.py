"""Bench settings: the product's settings with the peers' URLs mounted beside the product's.

Only the benchmark servers use this module; the product's own URLs never mount a peer.
"""

from cxhub.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"

# The peers' Celery tasks (bench/peers/survey_rollup.py), for the bench worker only.
CELERY_IMPORTS = ["bench.peers.survey_rollup"]
