"""B6: peak memory of ``sellerops import-report`` on an all-orders report, 10x apart.

A World of one account selling on one marketplace is written as a
``GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL`` file (the sandbox
renderer's layout and value formats, written vectorised: the renderer builds
Python rows one by one and caps a request at 30 days). The first N lines (cut
at an order boundary) make the small report, all of them the large one.

Each import runs ``ingest.import_report_file`` in a fresh child process
(``python -m bench.b6_memory --child ...``) against a new DuckDB file; the
child's own peak RSS comes from ``wait4`` (``ru_maxrss``), taken by a small
launcher (``bench/spawn_measured.py``) so that the child does not inherit this
process's resident set, World included, as its peak. Streaming means the peak
does not grow with the file: target large/small <= 2.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import PROJECT_ROOT, Result, Sizes, at_most, child_env, machine, rnd, run_child

WHAT = "import-report peak RSS, 10x the lines (streaming)"
TARGET = "<= 2x"
US = "ATVPDKIKX0DER"


def _clean(series: pd.Series) -> pd.Series:
    text = series.fillna("").astype(str)
    return text.str.replace(r"[\t\r\n]+", " ", regex=True)


def _money(values: pd.Series) -> pd.Series:
    rounded = values.round(2) + 0.0  # + 0.0 turns -0.0 into 0.0
    return pd.Series(np.char.mod("%.2f", rounded.to_numpy()), index=values.index)


def _iso(times: pd.Series) -> pd.Series:
    return times.dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def write_all_orders(world, path: Path, *, max_lines: int | None = None) -> int:
    """The world's order lines as an all-orders report; returns the data lines written."""
    from sellerops.sandbox import reports as rpt

    orders = world.orders.drop(columns=["account_id", "currency"])
    merged = world.order_items.merge(orders, on=["marketplace_id", "order_id"], how="inner")
    merged = merged.sort_values(["purchase_time", "order_id", "order_item_id"], kind="stable")
    if max_lines is not None and len(merged) > max_lines:
        last_order = merged["order_id"].iloc[max_lines - 1]
        cut = max_lines
        while cut < len(merged) and merged["order_id"].iloc[cut] == last_order:
            cut += 1
        merged = merged.iloc[:cut]
    titles = world.products.set_index(["marketplace_id", "sku"])["title"]
    title = pd.Series(
        titles.reindex(pd.MultiIndex.from_frame(merged[["marketplace_id", "sku"]])).to_numpy(),
        index=merged.index,
    )
    discount = merged["promotion_discount"]
    empty = pd.Series("", index=merged.index)
    columns = {
        "amazon-order-id": merged["order_id"],
        "merchant-order-id": empty,
        "purchase-date": _iso(merged["purchase_time"]),
        "last-updated-date": _iso(merged["last_updated_time"]),
        "order-status": merged["order_status"].map(rpt.ORDER_STATUS_TEXT),
        "fulfillment-channel": merged["fulfillment_channel"].map(rpt.FULFILLMENT_CHANNEL_TEXT),
        "sales-channel": merged["sales_channel"],
        "order-channel": empty,
        "url": empty,
        "ship-service-level": "Standard",
        "product-name": _clean(title),
        "sku": merged["sku"],
        "asin": merged["asin"],
        "item-status": merged["order_status"].map(rpt.ITEM_STATUS_TEXT),
        "quantity": merged["quantity"].astype(str),
        "currency": merged["currency"],
        "item-price": _money(merged["item_price"]),
        "item-tax": _money(merged["item_tax"]),
        "shipping-price": _money(merged["shipping_price"]),
        "shipping-tax": empty,
        "gift-wrap-price": empty,
        "gift-wrap-tax": empty,
        "item-promotion-discount": _money(-discount).where(discount > 0, ""),
        "ship-promotion-discount": empty,
        "ship-city": _clean(merged["ship_city"]),
        "ship-state": _clean(merged["ship_state"]),
        "ship-postal-code": _clean(merged["ship_postal_code"]),
        "ship-country": _clean(merged["ship_country"]),
        "promotion-ids": merged["promotion_id"],
        "is-business-order": np.where(merged["is_business_order"], "true", "false"),
        "purchase-order-number": empty,
        "price-designation": empty,
    }
    if tuple(columns) != rpt.ALL_ORDERS_COLUMNS:
        raise AssertionError("all-orders columns differ from the sandbox renderer's")
    # Amazon's flat files have no quoting: fields joined by tabs, "\n" line ends.
    frame = pd.DataFrame(columns).astype("str")
    lines = frame.iloc[:, 0]
    for name in frame.columns[1:]:
        lines = lines + "\t" + frame[name]
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write("\t".join(frame.columns) + "\n")
        for start in range(0, len(lines), 200_000):
            out.write("\n".join(lines.iloc[start : start + 200_000].tolist()) + "\n")
    return len(frame)


def _accounts_file(folder: Path, account) -> Path:
    import yaml

    path = folder / "accounts.yaml"
    entry = {
        "account_id": account.account_id,
        "name": account.seller_name,
        "spapi_conn_id": "sellerops_spapi_bench",
        "marketplaces": [US],
        "seller_time_zone": account.seller_time_zone,
    }
    path.write_text(yaml.safe_dump({"accounts": [entry]}), encoding="utf-8")
    return path


def run(sizes: Sizes) -> list[Result]:
    from dataclasses import replace

    from bench import worldcore
    from sellerops import migrations
    from sellerops.sandbox.generator import DEFAULT_ACCOUNTS
    from sellerops.warehouse import connect

    small, large = sizes.b6_lines
    account = replace(DEFAULT_ACCOUNTS[0], marketplace_ids=(US,))
    folder = Path(tempfile.mkdtemp(prefix="sellerops-bench-b6-"))
    runs = {}
    try:
        started = time.perf_counter()
        world = worldcore.make_world(int(large * 1.03) + 100, days=365, accounts=[account])
        paths = {"large": folder / "all_orders_large.tsv", "small": folder / "all_orders_small.tsv"}
        lines = {
            "large": write_all_orders(world, paths["large"], max_lines=large),
            "small": write_all_orders(world, paths["small"], max_lines=small),
        }
        del world
        prepare = time.perf_counter() - started
        accounts = _accounts_file(folder, account)
        for label in ("small", "large"):
            url = f"duckdb:///{folder / f'{label}.duckdb'}"
            wh = connect(url)
            migrations.upgrade(wh)
            wh.dispose()
            child = run_child(
                [
                    sys.executable,
                    "-m",
                    "bench.b6_memory",
                    "--child",
                    str(paths[label]),
                    "--accounts",
                    str(accounts),
                    "--warehouse",
                    url,
                    "--account",
                    account.account_id,
                ],
                env=child_env(SELLEROPS_NO_AIRFLOW_CONNECTIONS="1"),
                cwd=PROJECT_ROOT,
            )
            if child.returncode != 0:
                raise RuntimeError(f"import of the {label} report failed:\n{child.stderr[-3000:]}")
            report = json.loads(child.stdout.strip().splitlines()[-1])
            runs[label] = {
                "lines": lines[label],
                "file_mb": rnd(paths[label].stat().st_size / 2**20, 1),
                "peak_rss_mb": rnd(child.max_rss_mb, 1),
                "wall_seconds": rnd(child.seconds, 2),
                **report,
            }
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    ratio = runs["large"]["peak_rss_mb"] / runs["small"]["peak_rss_mb"]
    growth = runs["large"]["peak_rss_mb"] - runs["small"]["peak_rss_mb"]
    detail = {
        "runs": runs,
        "absolute_peak_rss_mb": runs["large"]["peak_rss_mb"],
        "peak_growth_mb": rnd(growth, 1),
        "baseline_note": "baseline_rss_mb is the child's RSS after its imports, before reading",
        "prepare_seconds": rnd(prepare, 1),
        **machine(),
    }
    return [
        Result(
            "B6",
            f"{WHAT}: {lines['large']:,} vs {lines['small']:,} lines; "
            f"peak {runs['large']['peak_rss_mb']:.0f} MB",
            rnd(ratio, 2),
            "x",
            TARGET,
            at_most(ratio, 2.0),
            detail,
        )
    ]


# -- the child --------------------------------------------------------------------------------


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def child(args: argparse.Namespace) -> int:
    import logging

    logging.disable(logging.INFO)
    # What the CLI has imported by the time it reads (pandas, duckdb, the validators).
    import sellerops.validation.validate  # noqa: F401
    from sellerops import identity, ingest
    from sellerops.sources import reports

    baseline = _rss_mb()
    # Where the memory goes: resident set after each loaded batch (flat when only the
    # batch in hand is held; growing with the warehouse's own tables and indexes).
    trace: list[float] = []
    process_batch = ingest.process_batch

    def traced(*args, **kwargs):
        audit = process_batch(*args, **kwargs)
        trace.append(round(_rss_mb(), 1))
        return audit

    ingest.process_batch = traced
    started = time.perf_counter()
    audits = ingest.import_report_file(
        path=args.path,
        report_type=reports.ALL_ORDERS,
        account_id=args.account,
        marketplace_id=US,
        warehouse_url=args.warehouse,
        accounts_file=args.accounts,
        pepper=identity.DEVELOPMENT_PEPPER.encode(),
    )
    seconds = time.perf_counter() - started
    by_dataset: dict[str, dict[str, int]] = {}
    for audit in audits:
        entry = by_dataset.setdefault(
            audit.dataset, {"extracted": 0, "loaded": 0, "quarantined": 0}
        )
        entry["extracted"] += audit.extracted
        entry["loaded"] += audit.loaded
        entry["quarantined"] += audit.quarantined
    print(
        json.dumps(
            {
                "import_seconds": round(seconds, 2),
                "batches": len(audits),
                "datasets": by_dataset,
                "baseline_rss_mb": round(baseline, 1),
                "rss_after_each_batch_mb": trace,
            }
        )
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="B6 child: import one report file")
    parser.add_argument("--child", dest="path", required=True)
    parser.add_argument("--accounts", required=True)
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--account", required=True)
    return child(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
