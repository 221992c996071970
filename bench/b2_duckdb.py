"""B2: bulk load of order lines into DuckDB, against DuckDB reading the same rows from Parquet.

Same rows as B1 (``core.order_items`` rows typed by ``typed_frame``), a DuckDB
file in a temporary directory. Timed, each in its own transaction with the commit:

``arrow_stage``
    the loader's transfer (``sellerops.load._Stage.put``: the frame registered as
    an Arrow table) then ``INSERT INTO plain SELECT <the loader's casts> FROM stage``.
``parquet``
    ``INSERT INTO plain SELECT <the same casts> FROM read_parquet('<file>')``:
    the ceiling (the Parquet file is written beforehand, untimed).
``load_batch``
    the whole loader into an empty ``core.order_items``: raw landing, counts,
    MERGE (``INSERT ... ON CONFLICT``) on the primary key, audit row.
``parquet_merge``
    the same SQL ``load_batch`` runs, with both stages read from the Parquet file.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from bench.common import (
    Result,
    Sizes,
    Stopwatch,
    at_least,
    duckdb_memory_limit,
    duckdb_warehouse,
    machine,
    rnd,
)

WHAT_STAGE = "DuckDB transfer (Arrow stage) vs reading Parquet"
WHAT_MERGE = "DuckDB load_batch vs the same MERGE SQL over Parquet"
TARGET = ">= 0.5x"


def run(sizes: Sizes) -> list[Result]:
    from bench.b1_postgres import order_item_rows

    watch = Stopwatch()
    with watch("prepare_rows"):
        frame = order_item_rows(sizes.b2_rows)
    folder = Path(tempfile.mkdtemp(prefix="sellerops-bench-b2-"))
    try:
        with watch("write_parquet"):
            parquet = folder / "order_items.parquet"
            frame.to_parquet(parquet, index=False)
        timings, checks = _measure(folder, frame, parquet, repeats=2)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    rows = len(frame)
    best = {k: min(v) for k, v in timings.items()}
    detail = {
        "rows": rows,
        "seconds": {k: [rnd(x) for x in v] for k, v in timings.items()},
        "best_seconds": {k: rnd(v) for k, v in best.items()},
        "rows_per_second": {k: round(rows / v) for k, v in best.items()},
        "same_rows_everywhere": checks,
        "prepare_seconds": watch.seconds,
        "duckdb_memory_limit": duckdb_memory_limit(),
        **machine(),
    }
    stage_ratio = best["parquet"] / best["arrow_stage"]
    merge_ratio = best["parquet_merge"] / best["load_batch"]
    return [
        Result("B2", WHAT_STAGE, rnd(stage_ratio, 2), "x", TARGET, at_least(stage_ratio, 0.5),
               detail),
        Result("B2", WHAT_MERGE, rnd(merge_ratio, 2), "x", TARGET, at_least(merge_ratio, 0.5),
               {"see": "first B2 row's detail"}),
    ]  # fmt: skip


def _warehouse(path: Path):
    """A new DuckDB warehouse file at the head revision (untimed)."""
    wh = duckdb_warehouse(path)
    _checkpoint(wh)
    return wh


def _measure(folder: Path, frame: pd.DataFrame, parquet: Path, repeats: int):
    from sellerops import datasets

    dataset = datasets.ORDER_ITEMS
    wh = _warehouse(folder / "plain.duckdb")
    timings: dict[str, list[float]] = {
        k: [] for k in ("parquet", "arrow_stage", "parquet_merge", "load_batch")
    }
    checks: dict[str, object] = {}
    with wh.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA bench")
    for _ in range(repeats):
        timings["parquet"].append(_parquet(wh, dataset, parquet))
        checks["parquet"] = _fingerprint(wh, "bench.plain")
        timings["arrow_stage"].append(_arrow_stage(wh, dataset, frame))
        checks["arrow_stage"] = _fingerprint(wh, "bench.plain")
    wh.dispose()
    # Each MERGE into an empty core.order_items gets a new warehouse file: emptying
    # a 1M-row table with a primary key costs DuckDB more than the load itself.
    for i in range(repeats):
        for kind, fn, source in (
            ("parquet_merge", _parquet_merge, parquet),
            ("load_batch", _load_batch, frame),
        ):
            path = folder / f"{kind}_{i}.duckdb"
            wh = _warehouse(path)
            timings[kind].append(fn(wh, dataset, source))
            checks[kind] = _fingerprint(wh, dataset.core_table)
            wh.dispose()
            path.unlink()
    values = {tuple(str(x) for x in v) for v in checks.values()}
    out = {k: [str(x) for x in v] for k, v in checks.items()}
    out["identical"] = len(values) == 1
    return timings, out


def _plain(wh, dataset) -> None:
    from sellerops.load import SQL_TYPES

    columns = ", ".join(f"{c.name} {SQL_TYPES[c.type]}" for c in dataset.columns)
    with wh.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS bench.plain")
        conn.exec_driver_sql(f"CREATE TABLE bench.plain ({columns})")
    _checkpoint(wh)


def _parquet(wh, dataset, parquet: Path) -> float:
    from sellerops.load import _select_cast

    _plain(wh, dataset)
    watch = Stopwatch()
    with watch("t"), wh.begin() as conn:
        conn.exec_driver_sql(
            f"INSERT INTO bench.plain SELECT {_select_cast(dataset)} "  # noqa: S608
            f"FROM read_parquet('{parquet}')"
        )
    return watch.seconds["t"]


def _arrow_stage(wh, dataset, frame: pd.DataFrame) -> float:
    from sellerops.load import _select_cast, _Stage

    _plain(wh, dataset)
    watch = Stopwatch()
    with watch("t"), wh.begin() as conn:
        stage = _Stage(wh, conn, dataset, "stage_bench")
        stage.put(frame[dataset.column_names])
        conn.exec_driver_sql(
            f"INSERT INTO bench.plain SELECT {_select_cast(dataset)} FROM {stage.name}"  # noqa: S608
        )
        stage.drop()
    return watch.seconds["t"]


def _checkpoint(wh) -> None:
    """Flush the WAL into the file so no run pays for an earlier one's checkpoint."""
    with wh.connect() as conn:
        conn.exec_driver_sql("CHECKPOINT")


def _load_batch(wh, dataset, frame: pd.DataFrame) -> float:
    from sellerops.load import load_batch

    watch = Stopwatch()
    with watch("t"):
        audit = load_batch(
            wh,
            dataset,
            frame,
            frame,
            pd.DataFrame(columns=["row_number", "reason", "values"]),
            batch_id=f"bench-b2-{datetime.now(UTC):%H%M%S%f}",
            account_id="bench",
            marketplace_id="all",
            source="bench",
            window_start=None,
            window_end=None,
        )
    if audit.inserted != len(frame):
        raise RuntimeError(f"load_batch inserted {audit.inserted} of {len(frame)} rows")
    return watch.seconds["t"]


def _parquet_merge(wh, dataset, parquet: Path) -> float:
    """load_batch's SQL, both stages read from the Parquet file."""
    from sellerops.load import _changed_predicate, _merge_counts, _select_cast

    columns = ", ".join(dataset.column_names)
    others = [c for c in dataset.column_names if c not in dataset.key]
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in [*others, "batch_id", "loaded_at"])
    params = {"batch_id": "bench-b2-parquet", "now": datetime.now(UTC)}
    source = f"read_parquet('{parquet}')"
    watch = Stopwatch()
    with watch("t"), wh.begin() as conn:
        conn.execute(
            sa.text(
                f"INSERT INTO {dataset.raw_table} (batch_id, extracted_at, {columns}) "  # noqa: S608
                f"SELECT :batch_id, :now, {_select_cast(dataset)} FROM {source}"
            ),
            params,
        )
        _merge_counts(conn, dataset, source)
        conn.execute(
            sa.text(
                f"INSERT INTO {dataset.core_table} AS t ({columns}, batch_id, loaded_at) "  # noqa: S608
                f"SELECT {_select_cast(dataset)}, :batch_id, :now FROM {source} "
                f"ON CONFLICT ({', '.join(dataset.key)}) DO UPDATE SET {updates} "
                f"WHERE {_changed_predicate(dataset, 't', 'EXCLUDED')}"
            ),
            params,
        )
    return watch.seconds["t"]


def _fingerprint(wh, table: str) -> tuple:
    with wh.connect() as conn:
        return tuple(
            conn.exec_driver_sql(
                f"SELECT count(*), count(DISTINCT order_id), sum(quantity), "  # noqa: S608
                f"sum(item_price), sum(promotion_discount), count(order_item_id), "
                f"min(last_updated_time), max(last_updated_time) FROM {table}"
            ).one()
        )
