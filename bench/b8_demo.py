"""B8: ``make demo`` end to end on a warm environment, and where the time goes.

``make demo`` runs ``sellerops demo`` once the virtualenv is installed (warm:
nothing to install, byte code compiled). Here the same command runs in a child
process (``python -m bench.b8_demo --child``, which calls ``sellerops.cli.main``
exactly as the console script does) with ``SELLEROPS_DATA_DIR`` in a temporary
directory. The figure is the child's wall time from spawn to exit.

Where the time goes, two ways: the demo's own per-phase timings (its ``time:``
line), and a wall-clock sampling profile of the main thread (every 10 ms the
stack is read with ``sys._current_frames``; ~1% overhead, and unlike cProfile
it sees time spent sleeping on quotas and polling): the innermost frames
(self time, with the source line) and the SellerOps functions on the stack
(inclusive time).
"""

from __future__ import annotations

import argparse
import json
import linecache
import os
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from bench.common import PROJECT_ROOT, Result, Sizes, child_env, machine, rnd, run_child

WHAT = "make demo (sellerops demo) end to end, warm"
INTERVAL = 0.01


def _parse_phases(stdout: str) -> dict[str, float]:
    match = re.search(r"^time: (.*)$", stdout, flags=re.MULTILINE)
    if not match:
        return {}
    phases = {}
    for part in match.group(1).split(","):
        found = re.match(r"\s*(.+?)\s+([0-9.]+)\s*s\s*$", part)
        if found:
            phases[found.group(1)] = float(found.group(2))
    return phases


def run(sizes: Sizes) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="sellerops-bench-b8-") as folder:
        profile_path = Path(folder) / "profile.json"
        env = child_env(SELLEROPS_DATA_DIR=str(Path(folder) / "data"))
        env.setdefault("AIRFLOW_HOME", str(Path(folder) / "airflow_home"))
        child = run_child(
            [
                sys.executable,
                "-m",
                "bench.b8_demo",
                "--child",
                "--profile",
                str(profile_path),
                "--",
                *sizes.b8_demo_args,
            ],
            env=env,
            cwd=PROJECT_ROOT,
        )
        if child.returncode not in (0, 1) or not profile_path.exists():
            raise RuntimeError(
                f"sellerops demo failed ({child.returncode}):\n{child.stderr[-3000:]}"
            )
        profile = json.loads(profile_path.read_text())
    phases = _parse_phases(child.stdout)
    demo_total = phases.get("total")
    detail = {
        "command": "sellerops demo " + " ".join(sizes.b8_demo_args),
        "exit_code": child.returncode,
        "truth_matched": "MISMATCH" not in child.stdout,
        "wall_seconds": rnd(child.seconds, 2),
        "demo_phases_seconds": phases,
        "import_sellerops_cli_seconds": rnd(profile["started_main_at"], 2),
        "outside_sampled_seconds": rnd(child.seconds - profile["sampled_seconds"], 2),
        "outside_demo_total_seconds": rnd(child.seconds - demo_total, 2) if demo_total else None,
        "peak_rss_mb": rnd(child.max_rss_mb, 1),
        "sampled_seconds": profile["sampled_seconds"],
        "top_self": profile["top_self"],
        "top_sellerops_inclusive": profile["top_inclusive"],
        **machine(),
    }
    return [Result("B8", WHAT, rnd(child.seconds, 1), "s", "(figure)", None, detail)]


# -- the child: run the demo under a sampling profiler -------------------------------------------


class Sampler:
    """Samples the main thread's Python stack every ``interval`` seconds."""

    def __init__(self, interval: float = INTERVAL):
        self.interval = interval
        self.main_id = threading.main_thread().ident
        self.leaves: Counter[tuple[str, str, int]] = Counter()
        self.inclusive: Counter[str] = Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def start(self) -> None:
        self.started = time.perf_counter()
        self._thread.start()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return time.perf_counter() - self.started

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            frame = sys._current_frames().get(self.main_id)
            if frame is None:
                continue
            self.samples += 1
            code = frame.f_code
            self.leaves[(code.co_filename, code.co_qualname, frame.f_lineno)] += 1
            seen = set()
            while frame is not None:
                code = frame.f_code
                if "sellerops" in code.co_filename and "bench" not in code.co_filename:
                    key = f"{_module(code.co_filename)}:{code.co_qualname}"
                    if key not in seen:
                        seen.add(key)
                        self.inclusive[key] += 1
                frame = frame.f_back


def _module(filename: str) -> str:
    path = Path(filename)
    parts = path.with_suffix("").parts
    if "sellerops" in parts:
        return ".".join(parts[len(parts) - 1 - parts[::-1].index("sellerops") :])
    return path.stem


def _short(filename: str) -> str:
    marker = "site-packages/"
    if marker in filename:
        return filename.split(marker, 1)[1]
    try:
        return str(Path(filename).relative_to(PROJECT_ROOT))
    except ValueError:
        return filename


def child(profile_path: Path, demo_args: list[str]) -> int:
    started = time.perf_counter()
    from sellerops import cli

    sampler = Sampler()
    sampler.start()
    main_started = time.perf_counter() - started
    try:
        code = cli.main(["demo", *demo_args])
    finally:
        elapsed = sampler.stop()
        per_sample = elapsed / max(sampler.samples, 1)
        top_self = [
            {
                "seconds": rnd(count * per_sample, 2),
                "where": f"{_short(f)}:{line} {name}",
                "line": linecache.getline(f, line).strip(),
            }
            for (f, name, line), count in sampler.leaves.most_common(15)
        ]
        top_inclusive = {
            key: rnd(count * per_sample, 2) for key, count in sampler.inclusive.most_common(25)
        }
        profile_path.write_text(
            json.dumps(
                {
                    "started_main_at": main_started,
                    "sampled_seconds": rnd(elapsed, 2),
                    "samples": sampler.samples,
                    "top_self": top_self,
                    "top_inclusive": top_inclusive,
                },
                indent=1,
            )
        )
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="B8 child: sellerops demo under a sampler")
    parser.add_argument("--child", action="store_true", required=True)
    parser.add_argument("--profile", required=True)
    parser.add_argument("demo_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    demo_args = [a for a in args.demo_args if a != "--"]
    os.environ.setdefault("SELLEROPS_DATA_DIR", tempfile.mkdtemp(prefix="sellerops-demo-"))
    return child(Path(args.profile), demo_args)


if __name__ == "__main__":
    raise SystemExit(main())
