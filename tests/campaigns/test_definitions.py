"""Campaign definitions: the shipped file is valid, and policy breaches are rejected with the reason."""

from __future__ import annotations

import copy

import pytest
import yaml

from sellerops.accounts import Account, AccountsFile
from sellerops.campaigns import definitions as defs

REVIEW = {
    "name": "review",
    "channel": "amazon_review_request",
    "purpose": "review_request",
    "trigger": {"event": "delivery", "days": 7},
}
MESSAGE = {
    "name": "delivery",
    "channel": "amazon_message",
    "purpose": "delivery_coordination",
    "trigger": {"event": "shipment", "days": 2},
    "message": {"type": "confirmDeliveryDetails", "text": "Does the carrier need a gate code?"},
}
EXPORT = {
    "name": "export",
    "channel": "audience_export",
    "purpose": "cross_sell",
    "trigger": {"event": "order", "days": 0},
}


def parse(*campaigns: dict) -> defs.CampaignsFile:
    return defs.parse_campaigns({"version": 1, "campaigns": list(campaigns)}, "test.yaml")


def rejected(campaign: dict) -> str:
    with pytest.raises(defs.CampaignsError) as error:
        parse(campaign)
    return str(error.value)


def with_(base: dict, **changes) -> dict:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        out[key] = value
    return out


def test_shipped_campaigns_are_valid_and_dry():
    shipped = defs.load_campaigns(defs.DEFAULT_CAMPAIGNS_FILE)
    by_name = {c.name: c for c in shipped.campaigns}
    assert set(by_name) == {
        "review_request_7d",
        "confirm_delivery_details_mfn",
        "repeat_buyers_export",
    }
    assert not any(c.live for c in shipped.campaigns)  # dry run until switched live
    review = by_name["review_request_7d"]
    assert review.channel == "amazon_review_request" and review.trigger.days == 7
    assert set(review.effective_exclusions) == set(defs.EXCLUSIONS)
    assert "low_marketing_value" in review.audience.exclude_tags
    message = by_name["confirm_delivery_details_mfn"]
    assert message.audience.fulfillment_channels == ("MFN",)
    assert message.action == "confirmDeliveryDetails"
    assert message.message.body("111-0000000-0000001")["text"].count("111-0000000-0000001") == 1
    export = by_name["repeat_buyers_export"]
    assert export.audience.include_tags == ("repeat_buyer",)
    assert export.export_settings.key == "buyer_key"


def test_schema_file_is_current():
    assert defs.SCHEMA_FILE.read_text(encoding="utf-8") == defs.render_json_schema(), (
        "include/campaigns.schema.json is stale: run "
        "python -c 'from sellerops.campaigns.definitions import write_json_schema; write_json_schema()'"
    )


@pytest.mark.parametrize("purpose", sorted(defs.PROMOTIONAL_PURPOSES))
def test_promotional_purpose_on_amazon_messaging_is_rejected(purpose):
    text = rejected(with_(MESSAGE, purpose=purpose))
    assert "campaign 'delivery'" in text
    assert f"purpose {purpose!r} is promotional" in text
    assert "Amazon forbids marketing, promotional and 'thank you' messages" in text
    assert "audience_export" in text  # where it may go instead
    assert "promotional" in rejected(with_(REVIEW, purpose=purpose))
    assert parse(with_(EXPORT, purpose=purpose)).campaigns[0].purpose == purpose


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Use coupon SAVE10 on your next order", "marketing or promotional"),
        ("Get 20% off your next order", "marketing or promotional"),
        ("Please leave us a review if you liked it", "asking for reviews or feedback"),
        ("Thank you for your purchase!", "'thank you' messages"),
        ("Track it at https://example.com/track", "links are not allowed"),
        ("<b>Hello</b>, your parcel", "HTML is not allowed"),
        ("Check out our new arrivals when it lands", "cross-selling"),
    ],
)
def test_marketing_in_message_text_is_rejected(text, why):
    message = with_(MESSAGE, message={"type": "confirmDeliveryDetails", "text": text})
    assert why in rejected(message)
    assert defs.lint_message_text(text)
    assert defs.lint_message_text("Your order {order_id} is delayed by a day; sorry.") == []


def test_message_types_and_purposes():
    assert "may not be sent by a campaign" in rejected(
        with_(MESSAGE, message={"type": "legalDisclosure"})
    )
    assert "serves purpose 'delivery_coordination', not 'order_problem'" in rejected(
        with_(MESSAGE, purpose="order_problem")
    )
    warranty = parse(with_(MESSAGE, purpose="warranty", message={"type": "warranty"})).campaigns[0]
    assert warranty.message.body("x") == {}
    assert "carries no text" in rejected(
        with_(MESSAGE, purpose="warranty", message={"type": "warranty", "text": "hi"})
    )
    assert "needs a text" in rejected(with_(MESSAGE, message={"type": "unexpectedProblem"}))
    assert "allows 800" in rejected(
        with_(
            MESSAGE,
            purpose="order_details",
            message={"type": "confirmCustomizationDetails", "text": "x" * 801},
        )
    )
    assert "needs a message" in rejected(with_(MESSAGE, message=None))
    assert "takes no message" in rejected(with_(REVIEW, message=MESSAGE["message"]))
    assert "only allowed through channel amazon_review_request" in rejected(
        with_(MESSAGE, purpose="review_request")
    )


def test_review_request_timing_follows_amazons_window():
    assert "only 5 to 30 days after delivery" in rejected(
        with_(REVIEW, trigger={"event": "delivery", "days": 4})
    )
    assert "only 5 to 30 days after delivery" in rejected(
        with_(REVIEW, trigger={"event": "delivery", "days": 31})
    )
    assert "timed from the delivery" in rejected(
        with_(REVIEW, trigger={"event": "shipment", "days": 7})
    )
    assert "must be after trigger.days" in rejected(with_(REVIEW, limits={"give_up_after_days": 6}))
    ok = parse(with_(REVIEW, trigger={"event": "delivery", "days": 30})).campaigns[0]
    assert ok.give_up_after_days == 35


def test_exclusion_defaults_and_the_ones_that_always_apply():
    review, message, export = parse(REVIEW, MESSAGE, EXPORT).campaigns
    assert review.effective_exclusions == defs.EXCLUSIONS
    assert message.effective_exclusions == ("cancelled", "already_solicited", "opted_out")
    assert export.effective_exclusions == ("cancelled", "opted_out")
    bare = parse(with_(REVIEW, exclusions=[])).campaigns[0]
    assert bare.effective_exclusions == ("already_solicited", "opted_out")
    assert "nothing could ever be sent" in rejected(
        with_(EXPORT, trigger={"event": "return", "days": 1}, exclusions=["returned"])
    )
    assert "campaign 'export': exclusions" in rejected(with_(EXPORT, exclusions=["weekends"]))


def test_audience_and_products():
    assert "both included and excluded" in rejected(
        with_(EXPORT, audience={"include_tags": ["a"], "exclude_tags": ["a"]})
    )
    assert "needs a list of asins" in rejected(with_(EXPORT, products={"scope": "only"}))
    assert "takes no asins" in rejected(
        with_(EXPORT, products={"scope": "all", "asins": ["B000000001"]})
    )
    assert "not ASINs" in rejected(with_(EXPORT, products={"scope": "only", "asins": ["nope"]}))
    products = defs.Products(scope="except", asins=("b000000001",))
    assert products.asins == ("B000000001",)
    assert products.matches({"B000000002"}) and not products.matches({"B000000001", "X"})
    only = defs.Products(scope="only", asins=("B000000001",))
    assert only.matches({"B000000001", "B000000002"}) and not only.matches(set())


def test_file_level_checks_name_the_campaign_and_field():
    text = rejected(with_(EXPORT, holdout=1.0))
    assert "campaign 'export': holdout" in text
    with pytest.raises(defs.CampaignsError, match="repeated"):
        parse(EXPORT, EXPORT)
    assert "Extra inputs are not permitted" in rejected(with_(EXPORT, colour="red"))
    assert "send_window.start must be before" in rejected(
        with_(
            EXPORT,
            trigger={
                "event": "order",
                "days": 0,
                "send_window": {"start": "20:00", "end": "09:00"},
            },
        )
    )
    with pytest.raises(defs.CampaignsError, match="top level"):
        defs.parse_campaigns(["not", "a", "mapping"])


def test_accounts_are_checked_and_pairs_follow_the_accounts_file(tmp_path):
    accounts = AccountsFile(
        accounts=[
            Account(
                account_id="shop",
                name="Shop",
                spapi_conn_id="c",
                marketplaces=("ATVPDKIKX0DER", "A1VC38T7YXB528"),
                seller_time_zone="UTC",
            ),
            Account(
                account_id="other",
                name="Other",
                spapi_conn_id="d",
                marketplaces=("ATVPDKIKX0DER",),
                seller_time_zone="UTC",
            ),
        ]
    )
    file = parse(with_(EXPORT, accounts=["shop"], marketplaces=["A1VC38T7YXB528"]), REVIEW)
    defs.check_accounts(file, accounts)
    pairs = [(a.account_id, m) for a, m in defs.pairs(file.campaigns[0], accounts)]
    assert pairs == [("shop", "A1VC38T7YXB528")]
    assert len(defs.pairs(file.campaigns[1], accounts)) == 3
    with pytest.raises(defs.CampaignsError, match="unknown account 'nobody'"):
        defs.check_accounts(parse(with_(EXPORT, accounts=["nobody"])), accounts)
    with pytest.raises(defs.CampaignsError, match="no chosen account sells on A1VC38T7YXB528"):
        defs.check_accounts(
            parse(with_(EXPORT, accounts=["other"], marketplaces=["A1VC38T7YXB528"])), accounts
        )
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"campaigns": [EXPORT]}), encoding="utf-8")
    assert defs.load_campaigns(path).campaigns[0].name == "export"
    path.write_text("campaigns: [", encoding="utf-8")
    with pytest.raises(defs.CampaignsError, match="not valid YAML"):
        defs.load_campaigns(path)
    with pytest.raises(defs.CampaignsError, match="not found"):
        defs.load_campaigns(tmp_path / "missing.yaml")
