"""
### SellerOps maintenance

Daily housekeeping that keeps the promises of `docs/data_map.md`.

* **privacy_purge**: 30 days after delivery, redacts the values of quarantined rows
  (`ops.quarantine.row_values`), deletes audience export files and Great Expectations
  Data Docs validation pages, and removes ingest work folders left behind by killed
  runs (they hold downloaded Amazon reports). The summary is the task's XCom.
* **Schedule**: daily at 03:00 UTC, before the ingest.
* **Same code as the CLI**: `sellerops privacy purge`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="sellerops_maintenance",
    schedule="0 3 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["sellerops", "maintenance", "privacy"],
    doc_md=__doc__,
    default_args={
        "owner": "sellerops",
        "retries": 2,
        "retry_delay": timedelta(minutes=10),
    },
)
def sellerops_maintenance():
    @task
    def privacy_purge() -> dict:
        """Redact or delete buyer-derived copies past their 30-day retention."""
        from sellerops.privacy import run_purge_task

        return run_purge_task()

    privacy_purge()


sellerops_maintenance()
