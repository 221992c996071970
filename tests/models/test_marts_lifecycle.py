"""marts.lifecycle_daily on the hand-built world, both databases.

Stage intervals per acme buyer (start day inclusive, end exclusive; at_risk from 91
days after the last order, churned from 181 days, thresholds 90 / 180):

    B5  order 2024-09-15         new      2024-09-15 .. 2024-12-15
                                 at_risk  2024-12-15 .. 2025-03-15
                                 churned  2025-03-15 ..
    B1  orders 10-05, 11-20, 01-15, 03-20
                                 new      2024-10-05 .. 2024-11-20
                                 growing  2024-11-20 .. 2025-03-20 (2, then 3 orders)
                                 mature   2025-03-20 ..
    B4  order 2024-11-10         new      2024-11-10 .. 2025-02-09
                                 at_risk  2025-02-09 ..  (churned would start 05-10)
    B2  orders 02-10, 02-25      new      2025-02-10 .. 2025-02-25, growing after
    B3  wrote 03-03, ordered 03-05 (O8 cancelled)
                                 potential 2025-03-03 .. 2025-03-05, new after
    B6  wrote 03-10, no order    potential 2025-03-10 ..
"""

from __future__ import annotations

from datetime import date

from handmade import ACME, BETA, JP, fetch

STAGES = ("potential", "new", "growing", "mature", "at_risk", "churned")
# fmt: off
EXPECTED = {
    #              potential new growing mature at_risk churned
    "2024-09-15": (0,        1,  0,      0,     0,      0),  # B5
    "2024-10-05": (0,        2,  0,      0,     0,      0),  # + B1
    "2024-11-10": (0,        3,  0,      0,     0,      0),  # + B4
    "2024-11-20": (0,        2,  1,      0,     0,      0),  # B1 grows
    "2024-12-14": (0,        2,  1,      0,     0,      0),
    "2024-12-15": (0,        1,  1,      0,     1,      0),  # B5 at risk (91 days)
    "2025-02-08": (0,        1,  1,      0,     1,      0),
    "2025-02-09": (0,        0,  1,      0,     2,      0),  # B4 at risk
    "2025-02-10": (0,        1,  1,      0,     2,      0),  # + B2
    "2025-02-25": (0,        0,  2,      0,     2,      0),  # B2 grows
    "2025-03-03": (1,        0,  2,      0,     2,      0),  # B3 writes
    "2025-03-05": (0,        1,  2,      0,     2,      0),  # B3 orders
    "2025-03-10": (1,        1,  2,      0,     2,      0),  # B6 writes
    "2025-03-14": (1,        1,  2,      0,     2,      0),
    "2025-03-15": (1,        1,  2,      0,     1,      1),  # B5 churned (181 days)
    "2025-03-20": (1,        1,  1,      1,     1,      1),  # B1 mature with O4
}
# fmt: on


def test_lifecycle_daily(built):
    rows = fetch(built.wh, "SELECT * FROM marts.lifecycle_daily")
    counts = {(r["account_id"], r["day"], r["lifecycle_stage"]): r["buyers"] for r in rows}
    for day, values in EXPECTED.items():
        actual = tuple(counts[(ACME, date.fromisoformat(day), stage)] for stage in STAGES)
        assert actual == values, day
    # Every day from the first appearance (2024-09-15) to as_of_date (2025-03-20),
    # 187 days, times 6 stages, zero counts included.
    acme_days = {r["day"] for r in rows if r["account_id"] == ACME}
    assert min(acme_days) == date(2024, 9, 15) and max(acme_days) == date(2025, 3, 20)
    assert len(acme_days) == 187
    assert sum(1 for r in rows if r["account_id"] == ACME) == 187 * 6
    assert {r["stage_order"] for r in rows if r["lifecycle_stage"] == "churned"} == {6}
    # beta-jp: J1 new from 03-05, growing from 03-15; J2 new from 03-18.
    beta = {(r["day"], r["lifecycle_stage"]): r["buyers"] for r in rows if r["account_id"] == BETA}
    assert min(d for d, _ in beta) == date(2025, 3, 5)
    assert beta[(date(2025, 3, 14), "new")] == 1
    assert beta[(date(2025, 3, 15), "growing")] == 1
    assert beta[(date(2025, 3, 20), "new")] == 1
    assert {r["marketplace_id"] for r in rows if r["account_id"] == BETA} == {JP}


def test_last_day_matches_buyer_profile(built):
    daily = fetch(
        built.wh,
        "SELECT account_id, lifecycle_stage, buyers FROM marts.lifecycle_daily "
        "WHERE day = (SELECT as_of_date FROM staging.build_params) AND buyers > 0",
    )
    profile = fetch(
        built.wh,
        "SELECT account_id, lifecycle_stage, COUNT(*) AS buyers FROM marts.buyer_profile "
        "GROUP BY account_id, lifecycle_stage",
    )
    assert _stage_counts(daily) == _stage_counts(profile)
    assert (ACME, "mature", 1) in _stage_counts(daily)


def _stage_counts(rows: list[dict]) -> set[tuple]:
    return {(r["account_id"], r["lifecycle_stage"], r["buyers"]) for r in rows}
