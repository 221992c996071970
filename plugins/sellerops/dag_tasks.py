"""The bodies of the DAGs' tasks: thin adapters from Airflow's context to the library."""

from __future__ import annotations

import logging
from datetime import datetime

log = logging.getLogger(__name__)


def run_ingest(group: str, partition: dict[str, str], start: datetime, end: datetime) -> list[dict]:
    """Ingest one dataset group for one (account, marketplace) over [start, end)."""
    from sellerops import ingest
    from sellerops.accounts import load_accounts
    from sellerops.paths import data_docs_dir
    from sellerops.warehouse import connect

    account = load_accounts().get(partition["account_id"])
    audits = ingest.ingest_window(
        connect(),
        account,
        partition["marketplace_id"],
        start,
        end,
        groups=[group],
        docs_dir=data_docs_dir(),
    )
    summary = [
        {
            "dataset": a.dataset,
            "batch_id": a.batch_id,
            "extracted": a.extracted,
            "loaded": a.loaded,
            "quarantined": a.quarantined,
            "inserted": a.inserted,
            "updated": a.updated,
        }
        for a in audits
    ]
    for row in summary:
        log.info("loaded %s", row)
    return summary


def run_build() -> dict:
    """Build the models for every configured account; return the build's summary."""
    from sellerops.accounts import catalog_path, load_accounts
    from sellerops.models.runner import build
    from sellerops.warehouse import connect

    report = build(connect(), accounts=load_accounts(), catalog_path=catalog_path())
    log.info("%s", report.summary())
    return {"run_id": report.run_id, "mode": report.mode, "seconds": round(report.seconds, 1)}
