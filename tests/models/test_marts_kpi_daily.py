"""marts.kpi_daily on the hand-built world, both databases: every row worked out by hand."""

from __future__ import annotations

from datetime import date

from handmade import ACME, BETA, JP, US, assert_row, by_key, fetch

COLUMNS = (
    "orders",
    "units",
    "revenue",
    "buyers",
    "new_buyers",
    "returning_buyers",
    "cancellations",
    "returned_units",
    "refunded_orders",
    "feedback_received",
    "negative_feedback",
    "buyer_messages",
    "presales_inquiries",
    "median_first_reply_minutes",
    "replied_within_24h_share",
)
_ = None
# One row per UTC day with any event. Orders by purchase day (non-cancelled; the
# cancelled O8 only counts as a cancellation); returns, refunds, feedback and buyer
# messages on their own day. Reply minutes: m5 1560, m2 unanswered, m3 1080,
# m1 30 and m4 15 (both 2025-03-10: median 22.5, both within 24 h).
# fmt: off
ACME_DAYS = {
    #               ord units rev   buy new ret canc  rtu ref fb neg  msg pre median  24h
    "2024-09-15": (1, 1,   30.0, 1, 1, 0, 0,     0, 0, 0, 0,   0, 0, _,      _),    # O10 B5
    "2024-09-25": (0, 0,    0.0, 0, 0, 0, 0,     0, 0, 1, 0,   0, 0, _,      _),    # O10 5*
    "2024-09-28": (0, 0,    0.0, 0, 0, 0, 0,     0, 1, 0, 0,   0, 0, _,      _),    # O10 refund
    "2024-10-05": (1, 1,  100.0, 1, 1, 0, 0,     0, 0, 0, 0,   0, 0, _,      _),    # O1 B1 first
    "2024-11-10": (1, 1,   80.0, 1, 1, 0, 0,     0, 0, 0, 0,   0, 0, _,      _),    # O9 B4 first
    "2024-11-20": (1, 3,   60.0, 1, 0, 1, 0,     0, 0, 0, 0,   0, 0, _,      _),    # O2 B1 again
    "2024-11-25": (0, 0,    0.0, 0, 0, 0, 0,     1, 0, 0, 0,   0, 0, _,      _),    # R1
    "2024-11-26": (0, 0,    0.0, 0, 0, 0, 0,     0, 0, 1, 1,   0, 0, _,      _),    # O9 2*
    "2024-11-27": (0, 0,    0.0, 0, 0, 0, 0,     0, 1, 0, 0,   0, 0, _,      _),    # O9 refund
    "2024-12-01": (0, 0,    0.0, 0, 0, 0, 0,     1, 0, 0, 0,   0, 0, _,      _),    # R2
    "2024-12-05": (0, 0,    0.0, 0, 0, 0, 0,     1, 0, 0, 0,   0, 0, _,      _),    # R3
    "2024-12-08": (0, 0,    0.0, 0, 0, 0, 0,     0, 1, 0, 0,   0, 0, _,      _),    # O2 refund
    "2025-01-15": (1, 1,   90.0, 1, 0, 1, 0,     0, 0, 0, 0,   0, 0, _,      _),    # O3 B1
    "2025-01-20": (0, 0,    0.0, 0, 0, 0, 0,     0, 0, 1, 0,   0, 0, _,      _),    # O3 5*
    "2025-02-10": (1, 1,   20.0, 1, 1, 0, 0,     0, 0, 0, 0,   0, 0, _,      _),    # O5 B2 first
    "2025-02-20": (0, 0,    0.0, 0, 0, 0, 0,     0, 0, 1, 0,   0, 0, _,      _),    # O5 4*
    "2025-02-25": (1, 2,   35.0, 1, 0, 1, 0,     0, 0, 0, 0,   0, 0, _,      _),    # O6 B2 again
    "2025-02-26": (0, 0,    0.0, 0, 0, 0, 0,     0, 0, 0, 0,   1, 0, 1560.0, 0.0),  # m5
    "2025-03-01": (0, 0,    0.0, 0, 0, 0, 0,     1, 0, 0, 0,   0, 0, _,      _),    # R4
    "2025-03-03": (0, 0,    0.0, 0, 0, 0, 0,     0, 1, 0, 0,   1, 1, _,      0.0),  # O6 refund, m2
    "2025-03-05": (2, 3,   80.0, 1, 1, 0, 0,     0, 0, 0, 0,   0, 0, _,      _),    # O7 B3 + keyless O11
    "2025-03-06": (0, 0,    0.0, 0, 0, 0, 1,     0, 0, 0, 0,   0, 0, _,      _),    # O8 cancelled
    "2025-03-09": (0, 0,    0.0, 0, 0, 0, 0,     0, 0, 0, 0,   1, 0, 1080.0, 1.0),  # m3
    "2025-03-10": (0, 0,    0.0, 0, 0, 0, 0,     0, 0, 0, 0,   2, 1, 22.5,   1.0),  # m1, m4
    "2025-03-12": (0, 0,    0.0, 0, 0, 0, 0,     0, 0, 1, 1,   0, 0, _,      _),    # O7 1*
    "2025-03-20": (1, 3,   30.0, 1, 0, 1, 0,     0, 0, 0, 0,   0, 0, _,      _),    # O4 B1
}
BETA_DAYS = {
    "2025-03-05": (1, 1, 3000.0, 1, 1, 0, 0,     0, 0, 0, 0,   0, 0, _,      _),    # P1 J1 first
    "2025-03-15": (1, 2, 6000.0, 1, 0, 1, 0,     0, 0, 0, 0,   0, 0, _,      _),    # P2 J1 again
    "2025-03-18": (1, 1, 3000.0, 1, 1, 0, 0,     0, 0, 0, 0,   0, 0, _,      _),    # P3 J2 first
}
# fmt: on


def test_kpi_daily(built):
    rows = by_key(
        fetch(built.wh, "SELECT * FROM marts.kpi_daily"), "account_id", "marketplace_id", "day"
    )
    expected = {(ACME, US, date.fromisoformat(d)): values for d, values in ACME_DAYS.items()} | {
        (BETA, JP, date.fromisoformat(d)): values for d, values in BETA_DAYS.items()
    }
    assert sorted(rows) == sorted(expected)
    for key, values in expected.items():
        assert_row(rows[key], dict(zip(COLUMNS, values, strict=True)), str(key))


def test_kpi_daily_totals_agree_with_buyer_profile(built):
    # Summed over days, orders / units / revenue / new buyers are the profile's totals
    # plus the keyless O11 (1 order, 1 unit, 20.00).
    totals = fetch(
        built.wh,
        "SELECT SUM(orders) AS orders, SUM(units) AS units, SUM(revenue) AS revenue, "
        "SUM(new_buyers) AS new_buyers FROM marts.kpi_daily WHERE account_id = :a",
        a=ACME,
    )[0]
    profile = fetch(
        built.wh,
        "SELECT SUM(orders) AS orders, SUM(units) AS units, SUM(revenue) AS revenue, "
        "COUNT(first_order_time) AS buyers FROM marts.buyer_profile WHERE account_id = :a",
        a=ACME,
    )[0]
    assert totals["orders"] == profile["orders"] + 1 == 10
    assert totals["units"] == profile["units"] + 1 == 16
    assert float(totals["revenue"]) == float(profile["revenue"]) + 20 == 525.0
    assert totals["new_buyers"] == profile["buyers"] == 5
