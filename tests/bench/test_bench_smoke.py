"""The benchmark harness runs and writes results.json in the documented shape.

Not a timing test: every row must carry a numeric figure or an explicit
"not measured" reason, never a made-up number. ``--sizes tiny`` keeps the
figures meaningless and the run short.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.run import ALL_IDS, _merge, render_table

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"id", "what", "figure", "unit", "target", "met", "detail"}


def run_bench(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, stdout: list | None = None
) -> list[dict]:
    out = tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--sizes", "tiny", "--out", str(out), *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "id" in result.stdout and "met" in result.stdout  # the table was printed
    if stdout is not None:
        stdout.append(result.stdout)
    return json.loads(out.read_text(encoding="utf-8"))


def check_rows(rows: list[dict]) -> None:
    assert isinstance(rows, list) and rows
    for row in rows:
        assert set(row) == KEYS, row.keys()
        assert row["id"] in ALL_IDS
        assert isinstance(row["what"], str) and row["what"]
        assert isinstance(row["unit"], str) and isinstance(row["target"], str)
        assert isinstance(row["detail"], dict)
        assert row["met"] in (True, False, None)
        if row["figure"] is None:
            reason = row["detail"].get("not_measured")
            assert isinstance(reason, str) and reason.strip(), row
            assert row["met"] is None
        else:
            assert isinstance(row["figure"], int | float) and not isinstance(row["figure"], bool)
            assert math.isfinite(row["figure"]), row
            assert row["unit"], row
            assert "not_measured" not in row["detail"]


def test_a_subset_writes_the_documented_rows(tmp_path):
    rows = run_bench(tmp_path, "--only", "B2")
    check_rows(rows)
    assert {r["id"] for r in rows} == {"B2"}
    b2 = rows[0]["detail"]
    assert b2["same_rows_everywhere"]["identical"] is True
    assert set(b2["best_seconds"]) == {"parquet", "arrow_stage", "parquet_merge", "load_batch"}


def test_an_unreachable_database_is_a_reason_not_a_figure(tmp_path):
    rows = run_bench(
        tmp_path,
        "--only",
        "B1",
        env={"SELLEROPS_BENCH_PG": "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"},
    )
    check_rows(rows)
    assert rows and all(r["id"] == "B1" and r["figure"] is None for r in rows)
    assert all("not reachable" in r["detail"]["not_measured"] for r in rows)


def test_the_table_shows_reasons_for_rows_not_measured():
    rows = [
        {"id": "B3", "what": "model build", "figure": None, "unit": "x", "target": "<= 11x",
         "met": None, "detail": {"not_measured": "not measured: models runner not available"}},
        {"id": "B1", "what": "bulk load", "figure": 8.5, "unit": "x", "target": ">= 8x",
         "met": True, "detail": {}},
    ]  # fmt: skip
    text = render_table(rows)
    assert "not measured: models runner not available" in text
    assert "8.5" in text and "yes" in text
    assert render_table(rows, markdown=True).startswith("| id | what | figure |")


def test_a_partial_run_replaces_its_rows_and_keeps_the_others(tmp_path):
    def row(id_: str, figure: float, sizes: str) -> dict:
        return {"id": id_, "what": id_, "figure": figure, "unit": "x", "target": "",
                "met": None, "detail": {"run": {"sizes": sizes}}}  # fmt: skip

    out = tmp_path / "results.json"
    out.write_text(json.dumps([row("B1", 1.0, "full"), row("B3", 2.0, "full"),
                               row("B3", 3.0, "full"), row("B7", 4.0, "full")]))  # fmt: skip
    merged = _merge(out, [row("B7", 5.0, "full"), row("B3", 6.0, "small")])
    assert [(r["id"], r["figure"]) for r in merged] == [("B1", 1.0), ("B3", 6.0), ("B7", 5.0)]
    assert _merge(tmp_path / "missing.json", [row("B2", 1.0, "tiny")])[0]["id"] == "B2"


@pytest.mark.slow
def test_every_benchmark_at_tiny_size(tmp_path):
    printed: list[str] = []
    rows = run_bench(tmp_path, stdout=printed)
    check_rows(rows)
    # The long benchmark shows its phases while it runs (between its header and result).
    b3 = printed[0].split("B3/B4 model build")[1].split("done in")[0]
    phases = [line.split(" s  ", 1)[1] for line in b3.splitlines() if " s  " in line]
    # tiny sizes: 3k lines on each database, then the 30k world of B4 (bench/common.py)
    assert [p.split(" took ")[0] for p in phases] == [
        "duckdb: generate and load 3k order lines",
        "duckdb: build (full)",
        "duckdb: full build",
        "postgresql: generate and load 3k order lines",
        "postgresql: build (full)",
        "postgresql: full build",
        "duckdb: generate and load 30k order lines",
        "duckdb: build (as due)",
        "duckdb: full build",  # the first build of an empty model set is a full one
        "duckdb: build (as due)",
        "duckdb: incremental build",
        "duckdb: build (full)",
        "duckdb: full build",
        "compare the incremental build with the full rebuild",
    ], phases
    assert all(float(p.split(" took ")[1].removesuffix(" s")) > 0 for p in phases if " took " in p)
    assert {r["id"] for r in rows} == set(ALL_IDS)
    assert all(r["figure"] is not None for r in rows), [r for r in rows if r["figure"] is None]
    first = {}
    for row in rows:
        first.setdefault(row["id"], row["detail"])
    # Not timings: what each benchmark checks besides them.
    assert first["B1"]["same_rows_everywhere"]["identical"] is True
    assert first["B2"]["same_rows_everywhere"]["identical"] is True
    b4 = first["B4"]
    assert b4["incremental_mode"] == "incremental" and b4["full_rebuild_mode"] == "full"
    assert b4["new_day_rows"]["order_items"] > 0
    assert b4["comparison"]["identical_within_1e-9"], b4["comparison"]
    assert b4["older_orders_rekeyed_by_identity_resolution_without_new_loaded_at"] == 0
    assert first["B5"]["orders_extracted"] == first["B5"]["orders_expected"] > 0
    assert [r["lines"] for r in first["B6"]["runs"].values()] == [1_000, 10_000]
    assert first["B8"]["exit_code"] == 0 and first["B8"]["truth_matched"] is True


def test_a_child_reports_its_own_peak_not_the_parents(tmp_path):
    """Linux carries ru_maxrss across exec: forked from a process holding 600 MB, a
    child that stays small would report 600 MB. run_child must report the child's."""
    from bench.common import run_child

    held = bytearray(600 * 1024 * 1024)
    held[::4096] = b"\x01" * len(held[::4096])  # touch every page: resident
    grow = "x = bytearray(150 * 1024 * 1024); x[::4096] = b'\\x01' * len(x[::4096])"
    child = run_child([sys.executable, "-c", grow])
    assert child.returncode == 0, child.stderr
    assert 150 <= child.max_rss_mb < 300, child.max_rss_mb
    failing = run_child([sys.executable, "-c", "raise SystemExit(3)"])
    assert failing.returncode == 3 and failing.max_rss_mb < 100
    del held


def test_a_child_s_progress_lines_arrive_as_they_come_and_stderr_stays_whole(tmp_path):
    from bench.common import PROGRESS_PREFIX, run_child

    # The child waits for the parent to have seen its first line: a relay that only
    # read stderr at the end would leave it waiting (and the child exits 1).
    seen_file = tmp_path / "seen"
    script = (
        "import pathlib, sys, time\n"
        f"print({PROGRESS_PREFIX!r} + 'phase one', file=sys.stderr, flush=True)\n"
        "print('a warning', file=sys.stderr, flush=True)\n"
        "deadline = time.monotonic() + 20\n"
        f"while not pathlib.Path({str(seen_file)!r}).exists():\n"
        "    if time.monotonic() > deadline:\n"
        "        sys.exit(1)\n"
        "    time.sleep(0.01)\n"
        f"print({PROGRESS_PREFIX!r} + 'phase two', file=sys.stderr, flush=True)\n"
        "print('the output')\n"
    )
    seen: list[str] = []

    def on_progress(message: str) -> None:
        seen.append(message)
        seen_file.touch()

    child = run_child([sys.executable, "-c", script], on_progress=on_progress)
    assert child.returncode == 0, child.stderr
    assert seen == ["phase one", "phase two"]
    assert child.stderr.splitlines() == [
        f"{PROGRESS_PREFIX}phase one",
        "a warning",
        f"{PROGRESS_PREFIX}phase two",
    ]
    assert child.stdout == "the output\n"
