"""Messages, replies and pre-sales marts on the hand-built world, both databases.

Buyer messages (acme; the seller works in Asia/Shanghai, UTC+8 all year):

    msg  thread       sent (UTC)         reply (UTC)        minutes  seller hour
    m1   T1 presales  2025-03-10 14:00   2025-03-10 14:30       30   22 (Mon)
    m2   T2 presales  2025-03-03 02:00   -                       -   10 (Mon)
    m3   T3 O7        2025-03-09 02:00   2025-03-09 20:00     1080   10 (Sun)
    m4   T3 O7        2025-03-10 01:00   2025-03-10 01:15       15    9 (Mon)
    m5   T4 O6        2025-02-26 16:00   2025-02-27 18:00     1560    0 (Thu)

All fall in the 90 days ending 2025-03-20 (from 2024-12-21).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from handmade import ACCOUNTS, ACME, BETA, JP, US, assert_row, by_key, fetch, write_catalog

from sellerops.models import runner


def test_message_replies(built):
    rows = by_key(fetch(built.wh, "SELECT * FROM core.message_replies"), "message_id")
    # m3 is answered 18 hours later although Pensacola's clocks moved forward in
    # between (2025-03-09 08:00 UTC): durations are UTC instants, 1080 minutes.
    expected = {
        "m1": (30.0, True, True),
        "m2": (None, True, True),
        "m3": (1080.0, True, False),
        "m4": (15.0, False, False),
        "m5": (1560.0, True, False),
    }
    assert sorted(rows) == sorted(expected)
    for message, (minutes, opener, presales) in expected.items():
        assert_row(
            rows[message],
            {"first_reply_minutes": minutes, "is_thread_opener": opener, "is_presales": presales},
            message,
        )


def test_reply_times(built):
    rows = by_key(
        fetch(built.wh, "SELECT * FROM marts.reply_times"),
        "account_id",
        "marketplace_id",
        "seller_local_hour",
    )
    # All hours: answered 15, 30, 1080, 1560 -> median (30 + 1080) / 2 = 555;
    # p90 at position 0.9 x 3 = 2.7: 1080 + 0.7 x (1560 - 1080) = 1416.
    # Within 1 h: m1, m4 -> 2 / 5; within 24 h: m1, m3, m4 -> 3 / 5 (m2 never answered).
    # (messages, answered, median, p90, within 1 h, within 24 h)
    # fmt: off
    expected = {
        0:    (1, 1, 1560.0, 1560.0, 0.0, 0.0),  # m5
        9:    (1, 1, 15.0,   15.0,   1.0, 1.0),  # m4
        10:   (2, 1, 1080.0, 1080.0, 0.0, 0.5),  # m2 (unanswered), m3
        22:   (1, 1, 30.0,   30.0,   1.0, 1.0),  # m1
        None: (5, 4, 555.0,  1416.0, 0.4, 0.6),
    }
    # fmt: on
    assert sorted(rows, key=str) == sorted(((ACME, US, h) for h in expected), key=str)
    columns = (
        "buyer_messages",
        "answered_messages",
        "median_first_reply_minutes",
        "p90_first_reply_minutes",
        "replied_within_1h_share",
        "replied_within_24h_share",
    )
    for hour, values in expected.items():
        assert_row(
            rows[(ACME, US, hour)],
            dict(zip(columns, values, strict=True)) | {"seller_time_zone": "Asia/Shanghai"},
            str(hour),
        )


def test_message_peak_hours(built):
    rows = by_key(
        fetch(built.wh, "SELECT * FROM marts.message_peak_hours"),
        "account_id",
        "marketplace_id",
        "time_zone_basis",
        "time_zone_group",
        "local_weekday",
        "local_hour",
    )
    # Buyer's zone: the message's order's address, else the buyer's latest order, else
    # the marketplace default (America/New_York for Amazon.com).
    #   m1 B6, no order anywhere -> New York (Eastern), EDT since 03-09: 10:00 Mon 2025-03-10
    #   m2 B3 pre-sales, no order id -> B3's address, Chicago (Central): 20:00 CST Sun 2025-03-02
    #   m3 O7 Pensacola (Central): 02:00 UTC = 20:00 CST Sat 2025-03-08 (before the change)
    #   m4 O7 Pensacola: 01:00 UTC = 20:00 CDT Sun 2025-03-09 (after it): same hour 20
    #   m5 O6 Phoenix (Mountain, no DST): 16:00 UTC = 09:00 MST Wed 2025-02-26
    # Seller's zone (Asia/Shanghai, +8): m1 22:00 Mon, m2 10:00 Mon, m3 10:00 Sun,
    # m4 09:00 Mon, m5 00:00 Thu 2025-02-27; each keeps its buyer's group.
    expected = {
        ("buyer", "Eastern", 1, 10): 1,
        ("buyer", "Central", 7, 20): 2,
        ("buyer", "Central", 6, 20): 1,
        ("buyer", "Mountain", 3, 9): 1,
        ("seller", "Eastern", 1, 22): 1,
        ("seller", "Central", 1, 10): 1,
        ("seller", "Central", 7, 10): 1,
        ("seller", "Central", 1, 9): 1,
        ("seller", "Mountain", 4, 0): 1,
    }
    assert sorted(rows) == sorted((ACME, US, *key) for key in expected)
    for key, count in expected.items():
        assert_row(
            rows[(ACME, US, *key)],
            {"buyer_messages": count, "share_of_buyer_messages": count / 5},
            str(key),
        )


def test_reply_window(built):
    rows = fetch(built.wh, "SELECT * FROM marts.reply_window")
    # Seller-local hours: 0 x1, 9 x1, 10 x2, 22 x1. Four-hour windows starting at 7, 8
    # and 9 all hold 3 messages; 9 starts with a busy hour -> 9:00-13:00, 3 of 5.
    # Answered inside: m3 1080 and m4 15 -> median 547.5.
    assert len(rows) == 1  # beta-jp has no messages
    assert_row(
        rows[0],
        {
            "account_id": ACME,
            "marketplace_id": US,
            "seller_time_zone": "Asia/Shanghai",
            "window_hours": 4,
            "window_start_hour": 9,
            "window_end_hour": 13,
            "buyer_messages_in_window": 3,
            "buyer_messages": 5,
            "coverage_share": 0.6,
            "answered_in_window": 2,
            "median_first_reply_minutes": 547.5,
        },
    )


@pytest.mark.parametrize(
    ("hours", "start", "end", "inside", "median"),
    [
        # One hour: 10:00 holds m2 and m3; only m3 was answered.
        (1, 10, 11, 2, 1080.0),
        # 24 hours: every window holds all 5; the earliest busy start is 0:00.
        (24, 0, 0, 5, 555.0),
    ],
)
def test_reply_window_length_is_a_parameter(built, tmp_path, hours, start, end, inside, median):
    runner.build(
        built.wh,
        accounts=ACCOUNTS,
        catalog_path=write_catalog(tmp_path),
        reply_window_hours=hours,
    )
    row = fetch(built.wh, "SELECT * FROM marts.reply_window")[0]
    assert_row(
        row,
        {
            "window_hours": hours,
            "window_start_hour": start,
            "window_end_hour": end,
            "buyer_messages_in_window": inside,
            "coverage_share": inside / 5,
            "median_first_reply_minutes": median,
        },
    )


def test_presales_monthly(built):
    rows = by_key(
        fetch(built.wh, "SELECT * FROM marts.presales_monthly"),
        "account_id",
        "marketplace_id",
        "month",
    )
    # March 2025: non-cancelled orders O4, O7, O11 = 3; inquiries T1 (B6) and T2 (B3).
    #   B6: answered in 30 min (within 1 h), never ordered      -> not converted
    #   B3: never answered; ordered O7 2025-03-05 14:00, 2 days 12 h after 03-03 02:00
    #                                                           -> converted
    march = rows[(ACME, US, date(2025, 3, 1))]
    assert_row(
        march,
        {
            "orders": 3,
            "presales_inquiries": 2,
            "presales_inquiries_per_100_orders": 200 / 3,
            "inquirers": 2,
            "converted_7d": 1,
            "presales_conversion_7d": 0.5,
            "inquirers_replied_within_1h": 1,
            "converted_7d_replied_within_1h": 0,
            "presales_conversion_7d_replied_within_1h": 0.0,
            "inquirers_not_replied_within_1h": 1,
            "converted_7d_not_replied_within_1h": 1,
            "presales_conversion_7d_not_replied_within_1h": 1.0,
        },
    )
    # Months with orders but no inquiry: 0 per 100 orders, conversion undefined.
    # Acme ordered in 2024-09, -10, -11, 2025-01, -02, -03 (none in December).
    assert sorted(k[2] for k in rows if k[0] == ACME) == [
        date(2024, 9, 1),
        date(2024, 10, 1),
        date(2024, 11, 1),
        date(2025, 1, 1),
        date(2025, 2, 1),
        date(2025, 3, 1),
    ]
    assert_row(
        rows[(ACME, US, date(2025, 2, 1))],
        {
            "orders": 2,
            "presales_inquiries": 0,
            "presales_inquiries_per_100_orders": 0.0,
            "inquirers": 0,
            "presales_conversion_7d": None,
        },
    )
    assert_row(rows[(BETA, JP, date(2025, 3, 1))], {"orders": 3, "presales_inquiries": 0})


def test_message_marts_use_the_trailing_window(built, tmp_path):
    # With as_of 2025-06-01 the 90-day window starts 2025-03-04: m2 (03-03) and m5
    # (02-26) drop out of the message marts; kpi_daily keeps every day.
    runner.build(
        built.wh,
        accounts=ACCOUNTS,
        catalog_path=write_catalog(tmp_path),
        as_of=datetime(2025, 6, 1, 12, 0, tzinfo=UTC),
    )
    overall = fetch(built.wh, "SELECT * FROM marts.reply_times WHERE seller_local_hour IS NULL")[0]
    # m1 30, m3 1080, m4 15: median 30, all answered; within 1 h 2 / 3.
    assert_row(
        overall,
        {
            "buyer_messages": 3,
            "answered_messages": 3,
            "median_first_reply_minutes": 30.0,
            "replied_within_1h_share": 2 / 3,
            "replied_within_24h_share": 1.0,
        },
    )
    assert fetch(built.wh, "SELECT SUM(buyer_messages) AS n FROM marts.kpi_daily")[0]["n"] == 5
