"""
### SellerOps models

Builds the warehouse models in `include/sql/` — staging views, core facts, and the
marts analysts query (buyer profiles, daily KPIs, repurchase, cohorts, LTV, returns,
feedback, reply times and windows, regions, lifecycle) — on DuckDB or PostgreSQL —
then applies the buyer tag rules (`include/tags.yaml`) and updates the tag asset
that `sellerops_campaigns` listens to.

* **Schedule**: after every ingest run (the `sellerops.ingest_run` asset), not on a
  clock: one build per run, over whatever that run loaded.
* **Incremental**: a day's new data recomputes only the buyers and days it touches;
  `sellerops build --full-refresh` rebuilds everything.
* **Same code as the CLI**: `sellerops build`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from sellerops.assets import BUYER_TAGS, INGEST_RUN, MARTS


@dag(
    dag_id="sellerops_models",
    schedule=[INGEST_RUN],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["sellerops", "models"],
    doc_md=__doc__,
    default_args={
        "owner": "sellerops",
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
    },
)
def sellerops_models():
    @task(outlets=[MARTS])
    def build_models() -> dict:
        """Build every model (incrementally when the last build allows it)."""
        from sellerops.dag_tasks import run_build

        return run_build()

    @task(outlets=[BUYER_TAGS])
    def materialise_buyer_tags() -> dict:
        """Apply the tag rules to the fresh profiles; keep membership history."""
        from sellerops.tags.materialise import run_tags_task

        return run_tags_task()

    @task
    def write_kpi_report() -> list[str]:
        """Write the HTML KPI report: one self-contained page per account under data/."""
        from sellerops.paths import data_dir
        from sellerops.report import write_report
        from sellerops.warehouse import connect

        return [str(p) for p in write_report(connect(), data_dir() / "report.html")]

    build_models() >> materialise_buyer_tags() >> write_kpi_report()


sellerops_models()
