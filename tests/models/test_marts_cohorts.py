"""Cohorts and acquisition value on the hand-built world, both databases.

marts.cohort_retention, marts.cohort_second_purchase and marts.ltv_by_channel.
as_of = 2025-03-20 15:00 UTC.
"""

from __future__ import annotations

from datetime import date

from handmade import ACME, BETA, JP, US, assert_row, by_key, fetch

# Cohorts by the month of the first non-cancelled order, revenue per month:
#   2024-09 B5: Sep 30
#   2024-10 B1: Oct 100, Nov 60, Jan 90, Mar 30
#   2024-11 B4: Nov 80
#   2025-02 B2: Feb 20 + 35
#   2025-03 B3: Mar 60
# Rows run from month 0 to March 2025 (the as_of month).
# (months since first, active buyers, retention, cumulative revenue per buyer)
# fmt: off
COHORTS = {
    "2024-09-01": [(0, 1, 1.0, 30.0), (1, 0, 0.0, 30.0), (2, 0, 0.0, 30.0), (3, 0, 0.0, 30.0),
                   (4, 0, 0.0, 30.0), (5, 0, 0.0, 30.0), (6, 0, 0.0, 30.0)],
    "2024-10-01": [(0, 1, 1.0, 100.0), (1, 1, 1.0, 160.0), (2, 0, 0.0, 160.0),
                   (3, 1, 1.0, 250.0), (4, 0, 0.0, 250.0), (5, 1, 1.0, 280.0)],
    "2024-11-01": [(0, 1, 1.0, 80.0), (1, 0, 0.0, 80.0), (2, 0, 0.0, 80.0), (3, 0, 0.0, 80.0),
                   (4, 0, 0.0, 80.0)],
    "2025-02-01": [(0, 1, 1.0, 55.0), (1, 0, 0.0, 55.0)],
    "2025-03-01": [(0, 1, 1.0, 60.0)],
}
# fmt: on


def test_cohort_retention(built):
    rows = by_key(
        fetch(built.wh, "SELECT * FROM marts.cohort_retention"),
        "account_id",
        "marketplace_id",
        "cohort_month",
        "months_since_first",
    )
    expected = {}
    for month, cells in COHORTS.items():
        for n, active, retention, cumulative in cells:
            expected[(ACME, US, date.fromisoformat(month), n)] = {
                "cohort_buyers": 1,
                "active_buyers": active,
                "retention_rate": retention,
                "cumulative_revenue_per_buyer": cumulative,
            }
    # beta-jp March 2025: J1 (3000 + 6000) and J2 (3000), both active in month 0.
    expected[(BETA, JP, date(2025, 3, 1), 0)] = {
        "cohort_buyers": 2,
        "active_buyers": 2,
        "retention_rate": 1.0,
        "cumulative_revenue_per_buyer": 6000.0,
    }
    assert sorted(rows) == sorted(expected)
    for key, values in expected.items():
        assert_row(rows[key], values, str(key))


def test_cohort_second_purchase(built):
    rows = by_key(
        fetch(built.wh, "SELECT * FROM marts.cohort_second_purchase"),
        "account_id",
        "marketplace_id",
        "cohort_month",
    )
    # A cohort needs as_of >= next month's first instant + 90 days:
    #   2024-09: 2024-10-01 + 90 d = 2024-12-30  ok   B5, no second order      -> 0 / 1
    #   2024-10: 2024-11-01 + 90 d = 2025-01-30  ok   B1: O1 10-05 15:00 -> O2 11-20 18:00,
    #                                                 46 days 3 h <= 90 days      -> 1 / 1
    #   2024-11: 2024-12-01 + 90 d = 2025-03-01  ok   B4, no second order      -> 0 / 1
    #   2025-02: 2025-03-01 + 90 d = 2025-05-30  too young (B2's 15-day repeat waits)
    #   2025-03 (acme and beta): too young
    assert sorted(rows) == [
        (ACME, US, date(2024, 9, 1)),
        (ACME, US, date(2024, 10, 1)),
        (ACME, US, date(2024, 11, 1)),
    ]
    assert_row(
        rows[(ACME, US, date(2024, 9, 1))],
        {"new_buyers": 1, "second_within_90d": 0, "second_purchase_rate_90d": 0.0},
    )
    assert_row(
        rows[(ACME, US, date(2024, 10, 1))],
        {"new_buyers": 1, "second_within_90d": 1, "second_purchase_rate_90d": 1.0},
    )
    assert_row(
        rows[(ACME, US, date(2024, 11, 1))],
        {"new_buyers": 1, "second_within_90d": 0, "second_purchase_rate_90d": 0.0},
    )


def test_ltv_by_channel(built):
    rows = by_key(
        fetch(built.wh, "SELECT * FROM marts.ltv_by_channel"),
        "account_id",
        "marketplace_id",
        "acquisition_dimension",
        "acquisition_value",
    )
    # First orders: B1 O1 (Amazon.com, AFN, no promotion, Tents), B2 O5 (Amazon.com,
    # AFN, no, Lighting), B3 O7 (Amazon.com, MFN, no, Kitchen), B4 O9 (Amazon.com, AFN,
    # PROMO-FALL, Tents), B5 O10 (Non-Amazon, AFN, no, Kitchen).
    # Value in the first N days (orders at most N x 24 h after the first):
    #   B1: 90 d 100 + 60 = 160 (O3 is 102 days later); 180 d 280 (O4 at 166 days)
    #   B4: 80; B5: 30; B2, B3: not observed long enough for any horizon.
    # Observed for N days when first order + N days <= as_of (2025-03-20 15:00):
    #   90 d: B1 (2024-10-05), B4 (2024-11-10), B5 (2024-09-15)
    #   180 d: B5 only (2024-09-15 13:00 + 180 d = 2025-03-14 13:00); 365 d: nobody
    # (buyers, buyers_90d, value_90d, buyers_180d, value_180d, buyers_365d, value_365d)
    # fmt: off
    expected = {
        ("sales_channel", "Amazon.com"):           (4, 2, (160 + 80) / 2,      0, None, 0, None),
        ("sales_channel", "Non-Amazon"):           (1, 1, 30.0,                1, 30.0, 0, None),
        ("fulfillment_channel", "AFN"):            (4, 3, (160 + 80 + 30) / 3, 1, 30.0, 0, None),
        ("fulfillment_channel", "MFN"):            (1, 0, None,                0, None, 0, None),
        ("promotion", "with_promotion"):           (1, 1, 80.0,                0, None, 0, None),
        ("promotion", "without_promotion"):        (4, 2, (160 + 30) / 2,      1, 30.0, 0, None),
        ("first_category", "Tents"):               (2, 2, (160 + 80) / 2,      0, None, 0, None),
        ("first_category", "Lighting"):            (1, 0, None,                0, None, 0, None),
        ("first_category", "Kitchen"):             (2, 1, 30.0,                1, 30.0, 0, None),
    }
    # fmt: on
    columns = (
        "buyers",
        "buyers_90d",
        "value_per_buyer_90d",
        "buyers_180d",
        "value_per_buyer_180d",
        "buyers_365d",
        "value_per_buyer_365d",
    )
    acme = {key[2:]: row for key, row in rows.items() if key[0] == ACME}
    assert sorted(acme) == sorted(expected)
    for key, values in expected.items():
        assert_row(acme[key], dict(zip(columns, values, strict=True)), str(key))
    # beta-jp: both buyers acquired on Amazon.co.jp in March; tea is 'Tea', the cup
    # is not catalogued.
    beta = {key[2:]: row for key, row in rows.items() if key[0] == BETA}
    assert beta[("sales_channel", "Amazon.co.jp")]["buyers"] == 2
    assert beta[("first_category", "unknown")]["buyers"] == 1
    assert beta[("first_category", "Tea")]["value_per_buyer_90d"] is None
