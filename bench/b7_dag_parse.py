"""B7: what each DAG file adds to a DAG-processor parse, on top of Airflow's own import.

``sellerops.testing.dag_checks.import_cost`` imports one DAG file in a fresh
interpreter after ``airflow.sdk`` and ``pendulum`` (what the DAG processor has
loaded before it parses any file) and reports that file's own seconds and the
heavy modules it pulled in. The baseline, measured the same way side by side,
is importing ``airflow.sdk`` + ``pendulum`` in a fresh interpreter. Each is
repeated ``b7_repeats`` times; the median counts.

``airflow.sdk`` imports most of itself lazily: the first DAG a process parses
pays for Airflow's DAG-authoring modules (``dag``, ``task``, ``Asset``, their
attrs classes), whatever the DAG. So "Airflow's own import" is measured with
them loaded, and the two rows are (target for both: each DAG file adds <= 0.2 s):

1. each DAG file parsed after a minimal DAG with the same SDK features (what a
   DAG processor that has parsed any DAG has loaded): the worst file's seconds;
2. each DAG file in a cold interpreter minus a trivial DAG in a cold interpreter
   (both pay Airflow's lazy imports): the worst file's difference. The absolute
   cold seconds are in the row's text and ``detail``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import PROJECT_ROOT, Result, Sizes, at_most, machine, rnd

WHAT_WARM = (
    "DAG file parse cost over Airflow's own import incl. its DAG-authoring modules "
    "(a minimal DAG parsed first), worst file"
)
WHAT_COLD = "the same in a cold interpreter, over a trivial DAG's cold parse"
TARGET = "<= 0.2 s each"

# The same probe as ``import_cost``, but after a minimal DAG using the same SDK
# features (``dag``, ``task``, an ``Asset`` outlet, a cron timetable) has been
# parsed: ``airflow.sdk`` loads most of itself lazily, on first use, so the first
# DAG file a process parses pays for Airflow, not for itself. What remains is
# what the DAG file adds over a trivial DAG.
_MINIMAL_DAG = """
import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, dag, task

@dag(dag_id="bench_minimal", schedule=CronDataIntervalTimetable("0 3 * * *", timezone="UTC"),
     start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), catchup=False, tags=["bench"])
def bench_minimal():
    @task(outlets=[Asset(name="bench.minimal", uri="sellerops://bench/minimal")])
    def one():
        return 1

    one()

bench_minimal()
"""

_WARM_PROBE = """
import importlib.util, json, sys, time
import airflow.sdk, pendulum
exec(compile(sys.argv[2], "bench_minimal_dag", "exec"), {"__name__": "bench_minimal_dag"})
before = set(sys.modules)
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("dag_under_test", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
elapsed = time.perf_counter() - started
added = sorted({name.split(".")[0] for name in set(sys.modules) - before})
print(json.dumps({"seconds": elapsed, "modules": added}))
"""

_BASELINE = """
import json, time
started = time.perf_counter()
import airflow.sdk, pendulum
print(json.dumps({"seconds": time.perf_counter() - started}))
"""


def _airflow_env(folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("AIRFLOW_HOME", str(folder / "airflow_home"))
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    env.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(PROJECT_ROOT / "dags"))
    env.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(PROJECT_ROOT / "plugins"))
    return env


def _baseline(env: dict[str, str]) -> float:
    result = subprocess.run(
        [sys.executable, "-c", _BASELINE],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])["seconds"]


def _warm_cost(path: Path, env: dict[str, str]) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _WARM_PROBE, str(path), _MINIMAL_DAG],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(sizes: Sizes) -> list[Result]:
    from sellerops.testing.dag_checks import import_cost

    folder = tempfile.TemporaryDirectory(prefix="sellerops-bench-b7-")
    env = _airflow_env(Path(folder.name))
    saved = dict(os.environ)
    os.environ.update(env)  # import_cost passes os.environ to its child
    try:
        dag_files = sorted((PROJECT_ROOT / "dags").glob("*.py"))
        dag_files = [p for p in dag_files if not p.name.startswith("_")]
        minimal_file = Path(folder.name) / "bench_minimal.py"
        minimal_file.write_text(_MINIMAL_DAG, encoding="utf-8")
        minimal: list[float] = []
        baseline: list[float] = []
        per_file: dict[str, list[float]] = {p.name: [] for p in dag_files}
        warm: dict[str, list[float]] = {p.name: [] for p in dag_files}
        heavy: dict[str, list[str]] = {}
        added: dict[str, list[str]] = {}
        warm_added: dict[str, list[str]] = {}
        for _ in range(sizes.b7_repeats):
            baseline.append(_baseline(env))
            minimal.append(import_cost(minimal_file)["seconds"])
            for path in dag_files:
                report = import_cost(Path(path))
                per_file[path.name].append(report["seconds"])
                heavy[path.name] = report["heavy"]
                added[path.name] = report["modules"]
                warm_report = _warm_cost(path, env)
                warm[path.name].append(warm_report["seconds"])
                warm_added[path.name] = warm_report["modules"]
    finally:
        os.environ.clear()
        os.environ.update(saved)
        folder.cleanup()
    if not dag_files:
        raise RuntimeError("no DAG files in dags/")
    medians = {name: statistics.median(values) for name, values in per_file.items()}
    worst_name = max(medians, key=medians.get)
    worst = medians[worst_name]
    warm_medians = {name: statistics.median(values) for name, values in warm.items()}
    warm_name = max(warm_medians, key=warm_medians.get)
    warm_worst = warm_medians[warm_name]
    detail = {
        "baseline_airflow_sdk_pendulum_seconds": rnd(statistics.median(baseline), 3),
        "baseline_runs": [rnd(x, 3) for x in baseline],
        "minimal_dag_median_seconds": rnd(statistics.median(minimal), 4),
        "minimal_dag_note": "import_cost of a trivial DAG (dag, task, Asset outlet, cron "
        "timetable): what any DAG file pays for Airflow's lazily imported DAG-authoring modules",
        "per_file_median_seconds": {k: rnd(v, 4) for k, v in medians.items()},
        "per_file_runs": {k: [rnd(x, 4) for x in v] for k, v in per_file.items()},
        "heavy_modules_at_import": heavy,
        "top_level_modules_added": added,
        "after_a_minimal_dag": {
            "per_file_median_seconds": {k: rnd(v, 4) for k, v in warm_medians.items()},
            "per_file_runs": {k: [rnd(x, 4) for x in v] for k, v in warm.items()},
            "top_level_modules_added": warm_added,
        },
        "worst_file": worst_name,
        "repeats": sizes.b7_repeats,
        "share_of_baseline": rnd(worst / statistics.median(baseline), 3),
        **machine(),
    }
    minimal_median = statistics.median(minimal)
    cold_over_minimal = worst - minimal_median
    detail["cold_worst_minus_trivial_dag_seconds"] = rnd(cold_over_minimal, 4)
    cold_what = f"{WHAT_COLD}: {worst_name} {worst:.2f} s vs trivial DAG {minimal_median:.2f} s"
    return [
        Result("B7", f"{WHAT_WARM}: {warm_name}", rnd(warm_worst, 3), "s", TARGET,
               at_most(warm_worst, 0.2), detail),
        Result("B7", cold_what, rnd(cold_over_minimal, 3), "s", TARGET,
               at_most(cold_over_minimal, 0.2), {"see": "first B7 row's detail"}),
    ]  # fmt: skip
