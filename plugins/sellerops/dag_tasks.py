"""The bodies of the DAGs' tasks: thin adapters from Airflow's context to the library."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

log = logging.getLogger(__name__)


def run_ingest(groups: Iterable[str], unit: dict, start: datetime, end: datetime) -> list[dict]:
    """Ingest dataset groups for one quota unit (account x region) over [start, end).

    The unit's marketplaces run one after another through one SP-API session, so
    the quota's token buckets carry over between them.
    """
    from sellerops import ingest
    from sellerops.accounts import load_accounts
    from sellerops.paths import data_docs_dir
    from sellerops.warehouse import connect

    groups = list(groups)
    account = load_accounts().get(unit["account_id"])
    warehouse = connect()
    session = None
    if set(groups) - {"messages"}:
        from sellerops.sources.spapi import SpApiCredentials, SpApiSession

        credentials = SpApiCredentials.from_connection(account.spapi_conn_id)
        session = SpApiSession(account.account_id, credentials)
    marketplaces = unit["marketplace_ids"]
    summary = []
    for index, marketplace_id in enumerate(marketplaces, 1):
        audits = ingest.ingest_window(
            warehouse,
            account,
            marketplace_id,
            start,
            end,
            groups=groups,
            spapi_session=session,
            docs_dir=data_docs_dir(),
        )
        for a in audits:
            row = {
                "marketplace_id": marketplace_id,
                "dataset": a.dataset,
                "batch_id": a.batch_id,
                "extracted": a.extracted,
                "loaded": a.loaded,
                "quarantined": a.quarantined,
                "inserted": a.inserted,
                "updated": a.updated,
            }
            log.info("loaded %s", row)
            summary.append(row)
        log.info(
            "%s %s: marketplace %d of %d done (%s)",
            account.account_id,
            unit["region"],
            index,
            len(marketplaces),
            marketplace_id,
        )
    return summary


def run_ingest_summary(since: datetime) -> dict:
    """Log the loads audited since ``since`` per account, marketplace and dataset.

    Raises when nothing was loaded at all (every partition failed), so the run fails
    and the models are not rebuilt for nothing. Rebuilds the Data Docs index page
    first, once per run (the ingest tasks write only their batches' pages).
    """
    import sqlalchemy as sa

    from sellerops.paths import data_docs_dir
    from sellerops.validation.validate import build_docs_index
    from sellerops.warehouse import connect

    build_docs_index(data_docs_dir())

    with connect().connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT account_id, marketplace_id, dataset, COUNT(*) AS batches, "
                "SUM(extracted) AS extracted, SUM(loaded) AS loaded, "
                "SUM(quarantined) AS quarantined, SUM(inserted) AS inserted, "
                "SUM(updated) AS updated FROM ops.load_audit WHERE started_at >= :since "
                "GROUP BY account_id, marketplace_id, dataset "
                "ORDER BY account_id, marketplace_id, dataset"
            ),
            {"since": since},
        ).all()
    log.info(
        "%-24s %-15s %-12s %7s %9s %9s %11s %9s %9s",
        *("account", "marketplace", "dataset", "batches", "extracted", "loaded"),
        *("quarantined", "inserted", "updated"),
    )
    for row in rows:
        log.info("%-24s %-15s %-12s %7d %9d %9d %11d %9d %9d", *row)
    totals = {
        "partitions": len({(r.account_id, r.marketplace_id) for r in rows}),
        "batches": sum(r.batches for r in rows),
        "extracted": sum(r.extracted for r in rows),
        "loaded": sum(r.loaded for r in rows),
        "quarantined": sum(r.quarantined for r in rows),
    }
    log.info("ingest run since %s: %s", since.isoformat(), totals)
    if not rows:
        raise RuntimeError(
            f"no batch was loaded since {since.isoformat()}: every ingest task failed; "
            "see their logs (the models are not rebuilt)"
        )
    return totals


def run_build() -> dict:
    """Build the models for every configured account; return the build's summary."""
    from sellerops.accounts import catalog_path, load_accounts
    from sellerops.models.runner import build
    from sellerops.warehouse import connect

    report = build(connect(), accounts=load_accounts(), catalog_path=catalog_path())
    log.info("%s", report.summary())
    return {"run_id": report.run_id, "mode": report.mode, "seconds": round(report.seconds, 1)}
