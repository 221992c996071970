"""Shared pieces of the fault matrix and the concurrency tests.

* a tiny sandbox partition and the ingest of it (in this process or in a spawned one);
* deterministic kill points: a spawned worker that reaches one writes a marker file
  and sleeps, so the test can SIGKILL it exactly there (``PAUSE_ENV``);
* table snapshots (row content without the run-specific columns) to compare a run
  with a clean one;
* throwaway PostgreSQL databases beside the one the warehouse fixtures give.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from sellerops import datasets, ingest, migrations, warehouse
from sellerops.accounts import load_accounts
from sellerops.sources.spapi import SpApiCredentials, SpApiSession
from tests.fixtures.warehouse import PG_ADMIN_URL
from tests.test_ingest_faults import _tables as core_tables  # noqa: F401 - re-exported

PEPPER = b"fault-matrix"
ACCOUNT, MARKETPLACE = "acme-outdoor", "ATVPDKIKX0DER"
# The Orders API, the Finances API and the mailbox: no report polling, so a run is quick.
# The report faults (FATAL, corrupt and truncated documents) are covered by
# tests/test_ingest_faults.py.
GROUPS = ("orders", "refunds", "messages")
DATASETS = {
    "orders": datasets.ORDERS,
    "order_items": datasets.ORDER_ITEMS,
    "refunds": datasets.REFUNDS,
    "messages": datasets.MESSAGES,
}
# Columns that name the run, not the data: the batch that last wrote a row and when.
RUN_COLUMNS = frozenset({"batch_id", "loaded_at", "run_id", "extracted_at"})

PAUSE_ENV = "SELLEROPS_TEST_PAUSE_AT"
MARKER_ENV = "SELLEROPS_TEST_PAUSE_MARKER"


# -- running an ingest ----------------------------------------------------------------


def session_for(account) -> SpApiSession:
    return SpApiSession(
        account.account_id,
        SpApiCredentials.from_connection(account.spapi_conn_id),
        timeout=5.0,
        base_delay=0.2,
    )


def run_ingest(wh, accounts_file, start: datetime, end: datetime, groups=GROUPS):
    account = load_accounts(accounts_file).get(ACCOUNT)
    return ingest.ingest_window(
        wh,
        account,
        MARKETPLACE,
        start,
        end,
        groups=list(groups),
        pepper=PEPPER,
        spapi_session=session_for(account),
    )


def run_build(wh, accounts_file, catalog):
    from sellerops.models.runner import build

    return build(wh, accounts=load_accounts(accounts_file), catalog_path=catalog)


def run_tags(wh):
    from sellerops.tags import load_rules, materialise_tags

    return materialise_tags(wh, load_rules())


# -- kill points ---------------------------------------------------------------------


def _pause() -> None:
    """Announce the kill point and wait to be killed."""
    Path(os.environ[MARKER_ENV]).write_text(str(os.getpid()), encoding="utf-8")
    time.sleep(600)
    os._exit(3)  # never killed: the parent fails on the exit code


def install_pause(
    point: str, on_reach: Callable[..., None] | None = None, patch: Callable = setattr
) -> None:
    """Make ``point`` stop the process (or call ``on_reach(conn)``) when reached.

    Points: ``merge:<dataset>`` -- inside the load transaction of that dataset, after
    the raw append and the MERGE into core ran, before the audit row and the commit;
    ``committed:<dataset>`` -- right after that dataset's batch committed, before the
    next batch; ``model:<schema.table>`` -- inside the build transaction, before that
    model is built; ``tags`` -- inside the tag transaction, before the daily counts.
    """
    from sellerops import load
    from sellerops.models import runner
    from sellerops.tags import materialise

    kind, _, name = point.partition(":")
    hit = on_reach or (lambda conn=None: _pause())
    if kind == "merge":
        real_insert = load._insert_validation_run

        def insert_validation_run(conn, run):
            real_insert(conn, run)
            if run["dataset"] == name:
                hit(conn)

        patch(load, "_insert_validation_run", insert_validation_run)
    elif kind == "committed":
        real_load = ingest.load_batch

        def load_batch(wh, dataset, *args, **kwargs):
            audit = real_load(wh, dataset, *args, **kwargs)
            if dataset.name == name:
                hit(None)
            return audit

        patch(ingest, "load_batch", load_batch)
    elif kind == "model":
        real_run = runner._run_model

        def run_model(conn, model, *args, **kwargs):
            if model.name == name:
                hit(conn)
            return real_run(conn, model, *args, **kwargs)

        patch(runner, "_run_model", run_model)
    elif kind == "tags":
        real_counts = materialise._write_counts

        def write_counts(conn, *args, **kwargs):
            hit(conn)
            return real_counts(conn, *args, **kwargs)

        patch(materialise, "_write_counts", write_counts)
    else:
        raise ValueError(f"unknown kill point {point!r}")


def _child(task: str, url: str, accounts_file: str, args: tuple, go_file: str | None) -> None:
    """A spawned worker: ``ingest`` (start, end ISO), ``build`` (catalog) or ``tags``."""
    if os.environ.get(PAUSE_ENV):
        install_pause(os.environ[PAUSE_ENV])
    wh = warehouse.connect(url)
    if go_file:  # start together with the other worker (imports done)
        if task == "ingest":  # the slow import (validation), done before the start
            import sellerops.validation.validate  # noqa: F401
        from sellerops.models import runner  # noqa: F401

        Path(go_file + "." + str(os.getpid())).touch()
        while not Path(go_file).exists():
            time.sleep(0.01)
    if task == "ingest":
        run_ingest(
            wh, accounts_file, datetime.fromisoformat(args[0]), datetime.fromisoformat(args[1])
        )
    elif task == "build":
        run_build(wh, accounts_file, args[0])
    elif task == "tags":
        run_tags(wh)
    else:
        raise ValueError(task)


def spawn(
    task: str, wh, accounts_file, *args, pause_at: str | None = None, marker=None, go_file=None
):
    """Start a worker in a fresh interpreter (the way a scheduler's worker runs a task)."""
    env = {PAUSE_ENV: pause_at or "", MARKER_ENV: str(marker or "")}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        process = multiprocessing.get_context("spawn").Process(
            target=_child,
            args=(
                task,
                wh.url.render_as_string(hide_password=False),
                str(accounts_file),
                tuple(str(a) for a in args),
                str(go_file) if go_file else None,
            ),
        )
        process.start()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return process


def kill_at(process, marker: Path, timeout: float = 240) -> None:
    """Wait until the worker reports its kill point, then SIGKILL it."""
    deadline = time.monotonic() + timeout
    while not marker.exists():
        assert process.is_alive(), f"the worker exited ({process.exitcode}) before the kill point"
        assert time.monotonic() < deadline, "the worker never reached the kill point"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.join(30)
    assert process.exitcode == -signal.SIGKILL


# -- PostgreSQL -----------------------------------------------------------------------


def terminate_backend(conn: sa.Connection) -> int:
    """``pg_terminate_backend`` the session behind ``conn``, from a second connection."""
    pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    admin = sa.create_engine(conn.engine.url, poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as other:
            assert other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})").scalar()
    finally:
        admin.dispose()
    return int(pid)


@contextlib.contextmanager
def pg_database() -> Iterator[warehouse.Warehouse]:
    """A fresh, migrated PostgreSQL database, dropped afterwards."""
    name = f"sellerops_fm_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name)
    wh = warehouse.connect(url.render_as_string(hide_password=False))
    try:
        migrations.upgrade(wh)
        yield wh
    finally:
        wh.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


# -- comparing warehouses ----------------------------------------------------------------


def snapshot(wh, relations, skip=RUN_COLUMNS) -> dict[str, list[tuple]]:
    """Each relation's rows as sorted tuples of text, without the ``skip`` columns."""
    out = {}
    with wh.connect() as conn:
        for name in relations:
            result = conn.exec_driver_sql(f"SELECT * FROM {name}")  # noqa: S608
            keep = [i for i, c in enumerate(result.keys()) if c not in skip]
            out[name] = sorted(tuple(str(row[i]) for i in keep) for row in result.fetchall())
    return out


def duplicate_keys(wh) -> dict[str, int]:
    """Natural keys stored more than once, per core dataset."""
    out = {}
    with wh.connect() as conn:
        for ds in DATASETS.values():
            keys = ", ".join(ds.key)
            out[ds.name] = conn.exec_driver_sql(
                f"SELECT COUNT(*) FROM (SELECT {keys} FROM {ds.core_table} "  # noqa: S608
                f"GROUP BY {keys} HAVING COUNT(*) > 1) AS d"
            ).scalar()
    return out


def audits(wh) -> list[dict]:
    with wh.connect() as conn:
        return [
            dict(r._mapping)
            for r in conn.exec_driver_sql(
                "SELECT batch_id, dataset, extracted, loaded, quarantined, inserted, updated, "
                "unchanged, status FROM ops.load_audit"
            )
        ]


def check_audits(wh) -> dict[str, int]:
    """Every audit balances, names a batch whose raw rows are all there, and no raw row
    belongs to a batch without an audit (a load that did not commit left nothing).
    Returns rows inserted into core per dataset, summed over the audits."""
    rows = audits(wh)
    inserted: dict[str, int] = {}
    for a in rows:
        assert a["extracted"] == a["loaded"] + a["quarantined"], a
        assert a["loaded"] == a["inserted"] + a["updated"] + a["unchanged"], a
        inserted[a["dataset"]] = inserted.get(a["dataset"], 0) + a["inserted"]
    audited = {a["batch_id"]: a["extracted"] for a in rows}
    with wh.connect() as conn:
        for ds in DATASETS.values():
            raw = dict(
                conn.exec_driver_sql(
                    f"SELECT batch_id, COUNT(*) FROM {ds.raw_table} GROUP BY batch_id"  # noqa: S608
                ).fetchall()
            )
            for batch, count in raw.items():
                assert batch in audited, f"{ds.raw_table}: rows of unaudited batch {batch}"
                assert audited[batch] == count, (batch, audited[batch], count)
    return inserted


def core_counts(wh) -> dict[str, int]:
    with wh.connect() as conn:
        return {
            name: conn.exec_driver_sql(f"SELECT COUNT(*) FROM {ds.core_table}").scalar()  # noqa: S608
            for name, ds in DATASETS.items()
        }


def per_backend(tmp_path_factory, label: str, run: Callable[[warehouse.Warehouse], dict]):
    """``get(backend)``: ``run`` on a fresh DuckDB file or PostgreSQL database, computed once."""
    cache: dict[str, dict] = {}

    def get(backend: str) -> dict:
        if backend not in cache:
            if backend == "duckdb":
                path = tmp_path_factory.mktemp(label) / f"{label}.duckdb"
                wh = warehouse.connect(f"duckdb:///{path}")
                migrations.upgrade(wh)
                cache[backend] = run(wh)
                wh.dispose()
            else:
                with pg_database() as wh:
                    cache[backend] = run(wh)
        return cache[backend]

    return get
