"""``make bench``: run the benchmarks, print one table, write ``bench/results.json``.

    python -m bench.run [--sizes full|small|tiny] [--only B1,B2] [--out FILE] [--markdown]
    python -m bench.run --show [--markdown]      # the table of an existing results file

Every benchmark runs in its own child process (``python -m bench.run --worker
ID``), one after the other, so none inherits another's memory, imports or
threads, and a crash becomes a "not measured" row with the reason instead of
ending the run. B3 and B4 share one run (B4's full rebuild is B3's large build).
A partial run (``--only``) replaces its rows in the results file and keeps the
others.

``results.json`` is a list of rows: ``id``, ``what``, ``figure`` (a number, or
null when not measured), ``unit``, ``target``, ``met`` (true/false, null for
figures without a target or not measured) and ``detail`` (raw timings; for a
row not measured, ``detail.not_measured`` says why).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.common import (
    BENCH_DIR,
    NOT_MEASURED,
    PROJECT_ROOT,
    SIZES,
    Result,
    child_env,
    machine,
    not_measured,
    run_child,
)

DEFAULT_OUT = BENCH_DIR / "results.json"


@dataclass(frozen=True)
class Benchmark:
    ids: tuple[str, ...]  # the row ids it produces
    module: str
    what: str


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark(("B1",), "bench.b1_postgres", "bulk load of order lines into PostgreSQL"),
    Benchmark(("B2",), "bench.b2_duckdb", "bulk load of order lines into DuckDB"),
    Benchmark(("B3", "B4"), "bench.b3_models", "model build: scaling and incremental"),
    Benchmark(("B5",), "bench.b5_pacing", "extraction pacing against the sandbox quotas"),
    Benchmark(("B6",), "bench.b6_memory", "import-report peak memory"),
    Benchmark(("B7",), "bench.b7_dag_parse", "DAG file parse cost"),
    Benchmark(("B8",), "bench.b8_demo", "make demo end to end"),
)
ALL_IDS = tuple(i for b in BENCHMARKS for i in b.ids)


def _selected(only: str | None) -> list[Benchmark]:
    if not only:
        return list(BENCHMARKS)
    wanted = {part.strip().upper() for part in only.split(",") if part.strip()}
    unknown = wanted - set(ALL_IDS)
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {sorted(unknown)}; known: {', '.join(ALL_IDS)}")
    return [b for b in BENCHMARKS if wanted & set(b.ids)]


# -- the worker ---------------------------------------------------------------------------


def worker(benchmark_id: str, sizes_name: str, out: Path) -> int:
    """Run one benchmark in this process and write its rows to ``out``."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    benchmark = next(b for b in BENCHMARKS if benchmark_id in b.ids)
    module = importlib.import_module(benchmark.module)
    rows: list[Result] = module.run(SIZES[sizes_name])
    out.write_text(json.dumps([r.as_dict() for r in rows], default=str), encoding="utf-8")
    return 0


def _run_benchmark(benchmark: Benchmark, sizes_name: str, timeout: float) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="sellerops-bench-") as folder:
        out = Path(folder) / "rows.json"
        started = time.perf_counter()

        def show(message: str) -> None:
            print(f"    {time.perf_counter() - started:6.0f} s  {message}", flush=True)

        child = run_child(
            [
                sys.executable,
                "-m",
                "bench.run",
                "--worker",
                benchmark.ids[0],
                "--sizes",
                sizes_name,
                "--worker-out",
                str(out),
            ],
            env=child_env(),
            cwd=PROJECT_ROOT,
            timeout=timeout,
            on_progress=show,
        )
        seconds = time.perf_counter() - started
        if child.returncode == 0 and out.exists():
            rows = json.loads(out.read_text(encoding="utf-8"))
        else:
            if child.returncode < 0:
                reason = f"stopped by signal {-child.returncode}"
            else:
                reason = _failure(child.stderr) or f"exit code {child.returncode}"
            rows = [
                not_measured(
                    id_, benchmark.what, "", "", f"benchmark failed: {reason}",
                    stderr_tail=child.stderr[-4000:],
                ).as_dict()
                for id_ in benchmark.ids
            ]  # fmt: skip
    for row in rows:
        row["detail"].setdefault("run", {})
        row["detail"]["run"].update(
            {"sizes": sizes_name, "benchmark_seconds": round(seconds, 1), "peak_rss_mb":
             round(child.max_rss_mb, 1)}
        )  # fmt: skip
    return rows


def _failure(stderr: str) -> str | None:
    """The exception line of a traceback on stderr."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if not line.startswith(" ") and ("Error" in line or "Exception" in line):
            return line.strip()[:500]
    return lines[-1].strip()[:500] if lines else None


# -- the table --------------------------------------------------------------------------------


def _figure_text(row: dict) -> str:
    if row["figure"] is None:
        reason = row["detail"].get("not_measured", NOT_MEASURED)
        if not reason.startswith(NOT_MEASURED):
            reason = f"{NOT_MEASURED}: {reason}"
        return reason
    value = row["figure"]
    return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _met_text(row: dict) -> str:
    return {True: "yes", False: "NO", None: "-"}[row["met"]]


def render_table(rows: list[dict], *, markdown: bool = False) -> str:
    header = ("id", "what", "figure", "unit", "target", "met")
    body = [
        (r["id"], r["what"], _figure_text(r), r["unit"], r["target"], _met_text(r)) for r in rows
    ]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines)
    widths = [max(len(str(x)) for x in column) for column in zip(header, *body, strict=True)]
    widths[1] = min(widths[1], 78)
    widths[2] = min(widths[2], 60)

    def line(cells) -> str:
        out = []
        for cell, width in zip(cells, widths, strict=True):
            text = str(cell)
            out.append((text[: width - 1] + "~") if len(text) > width else text.ljust(width))
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(cells) for cells in body)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description="SellerOps benchmarks (see bench/README.md)"
    )
    parser.add_argument("--sizes", choices=sorted(SIZES), default="full")
    parser.add_argument("--only", help="comma-separated ids, e.g. B1,B2 (B3 and B4 run together)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results file")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    parser.add_argument("--timeout", type=float, default=4 * 3600, help="seconds per benchmark")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--show", action="store_true", help="print the table of --out and stop")
    args = parser.parse_args(argv)

    if args.show:
        return show(args.out, markdown=args.markdown)
    if args.worker:
        try:
            return worker(args.worker, args.sizes, args.worker_out)
        except Exception:  # noqa: BLE001 - reported by the parent as "not measured"
            traceback.print_exc()
            return 1

    os.environ.setdefault("SELLEROPS_NO_AIRFLOW_CONNECTIONS", "1")
    started = time.perf_counter()
    rows: list[dict] = []
    print(f"SellerOps benchmarks, sizes {args.sizes}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {machine()}", flush=True)
    for benchmark in _selected(args.only):
        print(f"  {'/'.join(benchmark.ids)} {benchmark.what} ...", flush=True)
        bench_rows = _run_benchmark(benchmark, args.sizes, args.timeout)
        rows += bench_rows
        seconds = bench_rows[0]["detail"]["run"]["benchmark_seconds"]
        failed = any("benchmark failed" in r["detail"].get("not_measured", "") for r in bench_rows)
        figures = "; ".join(
            f"{r['id']} {_figure_text(r)} {r['unit']} {_met_text(r)}".strip() for r in bench_rows
        )
        print(f"    {'FAILED' if failed else 'done'} in {seconds:.0f} s: {figures}", flush=True)
    merged = _merge(args.out, rows) if args.only else rows
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(merged, indent=1, default=str) + "\n", encoding="utf-8")
    print()
    print(render_table(rows))
    if args.markdown:
        print()
        print(render_table(merged, markdown=True))
    print(f"\n{len(rows)} rows in {time.perf_counter() - started:.0f} s; details in {args.out}")
    if len(merged) > len(rows):
        kept = sorted({r["id"] for r in merged} - {r["id"] for r in rows})
        print(f"(kept the earlier rows of {', '.join(kept)} in {args.out})")
    return 0


def _merge(out: Path, rows: list[dict]) -> list[dict]:
    """A partial run (``--only``) replaces its own rows in ``out`` and keeps the others
    (each row's ``detail.run.sizes`` says at which sizes it was measured), so
    ``results.json`` stays the latest full table."""
    try:
        earlier = json.loads(out.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return rows
    ran = {r["id"] for r in rows}
    kept = [
        r for r in earlier if isinstance(r, dict) and r.get("id") in ALL_IDS and r["id"] not in ran
    ]
    return sorted([*kept, *rows], key=lambda r: ALL_IDS.index(r["id"]))


def show(path: Path, *, markdown: bool) -> int:
    """Print the table of an existing results file."""
    rows = json.loads(path.read_text(encoding="utf-8"))
    print(render_table(rows, markdown=markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
