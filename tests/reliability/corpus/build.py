"""The bad-input corpus: Seller Central report files and relay e-mails, one defect each.

Every case starts from a clean report written the way Amazon writes it (the
headers of :mod:`sellerops.sandbox.reports`; tab-separated, one header line, ``\\n``
line ends, no quoting) and changes one thing. The expected outcome of each case
is in ``tests/reliability/test_bad_input.py``; ``docs/bad_input.md`` lists them.

``python -m tests.reliability.corpus.build`` rewrites ``reports/`` and ``mail/``
next to this file; a test checks the committed files equal what this module
builds. Cases marked ``committed=False`` (the enormous ones) are only built at
test time.
"""

from __future__ import annotations

import codecs
import gzip
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from email.header import Header
from pathlib import Path

from sellerops.sandbox.reports import (
    ALL_ORDERS_COLUMNS,
    FBA_RETURNS_COLUMNS,
    MFN_RETURNS_COLUMNS,
    SELLER_FEEDBACK_COLUMNS,
)

HERE = Path(__file__).parent
REPORTS_DIR = HERE / "reports"
MAIL_DIR = HERE / "mail"

US = "ATVPDKIKX0DER"
JP = "A1VC38T7YXB528"

ALL_ORDERS = "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL"
SHIPPING = "GET_FLAT_FILE_ORDER_REPORT_DATA_SHIPPING"
MFN_RETURNS = "GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE"
FBA_RETURNS = "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA"
FEEDBACK = "GET_SELLER_FEEDBACK_DATA"

# The shipping order report (not rendered by the sandbox): Amazon's 30 columns.
SHIPPING_COLUMNS = (
    "order-id", "order-item-id", "purchase-date", "payments-date", "buyer-email", "buyer-name",
    "buyer-phone-number", "sku", "product-name", "quantity-purchased", "currency", "item-price",
    "item-tax", "shipping-price", "shipping-tax", "ship-service-level", "recipient-name",
    "ship-address-1", "ship-address-2", "ship-address-3", "ship-city", "ship-state",
    "ship-postal-code", "ship-country", "ship-phone-number", "delivery-start-date",
    "delivery-end-date", "delivery-time-zone", "delivery-Instructions", "sales-channel",
)  # fmt: skip

COLUMNS = {
    ALL_ORDERS: ALL_ORDERS_COLUMNS,
    SHIPPING: SHIPPING_COLUMNS,
    MFN_RETURNS: MFN_RETURNS_COLUMNS,
    FBA_RETURNS: FBA_RETURNS_COLUMNS,
    FEEDBACK: SELLER_FEEDBACK_COLUMNS,
}
SHORT = {
    ALL_ORDERS: "all_orders",
    SHIPPING: "shipping",
    MFN_RETURNS: "mfn_returns",
    FBA_RETURNS: "fba_returns",
    FEEDBACK: "feedback",
}
# The column of each report whose text is stored (encoding cases put foreign text there).
TEXT_COLUMN = {
    ALL_ORDERS: "ship-city",
    SHIPPING: "ship-city",
    MFN_RETURNS: "Return request status",
    FBA_RETURNS: "detailed-disposition",
    FEEDBACK: "Comments",
}
# A column the parser requires, removed by the missing-column cases.
REQUIRED = {
    ALL_ORDERS: "purchase-date",
    SHIPPING: "quantity-purchased",
    MFN_RETURNS: "Merchant SKU",
    FBA_RETURNS: "order-id",
    FEEDBACK: "Rating",
}
# Latin-1/Windows-1252 text that the old guessing order read as Shift_JIS ("é" + "s"
# is a valid cp932 character), and Japanese text.
LATIN_TEXT = "Résumé — Saint-Étienne"
JAPANESE_TEXT = "渋谷区・返品承認済み"


def _all_orders_rows() -> list[dict[str, str]]:
    base = dict.fromkeys(ALL_ORDERS_COLUMNS, "")
    common = {
        "sales-channel": "Amazon.com",
        "ship-service-level": "Standard",
        "currency": "USD",
        "gift-wrap-price": "",
        "ship-promotion-discount": "0.00",
        "ship-country": "US",
        "is-business-order": "false",
    }
    return [
        {
            **base, **common,
            "amazon-order-id": "113-0000001-0000001",
            "purchase-date": "2026-11-02T18:20:00+00:00",
            "last-updated-date": "2026-11-03T09:00:00+00:00",
            "order-status": "Shipped", "fulfillment-channel": "Amazon", "item-status": "Shipped",
            "product-name": "Trail Mug 12oz", "sku": "MUG-12", "asin": "B0MUG00012",
            "quantity": "2", "item-price": "24.00", "item-tax": "1.92", "shipping-price": "0.00",
            "shipping-tax": "0.00", "item-promotion-discount": "0.00",
            "ship-city": "Portland", "ship-state": "OR", "ship-postal-code": "97205",
        },
        {
            **base, **common,
            "amazon-order-id": "113-0000001-0000002",
            "purchase-date": "2026-11-04T01:05:00+00:00",
            "last-updated-date": "2026-11-04T01:35:00+00:00",
            "order-status": "Unshipped", "fulfillment-channel": "Merchant",
            "item-status": "Unshipped", "product-name": "Two-person tent", "sku": "TENT-2P",
            "asin": "B0TENT0002", "quantity": "1", "item-price": "149.99", "item-tax": "12.00",
            "shipping-price": "5.99", "shipping-tax": "0.00", "item-promotion-discount": "-10.00",
            "promotion-ids": "FALL10", "ship-city": "Austin", "ship-state": "TX",
            "ship-postal-code": "78701",
        },
        {
            **base, **common,
            "amazon-order-id": "113-0000001-0000002",
            "purchase-date": "2026-11-04T01:05:00+00:00",
            "last-updated-date": "2026-11-04T01:35:00+00:00",
            "order-status": "Unshipped", "fulfillment-channel": "Merchant",
            "item-status": "Unshipped", "product-name": "Tent stakes (8)", "sku": "STAKE-8",
            "asin": "B0STAKE008", "quantity": "1", "item-price": "9.99", "item-tax": "0.80",
            "shipping-price": "0.00", "shipping-tax": "0.00", "item-promotion-discount": "0.00",
            "ship-city": "Austin", "ship-state": "TX", "ship-postal-code": "78701",
        },
    ]  # fmt: skip


def _shipping_rows() -> list[dict[str, str]]:
    base = dict.fromkeys(SHIPPING_COLUMNS, "")

    def line(order, item, sku, qty, price, tax, city, state, postal, email, name):
        return {
            **base,
            "order-id": order, "order-item-id": item,
            "purchase-date": "2026-11-05T16:10:00+00:00",
            "payments-date": "2026-11-05T16:12:00+00:00",
            "buyer-email": email, "buyer-name": name, "buyer-phone-number": "+1 555 0100",
            "sku": sku, "product-name": "Camp lantern", "quantity-purchased": qty,
            "currency": "USD", "item-price": price, "item-tax": tax, "shipping-price": "4.99",
            "shipping-tax": "0.00", "ship-service-level": "Standard", "recipient-name": name,
            "ship-address-1": "12 Elm Street", "ship-city": city, "ship-state": state,
            "ship-postal-code": postal, "ship-country": "US",
            "ship-phone-number": "+1 555 0101",
            "delivery-start-date": "2026-11-08T08:00:00+00:00",
            "delivery-end-date": "2026-11-11T07:59:59+00:00",
            "delivery-time-zone": "Pacific", "sales-channel": "Amazon.com",
        }  # fmt: skip

    return [
        line("114-0000002-0000001", "30000000000001", "LANTERN-1", "1", "39.00", "3.12",
             "Seattle", "WA", "98101", "k2v9q@marketplace.amazon.com", "Ada Byron"),
        line("114-0000002-0000002", "30000000000002", "LANTERN-1", "2", "78.00", "6.24",
             "Denver", "CO", "80202", "m7x1z@marketplace.amazon.com", "Ben Cole"),
    ]  # fmt: skip


def _mfn_rows() -> list[dict[str, str]]:
    base = dict.fromkeys(MFN_RETURNS_COLUMNS, "")

    def line(order, day, rma, sku, qty, reason):
        return {
            **base,
            "Order ID": order, "Order date": "28-Oct-2026", "Return request date": day,
            "Return request status": "Approved", "Amazon RMA ID": rma,
            "Label type": "AmazonPrePaidLabel", "Label cost": "6.50", "Currency code": "USD",
            "Return carrier": "USPS", "Label to be paid by": "Customer", "A-to-Z Claim": "N",
            "Is prime": "Y", "ASIN": "B0" + sku.replace("-", "")[:8].ljust(8, "0"),
            "Merchant SKU": sku, "Item Name": "Camp chair", "Return quantity": qty,
            "Return Reason": reason, "In policy": "Y", "Return type": "C-Returns",
            "Resolution": "StandardRefund", "Order Amount": "45.00", "Order quantity": qty,
        }  # fmt: skip

    return [
        line("115-0000003-0000001", "03-Nov-2026", "DKRMA0001", "CHAIR-1", "1", "DEFECTIVE"),
        line("115-0000003-0000002", "04-Nov-2026", "DKRMA0002", "CHAIR-2", "2", "UNWANTED_ITEM"),
    ]


def _fba_rows() -> list[dict[str, str]]:
    base = dict.fromkeys(FBA_RETURNS_COLUMNS, "")

    def line(day, order, sku, qty, plate, reason):
        return {
            **base,
            "return-date": day, "order-id": order, "sku": sku, "asin": "B0FBA" + sku[-5:],
            "fnsku": "X00" + sku[-5:], "product-name": "Headlamp", "quantity": qty,
            "fulfillment-center-id": "PHX7", "detailed-disposition": "SELLABLE",
            "reason": reason, "status": "Unit returned to inventory",
            "license-plate-number": plate, "customer-comments": "",
        }  # fmt: skip

    return [
        line("2026-11-05T14:03:11+00:00", "116-0000004-0000001", "LAMP-00001", "1",
             "LPNRR0001", "UNWANTED_ITEM"),
        line("2026-11-06T09:30:00+00:00", "116-0000004-0000002", "LAMP-00002", "1",
             "LPNRR0002", "DEFECTIVE"),
    ]  # fmt: skip


def _feedback_rows() -> list[dict[str, str]]:
    def line(day, rating, comments, response, order, email):
        return {
            "Date": day, "Rating": rating, "Comments": comments, "Response": response,
            "Order ID": order, "Rater Email": email,
        }  # fmt: skip

    return [
        line("11/20/26", "5", "Great mug, fast shipping", "", "117-0000005-0000001",
             "q9w8e7@marketplace.amazon.com"),
        line("11/21/26", "2", "Arrived late", "Sorry about that", "117-0000005-0000002", ""),
        line("11/22/26", "4", "Good", "", "117-0000005-0000003", "z1x2c3@marketplace.amazon.com"),
    ]  # fmt: skip


ROWS: dict[str, Callable[[], list[dict[str, str]]]] = {
    ALL_ORDERS: _all_orders_rows,
    SHIPPING: _shipping_rows,
    MFN_RETURNS: _mfn_rows,
    FBA_RETURNS: _fba_rows,
    FEEDBACK: _feedback_rows,
}


def _japanese(report_type: str, rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The clean rows as the Amazon.co.jp file has them: JPY, JP order ids and dates."""
    out = []
    for row in rows:
        row = dict(row)
        for column in ("amazon-order-id", "order-id", "Order ID"):
            if row.get(column):
                row[column] = "503" + row[column][3:]
        for column in ("currency", "Currency code"):
            if column in row:
                row[column] = "JPY"
        for column in ("item-price", "item-tax", "shipping-price", "item-promotion-discount"):
            if row.get(column):
                row[column] = str(round(float(row[column]) * 100))
        if "sales-channel" in row:
            row["sales-channel"] = "Amazon.co.jp"
        if "ship-country" in row:
            row["ship-country"] = "JP"
        if report_type == FEEDBACK:
            month, day, year = row["Date"].split("/")
            row["Date"] = f"20{year}/{int(month):02d}/{int(day):02d}"
        row[TEXT_COLUMN[report_type]] = JAPANESE_TEXT
        out.append(row)
    return out


def render(
    columns: tuple[str, ...] | list[str],
    rows: list[dict[str, str]],
    *,
    encoding: str = "utf-8",
    newline: str = "\n",
    bom: bool = False,
) -> bytes:
    """A flat file the way Amazon writes one: tab-separated, one header line, no quoting."""
    lines = ["\t".join(columns)] + ["\t".join(row.get(c, "") for c in columns) for row in rows]
    data = (newline.join(lines) + newline).encode(encoding)
    return (codecs.BOM_UTF8 if bom else b"") + data


@dataclass(frozen=True)
class ReportCase:
    name: str
    report_type: str
    marketplace_id: str
    build: Callable[[], bytes]
    suffix: str = ".txt"
    committed: bool = True

    @property
    def file_name(self) -> str:
        return f"{SHORT[self.report_type]}__{self.name}{self.suffix}"


def _clean(rt: str, **kw) -> Callable[[], bytes]:
    return lambda: render(COLUMNS[rt], ROWS[rt](), **kw)


def _edit(rt: str, edit: Callable[[list[dict[str, str]]], None], **kw) -> Callable[[], bytes]:
    def build() -> bytes:
        rows = ROWS[rt]()
        edit(rows)
        return render(COLUMNS[rt], rows, **kw)

    return build


def _set(index: int, **values: str) -> Callable[[list[dict[str, str]]], None]:
    def edit(rows: list[dict[str, str]]) -> None:
        for key, value in values.items():
            rows[index][key.replace("_", "-") if key.replace("_", "-") in rows[index] else key] = (
                value
            )

    return edit


def _lines(rt: str, change: Callable[[list[str]], list[str]], **kw) -> Callable[[], bytes]:
    """Change the rendered lines (header first) of the clean file."""

    def build() -> bytes:
        text = render(COLUMNS[rt], ROWS[rt]()).decode("utf-8")
        lines = change(text.rstrip("\n").split("\n"))
        return ("\n".join(lines) + "\n").encode(kw.get("encoding", "utf-8"))

    return build


def _with_text(rt: str, text: str, encoding: str, marketplace: str = US) -> Callable[[], bytes]:
    def build() -> bytes:
        rows = ROWS[rt]()
        if marketplace == JP:
            rows = _japanese(rt, rows)
        else:
            rows[0][TEXT_COLUMN[rt]] = text
        return render(COLUMNS[rt], rows, encoding=encoding)

    return build


def _damaged_utf8(rt: str) -> Callable[[], bytes]:
    """UTF-8 text everywhere, and one Windows-1252 byte on line 3."""

    def build() -> bytes:
        rows = ROWS[rt]()
        for row in rows:
            row[TEXT_COLUMN[rt]] = "Ñandú café"
        lines = render(COLUMNS[rt], rows).split(b"\n")
        lines[2] = lines[2].replace("café".encode(), "café".encode("cp1252"))
        return b"\n".join(lines)

    return build


def _drop_column(rt: str, column: str) -> Callable[[], bytes]:
    return lambda: render([c for c in COLUMNS[rt] if c != column], ROWS[rt]())


def _extra_columns(rt: str) -> Callable[[], bytes]:
    columns = list(COLUMNS[rt])
    columns.insert(2, "new-amazon-column")
    columns.append("another-one")

    def build() -> bytes:
        rows = ROWS[rt]()
        for row in rows:
            row["new-amazon-column"] = "x"
            row["another-one"] = "y"
        return render(columns, rows)

    return build


def _short_row(lines: list[str]) -> list[str]:
    lines[2] = "\t".join(lines[2].split("\t")[:3])
    return lines


def _extra_field(lines: list[str]) -> list[str]:
    fields = lines[2].split("\t")
    fields.insert(1, "stray")
    lines[2] = "\t".join(fields)
    return lines


def _duplicate_line(lines: list[str]) -> list[str]:
    return [*lines, lines[1]]


def _csv(rt: str) -> Callable[[], bytes]:
    def build() -> bytes:
        rows = ROWS[rt]()
        lines = [",".join(COLUMNS[rt])] + [",".join(r[c] for c in COLUMNS[rt]) for r in rows]
        return ("\n".join(lines) + "\n").encode()

    return build


def _xlsx(rt: str) -> Callable[[], bytes]:
    def build() -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            info = zipfile.ZipInfo("[Content_Types].xml", date_time=(2026, 11, 20, 0, 0, 0))
            archive.writestr(info, '<?xml version="1.0"?><Types/>')
        return buffer.getvalue()

    return build


def _gzip(build: Callable[[], bytes], cut: bool = False) -> Callable[[], bytes]:
    def packed() -> bytes:
        data = gzip.compress(build(), mtime=0)
        return data[: len(data) // 2] if cut else data

    return packed


def _enormous_field(rt: str, size: int) -> Callable[[], bytes]:
    def build() -> bytes:
        rows = ROWS[rt]()
        rows[1]["Comments"] = "A" * size
        return render(COLUMNS[rt], rows)

    return build


def _report_cases() -> list[ReportCase]:
    cases: list[ReportCase] = []
    for rt in COLUMNS:
        cases += [
            ReportCase("clean", rt, US, _clean(rt)),
            ReportCase("utf8_bom", rt, US, _clean(rt, bom=True)),
            ReportCase("cp1252", rt, US, _with_text(rt, LATIN_TEXT, "cp1252")),
            ReportCase("shift_jis_jp", rt, JP, _with_text(rt, JAPANESE_TEXT, "cp932", JP)),
            ReportCase("missing_column", rt, US, _drop_column(rt, REQUIRED[rt])),
            ReportCase("extra_columns", rt, US, _extra_columns(rt)),
            ReportCase(
                "reordered_columns", rt, US, lambda rt=rt: render(COLUMNS[rt][::-1], ROWS[rt]())
            ),
            ReportCase("short_row", rt, US, _lines(rt, _short_row)),
            ReportCase("extra_field", rt, US, _lines(rt, _extra_field)),
            ReportCase("duplicate_row", rt, US, _lines(rt, _duplicate_line)),
            ReportCase("empty", rt, US, lambda: b""),
            ReportCase("header_only", rt, US, lambda rt=rt: render(COLUMNS[rt], [])),
        ]
    cases += [
        # Encodings beyond the per-report set.
        ReportCase("utf8_damaged", FEEDBACK, US, _damaged_utf8(FEEDBACK)),
        ReportCase("utf8_damaged", ALL_ORDERS, US, _damaged_utf8(ALL_ORDERS)),
        ReportCase(
            "utf16_excel", FEEDBACK, US,
            lambda: codecs.BOM_UTF16_LE
            + render(COLUMNS[FEEDBACK], ROWS[FEEDBACK](), encoding="utf-16-le", newline="\r\n"),
        ),
        ReportCase("crlf", MFN_RETURNS, US, _clean(MFN_RETURNS, newline="\r\n")),
        ReportCase("gzip", FBA_RETURNS, US, _gzip(_clean(FBA_RETURNS)), suffix=".txt.gz"),
        ReportCase(
            "gzip_truncated", FBA_RETURNS, US, _gzip(_clean(FBA_RETURNS), cut=True),
            suffix=".txt.gz",
        ),
        ReportCase("xlsx", FEEDBACK, US, _xlsx(FEEDBACK), suffix=".xlsx"),
        ReportCase("comma_separated", FEEDBACK, US, _csv(FEEDBACK), suffix=".csv"),
        ReportCase(
            "duplicate_header", FBA_RETURNS, US,
            _lines(FBA_RETURNS, lambda ls: [ls[0] + "\tsku", *(x + "\tLAMP" for x in ls[1:])]),
        ),
        # Dates and time zones.
        ReportCase("bad_dates", ALL_ORDERS, US, _edit(ALL_ORDERS, _bad_order_dates)),
        ReportCase("bad_dates", SHIPPING, US,
                   _edit(SHIPPING, _set(1, **{"purchase-date": "2026-13-01T10:00:00+00:00"}))),
        ReportCase("bad_dates", MFN_RETURNS, US,
                   _edit(MFN_RETURNS, _set(0, **{"Return request date": "32-Nov-2026"}))),
        ReportCase("bad_dates", FBA_RETURNS, US,
                   _edit(FBA_RETURNS, _set(1, **{"return-date": "yesterday"}))),
        ReportCase("bad_dates", FEEDBACK, US,
                   _edit(FEEDBACK, _set(0, Date="20/11/2026"))),
        ReportCase("time_zones", ALL_ORDERS, US, _edit(ALL_ORDERS, _zoned_order_dates)),
        ReportCase("unknown_time_zone", FBA_RETURNS, US,
                   _edit(FBA_RETURNS, _set(0, **{"return-date": "2026-11-05 14:03:11 CST"}))),
        ReportCase("out_of_window", FBA_RETURNS, US,
                   _edit(FBA_RETURNS, _set(1, **{"return-date": "2150-11-06T09:30:00+00:00"}))),
        # Numbers.
        ReportCase("negative_numbers", ALL_ORDERS, US,
                   _edit(ALL_ORDERS, _set(0, quantity="-1", **{"item-price": "-24.00"}))),
        ReportCase("negative_numbers", SHIPPING, US,
                   _edit(SHIPPING, _set(0, **{"item-price": "-39.00"}))),
        ReportCase("negative_numbers", MFN_RETURNS, US,
                   _edit(MFN_RETURNS, _set(1, **{"Return quantity": "-2"}))),
        ReportCase("negative_numbers", FBA_RETURNS, US,
                   _edit(FBA_RETURNS, _set(0, quantity="-1"))),
        ReportCase("negative_numbers", FEEDBACK, US, _edit(FEEDBACK, _set(1, Rating="-3"))),
        ReportCase("huge_numbers", ALL_ORDERS, US, _edit(ALL_ORDERS, _huge_order_numbers)),
        ReportCase("huge_numbers", FEEDBACK, US,
                   _edit(FEEDBACK, _set(2, Rating="99999999999999999999"))),
        ReportCase("huge_numbers", FBA_RETURNS, US,
                   _edit(FBA_RETURNS, _set(1, quantity="1000000000000"))),
        ReportCase("not_numbers", SHIPPING, US, _edit(SHIPPING, _not_numbers)),
        ReportCase("rating_out_of_range", FEEDBACK, US, _edit(FEEDBACK, _set(0, Rating="6"))),
        # Keys and values the validation suites reject.
        ReportCase("duplicate_key", FEEDBACK, US, _edit(FEEDBACK, _feedback_twice)),
        ReportCase("bad_order_id", FBA_RETURNS, US,
                   _edit(FBA_RETURNS, _set(0, **{"order-id": "116-0000004"}))),
        ReportCase("unknown_status", ALL_ORDERS, US,
                   _edit(ALL_ORDERS, _set(0, **{"order-status": "Lost in space"}))),
        # Spreadsheet formulas.
        ReportCase("formula_text", FEEDBACK, US, _edit(FEEDBACK, _formulas)),
        ReportCase("formula_text", ALL_ORDERS, US,
                   _edit(ALL_ORDERS, _set(0, **{"ship-city": "=cmd|' /C calc'!A0"}))),
        # Enormous fields (built at test time only).
        ReportCase("enormous_field", FEEDBACK, US, _enormous_field(FEEDBACK, 100_000),
                   committed=False),
        ReportCase("enormous_line", FEEDBACK, US, _enormous_field(FEEDBACK, 3_000_000),
                   committed=False),
    ]  # fmt: skip
    return cases


def _bad_order_dates(rows: list[dict[str, str]]) -> None:
    rows[0]["purchase-date"] = "2026-02-30T10:00:00+00:00"
    # Item lines of one order share their dates.
    rows[1]["last-updated-date"] = rows[2]["last-updated-date"] = "04/11/2026 01:35"


def _zoned_order_dates(rows: list[dict[str, str]]) -> None:
    rows[0]["purchase-date"] = "2026-11-02T10:20:00-08:00"
    rows[0]["last-updated-date"] = "2026-11-03 01:00:00 PST"
    for row in rows[1:]:
        row["purchase-date"] = "2026-11-04T10:05:00+09:00"
        row["last-updated-date"] = "2026-11-04T01:35:00Z"


def _huge_order_numbers(rows: list[dict[str, str]]) -> None:
    rows[0]["item-price"] = "123456789012345678.00"
    rows[2]["quantity"] = "99999999999"


def _not_numbers(rows: list[dict[str, str]]) -> None:
    rows[0]["item-price"] = "39,00"  # a decimal comma: 39 or 3900?
    rows[1]["quantity-purchased"] = "two"


def _feedback_twice(rows: list[dict[str, str]]) -> None:
    rows.append({**rows[0], "Rating": "1", "Date": "11/23/26", "Comments": "Changed my mind"})


def _formulas(rows: list[dict[str, str]]) -> None:
    rows[0]["Comments"] = '=HYPERLINK("http://evil.example","click")'
    rows[1]["Comments"] = "+1 555 0100 call me"
    rows[2]["Comments"] = "@SUM(A1:A9)"
    rows.append(
        {
            "Date": "11/22/26", "Rating": "3", "Comments": '-2+3, "quoted", back\\slash',
            "Response": "=1+1", "Order ID": "117-0000005-0000004", "Rater Email": "",
        }
    )  # fmt: skip


REPORT_CASES: dict[str, ReportCase] = {c.file_name: c for c in _report_cases()}


# --------------------------------------------------------------------------- e-mail

SELLER = "orders@acme-outdoor.example"
RELAY = "k2v9q7x1@marketplace.amazon.com"
RELAY_JP = "s8d7f6g5@marketplace.amazon.co.jp"
ORDER = "113-0000001-0000001"


def _mail(
    *,
    body: bytes,
    content_type: str | None = "text/plain; charset=UTF-8",
    transfer: str = "8bit",
    subject: str = f"Inquiry from Amazon customer (Order: {ORDER})",
    sender: str = f'"Ada Byron - Amazon Marketplace" <{RELAY}>',
    message_id: str | None = "<bi-0001@relay.example>",
    date: str | None = "Fri, 20 Nov 2026 10:15:00 -0800",
    extra: list[str] | None = None,
) -> bytes:
    headers = [
        "Received: from a1.amazonses.com by mx.acme-outdoor.example; "
        "Fri, 20 Nov 2026 18:15:05 +0000",
        f"From: {sender}",
        f"To: {SELLER}",
        f"Subject: {subject}",
    ]
    if message_id is not None:
        headers.append(f"Message-ID: {message_id}")
    if date is not None:
        headers.append(f"Date: {date}")
    headers.append("MIME-Version: 1.0")
    if content_type is not None:
        headers.append(f"Content-Type: {content_type}")
    headers.append(f"Content-Transfer-Encoding: {transfer}")
    headers += extra or []
    return ("\r\n".join(headers) + "\r\n\r\n").encode("utf-8") + body


BODY = f"Hello, where is my order {ORDER}? Merci beaucoup, Zoë."


@dataclass(frozen=True)
class MailCase:
    name: str
    build: Callable[[], bytes]
    committed: bool = True

    @property
    def file_name(self) -> str:
        return f"{self.name}.eml"


def _b64(data: bytes) -> bytes:
    import base64

    encoded = base64.encodebytes(data)
    return encoded.replace(b"\n", b"\r\n")


def _mail_cases() -> list[MailCase]:
    japanese = f"注文番号 {ORDER} の商品が届きません。"
    jp_subject = Header(f"返品について {ORDER}", "iso-2022-jp").encode()
    return [
        MailCase("clean_utf8", lambda: _mail(body=BODY.encode())),
        MailCase("latin1_declared", lambda: _mail(
            body=BODY.encode("cp1252"), content_type="text/plain; charset=ISO-8859-1")),
        MailCase("latin1_declared_utf8", lambda: _mail(body=BODY.encode("latin-1"))),
        MailCase("no_charset_utf8", lambda: _mail(body=BODY.encode(), content_type="text/plain")),
        MailCase("no_charset_latin1", lambda: _mail(
            body=BODY.encode("latin-1"), content_type="text/plain")),
        MailCase("no_content_type_latin1", lambda: _mail(
            body=BODY.encode("latin-1"), content_type=None)),
        MailCase("unknown_charset", lambda: _mail(
            body=BODY.encode(), content_type="text/plain; charset=x-klingon")),
        MailCase("shift_jis", lambda: _mail(
            body=japanese.encode("cp932"), content_type="text/plain; charset=Shift_JIS",
            sender=f"<{RELAY_JP}>", subject="Re: お問い合わせ", message_id="<bi-sjis@relay>",
            date="Sat, 21 Nov 2026 09:00:00 +0900")),
        MailCase("iso_2022_jp", lambda: _mail(
            body=japanese.encode("iso2022_jp"), transfer="7bit",
            content_type="text/plain; charset=ISO-2022-JP", sender=f"<{RELAY_JP}>",
            subject=jp_subject, message_id="<bi-jis@relay>",
            date="Sat, 21 Nov 2026 09:00:00 +0900")),
        MailCase("base64_corrupt", lambda: _mail(
            body=b"SGVsbG8g!!!d2hlcmUgaXMgbXkgb3JkZXI=\r\n", transfer="base64")),
        MailCase("missing_message_id", lambda: _mail(body=BODY.encode(), message_id=None)),
        MailCase("missing_date", lambda: _mail(body=BODY.encode(), date=None)),
        MailCase("bad_date", lambda: _mail(body=BODY.encode(), date="the day before yesterday")),
        MailCase("no_dates_at_all", lambda: _mail(body=BODY.encode(), date=None).replace(
            b"; Fri, 20 Nov 2026 18:15:05 +0000", b"")),
        MailCase("missing_from", lambda: _mail(body=BODY.encode(), sender="").replace(
            b"From: \r\n", b"") + b""),
        MailCase("missing_from_relay_reply_to", lambda: _mail(
            body=BODY.encode(), sender="", extra=[f"Reply-To: <{RELAY}>"]).replace(
            b"From: \r\n", b"")),
        MailCase("formula_subject", lambda: _mail(
            body=b"=HYPERLINK(\"http://evil.example\")\r\n", subject=f"=cmd|' /C calc'!A0 {ORDER}",
            message_id="<bi-formula@relay>")),
        MailCase("huge_header", lambda: _mail(
            body=BODY.encode(), subject="Question " + "x" * 70_000), committed=False),
        MailCase("huge_body", lambda: _mail(
            body=_b64(("Lorem ipsum " * 350_000).encode()), transfer="base64",
            message_id="<bi-huge@relay>"), committed=False),
        MailCase("empty", lambda: b""),
    ]  # fmt: skip


MAIL_CASES: dict[str, MailCase] = {c.file_name: c for c in _mail_cases()}


def write(directory_reports: Path = REPORTS_DIR, directory_mail: Path = MAIL_DIR) -> list[Path]:
    """Write the committed cases; return their paths."""
    written = []
    for directory, cases in ((directory_reports, REPORT_CASES), (directory_mail, MAIL_CASES)):
        directory.mkdir(parents=True, exist_ok=True)
        for name, case in cases.items():
            if case.committed:
                path = directory / name
                path.write_bytes(case.build())
                written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover
    for path in write():
        print(path)
