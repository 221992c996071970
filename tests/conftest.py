"""Test-wide settings: an isolated Airflow home and data folder, the development pepper."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="sellerops-tests-"))
os.environ.setdefault("AIRFLOW_HOME", str(_SESSION_DIR / "airflow_home"))
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["SELLEROPS_DATA_DIR"] = str(_SESSION_DIR / "data")
os.environ.setdefault("SELLEROPS_BUYER_PEPPER", "test-pepper-not-secret")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.pop("SELLEROPS_WAREHOUSE_URL", None)

pytest_plugins = ["tests.fixtures.warehouse"]
