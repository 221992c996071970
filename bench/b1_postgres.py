"""B1: bulk load of order lines into PostgreSQL, against ``to_sql`` and the server's own COPY.

Everything runs in a throwaway database (created and dropped here), on the same
rows: ``core.order_items`` rows built from a sandbox World and typed with
``typed_frame``, exactly what an extractor hands the loader. Timed, each with a
commit and after a ``CHECKPOINT``:

``load_batch``
    the library loader into an empty ``core.order_items``: COPY (psycopg 3,
    Arrow-written CSV) into a temporary stage, land in ``raw``, upsert into
    ``core`` (counts from ``RETURNING``), audit row. One transaction.
``server_merge``
    the same work done by the server alone: ``COPY stage FROM '<file>'`` (the
    server reads the CSV itself), then the very SQL ``load_batch`` runs (land in
    ``raw``, upsert into ``core`` counting from ``RETURNING``). The like-for-like
    ceiling of the whole loader.
``copy_frame``
    the loader's transfer alone (``sellerops.load.copy_frame``) into a plain
    table with the dataset's column types and no constraints.
``server_copy``
    ``COPY plain FROM '<file>'`` into the same kind of table: the ceiling of
    the transfer.
``to_sql``
    ``DataFrame.to_sql(..., chunksize=10_000)`` (default method) appending to
    the same kind of plain table.

The CSV the server reads is the frame written by Arrow exactly as
``copy_frame`` writes it (``/tmp``, mode 0644: the server runs as the postgres
OS user and reads the file itself, no ``STDIN``).

Rows: ``copy_frame`` against ``to_sql`` and against ``server_copy`` (like for
like: the same rows into the same kind of table), then ``load_batch`` against
``to_sql`` (not like for like: the loader writes the rows twice, to ``raw`` and upserted
into a table with a primary key; ``detail.load_batch_ceiling_vs_to_sql`` is
the most any client could reach doing that work) and against ``server_merge``.
Fast sides run twice and the best run counts; ``to_sql`` runs once.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from bench.common import (
    Result,
    Sizes,
    Stopwatch,
    at_least,
    machine,
    not_measured,
    pg_unavailable,
    rnd,
    throwaway_pg_database,
)

WHAT_TO_SQL = "PostgreSQL: copy_frame vs pandas to_sql, same plain table"
WHAT_COPY = "PostgreSQL: copy_frame vs server COPY FROM file, same plain table"
WHAT_LOAD_TO_SQL = "PostgreSQL: load_batch (raw + MERGE into core) vs to_sql into a plain table"
WHAT_MERGE = "PostgreSQL: load_batch vs server COPY + the same landing/MERGE SQL"
TARGET_TO_SQL = ">= 8x"
TARGET_COPY = ">= 0.6x"


def order_item_rows(rows: int) -> pd.DataFrame:
    """``rows`` order lines as the loader receives them (``typed_frame``)."""
    from bench import worldcore
    from sellerops import datasets
    from sellerops.frames import typed_frame

    world = worldcore.make_world(int(rows * 1.03) + 100)
    items = worldcore.core_frames(world)["order_items"]
    if len(items) < rows:
        raise RuntimeError(f"the world has {len(items)} order lines, fewer than {rows}")
    return typed_frame(datasets.ORDER_ITEMS, items.iloc[:rows])


def write_server_csv(frame: pd.DataFrame, folder: Path) -> Path:
    """The frame as CSV exactly as ``copy_frame`` streams it, readable by the server."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    path = folder / "order_items.csv"
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), path, write_options=options)
    os.chmod(folder, 0o755)
    os.chmod(path, 0o644)
    return path


def run(sizes: Sizes) -> list[Result]:
    reason = pg_unavailable()
    if reason:
        return [
            not_measured("B1", WHAT_TO_SQL, "x", TARGET_TO_SQL, reason),
            not_measured("B1", WHAT_COPY, "x", TARGET_COPY, reason),
            not_measured("B1", WHAT_LOAD_TO_SQL, "x", TARGET_TO_SQL, reason),
            not_measured("B1", WHAT_MERGE, "x", TARGET_COPY, reason),
        ]
    watch = Stopwatch()
    with watch("prepare_rows"):
        frame = order_item_rows(sizes.b1_rows)
    folder = Path(tempfile.mkdtemp(prefix="sellerops-bench-b1-", dir="/tmp"))
    try:
        with watch("write_csv"):
            csv_path = write_server_csv(frame, folder)
        with throwaway_pg_database("b1") as url:
            timings, checks = _measure(url, frame, csv_path, repeats=2)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    rows = len(frame)
    best = {k: min(v) for k, v in timings.items()}
    detail = {
        "rows": rows,
        "columns": len(frame.columns),
        "csv_bytes": checks.pop("csv_bytes", None),
        "server_merge_steps_seconds": checks.pop("server_merge_steps", None),
        "seconds": {k: [rnd(x) for x in v] for k, v in timings.items()},
        "best_seconds": {k: rnd(v) for k, v in best.items()},
        "rows_per_second": {k: round(rows / v) for k, v in best.items()},
        "same_rows_everywhere": checks,
        "server_copy_source": "COPY ... FROM '<file>' read by the server (not STDIN)",
        "to_sql": "DataFrame.to_sql(if_exists='append', index=False, chunksize=10_000), "
        "default method, into a pre-created plain table with the same column types",
        "prepare_seconds": watch.seconds,
        **machine(),
    }
    to_sql_ratio = best["to_sql"] / best["copy_frame"]
    copy_ratio = best["server_copy"] / best["copy_frame"]
    load_to_sql_ratio = best["to_sql"] / best["load_batch"]
    merge_ratio = best["server_merge"] / best["load_batch"]
    # What load_batch does besides the transfer bounds its ratio to to_sql.
    detail["load_batch_ceiling_vs_to_sql"] = rnd(best["to_sql"] / best["server_merge"], 2)
    see = {"see": "first B1 row's detail"}
    return [
        Result("B1", WHAT_TO_SQL, rnd(to_sql_ratio, 2), "x", TARGET_TO_SQL,
               at_least(to_sql_ratio, 8), detail),
        Result("B1", WHAT_COPY, rnd(copy_ratio, 2), "x", TARGET_COPY,
               at_least(copy_ratio, 0.6), see),
        Result("B1", WHAT_LOAD_TO_SQL, rnd(load_to_sql_ratio, 2), "x", TARGET_TO_SQL,
               at_least(load_to_sql_ratio, 8), see),
        Result("B1", WHAT_MERGE, rnd(merge_ratio, 2), "x", TARGET_COPY,
               at_least(merge_ratio, 0.6), see),
    ]  # fmt: skip


def _measure(url: str, frame: pd.DataFrame, csv_path: Path, repeats: int):
    from sellerops import datasets, migrations
    from sellerops.warehouse import connect

    dataset = datasets.ORDER_ITEMS
    wh = connect(url)
    migrations.upgrade(wh)
    engine = wh.engine
    timings: dict[str, list[float]] = {
        k: [] for k in ("server_copy", "copy_frame", "server_merge", "load_batch", "to_sql")
    }
    checks: dict[str, object] = {"csv_bytes": csv_path.stat().st_size}
    merge_steps: list[dict] = []
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA bench")

    for _ in range(repeats):
        timings["server_copy"].append(_server_copy(engine, dataset, csv_path))
        timings["copy_frame"].append(_copy_frame(engine, dataset, frame))
    checks["server_copy"] = _fingerprint(engine, "bench.plain_server_copy")
    checks["copy_frame"] = _fingerprint(engine, "bench.plain_copy_frame")

    for _ in range(repeats):
        timings["server_merge"].append(_server_merge(engine, dataset, csv_path, merge_steps))
        checks["server_merge"] = _fingerprint(engine, dataset.core_table)
        timings["load_batch"].append(_load_batch(wh, dataset, frame))
        checks["load_batch"] = _fingerprint(engine, dataset.core_table)

    timings["to_sql"].append(_to_sql(engine, dataset, frame))
    checks["to_sql"] = _fingerprint(engine, "bench.plain_to_sql")
    wh.dispose()
    values = {json_safe(v) for v in checks.values() if isinstance(v, tuple)}
    checks["identical"] = len(values) == 1
    checks["server_merge_steps"] = merge_steps
    return timings, {k: (list(v) if isinstance(v, tuple) else v) for k, v in checks.items()}


def json_safe(value):
    return tuple(str(v) for v in value)


def _plain_table(conn, dataset, name: str) -> None:
    from sellerops.load import SQL_TYPES

    columns = ", ".join(f"{c.name} {SQL_TYPES[c.type]}" for c in dataset.columns)
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
    conn.exec_driver_sql(f"CREATE TABLE {name} ({columns})")


def _checkpoint(engine) -> None:
    with engine.connect() as conn:
        conn.exec_driver_sql("CHECKPOINT")


def _server_copy(engine, dataset, csv_path: Path) -> float:
    table = "bench.plain_server_copy"
    with engine.begin() as conn:
        _plain_table(conn, dataset, table)
    _checkpoint(engine)
    watch = Stopwatch()
    with watch("t"), engine.begin() as conn:
        conn.exec_driver_sql(
            f"COPY {table} ({', '.join(dataset.column_names)}) FROM '{csv_path}' (FORMAT csv)"
        )
    return watch.seconds["t"]


def _copy_frame(engine, dataset, frame: pd.DataFrame) -> float:
    from sellerops.load import copy_frame

    table = "bench.plain_copy_frame"
    with engine.begin() as conn:
        _plain_table(conn, dataset, table)
    _checkpoint(engine)
    watch = Stopwatch()
    with watch("t"), engine.begin() as conn:
        copy_frame(conn, table, frame[dataset.column_names])
    return watch.seconds["t"]


def _empty_core(engine, dataset) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {dataset.core_table}, {dataset.raw_table}")
        conn.exec_driver_sql("TRUNCATE ops.load_audit")
    _checkpoint(engine)


def _load_batch(wh, dataset, frame: pd.DataFrame) -> float:
    from sellerops.load import load_batch

    _empty_core(wh.engine, dataset)
    no_quarantine = pd.DataFrame(columns=["row_number", "reason", "values"])
    watch = Stopwatch()
    with watch("t"):
        audit = load_batch(
            wh,
            dataset,
            frame,
            frame,
            no_quarantine,
            batch_id=f"bench-b1-{datetime.now(UTC):%H%M%S%f}",
            account_id="bench",
            marketplace_id="all",
            source="bench",
            window_start=None,
            window_end=None,
        )
    if audit.inserted != len(frame):
        raise RuntimeError(f"load_batch inserted {audit.inserted} of {len(frame)} rows")
    return watch.seconds["t"]


def _server_merge(engine, dataset, csv_path: Path, steps: list[dict]) -> float:
    """What load_batch does, with the server reading the CSV file into the stage.

    Appends the run's seconds per statement to ``steps`` (where the loader's time goes).
    """
    from sellerops.load import SQL_TYPES, land_raw_sql, upsert_sql

    _empty_core(engine, dataset)
    columns = ", ".join(dataset.column_names)
    column_types = ", ".join(f"{c.name} {SQL_TYPES[c.type]}" for c in dataset.columns)
    params = {"batch_id": "bench-b1-server", "now": datetime.now(UTC)}
    watch, step = Stopwatch(), Stopwatch()
    with watch("t"):
        with engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE TEMP TABLE stage ({column_types}) ON COMMIT DROP")
            with step("copy_into_temp_stage"):
                conn.exec_driver_sql(f"COPY stage ({columns}) FROM '{csv_path}' (FORMAT csv)")
            with step("land_raw"):
                conn.execute(sa.text(land_raw_sql(dataset, "stage")), params)
            with step("upsert_core_with_counts"):
                conn.execute(
                    sa.text(upsert_sql(dataset, "stage", returning_counts=True)), params
                ).one()
            step_commit = time.perf_counter()
        step.seconds["commit"] = round(time.perf_counter() - step_commit, 4)
    steps.append(step.seconds)
    return watch.seconds["t"]


def _to_sql(engine, dataset, frame: pd.DataFrame) -> float:
    with engine.begin() as conn:
        _plain_table(conn, dataset, "bench.plain_to_sql")
    _checkpoint(engine)
    watch = Stopwatch()
    with watch("t"):
        frame[dataset.column_names].to_sql(
            "plain_to_sql",
            engine,
            schema="bench",
            if_exists="append",
            index=False,
            chunksize=10_000,
        )
    return watch.seconds["t"]


def _fingerprint(engine, table: str) -> tuple:
    """Rows and column sums: the same rows arrived, whatever the path."""
    with engine.connect() as conn:
        return tuple(
            conn.exec_driver_sql(
                f"SELECT count(*), count(DISTINCT order_id), sum(quantity), "  # noqa: S608
                f"sum(item_price), sum(promotion_discount), "
                f"count(order_item_id), min(last_updated_time), max(last_updated_time) "
                f"FROM {table}"
            ).one()
        )
