"""Reports API 2021-06-30: request, wait for, download and parse flat-file reports.

Parsing works by header name, not position, so reordered or extra columns do
not matter; a missing required column is an error that names the file and the
column. Files are read from disk in chunks, never as one string.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import re
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from sellerops import datasets, identity
from sellerops.frames import typed_frame
from sellerops.sources.spapi import SpApiSession, TransientApiError

log = logging.getLogger(__name__)

ALL_ORDERS = "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL"
ORDERS_SHIPPING = "GET_FLAT_FILE_ORDER_REPORT_DATA_SHIPPING"
MFN_RETURNS = "GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE"
FBA_RETURNS = "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA"
SELLER_FEEDBACK = "GET_SELLER_FEEDBACK_DATA"

# Longest window Amazon accepts per request, in days.
MAX_WINDOW_DAYS = {ALL_ORDERS: 30, MFN_RETURNS: 60, FBA_RETURNS: 60, SELLER_FEEDBACK: 365}


class ReportError(RuntimeError):
    pass


class ReportFileError(ValueError):
    """A report file that cannot be read; the message names the file and the problem."""


@dataclass
class ReportDownload:
    report_type: str
    report_id: str | None
    path: Path | None  # None when Amazon CANCELLED the report: no data in the window


def request_report(
    session: SpApiSession,
    marketplace_id: str,
    report_type: str,
    start: datetime,
    end: datetime,
    *,
    poll_seconds: float = 15.0,
    timeout_seconds: float = 3600.0,
    fatal_retries: int = 2,
    fatal_cooldown_seconds: float = 300.0,
    workdir: Path | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ReportDownload:
    """Create a report for [start, end), wait for it, download and decompress it."""
    from sp_api.api import ReportsV2

    client = session.client(ReportsV2, marketplace_id)
    scale = session.credentials.time_scale
    for attempt in range(fatal_retries + 1):
        created = session.call(
            "createReport",
            client.create_report,
            reportType=report_type,
            marketplaceIds=[marketplace_id],
            dataStartTime=_iso(start),
            dataEndTime=_iso(end),
        )
        report_id = created.payload["reportId"]
        status, document_id = _wait(
            session, client, report_id, poll_seconds / scale, timeout_seconds / scale, sleep
        )
        if status == "DONE":
            path = _download(session, client, document_id, report_type, workdir)
            return ReportDownload(report_type, report_id, path)
        if status == "CANCELLED":
            log.info("%s %s: CANCELLED (no data in the window)", report_type, report_id)
            return ReportDownload(report_type, report_id, None)
        log.warning(
            "%s %s ended %s (attempt %d of %d)",
            report_type,
            report_id,
            status,
            attempt + 1,
            fatal_retries + 1,
        )
        if attempt < fatal_retries:
            sleep(fatal_cooldown_seconds / scale)
    raise ReportError(
        f"{report_type} for {marketplace_id} {_iso(start)}..{_iso(end)} ended FATAL "
        f"{fatal_retries + 1} times; giving up"
    )


def _iso(ts: datetime) -> str:
    return pd.Timestamp(ts).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _wait(session, client, report_id, poll, timeout, sleep) -> tuple[str, str | None]:
    started = time.monotonic()
    last = None
    while True:
        report = session.call("getReport", client.get_report, report_id).payload
        status = report.get("processingStatus")
        if status != last:
            log.info("report %s: %s", report_id, status)
            last = status
        if status in ("DONE", "CANCELLED", "FATAL"):
            return status, report.get("reportDocumentId")
        if time.monotonic() - started > timeout:
            raise ReportError(f"report {report_id} still {status} after {timeout:.0f} s")
        sleep(poll)


def _download(session, client, document_id: str, report_type: str, workdir: Path | None) -> Path:
    """Fetch the document through its pre-signed URL, verify and decompress it to a file.

    ``getReportDocument`` (an SP-API call) gives the URL; the bytes are streamed
    to disk and gunzipped with an end-of-stream check, so a truncated or corrupt
    document is an error that is retried, never a silently shorter report.
    """
    import shutil

    import httpx

    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - the caller owns the file
        prefix=f"{report_type}.", suffix=".tsv", dir=workdir, delete=False
    )
    handle.close()
    path = Path(handle.name)
    packed = path.with_suffix(".download")

    def fetch():
        meta = client.get_report_document(document_id).payload
        try:
            with httpx.stream("GET", meta["url"], timeout=session.timeout) as response:
                response.raise_for_status()
                with open(packed, "wb") as out:
                    for block in response.iter_raw(1 << 20):
                        out.write(block)
            if (meta.get("compressionAlgorithm") or "").upper() == "GZIP":
                with gzip.open(packed, "rb") as source, open(path, "wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
            else:
                packed.replace(path)
        except (zlib.error, EOFError, gzip.BadGzipFile) as exc:
            raise TransientApiError(f"report document {document_id} is corrupt: {exc}") from exc
        except httpx.HTTPStatusError as exc:
            raise TransientApiError(f"report document {document_id}: {exc}") from exc
        finally:
            packed.unlink(missing_ok=True)
        return meta

    session.call("getReportDocument", fetch)
    log.info("report document %s: %d bytes", document_id, path.stat().st_size)
    return path


# -- reading files ---------------------------------------------------------------

_ENCODINGS = ("utf-8-sig", "cp932", "cp1252")


def _open_text(path: Path) -> tuple[io.TextIOBase, str]:
    """Open a report file as text, gunzipping it and choosing its encoding."""
    raw = path.open("rb")
    magic = raw.read(2)
    raw.seek(0)
    binary = gzip.GzipFile(fileobj=raw) if magic == b"\x1f\x8b" else raw
    sample = binary.read(1 << 20)
    binary.seek(0) if hasattr(binary, "seek") else None
    encoding = "utf-8-sig"
    for candidate in _ENCODINGS:
        try:
            sample.decode(candidate)
        except UnicodeDecodeError as exc:
            # A multi-byte character cut at the end of the sample is not an error.
            if exc.start >= len(sample) - 4 and candidate != "cp1252":
                encoding = candidate
                break
            continue
        encoding = candidate
        break
    return io.TextIOWrapper(binary, encoding=encoding, errors="strict", newline=""), encoding


def _norm(header: str) -> str:
    return re.sub(r"[\s_]+", "-", header.strip().lstrip("\ufeff").lower())


def read_rows(path: Path, *, chunk_rows: int = 50_000) -> Iterator[list[dict[str, str]]]:
    """Yield chunks of rows (dicts keyed by normalised header) from a tab-separated file."""
    path = Path(path)
    text, encoding = _open_text(path)
    with text:
        reader = csv.reader(text, delimiter="\t", quoting=csv.QUOTE_NONE)
        try:
            header = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            raise ReportFileError(f"{path}: line 1 is not {encoding} text: {exc}") from None
        names = [_norm(h) for h in header]
        chunk: list[dict[str, str]] = []
        line = 1
        while True:
            try:
                values = next(reader)
            except StopIteration:
                break
            except UnicodeDecodeError as exc:
                raise ReportFileError(
                    f"{path}: line {line + 1} is not {encoding} text: {exc}"
                ) from None
            line += 1
            if not any(v.strip() for v in values):
                continue
            row = dict(zip(names, values, strict=False))
            row["__line"] = str(line)
            if len(values) != len(names):
                row["__problem"] = (
                    f"line {line} has {len(values)} fields, the header has {len(names)}"
                )
            chunk.append(row)
            if len(chunk) >= chunk_rows:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def require_columns(path: Path, report_type: str, present: set[str], required: list[str]) -> None:
    missing = [c for c in required if c not in present]
    if missing:
        raise ReportFileError(
            f"{path}: not a {report_type} file: missing column(s) {', '.join(missing)}"
        )


def header_of(path: Path) -> set[str]:
    text, _ = _open_text(Path(path))
    with text:
        first = text.readline()
    return {_norm(h) for h in first.rstrip("\r\n").split("\t")} if first else set()


# -- parsers: rows -> typed dataset frames --------------------------------------------


def _parse_time(value: str | None, *, zone: str = "UTC"):
    """A report time as UTC; a bare date is midnight of that day in ``zone``."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    for fmt in ("%m/%d/%y", "%m/%d/%Y", "%d-%b-%Y", "%d-%b-%y", "%Y/%m/%d"):
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return pd.Timestamp(parsed).tz_localize(zone).tz_convert("UTC")
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError):
        return None
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.tz_convert("UTC")


def _int(value):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _money(value):
    if value is None or not str(value).strip():
        return None
    try:
        return float(str(value).replace(",", "").strip())
    except ValueError:
        return None


def _text(value):
    if value is None:
        return None
    text = str(value).strip()
    return text or None


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def _scrub(text):
    return _EMAIL.sub("[e-mail removed]", text) if text else text


def returns_frame(
    rows: list[dict[str, str]],
    report_type: str,
    account_id: str,
    marketplace_id: str,
    zone: str = "UTC",
) -> pd.DataFrame:
    """Return lines; the MFN report's bare dates are days in the marketplace ``zone``."""
    records = []
    for row in rows:
        if report_type == FBA_RETURNS:
            order_id, sku = _text(row.get("order-id")), _text(row.get("sku"))
            plate = _text(row.get("license-plate-number")) or _text(row.get("return-date"))
            records.append(
                {
                    "return_key": f"fba:{order_id}:{sku}:{plate}",
                    "order_id": order_id,
                    "sku": sku,
                    "asin": _text(row.get("asin")),
                    "quantity": _int(row.get("quantity")),
                    "return_time": _parse_time(row.get("return-date")),
                    "reason": _text(row.get("reason")),
                    "status": _text(row.get("detailed-disposition") or row.get("status")),
                    "fulfillment_channel": "AFN",
                }
            )
        else:
            order_id, sku = _text(row.get("order-id")), _text(row.get("merchant-sku"))
            rma = _text(row.get("amazon-rma-id")) or _text(row.get("return-request-date"))
            records.append(
                {
                    "return_key": f"mfn:{order_id}:{sku}:{rma}",
                    "order_id": order_id,
                    "sku": sku,
                    "asin": _text(row.get("asin")),
                    "quantity": _int(row.get("return-quantity")),
                    "return_time": _parse_time(row.get("return-request-date"), zone=zone),
                    "reason": _text(row.get("return-reason")),
                    "status": _text(row.get("return-request-status")),
                    "fulfillment_channel": "MFN",
                }
            )
    frame = pd.DataFrame.from_records(records)
    if len(frame):
        frame["account_id"] = account_id
        frame["marketplace_id"] = marketplace_id
        frame["source"] = report_type
    return typed_frame(datasets.RETURNS, frame)


RETURNS_REQUIRED = {
    FBA_RETURNS: ["return-date", "order-id", "sku", "quantity"],
    MFN_RETURNS: ["order-id", "return-request-date", "merchant-sku", "return-quantity"],
}


def feedback_frame(
    rows: list[dict[str, str]], account_id: str, marketplace_id: str, pepper: bytes
) -> pd.DataFrame:
    records = []
    for row in rows:
        records.append(
            {
                "account_id": account_id,
                "marketplace_id": marketplace_id,
                "order_id": _text(row.get("order-id")),
                "feedback_date": _parse_time(row.get("date")),
                "rating": _int(row.get("rating")),
                "comments": _scrub(_text(row.get("comments"))),
                "has_response": bool(_text(row.get("response"))),
                "buyer_key": identity.key_from_email(pepper, _text(row.get("rater-email"))),
                "source": SELLER_FEEDBACK,
            }
        )
    frame = pd.DataFrame.from_records(records)
    if len(frame):
        frame["feedback_date"] = pd.to_datetime(frame["feedback_date"], utc=True).dt.tz_localize(
            None
        )
    return typed_frame(datasets.FEEDBACK, frame)


FEEDBACK_REQUIRED = ["date", "rating", "order-id"]


def all_orders_frames(
    rows: list[dict[str, str]], account_id: str, marketplace_id: str, pepper: bytes, source: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Orders and items from the all-orders or the shipping order report (one row per item)."""
    orders: dict[str, dict] = {}
    items = []
    for row in rows:
        order_id = _text(row.get("amazon-order-id") or row.get("order-id"))
        updated = _parse_time(row.get("last-updated-date") or row.get("payments-date"))
        purchased = _parse_time(row.get("purchase-date"))
        keys = identity.order_identity(
            pepper,
            _text(row.get("buyer-email")),
            _text(row.get("recipient-name")),
            _text(row.get("ship-postal-code")),
            _text(row.get("ship-country")),
        )
        promos = _text(row.get("promotion-ids")) or ""
        item_price = _money(row.get("item-price"))
        # Amazon writes discounts as negative amounts; the warehouse stores them positive.
        discount = abs(_money(row.get("item-promotion-discount")) or 0.0)
        order = orders.setdefault(
            order_id,
            {
                "account_id": account_id,
                "marketplace_id": marketplace_id,
                "order_id": order_id,
                "purchase_time": purchased,
                "last_updated_time": updated or purchased,
                # The shipping order report lists merchant-fulfilled orders awaiting
                # shipment and has no status or channel columns.
                "order_status": _status(row.get("order-status") or "Unshipped"),
                "fulfillment_channel": _channel(row.get("fulfillment-channel") or "MFN"),
                "sales_channel": _text(row.get("sales-channel")),
                "is_business_order": (_text(row.get("is-business-order")) or "").lower() == "true",
                **keys,
                "ship_city": _text(row.get("ship-city")),
                "ship_state": _text(row.get("ship-state")),
                "ship_postal_code": _text(row.get("ship-postal-code")),
                "ship_country": _text(row.get("ship-country")),
                "ship_time": None,
                "latest_delivery_time": _parse_time(row.get("delivery-end-date")),
                "currency": _text(row.get("currency")),
                "order_total": 0.0,
                "promotion_ids": "",
                "source": source,
            },
        )
        order["order_total"] = round(
            order["order_total"]
            + sum(
                _money(row.get(c)) or 0.0
                for c in ("item-price", "item-tax", "shipping-price", "shipping-tax")
            )
            - discount,
            4,
        )
        known = [p for p in order["promotion_ids"].split(",") if p]
        order["promotion_ids"] = ",".join(
            known + [p for p in promos.split(",") if p and p not in known]
        )
        items.append(
            {
                "account_id": account_id,
                "marketplace_id": marketplace_id,
                "order_id": order_id,
                "sku": _text(row.get("sku")),
                "order_item_id": _text(row.get("order-item-id")),
                "asin": _text(row.get("asin")),
                "quantity": _int(row.get("quantity") or row.get("quantity-purchased")),
                "item_price": item_price,
                "item_tax": _money(row.get("item-tax")),
                "shipping_price": _money(row.get("shipping-price")),
                "promotion_discount": discount,
                "promotion_ids": promos,
                "currency": _text(row.get("currency")),
                "last_updated_time": updated or purchased,
                "source": source,
            }
        )
    return (
        typed_frame(datasets.ORDERS, list(orders.values())),
        typed_frame(datasets.ORDER_ITEMS, items),
    )


ALL_ORDERS_REQUIRED = ["amazon-order-id", "purchase-date", "order-status", "sku", "asin"]
SHIPPING_REQUIRED = ["order-id", "order-item-id", "purchase-date", "sku", "quantity-purchased"]

_STATUS = {
    "pending": "PENDING",
    "unshipped": "UNSHIPPED",
    "partiallyshipped": "PARTIALLY_SHIPPED",
    "shipped": "SHIPPED",
    "shipping": "UNSHIPPED",
    "cancelled": "CANCELLED",
    "canceled": "CANCELLED",
    "unfulfillable": "UNFULFILLABLE",
    "pendingavailability": "PENDING_AVAILABILITY",
}


def _status(value) -> str | None:
    text = re.sub(r"[\s_-]", "", str(value or "")).lower()
    return _STATUS.get(text, "SHIPPED" if text.startswith("shipped") else (value or None))


def _channel(value) -> str | None:
    text = str(value or "").strip().lower()
    if text in ("amazon", "afn"):
        return "AFN"
    if text in ("merchant", "mfn"):
        return "MFN"
    return value or None
