"""Every default tag of include/tags.yaml selects exactly the hand-worked buyers (both databases)."""

from __future__ import annotations

import pytest
import tagworld

from sellerops.tags import load_rules, materialise_tags

DEFAULTS = load_rules()


def test_every_default_tag_has_an_expectation():
    assert set(tagworld.EXPECTED) == {t.name for t in DEFAULTS.tags}


def current(wh) -> dict[str, dict[tuple[str, str], dict]]:
    out: dict[str, dict[tuple[str, str], dict]] = {}
    for row in tagworld.fetch(
        wh, "SELECT * FROM marts.buyer_tags_current WHERE source = 'rule' ORDER BY tag"
    ):
        out.setdefault(row["tag"], {})[(row["account_id"], row["buyer_key"])] = row
    return out


@pytest.mark.parametrize("tag", sorted(tagworld.EXPECTED))
def test_default_tag_selects_exactly_the_expected_buyers(world, tag):
    report = materialise_tags(world, DEFAULTS)
    members = current(world).get(tag, {})
    assert set(members) == tagworld.EXPECTED[tag]
    assert report.tags[tag].current == len(tagworld.EXPECTED[tag])
    version = DEFAULTS.get(tag).rule_version
    for row in members.values():
        assert row["rule_version"] == version
        assert row["reason"]
        assert row["marketplace_id"] == (
            tagworld.US if row["account_id"] == tagworld.SHOP else tagworld.JP
        )


def test_default_reasons(world):
    materialise_tags(world, DEFAULTS)
    tags = current(world)
    shop = tagworld.SHOP
    assert tags["discount_responsive"][(shop, "b01")]["reason"] == (
        "orders (discounted, min_units 3) >= 1 (1); orders >= 2 (2)"
    )
    assert tags["brand_loyalist"][(shop, "b04")]["reason"] == "orders per brand >= 2 (brand Brew)"
    assert tags["brand_loyalist"][(tagworld.TEA, "jp2")]["reason"] == (
        "orders per brand >= 2 (brand Sakura)"
    )
    assert tags["high_value"][(shop, "b20")]["reason"] == (
        "rfm_segment = champions (champions); monetary_score >= 4 (5)"
    )
    assert tags["refunded_without_return"][(shop, "b12")]["reason"] == (
        "orders (status any, refunded, not returned) >= 1 (1)"
    )
    assert tags["presales_no_order"][(shop, "b13")]["reason"] == (
        "presales_inquiries >= 1 (1); orders = 0 (0); cancelled_orders = 0 (0)"
    )
    assert tags["tz_alaska_hawaii"][(shop, "b08")]["reason"] == (
        "time_zone_group in [Alaska, Hawaii] (Hawaii)"
    )
    for row in (r for members in tags.values() for r in members.values()):
        assert row["valid_from"] == tagworld.AS_OF
