"""Processes the fault tests start and stop themselves: uvicorn servers and an nginx in front."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from cxhub.websocket_protocol import UVICORN_WS
from tests.servers import ROOT, wait_port


class Uvicorn:
    """`uvicorn cxhub.asgi:application` on 127.0.0.1:`port`, stopped with SIGTERM like a deploy does."""

    def __init__(self, port: int, *, env: dict, log: Path, graceful_seconds: int = 10, args: tuple = ()):
        self.port, self.env, self.log, self.graceful_seconds, self.args = port, env, log, graceful_seconds, args
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "cxhub.asgi:application", "--host", "127.0.0.1",
                 "--port", str(self.port), "--lifespan", "off", "--log-level", "warning", "--ws", UVICORN_WS,
                 "--timeout-graceful-shutdown", str(self.graceful_seconds), *self.args],
                cwd=ROOT, env={**os.environ, **self.env, "SHUTDOWN_TIMEOUT": str(self.graceful_seconds)},
                stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        wait_port(self.port, timeout=60)

    def terminate(self, timeout: float = 60) -> float:
        """SIGTERM (to the server process only, as a process manager sends it); seconds until it exited."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise AssertionError(f"uvicorn on {self.port} did not stop within {timeout} s") from None
        return time.monotonic() - started

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


NGINX_CONF = """
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream cxhub {{
{servers}
    }}
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://cxhub;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 1h;
            # a process that is restarting refuses connections: try the other one
            proxy_next_upstream error timeout http_502 http_503;
            proxy_connect_timeout 2s;
        }}
    }}
}}
"""


def nginx_binary() -> str:
    """Debian's nginx, installed by `make proxy` when missing (apt-get update first)."""
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        subprocess.run(["make", "-s", "proxy"], cwd=ROOT, check=True, timeout=600)
    return shutil.which("nginx") or "/usr/sbin/nginx"


class Nginx:
    """nginx on 127.0.0.1:`port` in front of the upstream ports, websockets passed through."""

    def __init__(self, port: int, upstreams: list[int], prefix: Path):
        self.port, self.prefix = port, prefix
        prefix.mkdir(parents=True, exist_ok=True)
        servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=0;" for p in upstreams)
        (prefix / "nginx.conf").write_text(NGINX_CONF.format(prefix=prefix, servers=servers, port=port))
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        binary = nginx_binary()
        conf = self.prefix / "nginx.conf"
        subprocess.run([binary, "-t", "-q", "-p", str(self.prefix), "-c", str(conf)], check=True, timeout=30)
        self.process = subprocess.Popen(
            [binary, "-p", str(self.prefix), "-c", str(conf), "-g", "daemon off;"], start_new_session=True
        )
        wait_port(self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
