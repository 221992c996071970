"""marts.feedback_summary and marts.review_overview on the hand-built world, both databases.

as_of_date = 2025-03-20. Feedback: O10 5* 2024-09-25, O9 2* 2024-11-26, O3 5* 2025-01-20,
O5 4* 2025-02-20, O7 1* 2025-03-12.
"""

from __future__ import annotations

from datetime import date

from handmade import A1, A2, A3, A4, ACME, BETA, JCUP, JP, JTEA, US, assert_row, by_key, fetch


def test_feedback_summary(built):
    rows = by_key(
        fetch(built.wh, "SELECT * FROM marts.feedback_summary"),
        "account_id",
        "marketplace_id",
        "window_days",
    )
    # 30 days = 2025-02-19 .. 2025-03-20: orders O6, O7, O11, O4 = 4; feedback O5 4*, O7 1*
    # 90 days = 2024-12-21 .. 2025-03-20: orders O3, O5, O6, O7, O11, O4 = 6; feedback
    #           O3 5*, O5 4*, O7 1*
    # 365 days = 2024-03-21 .. 2025-03-20: the 10 non-cancelled orders; all 5 feedback
    # (window_start, orders, feedback, positive, negative, negative rate, negative share)
    # fmt: off
    expected = {
        (ACME, US, 30):  (date(2025, 2, 19),  4, 2, 1, 1, 1 / 4,  1 / 2),
        (ACME, US, 90):  (date(2024, 12, 21), 6, 3, 2, 1, 1 / 6,  1 / 3),
        (ACME, US, 365): (date(2024, 3, 21), 10, 5, 3, 2, 2 / 10, 2 / 5),
        # beta-jp: 3 orders in every window, no feedback: rate 0, share undefined
        (BETA, JP, 30):  (date(2025, 2, 19),  3, 0, 0, 0, 0.0,    None),
        (BETA, JP, 90):  (date(2024, 12, 21), 3, 0, 0, 0, 0.0,    None),
        (BETA, JP, 365): (date(2024, 3, 21),  3, 0, 0, 0, 0.0,    None),
    }
    # fmt: on
    assert sorted(rows) == sorted(expected)
    columns = (
        "window_start",
        "orders",
        "feedback_count",
        "positive_feedback",
        "negative_feedback",
        "negative_feedback_rate",
        "negative_feedback_share",
    )
    for key, values in expected.items():
        assert_row(
            rows[key],
            dict(zip(columns, values, strict=True)) | {"window_end": date(2025, 3, 20)},
            str(key),
        )


def test_review_overview(built):
    rows = by_key(
        fetch(built.wh, "SELECT * FROM marts.review_overview"),
        "account_id",
        "marketplace_id",
        "asin",
    )
    # recent = 2025-02-19 .. 2025-03-20, prior = 2024-11-21 .. 2025-02-18
    #   A1: recent no order (O8 cancelled); prior O3; feedback prior O9 2* (11-26) and
    #       O3 5* (01-20) -> prior rate 1 / 1
    #   A2: recent O6, O11; prior O5 (O2 of 11-20 is before the prior window);
    #       O5's 4* arrived 02-20, in the recent window
    #   A3: recent O4, O7 and O7's 1* -> 1 / 2; no prior orders -> rising
    #   A4: recent O6, no feedback
    # (orders_30d, feedback_30d, negative_30d, rate_30d,
    #  orders_prior, feedback_prior, negative_prior, rate_prior, rising)
    # fmt: off
    expected = {
        (ACME, US, A1):   (0, 0, 0, None, 1, 2, 1, 1.0,  False),
        (ACME, US, A2):   (2, 1, 0, 0.0,  1, 0, 0, 0.0,  False),
        (ACME, US, A3):   (2, 1, 1, 0.5,  0, 0, 0, None, True),
        (ACME, US, A4):   (1, 0, 0, 0.0,  0, 0, 0, None, False),
        (BETA, JP, JTEA): (2, 0, 0, 0.0,  0, 0, 0, None, False),
        (BETA, JP, JCUP): (1, 0, 0, 0.0,  0, 0, 0, None, False),
    }
    # fmt: on
    assert sorted(rows) == sorted(expected)
    columns = (
        "orders_30d",
        "feedback_30d",
        "negative_30d",
        "negative_rate_30d",
        "orders_prior_90d",
        "feedback_prior_90d",
        "negative_prior_90d",
        "negative_rate_prior_90d",
        "negative_rate_rising",
    )
    for key, values in expected.items():
        assert_row(rows[key], dict(zip(columns, values, strict=True)), str(key))
    assert_row(
        rows[(ACME, US, A3)],
        {
            "title": "Enamel Mug",
            "recent_start": date(2025, 2, 19),
            "recent_end": date(2025, 3, 20),
            "prior_start": date(2024, 11, 21),
            "prior_end": date(2025, 2, 18),
        },
    )
