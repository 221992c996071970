"""Orders and order items from Orders API v2026-01-01 ``searchOrders``.

Orders are read by last-update window, so status changes (shipped, cancelled)
arrive as new versions of rows already loaded; the loader keeps the newest.
Buyer e-mails and recipient names are turned into ``buyer_key`` here and go no
further.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import pandas as pd

from sellerops import datasets, identity
from sellerops.frames import typed_frame
from sellerops.sources.spapi import SpApiSession, TransientApiError

log = logging.getLogger(__name__)

INCLUDED_DATA = ("BUYER", "RECIPIENT", "PROCEEDS", "PROMOTION", "FULFILLMENT", "PACKAGES")
PAGE_SIZE = 100
SOURCE = "orders_api"
_FULFILLED_BY = {"AMAZON": "AFN", "MERCHANT": "MFN"}


def iso(ts: datetime) -> str:
    return pd.Timestamp(ts).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _money(value: dict | None) -> float | None:
    if not value or value.get("amount") is None:
        return None
    return float(value["amount"])


def _breakdown(breakdowns: Iterable[dict] | None, kind: str) -> float | None:
    amounts = [_money(b.get("subtotal")) for b in breakdowns or () if b.get("type") == kind]
    amounts = [a for a in amounts if a is not None]
    return sum(amounts) if amounts else None


def order_rows(
    orders: Iterable[dict[str, Any]], account_id: str, pepper: bytes
) -> tuple[list[dict], list[dict]]:
    """Flatten API ``Order`` objects into orders and order-item rows."""
    order_rows_: list[dict] = []
    item_rows: list[dict] = []
    for order in orders:
        channel = order.get("salesChannel") or {}
        fulfillment = order.get("fulfillment") or {}
        address = (order.get("recipient") or {}).get("deliveryAddress") or {}
        buyer = order.get("buyer") or {}
        keys = identity.order_identity(
            pepper,
            buyer.get("buyerEmail"),
            address.get("name"),
            address.get("postalCode"),
            address.get("countryCode"),
        )
        ship_times = [p.get("shipTime") for p in order.get("packages") or () if p.get("shipTime")]
        proceeds = order.get("proceeds") or {}
        items = order.get("orderItems") or []
        promotion_ids: list[str] = []
        for item in items:
            product = item.get("product") or {}
            item_proceeds = (item.get("proceeds") or {}).get("breakdowns")
            promos = [
                b["promotionId"]
                for b in (item.get("promotion") or {}).get("breakdowns") or ()
                if b.get("promotionId")
            ]
            promotion_ids.extend(p for p in promos if p not in promotion_ids)
            discount = _breakdown(item_proceeds, "DISCOUNT")
            currency = next(
                (
                    b["subtotal"].get("currencyCode")
                    for b in item_proceeds or ()
                    if b.get("subtotal")
                ),
                None,
            )
            item_rows.append(
                {
                    "account_id": account_id,
                    "marketplace_id": channel.get("marketplaceId"),
                    "order_id": order["orderId"],
                    "sku": product.get("sellerSku"),
                    "order_item_id": item.get("orderItemId"),
                    "asin": product.get("asin"),
                    "quantity": item.get("quantityOrdered"),
                    "item_price": _breakdown(item_proceeds, "ITEM"),
                    "item_tax": _breakdown(item_proceeds, "TAX"),
                    "shipping_price": _breakdown(item_proceeds, "SHIPPING"),
                    "promotion_discount": abs(discount) if discount is not None else 0.0,
                    "promotion_ids": ",".join(promos),
                    "currency": currency,
                    "last_updated_time": order.get("lastUpdatedTime"),
                    "source": SOURCE,
                }
            )
        grand_total = proceeds.get("grandTotal") or {}
        order_rows_.append(
            {
                "account_id": account_id,
                "marketplace_id": channel.get("marketplaceId"),
                "order_id": order["orderId"],
                "purchase_time": order.get("createdTime"),
                "last_updated_time": order.get("lastUpdatedTime"),
                "order_status": fulfillment.get("fulfillmentStatus"),
                "fulfillment_channel": _FULFILLED_BY.get(fulfillment.get("fulfilledBy")),
                "sales_channel": channel.get("channelName"),
                "is_business_order": "AMAZON_BUSINESS" in (order.get("programs") or ()),
                **keys,
                "ship_city": address.get("city"),
                "ship_state": address.get("stateOrRegion"),
                "ship_postal_code": address.get("postalCode"),
                "ship_country": address.get("countryCode"),
                "ship_time": min(ship_times) if ship_times else None,
                "latest_delivery_time": (fulfillment.get("deliverByWindow") or {}).get(
                    "latestDateTime"
                ),
                "currency": grand_total.get("currencyCode"),
                "order_total": _money(grand_total),
                "promotion_ids": ",".join(promotion_ids),
                "source": SOURCE,
            }
        )
    return order_rows_, item_rows


def search_pages(
    session: SpApiSession,
    marketplace_id: str,
    start: datetime,
    end: datetime,
) -> Iterator[list[dict]]:
    """Yield each page of orders last updated in [start, end).

    A retried page is requested again with the same pagination token; an expired
    token restarts the window (the loader de-duplicates by key).
    """
    from sp_api.api import OrdersV20260101
    from sp_api.base.exceptions import SellingApiBadRequestException

    client = session.client(OrdersV20260101, marketplace_id)
    params: dict[str, Any] = {
        "lastUpdatedAfter": iso(start),
        "lastUpdatedBefore": iso(end),
        "marketplaceIds": [marketplace_id],
        "includedData": list(INCLUDED_DATA),
        "maxResultsPerPage": PAGE_SIZE,
    }
    token: str | None = None
    pages = restarts = 0
    while True:
        request = dict(params, paginationToken=token) if token else dict(params)
        try:
            response = session.call("searchOrders", _checked_search, client, request)
        except SellingApiBadRequestException as exc:
            if token and "token" in str(exc.error).lower() and restarts < 3:
                restarts += 1
                log.warning("pagination token refused (%s); restarting the window", exc.error)
                token = None
                continue
            raise
        pages += 1
        orders = response.payload["orders"]
        log.info("searchOrders %s page %d: %d orders", marketplace_id, pages, len(orders))
        yield orders
        token = response.next_token
        if not token:
            return


def _checked_search(client, request: dict):
    response = client.search_orders(**request)
    if not isinstance(response.payload, dict) or "orders" not in response.payload:
        raise TransientApiError("searchOrders answered without an orders list")
    return response


def extract_orders(
    session: SpApiSession,
    account_id: str,
    marketplace_id: str,
    start: datetime,
    end: datetime,
    pepper: bytes,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Orders and items last updated in [start, end) as typed frames.

    Keyed by order id while reading, so a window read again after a refused
    pagination token yields each order once (the last version read).
    """
    by_order: dict[str, dict] = {}
    for page in search_pages(session, marketplace_id, start, end):
        for order in page:
            by_order[order["orderId"]] = order
    orders, items = order_rows(by_order.values(), account_id, pepper)
    return (
        typed_frame(datasets.ORDERS, orders),
        typed_frame(datasets.ORDER_ITEMS, items),
    )
