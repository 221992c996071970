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


HEADLINES = """
SELECT p.account_id, p.marketplace_id, p.buyers, p.repeat_buyers, r.return_rate, r.refund_rate,
       f.negative_feedback_rate, t.median_first_reply_minutes, w.window_start_hour,
       w.window_end_hour, w.seller_time_zone, w.coverage_share
FROM (
    SELECT account_id, marketplace_id,
           SUM(CASE WHEN orders >= 1 THEN 1 ELSE 0 END) AS buyers,
           SUM(CASE WHEN orders >= 2 THEN 1 ELSE 0 END) AS repeat_buyers
    FROM marts.buyer_profile GROUP BY account_id, marketplace_id
) AS p
LEFT JOIN (
    SELECT account_id, marketplace_id,
           CAST(SUM(returned_units) AS DOUBLE PRECISION) / NULLIF(SUM(ordered_units), 0)
               AS return_rate,
           CAST(SUM(refunded_orders) AS DOUBLE PRECISION) / NULLIF(SUM(orders), 0) AS refund_rate
    FROM marts.returns_by_month GROUP BY account_id, marketplace_id
) AS r ON r.account_id = p.account_id AND r.marketplace_id = p.marketplace_id
LEFT JOIN marts.feedback_summary AS f
    ON f.account_id = p.account_id AND f.marketplace_id = p.marketplace_id
    AND f.window_days = 365
LEFT JOIN marts.reply_times AS t
    ON t.account_id = p.account_id AND t.marketplace_id = p.marketplace_id
    AND t.seller_local_hour IS NULL
LEFT JOIN marts.reply_window AS w
    ON w.account_id = p.account_id AND w.marketplace_id = p.marketplace_id
ORDER BY p.account_id, p.marketplace_id
"""


def _pct(value) -> str:
    return "-" if value is None else f"{100 * float(value):.1f}%"


def _headlines(warehouse) -> str:
    """Headline KPIs per account and marketplace, straight from the marts."""
    with warehouse.connect() as conn:
        rows = conn.exec_driver_sql(HEADLINES).fetchall()
    lines = [
        f"{'account / marketplace':34} {'buyers':>7} {'repurch.':>8} {'returns':>8} "
        f"{'refunds':>8} {'neg.fb':>7} {'reply':>8}  reply window (seller time)"
    ]
    for row in rows:
        repurchase = row.repeat_buyers / row.buyers if row.buyers else None
        reply = (
            "-"
            if row.median_first_reply_minutes is None
            else (f"{float(row.median_first_reply_minutes):.0f} min")
        )
        window = (
            f"{int(row.window_start_hour):02d}:00-{int(row.window_end_hour):02d}:00 "
            f"{row.seller_time_zone} ({_pct(row.coverage_share)} of messages)"
            if row.window_start_hour is not None
            else "-"
        )
        lines.append(
            f"{row.account_id + ' / ' + row.marketplace_id:34} {int(row.buyers):>7} "
            f"{_pct(repurchase):>8} {_pct(row.return_rate):>8} {_pct(row.refund_rate):>8} "
            f"{_pct(row.negative_feedback_rate):>7} {reply:>8}  {window}"
        )
    return "\n".join(lines)


def run(
    *, days: int = 60, seed: int = 42, orders_per_day: float = 25.0, pepper: bytes | None = None
) -> int:
    """The whole pipeline; ``pepper`` (default: the public development pepper) keys buyers."""
    import json

    from sellerops.sandbox.service import sandbox_environment
    from sellerops.sources.spapi import SpApiCredentials, SpApiSession
    from sellerops.validation.validate import build_docs_index

    started = time.monotonic()
    timings: dict[str, float] = {}
    data = data_dir()
    url = _fresh_warehouse(data / "sellerops.duckdb")
    warehouse = connect(url)
    migrations.upgrade(warehouse)
    if pepper is None:
        pepper = identity.DEVELOPMENT_PEPPER.encode()
        print("SellerOps demo: sandbox seller accounts, DuckDB warehouse, development pepper")
        print("  (the development pepper is public: never use it for real buyers)")
    else:
        print("SellerOps demo: sandbox seller accounts, DuckDB warehouse, configured pepper")

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
        build_docs_index(data_docs_dir())
        timings["ingest"] = time.monotonic() - step
        step = time.monotonic()
        from sellerops.models.runner import build

        report = build(warehouse, accounts=accounts, catalog_path=catalog)
        timings["models"] = time.monotonic() - step
        print(f"models: {len(report.models)} built ({report.mode})")
        step = time.monotonic()
        from sellerops.tags import load_rules, materialise_tags

        tags = materialise_tags(warehouse, load_rules())
        timings["tags"] = time.monotonic() - step
        print(f"tags: {tags.summary()}")
        step = time.monotonic()
        from sellerops.campaigns.results import compute_results, render_results
        from sellerops.campaigns.sender import send_campaigns

        # The shipped campaigns run live here: the sandbox is not Amazon.
        run = send_campaigns(warehouse, accounts=accounts, as_of=world.end, live=True)
        print(run.summary())
        print(render_results(compute_results(warehouse, as_of=world.end, mature_only=False)))
        timings["campaigns"] = time.monotonic() - step
        step = time.monotonic()
        from sellerops.report import write_report

        pages = write_report(warehouse, data / "report.html", accounts=accounts)
        timings["report"] = time.monotonic() - step

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
    print()
    print(_headlines(warehouse))
    print(f"warehouse: {data / 'sellerops.duckdb'}")
    print(f"KPI report: {pages[-1]} ({len(pages)} pages; open it in a browser)")
    print(f"sandbox truth: {truth_path}")
    print(
        "time: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
        + f", total {time.monotonic() - started:.1f} s"
    )
    return 0 if all_match else 1
