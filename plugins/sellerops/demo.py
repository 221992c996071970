"""``make demo``: the whole daily pipeline over the built-in sandbox, into ``data/``.

No server to install and no credentials: the sandbox seller accounts are
served on a local port, the warehouse is a DuckDB file, and the buyer pepper
is the public development pepper (the demo says so). Every step is the same
library code the Airflow DAGs run.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from sellerops import identity, ingest, migrations
from sellerops.accounts import load_accounts
from sellerops.paths import data_dir, data_docs_dir
from sellerops.warehouse import connect

log = logging.getLogger(__name__)

WINDOW_DAYS = 30  # the longest report window Amazon accepts for every report used


def _fresh_warehouse(path: Path) -> str:
    for leftover in (path, path.with_name(path.name + ".wal")):
        leftover.unlink(missing_ok=True)
    return f"duckdb:///{path}"


def _core_counts(warehouse) -> dict[str, int]:
    counts = {}
    with warehouse.connect() as conn:
        for table in ("orders", "order_items", "returns", "refunds", "feedback", "messages"):
            counts[f"core.{table}"] = conn.exec_driver_sql(
                f"SELECT count(*) FROM core.{table}"  # noqa: S608 - fixed table names
            ).scalar()
    return counts


def run(*, days: int = 60, seed: int = 42, orders_per_day: float = 25.0) -> int:
    import json

    from sellerops.sandbox.service import sandbox_environment
    from sellerops.sources.spapi import SpApiCredentials, SpApiSession

    started = time.monotonic()
    timings: dict[str, float] = {}
    data = data_dir()
    url = _fresh_warehouse(data / "sellerops.duckdb")
    warehouse = connect(url)
    migrations.upgrade(warehouse)
    pepper = identity.DEVELOPMENT_PEPPER.encode()
    print("SellerOps demo: sandbox seller accounts, DuckDB warehouse, development pepper")
    print("  (the development pepper is public: never use it for real buyers)")

    sandbox_dir = data / "sandbox"
    shutil.rmtree(sandbox_dir, ignore_errors=True)
    step = time.monotonic()
    with sandbox_environment(
        sandbox_dir, seed=seed, days=days, orders_per_day=orders_per_day
    ) as env:
        timings["sandbox"] = time.monotonic() - step
        truth_path = shutil.copy(env.truth_path, data / "sandbox_truth.json")
        world = env.world
        print(
            f"sandbox: seed {seed}, {world.start:%Y-%m-%d} .. {world.end:%Y-%m-%d}, "
            f"served at {env.base_url}"
        )
        accounts = load_accounts(env.accounts_file)
        catalog = shutil.copy(data / "sandbox" / "catalog.csv", data / "catalog.csv")
        step = time.monotonic()
        spans = ingest.windows(world.start, world.end, WINDOW_DAYS)
        audits = []
        for account in accounts.accounts:
            session = SpApiSession(
                account.account_id, SpApiCredentials.from_connection(account.spapi_conn_id)
            )
            for marketplace_id in account.marketplaces:
                for window_start, window_end in spans:
                    audits += ingest.ingest_window(
                        warehouse,
                        account,
                        marketplace_id,
                        window_start,
                        window_end,
                        pepper=pepper,
                        spapi_session=session,
                        docs_dir=data_docs_dir(),
                    )
                print(f"  ingested {account.account_id} / {marketplace_id}")
        timings["ingest"] = time.monotonic() - step

    step = time.monotonic()
    from sellerops.models.runner import build

    report = build(warehouse, accounts=accounts, catalog_path=catalog)
    timings["models"] = time.monotonic() - step
    print(f"models: {len(report.models)} built ({report.mode})")

    truth = json.loads(Path(truth_path).read_text())
    counts = _core_counts(warehouse)
    extracted = sum(a.extracted for a in audits)
    quarantined = sum(a.quarantined for a in audits)
    print()
    print(f"{'table':18} {'rows':>8} {'sandbox truth':>14}")
    all_match = True
    for table, count in counts.items():
        expected = truth["totals"][table]
        mark = "ok" if count == expected else "MISMATCH"
        all_match &= count == expected
        print(f"{table:18} {count:>8} {expected:>14}  {mark}")
    print(
        f"\n{len(audits)} batches: {extracted} rows extracted, {quarantined} quarantined "
        f"(ops.load_audit, ops.quarantine)"
    )
    print(f"warehouse: {data / 'sellerops.duckdb'}")
    print(f"sandbox truth: {truth_path}")
    print(
        "time: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
        + f", total {time.monotonic() - started:.1f} s"
    )
    return 0 if all_match else 1
