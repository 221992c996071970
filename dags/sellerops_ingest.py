"""
### SellerOps daily ingest

Extracts orders, returns, refunds, seller feedback and buyer-seller messages for
every (seller account x marketplace) in the accounts file, validates each batch
with Great Expectations, and loads it idempotently into the warehouse.

* **Schedule**: daily at 04:00 UTC over real data intervals (yesterday 00:00 to
  today 00:00 UTC), so a rerun or a backfill of a day reads exactly that day.
* **Fan-out**: one mapped task per (account, marketplace) for each dataset group.
* **Assets**: each load task updates the asset of the tables it writes;
  `sellerops_models` runs when they change.
* **Same code as the CLI**: `sellerops ingest --account A --start D --end D`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, task

from sellerops.assets import INGEST_OUTLETS


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
    def partitions() -> list[dict[str, str]]:
        """Every (account, marketplace) pair from the validated accounts file."""
        from sellerops.accounts import load_accounts

        return [
            {"account_id": account_id, "marketplace_id": marketplace_id}
            for account_id, marketplace_id in load_accounts().pairs()
        ]

    def ingest_task(group: str):
        @task(task_id=f"ingest_{group}", outlets=INGEST_OUTLETS[group])
        def ingest(partition: dict[str, str], data_interval_start=None, data_interval_end=None):
            """Extract, validate and load one dataset group for one partition and interval."""
            from sellerops.dag_tasks import run_ingest

            return run_ingest(group, partition, data_interval_start, data_interval_end)

        return ingest

    pairs = partitions()
    for group in INGEST_OUTLETS:
        ingest_task(group).expand(partition=pairs)


sellerops_ingest()
