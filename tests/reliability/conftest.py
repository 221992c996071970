"""The small sandbox world the fault-matrix and concurrency tests share (per module)."""

from __future__ import annotations

import pytest

from sellerops.sandbox.client import clear_token_cache
from sellerops.sandbox.service import make_world, sandbox_environment


@pytest.fixture(scope="module")
def world():
    return make_world(seed=11, days=30, orders_per_day=3)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, world):
    clear_token_cache()
    with sandbox_environment(tmp_path_factory.mktemp("sandbox"), world=world) as env:
        yield env
    clear_token_cache()
