"""B3 and B4: the model build (``sellerops.models.runner.build``) at 1M and 10M order lines.

Data: sandbox Worlds over ``history_days`` days, generated one account at a time
(two 5M-line worlds make the 10M one: half the peak memory of one 10M world),
mapped to core rows by :mod:`bench.worldcore` and loaded with the library loader
(``load_batch``), identities resolved. Then:

B3  a full build of the small world (DuckDB, and PostgreSQL in a throwaway
    database) and of the 10x world (DuckDB); figure time(10x) / time(1x).
B4  on the 10x world: the history without its last day is loaded, its
    ``loaded_at`` set as if it had come in daily loads (01:00 UTC the day after
    each row's time; loaded at once, all of it would fall inside the runner's
    one-hour overlap of the watermark) and built in full; then the last day is loaded
    (new orders, status updates of older ones, returns, refunds, feedback,
    messages) and built incrementally; then rebuilt in full (``full_refresh``).
    Figure: incremental / full rebuild, and every model table of the
    incremental build equals the full rebuild's (``EXCEPT ALL`` both ways, floats
    rounded to 1e-9 like the runner's own test; also checked exactly).
    The full rebuild is also B3's 10x build.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import re
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from bench.common import (
    Result,
    Sizes,
    Stopwatch,
    at_most,
    duckdb_memory_limit,
    duckdb_warehouse,
    machine,
    not_measured,
    pg_unavailable,
    progress,
    rnd,
    throwaway_pg_database,
)

WHAT_B3 = "full model build, DuckDB, 10x vs 1x order lines"
WHAT_B3_PG = "full model build, PostgreSQL"
WHAT_B4 = "incremental build of one new day vs full rebuild (DuckDB), identical tables"
TARGET_B3 = "<= 11x"
TARGET_B4 = "<= 5%, identical"
NO_RUNNER = "not measured: models runner not available"
# A model statement running longer than this on PostgreSQL ends the PostgreSQL build
# (reported as not measured, with the model and the per-model times so far).
PG_STATEMENT_TIMEOUT_S = float(os.environ.get("SELLEROPS_BENCH_PG_STATEMENT_TIMEOUT", "300"))


def runner_unavailable() -> str | None:
    try:
        from sellerops.models import runner
    except Exception as exc:  # noqa: BLE001 - any import problem means "not available"
        return f"{NO_RUNNER} ({type(exc).__name__}: {exc})"
    if not callable(getattr(runner, "build", None)):
        return f"{NO_RUNNER} (sellerops.models.runner has no build())"
    return None


def _millions(lines: int) -> str:
    return f"{lines / 1e6:g}M" if lines >= 1_000_000 else f"{lines / 1e3:g}k"


def run(sizes: Sizes) -> list[Result]:
    small, large = sizes.b3_lines
    what_b3 = f"{WHAT_B3} ({_millions(large)} vs {_millions(small)})"
    what_pg = f"{WHAT_B3_PG}, {_millions(sizes.b3_pg_lines)} order lines"
    what_b4 = f"{WHAT_B4}, {_millions(sizes.b4_lines)} lines"
    reason = runner_unavailable()
    if reason:
        return [
            not_measured("B3", what_b3, "x", TARGET_B3, reason),
            not_measured("B3", what_pg, "s", "(figure)", reason),
            not_measured("B4", what_b4, "%", TARGET_B4, reason),
        ]
    folder = Path(tempfile.mkdtemp(prefix="sellerops-bench-b3-"))
    try:
        small_run, pg_run = _small_builds(sizes, folder)
        large_run = _large_builds(sizes, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    ratio = large_run["full_rebuild_seconds"] / small_run["build_seconds"]
    share = large_run["incremental_seconds"] / large_run["full_rebuild_seconds"]
    identical = large_run["comparison"]["identical_within_1e-9"]
    b3_detail = {"duckdb_memory_limit": duckdb_memory_limit(), "small": small_run, "large_full_rebuild_seconds": large_run["full_rebuild_seconds"],
                 "large_first_build_seconds": large_run["first_build_seconds"],
                 "large_lines": large_run["lines"], **machine()}  # fmt: skip
    rows = [
        Result("B3", what_b3, rnd(ratio, 2), "x", TARGET_B3, at_most(ratio, 11), b3_detail),
    ]
    if pg_run.get("not_measured"):
        reason = pg_run.pop("not_measured")
        rows.append(not_measured("B3", what_pg, "s", "(figure)", reason, **pg_run))
    else:
        pg_ratio = pg_run["build_seconds"] / small_run["build_seconds"]
        pg_run["vs_duckdb_same_data"] = rnd(pg_ratio, 2)
        rows.append(Result("B3", what_pg, rnd(pg_run["build_seconds"], 1), "s", "(figure)", None,
                           pg_run))  # fmt: skip
    rows.append(
        Result(
            "B4",
            what_b4,
            rnd(100 * share, 2),
            "%",
            TARGET_B4,
            bool(at_most(share, 0.05) and identical),
            large_run,
        )  # fmt: skip
    )
    return rows


# -- data --------------------------------------------------------------------------------------


def _account_worlds(lines: int, days: int, seed: int):
    """One World per default sandbox account, ``lines`` order lines in all."""
    from bench import worldcore
    from sellerops.sandbox.generator import DEFAULT_ACCOUNTS

    share = lines / len(DEFAULT_ACCOUNTS)
    for index, account in enumerate(DEFAULT_ACCOUNTS):
        yield worldcore.make_world(int(share), days=days, seed=seed + index, accounts=[account])


def _load_world(
    wh, lines: int, days: int, seed: int, folder: Path, *, split_last_day: bool = False
) -> dict:
    """Generate, map and load the worlds; return inputs, counts, timings (and the new day)."""
    from bench import worldcore

    watch = Stopwatch()
    counts: dict[str, int] = {}
    new_days: list[dict[str, pd.DataFrame]] = []
    accounts = []
    products = []
    world_end = None
    progress(f"{wh.dialect}: generate and load {_millions(lines)} order lines")
    for world in _account_worlds(lines, days, seed):
        with watch("generate_and_map"):
            frames = worldcore.core_frames(world)
        inputs = worldcore.build_inputs(world, folder / world.accounts[0].account_id)
        accounts += inputs.accounts
        products.append(pd.read_csv(inputs.catalog_path, dtype=str))
        world_end = world.end
        del world
        gc.collect()
        if split_last_day:
            frames, new_day = worldcore.split_last_day(frames, world_end - timedelta(days=1))
            new_days.append(new_day)
        with watch("load_batch"):
            for name, rows in worldcore.load_frames(wh, frames).items():
                counts[name] = counts.get(name, 0) + rows
        del frames
        gc.collect()
    with watch("resolve_identities"):
        worldcore.resolve_all(wh, [a.account_id for a in accounts])
    catalog = folder / "catalog.csv"
    pd.concat(products).to_csv(catalog, index=False)
    out = {
        "accounts": accounts,
        "catalog": catalog,
        "counts": counts,
        "seconds": watch.seconds,
        "world_end": world_end,
    }
    if split_last_day:
        out["new_day"] = {
            name: pd.concat([d[name] for d in new_days], ignore_index=True) for name in new_days[0]
        }
    return out


def _build(wh, data: dict, *, full_refresh: bool) -> tuple[float, object]:
    from sellerops.models import runner

    progress(f"{wh.dialect}: build ({'full' if full_refresh else 'as due'})")
    started = time.perf_counter()
    report = runner.build(
        wh, accounts=data["accounts"], catalog_path=data["catalog"], full_refresh=full_refresh
    )
    seconds = time.perf_counter() - started
    progress(f"{wh.dialect}: {report.mode} build took {seconds:.1f} s")
    return seconds, report


class _ModelTimes(logging.Handler):
    """Per-model seconds from the runner's log, so a build that fails still tells them."""

    PATTERN = re.compile(r"^(\S+): \S+, \S+ rows in ([0-9.]+) s$")

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seconds: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        match = self.PATTERN.match(record.getMessage())
        if match:
            self.seconds[match.group(1)] = float(match.group(2))


@contextlib.contextmanager
def _model_times():
    logger = logging.getLogger("sellerops.models.runner")
    handler = _ModelTimes()
    saved = (logger.level, logger.propagate)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield handler.seconds
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def _slowest(report, n: int = 6) -> dict[str, float]:
    models = sorted(report.models, key=lambda m: m.seconds, reverse=True)[:n]
    return {m.name: rnd(m.seconds, 2) for m in models}


def _pg_warehouse(url: str):
    """The PostgreSQL warehouse, every statement limited to PG_STATEMENT_TIMEOUT_S."""
    from sellerops.warehouse import Warehouse

    options = f"-c statement_timeout={int(PG_STATEMENT_TIMEOUT_S * 1000)}"
    return Warehouse(sa.create_engine(url, pool_pre_ping=True, connect_args={"options": options}))


def _duckdb(path: Path):
    return duckdb_warehouse(path)


# -- B3: the small world on DuckDB and PostgreSQL ------------------------------------------------


def _small_builds(sizes: Sizes, folder: Path) -> tuple[dict, dict]:
    from sellerops import migrations

    small = sizes.b3_lines[0]
    wh = _duckdb(folder / "small.duckdb")
    data = _load_world(wh, small, sizes.history_days, 21, folder / "small")
    seconds, report = _build(wh, data, full_refresh=True)
    wh.dispose()
    small_run = {
        "lines": data["counts"].get("order_items", 0),
        "core_rows": data["counts"],
        "build_seconds": rnd(seconds, 2),
        "build_mode": report.mode,
        "slowest_models": _slowest(report),
        "setup_seconds": data["seconds"],
    }
    pg_lines = sizes.b3_pg_lines
    reason = pg_unavailable()
    if reason:
        return small_run, {"not_measured": reason}
    with throwaway_pg_database("b3") as url:
        pg = _pg_warehouse(url)
        migrations.upgrade(pg)
        pg_data = _load_world(pg, pg_lines, sizes.history_days, 21, folder / "pg")
        started = time.perf_counter()
        with _model_times() as model_seconds:
            try:
                pg_seconds, pg_report = _build(pg, pg_data, full_refresh=True)
            except Exception as exc:  # noqa: BLE001 - reported as not measured
                pg.dispose()
                running = re.search(r"CREATE TABLE (\S+) AS", str(exc))
                return small_run, {
                    "not_measured": (
                        f"not measured: the PostgreSQL build stopped after "
                        f"{time.perf_counter() - started:.0f} s: "
                        + (
                            f"{running.group(1)} ran over the {PG_STATEMENT_TIMEOUT_S:g} s "
                            "statement_timeout"
                            if running and "statement timeout" in str(exc)
                            else f"{type(exc).__name__}: {str(exc)[:300]}"
                        )
                    ),
                    "lines": pg_data["counts"].get("order_items", 0),
                    "models_done_seconds": {k: rnd(v, 2) for k, v in model_seconds.items()},
                    "setup_seconds": pg_data["seconds"],
                }
        pg.dispose()
    pg_run = {
        "lines": pg_data["counts"].get("order_items", 0),
        "build_seconds": rnd(pg_seconds, 2),
        "slowest_models": _slowest(pg_report),
        "setup_seconds": pg_data["seconds"],
    }
    return small_run, pg_run


# -- B4 (and B3's large build) ---------------------------------------------------------------------


# The column whose day a daily load would have brought each row in.
LOAD_DAY_COLUMN = {
    "orders": "last_updated_time",
    "order_items": "last_updated_time",
    "returns": "return_time",
    "refunds": "posted_time",
    "feedback": "feedback_date",
    "messages": "sent_time",
}


def _as_daily_loads(wh) -> None:
    """Make the history look loaded day by day: ``loaded_at`` = 01:00 UTC the day after.

    Loaded in one go, every history row would sit within the runner's one-hour
    overlap of the watermark and the first incremental build would redo
    everything; after a year of daily loads only the last load is that close.
    """
    from sellerops.models.runner import SOURCE_TABLES

    with wh.begin() as conn:
        conn.exec_driver_sql("SET TimeZone = 'UTC'")
        for table in SOURCE_TABLES:
            day = f"date_trunc('day', CAST({LOAD_DAY_COLUMN[table]} AS TIMESTAMP))"
            conn.exec_driver_sql(
                f"UPDATE core.{table} SET loaded_at = "  # noqa: S608 - fixed identifiers
                f"CAST({day} + INTERVAL 1 DAY + INTERVAL 1 HOUR AS TIMESTAMPTZ)"
            )


def _large_builds(sizes: Sizes, folder: Path) -> dict:
    from bench import worldcore
    from sellerops.models import runner

    watch = Stopwatch()
    wh = _duckdb(folder / "large.duckdb")
    data = _load_world(
        wh, sizes.b4_lines, sizes.history_days, 31, folder / "large", split_last_day=True
    )
    with watch("history_as_daily_loads"):
        _as_daily_loads(wh)
    first_seconds, first = _build(wh, data, full_refresh=False)
    new_day = data.pop("new_day")
    with watch("load_new_day"):
        new_counts = worldcore.load_frames(wh, new_day)
    with wh.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE bench_keys AS SELECT account_id, order_id, buyer_key, loaded_at "
            "FROM core.orders"
        )
    with watch("resolve_identities_new_day"):
        worldcore.resolve_all(wh, [a.account_id for a in data["accounts"]])
    with wh.connect() as conn:
        rekeyed = conn.exec_driver_sql(
            "SELECT count(*) FROM core.orders AS o JOIN bench_keys AS k USING (account_id, order_id) "
            "WHERE o.buyer_key IS DISTINCT FROM k.buyer_key AND o.loaded_at = k.loaded_at"
        ).scalar()
    incremental_seconds, incremental = _build(wh, data, full_refresh=False)
    relations = [m for m in runner.model_names() if not m.startswith("staging.")]
    with watch("snapshot"):
        _snapshot(wh, relations)
    full_seconds, full = _build(wh, data, full_refresh=True)
    progress("compare the incremental build with the full rebuild")
    with watch("compare"):
        comparison = _compare(wh, relations)
    wh.dispose()
    updated_orders = int(
        (
            new_day["orders"]["purchase_time"] < pd.Timestamp(data["world_end"] - timedelta(days=1))
        ).sum()
    )
    return {
        "lines": data["counts"].get("order_items", 0) + new_counts.get("order_items", 0),
        "history_rows": data["counts"],
        "new_day_rows": new_counts,
        "new_day_orders_updating_older_ones": updated_orders,
        "older_orders_rekeyed_by_identity_resolution_without_new_loaded_at": int(rekeyed),
        "first_build_seconds": rnd(first_seconds, 2),
        "first_build_mode": first.mode,
        "incremental_seconds": rnd(incremental_seconds, 2),
        "incremental_mode": incremental.mode,
        "incremental_reason": incremental.reason,
        "incremental_scopes": incremental.scopes,
        "incremental_slowest_models": _slowest(incremental),
        "full_rebuild_seconds": rnd(full_seconds, 2),
        "full_rebuild_mode": full.mode,
        "full_rebuild_slowest_models": _slowest(full),
        "comparison": comparison,
        "setup_seconds": {**data["seconds"], **watch.seconds},
    }


def _snapshot(wh, relations: list[str]) -> None:
    with wh.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS bench_incremental")
        for name in relations:
            copy = "bench_incremental." + name.replace(".", "__")
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {copy}")
            conn.exec_driver_sql(f"CREATE TABLE {copy} AS SELECT * FROM {name}")  # noqa: S608


def _float_columns(conn, name: str) -> tuple[list[str], set[str]]:
    schema, table = name.split(".")
    rows = conn.execute(
        sa.text(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = :schema AND table_name = :table ORDER BY ordinal_position"
        ),
        {"schema": schema, "table": table},
    ).fetchall()
    floats = {c for c, t in rows if t.upper() in ("DOUBLE", "FLOAT", "REAL", "DOUBLE PRECISION")}
    return [c for c, _ in rows], floats


def _compare(wh, relations: list[str]) -> dict:
    """Rows of each model table not matched in the other build (EXCEPT ALL both ways)."""
    exact_diff: dict[str, int] = {}
    rounded_diff: dict[str, int] = {}
    rows: dict[str, int] = {}
    with wh.connect() as conn:
        for name in relations:
            copy = "bench_incremental." + name.replace(".", "__")
            columns, floats = _float_columns(conn, name)
            rounded = ", ".join(f"ROUND({c}, 9) AS {c}" if c in floats else c for c in columns)
            plain = ", ".join(columns)
            rows[name] = conn.exec_driver_sql(f"SELECT count(*) FROM {name}").scalar()  # noqa: S608
            for select, out in ((plain, exact_diff), (rounded, rounded_diff)):
                out[name] = sum(
                    conn.exec_driver_sql(
                        f"SELECT count(*) FROM (SELECT {select} FROM {a} "  # noqa: S608
                        f"EXCEPT ALL SELECT {select} FROM {b}) AS d"
                    ).scalar()
                    for a, b in ((name, copy), (copy, name))
                )
    return {
        "relations": len(relations),
        "rows": rows,
        "identical_exact": not any(exact_diff.values()),
        "identical_within_1e-9": not any(rounded_diff.values()),
        "differing_rows_exact": {k: v for k, v in exact_diff.items() if v},
        "differing_rows_within_1e-9": {k: v for k, v in rounded_diff.items() if v},
    }
