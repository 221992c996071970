"""Orders API v2026-01-01 objects flattened into order and item rows, PII turned into keys."""

from __future__ import annotations

from sellerops import identity
from sellerops.sources.orders import order_rows

PEPPER = b"p"

ORDER = {
    "orderId": "112-3456789-0123456",
    "createdTime": "2026-11-03T01:15:00Z",
    "lastUpdatedTime": "2026-11-04T10:00:00Z",
    "programs": ["AMAZON_BUSINESS"],
    "salesChannel": {"channelName": "Amazon.com", "marketplaceId": "ATVPDKIKX0DER"},
    "buyer": {"buyerEmail": "abc123@marketplace.amazon.com", "buyerName": "Zoë Smith"},
    "recipient": {
        "deliveryAddress": {
            "name": "Zoë Smith",
            "addressLine1": "1 Main St",
            "city": "Denver",
            "stateOrRegion": "CO",
            "postalCode": "80202",
            "countryCode": "US",
        }
    },
    "proceeds": {"grandTotal": {"amount": "41.97", "currencyCode": "USD"}},
    "fulfillment": {
        "fulfillmentStatus": "SHIPPED",
        "fulfilledBy": "MERCHANT",
        "deliverByWindow": {
            "earliestDateTime": "2026-11-06T08:00:00Z",
            "latestDateTime": "2026-11-09T07:59:59Z",
        },
    },
    "packages": [
        {"packageReferenceId": "1", "shipTime": "2026-11-04T09:00:00Z"},
        {"packageReferenceId": "2", "shipTime": "2026-11-04T08:00:00Z"},
    ],
    "orderItems": [
        {
            "orderItemId": "12345678901234",
            "quantityOrdered": 3,
            "product": {"asin": "B0ABCDEFGH", "sellerSku": "TENT-1"},
            "proceeds": {
                "breakdowns": [
                    {"type": "ITEM", "subtotal": {"amount": "36.00", "currencyCode": "USD"}},
                    {"type": "TAX", "subtotal": {"amount": "2.97", "currencyCode": "USD"}},
                    {"type": "SHIPPING", "subtotal": {"amount": "5.00", "currencyCode": "USD"}},
                    {"type": "DISCOUNT", "subtotal": {"amount": "-2.00", "currencyCode": "USD"}},
                ]
            },
            "promotion": {"breakdowns": [{"promotionId": "PROMO-FALL"}]},
        }
    ],
}


def test_order_row_values():
    orders, items = order_rows([ORDER], "acme-outdoor", PEPPER)
    (order,) = orders
    assert order["order_id"] == "112-3456789-0123456"
    assert order["order_status"] == "SHIPPED"
    assert order["fulfillment_channel"] == "MFN"
    assert order["is_business_order"] is True
    assert order["buyer_email_key"] == identity.key_from_email(
        PEPPER, "abc123@marketplace.amazon.com"
    )
    assert order["buyer_recipient_key"] == identity.key_from_recipient(
        PEPPER, "Zoë Smith", "80202", "US"
    )
    assert order["identity_source"] == "buyer_email"
    assert (order["ship_city"], order["ship_state"], order["ship_postal_code"]) == (
        "Denver",
        "CO",
        "80202",
    )
    assert order["ship_time"] == "2026-11-04T08:00:00Z"  # the first package
    assert order["latest_delivery_time"] == "2026-11-09T07:59:59Z"
    assert (order["order_total"], order["currency"]) == (41.97, "USD")
    assert order["promotion_ids"] == "PROMO-FALL"
    (item,) = items
    assert (item["sku"], item["asin"], item["quantity"]) == ("TENT-1", "B0ABCDEFGH", 3)
    assert (item["item_price"], item["item_tax"], item["shipping_price"]) == (36.0, 2.97, 5.0)
    assert item["promotion_discount"] == 2.0


def test_no_personal_data_in_rows():
    orders, items = order_rows([ORDER], "acme-outdoor", PEPPER)
    text = repr(orders) + repr(items)
    for secret in ("Zoë", "Smith", "1 Main St", "abc123@"):
        assert secret not in text


def test_missing_buyer_falls_back_to_recipient():
    order = {**ORDER, "buyer": None}
    (row,), _ = order_rows([order], "acme-outdoor", PEPPER)
    key = identity.key_from_recipient(PEPPER, "Zoë Smith", "80202", "US")
    assert (row["buyer_email_key"], row["buyer_recipient_key"]) == (None, key)
    assert row["identity_source"] == "recipient"


def test_no_buyer_and_no_recipient_loads_with_null_key():
    order = {**ORDER, "buyer": None, "recipient": None}
    (row,), _ = order_rows([order], "acme-outdoor", PEPPER)
    assert (row["buyer_email_key"], row["buyer_recipient_key"]) == (None, None)
    assert row["identity_source"] == "none"
