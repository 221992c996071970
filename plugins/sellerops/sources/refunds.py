"""Refunds from Finances v0 ``listFinancialEvents`` (RefundEventList), by posted date.

Amazon posts refunds late, so the ingest re-reads a trailing window
(``REREAD_DAYS``) before each day; the loader's key (the adjustment item id)
makes the re-read harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

import pandas as pd

from sellerops import datasets
from sellerops.frames import typed_frame
from sellerops.sources.orders import iso
from sellerops.sources.spapi import SpApiSession, TransientApiError

log = logging.getLogger(__name__)

REREAD_DAYS = 3
PAGE_SIZE = 100
SOURCE = "finances_api"
SALES_CHANNELS = {
    "ATVPDKIKX0DER": "Amazon.com",
    "A2EUQ1WTGCTBG2": "Amazon.ca",
    "A1AM78C64UM0Y8": "Amazon.com.mx",
    "A1F83G8C2ARO7P": "Amazon.co.uk",
    "A1PA6795UKMFR9": "Amazon.de",
    "A1VC38T7YXB528": "Amazon.co.jp",
}


def refund_rows(events: Iterable[dict], account_id: str, marketplace_id: str) -> list[dict]:
    rows = []
    expected_name = SALES_CHANNELS.get(marketplace_id)
    for event in events:
        # Finances answers for the whole region: keep this marketplace's events.
        name = event.get("MarketplaceName")
        if name and expected_name and name != expected_name:
            continue
        for item in event.get("ShipmentItemAdjustmentList") or ():
            charges = item.get("ItemChargeAdjustmentList") or ()
            principal = [
                c["ChargeAmount"]
                for c in charges
                if c.get("ChargeType") == "Principal" and c.get("ChargeAmount")
            ]
            amount = sum(float(p.get("CurrencyAmount") or 0) for p in principal)
            currency = next((p.get("CurrencyCode") for p in principal), None)
            rows.append(
                {
                    "account_id": account_id,
                    "marketplace_id": marketplace_id,
                    "adjustment_id": item.get("OrderAdjustmentItemId"),
                    "order_id": event.get("AmazonOrderId"),
                    "sku": item.get("SellerSKU"),
                    "quantity": item.get("QuantityShipped"),
                    # Amazon reports refunds as negative charges; the warehouse stores
                    # the refunded amount as a positive number.
                    "amount": -amount if principal else None,
                    "currency": currency,
                    "posted_time": event.get("PostedDate"),
                    "source": SOURCE,
                }
            )
    return rows


def extract_refunds(
    session: SpApiSession,
    account_id: str,
    marketplace_id: str,
    start: datetime,
    end: datetime,
    *,
    reread_days: int = REREAD_DAYS,
) -> tuple[pd.DataFrame, datetime]:
    """Refunds posted in [start - reread_days, end); returns the frame and the window start."""
    from sp_api.api import FinancesV0

    window_start = start - timedelta(days=reread_days)
    client = session.client(FinancesV0, marketplace_id)
    params = {
        "PostedAfter": iso(window_start),
        "PostedBefore": iso(end),
        "MaxResultsPerPage": PAGE_SIZE,
    }
    from sp_api.base.exceptions import SellingApiBadRequestException

    rows: list[dict] = []
    token = None
    pages = restarts = 0
    while True:
        request = dict(params, NextToken=token) if token else dict(params)
        try:
            response = session.call("listFinancialEvents", _checked_list, client, request)
        except SellingApiBadRequestException as exc:
            if token and "token" in str(exc.error).lower() and restarts < 3:
                # An expired NextToken: read the window again (keys de-duplicate).
                restarts += 1
                log.warning("NextToken refused (%s); restarting the window", exc.error)
                rows, token = [], None
                continue
            raise
        pages += 1
        events = (response.payload.get("FinancialEvents") or {}).get("RefundEventList") or []
        rows.extend(refund_rows(events, account_id, marketplace_id))
        token = response.payload.get("NextToken")
        log.info("listFinancialEvents page %d: %d refund events", pages, len(events))
        if not token:
            break
    return typed_frame(datasets.REFUNDS, rows), window_start


def _checked_list(client, request: dict):
    response = client.list_financial_events(**request)
    if not isinstance(response.payload, dict) or "FinancialEvents" not in response.payload:
        raise TransientApiError("listFinancialEvents answered without FinancialEvents")
    return response
