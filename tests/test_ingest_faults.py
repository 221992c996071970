"""Ingest under injected faults ends with the same tables as a clean run.

One partition (acme-outdoor, US) over 30 days. Each fault is switched on in the
sandbox for the operation it hurts; the run must retry, restart or wait its way
through, and the core tables must equal the clean run's (row content; batch ids
and load times naturally differ).
"""

from __future__ import annotations

import httpx
import pytest

from sellerops import ingest, migrations, warehouse
from sellerops.accounts import load_accounts
from sellerops.sandbox.service import make_world, sandbox_environment
from sellerops.sources.spapi import SpApiCredentials, SpApiSession

PEPPER = b"fault-tests"
CORE = ("orders", "order_items", "returns", "refunds", "feedback", "messages")
SKIP = {"batch_id", "loaded_at"}
ACCOUNT, MARKETPLACE = "acme-outdoor", "ATVPDKIKX0DER"

FAULTS = {
    "throttling_storm": [{"kind": "throttle", "operation": "*", "count": 6}],
    "server_errors": [
        {"kind": "server_error", "operation": "searchOrders", "status": 503, "count": 3},
        {"kind": "server_error", "operation": "getReport", "status": 500, "count": 2},
        {"kind": "server_error", "operation": "listFinancialEvents", "status": 500, "count": 2},
    ],
    "timeouts": [{"kind": "timeout", "operation": "searchOrders", "delay": 3.0, "count": 2}],
    "truncated_document": [{"kind": "truncated_document", "operation": "*", "count": 2}],
    "corrupt_document": [{"kind": "corrupt_document", "operation": "*", "count": 2}],
    "expired_token": [{"kind": "expired_token", "operation": "*", "count": 3}],
    "expired_pagination_token": [
        {"kind": "expired_pagination_token", "operation": "searchOrders", "count": 1}
    ],
    "fatal_then_done": [{"kind": "fatal_report", "operation": "createReport", "count": 1}],
}


@pytest.fixture(scope="module")
def world():
    # Enough orders for two searchOrders pages.
    return make_world(seed=11, days=30, orders_per_day=8)


def _tables(wh) -> dict[str, list]:
    out = {}
    with wh.connect() as conn:
        for table in CORE:
            result = conn.exec_driver_sql(f"SELECT * FROM core.{table}")  # noqa: S608
            keep = [i for i, c in enumerate(result.keys()) if c not in SKIP]
            out[table] = sorted(tuple(str(row[i]) for i in keep) for row in result.fetchall())
    return out


def _run(tmp_path, world, faults, name):
    wh = warehouse.connect(f"duckdb:///{tmp_path / (name + '.duckdb')}")
    migrations.upgrade(wh)
    with sandbox_environment(tmp_path / name, world=world, faults=faults) as env:
        account = load_accounts(env.accounts_file).get(ACCOUNT)
        session = SpApiSession(
            ACCOUNT,
            SpApiCredentials.from_connection(account.spapi_conn_id),
            timeout=1.0,
            base_delay=0.5,
        )
        ingest.ingest_window(
            wh, account, MARKETPLACE, world.start, world.end, pepper=PEPPER, spapi_session=session
        )
        fired = sum(
            rule.get("fired", 0)
            for rule in httpx.get(f"{env.base_url}/sandbox/faults").json()["rules"]
        )
    return _tables(wh), fired


@pytest.fixture(scope="module")
def clean(tmp_path_factory, world):
    tables, _ = _run(tmp_path_factory.mktemp("clean"), world, None, "clean")
    assert len(tables["orders"]) > 100 and tables["returns"] and tables["refunds"]
    return tables


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_gives_the_clean_tables(fault, tmp_path, world, clean):
    tables, fired = _run(tmp_path, world, FAULTS[fault], fault)
    assert fired > 0, "the fault never fired: the test would prove nothing"
    assert tables == clean
