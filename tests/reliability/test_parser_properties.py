"""Properties of the report and e-mail parsers (hypothesis).

Reports: a well-formed flat file, written the way Amazon writes one (tabs, one
header line, no quoting, tabs and line breaks inside values turned into spaces),
in any column order and any of the encodings Seller Central uses, reads back the
values written; typed values (amounts, quantities, times with offsets, bare
dates) come out of the parsers equal; and any byte string either parses or
raises :class:`ReportFileError` naming the file -- nothing else.

E-mail: a relay message with any text in any supported charset and transfer
encoding gives back its body, order id and thread; any header values, charset
labels and bodies give one of the documented outcomes, never an exception.
"""

from __future__ import annotations

import base64
import gzip
import hmac
import quopri
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from email.header import Header
from hashlib import sha256
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sellerops.sandbox.reports import (
    ALL_ORDERS_COLUMNS,
    FBA_RETURNS_COLUMNS,
    MFN_RETURNS_COLUMNS,
    SELLER_FEEDBACK_COLUMNS,
)
from sellerops.sources import mailbox, reports

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# The typed-value properties build pandas frames per example: fewer examples.
FRAME_SETTINGS = settings(SETTINGS, max_examples=50)
US, JP = "ATVPDKIKX0DER", "A1VC38T7YXB528"
PEPPER = b"property-pepper"


def _amazon_cell(value: str) -> str:
    """What Amazon's writer does to free text: no tabs or line breaks inside a field."""
    return value.replace("\t", " ").replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def _write(path: Path, columns, rows, encoding: str) -> Path:
    lines = ["\t".join(columns)] + ["\t".join(_amazon_cell(c) for c in row) for row in rows]
    text = "\n".join(lines) + "\n"
    if encoding == "utf-16":
        data = text.encode("utf-16")  # with its byte-order mark, as Excel writes it
    elif encoding == "utf-8-sig":
        data = text.encode("utf-8-sig")
    else:
        data = text.encode(encoding)
    path.write_bytes(data)
    return path


def _read(path: Path, **kwargs) -> list[dict[str, str]]:
    return [row for chunk in reports.read_rows(path, **kwargs) for row in chunk]


# Any text but the characters that end a line or a field (Amazon never writes them in
# a value) and lone surrogates (not text).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
LATIN = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_categories=("Cc",)),
    max_size=20,
)
JAPANESE = st.text(
    st.one_of(
        st.characters(min_codepoint=0x3041, max_codepoint=0x3093),  # hiragana
        st.characters(min_codepoint=0x30A1, max_codepoint=0x30F6),  # katakana
        st.sampled_from("東京都渋谷区返品承認済注文番号商品迅速対応最悪"),
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
    ),
    max_size=20,
)
COLUMN_SETS = [
    ALL_ORDERS_COLUMNS,
    MFN_RETURNS_COLUMNS,
    FBA_RETURNS_COLUMNS,
    SELLER_FEEDBACK_COLUMNS,
]


@st.composite
def flat_files(draw):
    """(columns in some order, rows of text, encoding, marketplace)."""
    columns = list(draw(st.sampled_from(COLUMN_SETS)))
    columns = draw(st.permutations(columns))
    columns += [f"new-column-{i}" for i in range(draw(st.integers(0, 2)))]
    kind = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252", "cp932"]))
    cells = {"cp1252": LATIN, "cp932": JAPANESE}.get(kind, TEXT)
    rows = draw(st.lists(st.lists(cells, min_size=len(columns), max_size=len(columns)), max_size=6))
    marketplace = JP if kind == "cp932" else US
    return columns, rows, kind, marketplace


@SETTINGS
@given(flat_files())
def test_well_formed_report_round_trips(case):
    columns, rows, encoding, marketplace = case
    for row in rows:
        for cell in row:
            try:
                cell.encode(encoding.replace("-sig", ""))
            except UnicodeEncodeError:
                assume(False)
    if encoding in ("cp1252", "cp932"):
        # Bytes that also read as UTF-8 are UTF-8: an ambiguity no reader can resolve.
        data = "".join("".join(row) for row in rows).encode(encoding)
        assume(data.isascii() or _not_utf8(data))
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp) / "report.txt", columns, rows, encoding)
        got = _read(path, marketplace_id=marketplace)
        header = reports.header_of(path, marketplace_id=marketplace)
    names = [reports._norm(c) for c in columns]
    assert header == set(names)
    expected = []
    for line, row in enumerate(rows, start=2):
        values = [_amazon_cell(c) for c in row]
        if not any(v.strip() for v in values):
            continue  # a blank line is skipped
        expected.append({**dict(zip(names, values, strict=True)), "__line": str(line)})
    assert got == expected


def _not_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


# --------------------------------------------------------------------------- typed values

AMOUNTS = st.decimals(min_value=-(10**6), max_value=10**6, places=2, allow_nan=False)
MOMENTS = st.datetimes(
    min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))
OFFSETS = st.integers(-12 * 4, 14 * 4).map(lambda q: timedelta(minutes=15 * q))


def _iso(moment: datetime, offset: timedelta, style: int) -> str:
    local = moment.astimezone(timezone(offset))
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if style == 0:
        return text + local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:]
    if style == 1 and offset == timedelta(0):
        return text + "Z"
    if style == 2:
        hours = {-8: "PST", -7: "PDT", -5: "EST", 9: "JST", 0: "GMT"}.get(
            offset / timedelta(hours=1)
        )
        if hours:
            return local.strftime("%Y-%m-%d %H:%M:%S ") + hours
    return text + local.strftime("%z")


@st.composite
def order_lines(draw):
    n = draw(st.integers(1, 5))
    lines = []
    for i in range(n):
        lines.append(
            {
                "amazon-order-id": f"113-{i:07d}-{draw(st.integers(0, 9_999_999)):07d}",
                "purchase-date": draw(MOMENTS),
                "updated": draw(MOMENTS),
                "offset": draw(st.sampled_from([timedelta(hours=h) for h in (-8, -7, -5, 0, 9)]) | OFFSETS),
                "style": draw(st.integers(0, 3)),
                "order-status": draw(st.sampled_from(["Shipped", "Pending", "Cancelled", "Unshipped"])),
                "sku": draw(st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12)),
                "quantity": draw(st.integers(1, 10_000)),
                "item-price": draw(AMOUNTS),
                "item-tax": draw(AMOUNTS),
                "ship-city": draw(TEXT),
            }
        )  # fmt: skip
    order = draw(st.permutations(ALL_ORDERS_COLUMNS))
    return lines, order


@FRAME_SETTINGS
@given(order_lines())
def test_all_orders_values_round_trip(case):
    lines, columns = case
    rows = []
    for line in lines:
        row = dict.fromkeys(columns, "")
        row.update(
            {
                "amazon-order-id": line["amazon-order-id"],
                "purchase-date": _iso(line["purchase-date"], line["offset"], line["style"]),
                "last-updated-date": _iso(line["updated"], line["offset"], line["style"]),
                "order-status": line["order-status"],
                "sku": line["sku"],
                "asin": "B0TEST0001",
                "quantity": str(line["quantity"]),
                "currency": "USD",
                "item-price": str(line["item-price"]),
                "item-tax": str(line["item-tax"]),
                "ship-city": line["ship-city"],
            }
        )
        rows.append([row[c] for c in columns])
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp) / "orders.txt", columns, rows, "utf-8")
        parsed = _read(path, marketplace_id=US, report_type=reports.ALL_ORDERS)
    assert [r.get("__problem") for r in parsed] == [None] * len(lines)
    orders, items = reports.all_orders_frames(parsed, "acct", US, PEPPER, reports.ALL_ORDERS)
    by_id = {line["amazon-order-id"]: line for line in lines}
    assert sorted(items["order_id"]) == sorted(by_id)
    for item in items.to_dict("records"):
        line = by_id[item["order_id"]]
        assert item["sku"] == line["sku"]
        assert item["quantity"] == line["quantity"]
        assert item["item_price"] == float(line["item-price"])
        assert item["item_tax"] == float(line["item-tax"])
        assert item["last_updated_time"] == pd.Timestamp(line["updated"])
    for order in orders.to_dict("records"):
        line = by_id[order["order_id"]]
        assert order["purchase_time"] == pd.Timestamp(line["purchase-date"])
        city = _amazon_cell(line["ship-city"]).strip() or None
        assert order["ship_city"] == city
        assert order["order_total"] == round(float(line["item-price"]) + float(line["item-tax"]), 4)


@FRAME_SETTINGS
@given(
    st.lists(
        st.tuples(
            # Two-digit years: 00-68 are 2000-2068 (Python's and Amazon's reading).
            st.dates(min_value=datetime(2000, 1, 1).date(), max_value=datetime(2068, 12, 31).date()),
            st.integers(1, 5),
            TEXT,
        ),
        min_size=1,
        max_size=5,
    ),
    st.booleans(),
)  # fmt: skip
def test_feedback_dates_and_ratings_round_trip(entries, japanese):
    columns = list(SELLER_FEEDBACK_COLUMNS)
    rows = []
    for i, (day, rating, comment) in enumerate(entries):
        shown = f"{day:%Y/%m/%d}" if japanese else f"{day.month}/{day.day}/{day:%y}"
        rows.append([shown, str(rating), comment, "", f"117-0000000-{i:07d}", ""])
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp) / "feedback.txt", columns, rows, "utf-8")
        parsed = _read(path, report_type=reports.SELLER_FEEDBACK)
    assert all("__problem" not in r for r in parsed)
    frame = reports.feedback_frame(parsed, "acct", US, PEPPER)
    assert list(frame["feedback_date"]) == [pd.Timestamp(day) for day, _, _ in entries]
    assert list(frame["rating"]) == [rating for _, rating, _ in entries]


# --------------------------------------------------------------------------- any bytes

_HEADERS = {
    reports.ALL_ORDERS: ALL_ORDERS_COLUMNS,
    reports.MFN_RETURNS: MFN_RETURNS_COLUMNS,
    reports.FBA_RETURNS: FBA_RETURNS_COLUMNS,
    reports.SELLER_FEEDBACK: SELLER_FEEDBACK_COLUMNS,
}


@st.composite
def report_bytes(draw):
    """Random bytes, or a real header followed by random lines of random cells."""
    if draw(st.booleans()):
        data = draw(st.binary(max_size=2000))
    else:
        header = "\t".join(draw(st.sampled_from(list(_HEADERS.values())))).encode()
        cells = st.one_of(
            st.text(max_size=12).map(lambda t: t.encode("utf-8", "surrogatepass")),
            st.binary(max_size=6),
            st.sampled_from(
                [b"2026-02-30", b"1e999", b"-1", b"99999999999999999999", b"nan", b"11/20/26",
                 b"2026-11-05 14:03:11 PST", b"12,99", b"\xef\xbb\xbf", b"\r"]
            ),
        )  # fmt: skip
        lines = draw(st.lists(st.lists(cells, max_size=14).map(b"\t".join), max_size=8))
        data = header + b"\n" + b"\n".join(lines)
    if draw(st.booleans()):
        data = gzip.compress(data, mtime=0)[: draw(st.integers(10, 4000))]
    return data


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(report_bytes(), st.sampled_from(sorted(_HEADERS)), st.sampled_from([US, JP, None]))
def test_any_bytes_parse_or_fail_with_a_report_file_error(data, report_type, marketplace):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "any.txt"
        path.write_bytes(data)
        try:
            present = reports.header_of(path, marketplace_id=marketplace)
            rows = _read(path, marketplace_id=marketplace, report_type=report_type)
        except reports.ReportFileError as exc:
            assert str(path) in str(exc)
            assert "\n" not in str(exc)
            return
    for row in rows:
        assert int(row["__line"]) >= 2
        assert all(len(v) <= reports.MAX_FIELD_CHARS for v in row.values())
    good = [r for r in rows if "__problem" not in r]
    if not present >= set(_required(report_type)):
        return  # import-report stops at require_columns with a ReportFileError
    if report_type == reports.ALL_ORDERS:
        orders, items = reports.all_orders_frames(good, "acct", US, PEPPER, report_type)
        assert len(items) == len(good)
    elif report_type == reports.SELLER_FEEDBACK:
        assert len(reports.feedback_frame(good, "acct", US, PEPPER)) == len(good)
    else:
        assert len(reports.returns_frame(good, report_type, "acct", US)) == len(good)


def _required(report_type: str) -> list[str]:
    if report_type == reports.ALL_ORDERS:
        return reports.ALL_ORDERS_REQUIRED
    if report_type == reports.SELLER_FEEDBACK:
        return reports.FEEDBACK_REQUIRED
    return reports.RETURNS_REQUIRED[report_type]


# --------------------------------------------------------------------------- e-mail

SELLER = "orders@acme-outdoor.example"
RELAY = "k2v9q7x1@marketplace.amazon.com"
CRLF = "\r\n"

# Mail charset label -> the codec a sender uses for it.
CHARSETS = {
    "UTF-8": "utf-8",
    "ISO-8859-1": "latin-1",
    "windows-1252": "cp1252",
    "ISO-8859-15": "iso8859_15",
    "KOI8-R": "koi8_r",
    "Shift_JIS": "cp932",
    "EUC-JP": "euc_jp",
    "ISO-2022-JP": "iso2022_jp",
}
BODY_TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")) | st.just("\n"), max_size=300
)


@st.composite
def relay_mail(draw):
    label = draw(st.sampled_from(sorted(CHARSETS)))
    text = draw(BODY_TEXT)
    try:
        payload = text.replace("\n", "\r\n").encode(CHARSETS[label])
    except UnicodeEncodeError:
        assume(False)
    # Some characters share a code with another in a legacy charset (EUC-JP and
    # Shift_JIS write both "¥" and "\\" as 0x5C): the text is what the bytes say.
    assume(payload.decode(CHARSETS[label]) == text.replace("\n", "\r\n"))
    transfer = draw(st.sampled_from(["8bit", "quoted-printable", "base64"]))
    order_id = draw(st.none() | st.from_regex(r"\A\d{3}-\d{7}-\d{7}\Z"))
    root = draw(st.none() | st.from_regex(r"\A[a-z0-9]{1,12}@[a-z]{1,8}\.example\Z"))
    subject = draw(st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40))
    return label, text, payload, transfer, order_id, root, subject


def _message(label, payload, transfer, order_id, root, subject) -> bytes:
    if transfer == "base64":
        payload = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    elif transfer == "quoted-printable":
        payload = quopri.encodestring(payload.replace(b"\r\n", b"\n")).replace(b"\n", b"\r\n")
    title = (subject + (f" (Order: {order_id})" if order_id else "")).strip() or "Question"
    headers = [
        f"From: <{RELAY}>",
        f"To: {SELLER}",
        "Subject: " + Header(title, "utf-8").encode(linesep=CRLF),
        "Message-ID: <m1@relay.example>",
        "Date: Fri, 20 Nov 2026 10:15:00 -0800",
        "MIME-Version: 1.0",
        f"Content-Type: text/plain; charset={label}",
        f"Content-Transfer-Encoding: {transfer}",
    ]
    if root:
        headers += [f"In-Reply-To: <{root}>", f"References: <{root}>"]
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + payload


@SETTINGS
@given(relay_mail())
def test_mail_body_order_and_thread_round_trip(mail):
    label, text, payload, transfer, order_id, root, subject = mail
    assume(not mailbox.ORDER_ID_RE.search(text) and not mailbox.ORDER_ID_RE.search(subject))
    raw = _message(label, payload, transfer, order_id, root, subject)
    result = mailbox.parse_message(raw, seller_addresses={SELLER}, pepper=PEPPER, keep_body=True)
    assert isinstance(result, mailbox.ParsedMessage), result
    assert result.body == text
    assert result.body_chars == len(text)
    assert result.order_id == order_id
    assert result.sent_time == datetime(2026, 11, 20, 18, 15, tzinfo=UTC)
    if root:
        assert result.thread_key == root
    elif mailbox._is_reply_subject(subject.strip()):
        basis = f"order:{order_id}" if order_id else None
        if basis:
            digest = hmac.new(PEPPER, f"thread|{basis}|{RELAY}".encode(), sha256).hexdigest()
            assert result.thread_key == "orphan:" + digest[:32]
    else:
        assert result.thread_key == "m1@relay.example"


HEADER_VALUES = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(["From", "To", "Cc", "Subject", "Date", "Message-ID", "References",
                         "In-Reply-To", "Content-Type", "Content-Transfer-Encoding", "Received",
                         "X-Anything"]),
        HEADER_VALUES,
        max_size=10,
    ),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20),
    st.binary(max_size=500),
    st.booleans(),
)  # fmt: skip
def test_arbitrary_headers_and_charsets_never_raise(headers, charset, body, relay_sender):
    headers = dict(headers)
    if relay_sender:
        headers["From"] = f'"{headers.get("From", "")[:20]}" <{RELAY}>'
        headers["Content-Type"] = f"text/plain; charset={charset}"
    lines = [f"{name}: {value}" for name, value in headers.items()]
    raw = "\r\n".join(lines).encode("utf-8", "surrogatepass") + b"\r\n\r\n" + body
    result = mailbox.parse_message(raw, seller_addresses={SELLER}, pepper=PEPPER)
    assert result is None or isinstance(result, mailbox.ParsedMessage | mailbox.Rejected)
    if isinstance(result, mailbox.Rejected):
        assert result.reason and "\n" not in result.reason
    if isinstance(result, mailbox.ParsedMessage):
        assert result.sent_time.utcoffset() == timedelta(0)
        assert result.order_id is None or mailbox.ORDER_ID_RE.fullmatch(result.order_id)
        assert result.body is None and result.body_chars >= 0
