"""Ship-to address -> IANA time zone in SQL (staging.stg_orders) agrees with sellerops.geo.

The runner seeds core.geo_state_time_zones (state default zone) and
core.geo_postal_time_zones (ZIP-prefix overrides for the split states) from
sellerops.geo; SQL joins them. Every city of sellerops.geo and a set of awkward
addresses must resolve exactly as geo.time_zone_for does, on both databases. Local
times then come from the zone database through AT TIME ZONE, never from offsets.
"""

from __future__ import annotations

from datetime import UTC, datetime

from handmade import ACCOUNTS, fetch, upsert

from sellerops import geo
from sellerops.models import runner

US = "ATVPDKIKX0DER"
JP = "A1VC38T7YXB528"

# (state as written, postal code as written, country) -> what geo.time_zone_for says
AWKWARD = [
    ("fl", "32501-1234", "US"),  # ZIP+4, lower-case state: Pensacola, Central
    ("Florida", "32456", "US"),  # Port St. Joe: a 5-digit rule beats the 3-digit one
    ("FL", "32301", "US"),  # Tallahassee stays Eastern
    ("TX", "79855", "US"),  # Van Horn: Central inside the Mountain prefix 798
    ("TX", "79901", "US"),  # El Paso: Mountain
    ("  az ", "86044", "US"),  # Navajo Nation observes DST
    ("AZ", "86001", "US"),  # Flagstaff: America/Phoenix
    ("IN", "47586", "US"),  # Tell City
    ("IN", "46204", "US"),  # Indianapolis
    ("KY", "42633", None),  # Monticello; a missing country means US
    ("ID", "83814", "US"),  # Coeur d'Alene: Pacific
    ("OR", "97914", "US"),  # Malheur County: America/Boise
    ("AK", "99546", "US"),  # Adak
    ("MI", "49801", "US"),  # Iron Mountain: America/Menominee
    ("MA", "2108", "US"),  # a spreadsheet ate the leading zero
    ("TN", "37902", "us"),  # Knoxville: Eastern
    ("TN", "38103", "US"),  # Memphis: Central
    ("Washington DC", "20001", "US"),
    ("Virgin Islands", "00802", "US"),
    ("PR", "00901", "US"),
    (None, "00901", "PR"),  # a territory reported as its own country
    ("", "96910", "GU"),
    ("ZZ", "12345", "US"),  # unknown state: no zone
    ("ON", "M5V 3L9", "CA"),  # no rules for Canada: no zone
    ("東京都", "154-0004", "JP"),
    ("Tokyo", "154-0004", "JP"),
    ("大阪", "530-0001", "JP"),  # prefecture without its suffix
    ("Atlantis", None, "JP"),  # Japan is Asia/Tokyo everywhere
    ("CA", "not a zip", "US"),
]


def _cases() -> list[tuple[str | None, str | None, str | None]]:
    cases = [(code, city.postal_code, "US") for code, city in geo.us_cities()]
    cases += [
        (geo.JP_PREFECTURES[code].name_ja, city.postal_code, "JP") for code, city in geo.jp_cities()
    ]
    return cases + AWKWARD


def test_sql_time_zones_match_geo(any_warehouse):
    cases = _cases()
    orders = []
    for n, (state, postal, country) in enumerate(cases):
        when = datetime(2025, 1, 1, tzinfo=UTC)
        orders.append(
            {
                "account_id": "acme-outdoor",
                "marketplace_id": JP if country == "JP" else US,
                "order_id": f"900-0000000-{n:07d}",
                "purchase_time": when,
                "last_updated_time": when,
                "order_status": "SHIPPED",
                "fulfillment_channel": "AFN",
                "identity_source": "none",
                "ship_state": state,
                "ship_postal_code": postal,
                "ship_country": country,
                "source": "orders_api",
            }
        )
    with any_warehouse.begin() as conn:
        upsert(conn, "core.orders", orders, batch_id="geo", loaded_at=datetime.now(UTC))
    runner.build(any_warehouse, accounts=ACCOUNTS)

    resolved = {
        r["order_id"]: r["time_zone"]
        for r in fetch(any_warehouse, "SELECT order_id, time_zone FROM staging.stg_orders")
    }
    wrong = []
    for n, (state, postal, country) in enumerate(cases):
        expected = geo.time_zone_for(state, postal, country, default=None)
        actual = resolved[f"900-0000000-{n:07d}"]
        if actual != expected:
            wrong.append((state, postal, country, actual, expected))
    assert not wrong, f"(state, postal, country, sql, geo) differ: {wrong}"
    # The split-state cases really exercise the overrides.
    assert geo.time_zone_for("fl", "32501-1234", "US") == "America/Chicago"
    assert geo.time_zone_for("Florida", "32456", "US") == "America/New_York"
    assert geo.time_zone_for("TX", "79855", "US") == "America/Chicago"


def test_region_codes(any_warehouse):
    when = datetime(2025, 1, 1, tzinfo=UTC)
    base = {
        "account_id": "acme-outdoor",
        "purchase_time": when,
        "last_updated_time": when,
        "order_status": "SHIPPED",
        "fulfillment_channel": "AFN",
        "identity_source": "none",
        "source": "orders_api",
    }
    addresses = {
        "900-0000000-0000001": ("california", "90012", "US", US, "CA"),
        "900-0000000-0000002": (None, "00901", "PR", US, "PR"),
        "900-0000000-0000003": ("東京", "154-0004", "JP", JP, "JP-13"),
        "900-0000000-0000004": ("Atlantis", None, "JP", JP, None),
        "900-0000000-0000005": ("Narnia", "12345", "US", US, None),
    }
    with any_warehouse.begin() as conn:
        upsert(
            conn,
            "core.orders",
            [
                base
                | {
                    "order_id": oid,
                    "ship_state": state,
                    "ship_postal_code": postal,
                    "ship_country": country,
                    "marketplace_id": mkt,
                }
                for oid, (state, postal, country, mkt, _) in addresses.items()
            ],
            batch_id="geo",
            loaded_at=datetime.now(UTC),
        )
    runner.build(any_warehouse, accounts=ACCOUNTS)
    codes = {
        r["order_id"]: r["region_code"]
        for r in fetch(any_warehouse, "SELECT order_id, region_code FROM staging.stg_orders")
    }
    assert codes == {oid: values[4] for oid, values in addresses.items()}


def test_daylight_saving_comes_from_the_zone_database(any_warehouse):
    # Phoenix keeps MST (UTC-7) all year; Denver is MST in January, MDT (UTC-6) in July.
    rows = fetch(
        any_warehouse,
        "SELECT "
        "CAST(EXTRACT(hour FROM (CAST(:winter AS TIMESTAMPTZ) AT TIME ZONE 'America/Phoenix')) AS INTEGER) AS phx_winter, "
        "CAST(EXTRACT(hour FROM (CAST(:winter AS TIMESTAMPTZ) AT TIME ZONE 'America/Denver')) AS INTEGER) AS den_winter, "
        "CAST(EXTRACT(hour FROM (CAST(:summer AS TIMESTAMPTZ) AT TIME ZONE 'America/Phoenix')) AS INTEGER) AS phx_summer, "
        "CAST(EXTRACT(hour FROM (CAST(:summer AS TIMESTAMPTZ) AT TIME ZONE 'America/Denver')) AS INTEGER) AS den_summer",
        winter=datetime(2025, 1, 15, 18, 0, tzinfo=UTC),
        summer=datetime(2025, 7, 15, 18, 0, tzinfo=UTC),
    )[0]
    assert rows == {"phx_winter": 11, "den_winter": 11, "phx_summer": 11, "den_summer": 12}


def test_reference_tables(any_warehouse):
    runner.build(any_warehouse, accounts=ACCOUNTS)
    states = fetch(
        any_warehouse,
        "SELECT DISTINCT state_code FROM core.geo_state_time_zones WHERE country_code = 'US'",
    )
    # The 50 states, DC and the five inhabited territories.
    assert {r["state_code"] for r in states} == set(geo.US_STATES) and len(geo.US_STATES) == 56
    prefixes = fetch(
        any_warehouse,
        "SELECT time_zone FROM core.geo_postal_time_zones WHERE state_code = 'FL' AND postal_prefix = '325'",
    )
    assert prefixes == [{"time_zone": "America/Chicago"}]
    groups = by_zone(fetch(any_warehouse, "SELECT * FROM core.geo_time_zone_groups"))
    assert groups["America/Phoenix"] == "Mountain"
    assert groups["America/Puerto_Rico"] == "Atlantic"
    assert groups["Asia/Tokyo"] == "Other"
    marketplaces = fetch(
        any_warehouse,
        "SELECT default_time_zone FROM core.marketplaces WHERE marketplace_id = :m",
        m=US,
    )
    assert marketplaces == [{"default_time_zone": "America/New_York"}]


def by_zone(rows: list[dict]) -> dict[str, str]:
    return {r["time_zone"]: r["time_zone_group"] for r in rows}
