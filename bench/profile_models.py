"""Profile the model build (B3/B4) with pyinstrument, outside the timed benchmarks.

    python -m bench.profile_models --lines 1000000 [--incremental] [--out /tmp/build.txt]

Builds a DuckDB warehouse from a sandbox World of ``--lines`` order lines (as B3
does), then profiles one full build; with ``--incremental`` the last day is held
back, loaded after the full build and the incremental build is profiled as
well (as B4 does). Prints pyinstrument's text report (and writes it to
``--out``) plus the runner's per-model seconds.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
from pathlib import Path

from bench.common import duckdb_warehouse


def main(argv: list[str] | None = None) -> int:
    from pyinstrument import Profiler

    from bench import b3_models, worldcore

    parser = argparse.ArgumentParser(prog="python -m bench.profile_models")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--incremental", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    folder = Path(tempfile.mkdtemp(prefix="sellerops-profile-"))
    reports = []
    try:
        wh = duckdb_warehouse(folder / "profile.duckdb")
        data = b3_models._load_world(
            wh, args.lines, args.days, 31, folder, split_last_day=args.incremental
        )
        if args.incremental:
            b3_models._as_daily_loads(wh)
        profiler = Profiler(interval=0.005)
        with profiler:
            seconds, report = b3_models._build(wh, data, full_refresh=not args.incremental)
        reports.append(("full build", seconds, report, profiler))
        if args.incremental:
            worldcore.load_frames(wh, data.pop("new_day"))
            worldcore.resolve_all(wh, [a.account_id for a in data["accounts"]])
            profiler = Profiler(interval=0.005)
            with profiler:
                seconds, report = b3_models._build(wh, data, full_refresh=False)
            reports.append(("incremental build", seconds, report, profiler))
        wh.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    text = []
    for title, seconds, report, profiler in reports:
        text.append(f"== {title} ({report.mode}): {seconds:.1f} s, {args.lines:,} lines")
        for model in sorted(report.models, key=lambda m: m.seconds, reverse=True)[:12]:
            text.append(f"   {model.name:40s} {model.seconds:8.2f} s  {model.action}")
        text.append(profiler.output_text(unicode=False, color=False, show_all=False))
    output = "\n".join(text)
    print(output)
    if args.out:
        args.out.write_text(output, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
