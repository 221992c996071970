"""Fixtures of the model tests: the hand-built world in a warehouse, built once per test.

``handmade`` (this folder) is put on ``sys.path`` so the tests can import the
dataset module without making ``tests/models`` a package.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import handmade  # noqa: E402 - needs the path above

from sellerops.models import runner  # noqa: E402


@pytest.fixture
def built(any_warehouse, tmp_path):
    """The hand-built world in ``any_warehouse``, built in full with the default as_of.

    ``built.wh`` is the warehouse, ``built.report`` the build report.
    """
    handmade.insert_handmade(any_warehouse)
    report = runner.build(
        any_warehouse,
        accounts=handmade.ACCOUNTS,
        catalog_path=handmade.write_catalog(tmp_path),
    )
    return SimpleNamespace(wh=any_warehouse, report=report, catalog=tmp_path / "catalog.csv")
