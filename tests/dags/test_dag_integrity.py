"""Every DAG file imports cleanly, cheaply, and meets the project's policies."""

from __future__ import annotations

import pytest

from sellerops.paths import DAGS_DIR
from sellerops.testing.dag_checks import dag_problems, import_cost

DAG_FILES = sorted(p for p in DAGS_DIR.glob("*.py") if not p.name.startswith("_"))


def test_dag_folder_has_no_problems():
    assert dag_problems(DAGS_DIR) == []


def test_expected_dags_exist():
    assert {p.stem for p in DAG_FILES} >= {"sellerops_ingest"}


def test_broken_dag_file_is_reported(tmp_path):
    (tmp_path / "broken_dag.py").write_text(
        "from airflow.sdk import dag\nimport module_that_does_not_exist\n"
    )
    problems = dag_problems(tmp_path)
    assert len(problems) == 1
    assert "broken_dag.py" in problems[0]
    assert "module_that_does_not_exist" in problems[0]


def test_policy_violations_are_reported(tmp_path):
    (tmp_path / "lazy_dag.py").write_text(
        "import pendulum\n"
        "from airflow.sdk import dag, task\n"
        "@dag(dag_id='lazy_dag', schedule=None, start_date=pendulum.datetime(2026, 1, 1))\n"
        "def lazy_dag():\n"
        "    @task\n"
        "    def work():\n"
        "        return 1\n"
        "    work()\n"
        "lazy_dag()\n"
    )
    problems = dag_problems(tmp_path)
    assert "DAG lazy_dag (lazy_dag.py): no tags" in problems
    assert "DAG lazy_dag (lazy_dag.py): no doc_md" in problems
    assert "DAG lazy_dag (lazy_dag.py): task work has no owner" in problems
    assert "DAG lazy_dag (lazy_dag.py): task work has no retries" in problems


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_imports_nothing_heavy(dag_file):
    # What a DAG file costs to parse is measured by the benchmarks (B7), not timed here.
    report = import_cost(dag_file)
    assert report["heavy"] == [], f"{dag_file.name} imports {report['heavy']} at parse time"
