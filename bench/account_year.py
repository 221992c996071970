"""Warehouse size of one seller account-year, for capacity planning (docs/scaling.md).

Generates one sandbox account selling on Amazon.com for 365 days at a given number of
orders per day, loads its core tables with the library loader, builds every model and
the buyer tags, and prints what that costs on disk: the DuckDB file after a checkpoint,
and the PostgreSQL database minus an empty migrated one. Also prints the rows per
table and the SP-API calls a day of that seller takes. Not part of ``make bench``'s
table (it has no target); run it directly:

    .venv/bin/python -m bench.account_year --orders-per-day 40 300
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import tempfile
from pathlib import Path

from bench import worldcore
from bench.common import duckdb_warehouse, pg_unavailable, throwaway_pg_database


def _world(orders_per_day: int):
    from sellerops.sandbox.generator import (
        DEFAULT_ACCOUNTS,
        US_MARKETPLACE,
        GeneratorConfig,
        generate,
    )

    account = dataclasses.replace(DEFAULT_ACCOUNTS[0], marketplace_ids=(US_MARKETPLACE,))
    config = GeneratorConfig(seed=3, days=365, orders_per_day=orders_per_day, accounts=(account,))
    return generate(config)


def _fill(warehouse, world, folder: Path) -> dict[str, int]:
    from sellerops.models.runner import build
    from sellerops.tags import materialise_tags

    frames = worldcore.core_frames(world)
    rows = worldcore.load_frames(warehouse, frames)
    worldcore.resolve_all(warehouse, [a.account_id for a in world.accounts])
    inputs = worldcore.build_inputs(world, folder)
    build(warehouse, accounts=inputs.accounts, catalog_path=inputs.catalog_path, as_of=world.end)
    materialise_tags(warehouse, as_of=world.end)
    return rows


def _pg_bytes(url: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        size = conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar()
    engine.dispose()
    return int(size)


def measure(orders_per_day: int) -> dict:
    from sellerops import migrations
    from sellerops.warehouse import connect

    world = _world(orders_per_day)
    out: dict = {"orders_per_day": orders_per_day, "orders": len(world.orders)}
    out["order_lines"] = len(world.order_items)
    with tempfile.TemporaryDirectory(prefix="sellerops-size-") as tmp:
        folder = Path(tmp)
        empty = duckdb_warehouse(folder / "empty.duckdb")
        empty.dispose()
        wh = duckdb_warehouse(folder / "year.duckdb")
        out["rows"] = _fill(wh, world, folder)
        with wh.connect() as conn:
            conn.exec_driver_sql("CHECKPOINT")
        wh.dispose()
        year = (folder / "year.duckdb").stat().st_size
        out["duckdb_mb"] = round((year - (folder / "empty.duckdb").stat().st_size) / 1e6, 1)
    if pg_unavailable() is None:
        with throwaway_pg_database("size_empty") as url:
            migrations.upgrade(connect(url))
            base = _pg_bytes(url)
        with throwaway_pg_database("size_year") as url:
            wh = connect(url)
            migrations.upgrade(wh)
            _fill(wh, world, Path(tempfile.mkdtemp(prefix="sellerops-size-")))
            wh.dispose()
            out["postgres_mb"] = round((_pg_bytes(url) - base) / 1e6, 1)
    # SP-API calls of one day of this seller (one marketplace): Orders API pages of up to
    # 100 orders (orders are touched again when they ship, so count each order twice),
    # three reports (FBA returns, MFN returns, feedback: create + document), refund pages.
    touched = 2 * orders_per_day
    out["daily_calls"] = {
        "searchOrders": math.ceil(touched / 100),
        "createReport": 3,
        "getReportDocument": 3,
        "listFinancialEvents": max(1, math.ceil(0.1 * orders_per_day / 100)),
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders-per-day", type=int, nargs="+", default=[40, 300])
    args = parser.parse_args()
    for orders_per_day in args.orders_per_day:
        result = measure(orders_per_day)
        print(result, flush=True)


if __name__ == "__main__":
    main()
