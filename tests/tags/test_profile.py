"""`sellerops buyer show`: one buyer's profile for people, with tags and their reasons."""

from __future__ import annotations

from datetime import timedelta

import pytest
import tagworld
from tagworld import AS_OF, SHOP, TEA

from sellerops.tags import BuyerNotFound, add_manual_tag, buyer_show, load_rules, materialise_tags

DEFAULTS = load_rules()


def line(text: str, label: str) -> str:
    for row in text.splitlines():
        if row.strip().startswith(label + ":"):
            return row.split(":", 1)[1].strip()
    raise AssertionError(f"no {label!r} line in:\n{text}")


def test_buyer_show_prints_the_profile_and_the_tags_with_reasons(world):
    materialise_tags(world, DEFAULTS)
    add_manual_tag(
        world,
        SHOP,
        "b01",
        "vip",
        note="wholesale lead",
        added_by="alice",
        at=AS_OF + timedelta(hours=1),
    )
    text = buyer_show(world, SHOP, "b01")
    assert text.startswith(f"Buyer b01 - account {SHOP}, marketplace {tagworld.US}\n")
    assert "profile as of 2025-06-30 12:00 UTC" in text
    assert line(text, "Orders") == "2 (first 2025-05-01, last 2025-06-10, 20 days ago); cancelled 0"
    # 3 tents at 100 less 30 promotion, then a 50 lantern.
    assert line(text, "Amount") == "320.00 USD"
    assert line(text, "Units") == "4 (at most 3 in one order)"
    assert line(text, "Average order") == "160.00 USD"
    assert line(text, "Times bought") == "2025-05-01 111-0000000-0000001 3 u 270.00 USD promo"
    assert "2025-06-10 111-0000000-0000002 1 u 50.00 USD" in text
    assert line(text, "Categories") == "Tents (3 u), Lighting (1 u)"
    assert line(text, "Feedback given") == "5/5 on 2025-05-10 (111-0000000-0000001)"
    assert line(text, "Messages") == "0 sent, 0 pre-sales inquiries"
    assert line(text, "Lifecycle, RFM").startswith("growing; RFM 435 (loyal)")
    assert (
        "    - discount_responsive (rule v"
        + DEFAULTS.get("discount_responsive").rule_version
        + ", since 2025-06-30 12:00 UTC): orders (discounted, min_units 3) >= 1 (1); orders >= 2 (2)"
    ) in text
    assert "    - brand_loyalist (rule v" in text and "orders per brand >= 2 (brand Acme)" in text
    assert (
        "    - vip (manual, since 2025-06-30 13:00 UTC): tagged by hand by alice: wholesale lead"
        in text
    )
    assert "Earlier tags" not in text


def test_buyer_show_feedback_messages_and_history(world, tmp_path):
    materialise_tags(world, DEFAULTS)
    text = buyer_show(world, SHOP, "b05")
    assert line(text, "Feedback given") == "2/5 on 2025-06-08 (111-0000000-0000008)"
    assert line(text, "Messages") == "2 sent, 0 pre-sales inquiries; last 2025-06-10 09:00 UTC"
    assert "low_marketing_value (rule" in text and "negative_feedback >= 1 (1)" in text

    from sellerops.models import runner

    tagworld.insert_new_day(world)
    runner.build(world, accounts=tagworld.ACCOUNTS, catalog_path=tagworld.write_catalog(tmp_path))
    materialise_tags(world, DEFAULTS)
    text = buyer_show(world, SHOP, "b07")
    assert (
        "  Earlier tags:\n    - at_risk (rule) 2025-06-30 12:00 UTC to 2025-07-02 12:00 UTC" in text
    )
    assert "at_risk (rule v" not in text


def test_buyer_without_orders_and_other_accounts(world):
    materialise_tags(world, DEFAULTS)
    text = buyer_show(world, SHOP, "b13")
    assert line(text, "Orders").startswith("0 ")
    assert line(text, "Times bought") == "never"
    assert "presales_no_order (rule" in text
    jp = buyer_show(world, TEA, "jp2")
    assert line(jp, "Amount") == "2,000 JPY"
    assert "brand Sakura" in jp
    # The same key in another account is another buyer.
    assert line(buyer_show(world, TEA, "b01"), "Orders").startswith("1 ")


def test_unknown_buyer(world):
    with pytest.raises(BuyerNotFound, match="no buyer 'nobody' in account 'shop-us'"):
        buyer_show(world, SHOP, "nobody")


def test_buyer_show_before_any_tag_run_and_for_manual_only_buyers(world):
    text = buyer_show(world, SHOP, "b03")
    assert "  Tags: none" in text
    add_manual_tag(world, SHOP, "lead-1", "prospect", marketplace_id=tagworld.US, at=AS_OF)
    text = buyer_show(world, SHOP, "lead-1")
    assert "no row in marts.buyer_profile" in text
    assert "    - prospect (manual, since 2025-06-30 12:00 UTC)" in text
