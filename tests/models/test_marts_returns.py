"""Returns and refunds marts on the hand-built world, both databases.

marts.returns_by_month (by order purchase month), marts.returns_by_asin and
marts.return_reasons.
"""

from __future__ import annotations

from datetime import date

from handmade import A1, A2, A3, A4, ACME, BETA, JCUP, JP, JTEA, US, assert_row, by_key, fetch

COLUMNS = (
    "orders",
    "ordered_units",
    "returned_units",
    "return_rate",
    "refunded_orders",
    "refund_rate",
    "refunded_without_return_orders",
    "refund_without_return_rate",
    "refunded_amount",
)


def test_returns_by_month(built):
    rows = by_key(
        fetch(built.wh, "SELECT * FROM marts.returns_by_month"),
        "account_id",
        "marketplace_id",
        "purchase_month",
    )
    # By the month the order was placed (non-cancelled orders):
    #   2024-09 O10 1 unit; refunded 10.00 without any return
    #   2024-10 O1 1 unit
    #   2024-11 O2 3 units (2 returned, refunded 20.00) + O9 1 unit (returned, refunded 80.00)
    #   2025-01 O3 1 unit
    #   2025-02 O5 1 unit + O6 2 units (A4 returned, refunded 15.00)
    #   2025-03 O4 3 + O7 2 + O11 1 units
    # fmt: off
    expected = {
        (ACME, US, date(2024, 9, 1)):  (1, 1, 0, 0.0,   1, 1.0, 1, 1.0, 10.0),
        (ACME, US, date(2024, 10, 1)): (1, 1, 0, 0.0,   0, 0.0, 0, 0.0, 0.0),
        (ACME, US, date(2024, 11, 1)): (2, 4, 3, 0.75,  2, 1.0, 0, 0.0, 100.0),
        (ACME, US, date(2025, 1, 1)):  (1, 1, 0, 0.0,   0, 0.0, 0, 0.0, 0.0),
        (ACME, US, date(2025, 2, 1)):  (2, 3, 1, 1 / 3, 1, 0.5, 0, 0.0, 15.0),
        (ACME, US, date(2025, 3, 1)):  (3, 6, 0, 0.0,   0, 0.0, 0, 0.0, 0.0),
        (BETA, JP, date(2025, 3, 1)):  (3, 4, 0, 0.0,   0, 0.0, 0, 0.0, 0.0),
    }
    # fmt: on
    assert sorted(rows) == sorted(expected)
    for key, values in expected.items():
        assert_row(rows[key], dict(zip(COLUMNS, values, strict=True)), str(key))


def test_returns_by_asin(built):
    rows = by_key(
        fetch(built.wh, "SELECT * FROM marts.returns_by_asin"),
        "account_id",
        "marketplace_id",
        "asin",
    )
    # Non-cancelled order lines per ASIN, returns and refunds matched by order and SKU:
    #   A1: O1, O3, O9 (1 unit each); O9 returned and refunded
    #   A2: O2 (3), O5, O6, O11 (1 each); O2 two units returned, refunded 20.00
    #   A3: O4 (3), O7 (2), O10 (1); O10 refunded 10.00 with no return
    #   A4: O6 (1), returned and refunded 15.00
    # fmt: off
    expected = {
        (ACME, US, A1):   (3, 3, 1, 1 / 3, 1, 1 / 3, 0, 0.0,   80.0),
        (ACME, US, A2):   (4, 6, 2, 1 / 3, 1, 0.25,  0, 0.0,   20.0),
        (ACME, US, A3):   (3, 6, 0, 0.0,   1, 1 / 3, 1, 1 / 3, 10.0),
        (ACME, US, A4):   (1, 1, 1, 1.0,   1, 1.0,   0, 0.0,   15.0),
        (BETA, JP, JTEA): (2, 3, 0, 0.0,   0, 0.0,   0, 0.0,   0.0),
        (BETA, JP, JCUP): (1, 1, 0, 0.0,   0, 0.0,   0, 0.0,   0.0),
    }
    # fmt: on
    assert sorted(rows) == sorted(expected)
    for key, values in expected.items():
        assert_row(rows[key], dict(zip(COLUMNS, values, strict=True)), str(key))
    assert_row(rows[(ACME, US, A1)], {"title": "Trail Tent", "category": "Tents"})
    assert_row(rows[(ACME, US, A4)], {"title": None, "category": None})


def test_return_reasons(built):
    rows = by_key(
        fetch(built.wh, "SELECT * FROM marts.return_reasons"),
        "account_id",
        "marketplace_id",
        "asin",
        "reason",
    )
    # R4 came without an ASIN; it is A4 through O6's SKU-MYST line.
    expected = {
        (ACME, US, A1, "DEFECTIVE"): (1, 1, 1.0),
        (ACME, US, A2, "DEFECTIVE"): (1, 1, 0.5),
        (ACME, US, A2, "NO_LONGER_NEEDED"): (1, 1, 0.5),
        (ACME, US, A4, "NOT_AS_DESCRIBED"): (1, 1, 1.0),
    }
    assert sorted(rows) == sorted(expected)
    for key, values in expected.items():
        assert_row(
            rows[key],
            dict(
                zip(
                    ("return_lines", "returned_units", "share_of_asin_returned_units"),
                    values,
                    strict=True,
                )
            ),
            str(key),
        )
