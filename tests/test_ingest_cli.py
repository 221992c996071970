"""`sellerops ingest` over the sandbox: the report-based history backfill, then the API."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sellerops import cli, warehouse
from sellerops.sandbox.service import make_world, sandbox_environment

ACCOUNT, MARKETPLACE = "bluebird-home", "ATVPDKIKX0DER"


@pytest.fixture(scope="module")
def world():
    return make_world(seed=5, days=20, orders_per_day=5)


def _count(wh, sql: str) -> int:
    with wh.connect() as conn:
        return conn.exec_driver_sql(sql).scalar()


def test_report_backfill_then_api_fills_buyer_keys(world, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SELLEROPS_DATA_DIR", str(tmp_path / "data"))
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    assert cli.main(["--warehouse", url, "db", "upgrade"]) == 0
    orders = world.orders[
        (world.orders.account_id == ACCOUNT) & (world.orders.marketplace_id == MARKETPLACE)
    ]
    items = world.order_items[world.order_items.order_id.isin(orders.order_id)]
    first = world.start.date().isoformat()
    last = (world.end - timedelta(days=1)).date().isoformat()
    base = ["--warehouse", url, "ingest", "--account", ACCOUNT, "--marketplace", MARKETPLACE]
    span = ["--start", first, "--end", last, "--window-days", "30"]
    with sandbox_environment(tmp_path / "sandbox", world=world):
        assert cli.main([*base, *span, "--dataset", "orders_report"]) == 0
        wh = warehouse.connect(url)
        assert _count(wh, "SELECT count(*) FROM core.orders") == len(orders)
        assert _count(wh, "SELECT count(*) FROM core.order_items") == len(items)
        # The all-orders report carries no buyer identity.
        assert _count(wh, "SELECT count(*) FROM core.orders WHERE buyer_key IS NOT NULL") == 0

        assert cli.main([*base, *span, "--dataset", "orders"]) == 0
        assert _count(wh, "SELECT count(*) FROM core.orders") == len(orders)
        assert _count(wh, "SELECT count(*) FROM core.orders WHERE buyer_key IS NULL") == 0
    out = capsys.readouterr().out
    assert f"orders       {ACCOUNT}/{MARKETPLACE}: extracted {len(orders)} = loaded" in out
    assert (tmp_path / "data" / "data_docs" / "index.html").exists()


def test_window_longer_than_amazon_allows_is_refused(capsys):
    code = cli.main(
        ["ingest", "--account", "a", "--start", "2026-01-01", "--end", "2026-03-01",
         "--window-days", "45"]
    )  # fmt: skip
    assert code == 1
    assert "window of 45 days: use 1 to 30" in capsys.readouterr().err
