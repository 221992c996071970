"""The warehouse: one SQLAlchemy engine, DuckDB by default, PostgreSQL in production.

Resolution order for the URL (a SQLAlchemy URL):

1. the environment variable ``SELLEROPS_WAREHOUSE_URL``;
2. the Airflow connection ``sellerops_warehouse`` (a Postgres connection, or any
   connection whose extra holds ``{"sqlalchemy_url": "..."}``);
3. ``duckdb:///<project>/data/sellerops.duckdb``.

DuckDB allows one writing process per file. Every DuckDB session goes through
:func:`session`, which holds an exclusive file lock (``<file>.lock``) for its
duration, so parallel Airflow tasks or a CLI run next to the scheduler wait
for each other instead of failing with DuckDB's lock error. The DAGs also run
warehouse tasks in the ``sellerops_warehouse`` pool (one slot on DuckDB).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url

from sellerops.paths import data_dir

log = logging.getLogger(__name__)

URL_ENV = "SELLEROPS_WAREHOUSE_URL"
CONN_ID = "sellerops_warehouse"
POOL = "sellerops_warehouse"
SCHEMAS = ("raw", "core", "marts", "ops")


class WarehouseConfigError(RuntimeError):
    pass


def default_url() -> str:
    return f"duckdb:///{data_dir() / 'sellerops.duckdb'}"


def resolve_url(url: str | None = None) -> URL:
    """Return the warehouse URL from the argument, the environment, Airflow, or the default."""
    text = url or os.environ.get(URL_ENV) or _url_from_airflow() or default_url()
    try:
        parsed = make_url(text)
    except sa.exc.ArgumentError as exc:
        raise WarehouseConfigError(f"not a SQLAlchemy URL: {_redact(text)}") from exc
    if parsed.drivername in ("postgres", "postgresql", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("duckdb", "postgresql"):
        raise WarehouseConfigError(
            f"unsupported warehouse {parsed.get_backend_name()!r}: use duckdb or postgresql"
        )
    return parsed


def _redact(text: str) -> str:
    try:
        return make_url(text).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - unparseable text: show nothing of it
        return "<unparseable>"


def _url_from_airflow() -> str | None:
    if os.environ.get("SELLEROPS_NO_AIRFLOW_CONNECTIONS"):
        return None
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(CONN_ID)
    except Exception:  # noqa: BLE001 - no such connection or no Airflow context
        return None
    extra = conn.extra_dejson or {}
    from sellerops.masking import mask_connection

    mask_connection(conn, extra)
    if extra.get("sqlalchemy_url"):
        return extra["sqlalchemy_url"]
    return conn.get_uri()


@dataclass
class Warehouse:
    """An engine plus what the loaders need to know about its dialect."""

    engine: Engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_duckdb(self) -> bool:
        return self.dialect == "duckdb"

    @property
    def url(self) -> URL:
        return self.engine.url

    def describe(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction; on DuckDB also the cross-process writer lock."""
        with _file_lock(self), self.engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        with _file_lock(self), self.engine.connect() as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for a PostgreSQL advisory lock named ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def xact_lock(conn: Connection, name: str) -> None:
    """Wait for the advisory lock ``name``, held until ``conn``'s transaction ends.

    PostgreSQL only (DuckDB's writer lock already serialises writers). Take it first
    in a READ COMMITTED transaction: later statements then see what the previous
    holder committed.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(name)})


@contextlib.contextmanager
def exclusive(warehouse: Warehouse, name: str) -> Iterator[None]:
    """Hold the advisory lock ``name`` on a connection of its own while the block runs.

    For REPEATABLE READ transactions, whose snapshot would be taken by the statement
    that waits for an in-transaction lock (too early). The lock goes with the
    connection if the process dies. A no-op on DuckDB.
    """
    if warehouse.is_duckdb:
        yield
        return
    with warehouse.engine.connect() as conn:
        started = time.monotonic()
        xact_lock(conn, name)
        waited = time.monotonic() - started
        if waited > 1:
            log.info("waited %.1f s for the lock %s", waited, name)
        yield


def duckdb_path(url: URL) -> Path | None:
    if url.get_backend_name() != "duckdb" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


@contextlib.contextmanager
def _file_lock(warehouse: Warehouse) -> Iterator[None]:
    path = duckdb_path(warehouse.url)
    if path is None:
        yield
        return
    lock_path = path.with_name(path.name + ".lock")
    with open(lock_path, "a+") as handle:
        started = time.monotonic()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for the DuckDB writer lock on %s", path)
            fcntl.flock(handle, fcntl.LOCK_EX)
            log.info("got the DuckDB writer lock after %.1f s", time.monotonic() - started)
        try:
            # The DuckDB engine uses NullPool: its connection, and DuckDB's own file
            # lock, are released when the session ends, before ours is.
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def connect(url: str | None = None) -> Warehouse:
    """Build the warehouse for ``url`` (or the configured one)."""
    parsed = resolve_url(url)
    if parsed.get_backend_name() == "duckdb":
        path = duckdb_path(parsed)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, poolclass=sa.pool.NullPool)
    else:
        engine = sa.create_engine(parsed, pool_pre_ping=True)
    return Warehouse(engine)
