"""Two runs of the same work at once: a manual trigger during a scheduled run.

Two worker processes ingest the same partition and interval into the same warehouse,
started together (each waits, imports done, for a start file); then two model builds
run at once. On PostgreSQL and on DuckDB, both must finish (on DuckDB the second waits
on the writer lock; a join timeout turns a deadlock into a failure), the tables must
equal a single run's, no natural key may be stored twice, and the load audits must
balance: each row of core inserted by exactly one audited load.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from sellerops import load
from sellerops.identity_resolution import resolve_identities
from sellerops.models import runner
from tests.models import handmade
from tests.reliability import faultkit_kit as kit
from tests.test_load import _load, _orders

ACCOUNT = "acme-outdoor"

BACKENDS = ("duckdb", "postgres")
JOIN_SECONDS = 420


def _single_run(wh, sandbox, world) -> dict:
    kit.run_ingest(wh, sandbox.accounts_file, world.start, world.end)
    out = {
        "core": kit.core_tables(wh),
        "counts": kit.core_counts(wh),
        "audits": len(kit.audits(wh)),
        "raw": _raw_counts(wh),
    }
    assert out["counts"]["orders"] > 40 and out["counts"]["refunds"] > 0
    kit.run_build(wh, sandbox.accounts_file, sandbox.workdir / "catalog.csv")
    out["models"] = kit.snapshot(wh, runner.model_names())
    return out


@pytest.fixture(scope="module")
def single(tmp_path_factory, sandbox, world):
    """Per backend, what one run alone leaves (computed once)."""
    return kit.per_backend(tmp_path_factory, "single", lambda wh: _single_run(wh, sandbox, world))


def _raw_counts(wh) -> dict[str, int]:
    with wh.connect() as conn:
        return {
            name: conn.exec_driver_sql(f"SELECT COUNT(*) FROM {ds.raw_table}").scalar()  # noqa: S608
            for name, ds in kit.DATASETS.items()
        }


def _together(go: Path, processes) -> None:
    """Start the workers at the same moment; both must end, successfully, in time."""
    deadline = time.monotonic() + 300
    while len(list(go.parent.glob(go.name + ".*"))) < len(processes):
        for p in processes:
            assert p.is_alive(), f"worker exited ({p.exitcode}) before the start"
        assert time.monotonic() < deadline, "the workers never got ready"
        time.sleep(0.05)
    go.touch()
    for p in processes:
        p.join(JOIN_SECONDS)
    hung = [p for p in processes if p.is_alive()]
    for p in hung:
        p.kill()
        p.join(10)
    assert hung == [], "a worker was still running: deadlock"
    assert [p.exitcode for p in processes] == [0] * len(processes)


def warehouse_for(request, backend: str):
    return request.getfixturevalue("duckdb_warehouse" if backend == "duckdb" else "pg_warehouse")


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_ingests_of_the_same_interval_at_once(
    backend, request, sandbox, world, single, tmp_path
):
    reference = single(backend)
    wh = warehouse_for(request, backend)
    go = tmp_path / "go"
    args = (world.start.isoformat(), world.end.isoformat())
    workers = [kit.spawn("ingest", wh, sandbox.accounts_file, *args, go_file=go) for _ in range(2)]
    _together(go, workers)

    assert kit.core_tables(wh) == reference["core"]
    assert kit.duplicate_keys(wh) == dict.fromkeys(kit.DATASETS, 0)
    # Both runs landed and audited every batch ...
    assert len(kit.audits(wh)) == 2 * reference["audits"]
    assert _raw_counts(wh) == {k: 2 * v for k, v in reference["raw"].items()}
    # ... and between them inserted each core row once: the audits balance with core.
    assert kit.check_audits(wh) == reference["counts"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_model_builds_at_once(backend, request, sandbox, world, single, tmp_path):
    reference = single(backend)
    wh = warehouse_for(request, backend)
    kit.run_ingest(wh, sandbox.accounts_file, world.start, world.end)
    go = tmp_path / "go"
    catalog = sandbox.workdir / "catalog.csv"
    workers = [kit.spawn("build", wh, sandbox.accounts_file, catalog, go_file=go) for _ in range(2)]
    _together(go, workers)

    with wh.connect() as conn:
        runs = conn.exec_driver_sql("SELECT status FROM ops.model_runs").scalars().all()
    assert runs == ["success", "success"]
    assert kit.snapshot(wh, runner.model_names()) == reference["models"]


# -- the races themselves, forced: both transactions inside the critical section at once ---------


def _meet(barrier: threading.Barrier) -> None:
    """Wait for the other thread; alone after the timeout (it is held elsewhere), go on."""
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait()


def _in_threads(*calls):
    results: list = [None] * len(calls)

    def run(i, fn):
        try:
            results[i] = fn()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "deadlock"
    return results


def test_concurrent_loads_of_the_same_keys_count_each_insert_once(any_warehouse):
    """Both loads stage the batch and count what their upsert does at the same time
    (DuckDB: a counting join before the upsert; PostgreSQL: the upsert's RETURNING):
    without a lock per partition a count taken before the other's commit would see
    30 inserts for the same 30 rows twice."""
    frame = _orders(*({"order_id": f"111-0000001-{i:07d}"} for i in range(30)))
    barrier = threading.Barrier(2, timeout=3)

    def before(conn, cursor, statement, *args):
        counting = statement.lstrip().startswith(("SELECT", "WITH upserted"))
        if counting and "core.orders" in statement:
            _meet(barrier)

    sa.event.listen(any_warehouse.engine, "before_cursor_execute", before)
    try:
        results = _in_threads(
            lambda: _load(any_warehouse, frame, "b1"), lambda: _load(any_warehouse, frame, "b2")
        )
    finally:
        sa.event.remove(any_warehouse.engine, "before_cursor_execute", before)
    assert all(isinstance(a, load.LoadAudit) for a in results), results
    assert sorted((a.inserted, a.updated, a.unchanged) for a in results) == [(0, 0, 30), (30, 0, 0)]
    assert kit.check_audits(any_warehouse)["orders"] == 30
    assert kit.core_counts(any_warehouse)["orders"] == 30


def test_concurrent_identity_resolutions_do_not_collide(any_warehouse):
    """Two runs resolve the same account's buyers at once: the second must not insert
    the aliases the first just inserted (a unique violation on core.buyer_aliases)."""
    frame = _orders(
        *(
            {
                "order_id": f"111-0000002-{i:07d}",
                "buyer_email_key": f"e{i}",
                "buyer_recipient_key": f"r{i}",
            }
            for i in range(20)
        )
    )
    _load(any_warehouse, frame, "b1")
    deleting = threading.Barrier(2, timeout=3)

    def before(conn, cursor, statement, *args):
        if statement.startswith("DELETE FROM core.buyer_aliases"):
            _meet(deleting)  # both transactions are past their start
        elif statement.startswith("INSERT INTO core.buyer_aliases"):
            time.sleep(0.3)  # the other's DELETE runs first

    sa.event.listen(any_warehouse.engine, "before_cursor_execute", before)
    try:
        results = _in_threads(
            lambda: resolve_identities(any_warehouse, ACCOUNT),
            lambda: resolve_identities(any_warehouse, ACCOUNT),
        )
    finally:
        sa.event.remove(any_warehouse.engine, "before_cursor_execute", before)
    assert [r["aliases"] for r in results if isinstance(r, dict)] == [20, 20], results
    with any_warehouse.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM core.buyer_aliases").scalar() == 20
        assert (
            conn.exec_driver_sql(
                "SELECT COUNT(*) FROM core.orders WHERE buyer_key = buyer_email_key"
            ).scalar()
            == 20
        )


def test_concurrent_model_builds_take_turns(any_warehouse, tmp_path, monkeypatch):
    """Both builds inside their transaction at once: on PostgreSQL the second (REPEATABLE
    READ) would fail on the rows the first committed; with the build lock it waits."""
    handmade.insert_handmade(any_warehouse)
    catalog = handmade.write_catalog(tmp_path)
    barrier = threading.Barrier(2, timeout=5)
    real = runner._seed_reference_data

    def seed_reference_data(conn):
        _meet(barrier)  # after the accounts upsert, inside the build's transaction
        return real(conn)

    monkeypatch.setattr(runner, "_seed_reference_data", seed_reference_data)

    def one_build():
        return runner.build(any_warehouse, accounts=handmade.ACCOUNTS, catalog_path=catalog)

    results = _in_threads(one_build, one_build)
    assert all(isinstance(r, runner.BuildReport) for r in results), results
    assert sorted(r.mode for r in results) == ["full", "incremental"]
    concurrent = kit.snapshot(any_warehouse, runner.model_names())
    assert len(concurrent["marts.buyer_profile"]) > 3
    monkeypatch.undo()
    runner.build(any_warehouse, accounts=handmade.ACCOUNTS, catalog_path=catalog, full_refresh=True)
    assert kit.snapshot(any_warehouse, runner.model_names()) == concurrent
