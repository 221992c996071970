"""The simulated seller world: what the sandbox "knows" before it speaks SP-API.

The generator (``sandbox.generator``) produces a :class:`World`; the HTTP server
(``sandbox.server``) renders it as Amazon's JSON responses and report files; the
mailbox writer (``sandbox.mailbox``) renders its messages as Amazon relay e-mails;
``sandbox.truth`` computes the expected warehouse contents from it directly,
without any of the warehouse SQL.

Every table is a ``pandas.DataFrame`` with exactly the columns listed in
``COLUMNS`` below, in that order. Times are timezone-aware UTC
(``datetime64[us, UTC]``), money is ``float64`` in the marketplace currency
rounded to the currency's minor unit (cents for USD, whole yen for JPY).

The world is a snapshot as of ``World.end`` (exclusive): every event in it
happened, and is visible through the API, before ``end``. Amazon's late posting
of refunds is modelled in the data (``refunds.posted_time`` lags
``refunds.refund_time``), not by hiding rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

# Amazon marketplaces the sandbox serves.
MARKETPLACES: dict[str, dict[str, str]] = {
    "ATVPDKIKX0DER": {
        "country_code": "US",
        "currency": "USD",
        "sales_channel": "Amazon.com",
        "default_time_zone": "America/New_York",
    },
    "A1VC38T7YXB528": {
        "country_code": "JP",
        "currency": "JPY",
        "sales_channel": "Amazon.co.jp",
        "default_time_zone": "Asia/Tokyo",
    },
}

# Column name -> meaning. The order is the column order of the DataFrame.
COLUMNS: dict[str, dict[str, str]] = {
    "products": {
        "account_id": "sandbox account id (str)",
        "marketplace_id": "Amazon marketplace id (str)",
        "asin": "10-character ASIN, e.g. B0C1234567 (str)",
        "sku": "seller SKU (str)",
        "title": "product title (str)",
        "brand": "brand name (str)",
        "category": "top-level category (str)",
        "unit_price": "list price in marketplace currency (float64)",
        "currency": "ISO 4217 code (str)",
    },
    "buyers": {
        "account_id": "sandbox account id (str)",
        "marketplace_id": "marketplace id (str)",
        "buyer_id": "internal integer id, unique in the world (int64)",
        "email": "Amazon relay address, e.g. 0x3k9...@marketplace.amazon.com (str)",
        "name": "buyer full name, may contain non-ASCII (str)",
        "state": "US state / territory code ('CA', 'PR') or JP prefecture (str)",
        "city": "city (str)",
        "postal_code": "postal code (str)",
        "country_code": "'US' or 'JP' (str)",
        "time_zone": "IANA zone of the ship-to address (str)",
    },
    "orders": {
        "account_id": "sandbox account id (str)",
        "marketplace_id": "marketplace id (str)",
        "order_id": "Amazon order id NNN-NNNNNNN-NNNNNNN, unique in the world (str)",
        "buyer_id": "buyers.buyer_id (int64)",
        "purchase_time": "UTC (datetime)",
        "last_updated_time": "UTC; the latest of purchase/ship/delivery/cancel time (datetime)",
        "order_status": "PENDING | UNSHIPPED | SHIPPED | CANCELLED, as of World.end (str)",
        "fulfillment_channel": "AFN (FBA) | MFN (str)",
        "sales_channel": "Amazon.com | Amazon.co.jp (str)",
        "is_business_order": "(bool)",
        "buyer_info_available": "False when the API must omit BUYER data (bool)",
        "ship_city": "(str)",
        "ship_state": "(str)",
        "ship_postal_code": "(str)",
        "ship_country": "(str)",
        "ship_time_zone": "IANA zone of the ship-to address (str)",
        "ship_time": "UTC or NaT (datetime)",
        "latest_delivery_time": "promised latest delivery, UTC (datetime)",
        "delivery_time": "actual delivery, UTC or NaT (datetime)",
        "cancel_time": "UTC or NaT (datetime)",
        "currency": "(str)",
    },
    "order_items": {
        "account_id": "(str)",
        "marketplace_id": "(str)",
        "order_id": "(str)",
        "order_item_id": "14-digit string, unique within the order (str)",
        "asin": "(str)",
        "sku": "(str)",
        "quantity": "units ordered, >= 1 (int64)",
        "unit_price": "price per unit (float64)",
        "item_price": "unit_price * quantity (float64)",
        "item_tax": "(float64)",
        "shipping_price": "(float64)",
        "promotion_discount": "discount on this line, >= 0 (float64)",
        "promotion_id": "promotion id or '' (str)",
        "currency": "(str)",
    },
    "returns": {
        "account_id": "(str)",
        "marketplace_id": "(str)",
        "return_id": "unique id of the return line, e.g. 'R' + digits (str)",
        "order_id": "(str)",
        "order_item_id": "(str)",
        "asin": "(str)",
        "sku": "(str)",
        "quantity": "units returned (int64)",
        "return_time": "UTC (datetime)",
        "reason": "Amazon return reason code, e.g. DEFECTIVE, NOT_AS_DESCRIBED (str)",
        "fulfillment_channel": "AFN -> FBA customer returns report, MFN -> returns report (str)",
        "status": "report status/disposition text (str)",
        "is_late": "returned after the return window (bool)",
    },
    "refunds": {
        "account_id": "(str)",
        "marketplace_id": "(str)",
        "adjustment_id": "unique refund adjustment id (str)",
        "order_id": "(str)",
        "order_item_id": "(str)",
        "sku": "(str)",
        "quantity": "(int64)",
        "amount": "refunded principal, positive (float64)",
        "currency": "(str)",
        "refund_time": "when the refund was issued, UTC (datetime)",
        "posted_time": "when Finances posts it, refund_time + 2..48 h, UTC (datetime)",
        "with_return": "False for refunds without a return (bool)",
    },
    "feedback": {
        "account_id": "(str)",
        "marketplace_id": "(str)",
        "order_id": "(str)",
        "feedback_time": "UTC (datetime)",
        "rating": "1..5 (int64)",
        "comments": "(str)",
        "response": "seller response or '' (str)",
        "rater_email": "the buyer's relay address (str)",
    },
    "messages": {
        "account_id": "(str)",
        "marketplace_id": "(str)",
        "message_id": "RFC 822 Message-ID without angle brackets, unique (str)",
        "thread_id": "internal thread id (str)",
        "order_id": "order id or '' for a pre-sales question (str)",
        "buyer_id": "(int64)",
        "direction": "buyer | seller (str)",
        "sent_time": "UTC (datetime)",
        "subject": "(str)",
        "body": "plain text, may contain non-ASCII (str)",
        "in_reply_to": "message_id of the previous message in the thread or '' (str)",
        "asin": "product asked about (pre-sales) or '' (str)",
    },
}

TABLES = tuple(COLUMNS)


@dataclass(frozen=True)
class SandboxAccount:
    account_id: str
    seller_id: str
    seller_name: str
    seller_email: str
    seller_time_zone: str
    marketplace_ids: tuple[str, ...]


@dataclass
class World:
    seed: int
    start: datetime  # inclusive, UTC
    end: datetime  # exclusive, UTC
    accounts: list[SandboxAccount]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        raise AttributeError(name)

    def account(self, account_id: str) -> SandboxAccount:
        for account in self.accounts:
            if account.account_id == account_id:
                return account
        raise KeyError(f"unknown sandbox account {account_id!r}")

    def check(self) -> None:
        """Raise ValueError when a table does not have the documented columns."""
        for name, columns in COLUMNS.items():
            if name not in self.tables:
                raise ValueError(f"world has no table {name!r}")
            got = list(self.tables[name].columns)
            if got != list(columns):
                raise ValueError(
                    f"world table {name!r} has columns {got}, expected {list(columns)}"
                )
