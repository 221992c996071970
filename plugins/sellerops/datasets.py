"""The six datasets SellerOps extracts, as they land in ``raw`` and ``core``.

This is the table contract between the sources (API pages, report files, the
mailbox), validation and the loader. Each dataset names its columns in order,
their logical types, which may be null, and the natural key the loader MERGEs
on (Amazon's report rows carry no primary key, so the key is chosen here and
documented in the README's data dictionary).

Logical types: ``text``, ``int``, ``money`` (NUMERIC(18,4)), ``bool``,
``timestamp`` (UTC, tz-aware), ``date``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = True
    doc: str = ""


@dataclass(frozen=True)
class Dataset:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    # The column whose value decides which of two versions of a row is newer.
    version_column: str | None
    # The column whose value must fall inside the extraction window.
    window_column: str
    doc: str = ""

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    @property
    def core_table(self) -> str:
        return f"core.{self.name}"

    @property
    def raw_table(self) -> str:
        return f"raw.{self.name}"


def C(name: str, type_: str, nullable: bool = True, doc: str = "") -> Column:
    return Column(name, type_, nullable, doc)


_PARTITION = (
    C("account_id", "text", False, "SellerOps account id from the accounts file"),
    C("marketplace_id", "text", False, "Amazon marketplace id, e.g. ATVPDKIKX0DER (US)"),
)

ORDERS = Dataset(
    name="orders",
    key=("account_id", "order_id"),
    version_column="last_updated_time",
    window_column="last_updated_time",
    doc=(
        "One row per Amazon order; later status changes update the row. core.orders also "
        "has buyer_key, the resolved buyer identity (see sellerops.identity_resolution)."
    ),
    columns=(
        *_PARTITION,
        C("order_id", "text", False, "Amazon order id NNN-NNNNNNN-NNNNNNN"),
        C("purchase_time", "timestamp", False, "when the buyer placed the order (UTC)"),
        C("last_updated_time", "timestamp", False, "Amazon's last update of the order (UTC)"),
        C("order_status", "text", False, "PENDING, UNSHIPPED, PARTIALLY_SHIPPED, SHIPPED, ..."),
        C("fulfillment_channel", "text", False, "AFN (fulfilled by Amazon) or MFN (merchant)"),
        C("sales_channel", "text", True, "e.g. Amazon.com"),
        C("is_business_order", "bool", True, "Amazon Business order"),
        C("buyer_email_key", "text", True, "HMAC of the buyer's relay e-mail (FBM orders only)"),
        C("buyer_recipient_key", "text", True, "HMAC of recipient name + postal code + country"),
        C("identity_source", "text", False, "buyer_email, recipient or none"),
        C("ship_city", "text", True, "ship-to city"),
        C("ship_state", "text", True, "ship-to state or region code"),
        C("ship_postal_code", "text", True, "ship-to postal code"),
        C("ship_country", "text", True, "ship-to country code"),
        C("ship_time", "timestamp", True, "first shipment (UTC)"),
        C("latest_delivery_time", "timestamp", True, "end of the promised delivery window (UTC)"),
        C("currency", "text", True, "ISO 4217 code of the order's amounts"),
        C("order_total", "money", True, "grand total charged to the buyer"),
        C("promotion_ids", "text", True, "comma-separated promotion ids, empty for none"),
        C("source", "text", False, "orders_api, all_orders_report or order_report_shipping"),
    ),
)

ORDER_ITEMS = Dataset(
    name="order_items",
    # The all-orders report has no order item id; SKU is unique within an order.
    key=("account_id", "order_id", "sku"),
    version_column="last_updated_time",
    window_column="last_updated_time",
    doc="One row per order line (SKU) of an order.",
    columns=(
        *_PARTITION,
        C("order_id", "text", False, "Amazon order id"),
        C("sku", "text", False, "seller SKU"),
        C("order_item_id", "text", True, "Amazon order item id (API and shipping report)"),
        C("asin", "text", True, "Amazon product id (the shipping order report has none)"),
        C("quantity", "int", False, "units ordered"),
        C("item_price", "money", True, "price of all units of the line"),
        C("item_tax", "money", True, "tax on the line"),
        C("shipping_price", "money", True, "shipping charged for the line"),
        C("promotion_discount", "money", True, "promotion discount on the line (positive)"),
        C("promotion_ids", "text", True, "comma-separated promotion ids"),
        C("currency", "text", True, "ISO 4217 code"),
        C("last_updated_time", "timestamp", False, "the order's last update (UTC)"),
        C("source", "text", False, "orders_api, all_orders_report or order_report_shipping"),
    ),
)

RETURNS = Dataset(
    name="returns",
    key=("account_id", "return_key"),
    version_column=None,
    window_column="return_time",
    doc="One row per return line from the MFN and FBA returns reports.",
    columns=(
        *_PARTITION,
        C(
            "return_key",
            "text",
            False,
            "fba:<order>:<sku>:<license plate> or mfn:<order>:<sku>:<RMA>",
        ),
        C("order_id", "text", False, "Amazon order id"),
        C("sku", "text", True, "seller SKU"),
        C("asin", "text", True, "Amazon product id"),
        C("quantity", "int", False, "units returned"),
        C("return_time", "timestamp", False, "return (request) date (UTC)"),
        C("reason", "text", True, "Amazon return reason code"),
        C("status", "text", True, "report status or disposition"),
        C("fulfillment_channel", "text", False, "AFN (FBA report) or MFN (returns report)"),
        C("source", "text", False, "report type"),
    ),
)

REFUNDS = Dataset(
    name="refunds",
    key=("account_id", "adjustment_id"),
    version_column=None,
    window_column="posted_time",
    doc="One row per refunded order line from Finances RefundEventList.",
    columns=(
        *_PARTITION,
        C("adjustment_id", "text", False, "Amazon OrderAdjustmentItemId"),
        C("order_id", "text", False, "Amazon order id"),
        C("sku", "text", True, "seller SKU"),
        C("quantity", "int", True, "units refunded"),
        C("amount", "money", False, "refunded principal, positive"),
        C("currency", "text", False, "ISO 4217 code"),
        C("posted_time", "timestamp", False, "when Amazon posted the refund (UTC)"),
        C("source", "text", False, "finances_api"),
    ),
)

FEEDBACK = Dataset(
    name="feedback",
    key=("account_id", "order_id"),
    version_column=None,
    window_column="feedback_date",
    doc="One row per seller-feedback entry (Amazon allows one per order).",
    columns=(
        *_PARTITION,
        C("order_id", "text", False, "Amazon order id"),
        C("feedback_date", "date", False, "date the buyer left feedback"),
        C("rating", "int", False, "1 to 5 stars"),
        C("comments", "text", True, "buyer comment, e-mail addresses removed"),
        C("has_response", "bool", False, "the seller responded"),
        C("buyer_key", "text", True, "pseudonymous key from the rater e-mail"),
        C("source", "text", False, "GET_SELLER_FEEDBACK_DATA"),
    ),
)

MESSAGES = Dataset(
    name="messages",
    key=("account_id", "message_id"),
    version_column=None,
    window_column="sent_time",
    doc="One row per buyer-seller e-mail through Amazon's relay; bodies are not stored.",
    columns=(
        *_PARTITION,
        C("message_id", "text", False, "RFC 822 Message-ID"),
        C("thread_key", "text", False, "stable id of the conversation"),
        C("order_id", "text", True, "order id when the message is about an order"),
        C("direction", "text", False, "buyer (buyer to seller) or seller"),
        C("sent_time", "timestamp", False, "when the message was sent (UTC)"),
        C("buyer_key", "text", True, "pseudonymous buyer key"),
        C("subject_kind", "text", True, "presales_inquiry, order_inquiry, return, other"),
        C("has_attachment", "bool", True, "the message carried an attachment"),
        C("body_chars", "int", True, "length of the plain-text body"),
        C("source", "text", False, "maildir or imap"),
    ),
)

DATASETS: dict[str, Dataset] = {
    d.name: d for d in (ORDERS, ORDER_ITEMS, RETURNS, REFUNDS, FEEDBACK, MESSAGES)
}

# Columns every raw landing table adds to its dataset's columns.
RAW_COLUMNS = (
    C("batch_id", "text", False, "the load batch"),
    C("extracted_at", "timestamp", False, "when the rows were extracted (UTC)"),
)


def get(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None
