"""The loader: raw landing, idempotent MERGE by natural key, and an audit that balances."""

from __future__ import annotations

import pandas as pd
import pytest

from sellerops import datasets
from sellerops.frames import typed_frame
from sellerops.load import load_batch

ORDER = {
    "account_id": "acme-outdoor",
    "marketplace_id": "ATVPDKIKX0DER",
    "order_id": "111-0000001-0000001",
    "purchase_time": "2026-11-01T15:04:05Z",
    "last_updated_time": "2026-11-01T16:00:00Z",
    "order_status": "UNSHIPPED",
    "fulfillment_channel": "MFN",
    "sales_channel": "Amazon.com",
    "is_business_order": False,
    "buyer_email_key": "k1",
    "buyer_recipient_key": None,
    "identity_source": "buyer_email",
    "ship_city": "Austin",
    "ship_state": "TX",
    "ship_postal_code": "78701",
    "ship_country": "US",
    "ship_time": None,
    "latest_delivery_time": "2026-11-08T07:59:59Z",
    "currency": "USD",
    "order_total": 25.98,
    "promotion_ids": "",
    "source": "orders_api",
}
NO_QUARANTINE = pd.DataFrame(columns=["row_number", "reason", "values"])


def _orders(*changes: dict) -> pd.DataFrame:
    return typed_frame(datasets.ORDERS, [{**ORDER, **c} for c in changes])


def _load(wh, frame, batch_id, quarantine=NO_QUARANTINE, valid=None):
    valid = frame if valid is None else valid
    return load_batch(
        wh,
        datasets.ORDERS,
        frame,
        valid,
        quarantine,
        batch_id=batch_id,
        account_id="acme-outdoor",
        marketplace_id="ATVPDKIKX0DER",
        source="orders_api",
        window_start=pd.Timestamp("2026-11-01", tz="UTC"),
        window_end=pd.Timestamp("2026-11-02", tz="UTC"),
    )


def _core(wh) -> list[tuple]:
    with wh.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT order_id, order_status, CAST(order_total AS VARCHAR), batch_id "
            "FROM core.orders ORDER BY order_id"
        ).fetchall()


def test_insert_then_rerun_changes_nothing(any_warehouse):
    frame = _orders({}, {"order_id": "111-0000001-0000002", "order_total": 10})
    first = _load(any_warehouse, frame, "b1")
    assert (first.inserted, first.updated, first.unchanged) == (2, 0, 0)
    before = _core(any_warehouse)
    again = _load(any_warehouse, frame, "b2")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    assert _core(any_warehouse) == before  # batch_id too: unchanged rows are not rewritten
    with any_warehouse.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM raw.orders").scalar() == 4


def test_newer_version_updates_older_never_overwrites(any_warehouse):
    _load(any_warehouse, _orders({}), "b1")
    shipped = _orders({"order_status": "SHIPPED", "last_updated_time": "2026-11-02T09:00:00Z"})
    audit = _load(any_warehouse, shipped, "b2")
    assert (audit.inserted, audit.updated, audit.unchanged) == (0, 1, 0)
    assert _core(any_warehouse)[0][1] == "SHIPPED"
    stale = _load(any_warehouse, _orders({}), "b3")  # a late re-read of the old version
    assert (stale.inserted, stale.updated, stale.unchanged) == (0, 0, 1)
    assert _core(any_warehouse)[0][1:] in {("SHIPPED", "25.9800", "b2"), ("SHIPPED", "25.98", "b2")}


def test_audit_balances_and_quarantine_is_kept(any_warehouse):
    frame = _orders({}, {"order_id": "bad-id"})
    quarantine = pd.DataFrame(
        {
            "row_number": [1],
            "reason": ["order_id does not match ^\\d{3}-\\d{7}-\\d{7}$"],
            "values": ['{"order_id": "bad-id"}'],
            "account_id": ["acme-outdoor"],
            "marketplace_id": ["ATVPDKIKX0DER"],
        }
    )
    audit = _load(any_warehouse, frame, "b1", quarantine=quarantine, valid=frame.iloc[[0]])
    assert (audit.extracted, audit.loaded, audit.quarantined) == (2, 1, 1)
    with any_warehouse.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT extracted, loaded, quarantined, inserted FROM ops.load_audit"
        ).one()
        q = conn.exec_driver_sql("SELECT row_number, reason, row_values FROM ops.quarantine").one()
    assert tuple(row) == (2, 1, 1, 1)
    assert tuple(q) == (
        1,
        "order_id does not match ^\\d{3}-\\d{7}-\\d{7}$",
        '{"order_id": "bad-id"}',
    )


def test_unbalanced_batch_is_refused(any_warehouse):
    frame = _orders({}, {"order_id": "111-0000001-0000002"})
    with pytest.raises(ValueError, match="2 extracted rows but 1 valid \\+ 0 quarantined"):
        _load(any_warehouse, frame, "b1", valid=frame.iloc[[0]])


def test_poorer_source_does_not_erase_known_values(any_warehouse):
    _load(any_warehouse, _orders({"ship_time": "2026-11-02T01:00:00Z"}), "b1")
    report_version = _orders(
        {
            "buyer_email_key": None,
            "order_status": "SHIPPED",
            "last_updated_time": "2026-11-03T00:00:00Z",
            "source": "all_orders_report",
            "ship_time": None,
        }
    )
    audit = _load(any_warehouse, report_version, "b2")
    assert (audit.inserted, audit.updated, audit.unchanged) == (0, 1, 0)
    with any_warehouse.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT buyer_email_key, order_status, source, ship_time IS NOT NULL FROM core.orders"
        ).one()
    assert tuple(row) == ("k1", "SHIPPED", "all_orders_report", True)
    again = _load(any_warehouse, report_version, "b3")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 1)


@pytest.mark.parametrize("with_quarantine", [False, True], ids=["one_stage", "two_stages"])
def test_one_batch_inserts_updates_and_leaves_rows_alone(any_warehouse, with_quarantine):
    """Counts per row kind, whether the batch is staged once or twice (PostgreSQL: from
    the upsert's RETURNING; DuckDB: from the counting join)."""
    _load(any_warehouse, _orders({}, {"order_id": "111-0000001-0000002"}), "b1")
    rows = [
        {"order_id": "111-0000001-0000002"},  # unchanged
        {"order_status": "SHIPPED", "last_updated_time": "2026-11-02T09:00:00Z"},  # updated
        {"order_id": "111-0000001-0000003"},  # inserted
        {"order_id": "111-0000001-0000004", "order_total": 3},  # inserted
    ]
    if with_quarantine:
        rows.append({"order_id": "bad-id"})
    frame = _orders(*rows)
    quarantine, valid = NO_QUARANTINE, frame
    if with_quarantine:
        valid = frame.iloc[:4]
        quarantine = pd.DataFrame(
            {"row_number": [4], "reason": ["order_id does not match"], "values": [None],
             "account_id": ["acme-outdoor"], "marketplace_id": ["ATVPDKIKX0DER"]}
        )  # fmt: skip
    audit = _load(any_warehouse, frame, "b2", quarantine=quarantine, valid=valid)
    assert (audit.inserted, audit.updated, audit.unchanged) == (2, 1, 1)
    assert (audit.extracted, audit.loaded, audit.quarantined) == (
        len(rows),
        4,
        1 if with_quarantine else 0,
    )
    assert [(r[0], r[1], r[3]) for r in _core(any_warehouse)] == [
        ("111-0000001-0000001", "SHIPPED", "b2"),
        ("111-0000001-0000002", "UNSHIPPED", "b1"),
        ("111-0000001-0000003", "UNSHIPPED", "b2"),
        ("111-0000001-0000004", "UNSHIPPED", "b2"),
    ]
    with any_warehouse.connect() as conn:
        assert conn.exec_driver_sql(
            "SELECT count(*) FROM raw.orders WHERE batch_id = 'b2'"
        ).scalar() == len(rows)
