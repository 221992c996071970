"""What every benchmark shares: result rows, sizes, timers, a throwaway PostgreSQL database,
and a child-process runner that reports the child's own peak RSS."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
PG_ADMIN_ENV = "SELLEROPS_BENCH_PG"
PG_ADMIN_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# DuckDB takes up to 80% of RAM by default (so does the shipped warehouse). The
# benchmark process holds its generated data beside the warehouse (B3/B4 peak at
# about 15 GB RSS at 10M lines), so the benchmarks' warehouses get half of the
# 24 GB machine instead; DuckDB spills to a temporary directory beyond it. At 6 GB
# the 10M-line build spilled and scaled 12.2x (bench/README.md, B3).
DUCKDB_MEMORY_ENV = "SELLEROPS_BENCH_DUCKDB_MEMORY"
DUCKDB_MEMORY_DEFAULT = "12GB"
NOT_MEASURED = "not measured"


# -- result rows ------------------------------------------------------------------------


@dataclass
class Result:
    """One row of the table (and of ``results.json``)."""

    id: str
    what: str
    figure: float | None
    unit: str
    target: str
    met: bool | None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "what": self.what,
            "figure": self.figure,
            "unit": self.unit,
            "target": self.target,
            "met": self.met,
            "detail": self.detail,
        }


def not_measured(id_: str, what: str, unit: str, target: str, reason: str, **detail) -> Result:
    """A row without a figure; ``detail.not_measured`` says why (never a made-up number)."""
    return Result(id_, what, None, unit, target, None, {"not_measured": reason, **detail})


def at_least(figure: float, bound: float) -> bool:
    return bool(figure >= bound)


def at_most(figure: float, bound: float) -> bool:
    return bool(figure <= bound)


# -- sizes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    name: str
    b1_rows: int  # order lines loaded into PostgreSQL
    b2_rows: int  # order lines loaded into DuckDB
    b3_lines: tuple[int, int]  # the two DuckDB model-build sizes (small, 10x)
    b3_pg_lines: int  # the PostgreSQL model-build size
    b4_lines: int  # history of the incremental build
    history_days: int  # days the B3/B4 worlds span (10M / 365 = ~27k lines a day)
    b5_time_scale: float
    b5_pages_after_burst: int
    b6_lines: tuple[int, int]  # report sizes (small, 10x)
    b7_repeats: int
    b8_demo_args: tuple[str, ...]


SIZES: dict[str, Sizes] = {
    "full": Sizes(
        name="full",
        b1_rows=1_000_000,
        b2_rows=1_000_000,
        b3_lines=(1_000_000, 10_000_000),
        b3_pg_lines=1_000_000,
        b4_lines=10_000_000,
        history_days=365,
        b5_time_scale=60.0,
        b5_pages_after_burst=40,
        b6_lines=(200_000, 2_000_000),
        b7_repeats=3,
        b8_demo_args=(),
    ),
    "small": Sizes(
        name="small",
        b1_rows=200_000,
        b2_rows=200_000,
        b3_lines=(50_000, 500_000),
        b3_pg_lines=50_000,
        b4_lines=500_000,
        history_days=365,
        b5_time_scale=200.0,
        b5_pages_after_burst=15,
        b6_lines=(10_000, 100_000),
        b7_repeats=1,
        b8_demo_args=("--days", "14"),
    ),
    # For the smoke test: checks the plumbing, the figures mean little.
    "tiny": Sizes(
        name="tiny",
        b1_rows=5_000,
        b2_rows=5_000,
        b3_lines=(3_000, 30_000),
        b3_pg_lines=3_000,
        b4_lines=30_000,
        history_days=60,
        b5_time_scale=1000.0,
        b5_pages_after_burst=3,
        b6_lines=(1_000, 10_000),
        b7_repeats=1,
        b8_demo_args=("--days", "3", "--orders-per-day", "5"),
    ),
}


# -- timing -----------------------------------------------------------------------------


class Stopwatch:
    """``with watch("phase"):`` records wall seconds per phase (``watch.seconds``)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(
                self.seconds.get(name, 0.0) + time.perf_counter() - started, 4
            )


PROGRESS_PREFIX = "[bench-progress] "


def progress(message: str) -> None:
    """Tell the operator what a long benchmark is doing (``bench.run`` shows it live)."""
    print(f"{PROGRESS_PREFIX}{message}", file=sys.stderr, flush=True)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def machine() -> dict[str, Any]:
    """Context for the figures: load average (other work on the box skews timings)."""
    return {"loadavg": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}


def rnd(value: float, digits: int = 3) -> float:
    return float(round(value, digits))


# -- warehouses ---------------------------------------------------------------------------


def duckdb_memory_limit() -> str:
    return os.environ.get(DUCKDB_MEMORY_ENV, DUCKDB_MEMORY_DEFAULT)


def duckdb_warehouse(path: Path, *, upgrade: bool = True):
    """A DuckDB warehouse file (the library's Warehouse) with the benchmark memory cap."""
    import sqlalchemy as sa

    from sellerops import migrations
    from sellerops.warehouse import Warehouse

    config = {
        "memory_limit": duckdb_memory_limit(),
        "temp_directory": str(path.with_name(path.name + ".tmp")),
    }
    engine = sa.create_engine(
        f"duckdb:///{path}", poolclass=sa.pool.NullPool, connect_args={"config": config}
    )
    warehouse = Warehouse(engine)
    if upgrade:
        migrations.upgrade(warehouse)
    return warehouse


# -- PostgreSQL ---------------------------------------------------------------------------


def pg_admin_url() -> str:
    return os.environ.get(PG_ADMIN_ENV, PG_ADMIN_DEFAULT)


def pg_unavailable() -> str | None:
    """None when the benchmark PostgreSQL answers, else why not."""
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(pg_admin_url(), poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "no server"
        return f"PostgreSQL at {pg_admin_url()} not reachable ({type(exc).__name__})"
    return None


@contextlib.contextmanager
def throwaway_pg_database(label: str) -> Iterator[str]:
    """Create ``sellerops_bench_<label>_<random>``; yield its URL; drop it afterwards."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    admin_url = make_url(pg_admin_url())
    name = f"sellerops_bench_{label}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


# -- child processes ------------------------------------------------------------------------


@dataclass
class ChildRun:
    returncode: int
    seconds: float
    max_rss_mb: float  # the command's own peak resident set (see run_child)
    stdout: str
    stderr: str


def run_child(
    argv: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float = 3600.0,
    on_progress: Callable[[str], None] | None = None,
) -> ChildRun:
    """Run a command and return its own peak RSS and wall time.

    The command runs under ``bench/spawn_measured.py``, a small launcher that
    forks it and reports ``wait4``'s peak: forked from this (possibly large)
    process directly, the command would inherit our resident set as its peak.
    Lines the command writes with :func:`progress` go to ``on_progress`` as they
    come (and, like all of its stderr, into the result).
    """
    with (
        tempfile.TemporaryFile("w+b") as out,
        tempfile.TemporaryFile("w+b") as err,
        tempfile.TemporaryDirectory(prefix="sellerops-bench-rss-") as rss_dir,
    ):
        rss_file = Path(rss_dir) / "rss.json"
        launcher = [sys.executable, str(PROJECT_ROOT / "bench" / "spawn_measured.py")]
        started = time.perf_counter()
        proc = subprocess.Popen(
            [*launcher, str(rss_file), *argv],
            stdout=out,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        reader = threading.Thread(
            target=_copy_stderr, args=(proc.stderr, err, on_progress), daemon=True
        )
        reader.start()
        timer = threading.Timer(timeout, lambda: _kill_group(proc.pid))
        timer.start()
        try:
            _, status, _ = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
            # A grandchild left running could hold the pipe open: do not wait for it.
            reader.join(timeout=30)
            if not reader.is_alive():
                proc.stderr.close()
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        try:
            max_rss_mb = json.loads(rss_file.read_text())["max_rss_kib"] / 1024.0
        except (OSError, ValueError, KeyError):
            max_rss_mb = float("nan")  # killed before it could report
        return ChildRun(
            proc.returncode,
            seconds,
            max_rss_mb,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
        )


def _copy_stderr(pipe, sink, on_progress: Callable[[str], None] | None) -> None:
    """Keep a child's stderr whole in ``sink``; hand its progress lines on as they come."""
    prefix = PROGRESS_PREFIX.encode()
    for line in iter(pipe.readline, b""):
        sink.write(line)
        if on_progress is not None and line.startswith(prefix):
            on_progress(line[len(prefix) :].decode("utf-8", "replace").rstrip())


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", "")
    paths = [str(PROJECT_ROOT), str(PROJECT_ROOT / "plugins")]
    env["PYTHONPATH"] = os.pathsep.join([*paths, env["PYTHONPATH"]]).rstrip(os.pathsep)
    env.update(extra)
    return env


def python() -> str:
    return sys.executable
