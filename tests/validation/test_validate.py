"""validate_batch: which rows are quarantined, why, and what happens to the rest.

Every batch here is hand-built from the dataset contract with the dtypes documented
in ``sellerops.validation.suites``. GX is initialised once per process (the first
test pays ~7 s for the import); everything after reuses the context.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from sellerops import datasets
from sellerops.validation import suites
from sellerops.validation.validate import (
    QUARANTINE_COLUMNS,
    REDACTED,
    BatchSchemaError,
    QuarantineThresholdExceeded,
    ValidationOutcome,
    build_docs_index,
    check_threshold,
    frame_json,
    is_personal_key,
    redact_row,
    row_json,
    validate_batch,
)

W_START = datetime(2024, 3, 1, tzinfo=UTC)
W_END = datetime(2024, 3, 2, tzinfo=UTC)
ORDER_RE = r"^\d{3}-\d{7}-\d{7}$"
WINDOW_TEXT = "[2024-03-01T00:00:00+00:00, 2024-03-02T00:00:00+00:00)"

GOOD: dict[str, dict] = {
    "orders": {
        "account_id": "acct-1",
        "marketplace_id": "ATVPDKIKX0DER",
        "order_id": "111-0000001-0000001",
        "purchase_time": "2024-03-01T08:00:00Z",
        "last_updated_time": "2024-03-01T09:00:00Z",
        "order_status": "SHIPPED",
        "fulfillment_channel": "AFN",
        "sales_channel": "Amazon.com",
        "is_business_order": False,
        "buyer_email_key": "bk-1",
        "buyer_recipient_key": "rk-1",
        "identity_source": "buyer_email",
        "ship_city": "Seattle",
        "ship_state": "WA",
        "ship_postal_code": "98101",
        "ship_country": "US",
        "ship_time": "2024-03-01T10:00:00Z",
        "latest_delivery_time": None,
        "currency": "USD",
        "order_total": 19.99,
        "promotion_ids": None,
        "source": "orders_api",
    },
    "order_items": {
        "account_id": "acct-1",
        "marketplace_id": "ATVPDKIKX0DER",
        "order_id": "111-0000001-0000001",
        "sku": "SKU-1",
        "order_item_id": "12345678901234",
        "asin": "B0C1234567",
        "quantity": 1,
        "item_price": 19.99,
        "item_tax": 1.6,
        "shipping_price": 0.0,
        "promotion_discount": 0.0,
        "promotion_ids": None,
        "currency": "USD",
        "last_updated_time": "2024-03-01T09:00:00Z",
        "source": "orders_api",
    },
    "returns": {
        "account_id": "acct-1",
        "marketplace_id": "A1VC38T7YXB528",
        "return_key": "fba:250-0000001-0000001:SKU-1:LPN1",
        "order_id": "250-0000001-0000001",
        "sku": "SKU-1",
        "asin": "B0C1234567",
        "quantity": 1,
        "return_time": "2024-03-01T12:00:00Z",
        "reason": "DEFECTIVE",
        "status": "Unit returned to inventory",
        "fulfillment_channel": "AFN",
        "source": "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA",
    },
    "refunds": {
        "account_id": "acct-1",
        "marketplace_id": "ATVPDKIKX0DER",
        "adjustment_id": "adj-1",
        "order_id": "111-0000001-0000001",
        "sku": "SKU-1",
        "quantity": 1,
        "amount": 19.99,
        "currency": "USD",
        "posted_time": "2024-03-01T15:00:00Z",
        "source": "finances_api",
    },
    "feedback": {
        "account_id": "acct-1",
        "marketplace_id": "ATVPDKIKX0DER",
        "order_id": "111-0000001-0000001",
        "feedback_date": "2024-03-01",
        "rating": 5,
        "comments": "Great seller",
        "has_response": False,
        "buyer_key": "bk-1",
        "source": "GET_SELLER_FEEDBACK_DATA",
    },
    "messages": {
        "account_id": "acct-1",
        "marketplace_id": "ATVPDKIKX0DER",
        "message_id": "msg-1@relay.example",
        "thread_key": "thread-1",
        "order_id": "111-0000001-0000001",
        "direction": "buyer",
        "sent_time": "2024-03-01T07:30:00Z",
        "buyer_key": "bk-1",
        "subject_kind": "order_inquiry",
        "has_attachment": False,
        "body_chars": 120,
        "source": "maildir",
    },
}

# The column that makes each GOOD row's natural key distinct.
DISTINCT = {
    "orders": "order_id",
    "order_items": "sku",
    "returns": "return_key",
    "refunds": "adjustment_id",
    "feedback": "order_id",
    "messages": "message_id",
}


def frame(dataset_name: str, rows: list[dict], index=None) -> pd.DataFrame:
    """A batch with the contract's columns and dtypes from row dicts."""
    dataset = datasets.get(dataset_name)
    data = {}
    for column in dataset.columns:
        values = [row[column.name] for row in rows]
        if column.type == "timestamp":
            series = pd.to_datetime(pd.Series(values, dtype="object"), utc=True, format="ISO8601")
            data[column.name] = series.astype("datetime64[us, UTC]")
        elif column.type == "date":
            series = pd.to_datetime(pd.Series(values, dtype="object"), format="ISO8601")
            data[column.name] = series.astype(suites.PANDAS_DTYPES["date"])
        else:
            data[column.name] = pd.Series(values, dtype=suites.PANDAS_DTYPES[column.type])
    df = pd.DataFrame(data, columns=dataset.column_names)
    if index is not None:
        df.index = index
    return df


def good_rows(dataset_name: str, n: int) -> list[dict]:
    rows = []
    for i in range(n):
        row = dict(GOOD[dataset_name])
        column = DISTINCT[dataset_name]
        if column == "order_id":
            row[column] = f"111-0000001-{i:07d}"
        else:
            row[column] = f"{row[column]}-{i}"
        rows.append(row)
    return rows


def batch(dataset_name: str, changes: dict[int, dict], n: int | None = None) -> pd.DataFrame:
    """``n`` good rows (default: enough for ``changes``) with ``changes[i]`` applied to row i."""
    n = n if n is not None else max(changes, default=0) + 2
    rows = good_rows(dataset_name, n)
    for i, change in changes.items():
        rows[i].update(change)
    return frame(dataset_name, rows)


def run(dataset_name: str, df: pd.DataFrame, **kwargs) -> ValidationOutcome:
    kwargs.setdefault("window_start", W_START)
    kwargs.setdefault("window_end", W_END)
    kwargs.setdefault("batch_id", f"test-{dataset_name}")
    return validate_batch(dataset_name, df, **kwargs)


def reasons(outcome: ValidationOutcome) -> dict[int, str]:
    return dict(zip(outcome.quarantine["row_number"], outcome.quarantine["reason"], strict=True))


def assert_partition(outcome: ValidationOutcome, df: pd.DataFrame) -> None:
    """valid + quarantined == evaluated, disjoint, valid untouched and in order."""
    assert outcome.run["evaluated_rows"] == len(df)
    assert outcome.run["quarantined_rows"] == len(outcome.quarantine)
    assert len(outcome.valid) + len(outcome.quarantine) == len(df)
    positions = [df.index.get_loc(label) for label in outcome.valid.index]
    assert positions == sorted(positions)
    assert set(positions).isdisjoint(outcome.quarantine["row_number"])
    assert set(positions) | set(outcome.quarantine["row_number"]) == set(range(len(df)))
    pd.testing.assert_frame_equal(outcome.valid, df.iloc[positions])
    assert list(outcome.quarantine.columns) == list(QUARANTINE_COLUMNS)
    assert outcome.run["success"] is (len(outcome.quarantine) == 0)


# --------------------------------------------------------------------------- good batches


@pytest.mark.parametrize("dataset_name", list(datasets.DATASETS))
def test_good_batch_passes_untouched(dataset_name):
    df = frame(dataset_name, good_rows(dataset_name, 3), index=pd.Index([30, 10, 20]))
    original = df.copy()

    outcome = run(dataset_name, df)

    assert_partition(outcome, df)
    pd.testing.assert_frame_equal(outcome.valid, original)
    pd.testing.assert_frame_equal(df, original)  # the input is not modified
    assert outcome.quarantine.empty
    assert outcome.run["success"] is True
    assert outcome.run["failed_expectations"] == []
    assert outcome.run["expectations"] == len(suites.expectation_specs(dataset_name))
    assert outcome.docs_path is None


@pytest.mark.parametrize("dataset_name", list(datasets.DATASETS))
def test_typed_frame_batches_pass(dataset_name):
    """The extractors' frame builder and the suites agree on every dtype."""
    from sellerops.frames import empty_frame, typed_frame

    dataset = datasets.get(dataset_name)
    df = typed_frame(dataset, good_rows(dataset_name, 2))
    outcome = run(dataset_name, df)
    assert outcome.quarantine.empty
    pd.testing.assert_frame_equal(outcome.valid, df)
    assert run(dataset_name, empty_frame(dataset)).run["evaluated_rows"] == 0


def test_empty_batch_is_valid():
    df = frame("orders", [])
    outcome = run("orders", df)
    assert_partition(outcome, df)
    assert outcome.run["evaluated_rows"] == 0
    assert check_threshold(outcome, 0.0) == 0.0


# --------------------------------------------------------------------------- row failures


def test_orders_bad_rows():
    df = batch(
        "orders",
        {
            1: {"order_id": "111-000001-0000001"},
            2: {"last_updated_time": "2024-03-02T00:00:00Z"},  # == window_end
            3: {"last_updated_time": "2024-02-29T23:59:59Z"},  # one second early
            4: {"currency": "XYZ"},
            5: {"order_id": None},
            6: {"order_status": "ARCHIVED", "fulfillment_channel": "FBA"},
            7: {"marketplace_id": "A1XXXXXXXXXXXX", "identity_source": "email"},
            8: {"order_id": "bad", "currency": "usd", "order_total": -0.01},
            9: {"last_updated_time": "2024-03-01T00:00:00Z"},  # == window_start: inside
            10: {"last_updated_time": "2024-03-01T23:59:59.999999Z"},  # last instant inside
            11: {"purchase_time": None},
        },
    )
    outcome = run("orders", df)

    assert reasons(outcome) == {
        1: f"order_id does not match {ORDER_RE}",
        2: f"last_updated_time outside the window {WINDOW_TEXT}",
        3: f"last_updated_time outside the window {WINDOW_TEXT}",
        4: "currency is not a known ISO 4217 currency code",
        5: "order_id is null",
        6: "order_status is not a known order status; fulfillment_channel is not AFN or MFN",
        7: "marketplace_id is not a known Amazon marketplace id; "
        "identity_source is not buyer_email, recipient or none",
        8: f"order_id does not match {ORDER_RE}; "
        "currency is not a known ISO 4217 currency code; order_total < 0",
        11: "purchase_time is null",
    }
    assert_partition(outcome, df)
    assert outcome.run["success"] is False
    assert sorted(outcome.run["failed_expectations"]) == sorted(
        [
            "expect_column_values_to_not_be_null(order_id)",
            "expect_column_values_to_not_be_null(purchase_time)",
            "expect_column_values_to_be_in_set(marketplace_id)",
            "expect_column_values_to_match_regex(order_id)",
            "expect_column_values_to_be_between(last_updated_time)",
            "expect_column_values_to_be_in_set(order_status)",
            "expect_column_values_to_be_in_set(fulfillment_channel)",
            "expect_column_values_to_be_in_set(identity_source)",
            "expect_column_values_to_be_in_set(currency)",
            "expect_column_values_to_be_between(order_total)",
        ]
    )


def test_order_items_quantity_and_duplicates():
    df = batch(
        "order_items",
        {
            1: {"quantity": 0},
            2: {"quantity": -1},
            3: {"sku": "DUP"},
            4: {"item_price": -5.0, "item_tax": -0.5},
            5: {"sku": "DUP", "quantity": 2},
            6: {"sku": "DUP", "quantity": 3},  # the newest version: kept
            7: {"order_id": "111-0000001-0000009", "sku": "LASTBAD"},
            8: {"order_id": "111-0000001-0000009", "sku": "LASTBAD", "quantity": -1},
        },
        n=10,
    )
    outcome = run("order_items", df)

    assert reasons(outcome) == {
        1: "quantity < 1",
        2: "quantity < 1",
        3: "duplicate key (superseded by row 6)",
        4: "item_price < 0; item_tax < 0",
        5: "duplicate key (superseded by row 6)",
        # The older version is not loaded instead of a newer, invalid one.
        7: "duplicate key (superseded by row 8)",
        8: "quantity < 1",
    }
    assert_partition(outcome, df)
    assert outcome.valid.loc[6, "quantity"] == 3


def test_null_keys_are_not_duplicates_of_each_other():
    df = batch("orders", {0: {"order_id": None}, 1: {"order_id": None}})
    outcome = run("orders", df)
    assert reasons(outcome) == {0: "order_id is null", 1: "order_id is null"}
    assert_partition(outcome, df)


def test_returns_bad_rows():
    df = batch(
        "returns",
        {
            0: {"quantity": -1},
            1: {"quantity": 0},  # zero units is allowed for returns
            2: {"fulfillment_channel": "FBA"},
            3: {"return_time": "2024-02-29T23:59:59Z"},
            4: {"return_key": None, "order_id": "250-0000001"},
        },
    )
    outcome = run("returns", df)
    assert reasons(outcome) == {
        0: "quantity < 0",
        2: "fulfillment_channel is not AFN or MFN",
        3: f"return_time outside the window {WINDOW_TEXT}",
        4: f"return_key is null; order_id does not match {ORDER_RE}",
    }
    assert_partition(outcome, df)


def test_refunds_bad_rows():
    df = batch(
        "refunds",
        {
            0: {"amount": 0.0},
            1: {"amount": -3.5},
            2: {"currency": "usd"},
            3: {"quantity": None},  # nullable: fine
            4: {"quantity": -2},
            5: {"posted_time": "2024-03-02T00:00:01Z"},
            6: {"adjustment_id": "adj-1-7"},  # duplicate of row 7
        },
        n=8,
    )
    outcome = run("refunds", df)
    assert reasons(outcome) == {
        0: "amount <= 0",
        1: "amount <= 0",
        2: "currency is not a known ISO 4217 currency code",
        4: "quantity < 0",
        5: f"posted_time outside the window {WINDOW_TEXT}",
        6: "duplicate key (superseded by row 7)",
    }
    assert_partition(outcome, df)


def test_feedback_rating_and_date_window():
    df = batch(
        "feedback",
        {
            0: {"rating": 7},
            1: {"rating": 0},
            2: {"rating": None},
            3: {"feedback_date": "2024-02-29"},
            4: {"feedback_date": "2024-03-02"},  # window_end is midnight: outside
            5: {"has_response": None},
        },
    )
    outcome = run("feedback", df)
    window = "[2024-03-01, 2024-03-02)"
    assert reasons(outcome) == {
        0: "rating not in 1..5",
        1: "rating not in 1..5",
        2: "rating is null",
        3: f"feedback_date outside the window {window}",
        4: f"feedback_date outside the window {window}",
        5: "has_response is null",
    }
    assert_partition(outcome, df)


def test_feedback_date_inside_when_its_day_overlaps_the_window():
    df = batch("feedback", {0: {"feedback_date": "2024-03-01"}, 1: {"feedback_date": "2024-03-02"}})
    outcome = run(
        "feedback",
        df,
        window_start=datetime(2024, 3, 1, 18, tzinfo=UTC),
        window_end=datetime(2024, 3, 2, 6, tzinfo=UTC),
    )
    assert outcome.quarantine.empty


def test_messages_bad_rows():
    df = batch(
        "messages",
        {
            0: {"direction": "system"},
            1: {"subject_kind": "spam"},
            2: {"order_id": None, "subject_kind": None},  # pre-sales: no order, fine
            3: {"order_id": ""},  # an empty string is not a missing order id
            4: {"body_chars": -1},
            5: {"sent_time": None, "thread_key": None},
        },
    )
    outcome = run("messages", df)
    assert reasons(outcome) == {
        0: "direction is not buyer or seller",
        1: "subject_kind is not a known subject kind",
        3: f"order_id does not match {ORDER_RE}",
        4: "body_chars < 0",
        5: "thread_key is null; sent_time is null",
    }
    assert_partition(outcome, df)


# --------------------------------------------------------------------------- windows


@pytest.mark.parametrize(
    ("when", "inside"),
    [
        ("2024-03-01T00:00:00Z", True),
        ("2024-03-01T23:59:59.999999Z", True),
        ("2024-03-02T00:00:00Z", False),
        ("2024-03-02T00:00:01Z", False),
        ("2024-02-29T23:59:59Z", False),
        ("2024-02-29T23:59:59.999999Z", False),
    ],
)
def test_tz_aware_window_bounds(when, inside):
    df = batch("refunds", {0: {"posted_time": when}}, n=1)
    outcome = run("refunds", df)
    assert outcome.quarantine.empty is inside


def test_window_in_another_time_zone_is_the_same_instants():
    tokyo = "Asia/Tokyo"
    df = batch(
        "refunds",
        {0: {"posted_time": "2024-03-01T00:00:00Z"}, 1: {"posted_time": "2024-02-29T23:59:59Z"}},
    )
    outcome = run(
        "refunds",
        df,
        window_start=pd.Timestamp("2024-03-01T09:00", tz=tokyo),
        window_end=pd.Timestamp("2024-03-02T09:00", tz=tokyo),
    )
    assert reasons(outcome) == {1: f"posted_time outside the window {WINDOW_TEXT}"}


def test_window_must_be_tz_aware_and_non_empty():
    df = batch("refunds", {}, n=1)
    with pytest.raises(ValueError, match="timezone-aware"):
        run("refunds", df, window_start=datetime(2024, 3, 1))
    with pytest.raises(ValueError, match="empty window"):
        run("refunds", df, window_end=W_START)


# --------------------------------------------------------------------------- batch-level


def test_missing_column_is_a_batch_error():
    df = batch("orders", {}).drop(columns=["currency", "source"])
    with pytest.raises(BatchSchemaError) as info:
        run("orders", df, batch_id="b-42")
    message = str(info.value)
    assert "orders" in message and "'b-42'" in message
    assert "missing columns ['currency', 'source']" in message


def test_wrong_dtypes_are_a_batch_error():
    df = batch("order_items", {})
    df["quantity"] = df["quantity"].astype("int64")
    df["last_updated_time"] = df["last_updated_time"].astype("datetime64[ns, UTC]")
    df["promotion_ids"] = df["promotion_ids"].astype("str")
    with pytest.raises(BatchSchemaError) as info:
        run("order_items", df, batch_id="b-7")
    message = str(info.value)
    assert "order_items batch 'b-7'" in message
    assert "quantity is int64, expected Int64" in message
    assert "last_updated_time is datetime64[ns, UTC], expected datetime64[us, UTC]" in message
    assert "promotion_ids is str, expected object" in message
    assert "holds values" not in message


def test_non_str_values_in_a_text_column_are_a_batch_error():
    df = batch("orders", {}, n=3)
    df["sales_channel"] = pd.Series(["Amazon.com", 7, None], dtype="object")
    df["ship_postal_code"] = pd.Series([98101, "98101", 98102.0], dtype="object")
    with pytest.raises(BatchSchemaError) as info:
        run("orders", df, batch_id="b-8")
    message = str(info.value)
    assert "sales_channel holds values that are not str (int; row positions [1])" in message
    assert "ship_postal_code holds values that are not str (float, int; row positions [0, 2])" in (
        message
    )


def test_date_dtype_must_be_seconds():
    df = batch("feedback", {})
    df["feedback_date"] = df["feedback_date"].astype("datetime64[us]")
    with pytest.raises(BatchSchemaError, match=r"feedback_date is datetime64\[us\], expected"):
        run("feedback", df)


def test_non_utc_timestamps_are_a_batch_error():
    df = batch("refunds", {})
    df["posted_time"] = df["posted_time"].dt.tz_convert("Europe/Berlin")
    with pytest.raises(BatchSchemaError, match="posted_time is datetime64.us, Europe/Berlin."):
        run("refunds", df)


def test_date_with_time_of_day_is_a_batch_error():
    df = batch("feedback", {1: {"feedback_date": "2024-03-01T13:00:00"}})
    with pytest.raises(
        BatchSchemaError, match=r"feedback_date .*time of day \(row positions \[1\]"
    ):
        run("feedback", df)


def test_extra_pii_column_is_a_batch_error_without_leaking_values():
    df = batch("orders", {})
    df["buyer_email"] = "jane.doe@example.com"
    with pytest.raises(BatchSchemaError) as info:
        run("orders", df)
    assert "unexpected columns ['buyer_email']" in str(info.value)
    assert "jane.doe" not in str(info.value)


def test_reordered_columns_are_a_batch_error():
    df = batch("refunds", {})
    df = df[list(reversed(df.columns))]
    with pytest.raises(BatchSchemaError, match="columns out of order"):
        run("refunds", df)


def test_duplicated_column_is_a_batch_error():
    df = batch("refunds", {})
    df = pd.concat([df, df[["sku"]]], axis=1)
    with pytest.raises(BatchSchemaError, match=r"duplicated columns \['sku'\]"):
        run("refunds", df)


def test_reserved_row_column_is_rejected():
    df = batch("refunds", {})
    df[suites.ROW_COLUMN] = 0
    with pytest.raises(BatchSchemaError, match="reserved"):
        run("refunds", df)


def test_unknown_dataset():
    with pytest.raises(KeyError, match="unknown dataset"):
        run("invoices", pd.DataFrame())


# --------------------------------------------------------------------------- quarantine rows


def test_quarantine_labels_and_values():
    df = batch(
        "orders",
        {0: {"order_total": -1.0, "marketplace_id": "A1VC38T7YXB528", "currency": "JPY"}},
    )
    outcome = run("orders", df, batch_id="b-1")
    row = outcome.quarantine.iloc[0]
    assert row["dataset"] == "orders"
    assert row["batch_id"] == "b-1"
    assert row["account_id"] == "acct-1"  # taken from the row when not given
    assert row["marketplace_id"] == "A1VC38T7YXB528"
    assert row["row_number"] == 0
    values = json.loads(row["values"])
    assert list(values) == datasets.ORDERS.column_names
    assert values["order_total"] == -1.0
    assert values["last_updated_time"] == "2024-03-01T09:00:00.000000Z"
    assert values["latest_delivery_time"] is None
    assert values["promotion_ids"] is None
    assert values["is_business_order"] is False
    assert outcome.quarantine["row_number"].dtype == "int64"

    labelled = run("orders", df, account_id="acct-9", marketplace_id="ATVPDKIKX0DER")
    assert labelled.quarantine.iloc[0]["account_id"] == "acct-9"
    assert labelled.quarantine.iloc[0]["marketplace_id"] == "ATVPDKIKX0DER"


def test_quarantine_values_for_dates_and_ints():
    df = batch("feedback", {0: {"rating": 7, "comments": "write to jane@example.com please"}})
    outcome = run("feedback", df)
    values = json.loads(outcome.quarantine.iloc[0]["values"])
    assert values["feedback_date"] == "2024-03-01"
    assert values["rating"] == 7
    assert values["comments"] == "write to [EMAIL] please"


def test_run_record():
    df = batch("refunds", {0: {"amount": 0.0}})
    outcome = run("refunds", df, batch_id="b-run")
    record = outcome.run
    assert set(record) == {
        "batch_id",
        "dataset",
        "suite_name",
        "success",
        "evaluated_rows",
        "quarantined_rows",
        "expectations",
        "failed_expectations",
        "run_time",
        "data_docs_path",
    }
    assert record["batch_id"] == "b-run"
    assert record["dataset"] == "refunds"
    assert record["suite_name"] == "sellerops.refunds"
    assert record["success"] is False
    assert (record["evaluated_rows"], record["quarantined_rows"]) == (2, 1)
    assert record["failed_expectations"] == ["expect_column_values_to_be_between(amount)"]
    assert record["run_time"].tzinfo is not None
    assert record["run_time"].utcoffset() == timedelta(0)
    assert record["data_docs_path"] is None


# --------------------------------------------------------------------------- threshold


def test_check_threshold():
    df = batch("refunds", {0: {"amount": 0.0}}, n=4)
    outcome = run("refunds", df, batch_id="b-t")
    assert check_threshold(outcome, 0.25) == 0.25
    assert check_threshold(outcome, 1.0) == 0.25
    with pytest.raises(QuarantineThresholdExceeded) as info:
        check_threshold(outcome, 0.2)
    message = str(info.value)
    assert "refunds" in message and "'b-t'" in message and "1 of 4 rows" in message
    with pytest.raises(ValueError):
        check_threshold(outcome, 1.5)


# --------------------------------------------------------------------------- data docs


def test_data_docs(tmp_path):
    docs = tmp_path / "docs"
    first = run(
        "refunds", batch("refunds", {0: {"amount": 0.0}}), batch_id="docs/run 1", docs_dir=docs
    )
    second = run("feedback", batch("feedback", {}), batch_id="docs-run-2", docs_dir=docs)

    index = docs / "index.html"
    # Batches write their own pages; the index (it reads every stored run) once per run.
    assert not index.exists()
    assert build_docs_index(docs) == index
    assert index.is_file()
    for outcome in (first, second):
        assert outcome.docs_path is not None
        assert outcome.docs_path.is_file()
        assert outcome.docs_path.suffix == ".html"
        assert docs in outcome.docs_path.parents
        assert outcome.run["data_docs_path"] == str(outcome.docs_path)
    html = index.read_text()
    assert "docs_run_1" in html and "docs-run-2" in html
    assert "amount" in first.docs_path.read_text()


# --------------------------------------------------------------------------- PII


RAW_REPORT_ROW = {
    "amazon-order-id": "111-0000001-0000001",
    "buyer-email": "0x3k9abc@marketplace.amazon.com",
    "buyer-name": "Jane Doe",
    "buyer-phone-number": "+1 206 555 0100",
    "recipient-name": "John Doe",
    "ship-address-1": "1 Main St",
    "ship-address-2": "Apt 5",
    "ship-city": "Seattle",
    "ship-postal-code": "98101",
    "product-name": "Blue Widget",
    "sku": "SKU-1",
    "quantity-purchased": 2,
    "BuyerInfo": {"BuyerEmail": "x@y.com", "BuyerName": "Jane", "PurchaseOrderNumber": "PO-1"},
    "ShippingAddress": {"AddressLine1": "1 Main St", "City": "Seattle"},
    "comments": "contact me at jane.doe@example.com",
    "subject": "Inquiry from Amazon customer Jane Doe",
    "body": "Hello, I am Jane",
    "buyer_key": "hmac-abc",
    "empty-name": None,
}

PERSONAL = ["Jane", "John", "Doe", "Main St", "Apt 5", "555", "@marketplace", "example.com", "x@y"]


def test_redact_row_masks_personal_fields():
    redacted = redact_row(RAW_REPORT_ROW)
    for key in (
        "buyer-email",
        "buyer-name",
        "buyer-phone-number",
        "recipient-name",
        "ship-address-1",
        "ship-address-2",
        "ShippingAddress",
        "subject",
        "body",
    ):
        assert redacted[key] == REDACTED, key
    assert redacted["BuyerInfo"] == {
        "BuyerEmail": REDACTED,
        "BuyerName": REDACTED,
        "PurchaseOrderNumber": "PO-1",
    }
    assert redacted["comments"] == "contact me at [EMAIL]"
    assert redacted["empty-name"] is None
    for key in ("amazon-order-id", "ship-city", "ship-postal-code", "product-name", "sku"):
        assert redacted[key] == RAW_REPORT_ROW[key]
    assert redacted["buyer_key"] == "hmac-abc"
    assert RAW_REPORT_ROW["buyer-name"] == "Jane Doe"  # the input is not modified

    text = row_json(RAW_REPORT_ROW)
    for fragment in PERSONAL:
        assert fragment not in text, fragment


def test_frame_json_redacts_raw_rows_like_redact_row():
    scalar = {k: v for k, v in RAW_REPORT_ROW.items() if not isinstance(v, dict)}
    raw = pd.DataFrame([scalar, {**scalar, "buyer-name": None}])
    raw = raw.astype({k: "str" for k, v in scalar.items() if isinstance(v, str)})
    lines = frame_json(raw)
    assert len(lines) == 2
    for line in lines:
        for fragment in PERSONAL:
            assert fragment not in line, fragment
    first = json.loads(lines[0])
    assert first == json.loads(row_json(scalar))
    assert json.loads(lines[1])["buyer-name"] is None


@pytest.mark.parametrize(
    ("key", "personal"),
    [
        ("buyer_email", True),
        ("BuyerEmail", True),
        ("buyer-name", True),
        ("buyer_name", True),
        ("RecipientName", True),
        ("name", True),
        ("ship-phone-number", True),
        ("ship-address-3", True),
        ("AddressLine1", True),
        ("bill-address-1", True),
        ("rater-email", True),
        ("from", True),
        ("subject", True),
        ("product-name", False),
        ("item_name", False),
        ("sales_channel", False),
        ("buyer_key", False),
        ("ship_city", False),
        ("ship_postal_code", False),
        ("order_id", False),
        ("message_id", False),
        ("subject_kind", False),
        ("body_chars", False),
        ("identity_source", False),
    ],
)
def test_is_personal_key(key, personal):
    assert is_personal_key(key) is personal


# --------------------------------------------------------------------------- import cost


def test_modules_import_without_gx_or_pandas():
    code = textwrap.dedent(
        """
        import sys
        import sellerops.validation.suites, sellerops.validation.validate
        loaded = [m for m in ("great_expectations", "pandas") if m in sys.modules]
        assert not loaded, loaded
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
