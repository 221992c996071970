"""Reports API 2021-06-30: request, wait for, download and parse flat-file reports.

Parsing works by header name, not position, so reordered or extra columns do
not matter; a missing required column is an error that names the file and the
column. Files are read from disk in chunks, never as one string.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import logging
import math
import re
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
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

JAPAN = "A1VC38T7YXB528"
# Seller Central serves the Japanese flat files in Shift_JIS (Windows-31J, Python's
# cp932); files opened and re-saved in a spreadsheet elsewhere are Windows-1252.
LEGACY_ENCODINGS = {JAPAN: "cp932"}
DEFAULT_LEGACY_ENCODING = "cp1252"

# Bounds on what one line may hold: longer lines and fields are quarantined, and a
# line is never held in memory beyond MAX_LINE_BYTES.
MAX_LINE_BYTES = 1 << 20
MAX_FIELD_CHARS = 65_536
_SAMPLE_BYTES = 1 << 20
_PREVIEW_CHARS = 100

_KANA = re.compile(r"[\u3041-\u30ff]")


def _open_binary(path: Path):
    """The file's bytes, gunzipped when it is gzip; a clear error for other containers."""
    if not path.is_file():
        raise ReportFileError(f"{path}: no such report file")
    raw = path.open("rb")
    magic = raw.read(4)
    raw.seek(0)
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw)
    if magic == b"PK\x03\x04":
        raw.close()
        raise ReportFileError(
            f"{path}: line 1: a ZIP archive (an Excel .xlsx file?), not a tab-separated "
            "report; download the report as a text (.txt) file"
        )
    return raw


def _read_sample(path: Path) -> bytes:
    binary = _open_binary(path)
    with binary:
        try:
            return binary.read(_SAMPLE_BYTES)
        except (OSError, EOFError, zlib.error) as exc:
            raise ReportFileError(f"{path}: corrupt or truncated gzip data: {exc}") from None


def detect_encoding(path: Path, marketplace_id: str | None = None) -> str:
    """The text encoding of a report file.

    A byte-order mark decides (UTF-8, UTF-16). Otherwise text that is valid UTF-8
    is UTF-8, and so is text that is mostly valid UTF-8 with a few bad bytes (a
    damaged UTF-8 file: its bad lines are quarantined, not misread). Anything else
    is in the marketplace's legacy encoding: Shift_JIS (cp932) for Amazon.co.jp,
    Windows-1252 (a superset of Latin-1) for every other marketplace. Without a
    marketplace, cp932 is chosen only when the text then holds Japanese kana, so a
    Latin-1 file is never read as Shift_JIS.
    """
    sample = _read_sample(Path(path))
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    text = sample.decode("utf-8", errors="replace")
    # A multi-byte character cut at the end of the sample is not an error.
    bad = text[:-2].count("\ufffd") if len(sample) == _SAMPLE_BYTES else text.count("\ufffd")
    if not bad:
        return "utf-8"
    wide = sum(1 for ch in text if ord(ch) > 0x7F and ch != "\ufffd")
    if wide >= 4 * bad:
        return "utf-8"
    if marketplace_id is not None:
        return LEGACY_ENCODINGS.get(marketplace_id, DEFAULT_LEGACY_ENCODING)
    try:
        japanese = sample.decode("cp932", errors="strict")
    except UnicodeDecodeError as exc:
        japanese = sample[: exc.start].decode("cp932") if exc.start >= len(sample) - 1 else ""
    return "cp932" if _KANA.search(japanese) else DEFAULT_LEGACY_ENCODING


class _Utf16Lines:
    """readline() over UTF-16 text that returns UTF-8 bytes (one code path for lines)."""

    def __init__(self, binary):
        self._text = io.TextIOWrapper(binary, encoding="utf-16", errors="strict", newline="")

    def readline(self, size: int = -1) -> bytes:
        return self._text.readline(size).encode("utf-8", "surrogatepass")

    def close(self) -> None:
        self._text.close()


def _raw_lines(stream) -> Iterator[tuple[bytes, bool]]:
    """(line without its end, too long) for each line; ends are \\n, \\r\\n or a lone \\r.

    A line longer than MAX_LINE_BYTES is cut there and the rest skipped unread
    into memory.
    """
    while True:
        chunk = stream.readline(MAX_LINE_BYTES + 1)
        if not chunk:
            return
        if len(chunk) > MAX_LINE_BYTES and not chunk.endswith(b"\n"):
            rest = chunk
            while rest and not rest.endswith(b"\n"):
                rest = stream.readline(1 << 16)
            yield chunk[:MAX_LINE_BYTES], True
            continue
        if chunk.endswith(b"\r\n"):
            chunk = chunk[:-2]
        elif chunk.endswith((b"\n", b"\r")):
            chunk = chunk[:-1]
        yield from ((piece, False) for piece in chunk.split(b"\r"))


def _norm(header: str) -> str:
    return re.sub(r"[\s_]+", "-", header.strip().lstrip("\ufeff").lower())


def _preview(value: str) -> str:
    return value if len(value) <= _PREVIEW_CHARS else value[:_PREVIEW_CHARS] + "…"


def _codec(encoding: str) -> str:
    """How one line's bytes decode (UTF-16 lines arrive re-encoded as UTF-8)."""
    return "utf-8" if encoding in ("utf-8-sig", "utf-16") else encoding


def _decode_line(data: bytes, encoding: str, first: bool) -> str:
    if first and encoding in ("utf-8-sig", "utf-16"):
        return data.decode("utf-8-sig")
    return data.decode(_codec(encoding))


def _read_share(binary, size: int) -> str:
    """How far into the file (compressed bytes, for gzip) reading has come, as text."""
    raw = getattr(binary, "fileobj", None) or binary
    try:
        return f"{100 * raw.tell() / size:.0f}% of {size} bytes" if size else "empty file"
    except (OSError, ValueError):
        return f"of {size} bytes"


def read_rows(
    path: Path,
    *,
    chunk_rows: int = 50_000,
    marketplace_id: str | None = None,
    encoding: str | None = None,
    report_type: str | None = None,
) -> Iterator[list[dict[str, str]]]:
    """Yield chunks of rows (dicts keyed by normalised header) from a tab-separated file.

    Each row has ``__line`` (its line number). A row that cannot be trusted has
    ``__problem`` (the reason, naming the line): a field count that differs from
    the header's, bytes that are not text in the file's encoding, a line or field
    over the size bounds (its values are then cut to a preview), and -- with
    ``report_type`` -- a value of a column the parser reads that is not a date or
    number, or a line that repeats an earlier one word for word.
    Blank lines are skipped. The encoding is :func:`detect_encoding`'s unless given.
    """
    path = Path(path)
    encoding = encoding or detect_encoding(path, marketplace_id)
    binary = _open_binary(path)
    size = path.stat().st_size
    stream = _Utf16Lines(binary) if encoding == "utf-16" else binary
    lines = _raw_lines(stream)
    checks = VALUE_CHECKS.get(report_type or "", {})
    seen: dict[bytes, int] = {}
    try:
        header = _header_names(path, lines, encoding)
        if header is None:
            return
        names = header
        chunk: list[dict[str, str]] = []
        line = 1
        for data, too_long in lines:
            line += 1
            row = _row(data, too_long, names, encoding, line)
            if row is None:
                continue
            if report_type is not None and "__problem" not in row:
                problems = _value_problems(row, checks)
                digest = hashlib.blake2b(data, digest_size=16).digest()
                if digest in seen:
                    problems.append(f"repeats line {seen[digest]} exactly")
                    if len(problems) == 1:
                        row["__duplicate"] = str(seen[digest])
                else:
                    seen[digest] = line
                if problems:
                    row["__problem"] = f"line {line}: " + "; ".join(problems)
            chunk.append(row)
            if len(chunk) >= chunk_rows:
                log.info("%s: %d lines read (%s)", path.name, line, _read_share(binary, size))
                yield chunk
                chunk = []
        if chunk:
            yield chunk
        log.info("%s: %d lines read (100%% of %d bytes)", path.name, line, size)
    except (OSError, EOFError, zlib.error) as exc:
        raise ReportFileError(f"{path}: corrupt or truncated gzip data: {exc}") from None
    except UnicodeDecodeError as exc:  # UTF-16 text, decoded while reading
        raise ReportFileError(f"{path}: not {encoding} text: {exc}") from None
    finally:
        stream.close()


def _header_names(path: Path, lines, encoding: str) -> list[str] | None:
    """The normalised header of the first line; None for a file without any line."""
    for data, too_long in lines:
        if too_long:
            raise ReportFileError(f"{path}: line 1 is longer than {MAX_LINE_BYTES} bytes")
        try:
            text = _decode_line(data, encoding, first=True)
        except UnicodeDecodeError as exc:
            raise ReportFileError(
                f"{path}: line 1, byte {exc.start + 1}: not {encoding} text"
            ) from None
        names = [_norm(h) for h in text.split("\t")]
        repeated = sorted({n for n in names if n and names.count(n) > 1})
        if repeated:
            raise ReportFileError(f"{path}: line 1: column(s) {', '.join(repeated)} appear twice")
        return names
    return None


def _row(data: bytes, too_long: bool, names: list[str], encoding: str, line: int):
    """One line as a row dict (None for a blank line)."""
    if too_long:
        fields = data.decode(_codec(encoding), errors="replace").split("\t")[:-1]
        row = {n: _preview(v) for n, v in zip(names, fields, strict=False)}
        row["__line"] = str(line)
        row["__problem"] = f"line {line} is longer than {MAX_LINE_BYTES} bytes"
        return row
    try:
        text = _decode_line(data, encoding, first=False)
    except UnicodeDecodeError as exc:
        fields = data.decode(_codec(encoding), errors="replace").split("\t")
        row = {n: _preview(v) for n, v in zip(names, fields, strict=False)}
        row["__line"] = str(line)
        column = data[: exc.start].count(b"\t")
        where = f"column {names[column]}" if column < len(names) else "past the last column"
        row["__problem"] = f"line {line}: byte {exc.start + 1} ({where}) is not {encoding} text"
        return row
    values = text.split("\t")
    if not any(v.strip() for v in values):
        return None
    row = dict(zip(names, values, strict=False))
    row["__line"] = str(line)
    if len(values) != len(names):
        row["__problem"] = f"line {line} has {len(values)} fields, the header has {len(names)}"
    huge = [(n, len(v)) for n, v in zip(names, values, strict=False) if len(v) > MAX_FIELD_CHARS]
    if huge:
        for name, _ in huge:
            row[name] = _preview(row[name])
        row["__problem"] = f"line {line}: " + "; ".join(
            f"{name} has {size} characters, more than {MAX_FIELD_CHARS}" for name, size in huge
        )
    return row


def require_columns(path: Path, report_type: str, present: set[str], required: list[str]) -> None:
    if not present:
        raise ReportFileError(
            f"{path}: the file is empty (no header line), not a {report_type} file"
        )
    missing = [c for c in required if c not in present]
    if missing:
        hint = ""
        if len(present) == 1 and any("," in c or ";" in c for c in present):
            hint = " (the header has no tabs: Amazon reports are tab-separated, not CSV)"
        raise ReportFileError(
            f"{path}: not a {report_type} file: missing column(s) {', '.join(missing)}{hint}"
        )


def header_of(
    path: Path, *, marketplace_id: str | None = None, encoding: str | None = None
) -> set[str]:
    """The normalised column names of the file's header; empty for an empty file."""
    path = Path(path)
    encoding = encoding or detect_encoding(path, marketplace_id)
    binary = _open_binary(path)
    stream = _Utf16Lines(binary) if encoding == "utf-16" else binary
    try:
        names = _header_names(path, _raw_lines(stream), encoding)
    except (OSError, EOFError, zlib.error) as exc:
        raise ReportFileError(f"{path}: corrupt or truncated gzip data: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ReportFileError(f"{path}: line 1 is not {encoding} text: {exc}") from None
    finally:
        stream.close()
    return {n for n in names if n} if names else set()


def flag_order_siblings(rows: list[dict[str, str]], order_column: str) -> None:
    """An order is loaded whole or not at all: flag the other lines of a flagged order.

    Order reports have one line per item; loading an order without one of its lines
    would store a wrong total. ``rows`` must hold all lines of their orders.
    """
    broken: dict[str, str] = {}
    for row in rows:
        order_id = (row.get(order_column) or "").strip()
        # A repeated line leaves its order whole: the first copy is loaded.
        if "__problem" in row and "__duplicate" not in row and order_id:
            broken.setdefault(order_id, row.get("__line", "?"))
    for row in rows:
        order_id = (row.get(order_column) or "").strip()
        if "__problem" not in row and order_id in broken:
            row["__problem"] = (
                f"line {row.get('__line', '?')}: another line of order {order_id} "
                f"(line {broken[order_id]}) was quarantined"
            )


# -- value checks: a value the parser reads must be what its column promises --------------

_NUMBER_RE = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?$")
_INT_RE = re.compile(r"^[+-]?\d+$")
MAX_QUANTITY = 1_000_000_000
MAX_MONEY = 10**14  # NUMERIC(18, 4)

_ORDER_CHECKS = {
    "purchase-date": "date",
    "last-updated-date": "date",
    "payments-date": "date",
    "delivery-end-date": "date",
    "quantity": "int",
    "quantity-purchased": "int",
    "item-price": "money",
    "item-tax": "money",
    "shipping-price": "money",
    "shipping-tax": "money",
    "item-promotion-discount": "money",
}

# report type -> {normalised column: kind}; only columns the parsers read.
VALUE_CHECKS: dict[str, dict[str, str]] = {
    ALL_ORDERS: _ORDER_CHECKS,
    ORDERS_SHIPPING: _ORDER_CHECKS,
    MFN_RETURNS: {"return-request-date": "date", "return-quantity": "int"},
    FBA_RETURNS: {"return-date": "date", "quantity": "int"},
    SELLER_FEEDBACK: {"date": "date", "rating": "int"},
}


def _value_problems(row: dict[str, str], checks: dict[str, str]) -> list[str]:
    problems = []
    for column, kind in checks.items():
        value = (row.get(column) or "").strip()
        if not value:
            continue
        shown = _scrub(value[:40] + ("…" if len(value) > 40 else ""))
        if kind == "date":
            abbreviated = _ABBREVIATED_RE.match(value)
            if abbreviated and abbreviated.group(2).upper() not in ZONE_ABBREVIATIONS:
                problems.append(
                    f"{column} {shown!r}: unknown or ambiguous time zone {abbreviated.group(2)!r}"
                )
            elif _parse_time(value) is None:
                problems.append(f"{column} {shown!r} is not a date")
        elif kind == "int":
            if not _INT_RE.match(value):
                problems.append(f"{column} {shown!r} is not a whole number")
            elif abs(int(value)) > MAX_QUANTITY:
                problems.append(f"{column} {shown!r} is out of range")
        elif not _NUMBER_RE.match(value) or not re.search(r"\d", value):
            problems.append(f"{column} {shown!r} is not an amount")
        elif abs(float(value.replace(",", ""))) >= MAX_MONEY:
            problems.append(f"{column} {shown!r} is out of range")
    return problems


# -- parsers: rows -> typed dataset frames --------------------------------------------


# Zone abbreviations some Seller Central files write after a time (fixed offsets, hours).
# Ambiguous ones (CST: US Central or China) are not read.
ZONE_ABBREVIATIONS = {
    "UTC": 0,
    "GMT": 0,
    "PST": -8,
    "PDT": -7,
    "MST": -7,
    "MDT": -6,
    "EST": -5,
    "EDT": -4,
    "BST": 1,
    "CET": 1,
    "CEST": 2,
    "JST": 9,
}
_ISO_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?"
    r"\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?$"
)
_ABBREVIATED_RE = re.compile(r"^(.*\d)\s+([A-Za-z]{2,5})$")


def _parse_time(value: str | None, *, zone: str = "UTC"):
    """A report time as UTC; a bare date is midnight of that day in ``zone``.

    Read: ``M/D/YY``, ``M/D/YYYY``, ``DD-Mon-YYYY``, ``YYYY/MM/DD`` (bare dates) and
    ISO 8601 with or without an offset (none means UTC), optionally followed by one
    of :data:`ZONE_ABBREVIATIONS`. Anything else (a day-first date, an unknown zone,
    a day that does not exist) is None: never guessed.
    """
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    for fmt in ("%m/%d/%y", "%m/%d/%Y", "%d-%b-%Y", "%d-%b-%y", "%Y/%m/%d"):
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return pd.Timestamp(parsed).tz_localize(zone).tz_convert("UTC")
    offset = None
    abbreviated = _ABBREVIATED_RE.match(text)
    if abbreviated:
        hours = ZONE_ABBREVIATIONS.get(abbreviated.group(2).upper())
        if hours is None:
            return None
        text, offset = abbreviated.group(1), timedelta(hours=hours)
    if not _ISO_RE.match(text):
        return None
    try:
        stamp = pd.Timestamp(text)
        if stamp.tzinfo is None:
            stamp = stamp.tz_localize(timezone(offset or timedelta(0)))
        elif offset is not None:
            return None  # an offset and a zone name
        return stamp.tz_convert("UTC")
    except (ValueError, TypeError, OverflowError):
        return None


def _int(value):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _money(value):
    if value is None or not str(value).strip():
        return None
    try:
        amount = float(str(value).replace(",", "").strip())
    except ValueError:
        return None
    return amount if math.isfinite(amount) else None


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
