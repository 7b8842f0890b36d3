"""Database helpers the ORM lacks, and whether the database answers (outages)."""

import json
import logging
import threading
import time
from collections.abc import Sequence

from django.db import InterfaceError, OperationalError, connection
from django.db.models import JSONField, Model

ROWS_PER_STATEMENT = 1000


class PreparedQuery:
    """A queryset built and compiled once per database, then run with other values.

    Building and compiling a query with subqueries costs the ORM about a millisecond of Python
    (most of a widget connect's CPU went there: docs/benchmarks.md, connections). `build(**values)`
    makes the queryset; it is built once with a placeholder for each value (`placeholders`: values
    that occur nowhere else in the query), compiled, and the placeholders' positions among the
    parameters remembered. `first(**values)` runs that SQL with the values put in their places
    and returns the first row as the database gives it (no ORM converters: booleans may come as
    0/1 on SQLite)."""

    def __init__(self, build, **placeholders):
        self.build = build
        self.placeholders = placeholders
        self.compiled: dict[str, tuple[str, list, dict[int, str]]] = {}

    def _compile(self, conn) -> tuple[str, list, dict[int, str]]:
        sql, params = self.build(**self.placeholders).query.get_compiler(connection=conn).as_sql()
        by_value = {(type(value), value): name for name, value in self.placeholders.items()}
        slots = {i: by_value[(type(p), p)] for i, p in enumerate(params) if (type(p), p) in by_value}
        if set(slots.values()) != set(self.placeholders):
            raise ValueError("a placeholder is missing from the query's parameters")
        return sql, list(params), slots

    def first(self, **values):
        conn = connection
        key = conn.vendor
        if key not in self.compiled:
            self.compiled[key] = self._compile(conn)
        sql, params, slots = self.compiled[key]
        params = list(params)
        for index, name in slots.items():
            params[index] = values[name]
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()


def update_rows(rows: Sequence[Model], names: Sequence[str]) -> None:
    """Save these fields of these rows: what `bulk_update` does, for a fraction of its cost.

    `bulk_update` builds one statement with a CASE per field over every row; for hundreds of
    rows building it costs more than running it (most of the metrics pipeline's time went
    there). On PostgreSQL this is one `UPDATE … FROM unnest(arrays)` per thousand rows;
    elsewhere one plain UPDATE per row, sent as one `executemany`. Values are
    prepared by their fields, as the ORM prepares them.
    """
    if not rows:
        return
    meta = type(rows[0])._meta
    fields = [meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    postgres = connection.vendor == "postgresql"
    # On PostgreSQL a JSON value goes as its text (json.dumps, cast to jsonb in the statement): an
    # array of psycopg's Jsonb wrappers costs several times more to send.
    as_text = {f.name for f in fields if postgres and isinstance(f, JSONField) and f.encoder is None}

    def prepared(field, row):
        value = getattr(row, field.attname)
        if field.name in as_text:
            return None if value is None else json.dumps(value)
        return field.get_db_prep_save(value, connection)

    values = [[*(prepared(f, row) for f in fields), row.pk] for row in rows]
    with connection.cursor() as cursor:
        if not postgres:
            assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
            cursor.executemany(f"UPDATE {table} SET {assignments} WHERE {pk} = %s", values)
            return
        # One array per column: the statement stays short (parsed once, here and in PostgreSQL).
        columns = [*fields, meta.pk]
        arrays = ", ".join(
            f"%s::{'text' if f.name in as_text else f.cast_db_type(connection)}[]" for f in columns
        )  # fmt: skip
        names_sql = ", ".join(quote(f.column) for f in columns)
        assignments = ", ".join(
            f"{quote(f.column)} = v.{quote(f.column)}{'::jsonb' if f.name in as_text else ''}" for f in fields
        )
        sql = f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS v({names_sql}) WHERE {table}.{pk} = v.{pk}"
        for start in range(0, len(values), ROWS_PER_STATEMENT):
            chunk = values[start : start + ROWS_PER_STATEMENT]
            cursor.execute(sql, [list(column) for column in zip(*chunk, strict=True)])


# --- is the database answering? (docs/operations.md, "PostgreSQL outage") ----------------------
#
# A connection that fails (PostgreSQL restarting, failing over, unreachable) is an outage, not a
# bug: callers answer "unavailable, try again" (a socket's retryable error frame, HTTP 503 with
# Retry-After) and nothing is half-written, because every write is one transaction. While the
# database is down, sockets fail fast instead of queueing their worker threads behind a pool that
# has no connection to give: one caller a second probes it, the others are told to retry.

# SQLSTATE classes of a lost or refused connection: 08 (connection exception), 57P01–57P03
# (administrator or crash shutdown, cannot connect now).
OUTAGE_SQLSTATES = ("08", "57P01", "57P02", "57P03")
PROBE_SECONDS = 1.0
PROBE_TIMEOUT_SECONDS = 2.0

logger = logging.getLogger(__name__)


class _Availability:
    def __init__(self):
        self.down_since: float | None = None
        self.next_probe_at = 0.0
        self.probing = False
        self.lock = threading.Lock()


_availability = _Availability()


def is_outage(error: BaseException) -> bool:
    """Whether this error means the database cannot be reached (not a bad query or a deadlock)."""
    if not isinstance(error, OperationalError | InterfaceError):
        return False
    if connection.vendor != "postgresql":
        return False  # SQLite's OperationalError is a lock or a bad file, not an outage
    cause = error.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith(OUTAGE_SQLSTATES)


def database_down() -> bool:
    return _availability.down_since is not None


def outage_seen(error: BaseException | None = None) -> None:
    """Record that the database did not answer (the first time: a warning in the log)."""
    with _availability.lock:
        if _availability.down_since is None:
            _availability.down_since = time.monotonic()
            _availability.next_probe_at = time.monotonic() + PROBE_SECONDS
            logger.warning("database unreachable (%s): answering 'unavailable, retry' meanwhile", error)


def database_answered() -> None:
    if _availability.down_since is None:
        return
    with _availability.lock:
        if _availability.down_since is not None:
            logger.warning("database answers again after %.1f s", time.monotonic() - _availability.down_since)
            _availability.down_since = None


def connection_failed(error: BaseException) -> None:
    """A connection failed (`is_outage`): the database is down only if a fresh one fails too.

    After a restart the pool and the threads still hold connections the old server cut; each
    fails once. Asking again tells such a leftover from an outage, so one stale connection does
    not make every caller wait for the next probe."""
    database_ping(check_pool=True)


def database_ping(timeout: float = PROBE_TIMEOUT_SECONDS, *, check_pool: bool = False) -> bool:
    """`SELECT 1` within `timeout` s (through the pool when there is one; after a failure its
    broken idle connections are dropped first, so the work that follows gets a live one);
    records what it found."""
    try:
        pool = connection.pool if connection.vendor == "postgresql" else None
        if pool is not None:
            pool.open()  # as Django does on first use (a no-op once open)
            if check_pool or database_down():
                pool.check()  # drop the connections the outage cut before handing one out
            with pool.connection(timeout=timeout) as raw:
                raw.execute("SELECT 1")
        else:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
    except Exception as error:  # refused, reset, timed out: all of them mean "not now"
        outage_seen(error)
        return False
    database_answered()
    return True


def database_usable() -> bool:
    """False while the database is known down, except for one caller a second, which probes it."""
    if _availability.down_since is None:
        return True
    with _availability.lock:
        now = time.monotonic()
        if _availability.probing or now < _availability.next_probe_at:
            return False
        _availability.probing = True
        _availability.next_probe_at = now + PROBE_SECONDS
    try:
        return database_ping()
    finally:
        _availability.probing = False
