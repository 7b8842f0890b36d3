"""Shared fixtures. Real services are used when their URL is set; otherwise those tests skip."""

import os

import pytest
from rest_framework.test import APIClient

requires_postgres = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL"), reason="needs PostgreSQL: set DATABASE_URL (CI's second run does)"
)
requires_redis = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="needs Redis: set REDIS_URL (CI's second run does)"
)


@pytest.fixture(autouse=True)
def _celery_eager_unless_real_worker(request):
    """Tasks run in-process unless a test asks for a real worker (`@pytest.mark.real_worker`)."""
    from cxhub.celery import app

    eager = request.node.get_closest_marker("real_worker") is None
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = eager
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def api():
    """An API client; `api.force_authenticate(user)` to act as someone."""
    return APIClient()


@pytest.fixture
def as_user(api):
    def login(user):
        api.force_authenticate(user)
        return api

    return login


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def live_server_url(transactional_db):
    """A real ASGI server (uvicorn, HTTP + websockets) on a free port; yields "http://127.0.0.1:<port>".

    It serves `cxhub.asgi:application` from a background thread of the pytest process, against
    the test database (SQLite file or PostgreSQL, whichever the run uses) and the configured
    channel layer (in-memory without REDIS_URL, Redis with it). Because it shares the process,
    broadcasts made by services the test calls directly reach its sockets in both modes.
    Data must be committed to be seen by the server: the fixture uses `transactional_db`, so
    objects created by factories in the test are visible. Websockets are at
    "ws://127.0.0.1:<port>/ws/..."; origin-checked endpoints accept an Origin equal to this
    URL when it is in the inbox's `allowed_origins` (and 127.0.0.1/localhost are allowed hosts).
    """
    import socket
    import threading
    import time

    import uvicorn
    from django.db import connections

    from cxhub.asgi import application

    # Server threads must not keep connections open past a request: the test database is
    # flushed after the test and dropped at the end of the run.
    previous_max_age = {alias: connections.settings[alias].get("CONN_MAX_AGE", 0) for alias in connections}
    for alias in connections:
        connections.settings[alias]["CONN_MAX_AGE"] = 0

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        application,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        ws="websockets-sansio",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        for alias, max_age in previous_max_age.items():
            connections.settings[alias]["CONN_MAX_AGE"] = max_age
