"""Bench settings: the product's settings, plus the peers' URLs and a per-request query counter.

Only the benchmark servers use this module; the product's own URLs never mount a peer.
"""

from cxhub.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
MIDDLEWARE = ["bench.middleware.QueryCountMiddleware", *MIDDLEWARE]  # noqa: F405
