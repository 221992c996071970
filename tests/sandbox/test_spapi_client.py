"""python-amazon-sp-api, unchanged, against the running sandbox.

Only the library's own client classes are used; the adapters from
``sellerops.sandbox.client`` point them at the sandbox.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime

import httpx
import pytest
from sp_api.api import Finances, Messaging, Orders, OrdersV20260101, ReportsV2, Solicitations
from sp_api.base import (
    SellingApiBadRequestException,
    SellingApiForbiddenException,
    SellingApiRequestThrottledException,
    SellingApiServerException,
    SellingApiTemporarilyUnavailableException,
)
from sp_api.util import load_all_pages

from sellerops.sandbox import reports as rpt
from sellerops.sandbox.client import (
    clear_token_cache,
    client_kwargs,
    is_expired_token_error,
    sandbox_marketplace,
    token_client_class,
)
from sellerops.sandbox.faults import FaultRule
from tests.sandbox.conftest import ACME, BLUEBIRD, JP, US


@pytest.fixture
def url(sandbox):
    return sandbox.url


def test_adapters(url):
    marketplace = sandbox_marketplace(url + "/", JP)
    assert (
        marketplace.endpoint == url
        and marketplace.marketplace_id == JP
        and marketplace.region == "us-west-2"
    )
    cls = token_client_class(url)
    assert cls.scheme + cls.host + cls.path == url + "/auth/o2/token"
    with pytest.raises(ValueError):
        token_client_class("localhost:8000")


def test_orders_page_by_page(url):
    client = Orders(version="2026-01-01", **client_kwargs(url, ACME, US))
    assert isinstance(client, OrdersV20260101)

    @load_all_pages(throttle_by_seconds=0, next_token_param="paginationToken")
    def pages(**kwargs):
        return client.search_orders(**kwargs)

    responses = list(
        pages(
            createdAfter="2026-01-01T00:00:00Z",
            maxResultsPerPage=2,
            includedData=["BUYER", "FULFILLMENT"],
        )
    )
    assert len(responses) == 3  # six US orders, two per page
    orders = [o for r in responses for o in r.payload["orders"]]
    assert [o["orderId"] for o in orders] == [
        "111-0000002-0000002",
        "111-0000005-0000005",
        "111-0000001-0000001",
        "111-0000003-0000003",
        "111-0000004-0000004",
        "111-0000006-0000006",
    ]
    assert all("fulfillment" in o for o in orders)
    assert responses[0].rate_limit == "0.0056"
    assert responses[-1].next_token is None

    order = client.get_order("111-0000001-0000001", includedData=["PROCEEDS"]).payload["order"]
    assert order["proceeds"]["grandTotal"]["amount"] == "202.97"

    japan = OrdersV20260101(**client_kwargs(url, ACME, JP)).search_orders(
        createdAfter="2026-01-01T00:00:00Z"
    )
    assert {o["orderId"] for o in japan.payload["orders"]} == {
        "250-0000007-0000007",
        "250-0000008-0000008",
    }


def _wait_done(sandbox, reports, report_id):
    for _ in range(10):
        report = reports.get_report(report_id).payload
        if report["processingStatus"] in ("DONE", "CANCELLED", "FATAL"):
            return report
        sandbox.clock.advance(1)
    raise AssertionError("report never finished")


@pytest.mark.parametrize(
    "report_type, start, marketplaces, first_column",
    [
        (rpt.ALL_ORDERS, datetime(2026, 2, 1, tzinfo=UTC), [US], "amazon-order-id"),
        (rpt.MFN_RETURNS, datetime(2026, 1, 1, tzinfo=UTC), [US, JP], "Order ID"),
        (rpt.FBA_RETURNS, datetime(2026, 2, 1, tzinfo=UTC), [US], "return-date"),
        (rpt.SELLER_FEEDBACK, datetime(2026, 1, 1, tzinfo=UTC), [US, JP], "Date"),
    ],
)
def test_create_and_download_each_report(
    sandbox, url, report_type, start, marketplaces, first_column
):
    reports = ReportsV2(**client_kwargs(url, ACME, US))
    created = reports.create_report(
        reportType=report_type,
        marketplaceIds=marketplaces,
        dataStartTime=start,
        dataEndTime=datetime(2026, 2, 28, 23, 59, tzinfo=UTC),
    )
    report = _wait_done(sandbox, reports, created.payload["reportId"])
    assert report["processingStatus"] == "DONE"
    document = reports.get_report_document(report["reportDocumentId"], download=True)
    assert document.payload["compressionAlgorithm"] == "GZIP"
    assert document.character_code.lower() == "utf-8"
    text = document.payload["document"]
    header = text.splitlines()[0].split("\t")
    assert header[0] == first_column and header == list(rpt.REPORT_SPECS[report_type].columns)
    assert len(text.splitlines()) > 1


def test_report_refused_window_and_corrupt_document(sandbox, url):
    reports = ReportsV2(**client_kwargs(url, ACME, US))
    created = reports.create_report(
        reportType=rpt.ALL_ORDERS,
        dataStartTime="2026-01-01T00:00:00Z",
        dataEndTime="2026-02-28T00:00:00Z",
    )
    report = _wait_done(sandbox, reports, created.payload["reportId"])
    assert report["processingStatus"] == "FATAL"
    error = reports.get_report_document(report["reportDocumentId"], download=True).payload[
        "document"
    ]
    assert "Date range exceeded" in error

    sandbox.state.faults.add(FaultRule("corrupt_document", count=1))
    with pytest.raises(zlib.error):
        reports.get_report_document(report["reportDocumentId"], download=True)


def test_financial_events(url):
    finances = Finances(**client_kwargs(url, ACME, US))

    @load_all_pages(throttle_by_seconds=0, next_token_param="NextToken")
    def pages(**kwargs):
        return finances.list_financial_events(**kwargs)

    events = [
        e
        for page in pages(PostedAfter="2026-01-01T00:00:00Z", MaxResultsPerPage=1)
        for e in page.payload["FinancialEvents"]["RefundEventList"]
    ]
    assert [e["AmazonOrderId"] for e in events] == [
        "111-0000002-0000002",
        "250-0000008-0000008",
        "111-0000001-0000001",
        "111-0000003-0000003",
    ]
    charge = events[0]["ShipmentItemAdjustmentList"][0]["ItemChargeAdjustmentList"][0]
    assert charge == {
        "ChargeType": "Principal",
        "ChargeAmount": {"CurrencyCode": "USD", "CurrencyAmount": -149.99},
    }
    with pytest.raises(SellingApiBadRequestException):
        finances.list_financial_events(PostedAfter="2026-03-01T00:01:00Z")


def test_solicitation_once(sandbox, url):
    solicitations = Solicitations(**client_kwargs(url, ACME, US))
    order = "111-0000001-0000001"
    actions = solicitations.get_solicitation_actions_for_order(order).payload["_links"]["actions"]
    assert [a["name"] for a in actions] == ["productReviewAndSellerFeedback"]
    solicitations.create_product_review_and_seller_feedback_solicitation(order, marketplaceIds=[US])
    with pytest.raises(SellingApiForbiddenException) as refused:
        solicitations.create_product_review_and_seller_feedback_solicitation(
            order, marketplaceIds=[US]
        )
    assert (
        refused.value.message
        == "The requested solicitation is not available for this amazonOrderId."
    )
    assert (
        solicitations.get_solicitation_actions_for_order(order).payload["_links"]["actions"] == []
    )
    sends = sandbox.http.get("/sandbox/sends").json()["sends"]
    assert [(s["accountId"], s["amazonOrderId"], s["action"]) for s in sends] == [
        (ACME, order, "productReviewAndSellerFeedback")
    ]


def test_messaging(sandbox, url):
    messaging = Messaging(**client_kwargs(url, ACME, US))
    order = "111-0000004-0000004"
    names = [
        a["name"]
        for a in messaging.get_messaging_actions_for_order(order).payload["_links"]["actions"]
    ]
    assert names == ["confirmOrderDetails", "confirmDeliveryDetails", "unexpectedProblem"]
    messaging.create_unexpected_problem(order, body={"text": "Your order is delayed by a day."})
    messaging.create_confirm_delivery_details(
        order, body={"text": "Is the side door OK for delivery?"}
    )
    with pytest.raises(SellingApiForbiddenException):
        messaging.create_warranty(order, body={})
    assert (
        len(sandbox.http.get("/sandbox/sends", params={"amazonOrderId": order}).json()["sends"])
        == 2
    )


def test_exceeding_the_burst_gives_429(url):
    solicitations = Solicitations(**client_kwargs(url, BLUEBIRD, US))
    for _ in range(5):  # burst 5
        solicitations.get_solicitation_actions_for_order("112-0000009-0000009")
    with pytest.raises(SellingApiRequestThrottledException) as throttled:
        solicitations.get_solicitation_actions_for_order("112-0000009-0000009")
    assert throttled.value.amzn_code == "QuotaExceeded"
    assert throttled.value.headers["x-amzn-RateLimit-Limit"] == "1"


def test_expired_token_is_recovered_by_clearing_the_cache(sandbox, url):
    client = OrdersV20260101(**client_kwargs(url, ACME, US))
    assert client.get_order("111-0000001-0000001").payload["order"]
    sandbox.state.faults.add(FaultRule("expired_token", count=1))
    with pytest.raises(SellingApiForbiddenException) as expired:
        client.get_order("111-0000001-0000001")
    assert is_expired_token_error(expired.value)
    with pytest.raises(SellingApiForbiddenException):  # the cached token stays expired
        client.get_order("111-0000001-0000001")
    clear_token_cache()
    assert (
        client.get_order("111-0000001-0000001").payload["order"]["orderId"] == "111-0000001-0000001"
    )


def test_server_errors_timeouts_and_expired_pagination(sandbox, url):
    client = OrdersV20260101(**client_kwargs(url, ACME, US, timeout=0.3))
    sandbox.state.faults.configure(
        {
            "rules": [
                {"kind": "server_error", "operation": "getOrder", "count": 1, "status": 500},
                {"kind": "server_error", "operation": "getOrder", "count": 1, "status": 503},
                {"kind": "timeout", "operation": "getOrder", "count": 1, "delay": 1.0},
            ]
        }
    )
    with pytest.raises(SellingApiServerException):
        client.get_order("111-0000001-0000001")
    with pytest.raises(SellingApiTemporarilyUnavailableException):
        client.get_order("111-0000001-0000001")
    with pytest.raises(httpx.TimeoutException):
        client.get_order("111-0000001-0000001")
    assert client.get_order("111-0000001-0000001").payload["order"]

    first = client.search_orders(createdAfter="2026-01-01T00:00:00Z", maxResultsPerPage=2)
    sandbox.state.faults.add(FaultRule("expired_pagination_token", count=1))
    with pytest.raises(SellingApiBadRequestException) as expired:
        client.search_orders(createdAfter="2026-01-01T00:00:00Z", paginationToken=first.next_token)
    assert expired.value.message == "The paginationToken has expired."
    again = client.search_orders(
        createdAfter="2026-01-01T00:00:00Z", paginationToken=first.next_token
    )
    assert again.payload["orders"]
