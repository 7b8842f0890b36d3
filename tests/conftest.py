"""Shared fixtures. Real services are used when their URL is set; otherwise those tests skip."""

import faulthandler
import os
import subprocess
import time
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from tests.browser import chromium, new_page  # noqa: F401 - fixtures for every browser test

requires_postgres = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL"), reason="needs PostgreSQL: set DATABASE_URL (CI's second run does)"
)
requires_redis = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="needs Redis: set REDIS_URL (CI's second run does)"
)


def wait_for(predicate, *, timeout: float = 60):
    """Poll until `predicate()` is truthy (something a real worker or server does), and return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s")


def pytest_sessionstart(session):
    """Translations are served from compiled catalogues: compile the ones older than their .po
    (`make test` does it before; this covers a bare `pytest`), as `make messages` would."""
    locale = Path(__file__).resolve().parents[1] / "locale"
    for po in locale.glob("*/LC_MESSAGES/*.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            subprocess.run(["msgfmt", "--check-format", "-o", str(mo), str(po)], check=True)


def pytest_unconfigure(config):
    """If the process has not ended two minutes after the session (a thread left waiting: the
    interpreter joins them at exit), print every thread's stack and exit 1, instead of a CI run
    that hangs until its time limit without saying where."""
    faulthandler.dump_traceback_later(120, exit=True)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Browser tests run last: Playwright's sync API keeps an event loop running in the main
    thread for the rest of the session, and Django refuses ORM calls from a running loop."""

    def is_browser(item) -> bool:
        path = str(item.fspath).replace(os.sep, "/")
        return item.get_closest_marker("browser") is not None or "/tests/e2e/" in path

    items.sort(key=is_browser)  # stable: the order within each group is kept


@pytest.fixture(autouse=True)
def _celery_eager_unless_real_worker(request):
    """Tasks run in-process unless a test asks for a real worker (`@pytest.mark.real_worker`)."""
    from cxhub.celery import app

    eager = request.node.get_closest_marker("real_worker") is None
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = eager
    yield
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Factories give every user a password; hashing it slowly is not what any test measures."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """`with committed(): ...` runs what the block scheduled on commit (broadcasts, eager tasks)."""

    def block():
        return django_capture_on_commit_callbacks(execute=True)

    return block


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
def live_server_url(transactional_db, request, settings):
    """A real ASGI server (uvicorn, HTTP + websockets) on a free port; yields "http://127.0.0.1:<port>".

    It serves `cxhub.asgi:application` from a background thread of the pytest process, against
    the test database (SQLite file or PostgreSQL, whichever the run uses) and the configured
    channel layer (in-memory without REDIS_URL, Redis with it). Because it shares the process,
    broadcasts made by services the test calls directly reach its sockets in both modes.
    Data must be committed to be seen by the server: the fixture uses `transactional_db`, so
    objects created by factories in the test are visible. A test marked `scheduler` gets the
    server as `make run` starts it: with the ASGI lifespan and the in-process beat schedule
    (cxhub/scheduler.py: snooze wake-ups, survey delays and expiry, webhook retries on time). Websockets are at
    "ws://127.0.0.1:<port>/ws/..."; origin-checked endpoints accept an Origin equal to this
    URL when it is in the inbox's `allowed_origins` (and 127.0.0.1/localhost are allowed hosts).
    """
    import socket
    import threading
    import time

    import uvicorn
    from django.db import connections

    from cxhub.asgi import application
    from cxhub.websocket_protocol import UVICORN_WS

    # Server threads must not keep connections open past a request: the test database is
    # flushed after the test and dropped at the end of the run.
    previous_max_age = {alias: connections.settings[alias].get("CONN_MAX_AGE", 0) for alias in connections}
    for alias in connections:
        connections.settings[alias]["CONN_MAX_AGE"] = 0

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with_scheduler = request.node.get_closest_marker("scheduler") is not None
    settings.SCHEDULER_IN_PROCESS = with_scheduler
    config = uvicorn.Config(
        application,
        host="127.0.0.1",
        port=port,
        lifespan="on" if with_scheduler else "off",
        log_level="warning",
        ws=UVICORN_WS,
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


class CeleryWorkerProcess:
    """A real `celery -A cxhub worker` subprocess on the test database, the same Redis and queue.

    `start()` launches it (and waits until it is ready), `kill()` sends SIGKILL to its whole
    process group (no warm shutdown: unacknowledged tasks stay with the broker), `stop()` ends it.
    """

    def __init__(self, database_name: str, log_dir):
        import sys
        from pathlib import Path

        url = os.environ["DATABASE_URL"]
        base, _, _ = url.rpartition("/")
        self.env = {
            **os.environ,
            "DATABASE_URL": f"{base}/{database_name}",
            "CELERY_TASK_ALWAYS_EAGER": "false",
        }
        self.celery = str(Path(sys.executable).with_name("celery"))
        self.queue = os.environ.get("CELERY_QUEUE", "cxhub")
        self.log_dir = Path(log_dir)
        self.process = None
        self.starts = 0

    def start(self, *, concurrency: int = 4, timeout: float = 30, beat: bool = False) -> None:
        """`beat=True` runs beat inside the worker too (`-B`, as `make worker` does)."""
        import subprocess
        import time

        self.starts += 1
        log = self.log_dir / f"worker-{self.starts}.log"
        self.log_path = log
        with_beat = ["-B", "--schedule", str(self.log_dir / "beat-schedule")] if beat else []
        self.process = subprocess.Popen(
            [self.celery, "-A", "cxhub", "worker", "-l", "info", "-Q", self.queue, "--concurrency", str(concurrency),
             "--without-gossip", "--without-mingle", "--without-heartbeat",
             "-n", f"test-{os.getpid()}-{self.starts}@%h", *with_beat],
            env=self.env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited: {log.read_text()[-2000:]}")
            if b"ready." in log.read_bytes():
                return
            time.sleep(0.2)
        raise RuntimeError(f"celery worker not ready after {timeout}s: {log.read_text()[-2000:]}")

    def kill(self) -> None:
        import signal

        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        import signal
        import subprocess

        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # warm shutdown: the main process stops its pool
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path):
    """A real Celery worker for `@pytest.mark.real_worker` tests (needs DATABASE_URL and REDIS_URL).

    The test's data must be committed (this fixture asks for `transactional_db`) for the worker
    to see it. Call `.start()`; the worker is stopped before the database is flushed.
    """
    from django.db import connection

    name = connection.settings_dict["NAME"]
    if connection.vendor == "postgresql":
        # A throwaway database: commits need not wait for the disk (much faster on a busy machine).
        with connection.cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{name}" SET synchronous_commit TO off')
            cursor.execute("SET synchronous_commit TO off")
    worker = CeleryWorkerProcess(name, tmp_path)
    yield worker
    worker.stop()
