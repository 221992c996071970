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


def run_build() -> dict:
    """Build the models for every configured account; return the build's summary."""
    from sellerops.accounts import catalog_path, load_accounts
    from sellerops.models.runner import build
    from sellerops.warehouse import connect

    report = build(connect(), accounts=load_accounts(), catalog_path=catalog_path())
    log.info("%s", report.summary())
    return {"run_id": report.run_id, "mode": report.mode, "seconds": round(report.seconds, 1)}
