"""Amazon flat-file report documents rendered from a sandbox :class:`World`.

Every report is tab-separated, one header row, ``\\n`` line ends, UTF-8, and is
served gzip-compressed (``compressionAlgorithm: GZIP``). Tabs and line breaks
inside free text (titles, feedback comments) are replaced by spaces, as Amazon's
flat files have no quoting. A row is in the report when its window time lies in
``[dataStartTime, dataEndTime]`` (both ends inclusive) and its marketplace is one
of the requested ``marketplaceIds``.

Encoding: Amazon serves several Japanese (A1VC38T7YXB528) flat files in
Shift_JIS / Windows-31J (python-amazon-sp-api maps ``charset=windows-31j`` to
``cp932`` for that reason); the sandbox keeps UTF-8 for every marketplace and says
so in the document's ``Content-Type`` (``text/plain; charset=UTF-8``), which the
client uses to decode. Change :data:`DOCUMENT_ENCODING` to serve cp932 instead.

Sources for the layouts (recalled, then checked against public copies of real
files): Amazon's "Order reports attributes" / "Returns reports attributes" pages on
developer-docs.amazon.com, the MWS-era report header constants (e.g. the 32-column
order-tracking header ``amazon-order-id ... price-designation``) and published
sample documents. Formats:

* ``GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL``: one row per order item,
  window on ``last-updated-date``; dates ISO 8601 UTC with offset
  (``2026-02-10T15:00:00+00:00``); statuses in Amazon's words (``Shipped``,
  ``Pending``, ``Cancelled``, ``Unshipped``); fulfillment-channel ``Amazon`` /
  ``Merchant``; promotion discounts negative; ``true``/``false`` flags.
  Amazon accepts at most 30 days: a longer window makes the report ``FATAL`` with
  an error document "Date range exceeded. Report can be requested only upto 30
  days" (the text Amazon returns since 2023, see amzn/selling-partner-api-models
  issue 2591).
* ``GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE``: merchant-fulfilled (MFN) returns,
  window on the return request date, at most 60 days (documented); dates
  ``10-Jul-2025`` in the marketplace's time zone; ``Y``/``N`` flags. A longer
  window is ``FATAL`` with the same wording and 60 days.
* ``GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA``: Amazon-fulfilled (AFN) returns,
  window on ``return-date`` (ISO 8601 UTC with offset).
* ``GET_SELLER_FEEDBACK_DATA``: window on the feedback date; ``Date`` is the local
  date in the marketplace's time zone, ``M/D/YY`` in the US file and ``YYYY/MM/DD``
  in the Japanese one.

Values the World does not model are blank (merchant order id, gift wrap, label
cost, SafeT claims ...) or fixed plausible constants (ship-service-level
``Standard``, label type ``AmazonPrePaidLabel``); ids Amazon would invent (RMA id,
tracking id, license plate number, fulfillment center) are derived
deterministically from the World's ids.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from sellerops.sandbox.world import MARKETPLACES, World

ALL_ORDERS = "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL"
MFN_RETURNS = "GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE"
FBA_RETURNS = "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA"
SELLER_FEEDBACK = "GET_SELLER_FEEDBACK_DATA"

DOCUMENT_ENCODING: dict[str, str] = {"ATVPDKIKX0DER": "utf-8", "A1VC38T7YXB528": "utf-8"}

ALL_ORDERS_COLUMNS = (
    "amazon-order-id",
    "merchant-order-id",
    "purchase-date",
    "last-updated-date",
    "order-status",
    "fulfillment-channel",
    "sales-channel",
    "order-channel",
    "url",
    "ship-service-level",
    "product-name",
    "sku",
    "asin",
    "item-status",
    "quantity",
    "currency",
    "item-price",
    "item-tax",
    "shipping-price",
    "shipping-tax",
    "gift-wrap-price",
    "gift-wrap-tax",
    "item-promotion-discount",
    "ship-promotion-discount",
    "ship-city",
    "ship-state",
    "ship-postal-code",
    "ship-country",
    "promotion-ids",
    "is-business-order",
    "purchase-order-number",
    "price-designation",
)

MFN_RETURNS_COLUMNS = (
    "Order ID",
    "Order date",
    "Return request date",
    "Return request status",
    "Amazon RMA ID",
    "Merchant RMA ID",
    "Label type",
    "Label cost",
    "Currency code",
    "Return carrier",
    "Tracking ID",
    "Label to be paid by",
    "A-to-Z Claim",
    "Is prime",
    "ASIN",
    "Merchant SKU",
    "Item Name",
    "Return quantity",
    "Return Reason",
    "In policy",
    "Return type",
    "Resolution",
    "Invoice number",
    "Return delivery date",
    "Order Amount",
    "Order quantity",
    "SafeT Action reason",
    "SafeT claim id",
    "SafeT claim state",
    "SafeT claim creation time",
    "SafeT claim reimbursement amount",
    "Refunded Amount",
)

FBA_RETURNS_COLUMNS = (
    "return-date",
    "order-id",
    "sku",
    "asin",
    "fnsku",
    "product-name",
    "quantity",
    "fulfillment-center-id",
    "detailed-disposition",
    "reason",
    "status",
    "license-plate-number",
    "customer-comments",
)

SELLER_FEEDBACK_COLUMNS = ("Date", "Rating", "Comments", "Response", "Order ID", "Rater Email")

ORDER_STATUS_TEXT = {
    "PENDING": "Pending",
    "UNSHIPPED": "Unshipped",
    "SHIPPED": "Shipped",
    "CANCELLED": "Cancelled",
}
ITEM_STATUS_TEXT = {
    "PENDING": "Unshipped",
    "UNSHIPPED": "Unshipped",
    "SHIPPED": "Shipped",
    "CANCELLED": "Cancelled",
}
FULFILLMENT_CHANNEL_TEXT = {"AFN": "Amazon", "MFN": "Merchant"}
CURRENCY_DIGITS = {"JPY": 0}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
FULFILLMENT_CENTERS = {
    "ATVPDKIKX0DER": ("LEX1", "PHX7", "ONT8", "BFI4", "MDW2"),
    "A1VC38T7YXB528": ("NRT5", "HND3", "KIX1", "FSZ1"),
}
RETURN_CARRIERS = {"ATVPDKIKX0DER": "USPS", "A1VC38T7YXB528": "Yamato Transport"}
# Return reasons for which Amazon makes the seller pay the return label.
SELLER_FAULT_REASONS = frozenset(
    {
        "DEFECTIVE",
        "NOT_AS_DESCRIBED",
        "DAMAGED_BY_CARRIER",
        "DAMAGED_BY_FC",
        "MISSING_PARTS",
        "QUALITY_UNACCEPTABLE",
        "SWITCHEROO",
        "WRONG_ITEM",
    }
)


class ReportError(ValueError):
    """A report request Amazon refuses (the message is the text of the FATAL document)."""


@dataclass(frozen=True)
class RenderedReport:
    report_type: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]

    @property
    def text(self) -> str:
        lines = ["\t".join(self.columns)]
        lines.extend("\t".join(row) for row in self.rows)
        return "\n".join(lines) + "\n"

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class ReportSpec:
    report_type: str
    columns: tuple[str, ...]
    max_window: timedelta | None
    render: Callable[[_View, datetime, datetime], list[tuple[str, ...]]]


def _clean(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return ""
    text = str(value)
    return text.replace("\t", " ").replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def money(amount: float | None, currency: str) -> str:
    if amount is None or pd.isna(amount):
        return ""
    digits = CURRENCY_DIGITS.get(currency, 2)
    value = round(float(amount), digits)
    if value == 0:
        value = 0.0  # no "-0.00"
    return f"{value:.{digits}f}"


def iso_offset(ts: datetime | pd.Timestamp) -> str:
    """Amazon's report/API timestamp: ``2026-02-10T15:00:00+00:00``."""
    return pd.Timestamp(ts).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _local(ts: datetime | pd.Timestamp, marketplace_id: str) -> pd.Timestamp:
    zone = MARKETPLACES.get(marketplace_id, {}).get("default_time_zone", "UTC")
    return pd.Timestamp(ts).tz_convert(ZoneInfo(zone))


def dd_mon_yyyy(ts: datetime | pd.Timestamp, marketplace_id: str) -> str:
    local = _local(ts, marketplace_id)
    return f"{local.day:02d}-{MONTHS[local.month - 1]}-{local.year}"


def feedback_date(ts: datetime | pd.Timestamp, marketplace_id: str) -> str:
    local = _local(ts, marketplace_id)
    if MARKETPLACES.get(marketplace_id, {}).get("country_code") == "JP":
        return f"{local.year}/{local.month:02d}/{local.day:02d}"
    return f"{local.month}/{local.day}/{local.year % 100:02d}"


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).hexdigest()


def _alnum(seed: str, length: int) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
    number = int(_digest(seed), 16)
    chars = []
    for _ in range(length):
        number, rem = divmod(number, len(alphabet))
        chars.append(alphabet[rem])
    return "".join(chars)


def _digits(seed: str, length: int) -> str:
    return str(int(_digest(seed), 16))[:length].rjust(length, "0")


class _View:
    """The part of a World one report reads: one account, some marketplaces."""

    def __init__(self, world: World, account_id: str, marketplace_ids: Iterable[str]):
        mids = set(marketplace_ids)

        def pick(name: str) -> pd.DataFrame:
            df = world.tables[name]
            return df[(df["account_id"] == account_id) & (df["marketplace_id"].isin(mids))]

        self.orders = pick("orders")
        self.items = pick("order_items")
        self.returns = pick("returns")
        self.refunds = pick("refunds")
        self.feedback = pick("feedback")
        self.products = pick("products")
        self._titles = {
            (r.marketplace_id, r.sku): r.title for r in self.products.itertuples(index=False)
        }

    def title(self, marketplace_id: str, sku: str) -> str:
        return self._titles.get((marketplace_id, sku), "")


def _in_window(series: pd.Series, start: datetime, end: datetime) -> pd.Series:
    return (series >= pd.Timestamp(start)) & (series <= pd.Timestamp(end))


def _render_all_orders(view: _View, start: datetime, end: datetime) -> list[tuple[str, ...]]:
    orders = view.orders[_in_window(view.orders["last_updated_time"], start, end)]
    if orders.empty:
        return []
    merged = view.items.merge(
        orders.drop(columns=["account_id", "currency"]),
        on=["marketplace_id", "order_id"],
        how="inner",
    ).sort_values(["purchase_time", "order_id", "order_item_id"], kind="stable")
    rows = []
    for r in merged.itertuples(index=False):
        cur = r.currency
        discount = float(r.promotion_discount)
        rows.append(
            tuple(
                _clean(v)
                for v in (
                    r.order_id,
                    "",
                    iso_offset(r.purchase_time),
                    iso_offset(r.last_updated_time),
                    ORDER_STATUS_TEXT.get(r.order_status, r.order_status),
                    FULFILLMENT_CHANNEL_TEXT.get(r.fulfillment_channel, r.fulfillment_channel),
                    r.sales_channel,
                    "",
                    "",
                    "Standard",
                    view.title(r.marketplace_id, r.sku),
                    r.sku,
                    r.asin,
                    ITEM_STATUS_TEXT.get(r.order_status, r.order_status),
                    int(r.quantity),
                    cur,
                    money(r.item_price, cur),
                    money(r.item_tax, cur),
                    money(r.shipping_price, cur),
                    "",
                    "",
                    "",
                    money(-discount, cur) if discount > 0 else "",
                    "",
                    r.ship_city,
                    r.ship_state,
                    r.ship_postal_code,
                    r.ship_country,
                    r.promotion_id,
                    "true" if bool(r.is_business_order) else "false",
                    "",
                    "",
                )
            )
        )
    return rows


def _returns_joined(view: _View, channel: str, start: datetime, end: datetime) -> pd.DataFrame:
    returns = view.returns[
        (view.returns["fulfillment_channel"] == channel)
        & _in_window(view.returns["return_time"], start, end)
    ]
    return returns.sort_values(["return_time", "return_id"], kind="stable")


def _render_mfn_returns(view: _View, start: datetime, end: datetime) -> list[tuple[str, ...]]:
    returns = _returns_joined(view, "MFN", start, end)
    if returns.empty:
        return []
    orders = view.orders.set_index("order_id")
    items = view.items.set_index(["order_id", "order_item_id"])
    refunded = view.refunds.groupby(["order_id", "order_item_id"])["amount"].sum()
    rows = []
    for r in returns.itertuples(index=False):
        order = orders.loc[r.order_id] if r.order_id in orders.index else None
        item = (
            items.loc[(r.order_id, r.order_item_id)]
            if (r.order_id, r.order_item_id) in items.index
            else None
        )
        cur = (
            item["currency"]
            if item is not None
            else (order["currency"] if order is not None else "")
        )
        refund = refunded.get((r.order_id, r.order_item_id))
        rows.append(
            tuple(
                _clean(v)
                for v in (
                    r.order_id,
                    dd_mon_yyyy(order["purchase_time"], r.marketplace_id)
                    if order is not None
                    else "",
                    dd_mon_yyyy(r.return_time, r.marketplace_id),
                    r.status,
                    "D" + _alnum("rma" + r.return_id, 8) + "RMA",
                    "",
                    "AmazonPrePaidLabel",
                    "",
                    cur,
                    RETURN_CARRIERS.get(r.marketplace_id, ""),
                    _digits("trk" + r.return_id, 22),
                    "Seller" if r.reason in SELLER_FAULT_REASONS else "Customer",
                    "N",
                    "N",
                    r.asin,
                    r.sku,
                    view.title(r.marketplace_id, r.sku),
                    int(r.quantity),
                    r.reason,
                    "N" if bool(r.is_late) else "Y",
                    "C-Returns",
                    "StandardRefund",
                    "",
                    "",
                    money(item["item_price"], cur) if item is not None else "",
                    int(item["quantity"]) if item is not None else "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    money(refund, cur) if refund is not None else "",
                )
            )
        )
    return rows


def _disposition(reason: str) -> str:
    if reason in ("DEFECTIVE", "QUALITY_UNACCEPTABLE", "MISSING_PARTS"):
        return "DEFECTIVE"
    if reason in ("DAMAGED_BY_CARRIER", "DAMAGED_BY_FC"):
        return "CARRIER_DAMAGED"
    if reason in ("CUSTOMER_DAMAGED",):
        return "CUSTOMER_DAMAGED"
    return "SELLABLE"


def _render_fba_returns(view: _View, start: datetime, end: datetime) -> list[tuple[str, ...]]:
    returns = _returns_joined(view, "AFN", start, end)
    rows = []
    for r in returns.itertuples(index=False):
        centers = FULFILLMENT_CENTERS.get(r.marketplace_id, ("FC01",))
        rows.append(
            tuple(
                _clean(v)
                for v in (
                    iso_offset(r.return_time),
                    r.order_id,
                    r.sku,
                    r.asin,
                    r.asin,  # manufacturer-barcoded inventory: FNSKU == ASIN
                    view.title(r.marketplace_id, r.sku),
                    int(r.quantity),
                    centers[int(_digest("fc" + r.return_id), 16) % len(centers)],
                    _disposition(r.reason),
                    r.reason,
                    r.status,
                    "LPN" + _alnum("lpn" + r.return_id, 9),
                    "",
                )
            )
        )
    return rows


def _render_feedback(view: _View, start: datetime, end: datetime) -> list[tuple[str, ...]]:
    fb = view.feedback[_in_window(view.feedback["feedback_time"], start, end)]
    fb = fb.sort_values(["feedback_time", "order_id"], kind="stable")
    return [
        tuple(
            _clean(v)
            for v in (
                feedback_date(r.feedback_time, r.marketplace_id),
                int(r.rating),
                r.comments,
                r.response,
                r.order_id,
                r.rater_email,
            )
        )
        for r in fb.itertuples(index=False)
    ]


REPORT_SPECS: dict[str, ReportSpec] = {
    ALL_ORDERS: ReportSpec(ALL_ORDERS, ALL_ORDERS_COLUMNS, timedelta(days=30), _render_all_orders),
    MFN_RETURNS: ReportSpec(
        MFN_RETURNS, MFN_RETURNS_COLUMNS, timedelta(days=60), _render_mfn_returns
    ),
    FBA_RETURNS: ReportSpec(FBA_RETURNS, FBA_RETURNS_COLUMNS, None, _render_fba_returns),
    SELLER_FEEDBACK: ReportSpec(SELLER_FEEDBACK, SELLER_FEEDBACK_COLUMNS, None, _render_feedback),
}
REPORT_TYPES = tuple(REPORT_SPECS)


def window_error(report_type: str, start: datetime, end: datetime) -> str | None:
    """The FATAL-document text when Amazon refuses this window, else None."""
    spec = REPORT_SPECS[report_type]
    if spec.max_window is not None and end - start > spec.max_window:
        return f"Date range exceeded. Report can be requested only upto {spec.max_window.days} days"
    return None


def render_report(
    world: World,
    account_id: str,
    report_type: str,
    marketplace_ids: Sequence[str],
    start: datetime,
    end: datetime,
) -> RenderedReport:
    """Render one report; raises ReportError for a window Amazon refuses."""
    spec = REPORT_SPECS.get(report_type)
    if spec is None:
        raise KeyError(f"report type {report_type!r} is not served by the sandbox")
    error = window_error(report_type, start, end)
    if error:
        raise ReportError(error)
    rows = spec.render(_View(world, account_id, marketplace_ids), start, end)
    return RenderedReport(report_type, spec.columns, rows)


def document_encoding(marketplace_ids: Sequence[str]) -> str:
    encodings = {DOCUMENT_ENCODING.get(m, "utf-8") for m in marketplace_ids}
    return encodings.pop() if len(encodings) == 1 else "utf-8"


def compress(text: str, encoding: str = "utf-8") -> bytes:
    return gzip.compress(text.encode(encoding), mtime=0)


def fatal_document(error_details: str) -> str:
    """The body of the document attached to a FATAL report."""
    return json.dumps({"errorDetails": error_details})
