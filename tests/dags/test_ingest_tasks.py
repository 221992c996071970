"""The ingest DAG's task bodies over the sandbox: quota units cover every partition once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sellerops.accounts import load_accounts
from sellerops.assets import INGEST_TASKS
from sellerops.dag_tasks import run_ingest, run_ingest_summary
from sellerops.sandbox.service import make_world, sandbox_environment
from sellerops.sandbox.truth import compute_truth

CORE = ("orders", "order_items", "returns", "refunds", "feedback", "messages")


@pytest.fixture(scope="module")
def world():
    return make_world(seed=11, days=12, orders_per_day=5)


def test_every_task_over_every_unit_loads_the_truth(world, tmp_path, monkeypatch):
    monkeypatch.setenv("SELLEROPS_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'wh.duckdb'}")
    monkeypatch.setenv("SELLEROPS_DATA_DIR", str(tmp_path / "data"))
    from sellerops import migrations
    from sellerops.paths import data_docs_dir
    from sellerops.warehouse import connect

    migrations.upgrade(connect())
    truth = compute_truth(world)
    began = datetime.now(UTC)
    with pytest.raises(RuntimeError, match="every ingest task failed"):
        run_ingest_summary(began)
    with sandbox_environment(tmp_path / "sandbox", world=world):
        units = load_accounts().quota_units()
        # The sandbox's accounts sell in the US (NA region) and Japan (FE region).
        assert sorted((u["account_id"], u["region"]) for u in units) == sorted(
            (a.account_id, r) for a in world.accounts for r in ("na", "fe")
        )
        summaries = {}
        for name, spec in INGEST_TASKS.items():
            for unit in units:
                rows = run_ingest(spec["groups"], unit, world.start, world.end)
                summaries[(name, unit["account_id"], unit["region"])] = rows
    # Every (task, unit) loaded each of its datasets for each of the unit's marketplaces.
    for (name, _account, _region), rows in summaries.items():
        assert {r["marketplace_id"] for r in rows} == {
            u["marketplace_ids"][0]
            for u in units
            if (u["account_id"], u["region"]) == (_account, _region)
        }
        assert all(r["extracted"] == r["loaded"] + r["quarantined"] for r in rows), name
    with connect().connect() as conn:
        counts = {
            f"core.{t}": conn.exec_driver_sql(f"SELECT count(*) FROM core.{t}").scalar()  # noqa: S608
            for t in CORE
        }
    assert counts == truth["totals"]
    every = [r for rows in summaries.values() for r in rows]
    # The tasks wrote their batches' Data Docs pages; the index is built once, by the
    # summary, and lists every batch.
    index = data_docs_dir() / "index.html"
    index.unlink(missing_ok=True)  # the failed summary above built an empty one
    assert len(list((data_docs_dir() / "validations").rglob("*.html"))) == len(every)
    totals = run_ingest_summary(began)
    assert index.read_text(encoding="utf-8").count("validations/") >= len(every)
    assert totals == {
        "partitions": 4,  # 2 accounts x (US, JP)
        "batches": len(every),
        "extracted": sum(r["extracted"] for r in every),
        "loaded": sum(r["loaded"] for r in every),
        "quarantined": 0,
    }
