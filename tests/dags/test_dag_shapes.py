"""The DAGs' wiring: what runs, how it fans out, which pools and assets it uses."""

from __future__ import annotations

import json

import pytest

from sellerops.assets import INGEST_TASKS
from sellerops.ingest import GROUPS
from sellerops.paths import DAGS_DIR, INCLUDE_DIR


@pytest.fixture(scope="module")
def dags():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR))
    assert bag.import_errors == {}
    return bag.dags


def test_ingest_has_one_mapped_task_per_source_api(dags):
    dag = dags["sellerops_ingest"]
    assert sorted(t.task_id for t in dag.tasks) == [
        "ingest_finances",
        "ingest_mailbox",
        "ingest_orders",
        "ingest_reports",
        "quota_units",
        "summarise",
    ]
    for name in ("orders", "reports", "finances", "mailbox"):
        task = dag.get_task(f"ingest_{name}")
        assert type(task).__name__.endswith("MappedOperator"), name
        assert task.upstream_task_ids == {"quota_units"}
        assert task.partial_kwargs.get("pool", getattr(task, "pool", None)) == (
            "sellerops_mailbox" if name == "mailbox" else "sellerops_spapi"
        )
    assert dag.max_active_runs == 1  # one run at a time: one task per quota unit
    summarise = dag.get_task("summarise")
    assert summarise.trigger_rule == "all_done"
    assert summarise.upstream_task_ids == {f"ingest_{n}" for n in INGEST_TASKS}
    assert [a.name for a in summarise.outlets] == ["sellerops.ingest_run"]


def test_every_daily_group_is_ingested_by_exactly_one_task():
    groups = [g for spec in INGEST_TASKS.values() for g in spec["groups"]]
    assert sorted(groups) == sorted(GROUPS)


def test_every_pool_the_dags_use_is_shipped(dags):
    shipped = json.loads((INCLUDE_DIR / "pools.json").read_text())
    used = set()
    for dag in dags.values():
        for task in dag.tasks:
            pool = getattr(task, "pool", None) or task.partial_kwargs.get("pool")
            used.add(pool)
    assert used - {"default_pool"} == set(shipped)
    assert all(spec["slots"] >= 1 for spec in shipped.values())


def test_models_run_after_each_ingest_run_and_campaigns_on_tags(dags):
    core = {"core.orders", "core.order_items", "core.returns", "core.refunds"}
    core |= {"core.feedback", "core.messages"}
    ingest_outlets = {a.name for spec in INGEST_TASKS.values() for a in spec["outlets"]}
    assert ingest_outlets == core
    # One model build per ingest run, not one per loaded partition.
    assert [a.name for a in dags["sellerops_models"].schedule] == ["sellerops.ingest_run"]
    assert [a.name for a in dags["sellerops_campaigns"].schedule] == ["marts.buyer_tags"]


def test_campaigns_plan_once_then_send_per_account(dags):
    dag = dags["sellerops_campaigns"]
    send = dag.get_task("send")
    assert type(send).__name__.endswith("MappedOperator")
    assert send.upstream_task_ids == {"plan", "account_ids"}
    assert dag.get_task("results").upstream_task_ids == {"send"}
    assert send.partial_kwargs.get("pool") == "sellerops_spapi"
