"""Shared bench machinery: a production-like stack per run, a load driver's helpers, the report.

Every benchmark script does the same thing:

    with harness.Stack("conversation_list") as stack:   # fresh PostgreSQL database, migrated
        stack.call("bench.conversation_list:seed", n=...)  # Django code runs in a subprocess
        server = stack.server()                         # uvicorn, DEBUG=false, one process
        ...drive load from this process over 127.0.0.1...
    harness.report(name, figures, peer, ratio, target, ok)

The driving process never imports Django: the server, the seeding and the Celery worker are
child processes in their own process groups, stopped (SIGTERM, then SIGKILL) when the `with`
block ends for any reason, Ctrl-C and SIGTERM included. Redis keys are namespaced by run and
deleted at the end; the database is dropped.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import math
import os
import resource
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable

POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_BASE_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "13"))
HOST = "127.0.0.1"

_PR_SET_PDEATHSIG = 1


# --- small helpers -------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) by linear interpolation between closest ranks; nan if empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def latency_figures(seconds: Sequence[float], prefix: str = "") -> dict:
    """p50/p99/max in milliseconds, rounded for reading."""
    return {
        f"{prefix}p50_ms": round(percentile(seconds, 50) * 1000, 2),
        f"{prefix}p99_ms": round(percentile(seconds, 99) * 1000, 2),
        f"{prefix}max_ms": round(max(seconds) * 1000, 2) if seconds else math.nan,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def raise_open_files_limit(wanted: int) -> int:
    """Raise the soft `ulimit -n` towards `wanted` (children inherit it); returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_bytes(pid: int) -> int:
    """Resident set size of one process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def parse_args(description: str, argv: Sequence[str] | None = None, **extra: dict) -> argparse.Namespace:
    """`--quick` (under a minute, smaller numbers) plus any script-specific options."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="smaller numbers, under 60 s")
    parser.add_argument("--profile", action="store_true", help="sample the server with py-spy, print where time goes")
    for flag, options in extra.items():
        parser.add_argument(f"--{flag.replace('_', '-')}", **options)
    return parser.parse_args(argv)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _sigterm_as_interrupt() -> None:
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


# --- processes -----------------------------------------------------------------------------


@dataclass
class Process:
    """A child in its own process group; `stop()` ends the whole group."""

    name: str
    popen: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue


@dataclass
class Server:
    """A uvicorn process serving one ASGI app on 127.0.0.1."""

    process: Process
    port: int

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def http(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://{HOST}:{self.port}"

    def rss(self) -> int:
        return rss_bytes(self.pid)


@dataclass
class Stack:
    """One benchmark run's world: a fresh PostgreSQL database, a Redis namespace, processes."""

    name: str
    settings: str = "bench.settings"
    run_id: str = field(default_factory=lambda: f"{os.getpid()}_{secrets.token_hex(3)}")
    processes: list[Process] = field(default_factory=list)
    log_dir: Path = field(default_factory=lambda: Path(os.environ.get("BENCH_LOG_DIR", "/tmp/cxhub-bench")))

    @property
    def db_name(self) -> str:
        return f"cxhub_bench_{self.name}_{self.run_id}".lower()

    @property
    def prefix(self) -> str:
        return f"bench_{self.name}_{self.run_id}"

    def env(self, **overrides: str) -> dict[str, str]:
        """The environment of every child: production settings, this run's database and Redis."""
        base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": self.settings,
            "PYTHONPATH": str(ROOT),
            "DEBUG": "false",
            "SECRET_KEY": "bench-" + "k" * 50,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
            "SECURE_HSTS_SECONDS": "0",
            "DATABASE_URL": f"{base}/{self.db_name}",
            "REDIS_URL": f"{REDIS_BASE_URL}/{REDIS_DB}",
            "CHANNEL_LAYER_PREFIX": self.prefix,
            "CELERY_QUEUE": self.prefix,
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("CELERY_TASK_ALWAYS_EAGER", None)
        env.update(overrides)
        return env

    # context management: everything started is stopped, the database dropped
    def __enter__(self) -> Stack:
        _sigterm_as_interrupt()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._admin_sql(f'CREATE DATABASE "{self.db_name}"')
        try:
            self.manage("migrate", "--noinput", "-v0")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        with contextlib.suppress(Exception):
            self._admin_sql(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        with contextlib.suppress(Exception):
            self._redis_cleanup()

    def _admin_sql(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql)

    def _redis_cleanup(self) -> None:
        import redis

        client = redis.Redis.from_url(f"{REDIS_BASE_URL}/{REDIS_DB}")
        for pattern in (f"*{self.prefix}*", f"*{self.prefix.lower()}*"):
            keys = list(client.scan_iter(match=pattern, count=1000))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])
        client.close()

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Process:
        log_path = self.log_dir / f"{self.prefix}-{name}.log"
        log = open(log_path, "wb")  # noqa: SIM115  (closed with the process)
        popen = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env or self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        log.close()
        process = Process(name, popen, log_path)
        self.processes.append(process)
        return process

    def manage(self, *args: str, timeout: float = 600) -> None:
        subprocess.run(
            [PYTHON, "manage.py", *args], cwd=ROOT, env=self.env(), check=True, timeout=timeout, start_new_session=True
        )

    def call(self, target: str, timeout: float = 1800, **kwargs) -> object:
        """Run `module:function(**kwargs)` with Django set up, in a child; returns its JSON result."""
        module, function = target.split(":")
        code = (
            "import django, json, sys, importlib; django.setup(); "
            f"fn = getattr(importlib.import_module({module!r}), {function!r}); "
            "result = fn(**json.loads(sys.argv[1])); "
            "print('\\n@@RESULT@@' + json.dumps(result, default=str))"
        )
        proc = subprocess.Popen(
            [PYTHON, "-c", code, json.dumps(kwargs)],
            cwd=ROOT,
            env=self.env(),
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        try:
            out, _ = proc.communicate(timeout=timeout)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc.returncode != 0:
            raise RuntimeError(f"{target} failed with exit code {proc.returncode}")
        return json.loads(out.rsplit("@@RESULT@@", 1)[1])

    def server(
        self,
        app: str = "cxhub.asgi:application",
        *,
        name: str = "server",
        env: dict | None = None,
        wait_path: str | None = "/healthz",
    ) -> Server:
        """uvicorn, one process, uvloop + httptools, no access log: how production runs one worker."""
        port = free_port()
        argv = [
            PYTHON,
            "-m",
            "uvicorn",
            app,
            "--host",
            HOST,
            "--port",
            str(port),
            "--lifespan",
            "off",
            "--no-access-log",
            "--log-level",
            "warning",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            # websockets' sans-I/O protocol without per-message deflate: 22 KB per idle socket
            # instead of 127 KB (zlib state per socket) for the same chat frames; see
            # docs/benchmarks.md. This is the production command line we recommend.
            "--ws",
            "websockets-sansio",
            "--ws-per-message-deflate",
            "false",
            "--backlog",
            "4096",
        ]
        process = self.spawn(name, argv, env=self.env(**(env or {})))
        server = Server(process, port)
        wait_until_serving(server, wait_path)
        return server

    def worker(self, *, concurrency: int = 1, name: str = "worker", nice: int = 0) -> Process:
        """A real Celery worker on this run's queue; `nice` > 0 runs it below the server's priority
        (the chat benchmarks: metrics are background work, messages are interactive)."""
        argv = [
            *(["nice", "-n", str(nice)] if nice else []),
            PYTHON,
            "-m",
            "celery",
            "-A",
            "cxhub",
            "worker",
            "-l",
            "warning",
            "--concurrency",
            str(concurrency),
            "-Q",
            self.prefix,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        return self.spawn(name, argv)


def wait_until_serving(server: Server, path: str | None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.process.alive():
            raise RuntimeError(f"{server.process.name} exited:\n{server.process.log_tail()}")
        try:
            if path is None:
                with socket.create_connection((HOST, server.port), timeout=1):
                    return
            else:
                with urllib.request.urlopen(server.http + path, timeout=2) as response:
                    if response.status < 500:
                        return
        except OSError:
            pass
        except Exception as exc:  # urllib's HTTPError is an OSError; anything else: keep waiting
            if "HTTP Error 4" in str(exc):
                return
        time.sleep(0.2)
    raise RuntimeError(f"{server.process.name} did not serve within {timeout:.0f}s:\n{server.process.log_tail()}")


# --- reporting -----------------------------------------------------------------------------


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def print_table(title: str, rows: Iterable[tuple[str, object, object]]) -> None:
    """A three-column table: figure, cxhub, peer."""
    rows = list(rows)
    print(f"\n== {title}")
    width = max([len(r[0]) for r in rows] + [6])
    print(f"  {'figure'.ljust(width)}  {'cxhub':>14}  {'peer':>14}")
    for label, ours, theirs in rows:
        print(f"  {label.ljust(width)}  {_fmt(ours):>14}  {_fmt(theirs):>14}")


def report(name: str, figures: dict, peer: dict, ratio: float | None, target: dict, ok: bool) -> dict:
    """Print the figures side by side, then the one JSON line run_all.py and CI read."""
    keys = list(dict.fromkeys([*figures, *peer]))
    print_table(name, [(k, figures.get(k, "-"), peer.get(k, "-")) for k in keys])
    print(f"  ratio {_fmt(ratio)}  target {json.dumps(target)}  ok {ok}", flush=True)

    def clean(value):
        if isinstance(value, float) and math.isnan(value):
            return None
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    figures, peer = clean(figures), clean(peer)
    line = {
        "bench": name,
        "figures": figures,
        "peer": peer,
        "ratio": None if ratio is None or (isinstance(ratio, float) and math.isnan(ratio)) else round(ratio, 3),
        "target": target,
        "ok": bool(ok),
    }
    print(json.dumps(line), flush=True)
    return line


def skipped(name: str, reason: str, target: dict) -> dict:
    """What a benchmark reports when the product part it measures is not there yet."""
    print(f"{name}: not measured: {reason}", flush=True)
    return report(name, {"skipped": reason}, {}, None, target, False)


# --- profiling -----------------------------------------------------------------------------


@contextlib.contextmanager
def profiled(stack: Stack, server: Server, enabled: bool, *, label: str = "server"):
    """Sample `server` with py-spy while the block runs; print where its time went afterwards."""
    if not enabled:
        yield None
        return
    out = stack.log_dir / f"{stack.prefix}-{label}.pyspy.txt"
    spy = str(Path(PYTHON).with_name("py-spy"))
    # --gil: samples of the thread holding the GIL only, so idle pool threads do not hide the work
    argv = [spy, "record", "--gil", "--pid", str(server.pid), "--format", "raw", "--rate", "250", "-o", str(out)]
    process = stack.spawn(f"py-spy-{label}", argv)
    try:
        yield out
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.popen.wait(30)
        process.stop()
        if out.exists():
            print(f"\n-- where {label}'s time went (py-spy, {out})")
            print(summarize_profile(out))


OUR_CODE = ("chat/", "feedback/", "cxhub/", "integrations/", "bench/")


def _frame(frame: str) -> tuple[str, str]:
    """('function', 'path') from py-spy's 'function (path:line)'."""
    name, _, where = frame.rpartition(" (")
    return name, where.rsplit(":", 1)[0]


def summarize_profile(path: Path, top: int = 12) -> str:
    """Where the samples went: leaf time by library, and inclusive time of our own functions."""
    by_layer: dict[str, int] = {}
    ours: dict[str, int] = {}
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame(f) for f in stack_text.split(";")]
        leaf_path = frames[-1][1]
        parts = leaf_path.split("/")
        layer = "/".join(parts[:2]) if parts[0] in {"django", "asgiref", "channels"} else parts[0]
        by_layer[layer] = by_layer.get(layer, 0) + count
        seen = set()
        for name, where in frames:
            if where.startswith(OUR_CODE) and (name, where) not in seen:
                seen.add((name, where))
                key = f"{where}:{name}"
                ours[key] = ours.get(key, 0) + count
    if not total:
        return "  (no samples)"
    lines = [f"  {total} samples; leaf time by module:"]
    for name, count in sorted(by_layer.items(), key=lambda item: -item[1])[:top]:
        lines.append(f"    {100 * count / total:5.1f}%  {name}")
    lines.append("  our functions, inclusive:")
    for name, count in sorted(ours.items(), key=lambda item: -item[1])[:top]:
        lines.append(f"    {100 * count / total:5.1f}%  {name}")
    return "\n".join(lines)
