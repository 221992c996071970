"""
### SellerOps daily ingest

Extracts orders, returns, refunds, seller feedback and buyer-seller messages for
every (seller account x marketplace) in the accounts file, validates each batch
with Great Expectations, and loads it idempotently into the warehouse.

* **Schedule**: daily at 04:00 UTC over real data intervals (yesterday 00:00 to
  today 00:00 UTC), so a rerun or a backfill of a day reads exactly that day.
* **Fan-out**: one task per source API (orders, reports, finances, mailbox), mapped
  over the accounts' *quota units*: (account, SP-API region), with that unit's
  marketplaces done one after another. Amazon counts quotas per seller account,
  region and operation, so no two tasks of a run draw on the same quota; together
  with `max_active_runs=1` concurrency is bounded by the mapping, never by sleeping.
  Within a task, requests are paced by the quota's token bucket.
* **Pools**: `sellerops_spapi` and `sellerops_mailbox` (`include/pools.json`, imported
  by `airflow pools import`) bound how many such tasks run at once across workers.
* **Assets**: each load task updates the assets of the tables it writes;
  `sellerops_models` runs when they change.
* **Same code as the CLI**: `sellerops ingest --account A --start D --end D`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, task

from sellerops.assets import INGEST_TASKS


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

    units = quota_units()
    for name, spec in INGEST_TASKS.items():
        ingest_task(name, spec).expand(unit=units)


sellerops_ingest()
