"""marts.kpi_repurchase and marts.product_repurchase on the hand-built world, both databases."""

from __future__ import annotations

from datetime import date

from handmade import A1, A2, A3, A4, ACME, BETA, JCUP, JP, JTEA, US, assert_row, by_key, fetch

# Non-cancelled orders of known acme buyers (O8 cancelled, O11 keyless):
#   2024-09 B5 (O10)          2024-10 B1 (O1)          2024-11 B1 (O2), B4 (O9)
#   2025-01 B1 (O3)           2025-02 B2 (O5, O6)      2025-03 B1 (O4), B3 (O7)
# First orders: B5 2024-09, B1 2024-10, B4 2024-11, B2 2025-02, B3 2025-03.
# (buyers, repeat buyers, repurchase rate, returning buyers, returning share)
# fmt: off
ACME_PERIODS = {
    ("month", "2024-09-01"):   (1, 0, 0.0,   0, 0.0),
    ("month", "2024-10-01"):   (1, 0, 0.0,   0, 0.0),
    ("month", "2024-11-01"):   (2, 0, 0.0,   1, 0.5),    # B1 ordered in October
    ("month", "2025-01-01"):   (1, 0, 0.0,   1, 1.0),
    ("month", "2025-02-01"):   (1, 1, 1.0,   0, 0.0),    # B2: two orders, both its first month
    ("month", "2025-03-01"):   (2, 0, 0.0,   1, 0.5),    # B1 returning, B3 new
    ("quarter", "2024-07-01"): (1, 0, 0.0,   0, 0.0),
    ("quarter", "2024-10-01"): (2, 1, 0.5,   0, 0.0),    # B1 O1+O2 repeat; B4 once
    ("quarter", "2025-01-01"): (3, 2, 2 / 3, 1, 1 / 3),  # B1 O3+O4, B2 O5+O6, B3; B1 returning
    ("year", "2024-01-01"):    (3, 1, 1 / 3, 0, 0.0),    # B5, B1 (O1, O2), B4
    ("year", "2025-01-01"):    (3, 2, 2 / 3, 1, 1 / 3),  # B1 (O3, O4), B2 (O5, O6), B3
}
# fmt: on


def test_kpi_repurchase(built):
    rows = by_key(
        fetch(built.wh, "SELECT * FROM marts.kpi_repurchase"),
        "account_id",
        "marketplace_id",
        "period_grain",
        "period_start",
    )
    expected = {
        (ACME, US, grain, date.fromisoformat(start)): values
        for (grain, start), values in ACME_PERIODS.items()
    }
    # beta-jp: J1 (P1 03-05, P2 03-15), J2 (P3 03-18), all March 2025: 2 buyers, J1
    # repeats, nobody ordered before -> the same figures for month, quarter and year.
    for grain, start in (
        ("month", "2025-03-01"),
        ("quarter", "2025-01-01"),
        ("year", "2025-01-01"),
    ):
        expected[(BETA, JP, grain, date.fromisoformat(start))] = (2, 1, 0.5, 0, 0.0)
    assert sorted(rows) == sorted(expected)
    columns = (
        "buyers",
        "repeat_buyers",
        "repurchase_rate",
        "returning_buyers",
        "returning_buyer_share",
    )
    for key, values in expected.items():
        assert_row(rows[key], dict(zip(columns, values, strict=True)), str(key))


def test_product_repurchase(built):
    rows = by_key(
        fetch(built.wh, "SELECT * FROM marts.product_repurchase"),
        "account_id",
        "marketplace_id",
        "asin",
        "period_grain",
        "period_start",
    )
    # Orders per ASIN (non-cancelled, known buyer):
    #   A1 tent: O1 B1 2024-10, O9 B4 2024-11, O3 B1 2025-01 (O8 cancelled)
    #   A2 lamp: O2 B1 2024-11, O5 + O6 B2 2025-02 (O11 keyless)
    #   A3 mug:  O10 B5 2024-09, O7 B3 + O4 B1 2025-03
    #   A4:      O6 B2 2025-02
    # (buyers, repeat buyers, repurchase rate)
    expected = {
        (A1, "month", "2024-10-01"): (1, 0, 0.0),
        (A1, "month", "2024-11-01"): (1, 0, 0.0),
        (A1, "month", "2025-01-01"): (1, 0, 0.0),
        (A1, "quarter", "2024-10-01"): (2, 0, 0.0),  # B1 once, B4 once
        (A1, "quarter", "2025-01-01"): (1, 0, 0.0),
        (A1, "year", "2024-01-01"): (2, 0, 0.0),
        (A1, "year", "2025-01-01"): (1, 0, 0.0),
        (A2, "month", "2024-11-01"): (1, 0, 0.0),
        (A2, "month", "2025-02-01"): (1, 1, 1.0),  # B2 bought the lamp in O5 and O6
        (A2, "quarter", "2024-10-01"): (1, 0, 0.0),
        (A2, "quarter", "2025-01-01"): (1, 1, 1.0),
        (A2, "year", "2024-01-01"): (1, 0, 0.0),
        (A2, "year", "2025-01-01"): (1, 1, 1.0),
        (A3, "month", "2024-09-01"): (1, 0, 0.0),
        (A3, "month", "2025-03-01"): (2, 0, 0.0),
        (A3, "quarter", "2024-07-01"): (1, 0, 0.0),
        (A3, "quarter", "2025-01-01"): (2, 0, 0.0),
        (A3, "year", "2024-01-01"): (1, 0, 0.0),
        (A3, "year", "2025-01-01"): (2, 0, 0.0),
        (A4, "month", "2025-02-01"): (1, 0, 0.0),
        (A4, "quarter", "2025-01-01"): (1, 0, 0.0),
        (A4, "year", "2025-01-01"): (1, 0, 0.0),
    }
    expected_rows = {
        (ACME, US, asin, grain, date.fromisoformat(start)): values
        for (asin, grain, start), values in expected.items()
    }
    # beta-jp: the tea twice by J1 in March (P1, P2) -> repeat; the cup once by J2.
    for grain, start in (
        ("month", "2025-03-01"),
        ("quarter", "2025-01-01"),
        ("year", "2025-01-01"),
    ):
        expected_rows[(BETA, JP, JTEA, grain, date.fromisoformat(start))] = (1, 1, 1.0)
        expected_rows[(BETA, JP, JCUP, grain, date.fromisoformat(start))] = (1, 0, 0.0)
    assert sorted(rows) == sorted(expected_rows)
    for key, values in expected_rows.items():
        assert_row(
            rows[key],
            dict(zip(("buyers", "repeat_buyers", "repurchase_rate"), values, strict=True)),
            str(key),
        )
