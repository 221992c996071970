"""DAG policy checks shared by the test suite and ``make lint``-style tooling.

:func:`dag_problems` loads a DAG folder with Airflow's ``DagBag`` and returns
every problem as text: import errors, and DAGs that break the project's
policies (tags, an owner, retries, ``doc_md``, ``dag_id`` equal to the file name).
:func:`import_cost` imports one DAG file in a fresh interpreter and reports
its own import time and which heavy modules it pulled in at module level.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY_MODULES = ("pandas", "great_expectations", "sp_api", "duckdb", "pyarrow", "numpy", "scipy")


def dag_problems(dag_folder: Path) -> list[str]:
    from airflow.dag_processing.dagbag import DagBag

    # Example DAGs are off through AIRFLOW__CORE__LOAD_EXAMPLES (Airflow 3 has no argument).
    bag = DagBag(dag_folder=str(dag_folder))
    problems = [f"import error in {path}: {error}" for path, error in bag.import_errors.items()]
    for dag_id, dag in bag.dags.items():
        where = f"DAG {dag_id} ({Path(dag.fileloc).name})"
        if Path(dag.fileloc).stem != dag_id:
            problems.append(f"{where}: dag_id differs from the file name")
        if not dag.tags:
            problems.append(f"{where}: no tags")
        if not dag.doc_md:
            problems.append(f"{where}: no doc_md")
        for task in dag.tasks:
            if not task.owner or task.owner == "airflow":
                problems.append(f"{where}: task {task.task_id} has no owner")
            if not task.retries:
                problems.append(f"{where}: task {task.task_id} has no retries")
    return problems


_PROBE = """
import importlib.util, json, sys, time
import airflow.sdk, pendulum  # what Airflow has loaded before it parses any DAG file
before = set(sys.modules)
path = sys.argv[1]
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("dag_under_test", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
elapsed = time.perf_counter() - started
added = sorted({name.split(".")[0] for name in set(sys.modules) - before})
print(json.dumps({"seconds": elapsed, "modules": added}))
"""


def import_cost(dag_file: Path) -> dict:
    """Import ``dag_file`` after Airflow in a fresh interpreter: its own seconds and modules."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(dag_file)],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"importing {dag_file} failed:\n{result.stderr[-2000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    report["heavy"] = [m for m in report["modules"] if m in HEAVY_MODULES]
    return report
