"""US and Japanese geography: populations, cities, time zones of ship-to addresses."""

from __future__ import annotations

import re
import zoneinfo

import pytest

from sellerops import geo


def test_us_states_and_territories():
    assert len(geo.US_STATES) == 56
    kinds = [s.kind for s in geo.US_STATES.values()]
    assert kinds.count("state") == 50
    assert kinds.count("district") == 1
    assert sorted(c for c, s in geo.US_STATES.items() if s.kind == "territory") == [
        "AS",
        "GU",
        "MP",
        "PR",
        "VI",
    ]
    # 2020 census: resident population of the 50 states and DC
    total = sum(s.population for s in geo.US_STATES.values() if s.kind != "territory")
    assert total == 331_449_281
    assert geo.US_STATES["CA"].population > geo.US_STATES["TX"].population > 29_000_000
    for code, state in geo.US_STATES.items():
        assert re.fullmatch(r"[A-Z]{2}", code) and state.code == code
        assert isinstance(state.population, int) and state.population > 40_000
        zoneinfo.ZoneInfo(state.time_zone)


def test_us_cities():
    assert set(geo.US_CITIES) == set(geo.US_STATES)
    for code, cities in geo.US_CITIES.items():
        assert 2 <= len(cities) <= 8, code
        for city in cities:
            assert re.fullmatch(r"\d{5}", city.postal_code), (code, city)
            assert city.population > 0
            zoneinfo.ZoneInfo(geo.time_zone_for(code, city.postal_code))
    assert ("MA", "Boston") in {(c, city.name) for c, city in geo.us_cities()}
    assert any(not city.name.isascii() for _, city in geo.us_cities())  # Bayamón, Hagåtña


def test_japan():
    assert len(geo.JP_PREFECTURES) == 47
    assert list(geo.JP_PREFECTURES) == [f"JP-{n:02d}" for n in range(1, 48)]
    assert sum(p.population for p in geo.JP_PREFECTURES.values()) == pytest.approx(
        126.1e6, rel=0.01
    )
    assert geo.JP_PREFECTURES["JP-13"].name_ja == "東京都"
    assert geo.JP_PREFECTURES["JP-13"].name_en == "Tokyo"
    assert set(geo.JP_CITIES) == set(geo.JP_PREFECTURES)
    for code, cities in geo.JP_CITIES.items():
        assert 2 <= len(cities) <= 5, code
        for city in cities:
            assert re.fullmatch(r"\d{3}-\d{4}", city.postal_code), (code, city)
    for text in ("JP-13", "13", "東京都", "東京", "tokyo", "Tokyo"):
        assert geo.prefecture(text).code == "JP-13"
    assert geo.prefecture("北海道").code == "JP-01"
    assert geo.prefecture("Atlantis") is None
    assert geo.time_zone_for("東京都", "150-0002", "JP") == "Asia/Tokyo"
    assert geo.time_zone_for(None, None, "jp") == "Asia/Tokyo"


@pytest.mark.parametrize(
    ("state", "postal", "zone"),
    [
        ("NY", "10001", "America/New_York"),
        ("CA", "90012", "America/Los_Angeles"),
        ("FL", "33130", "America/New_York"),  # Miami
        ("FL", "32301", "America/New_York"),  # Tallahassee, east of the Apalachicola
        ("FL", "32501", "America/Chicago"),  # Pensacola
        ("FL", "32401", "America/Chicago"),  # Panama City
        ("FL", "32456", "America/New_York"),  # Port St. Joe
        ("TN", "37203", "America/Chicago"),  # Nashville
        ("TN", "38103", "America/Chicago"),  # Memphis
        ("TN", "37902", "America/New_York"),  # Knoxville
        ("TN", "37402", "America/New_York"),  # Chattanooga
        ("KY", "40202", "America/Kentucky/Louisville"),
        ("KY", "40507", "America/New_York"),  # Lexington
        ("KY", "42101", "America/Chicago"),  # Bowling Green
        ("IN", "46204", "America/Indiana/Indianapolis"),
        ("IN", "46402", "America/Chicago"),  # Gary
        ("IN", "47708", "America/Chicago"),  # Evansville
        ("MI", "48226", "America/Detroit"),
        ("MI", "49855", "America/Detroit"),  # Marquette, Upper Peninsula but Eastern
        ("MI", "49801", "America/Menominee"),  # Iron Mountain
        ("ND", "58102", "America/Chicago"),
        ("ND", "58601", "America/Denver"),  # Dickinson
        ("SD", "57104", "America/Chicago"),
        ("SD", "57701", "America/Denver"),  # Rapid City
        ("NE", "68102", "America/Chicago"),
        ("NE", "69361", "America/Denver"),  # Scottsbluff
        ("KS", "67202", "America/Chicago"),
        ("KS", "67735", "America/Denver"),  # Goodland
        ("TX", "77002", "America/Chicago"),
        ("TX", "79901", "America/Denver"),  # El Paso
        ("TX", "79855", "America/Chicago"),  # Van Horn
        ("ID", "83702", "America/Boise"),
        ("ID", "83814", "America/Los_Angeles"),  # Coeur d'Alene
        ("OR", "97204", "America/Los_Angeles"),
        ("OR", "97914", "America/Boise"),  # Ontario, Malheur County
        ("AZ", "85004", "America/Phoenix"),
        ("AZ", "86515", "America/Denver"),  # Window Rock, Navajo Nation
        ("NV", "89883", "America/Denver"),  # West Wendover
        ("HI", "96813", "Pacific/Honolulu"),
        ("AK", "99501", "America/Anchorage"),
        ("AK", "99801", "America/Juneau"),
        ("AK", "99546", "America/Adak"),
        ("PR", "00901", "America/Puerto_Rico"),
        ("VI", "00802", "America/St_Thomas"),
        ("GU", "96910", "Pacific/Guam"),
        ("AS", "96799", "Pacific/Pago_Pago"),
        ("MP", "96950", "Pacific/Saipan"),
    ],
)
def test_time_zone_for(state, postal, zone):
    assert geo.time_zone_for(state, postal) == zone


def test_time_zone_for_inputs():
    assert geo.time_zone_for("FL") == "America/New_York"  # no ZIP: the main zone
    assert geo.time_zone_for("fl", "32501-1234") == "America/Chicago"  # ZIP+4, lower case
    assert geo.time_zone_for("Florida", " 325011234 ") == "America/Chicago"
    assert geo.time_zone_for("MA", "2108") == "America/New_York"  # lost leading zero
    assert geo.time_zone_for("TX", "not a zip") == "America/Chicago"
    assert geo.time_zone_for("Puerto Rico", "00901") == "America/Puerto_Rico"
    assert geo.time_zone_for(None, "00901", "PR") == "America/Puerto_Rico"  # territory as country
    assert geo.time_zone_for("", None, "GU") == "Pacific/Guam"
    assert geo.time_zone_for("DC", None, None) == "America/New_York"
    with pytest.raises(ValueError):
        geo.time_zone_for("XX", "12345")
    with pytest.raises(ValueError):
        geo.time_zone_for("ON", "M5V", "CA")
    assert geo.time_zone_for("XX", "12345", default=None) is None
    assert geo.time_zone_for("ON", "M5V", "CA", default="UTC") == "UTC"


def test_normalise_zip():
    assert geo.normalise_zip("02108") == "02108"
    assert geo.normalise_zip("2108") == "02108"
    assert geo.normalise_zip("02108-1234") == "02108"
    assert geo.normalise_zip("021081234") == "02108"
    assert geo.normalise_zip("abc") is None
    assert geo.normalise_zip(None) is None


@pytest.mark.parametrize(
    ("zone", "group"),
    [
        ("America/New_York", "Eastern"),
        ("America/Detroit", "Eastern"),
        ("America/Indiana/Indianapolis", "Eastern"),
        ("America/Kentucky/Louisville", "Eastern"),
        ("America/Chicago", "Central"),
        ("America/Menominee", "Central"),
        ("America/Indiana/Tell_City", "Central"),
        ("America/Denver", "Mountain"),
        ("America/Boise", "Mountain"),
        ("America/Phoenix", "Mountain"),
        ("America/Los_Angeles", "Pacific"),
        ("America/Anchorage", "Alaska"),
        ("America/Juneau", "Alaska"),
        ("Pacific/Honolulu", "Hawaii"),
        ("America/Adak", "Hawaii"),
        ("America/Puerto_Rico", "Atlantic"),
        ("America/St_Thomas", "Atlantic"),
        ("Pacific/Guam", "Other"),
        ("Pacific/Pago_Pago", "Other"),
        ("Asia/Tokyo", "Other"),
        ("Europe/Berlin", "Other"),
        ("", "Other"),
        (None, "Other"),
    ],
)
def test_us_time_zone_group(zone, group):
    assert geo.us_time_zone_group(zone) == group


def test_every_zone_in_the_rules_is_known_and_grouped():
    zones = {s.time_zone for s in geo.US_STATES.values()}
    zones |= {z for rules in geo.ZIP_TIME_ZONES.values() for z in rules.values()}
    for zone in zones:
        zoneinfo.ZoneInfo(zone)
        assert geo.us_time_zone_group(zone) in geo.US_TIME_ZONE_GROUPS
    for code, rules in geo.ZIP_TIME_ZONES.items():
        assert code in geo.US_STATES
        assert all(re.fullmatch(r"\d{3}|\d{5}", prefix) for prefix in rules)
    states_only = {
        s.time_zone for s in geo.US_STATES.values() if s.kind != "territory" and s.code != "HI"
    }
    assert {geo.us_time_zone_group(z) for z in states_only} == {
        "Eastern",
        "Central",
        "Mountain",
        "Pacific",
        "Alaska",
    }
