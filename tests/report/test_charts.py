"""The report's chart functions on a small hand-built set of mart rows, on DuckDB and PostgreSQL.

The models are built once over empty core tables (so every mart exists with its
real columns), then the rows below are written straight into the marts. Each
test repeats the arithmetic behind the numbers it expects. Account ``shop-a``
sells in the US and Japan and works in Asia/Shanghai; ``shop-b`` has rows in the
same marts that must never show up in ``shop-a``'s charts.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from scipy.stats import binomtest

from sellerops import migrations, warehouse
from sellerops.accounts import Account
from sellerops.models.runner import build
from sellerops.report import charts
from tests.fixtures.warehouse import _reset_pg

A, B = "shop-a", "shop-b"
US, JP = "ATVPDKIKX0DER", "A1VC38T7YXB528"
AS_OF = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)
SECRET_BUYER = "buyer-key-that-must-never-be-shown"

ACCOUNTS = [
    Account(
        account_id=A,
        name="Shop A",
        spapi_conn_id="sellerops_spapi_a",
        marketplaces=(US, JP),
        seller_time_zone="Asia/Shanghai",
    ),
    Account(
        account_id=B,
        name="Shop B",
        spapi_conn_id="sellerops_spapi_b",
        marketplaces=(US,),
        seller_time_zone="America/New_York",
    ),
]


def _insert(conn: sa.Connection, table: str, rows: list[dict]) -> None:
    columns = list(rows[0])
    conn.execute(
        sa.text(
            f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 - test tables
            f"VALUES ({', '.join(':' + c for c in columns)})"
        ),
        rows,
    )


def _rows(account: str, marketplace: str, **fixed):
    def make(*values: tuple) -> list[dict]:
        return [
            {"account_id": account, "marketplace_id": marketplace, **fixed, **v} for v in values
        ]

    return make


def _fill(wh: warehouse.Warehouse) -> None:
    with wh.begin() as conn:
        # Messages: US buyer clock 3 + 1, seller clock 2 + 2; window 22:00-02:00 wraps.
        _insert(
            conn,
            "marts.message_peak_hours",
            [
                {"time_zone_basis": b, "local_weekday": d, "local_hour": h, "buyer_messages": n}
                | {"account_id": A, "marketplace_id": US, "share_of_buyer_messages": n / 4}
                | {"time_zone_group": g}
                for b, g, d, h, n in (
                    ("buyer", "Eastern", 1, 9, 2),
                    ("buyer", "Pacific", 1, 9, 1),
                    ("buyer", "Central", 3, 22, 1),
                    ("seller", "Eastern", 2, 1, 2),
                    ("seller", "Pacific", 2, 23, 1),
                    ("seller", "Central", 2, 23, 1),
                )
            ]
            + [
                {
                    "account_id": B,
                    "marketplace_id": US,
                    "time_zone_basis": "buyer",
                    "time_zone_group": "Eastern",
                    "local_weekday": 1,
                    "local_hour": 9,
                    "buyer_messages": 100,
                    "share_of_buyer_messages": 1.0,
                }
            ],
        )
        _insert(
            conn,
            "marts.reply_window",
            [
                {
                    "account_id": A,
                    "marketplace_id": US,
                    "seller_time_zone": "Asia/Shanghai",
                    "window_hours": 4,
                    "window_start_hour": 22,
                    "window_end_hour": 2,
                    "buyer_messages_in_window": 4,
                    "buyer_messages": 4,
                    "coverage_share": 1.0,
                    "answered_in_window": 3,
                    "median_first_reply_minutes": 42.0,
                }
            ],
        )
        # Regions: Florida split between two zones, one unresolved address.
        _insert(
            conn,
            "marts.orders_by_region",
            _rows(A, US)(
                *(
                    {
                        "region_code": code,
                        "region_name": name,
                        "time_zone": zone,
                        "time_zone_group": group,
                        "orders": n,
                        "buyers": n,
                        "revenue": 10.0 * n,
                        "order_share": n / 11,
                        "revenue_share": n / 11,
                    }
                    for code, name, zone, group, n in (
                        ("FL", "Florida", "America/New_York", "Eastern", 5),
                        ("FL", "Florida", "America/Chicago", "Central", 2),
                        ("CA", "California", "America/Los_Angeles", "Pacific", 3),
                        (None, None, None, None, 1),
                    )
                )
            )
            + _rows(B, US)(
                {
                    "region_code": "TX",
                    "region_name": "Texas",
                    "time_zone": "America/Chicago",
                    "time_zone_group": "Central",
                    "orders": 50,
                    "buyers": 50,
                    "revenue": 500.0,
                    "order_share": 1.0,
                    "revenue_share": 1.0,
                }
            ),
        )
        _insert(
            conn,
            "marts.regional_peak_schedule",
            _rows(A, US, time_zone="America/New_York", time_zone_group="Eastern")(
                {"peak_rank": 1, "local_hour": 18, "orders": 3, "seller_local_hour": 7},
                {"peak_rank": 2, "local_hour": 9, "orders": 2, "seller_local_hour": 22},
            ),
        )
        # Repurchase by month (a quarter row that must not show) and second purchases.
        _insert(
            conn,
            "marts.kpi_repurchase",
            _rows(A, US)(
                {
                    "period_grain": "month",
                    "period_start": date(2025, 1, 1),
                    "buyers": 10,
                    "repeat_buyers": 2,
                    "repurchase_rate": 0.2,
                    "returning_buyers": 0,
                    "returning_buyer_share": 0.0,
                },
                {
                    "period_grain": "month",
                    "period_start": date(2025, 2, 1),
                    "buyers": 8,
                    "repeat_buyers": 1,
                    "repurchase_rate": 0.125,
                    "returning_buyers": 4,
                    "returning_buyer_share": 0.5,
                },
                {
                    "period_grain": "quarter",
                    "period_start": date(2025, 1, 1),
                    "buyers": 14,
                    "repeat_buyers": 4,
                    "repurchase_rate": 4 / 14,
                    "returning_buyers": 0,
                    "returning_buyer_share": 0.0,
                },
            ),
        )
        _insert(
            conn,
            "marts.cohort_second_purchase",
            _rows(A, US)(
                {
                    "cohort_month": date(2024, 12, 1),
                    "new_buyers": 5,
                    "second_within_90d": 2,
                    "second_purchase_rate_90d": 0.4,
                }
            ),
        )
        _insert(
            conn,
            "marts.cohort_retention",
            _rows(A, US)(
                *(
                    {
                        "cohort_month": month,
                        "months_since_first": k,
                        "cohort_buyers": n,
                        "active_buyers": active,
                        "retention_rate": active / n,
                        "cumulative_revenue_per_buyer": revenue,
                    }
                    for month, k, n, active, revenue in (
                        (date(2025, 1, 1), 0, 10, 10, 30.0),
                        (date(2025, 1, 1), 1, 10, 3, 39.0),
                        (date(2025, 1, 1), 2, 10, 1, 42.0),
                        (date(2025, 2, 1), 0, 4, 4, 25.0),
                        (date(2025, 2, 1), 1, 4, 1, 30.0),
                        (date(2025, 3, 1), 0, 2, 2, 20.0),
                    )
                )
            ),
        )
        # Returns: A1 3 returned + 1 refunded, A2 refunded twice without returns, A3 clean.
        _insert(
            conn,
            "marts.returns_by_asin",
            _rows(A, US)(
                *(
                    {
                        "asin": asin,
                        "title": title,
                        "category": "Outdoors",
                        "orders": orders,
                        "ordered_units": units,
                        "returned_units": returned,
                        "return_rate": returned / units,
                        "refunded_orders": refunded,
                        "refund_rate": refunded / orders,
                        "refunded_without_return_orders": without,
                        "refund_without_return_rate": without / orders,
                        "refunded_amount": 10.0 * refunded,
                    }
                    for asin, title, orders, units, returned, refunded, without in (
                        ("B000000001", "Trail Tent", 10, 12, 3, 1, 0),
                        ("B000000002", None, 8, 8, 0, 2, 2),
                        ("B000000003", "Camp Mug", 20, 25, 0, 0, 0),
                    )
                )
            ),
        )
        _insert(
            conn,
            "marts.return_reasons",
            _rows(A, US)(
                *(
                    {
                        "asin": asin,
                        "reason": reason,
                        "return_lines": lines,
                        "returned_units": units,
                        "share_of_asin_returned_units": share,
                    }
                    for asin, reason, lines, units, share in (
                        ("B000000001", "DEFECTIVE", 2, 2, 2 / 3),
                        ("B000000001", "NO_LONGER_NEEDED", 1, 1, 1 / 3),
                        ("B000000009", "DEFECTIVE", 1, 1, 1.0),  # an ASIN not sold: not shown
                    )
                )
            ),
        )
        # Daily KPIs over two ISO weeks (Mondays 2025-03-03 and 2025-03-10) and a JP day.
        _insert(
            conn,
            "marts.kpi_daily",
            _rows(A, US)(
                *(
                    {
                        "day": day,
                        "orders": orders,
                        "units": orders,
                        "revenue": 25.0 * orders,
                        "buyers": orders,
                        "new_buyers": new,
                        "feedback_received": feedback,
                        "negative_feedback": negative,
                        "buyer_messages": 1,
                    }
                    for day, orders, new, feedback, negative in (
                        (date(2025, 3, 3), 10, 10, 2, 1),
                        (date(2025, 3, 9), 10, 5, 1, 0),
                        (date(2025, 3, 10), 5, 2, 1, 1),
                    )
                )
            )
            + _rows(A, JP)(
                {
                    "day": date(2025, 3, 12),
                    "orders": 4,
                    "units": 4,
                    "revenue": 12000.0,
                    "buyers": 4,
                    "new_buyers": 4,
                    "feedback_received": 0,
                    "negative_feedback": 0,
                    "buyer_messages": 0,
                }
            )
            + _rows(B, US)(
                {
                    "day": date(2025, 3, 4),
                    "orders": 99,
                    "units": 99,
                    "revenue": 990.0,
                    "buyers": 99,
                    "new_buyers": 99,
                    "feedback_received": 9,
                    "negative_feedback": 9,
                    "buyer_messages": 0,
                }
            ),
        )
        _insert(
            conn,
            "marts.feedback_summary",
            _rows(A, US)(
                {
                    "window_days": 30,
                    "orders": 25,
                    "feedback_count": 4,
                    "negative_feedback": 2,
                    "negative_feedback_rate": 0.08,
                }
            ),
        )
        _insert(
            conn,
            "marts.tag_counts_daily",
            _rows(A, US)(
                *(
                    {"day": day, "tag": tag, "source": source, "buyers": n}
                    for day, tag, source, n in (
                        (date(2025, 3, 19), "vip", "rule", 3),
                        (date(2025, 3, 20), "vip", "rule", 4),
                        (date(2025, 3, 20), "vip", "manual", 1),
                        (date(2025, 3, 20), "returner", "rule", 2),
                        (date(2025, 3, 20), "tiny", "rule", 1),
                    )
                )
            ),
        )
        _insert(
            conn,
            "marts.lifecycle_daily",
            _rows(A, US)(
                *(
                    {
                        "day": date(2025, 3, 20),
                        "lifecycle_stage": stage,
                        "stage_order": i + 1,
                        "buyers": n,
                    }
                    for i, (stage, n) in enumerate(
                        zip(charts.LIFECYCLE_STAGES, (1, 5, 2, 1, 0, 0), strict=True)
                    )
                )
            ),
        )
        _insert(
            conn,
            "marts.buyer_profile",
            _rows(A, US)(
                {"buyer_key": SECRET_BUYER, "orders": 3},
                {"buyer_key": "another-buyer-key", "orders": 1},
            ),
        )
        _insert(
            conn,
            "marts.returns_by_month",
            _rows(A, US)(
                {
                    "purchase_month": date(2025, 3, 1),
                    "orders": 25,
                    "ordered_units": 40,
                    "returned_units": 3,
                    "refunded_orders": 3,
                }
            ),
        )
        _insert(
            conn,
            "marts.reply_times",
            _rows(A, US, seller_time_zone="Asia/Shanghai")(
                {
                    "seller_local_hour": None,
                    "buyer_messages": 4,
                    "median_first_reply_minutes": 42.0,
                    "replied_within_24h_share": 0.75,
                },
                {
                    "seller_local_hour": 1,
                    "buyer_messages": 2,
                    "median_first_reply_minutes": 10.0,
                    "replied_within_24h_share": 1.0,
                },
            ),
        )


def _fill_campaigns(wh: warehouse.Warehouse) -> None:
    """Campaign sends (which account a campaign reached) and results, migration 0004's tables."""
    when = datetime(2025, 3, 1, tzinfo=UTC)
    sends = [
        {
            "campaign": campaign,
            "account_id": account,
            "marketplace_id": US,
            "order_id": order,
            "buyer_key": f"campaign-buyer-{order}",
            "channel": "amazon_review_request",
            "action": "createProductReviewAndSellerFeedbackSolicitation",
            "arm": "treatment",
            "status": "sent",
            "anchor_time": when,
            "anchor_source": "delivery",
            "due_at": when,
            "give_up_at": when,
            "planned_at": when,
            "updated_at": when,
        }
        for campaign, account, order in (
            ("review_request_7d", A, "111-1"),
            ("review_request_7d", A, "111-2"),
            ("other_campaign", B, "222-1"),
        )
    ]
    result = {
        "window_days": 30,
        "channel": "amazon_review_request",
        "holdout_share": 0.1,
        "treated_sent": 0,
        "confidence": 0.95,
        "ci_method": "newcombe_hybrid_score",
        "immature_buyers": 4,
        "as_of": AS_OF,
        "computed_at": AS_OF,
    }
    results = [
        result
        | {
            "campaign": campaign,
            "metric": metric,
            "treated_buyers": tn,
            "treated_events": tx,
            "treated_rate": tx / tn,
            "holdout_buyers": hn,
            "holdout_events": hx,
            "holdout_rate": hx / hn if hn else None,
            "difference": tx / tn - hx / hn if hn else None,
            "ci_low": low,
            "ci_high": high,
            "p_value": p,
            "relative_uplift": (tx / tn - hx / hn) / (hx / hn) if hx else None,
        }
        for campaign, metric, tn, tx, hn, hx, low, high, p in (
            ("review_request_7d", "feedback_30d", 200, 30, 100, 10, -0.03, 0.12, 0.23),
            ("review_request_7d", "repurchase_90d", 50, 5, 0, 0, None, None, None),
            ("other_campaign", "feedback_30d", 5, 5, 5, 0, 0.3, 1.0, 0.01),
        )
    ]
    with wh.begin() as conn:
        _insert(conn, "ops.campaign_sends", sends)
        _insert(conn, "marts.campaign_results", results)


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def wh(request, tmp_path_factory):
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path_factory.mktemp('charts') / 'warehouse.duckdb'}"
    else:
        url = request.getfixturevalue("pg_server_url")
        _reset_pg(url)
    wh = warehouse.connect(url)
    migrations.upgrade(wh)
    build(wh, accounts=ACCOUNTS, as_of=AS_OF)  # empty marts with their real columns
    _fill(wh)
    _fill_campaigns(wh)
    yield wh
    wh.dispose()


def _chart(wh, function, account: str = A) -> charts.Chart:
    with wh.connect() as conn:
        return function(conn, account)


def _cells(frame, **where):
    for key, value in where.items():
        frame = frame[frame[key] == value]
    return frame


# -- the charts ---------------------------------------------------------------------------


def test_message_heat_map_fills_the_grid_and_frames_the_wrapping_window(wh):
    chart = _chart(wh, charts.message_heat_map)
    assert not chart.empty
    cells = chart.data["cells"]
    # Only US has messages: 2 bases x 7 weekdays x 24 hours, zeros filled in.
    assert set(cells["marketplace_id"]) == {US}
    assert len(cells) == 2 * 7 * 24
    buyer = _cells(cells, time_zone_basis="buyer")
    assert int(buyer["buyer_messages"].sum()) == 4  # shop-b's 100 are not here
    monday_nine = _cells(buyer, local_weekday=1, local_hour=9).iloc[0]
    assert (monday_nine["weekday"], int(monday_nine["buyer_messages"])) == ("Mon", 3)
    assert monday_nine["share_of_buyer_messages"] == pytest.approx(3 / 4)
    assert int(_cells(buyer, local_weekday=1, local_hour=10)["buyer_messages"].iloc[0]) == 0
    seller = _cells(cells, time_zone_basis="seller")
    assert sorted(seller.loc[seller["buyer_messages"] > 0, "local_hour"]) == [1, 23]
    assert int(_cells(seller, local_weekday=2, local_hour=23)["buyer_messages"].iloc[0]) == 2
    # By the buyer's zone, on the buyer's clock: 24 hours per group with a message,
    # groups west to east.
    zones = chart.data["zones"]
    assert len(zones) == 3 * 24
    assert list(dict.fromkeys(zones["time_zone_group"])) == ["Pacific", "Central", "Eastern"]
    busy = zones[zones["buyer_messages"] > 0]
    columns = (busy["time_zone_group"], busy["local_hour"], busy["buyer_messages"])
    assert list(zip(*columns, strict=True)) == [
        ("Pacific", 9, 1),
        ("Central", 22, 1),
        ("Eastern", 9, 2),
    ]
    # 22:00 + 4 h wraps past midnight: two spans on the 0-24 axis.
    segments = chart.data["segments"]
    assert [(r.from_hour, r.to_hour) for r in segments.itertuples()] == [(22, 24), (0, 2)]
    assert chart.notes == [
        "US marketplace (ATVPDKIKX0DER): reply window 22:00–02:00 Asia/Shanghai covers 100% "
        "of 4 buyer messages; median first reply inside it 42 min."
    ]


def test_orders_by_region_splits_states_by_zone_and_sums_zones(wh):
    chart = _chart(wh, charts.orders_by_region)
    regions = chart.data["regions"]
    assert list(zip(regions["region"], regions["time_zone"], regions["orders"], strict=True)) == [
        ("FL Florida", "America/New_York", 5),
        ("CA California", "America/Los_Angeles", 3),
        ("FL Florida", "America/Chicago", 2),
        ("Unresolved address", "Unknown", 1),
    ]
    zones = chart.data["zones"]
    assert list(
        zip(zones["time_zone"], zones["time_zone_group"], zones["orders"], strict=True)
    ) == [
        ("America/New_York", "Eastern", 5),
        ("America/Los_Angeles", "Pacific", 3),
        ("America/Chicago", "Central", 2),
        ("Unknown", "Unknown", 1),
    ]
    assert zones["order_share"].sum() == pytest.approx(1.0)
    peaks = dict(zip(zones["time_zone"], zones["peak_hours"], strict=True))
    assert peaks["America/New_York"] == "18:00 (seller 07:00), 09:00 (seller 22:00)"
    assert peaks["America/Chicago"] == "n/a"
    assert "Texas" not in json.dumps(chart.spec())  # shop-b's


def test_repurchase_trends_are_monthly_with_second_purchase_by_cohort(wh):
    trend = _chart(wh, charts.repurchase_trends).data["trend"]
    rows = {
        (m, str(month)[:10]): (rate, num, den)
        for m, month, rate, num, den in zip(
            trend["metric"],
            trend["month"],
            trend["rate"],
            trend["numerator"],
            trend["denominator"],
            strict=True,
        )
    }
    repurchase, returning, second = charts.REPURCHASE_METRICS
    assert rows == {
        (repurchase, "2025-01-01"): (0.2, 2, 10),
        (repurchase, "2025-02-01"): (0.125, 1, 8),
        (returning, "2025-01-01"): (0.0, 0, 10),
        (returning, "2025-02-01"): (0.5, 4, 8),
        (second, "2024-12-01"): (0.4, 2, 5),
    }  # the quarter row is not a month


def test_cohort_retention_triangle(wh):
    cells = _chart(wh, charts.cohort_retention).data["cells"]
    assert list(cells["cohort"]) == [
        "2025-01 (10 buyers)",
        "2025-01 (10 buyers)",
        "2025-01 (10 buyers)",
        "2025-02 (4 buyers)",
        "2025-02 (4 buyers)",
        "2025-03 (2 buyers)",
    ]
    assert list(cells["retention_rate"]) == pytest.approx([1.0, 0.3, 0.1, 1.0, 0.25, 1.0])


def test_returns_by_asin_ranks_asins_and_splits_reasons(wh, monkeypatch):
    chart = _chart(wh, charts.returns_by_asin)
    asins = chart.data["asins"]
    # A1 has 3 returned + 1 refunded, A2 2 refunded; A3 had neither and is left out.
    assert list(asins["asin"]) == ["B000000001", "B000000002"]
    assert list(asins["asin_label"]) == ["B000000001 · Trail Tent", "B000000002"]
    rates = chart.data["rates"]
    got = {
        (a, m): (r, n, d)
        for a, m, r, n, d in zip(
            rates["asin"],
            rates["metric"],
            rates["rate"],
            rates["numerator"],
            rates["denominator"],
            strict=True,
        )
    }
    ret, ref, without = charts.RETURN_METRICS
    assert got == {
        ("B000000001", ret): (pytest.approx(3 / 12), 3, 12),
        ("B000000001", ref): (pytest.approx(1 / 10), 1, 10),
        ("B000000001", without): (0.0, 0, 10),
        ("B000000002", ret): (0.0, 0, 8),
        ("B000000002", ref): (pytest.approx(2 / 8), 2, 8),
        ("B000000002", without): (pytest.approx(2 / 8), 2, 8),
    }
    reasons = chart.data["reasons"]
    assert sorted(
        zip(reasons["asin"], reasons["reason"], reasons["returned_units"], strict=True)
    ) == [
        ("B000000001", "DEFECTIVE", 2),
        ("B000000001", "NO_LONGER_NEEDED", 1),
    ]
    monkeypatch.setattr(charts, "TOP_ASINS", 1)
    assert list(_chart(wh, charts.returns_by_asin).data["asins"]["asin"]) == ["B000000001"]


def test_negative_feedback_trend_by_iso_week(wh):
    chart = _chart(wh, charts.negative_feedback_trend)
    weeks = chart.data["weeks"]
    us = _cells(weeks, marketplace_id=US)
    # Week of Mon 3 March: 3 and 9 March (Sunday); week of 10 March: 10 March.
    assert list(us["week"]) == ["2025-03-03", "2025-03-10"]
    assert list(us["orders"]) == [20, 5]
    assert list(us["feedback_received"]) == [3, 1]
    assert list(us["negative_feedback"]) == [1, 1]
    assert list(us["negative_per_100_orders"]) == pytest.approx([5.0, 20.0])
    jp = _cells(weeks, marketplace_id=JP)
    assert list(jp["week"]) == ["2025-03-10"] and list(jp["negative_feedback"]) == [0]
    assert chart.notes == [
        "US marketplace (ATVPDKIKX0DER), negative feedback in the last 30 days: 2 of 4 "
        "(8.00% of 25 orders)."
    ]


def test_tag_group_sizes_keeps_the_largest_tags_and_handles_a_missing_table(wh, monkeypatch):
    counts = _chart(wh, charts.tag_group_sizes).data["counts"]
    assert sorted(
        zip(counts["day"].map(str), counts["tag"], counts["source"], counts["buyers"], strict=True)
    ) == [
        ("2025-03-19", "vip", "rule", 3),
        ("2025-03-20", "returner", "rule", 2),
        ("2025-03-20", "tiny", "rule", 1),
        ("2025-03-20", "vip", "manual", 1),
        ("2025-03-20", "vip", "rule", 4),
    ]
    monkeypatch.setattr(charts, "TOP_TAGS", 2)
    assert set(_chart(wh, charts.tag_group_sizes).data["counts"]["tag"]) == {"vip", "returner"}
    # Another account: no counts yet.
    assert _chart(wh, charts.tag_group_sizes, B).empty
    # A warehouse without the tags tables (dropped inside a transaction that is rolled back).
    with wh.connect() as conn:
        transaction = conn.begin()
        try:
            conn.exec_driver_sql("DROP TABLE marts.tag_counts_daily")
            missing = charts.tag_group_sizes(conn, A)
        finally:
            transaction.rollback()
    assert missing.empty and "no marts.tag_counts_daily" in missing.notes[0]
    assert missing.spec()["mark"]["type"] == "text"


def test_lifecycle_stages(wh):
    days = _chart(wh, charts.lifecycle_stages).data["days"]
    assert list(zip(days["lifecycle_stage"], days["buyers"], strict=True)) == [
        ("potential", 1),
        ("new", 5),
        ("growing", 2),
        ("mature", 1),
        ("at_risk", 0),
        ("churned", 0),
    ]


def test_campaign_results_with_intervals(wh):
    chart = _chart(wh, charts.campaign_results)
    results = chart.data["results"]
    # shop-a's buyers were only in review_request_7d; other_campaign was shop-b's.
    assert list(zip(results["campaign"], results["metric"], strict=True)) == [
        ("review_request_7d", "feedback_30d"),
        ("review_request_7d", "repurchase_90d"),
    ]
    arms = chart.data["arms"]
    assert list(zip(arms["metric"], arms["arm"], arms["events"], arms["buyers"], strict=True)) == [
        ("feedback_30d", "treatment", 30, 200),
        ("feedback_30d", "holdout", 10, 100),
        ("repurchase_90d", "treatment", 5, 50),  # no held-out buyers: no holdout point
    ]
    for row in arms.itertuples():
        expected = binomtest(row.events, row.buyers).proportion_ci(method="wilson")
        assert (row.rate_low, row.rate_high) == pytest.approx((expected.low, expected.high))
    assert (arms["rate_low"].iloc[1], arms["rate_high"].iloc[1]) == pytest.approx(
        (0.05523, 0.17437), abs=1e-5
    )
    assert chart.notes == [
        "review_request_7d · feedback_30d: 30/200 treated vs 10/100 held out, difference "
        "+5.0 points [-3.0, +12.0].",
        "review_request_7d · repurchase_90d: 5/50 treated vs 0/0 held out.",
    ]
    text = json.dumps(chart.spec())
    assert "other_campaign" not in text and "campaign-buyer" not in text
    # Another account without campaign sends, and a warehouse without the campaign tables.
    assert _chart(wh, charts.campaign_results, "shop-c").empty
    with wh.connect() as conn:
        transaction = conn.begin()
        try:
            conn.exec_driver_sql("DROP TABLE marts.campaign_results")
            missing = charts.campaign_results(conn, A)
        finally:
            transaction.rollback()
    assert missing.empty and "not set up" in missing.notes[0]
    assert missing.spec()["mark"]["type"] == "text"


def test_wilson_interval_edges():
    assert charts.wilson_interval(0, 20) == pytest.approx((0.0, 0.161125158))
    assert charts.wilson_interval(5, 5)[1] == 1.0
    assert all(math.isnan(v) for v in charts.wilson_interval(0, 0))


def test_account_summary(wh):
    with wh.connect() as conn:
        summary = charts.account_summary(conn, A)
    us = summary[summary["marketplace_id"] == US].iloc[0]
    assert (
        int(us["orders"]),
        float(us["revenue"]),
        int(us["buyers"]),
        int(us["repeat_buyers"]),
    ) == (
        25,
        625.0,
        2,
        1,
    )
    assert (str(us["first_day"]), str(us["last_day"])) == ("2025-03-03", "2025-03-10")
    assert us["repurchase_rate"] == pytest.approx(0.5)
    assert us["return_rate"] == pytest.approx(3 / 40)
    assert us["refund_rate"] == pytest.approx(3 / 25)
    assert us["negative_feedback_rate_30d"] == pytest.approx(0.08)
    assert us["median_first_reply_minutes"] == pytest.approx(42.0)
    assert us["label"] == "US marketplace (ATVPDKIKX0DER)"
    assert list(summary["marketplace_id"]) == [JP, US]


def test_every_spec_validates_and_carries_aggregates_only(wh):
    with wh.connect() as conn:
        built = charts.account_charts(conn, A)
        other = charts.account_charts(conn, B)
    assert [c.key for c in built] == list(charts.CHART_KEYS)
    for chart in built + other:
        text = json.dumps(chart.spec())  # validated against the Vega-Lite schema by Altair
        assert SECRET_BUYER not in text and "another-buyer-key" not in text
        assert chart.spec()["$schema"].startswith("https://vega.github.io/schema/vega-lite/v6")
    # shop-b has only a few rows: its charts say so instead of failing.
    empty = {c.key for c in other if c.empty}
    assert empty == {
        "repurchase_trends",
        "cohort_retention",
        "returns_by_asin",
        "tag_group_sizes",
        "lifecycle_stages",
    }
    heat = other[0].data["cells"]
    assert int(heat["buyer_messages"].sum()) == 100 and other[0].notes == []  # no window row


def test_write_report_for_one_account_on_both_warehouses(wh, tmp_path):
    from sellerops.report import ReportError, write_report

    paths = write_report(wh, tmp_path / "kpi.html", accounts=[A])
    assert paths == [tmp_path / "kpi.html"]
    text = paths[0].read_text(encoding="utf-8")
    assert re.findall(r'data-chart="([a-z_]+)"', text) == list(charts.CHART_KEYS)
    assert "Data as of 2025-03-20 12:00 UTC" in text
    assert SECRET_BUYER not in text and "campaign-buyer-" not in text
    with pytest.raises(ReportError, match="no data for account"):
        write_report(wh, tmp_path / "x.html", accounts=["nobody"])


def test_output_paths():
    from sellerops.report import output_paths

    assert output_paths("out/r.html", ["a"]) == ([Path("out/r.html")], None)
    assert output_paths("out/r.html", ["a", "b"]) == (
        [Path("out/r-a.html"), Path("out/r-b.html")],
        Path("out/r.html"),
    )
    assert output_paths("out", ["a"]) == ([Path("out/report-a.html")], None)
    assert output_paths("out", ["a", "b/c"]) == (
        [Path("out/report-a.html"), Path("out/report-b_c.html")],
        Path("out/index.html"),
    )
