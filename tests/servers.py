"""Real cxhub servers in subprocesses, for the tests that need whole processes (scale-out, chaos)."""

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

from cxhub.websocket_protocol import UVICORN_WS

ROOT = Path(__file__).resolve().parent.parent


def run_database_url() -> str:
    """The PostgreSQL URL of the database this test run uses (a server process must use it too)."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return url.replace("@", f":{db['PASSWORD']}@", 1) if db.get("PASSWORD") else url


def wait_port(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@contextmanager
def uvicorn_server(port: int, *, env: dict, log: Path):
    """`uvicorn cxhub.asgi:application` on 127.0.0.1:`port` until the block ends (SIGTERM, then SIGKILL)."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "cxhub.asgi:application", "--host", "127.0.0.1", "--port", str(port),
             "--lifespan", "off", "--log-level", "warning", "--ws", UVICORN_WS],
            cwd=ROOT, env={**os.environ, **env}, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            wait_port(port)
            yield process
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
