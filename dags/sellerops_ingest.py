"""
### SellerOps daily ingest

Extracts orders, returns, refunds, seller feedback and buyer-seller messages for
every (seller account x marketplace) in the accounts file, validates each batch
with Great Expectations, and loads it idempotently into the warehouse.

* **Schedule**: daily at 04:00 UTC over real data intervals: the 24 hours up to the
  run (04:00 to 04:00 UTC), so a rerun or a backfill reads exactly its interval and
  consecutive runs cover every instant once. Reports that count in local days are
  asked for every local day the interval touches (the loader's MERGE makes the
  overlap harmless).
* **Fan-out**: one task per source API (orders, reports, finances, mailbox), mapped
  over the accounts' *quota units*: (account, SP-API region), with that unit's
  marketplaces done one after another. Amazon counts quotas per seller account,
  region and operation, so no two tasks of a run draw on the same quota; together
  with `max_active_runs=1` concurrency is bounded by the mapping, never by sleeping.
  Within a task, requests are paced by the quota's token bucket.
* **Pools**: `sellerops_spapi` and `sellerops_mailbox` (`include/pools.json`, imported
  by `airflow pools import`) bound how many such tasks run at once across workers.
* **Assets**: each load task updates the assets of the tables it writes (lineage);
  `summarise` runs when every load task has finished, whatever its state, logs the
  run's loads per account and dataset from `ops.load_audit`, and updates the
  `sellerops.ingest_run` asset that `sellerops_models` waits for: one model build per
  ingest run, even when some partitions failed (they are retried by the next run and
  the failure shows in this DAG). If nothing at all was loaded it fails instead.
* **Same code as the CLI**: `sellerops ingest --account A --start D --end D`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, task

from sellerops.assets import INGEST_RUN, INGEST_TASKS


@dag(
    dag_id="sellerops_ingest",
    schedule=CronDataIntervalTimetable("0 4 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["sellerops", "ingest"],
    doc_md=__doc__,
    default_args={
        "owner": "sellerops",
        "retries": 3,
        "retry_delay": timedelta(minutes=5),
        "retry_exponential_backoff": True,
    },
)
def sellerops_ingest():
    @task
    def quota_units() -> list[dict]:
        """Every (account, SP-API region) with its marketplaces, from the accounts file."""
        from sellerops.accounts import load_accounts

        return load_accounts().quota_units()

    def ingest_task(name: str, spec: dict):
        @task(task_id=f"ingest_{name}", outlets=spec["outlets"], pool=spec["pool"])
        def ingest(unit: dict, data_interval_start=None, data_interval_end=None):
            """Extract, validate and load this source for one quota unit and interval."""
            from sellerops.dag_tasks import run_ingest

            return run_ingest(spec["groups"], unit, data_interval_start, data_interval_end)

        return ingest

    @task(outlets=[INGEST_RUN], trigger_rule="all_done")
    def summarise(dag_run=None) -> dict:
        """Log this run's loads (from ops.load_audit) and tell the models to build."""
        from sellerops.dag_tasks import run_ingest_summary

        return run_ingest_summary(dag_run.start_date)

    units = quota_units()
    loads = [ingest_task(name, spec).expand(unit=units) for name, spec in INGEST_TASKS.items()]
    loads >> summarise()


sellerops_ingest()
