"""Where SellerOps finds its files, resolved from the project root, never from the CWD."""

from __future__ import annotations

import os
from pathlib import Path

# plugins/sellerops/paths.py -> the repository (or the Airflow home in the image).
PROJECT_ROOT = Path(os.environ.get("SELLEROPS_HOME", Path(__file__).resolve().parents[2]))
INCLUDE_DIR = PROJECT_ROOT / "include"
SQL_DIR = INCLUDE_DIR / "sql"
DAGS_DIR = PROJECT_ROOT / "dags"


def data_dir() -> Path:
    """The directory for local state (DuckDB file, reports, Data Docs), created on demand."""
    path = Path(os.environ.get("SELLEROPS_DATA_DIR", PROJECT_ROOT / "data"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_docs_dir() -> Path:
    """Where Great Expectations writes its Data Docs (HTML validation reports)."""
    return data_dir() / "data_docs"
