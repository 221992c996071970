"""marts.orders_by_region and marts.regional_peak_schedule on the hand-built world.

Non-cancelled orders by ship-to address (acme):
    CA Los Angeles  O1 O2 O3 O4   B1   revenue 280   America/Los_Angeles
    AZ Phoenix      O5 O6         B2            55   America/Phoenix (no DST)
    FL Pensacola    O7            B3            60   America/Chicago (panhandle ZIP 325)
    IN Gary         O9            B4            80   America/Chicago (ZIP 464)
    NY New York     O10           B5            30   America/New_York
    (no address)    O11           -             20
Total 10 orders, revenue 525.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from handmade import ACCOUNTS, ACME, BETA, JP, US, assert_row, by_key, fetch, write_catalog

from sellerops.models import runner


def test_orders_by_region(built):
    rows = by_key(
        fetch(built.wh, "SELECT * FROM marts.orders_by_region"),
        "account_id",
        "marketplace_id",
        "region_code",
        "time_zone",
    )
    # (name, group, orders, buyers, revenue, order share, revenue share)
    # fmt: off
    expected = {
        (ACME, US, "CA", "America/Los_Angeles"): ("California", "Pacific",  4, 1, 280.0, 0.4, 280 / 525),
        (ACME, US, "AZ", "America/Phoenix"):     ("Arizona",    "Mountain", 2, 1,  55.0, 0.2,  55 / 525),
        (ACME, US, "FL", "America/Chicago"):     ("Florida",    "Central",  1, 1,  60.0, 0.1,  60 / 525),
        (ACME, US, "IN", "America/Chicago"):     ("Indiana",    "Central",  1, 1,  80.0, 0.1,  80 / 525),
        (ACME, US, "NY", "America/New_York"):    ("New York",   "Eastern",  1, 1,  30.0, 0.1,  30 / 525),
        (ACME, US, None, None):                  (None,         None,       1, 0,  20.0, 0.1,  20 / 525),
        # beta-jp: Tokyo P1 + P2 (J1, 9000), Osaka P3 (J2, 3000)
        (BETA, JP, "JP-13", "Asia/Tokyo"):       ("Tokyo",      "Other",    2, 1, 9000.0, 2 / 3, 0.75),
        (BETA, JP, "JP-27", "Asia/Tokyo"):       ("Osaka",      "Other",    1, 1, 3000.0, 1 / 3, 0.25),
    }
    # fmt: on
    assert sorted(rows, key=str) == sorted(expected, key=str)
    columns = (
        "region_name",
        "time_zone_group",
        "orders",
        "buyers",
        "revenue",
        "order_share",
        "revenue_share",
    )
    for key, values in expected.items():
        assert_row(rows[key], dict(zip(columns, values, strict=True)), str(key))


def _schedule(wh) -> dict:
    return by_key(
        fetch(wh, "SELECT * FROM marts.regional_peak_schedule"),
        "account_id",
        "marketplace_id",
        "time_zone",
        "peak_rank",
    )


def test_regional_peak_schedule(built):
    rows = _schedule(built.wh)
    # Local purchase hours, each in the offset in force at that instant:
    #   Los Angeles: O1 2024-10-05 15:00 UTC = 08 PDT, O2 2024-11-20 18:00 = 10 PST,
    #                O3 2025-01-15 20:00 = 12 PST, O4 2025-03-20 15:00 = 08 PDT
    #   Phoenix:     O5 17:00 UTC = 10 MST, O6 03:00 UTC = 20 MST
    #   Chicago:     O9 2024-11-10 12:00 UTC = 06 CST, O7 2025-03-05 14:00 = 08 CST
    #   New York:    O10 2024-09-15 13:00 UTC = 09 EDT
    # Seller hour on 2025-03-20 (Shanghai, UTC+8): LA is on PDT (-7) -> +15 h;
    # Phoenix -7 -> +15; Chicago CDT (-5) -> +13; New York EDT (-4) -> +12.
    # (local hour, orders, zone orders, seller hour)
    # fmt: off
    expected = {
        (ACME, US, "America/Los_Angeles", 1): (8,  2, 4, 23),
        (ACME, US, "America/Los_Angeles", 2): (10, 1, 4, 1),
        (ACME, US, "America/Los_Angeles", 3): (12, 1, 4, 3),
        (ACME, US, "America/Phoenix", 1):     (10, 1, 2, 1),
        (ACME, US, "America/Phoenix", 2):     (20, 1, 2, 11),
        (ACME, US, "America/Chicago", 1):     (6,  1, 2, 19),
        (ACME, US, "America/Chicago", 2):     (8,  1, 2, 21),
        (ACME, US, "America/New_York", 1):    (9,  1, 1, 21),
        # beta-jp, all Asia/Tokyo (seller in Tokyo too): P1 10:00, P2 11:00, P3 14:00 JST
        (BETA, JP, "Asia/Tokyo", 1):          (10, 1, 3, 10),
        (BETA, JP, "Asia/Tokyo", 2):          (11, 1, 3, 11),
        (BETA, JP, "Asia/Tokyo", 3):          (14, 1, 3, 14),
    }
    # fmt: on
    assert sorted(rows) == sorted(expected)
    for key, (hour, orders, zone_orders, seller_hour) in expected.items():
        assert_row(
            rows[key],
            {
                "local_hour": hour,
                "orders": orders,
                "zone_orders": zone_orders,
                "share_of_zone_orders": orders / zone_orders,
                "seller_local_hour": seller_hour,
                "reference_date": date(2025, 3, 20),
            },
            str(key),
        )
    assert rows[(ACME, US, "America/Phoenix", 1)]["time_zone_group"] == "Mountain"
    assert rows[(ACME, US, "America/Phoenix", 1)]["seller_time_zone"] == "Asia/Shanghai"


def test_regional_peak_schedule_follows_daylight_saving(built, tmp_path):
    # On 2025-01-31 Chicago and Los Angeles are on standard time: the same local hours
    # are one hour later in Shanghai (Chicago CST -6 -> +14 h: 06 -> 20, 08 -> 22;
    # LA PST -8 -> +16 h: 08 -> 00). Phoenix never changes: 10 -> 01 either way.
    runner.build(
        built.wh,
        accounts=ACCOUNTS,
        catalog_path=write_catalog(tmp_path),
        as_of=datetime(2025, 1, 31, 12, 0, tzinfo=UTC),
    )
    rows = _schedule(built.wh)
    assert rows[(ACME, US, "America/Chicago", 1)]["seller_local_hour"] == 20
    assert rows[(ACME, US, "America/Chicago", 2)]["seller_local_hour"] == 22
    assert rows[(ACME, US, "America/Los_Angeles", 1)]["seller_local_hour"] == 0
    assert rows[(ACME, US, "America/Phoenix", 1)]["seller_local_hour"] == 1
    assert rows[(ACME, US, "America/Phoenix", 1)]["reference_date"] == date(2025, 1, 31)
