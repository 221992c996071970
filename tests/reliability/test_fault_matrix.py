"""The fault matrix: each stage under the faults the existing tests do not cover.

tests/test_ingest_faults.py covers the SP-API faults of the ingest (throttling storm,
5xx bursts, timeouts, truncated and corrupt GZIP, FATAL reports, expired access and
pagination tokens); tests/campaigns/test_exactly_once.py covers the send step under
5xx, throttling, timeouts and a worker killed right after Amazon accepted a send.
This file adds the warehouse and worker faults, for every stage that writes:

* the warehouse connection dropped in the middle of a load: on PostgreSQL the backend
  running the MERGE is terminated (``pg_terminate_backend`` from a second
  connection); on DuckDB the loading process is SIGKILLed inside its transaction;
* a worker killed between two committed loads, in the middle of the models build,
  and in the middle of the tag materialisation;
* 5xx, 429 and timeouts on the campaigns' eligibility checks.

Each faulted run must fail loudly (an exception, a non-zero exit) or end identical
to a clean run; the next run must leave the warehouse identical to the clean run's.
Rows are compared without the columns that name a run (``batch_id``, ``loaded_at``,
``extracted_at``, ``run_id``): they record which run wrote a row and when, so they
differ between any two runs, faulted or not.

One partition (acme-outdoor, US) of a 30-day world with 3 orders a day, and three
groups (orders, refunds, messages): small, so the file runs in a few minutes.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa

from sellerops import migrations, warehouse
from sellerops.accounts import load_accounts
from sellerops.campaigns.sender import send_campaigns
from sellerops.models import runner
from sellerops.sandbox.client import clear_token_cache
from sellerops.sandbox.service import make_world, sandbox_environment
from tests.campaigns.test_exactly_once import (
    END,
    GET_ACTIONS,
    REVIEW,
    Spy,
    load_world,
    outbox,
    server_sends,
    write_campaigns,
)
from tests.reliability import faultkit_kit as kit

TAG_TABLES = ("marts.buyer_tags", "marts.tag_counts_daily")
BACKENDS = ("duckdb", "postgres")


def model_relations() -> list[str]:
    return list(runner.model_names())


@pytest.fixture(scope="module")
def clean(tmp_path_factory, sandbox, world):
    """Per backend, the clean run's core tables, models and tags (computed once)."""
    return kit.per_backend(tmp_path_factory, "clean", lambda wh: _clean_run(wh, sandbox, world))


def _clean_run(wh, sandbox, world) -> dict:
    kit.run_ingest(wh, sandbox.accounts_file, world.start, world.end)
    out = {"core": kit.core_tables(wh), "counts": kit.core_counts(wh)}
    assert out["counts"]["orders"] > 40 and out["counts"]["refunds"] > 0
    assert out["counts"]["messages"] > 10
    kit.run_build(wh, sandbox.accounts_file, sandbox.workdir / "catalog.csv")
    out["models"] = kit.snapshot(wh, model_relations())
    assert len(out["models"]["marts.buyer_profile"]) > 30
    kit.run_tags(wh)
    out["tags"] = kit.snapshot(wh, TAG_TABLES)
    assert len(out["tags"]["marts.buyer_tags"]) > 30
    return out


def warehouse_for(request, backend: str):
    return request.getfixturevalue("duckdb_warehouse" if backend == "duckdb" else "pg_warehouse")


def assert_repaired(wh, sandbox, world, clean) -> None:
    """The next run leaves the core tables as the clean run did, with honest audits."""
    kit.run_ingest(wh, sandbox.accounts_file, world.start, world.end)
    assert kit.core_tables(wh) == clean["core"]
    assert kit.duplicate_keys(wh) == dict.fromkeys(kit.DATASETS, 0)
    # Every row in core was inserted by exactly one committed, audited load.
    assert kit.check_audits(wh) == clean["counts"]


# -- ingest: the warehouse connection dropped mid-load ---------------------------------------


def test_postgres_backend_terminated_during_the_merge(pg_warehouse, sandbox, world, clean):
    reference = clean("postgres")
    wh = pg_warehouse
    blocker_engine = sa.create_engine(wh.url, poolclass=sa.pool.NullPool)
    failure: list[BaseException] = []

    def ingest_run():
        try:
            kit.run_ingest(wh, sandbox.accounts_file, world.start, world.end)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            failure.append(exc)

    watcher_engine = blocker_engine.execution_options(isolation_level="AUTOCOMMIT")
    with blocker_engine.connect() as blocker, watcher_engine.connect() as watcher:
        # Hold a lock the MERGE's INSERT ... ON CONFLICT must wait for, so the backend is
        # caught inside the statement, after the raw append of the same transaction.
        blocker.exec_driver_sql("LOCK TABLE core.orders IN SHARE MODE")
        worker = threading.Thread(target=ingest_run)
        worker.start()
        deadline = time.monotonic() + 120
        pid = None
        while pid is None:
            assert worker.is_alive(), f"the ingest ended before its merge: {failure}"
            assert time.monotonic() < deadline, "the merge never started"
            # Autocommit: pg_stat_activity is read once per transaction.
            pid = watcher.exec_driver_sql(
                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND position('INSERT INTO core.orders AS t' IN query) > 0 "
                "AND datname = current_database()"
            ).scalar()
            time.sleep(0.05)
        assert watcher.exec_driver_sql(f"SELECT pg_terminate_backend({pid})").scalar()
        blocker.rollback()
    blocker_engine.dispose()
    worker.join(120)
    assert not worker.is_alive()

    # Loud: the run raised the lost connection.
    assert len(failure) == 1 and isinstance(failure[0], sa.exc.OperationalError), failure
    assert "terminat" in str(failure[0]).lower()
    # Nothing of the killed transaction is visible, and no audit claims it.
    assert kit.audits(wh) == []
    assert kit.core_counts(wh) == dict.fromkeys(kit.DATASETS, 0)
    with wh.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM raw.orders").scalar() == 0
    assert_repaired(wh, sandbox, world, reference)


def test_duckdb_loader_killed_inside_its_transaction(
    duckdb_warehouse, sandbox, world, clean, tmp_path
):
    reference = clean("duckdb")
    wh = duckdb_warehouse
    marker = tmp_path / "reached"
    worker = kit.spawn(
        "ingest",
        wh,
        sandbox.accounts_file,
        world.start.isoformat(),
        world.end.isoformat(),
        pause_at="merge:orders",
        marker=marker,
    )
    kit.kill_at(worker, marker)  # after the raw append and the MERGE, before the commit
    # The file opens (the writer lock died with the process); nothing of the batch is there.
    assert kit.audits(wh) == []
    assert kit.core_counts(wh) == dict.fromkeys(kit.DATASETS, 0)
    with wh.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM raw.orders").scalar() == 0
    assert_repaired(wh, sandbox, world, reference)


# -- ingest: a worker killed between two committed loads ----------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_ingest_worker_killed_between_loads(backend, request, sandbox, world, clean, tmp_path):
    reference = clean(backend)
    wh = warehouse_for(request, backend)
    marker = tmp_path / "reached"
    worker = kit.spawn(
        "ingest",
        wh,
        sandbox.accounts_file,
        world.start.isoformat(),
        world.end.isoformat(),
        pause_at="committed:orders",
        marker=marker,
    )
    kit.kill_at(worker, marker)
    # The orders batch committed with its audit; its items never did.
    counts = kit.core_counts(wh)
    assert counts == {**dict.fromkeys(kit.DATASETS, 0), "orders": reference["counts"]["orders"]}
    assert [a["dataset"] for a in kit.audits(wh)] == ["orders"]
    kit.check_audits(wh)
    assert_repaired(wh, sandbox, world, reference)


# -- ingest: an SP-API fault that outlasts the retries ------------------------------------------


PERSISTENT = {
    "server_error": {"kind": "server_error", "operation": "listFinancialEvents", "status": 500},
    "throttle": {"kind": "throttle", "operation": "listFinancialEvents"},
}


@pytest.mark.parametrize("fault", sorted(PERSISTENT))
def test_persistent_api_fault_fails_loudly_then_the_next_run_repairs(
    fault, duckdb_warehouse, sandbox, world, clean, caplog
):
    reference = clean("duckdb")
    wh = duckdb_warehouse
    http = httpx.Client(base_url=sandbox.base_url, timeout=30)
    try:
        http.post(
            "/sandbox/faults", json={"rules": [PERSISTENT[fault]], "replace": True}
        ).raise_for_status()
        with pytest.raises(Exception, match="(?i)InternalFailure|QuotaExceeded|500|429") as failed:
            kit.run_ingest(wh, sandbox.accounts_file, world.start, world.end)
        fired = http.get("/sandbox/faults").json()["rules"][0]["fired"]
    finally:
        http.delete("/sandbox/faults").raise_for_status()
        http.close()
    # Every attempt the session allows, then it gave up. The sandbox's access tokens
    # expire on its time-scaled clock: an attempt may instead meet an expired token
    # (a 403, refreshed and retried), which the fault rule never sees.
    refreshed = sum("SellingApiForbiddenException 403" in r.getMessage() for r in caplog.records)
    assert fired + refreshed == 8 and refreshed <= 1, (failed.value, refreshed)
    # The orders group before it committed, audited; refunds and messages never loaded.
    counts = kit.core_counts(wh)
    assert counts == {
        **dict.fromkeys(kit.DATASETS, 0),
        "orders": reference["counts"]["orders"],
        "order_items": reference["counts"]["order_items"],
    }
    assert sorted(a["dataset"] for a in kit.audits(wh)) == ["order_items", "orders"]
    assert_repaired(wh, sandbox, world, reference)


# -- models build and tags: connection dropped or worker killed mid-transaction ----------------


def _interrupt(backend, wh, sandbox, tmp_path, monkeypatch, task: str, point: str) -> None:
    """Run ``task`` and break it at ``point``: PostgreSQL terminates the backend (in this
    process, so the failure is seen), DuckDB SIGKILLs a spawned worker."""
    if backend == "postgres":
        kit.install_pause(point, on_reach=kit.terminate_backend, patch=monkeypatch.setattr)
        with pytest.raises(sa.exc.OperationalError, match="(?i)terminat|closed"):
            if task == "build":
                kit.run_build(wh, sandbox.accounts_file, sandbox.workdir / "catalog.csv")
            else:
                kit.run_tags(wh)
        monkeypatch.undo()
        return
    marker = tmp_path / f"{task}.reached"
    args = (sandbox.workdir / "catalog.csv",) if task == "build" else ()
    worker = kit.spawn(task, wh, sandbox.accounts_file, *args, pause_at=point, marker=marker)
    kit.kill_at(worker, marker)


@pytest.mark.parametrize("backend", BACKENDS)
def test_models_and_tags_interrupted_then_rerun(
    backend, request, sandbox, world, clean, tmp_path, monkeypatch
):
    reference = clean(backend)
    wh = warehouse_for(request, backend)
    kit.run_ingest(wh, sandbox.accounts_file, world.start, world.end)
    assert kit.core_tables(wh) == reference["core"]

    # The build dies after the core facts and buyer predictions, before buyer_profile.
    _interrupt(backend, wh, sandbox, tmp_path, monkeypatch, "build", "model:marts.buyer_profile")
    with wh.connect() as conn:
        runs = conn.exec_driver_sql("SELECT status FROM ops.model_runs").scalars().all()
        kept = [
            name
            for name in model_relations()
            if runner._table_exists(conn, name) or runner._view_exists(conn, name)
        ]
    # PostgreSQL records the failure from a new connection; a killed worker records nothing.
    assert runs == (["failed"] if backend == "postgres" else [])
    assert kept == []  # the transaction's models went with it
    report = kit.run_build(wh, sandbox.accounts_file, sandbox.workdir / "catalog.csv")
    assert report.mode == "full"
    assert kit.snapshot(wh, model_relations()) == reference["models"]

    # The tags die inside their transaction, before the daily counts.
    _interrupt(backend, wh, sandbox, tmp_path, monkeypatch, "tags", "tags")
    assert kit.snapshot(wh, TAG_TABLES) == dict.fromkeys(TAG_TABLES, [])
    kit.run_tags(wh)
    assert kit.snapshot(wh, TAG_TABLES) == reference["tags"]


# -- campaigns: faults on the eligibility checks ------------------------------------------------


ELIGIBILITY_FAULTS = [
    {"kind": "server_error", "operation": GET_ACTIONS, "status": 500, "count": 4},
    {"kind": "server_error", "operation": GET_ACTIONS, "status": 503, "count": 4},
    {"kind": "throttle", "operation": GET_ACTIONS, "count": 6},
    {"kind": "timeout", "operation": GET_ACTIONS, "delay": 1.5, "count": 3},
    {"kind": "server_error", "operation": GET_ACTIONS, "status": 500, "probability": 0.2},
]


@pytest.fixture(scope="module")
def campaign_world():
    return make_world(seed=11, days=40, orders_per_day=2, end_date=END)


def _campaign_run(wh, campaign_world, workdir, faults) -> tuple[dict, Counter, dict]:
    """A day's send under ``faults``, then the next run without; the outbox, the
    sandbox's sends per order and the faulted run's counts."""
    clear_token_cache()
    workdir.mkdir(parents=True, exist_ok=True)
    load_world(wh, campaign_world)
    campaigns_file = write_campaigns(workdir / "campaigns.yaml", REVIEW)
    with sandbox_environment(workdir / "sandbox", world=campaign_world) as env:
        http = httpx.Client(base_url=env.base_url, timeout=30)
        env.http = http
        accounts = load_accounts(env.accounts_file)
        as_of = campaign_world.end
        if faults:
            http.post("/sandbox/faults", json={"seed": 3, "rules": faults}).raise_for_status()
        first = send_campaigns(
            wh,
            campaigns_file,
            accounts=accounts,
            as_of=as_of,
            sessions=Spy(timeout=1.0 if faults else 30.0),
            claim_lease=timedelta(0),
        )
        fired = sum(r["fired"] for r in http.get("/sandbox/faults").json()["rules"])
        per_order = Counter(s["amazonOrderId"] for s in server_sends(env))
        assert max(per_order.values()) == 1
        rows = outbox(wh, "review_7d")
        sent = {o for o, r in rows.items() if r["status"] == "sent"}
        claimed = {o for o, r in rows.items() if r["status"] == "claimed"}
        assert sent <= set(per_order) <= sent | claimed
        http.delete("/sandbox/faults").raise_for_status()
        time.sleep(1.6)  # requests that timed out on the client land on the server
        send_campaigns(
            wh,
            campaigns_file,
            accounts=accounts,
            as_of=as_of,
            sessions=Spy(),
            claim_lease=timedelta(0),
        )
        sends = Counter(s["amazonOrderId"] for s in server_sends(env))
        http.close()
    clear_token_cache()
    final = {
        o: (r["status"], r["reason"], r["arm"], r["confirmed"], r["posts"])
        for o, r in outbox(wh, "review_7d").items()
    }
    return final, sends, {"fired": fired, "errors": first.count("error"), "run": first}


@pytest.mark.parametrize("backend", BACKENDS)
def test_campaign_eligibility_faults_leave_a_consistent_outbox(
    backend, request, campaign_world, tmp_path
):
    wh = warehouse_for(request, backend)
    if backend == "duckdb":
        reference_wh = warehouse.connect(f"duckdb:///{tmp_path / 'clean.duckdb'}")
        migrations.upgrade(reference_wh)
        clean_outbox, clean_sends, _ = _campaign_run(
            reference_wh, campaign_world, tmp_path / "clean", None
        )
        reference_wh.dispose()
    else:
        with kit.pg_database() as reference_wh:
            clean_outbox, clean_sends, _ = _campaign_run(
                reference_wh, campaign_world, tmp_path / "clean", None
            )
    assert Counter(s for s, *_ in clean_outbox.values())["sent"] > 20

    final, sends, faulted = _campaign_run(
        wh, campaign_world, tmp_path / "faulted", ELIGIBILITY_FAULTS
    )
    assert faulted["fired"] >= 17, "the faults did not fire: the test would prove nothing"
    # Some checks failed for good in the faulted run: loud, and left for the next run.
    assert faulted["errors"] > 0
    # At most one send per order, the outbox agrees with Amazon, and it ends as clean.
    assert max(sends.values()) == 1
    assert {o for o, r in final.items() if r[0] == "sent"} == set(sends)
    assert [o for o, r in final.items() if r[0] == "claimed"] == []
    assert final == clean_outbox
    assert sends == clean_sends
