"""marts.buyer_profile and marts.buyer_predictions on the hand-built world, both databases.

The expected values come from the rows in handmade.py; as_of is the latest purchase,
2025-03-20 15:00 UTC (as_of_date 2025-03-20).
"""

from __future__ import annotations

import math

import pandas as pd
from handmade import (
    ACME,
    AS_OF,
    B1,
    B2,
    B3,
    B4,
    B5,
    B6,
    BETA,
    J1,
    J2,
    JP,
    US,
    assert_row,
    by_key,
    fetch,
    t,
)

from sellerops.models import clv

# Units and revenue (item price - promotion discount) per buyer, non-cancelled orders:
#   B1: O1 A1x1 100 + O2 A2x3 60 + O3 A1x1 (100-10) + O4 A3x3 30 = 8 units, 280
#       categories Tents 2 (O1, O3), Lighting 3, Kitchen 3 -> tie, alphabetical: Kitchen
#       brands Acme 5 (A1, A2), Brew 3 -> Acme, 5/8 of the branded units
#   B2: O5 A2x1 20 + O6 A2x1 20 + A4x1 15 = 3 units, 55; A4 is not catalogued, so
#       Lighting and Acme with 2 of 2 branded units
#   B3: O7 A3x2 60 (O8 cancelled) ; B4: O9 A1x1 100-20 = 80 ; B5: O10 A3x1 30
# Days since the last order (as_of_date 2025-03-20): B1 0 (03-20), B2 23 (02-25),
# B3 15 (03-05), B4 130 (2024-11-10: 20 + 31 + 31 + 28 + 20), B5 186 (2024-09-15).
# Lifecycle: B1 4 orders -> mature; B2 2 -> growing; B3 1 -> new; B4 130 > 90 ->
# at_risk; B5 186 > 180 -> churned; B6 wrote but never ordered -> potential.
# RFM among the 5 acme buyers with orders, score = 1 + floor(5 (rank - 1) / 5) = rank:
#   recency by last order: B5 1, B4 2, B2 3, B3 4, B1 5
#   frequency by orders:   B3, B4, B5 tie at rank 1 -> 1; B2 rank 4 -> 4; B1 5
#   monetary by revenue:   B5 30 -> 1, B2 55 -> 2, B3 60 -> 3, B4 80 -> 4, B1 280 -> 5
# Segments (R, F): B1 (5,5) champions; B2 (3,4) loyal; B3 (4,1) promising;
# B4 (2,1) and B5 (1,1) hibernating.
EXPECTED_ACME = {
    B1: {
        "first_order_time": t("2024-10-05 15:00"),
        "last_order_time": t("2025-03-20 15:00"),
        "orders": 4,
        "units": 8,
        "revenue": 280.0,
        "average_order_value": 70.0,
        "discounted_orders": 1,  # O3, PROMO-JAN
        "max_units_per_order": 3,
        "distinct_asins": 3,
        "main_category": "Kitchen",
        "main_brand": "Acme",
        "main_brand_unit_share": 0.625,
        "ship_state": "CA",
        "time_zone": "America/Los_Angeles",
        "time_zone_group": "Pacific",
        "cancelled_orders": 0,
        "returned_units": 2,  # two returns of O2
        "refunded_orders": 1,  # O2, 20.00
        "refunded_amount": 20.0,
        "negative_feedback": 0,
        "positive_feedback": 1,  # O3 5*
        "buyer_messages": 0,
        "presales_inquiries": 0,
        "days_since_last_order": 0,
        "lifecycle_stage": "mature",
        "recency_score": 5,
        "frequency_score": 5,
        "monetary_score": 5,
        "rfm_score": "555",
        "rfm_segment": "champions",
    },
    B2: {
        "first_order_time": t("2025-02-10 17:00"),
        "last_order_time": t("2025-02-25 03:00"),
        "orders": 2,
        "units": 3,
        "revenue": 55.0,
        "average_order_value": 27.5,
        "discounted_orders": 0,
        "max_units_per_order": 2,
        "distinct_asins": 2,
        "main_category": "Lighting",
        "main_brand": "Acme",
        "main_brand_unit_share": 1.0,
        "ship_state": "AZ",
        "time_zone": "America/Phoenix",
        "time_zone_group": "Mountain",
        "returned_units": 1,  # A4 of O6
        "refunded_orders": 1,
        "refunded_amount": 15.0,
        "negative_feedback": 0,
        "positive_feedback": 1,  # O5 4*
        "buyer_messages": 1,  # m5
        "presales_inquiries": 0,
        "days_since_last_order": 23,
        "lifecycle_stage": "growing",
        "rfm_score": "342",
        "rfm_segment": "loyal",
    },
    B3: {
        "first_order_time": t("2025-03-05 14:00"),
        "last_order_time": t("2025-03-05 14:00"),
        "orders": 1,
        "units": 2,
        "revenue": 60.0,
        "average_order_value": 60.0,
        "max_units_per_order": 2,
        "distinct_asins": 1,  # O8's tent was cancelled
        "main_category": "Kitchen",
        "main_brand": "Brew",
        "ship_state": "FL",
        "time_zone": "America/Chicago",  # Pensacola, ZIP 325xx
        "time_zone_group": "Central",
        "cancelled_orders": 1,
        "returned_units": 0,
        "refunded_orders": 0,
        "negative_feedback": 1,  # O7 1*
        "positive_feedback": 0,
        "buyer_messages": 3,  # m2, m3, m4
        "presales_inquiries": 1,  # T2
        "first_contact_time": t("2025-03-03 02:00"),  # m2, before the first order
        "days_since_last_order": 15,
        "lifecycle_stage": "new",
        "rfm_score": "413",
        "rfm_segment": "promising",
    },
    B4: {
        "orders": 1,
        "units": 1,
        "revenue": 80.0,
        "discounted_orders": 1,  # PROMO-FALL
        "main_category": "Tents",
        "ship_state": "IN",
        "time_zone": "America/Chicago",  # Gary, ZIP 464xx
        "time_zone_group": "Central",
        "returned_units": 1,
        "refunded_orders": 1,
        "refunded_amount": 80.0,
        "negative_feedback": 1,  # O9 2*
        "days_since_last_order": 130,
        "lifecycle_stage": "at_risk",
        "rfm_score": "214",
        "rfm_segment": "hibernating",
    },
    B5: {
        "orders": 1,
        "revenue": 30.0,
        "ship_state": "NY",
        "time_zone": "America/New_York",
        "time_zone_group": "Eastern",
        "returned_units": 0,
        "refunded_orders": 1,  # refund without a return
        "refunded_amount": 10.0,
        "positive_feedback": 1,
        "days_since_last_order": 186,
        "lifecycle_stage": "churned",
        "rfm_score": "111",
        "rfm_segment": "hibernating",
    },
    B6: {
        "first_order_time": None,
        "orders": 0,
        "units": 0,
        "revenue": 0.0,
        "average_order_value": None,
        "distinct_asins": 0,
        "main_category": None,
        "main_brand": None,
        "ship_state": None,
        "time_zone": None,
        "buyer_messages": 1,
        "presales_inquiries": 1,
        "first_contact_time": t("2025-03-10 14:00"),
        "days_since_last_order": None,
        "lifecycle_stage": "potential",
        "recency_score": None,
        "rfm_score": None,
        "rfm_segment": None,
        "p_alive": None,
    },
}

# beta-jp: J1 P1 TEA x1 3000 + P2 TEA x2 6000 (last 03-15, 5 days); J2 P3 CUP x1 3000
# (03-18, 2 days), the cup is not catalogued -> 'unknown'. RFM with 2 buyers:
# score = 1 + floor(5 (rank - 1) / 2): rank 1 -> 1, rank 2 -> 3.
#   J1: recency rank 1 -> 1, frequency rank 2 -> 3, monetary rank 2 -> 3 -> slipping
#   J2: recency rank 2 -> 3, frequency 1, monetary 1                     -> needs_attention
EXPECTED_BETA = {
    J1: {
        "orders": 2,
        "units": 3,
        "revenue": 9000.0,
        "average_order_value": 4500.0,
        "main_category": "Tea",
        "main_brand": "Sakura",
        "ship_state": "JP-13",
        "time_zone": "Asia/Tokyo",
        "time_zone_group": "Other",
        "days_since_last_order": 5,
        "lifecycle_stage": "growing",
        "rfm_score": "133",
        "rfm_segment": "slipping",
    },
    J2: {
        "orders": 1,
        "main_category": "unknown",
        "main_brand": "unknown",
        "main_brand_unit_share": None,
        "ship_state": "JP-27",
        "days_since_last_order": 2,
        "lifecycle_stage": "new",
        "rfm_score": "311",
        "rfm_segment": "needs_attention",
    },
}


def test_buyer_profile(built):
    rows = fetch(built.wh, "SELECT * FROM marts.buyer_profile")
    profiles = by_key(rows, "account_id", "marketplace_id", "buyer_key")
    assert len(profiles) == 8  # 6 acme buyers (the keyless O11 is nobody's) + 2 beta
    for buyer, expected in EXPECTED_ACME.items():
        assert_row(profiles[(ACME, US, buyer)], expected, buyer)
    for buyer, expected in EXPECTED_BETA.items():
        assert_row(profiles[(BETA, JP, buyer)], expected, buyer)
    assert {r["as_of"] for r in rows} == {AS_OF}


def test_lifecycle_counts_match_profile(built):
    stages = fetch(
        built.wh,
        "SELECT lifecycle_stage, COUNT(*) AS buyers FROM marts.buyer_profile "
        "WHERE account_id = :a GROUP BY lifecycle_stage",
        a=ACME,
    )
    # One acme buyer in each of the six stages.
    assert {r["lifecycle_stage"]: r["buyers"] for r in stages} == {
        "potential": 1,
        "new": 1,
        "growing": 1,
        "mature": 1,
        "at_risk": 1,
        "churned": 1,
    }


def test_buyer_predictions(built):
    rows = fetch(built.wh, "SELECT * FROM marts.buyer_predictions")
    predictions = by_key(rows, "account_id", "marketplace_id", "buyer_key")
    # Everyone with a non-cancelled order; B6 has none.
    assert set(predictions) == {(ACME, US, b) for b in (B1, B2, B3, B4, B5)} | {
        (BETA, JP, J1),
        (BETA, JP, J2),
    }
    # RFM summary by UTC purchase day, to as_of_date 2025-03-20:
    #   B1 days 10-05, 11-20, 01-15, 03-20: frequency 3, recency 166, T 166,
    #      monetary = mean of the repeat days (60 + 90 + 30) / 3 = 60
    #   B2 days 02-10, 02-25: frequency 1, recency 15, T 38, monetary 35
    #   B3 frequency 0, recency 0, T 15; B4 T 130; B5 T 186
    expected = {
        B1: (3, 166.0, 166.0, 60.0),
        B2: (1, 15.0, 38.0, 35.0),
        B3: (0, 0.0, 15.0, 0.0),
        B4: (0, 0.0, 130.0, 0.0),
        B5: (0, 0.0, 186.0, 0.0),
    }
    for buyer, (frequency, recency, T, monetary) in expected.items():
        assert_row(
            predictions[(ACME, US, buyer)],
            {
                "frequency": frequency,
                "recency_days": recency,
                "t_days": T,
                "monetary_value": monetary,
            },
            buyer,
        )
    # Five buyers are too few for BG/NBD (clv needs 20): clv falls back to its
    # heuristic p_alive and leaves the predictions empty. The mart holds exactly
    # what clv returns for that summary.
    summary = pd.DataFrame(
        {
            "frequency": [v[0] for v in expected.values()],
            "recency": [v[1] for v in expected.values()],
            "T": [v[2] for v in expected.values()],
            "monetary_value": [v[3] for v in expected.values()],
        },
        index=pd.Index(list(expected), name="buyer_key"),
    )
    reference = clv.predict_buyers(summary, 90, 365, 1)
    for buyer in expected:
        row = predictions[(ACME, US, buyer)]
        assert math.isclose(row["p_alive"], reference.loc[buyer, "p_alive"], abs_tol=1e-9)
        assert 0.0 <= row["p_alive"] <= 1.0
        assert row["expected_orders_90d"] is None
        assert row["predicted_value_365d"] is None
        assert row["prediction_method"] == "heuristic_p_alive"
    profile = by_key(
        fetch(
            built.wh,
            "SELECT buyer_key, p_alive FROM marts.buyer_profile WHERE account_id = :a",
            a=ACME,
        ),
        "buyer_key",
    )
    assert math.isclose(profile[B2]["p_alive"], predictions[(ACME, US, B2)]["p_alive"])
