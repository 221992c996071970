"""Finances v0 refund events, Solicitations and Messaging, and the sends log."""

from __future__ import annotations

import pytest

from tests.sandbox.conftest import ACME, BLUEBIRD, JP, US

EVENTS = "/finances/v0/financialEvents"


def refund_events(sandbox, account=ACME, **params):
    response = sandbox.get(EVENTS, params=params, account=account)
    assert response.status_code == 200, response.text
    return response.json()["payload"]


def test_refund_events_filtered_by_posted_time(sandbox):
    payload = refund_events(sandbox, PostedAfter="2026-01-01T00:00:00Z")
    events = payload["FinancialEvents"]["RefundEventList"]
    assert [e["AmazonOrderId"] for e in events] == [
        "111-0000002-0000002",
        "250-0000008-0000008",
        "111-0000001-0000001",
        "111-0000003-0000003",
    ]
    assert "NextToken" not in payload
    lamp = events[2]
    assert lamp["PostedDate"] == "2026-02-22T08:00:00Z"
    assert lamp["MarketplaceName"] == "Amazon.com"
    (item,) = lamp["ShipmentItemAdjustmentList"]
    assert item["SellerSKU"] == "ACME-LAMP-01" and item["OrderAdjustmentItemId"] == "ADJ0001"
    assert item["QuantityShipped"] == 1
    assert item["ItemChargeAdjustmentList"] == [
        {
            "ChargeType": "Principal",
            "ChargeAmount": {"CurrencyCode": "USD", "CurrencyAmount": -24.99},
        }
    ]
    yen = events[1]["ShipmentItemAdjustmentList"][0]["ItemChargeAdjustmentList"][0]["ChargeAmount"]
    assert yen == {"CurrencyCode": "JPY", "CurrencyAmount": -19800.0}
    # PostedBefore is exclusive
    window = refund_events(
        sandbox, PostedAfter="2026-01-27T09:00:00Z", PostedBefore="2026-02-22T08:00:00Z"
    )
    assert [e["AmazonOrderId"] for e in window["FinancialEvents"]["RefundEventList"]] == [
        "111-0000002-0000002",
        "250-0000008-0000008",
    ]
    other = refund_events(sandbox, BLUEBIRD, PostedAfter="2026-01-01T00:00:00Z")
    assert {e["AmazonOrderId"] for e in other["FinancialEvents"]["RefundEventList"]} == {
        "112-0000011-0000011",
        "112-0000009-0000009",
    }


def test_refund_events_paging(sandbox):
    first = refund_events(sandbox, PostedAfter="2026-01-01T00:00:00Z", MaxResultsPerPage=3)
    assert len(first["FinancialEvents"]["RefundEventList"]) == 3
    second = refund_events(
        sandbox,
        PostedAfter="2026-01-01T00:00:00Z",
        MaxResultsPerPage=3,
        NextToken=first["NextToken"],
    )
    assert [e["AmazonOrderId"] for e in second["FinancialEvents"]["RefundEventList"]] == [
        "111-0000003-0000003"
    ]
    assert "NextToken" not in second
    mismatch = sandbox.get(
        EVENTS, params={"PostedAfter": "2026-01-02T00:00:00Z", "NextToken": first["NextToken"]}
    )
    assert mismatch.status_code == 400


def test_more_than_180_days_is_an_empty_answer(small_world, sandbox):
    payload = refund_events(sandbox, PostedAfter="2025-08-01T00:00:00Z")
    assert payload == {"FinancialEvents": {"RefundEventList": []}}


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({}, "PostedAfter is required"),
        ({"PostedBefore": "2026-02-01T00:00:00Z"}, "PostedAfter is required when PostedBefore"),
        ({"PostedAfter": "2026-03-01T00:01:00Z"}, "two minutes"),
        (
            {"PostedAfter": "2026-02-01T00:00:00Z", "PostedBefore": "2026-03-01T00:01:00Z"},
            "two minutes",
        ),
        (
            {"PostedAfter": "2026-02-01T00:00:00Z", "PostedBefore": "2026-01-01T00:00:00Z"},
            "later than PostedAfter",
        ),
        ({"PostedAfter": "2026-02-01T00:00:00Z", "MaxResultsPerPage": 101}, "between 1 and 100"),
        ({"PostedAfter": "2026-02-01T00:00:00Z", "NextToken": "nope"}, "could not decode"),
    ],
)
def test_invalid_financial_event_requests(sandbox, params, fragment):
    response = sandbox.get(EVENTS, params=params)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == "InvalidInput" and fragment in error["message"]


SOLICIT = "/solicitations/v1/orders/{}"
FEEDBACK = "/solicitations/v1/orders/{}/solicitations/productReviewAndSellerFeedback"


def actions(response):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/hal+json"
    return [a["name"] for a in response.json()["_links"]["actions"]]


@pytest.mark.parametrize(
    "account, order_id, marketplace, eligible",
    [
        (ACME, "111-0000001-0000001", US, True),  # delivered 15 days ago
        (ACME, "250-0000007-0000007", JP, True),  # 22 days
        (BLUEBIRD, "112-0000010-0000010", US, True),  # 6 days
        (ACME, "111-0000003-0000003", US, False),  # 2 days: too early
        (ACME, "111-0000002-0000002", US, False),  # 51 days: too late
        (ACME, "111-0000004-0000004", US, False),  # not shipped
        (ACME, "111-0000005-0000005", US, False),  # cancelled
    ],
)
def test_solicitation_window(sandbox, account, order_id, marketplace, eligible):
    names = actions(
        sandbox.get(
            SOLICIT.format(order_id), params={"marketplaceIds": marketplace}, account=account
        )
    )
    assert names == (["productReviewAndSellerFeedback"] if eligible else [])


def test_solicitation_is_sent_once(sandbox):
    order = "111-0000001-0000001"
    body = sandbox.get(SOLICIT.format(order), params={"marketplaceIds": US}).json()
    href = body["_links"]["actions"][0]["href"]
    assert href == f"{FEEDBACK.format(order)}?marketplaceIds={US}"
    assert body["_links"]["self"]["href"] == f"{SOLICIT.format(order)}?marketplaceIds={US}"
    first = sandbox.post(href)
    assert first.status_code == 201 and first.json() == {}
    second = sandbox.post(href)
    assert second.status_code == 403
    assert second.json()["errors"][0] == {
        "code": "Unauthorized",
        "message": "The requested solicitation is not available for this amazonOrderId.",
        "details": "",
    }
    assert actions(sandbox.get(SOLICIT.format(order), params={"marketplaceIds": US})) == []
    sends = sandbox.http.get("/sandbox/sends").json()["sends"]
    assert len(sends) == 1
    assert sends[0]["action"] == "productReviewAndSellerFeedback" and sends[0]["accountId"] == ACME
    assert sends[0]["amazonOrderId"] == order and sends[0]["sentAt"] == "2026-03-01T00:02:00Z"


def test_solicitation_outside_window_error(sandbox):
    response = sandbox.post(FEEDBACK.format("111-0000003-0000003"), params={"marketplaceIds": US})
    assert response.status_code == 403
    assert "outside the 5-30 day range" in response.json()["errors"][0]["message"]
    sandbox.clock.advance(days=4)  # now 5+ days after delivery (02-27 17:00)
    sandbox.forget_tokens()
    assert (
        sandbox.post(
            FEEDBACK.format("111-0000003-0000003"), params={"marketplaceIds": US}
        ).status_code
        == 201
    )


def test_solicitation_parameter_errors(sandbox):
    missing = sandbox.get(SOLICIT.format("111-0000001-0000001"))
    assert missing.status_code == 400
    assert (
        missing.json()["errors"][0]["message"]
        == "Missing or invalid request parameters: [marketplaceIds]"
    )
    assert (
        sandbox.get(
            SOLICIT.format("111-0000001-0000001"), params={"marketplaceIds": f"{US},{JP}"}
        ).status_code
        == 400
    )
    assert (
        sandbox.get(
            SOLICIT.format("112-0000009-0000009"), params={"marketplaceIds": US}
        ).status_code
        == 404
    )
    assert (
        sandbox.get(
            SOLICIT.format("111-0000001-0000001"), params={"marketplaceIds": JP}
        ).status_code
        == 404
    )


MESSAGING = "/messaging/v1/orders/{}"


@pytest.mark.parametrize(
    "order_id, expected",
    [
        (
            "111-0000004-0000004",
            ["confirmOrderDetails", "confirmDeliveryDetails", "unexpectedProblem"],
        ),  # MFN unshipped
        ("111-0000001-0000001", ["warranty", "unexpectedProblem"]),  # AFN delivered
        ("111-0000003-0000003", ["warranty", "unexpectedProblem"]),  # MFN delivered
        ("111-0000002-0000002", []),  # delivered 51 days ago
        ("111-0000005-0000005", []),  # cancelled
        ("111-0000006-0000006", []),  # pending
    ],
)
def test_messaging_actions(sandbox, order_id, expected):
    assert (
        actions(sandbox.get(MESSAGING.format(order_id), params={"marketplaceIds": US})) == expected
    )


def test_messages_are_recorded(sandbox):
    order = "111-0000004-0000004"
    url = MESSAGING.format(order) + "/messages/{}"
    ok = sandbox.post(
        url.format("confirmDeliveryDetails"),
        params={"marketplaceIds": US},
        json={"text": "Is the gate code still 1234?"},
    )
    assert ok.status_code == 201
    assert (
        sandbox.post(
            url.format("unexpectedProblem"),
            params={"marketplaceIds": US},
            json={"text": "A delay."},
        ).status_code
        == 201
    )
    not_offered = sandbox.post(url.format("warranty"), params={"marketplaceIds": US}, json={})
    assert not_offered.status_code == 403
    assert (
        sandbox.post(
            url.format("confirmDeliveryDetails"), params={"marketplaceIds": US}, json={}
        ).status_code
        == 400
    )
    assert (
        sandbox.post(
            url.format("confirmDeliveryDetails"),
            params={"marketplaceIds": US},
            json={"text": "x" * 2001},
        ).status_code
        == 400
    )
    assert (
        sandbox.post(url.format("confirmDeliveryDetails"), json={"text": "hi"}).status_code == 400
    )
    warranty = sandbox.post(
        MESSAGING.format("111-0000001-0000001") + "/messages/warranty",
        params={"marketplaceIds": US},
        json={
            "coverageStartDate": "2026-02-13T00:00:00Z",
            "coverageEndDate": "2027-02-13T00:00:00Z",
        },
    )
    assert warranty.status_code == 201
    sends = sandbox.http.get("/sandbox/sends", params={"accountId": ACME}).json()["sends"]
    assert [(s["api"], s["action"]) for s in sends] == [
        ("messaging", "confirmDeliveryDetails"),
        ("messaging", "unexpectedProblem"),
        ("messaging", "warranty"),
    ]
    assert sends[0]["body"] == {"text": "Is the gate code still 1234?"}
    assert (
        sandbox.http.get("/sandbox/sends", params={"amazonOrderId": "111-0000001-0000001"}).json()[
            "sends"
        ][0]["action"]
        == "warranty"
    )
    assert sandbox.http.get("/sandbox/sends", params={"accountId": BLUEBIRD}).json() == {
        "sends": []
    }


def test_buyer_attributes(sandbox):
    us = sandbox.get(
        MESSAGING.format("111-0000001-0000001") + "/attributes", params={"marketplaceIds": US}
    )
    assert us.json() == {"buyer": {"locale": "en-US"}}
    jp = sandbox.get(
        MESSAGING.format("250-0000007-0000007") + "/attributes", params={"marketplaceIds": JP}
    )
    assert jp.json() == {"buyer": {"locale": "ja-JP"}}
