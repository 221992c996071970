"""Orders API 2026-01-01: searchOrders and getOrder."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.sandbox.conftest import ACME, BLUEBIRD, JP, US

SEARCH = "/orders/2026-01-01/orders"
ALL_DATA = "BUYER,RECIPIENT,PROCEEDS,EXPENSE,PROMOTION,CANCELLATION,FULFILLMENT,PACKAGES"


def search(sandbox, account=ACME, **params):
    return sandbox.get(SEARCH, params=params, account=account)


def all_pages(sandbox, account=ACME, **params):
    orders, pages = [], 0
    while True:
        response = search(sandbox, account, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        orders += body["orders"]
        pages += 1
        token = body.get("pagination", {}).get("nextToken")
        if not token:
            return orders, pages
        params["paginationToken"] = token


def test_search_by_created_time_returns_the_sellers_orders_in_order(sandbox):
    orders, pages = all_pages(sandbox, createdAfter="2026-01-01T00:00:00Z", maxResultsPerPage=3)
    ids = [o["orderId"] for o in orders]
    assert pages == 3
    assert ids == [
        "111-0000002-0000002",
        "250-0000008-0000008",
        "111-0000005-0000005",
        "250-0000007-0000007",
        "111-0000001-0000001",
        "111-0000003-0000003",
        "111-0000004-0000004",
        "111-0000006-0000006",
    ]
    bluebird, _ = all_pages(sandbox, BLUEBIRD, createdAfter="2026-01-01T00:00:00Z")
    assert {o["orderId"] for o in bluebird} == {
        "112-0000009-0000009",
        "112-0000010-0000010",
        "112-0000011-0000011",
    }


def test_response_echoes_the_effective_cutoff(sandbox):
    body = search(sandbox, createdAfter="2026-01-01T00:00:00Z").json()
    assert body["createdBefore"] == "2026-03-01T00:00:00Z"  # now - 2 minutes
    body = search(
        sandbox, lastUpdatedAfter="2026-02-01T00:00:00Z", lastUpdatedBefore="2026-02-15T00:00:00Z"
    ).json()
    assert body["lastUpdatedBefore"] == "2026-02-15T00:00:00Z"
    assert [o["orderId"] for o in body["orders"]] == [
        "111-0000005-0000005",
        "250-0000007-0000007",
        "111-0000001-0000001",
    ]


def test_filters(sandbox):
    def ids(**params):
        orders, _ = all_pages(sandbox, createdAfter="2026-01-01T00:00:00Z", **params)
        return {o["orderId"] for o in orders}

    assert ids(marketplaceIds=JP) == {"250-0000007-0000007", "250-0000008-0000008"}
    assert ids(fulfilledBy="MERCHANT", marketplaceIds=US) == {
        "111-0000002-0000002",
        "111-0000003-0000003",
        "111-0000004-0000004",
    }
    assert ids(fulfillmentStatuses="PENDING,CANCELLED") == {
        "111-0000005-0000005",
        "111-0000006-0000006",
    }
    # repeated array parameters work like CSV
    sandbox.refill()
    response = sandbox.http.get(
        SEARCH
        + "?createdAfter=2026-01-01T00:00:00Z&fulfillmentStatuses=PENDING&fulfillmentStatuses=UNSHIPPED",
        headers={"x-amz-access-token": sandbox.token()},
    )
    assert {o["orderId"] for o in response.json()["orders"]} == {
        "111-0000004-0000004",
        "111-0000006-0000006",
    }


def test_sections_only_when_included(sandbox):
    bare = search(
        sandbox, createdAfter="2026-02-10T00:00:00Z", createdBefore="2026-02-11T00:00:00Z"
    ).json()
    order = bare["orders"][0]
    assert order["orderId"] == "111-0000001-0000001"
    assert set(order) == {
        "orderId",
        "createdTime",
        "lastUpdatedTime",
        "programs",
        "salesChannel",
        "orderItems",
    }
    assert set(order["orderItems"][0]) == {"orderItemId", "quantityOrdered", "product"}
    assert order["orderItems"][0]["product"]["price"]["unitPrice"] == {
        "amount": "149.99",
        "currencyCode": "USD",
    }

    full = search(
        sandbox,
        createdAfter="2026-02-10T00:00:00Z",
        createdBefore="2026-02-11T00:00:00Z",
        includedData=ALL_DATA,
    ).json()["orders"][0]
    assert full["buyer"] == {"buyerName": "Jane Doe"}  # AFN: no buyerEmail
    assert full["recipient"]["deliveryAddress"]["city"] == "Seattle"
    assert full["fulfillment"]["fulfilledBy"] == "AMAZON"
    assert full["proceeds"]["grandTotal"] == {"amount": "202.97", "currencyCode": "USD"}
    tent = full["orderItems"][0]
    assert tent["promotion"] == {"breakdowns": [{"promotionId": "PROMO-SPRING"}]}
    assert tent["proceeds"]["proceedsTotal"]["amount"] == "148.49"
    assert "packages" not in full  # FBA orders have no packages


def test_buyer_withheld_when_world_says_so(sandbox):
    order = sandbox.get(
        "/orders/2026-01-01/orders/111-0000003-0000003", params={"includedData": "BUYER,RECIPIENT"}
    ).json()["order"]
    assert "buyer" not in order
    assert order["recipient"]["deliveryAddress"]["postalCode"] == "98101"
    mfn = sandbox.get(
        "/orders/2026-01-01/orders/111-0000002-0000002", params={"includedData": "BUYER,PACKAGES"}
    ).json()["order"]
    assert mfn["buyer"] == {
        "buyerName": "José Álvarez",
        "buyerEmail": "7hd82ks@marketplace.amazon.com",
    }
    assert mfn["packages"][0]["packageStatus"]["status"] == "DELIVERED"
    assert mfn["programs"] == ["AMAZON_BUSINESS"]


def test_jpy_amounts_have_no_decimals(sandbox):
    order = sandbox.get(
        "/orders/2026-01-01/orders/250-0000008-0000008", params={"includedData": "PROCEEDS"}
    ).json()["order"]
    assert order["proceeds"]["grandTotal"] == {"amount": "43000", "currencyCode": "JPY"}
    assert order["salesChannel"]["marketplaceName"] == "Amazon.co.jp"


def test_cancelled_order_sections(sandbox):
    order = sandbox.get(
        "/orders/2026-01-01/orders/111-0000005-0000005",
        params={"includedData": "CANCELLATION,FULFILLMENT"},
    ).json()["order"]
    assert order["fulfillment"]["fulfillmentStatus"] == "CANCELLED"
    assert order["orderItems"][0]["cancellation"]["cancellationExecution"]["cancelledBy"] == "BUYER"


def test_get_order_of_another_seller_is_not_found(sandbox):
    response = sandbox.get("/orders/2026-01-01/orders/112-0000009-0000009")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "NotFound"
    assert sandbox.get("/orders/2026-01-01/orders/not-an-id").status_code == 400


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({}, "Exactly one of createdAfter and lastUpdatedAfter"),
        (
            {"createdAfter": "2026-01-01T00:00:00Z", "lastUpdatedAfter": "2026-01-01T00:00:00Z"},
            "Exactly one",
        ),
        (
            {"createdAfter": "2026-01-01T00:00:00Z", "lastUpdatedBefore": "2026-02-01T00:00:00Z"},
            "neither lastUpdatedAfter",
        ),
        (
            {"lastUpdatedAfter": "2026-01-01T00:00:00Z", "createdBefore": "2026-02-01T00:00:00Z"},
            "neither createdAfter",
        ),
        (
            {"createdAfter": "2026-02-01T00:00:00Z", "createdBefore": "2026-01-01T00:00:00Z"},
            "equal to or after",
        ),
        (
            {"createdAfter": "2026-02-01T00:00:00Z", "createdBefore": "2026-03-01T00:01:00Z"},
            "two minutes before",
        ),
        ({"createdAfter": "2026-03-01T00:01:00Z"}, "two minutes before"),
        ({"createdAfter": "yesterday"}, "ISO 8601"),
        ({"createdAfter": "2026-01-01T00:00:00Z", "maxResultsPerPage": 101}, "between 1 and 100"),
        ({"createdAfter": "2026-01-01T00:00:00Z", "maxResultsPerPage": 0}, "between 1 and 100"),
        (
            {"createdAfter": "2026-01-01T00:00:00Z", "fulfillmentStatuses": "LOST"},
            "fulfillmentStatuses",
        ),
        ({"createdAfter": "2026-01-01T00:00:00Z", "includedData": "EVERYTHING"}, "includedData"),
        ({"createdAfter": "2026-01-01T00:00:00Z", "fulfilledBy": "ME"}, "fulfilledBy"),
        (
            {"createdAfter": "2026-01-01T00:00:00Z", "marketplaceIds": "A1PA6795UKMFR9"},
            "marketplaceIds",
        ),
    ],
)
def test_invalid_searches_are_400(sandbox, params, fragment):
    response = search(sandbox, **params)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == "InvalidInput"
    assert fragment in error["message"] + error["details"]


def test_pagination_token_must_come_with_the_same_parameters(sandbox):
    first = search(sandbox, createdAfter="2026-01-01T00:00:00Z", maxResultsPerPage=2).json()
    token = first["pagination"]["nextToken"]
    # maxResultsPerPage and includedData may change
    ok = search(
        sandbox,
        createdAfter="2026-01-01T00:00:00Z",
        maxResultsPerPage=5,
        includedData="BUYER",
        paginationToken=token,
    )
    assert ok.status_code == 200
    assert ok.json()["orders"][0]["orderId"] == "111-0000005-0000005"
    # other parameters may not
    changed = search(sandbox, createdAfter="2026-01-02T00:00:00Z", paginationToken=token)
    assert changed.status_code == 400 and "does not match" in changed.json()["errors"][0]["message"]
    alone = search(sandbox, paginationToken=token)
    assert alone.status_code == 400
    garbage = search(sandbox, createdAfter="2026-01-01T00:00:00Z", paginationToken="bogus")
    assert (
        garbage.status_code == 400 and "could not decode" in garbage.json()["errors"][0]["message"]
    )
    # tokens belong to the seller
    other = search(sandbox, BLUEBIRD, createdAfter="2026-01-01T00:00:00Z", paginationToken=token)
    assert other.status_code == 400


def test_pagination_tokens_expire_after_24_hours(sandbox):
    first = search(sandbox, createdAfter="2026-01-01T00:00:00Z", maxResultsPerPage=2).json()
    token = first["pagination"]["nextToken"]
    sandbox.clock.advance(timedelta(hours=24, seconds=1).total_seconds())
    sandbox.forget_tokens()  # access tokens live one hour
    response = search(sandbox, createdAfter="2026-01-01T00:00:00Z", paginationToken=token)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == "InvalidInput"
    assert error["message"] == "The paginationToken has expired."


def test_pages_keep_the_first_requests_cutoff(sandbox):
    first = search(sandbox, lastUpdatedAfter="2026-01-01T00:00:00Z", maxResultsPerPage=4).json()
    sandbox.clock.advance(600)
    second = search(
        sandbox,
        lastUpdatedAfter="2026-01-01T00:00:00Z",
        paginationToken=first["pagination"]["nextToken"],
    ).json()
    assert second["lastUpdatedBefore"] == first["lastUpdatedBefore"] == "2026-03-01T00:00:00Z"
    assert len(first["orders"]) + len(second["orders"]) == 8
