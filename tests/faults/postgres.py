"""A PostgreSQL cluster of a test's own (Debian's pg_createcluster), to stop and start at will."""

import subprocess
import time
import uuid
from pathlib import Path

import psycopg

from tests.chat.channel_helpers import free_port
from tests.servers import run_database_url


def postgres_version() -> str:
    """The installed server's major version (/etc/postgresql/<version>)."""
    versions = sorted(Path("/etc/postgresql").iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else 0)
    return versions[-1].name


class OwnPostgres:
    """`pg_createcluster VERSION NAME -p PORT --start -- --auth=trust`, dropped by `drop()`."""

    def __init__(self, database: str):
        self.version = postgres_version()
        self.name = f"faults_{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.database = database

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{self.database}"

    def create(self) -> None:
        subprocess.run(
            ["pg_createcluster", self.version, self.name, "-p", str(self.port), "--start", "--", "--auth=trust"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        self.wait()
        with psycopg.connect(self.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')

    def copy_test_database(self) -> None:
        """The test database (schema and rows) into ours: faster than running every migration."""
        dump = subprocess.run(
            ["pg_dump", "--no-owner", "--no-privileges", run_database_url()],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", self.url], input=dump.stdout, check=True,
                       capture_output=True, timeout=120)  # fmt: skip

    def stop(self) -> None:
        subprocess.run(["pg_ctlcluster", self.version, self.name, "stop", "-m", "fast"], check=True, timeout=60)

    def start(self) -> None:
        subprocess.run(["pg_ctlcluster", self.version, self.name, "start"], check=True, timeout=60)
        self.wait()

    def wait(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port)]).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL cluster {self.name} did not start")
            time.sleep(0.2)

    def drop(self) -> None:
        subprocess.run(["pg_dropcluster", self.version, self.name, "--stop"], capture_output=True, timeout=60)

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.url) as conn:
            return conn.execute(sql, params).fetchall()
