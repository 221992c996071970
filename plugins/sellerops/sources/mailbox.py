"""Buyer-seller messages from the seller's mailbox (Maildir or IMAP).

Amazon has no API to read buyer messages. Buyers write through Amazon's
Buyer-Seller Messaging service, which relays each message to the seller's
e-mail address from a per-buyer relay address such as
``0x3k9...@marketplace.amazon.com``; the seller's replies go back to that relay
address. This module turns those e-mails into rows of the ``messages`` dataset
(:data:`sellerops.datasets.MESSAGES`).

Privacy: message bodies, subjects, buyer names and relay addresses never leave
this module. A row carries the relay *domain* (to find the marketplace), the
pseudonymous ``buyer_key`` (``identity.key_from_email`` of the relay address),
the length of the body and a coarse ``subject_kind``. ``keep_body=True`` adds
the decoded plain-text body for callers that need it (tests, a local triage
tool); the dataset frame never has it.

Which mail counts
    ``From`` is one of the seller's addresses and ``To``/``Cc`` holds a relay
    address: a seller message (``direction='seller'``). ``From`` is a relay
    address (``marketplace.amazon.<tld>``): a buyer message. Anything else
    (newsletters, Amazon's ``donotreply@`` notifications, the seller's other
    mail) is skipped: :func:`parse_message` returns ``None`` and
    :func:`skip_reason` says why.

Rejected mail
    A buyer-seller message that cannot be read reliably (no Message-ID, no
    usable date, bytes that do not decode in the labelled charset, broken
    encoded-words or base64, enormous header fields, oversized messages) is
    returned as :class:`Rejected` with a reason, never raised; the ingest puts
    those rows into quarantine. Charsets are read strictly, except for the
    supersets every mail reader uses (ISO-8859-1 as windows-1252, Shift_JIS as
    cp932, ISO-2022-JP as ISO-2022-JP-2). Raw 8-bit header bytes are read as
    UTF-8 (RFC 6532).

``sent_time``
    The ``Date`` header converted to UTC (``-0000`` counts as UTC); when it is
    missing or unusable, the newest date among the ``Received`` headers.
    Neither: rejected.

``order_id``
    The first ``NNN-NNNNNNN-NNNNNNN`` in the subject, else in the body; ``None``
    for pre-sales questions.

``thread_key`` (the rule)
    1. the first Message-ID in ``References`` (the thread's root), else the
       Message-ID in ``In-Reply-To``;
    2. a message without either header whose subject is not a reply starts a
       thread: its own Message-ID. So every message of a well-threaded
       conversation gets the Message-ID of the conversation's first e-mail;
    3. a message without either header whose subject says it is a reply
       (``Re:``, ``AW:``, ``返信:`` ...) lost its threading headers on the way
       (buyers answering on Amazon's website do that): ``orphan:`` + an HMAC
       (under the pepper) of the order id and the relay address, or, for a
       pre-sales message, of the normalised subject and the relay address.
       Such orphaned replies of one order and buyer share one key.

``subject_kind``
    From the subject with reply prefixes and the customer's name removed:
    ``return`` (return / refund / RMA / 返品 / 返金), else an inquiry template
    (``Inquiry from Amazon customer``, ``question``, ``問い合わせ`` ...) gives
    ``order_inquiry`` when the message has an order id and
    ``presales_inquiry`` when it has none, else ``other``.

Reading windows
    ``since`` (inclusive) and ``until`` (exclusive) are compared with
    ``sent_time``; a rejected message without any date is placed by its
    delivery time (the Maildir file's mtime, which is what Dovecot reports as
    the IMAP INTERNALDATE). IMAP narrows the search on the server with day
    granularity and a day's margin (``SENTSINCE`` on the Date header, or
    ``SINCE`` on the delivery date for mail without a usable Date), then
    filters exactly like the Maildir reader, so both readers return equal
    records for the same mail (their ``source`` and ``location`` differ and
    are not compared).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import contextlib
import email.policy
import hmac
import html.parser
import imaplib
import ipaddress
import logging
import os
import quopri
import re
import ssl as ssl_module
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, timezone
from email import errors as email_errors
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_tz
from hashlib import sha256
from pathlib import Path

import pandas as pd

from sellerops import datasets, identity
from sellerops.frames import typed_frame

log = logging.getLogger(__name__)

SOURCE_MAILDIR = "maildir"
SOURCE_IMAP = "imap"

SUBJECT_KINDS = ("presales_inquiry", "order_inquiry", "return", "other")

# Relay domain -> marketplace id (Amazon's published marketplace ids).
DEFAULT_RELAY_MARKETPLACES: dict[str, str] = {
    "marketplace.amazon.com": "ATVPDKIKX0DER",
    "marketplace.amazon.ca": "A2EUQ1WTGCTBG2",
    "marketplace.amazon.com.mx": "A1AM78C64UM0Y8",
    "marketplace.amazon.com.br": "A2Q3Y263D00KWC",
    "marketplace.amazon.co.uk": "A1F83G8C2ARO7P",
    "marketplace.amazon.de": "A1PA6795UKMFR9",
    "marketplace.amazon.fr": "A13V1IB3VIYZZH",
    "marketplace.amazon.it": "APJ6JRA9NG5V4",
    "marketplace.amazon.es": "A1RKKUPIHCS9HS",
    "marketplace.amazon.co.jp": "A1VC38T7YXB528",
    "marketplace.amazon.com.au": "A39IBJ37TRP1C6",
    "marketplace.amazon.in": "A21TJRUUN4KGV",
}

MAX_MESSAGE_BYTES = 25 * 1024 * 1024
MAX_HEADER_CHARS = 64 * 1024
MAX_HEADER_FIELDS = 1000
MAX_MIME_PARTS = 200
MAX_MIME_DEPTH = 20

ORDER_ID_RE = re.compile(r"(?<!\d)(\d{3}-\d{7}-\d{7})(?!\d)")
_RELAY_DOMAIN_RE = re.compile(r"^marketplace\.amazon\.[a-z]{2,3}(?:\.[a-z]{2})?$")
_AMAZON_DOMAIN_RE = re.compile(r"(?:^|\.)amazon(?:\.[a-z]{2,3}){1,2}$")
_MSGID_RE = re.compile(r"<([^<>\s]{1,998})>")
_REPLY_PREFIX_RE = re.compile(
    r"^\s*(?:re|fw|fwd|aw|wg|sv|vs|antw|rif|tr|r|返信|転送|回复|答复)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*",
    re.IGNORECASE,
)
_CUSTOMER_NAME_RE = re.compile(
    r"(from (?:an )?amazon customer)\s+.*?(?=\s*\(|$)|(お客様)\S*", re.IGNORECASE
)
_RETURN_RE = re.compile(
    r"\breturn|\brefund|\brma\b|\brücksend|\bretour|\bdevoluci|返品|返金", re.IGNORECASE
)
_INQUIRY_RE = re.compile(
    r"inquir|enquir|question|amazon customer|message from|問い合わせ|問合せ|質問|お客様",
    re.IGNORECASE,
)
_ENCODED_WORD_RE = re.compile(r"=\?([^?\s]{1,75})\?([qQbB])\?([^?\s]*)\?=")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_INTERNALDATE_RE = re.compile(
    r"^\s*(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})\s*$"
)

# Charset labels read as a superset, as mail readers do. Every other label is
# looked up in Python's codec registry and decoded strictly.
_CHARSET_SUPERSETS: dict[str, tuple[str, ...]] = {
    "iso-8859-1": ("cp1252", "latin-1"),
    "iso8859-1": ("cp1252", "latin-1"),
    "latin1": ("cp1252", "latin-1"),
    "latin-1": ("cp1252", "latin-1"),
    "l1": ("cp1252", "latin-1"),
    "shift_jis": ("cp932",),
    "shift-jis": ("cp932",),
    "sjis": ("cp932",),
    "x-sjis": ("cp932",),
    "s-jis": ("cp932",),
    "ms_kanji": ("cp932",),
    "csshiftjis": ("cp932",),
    "windows-31j": ("cp932",),
    "iso-2022-jp": ("iso2022_jp_2",),
    "csiso2022jp": ("iso2022_jp_2",),
}


class _RawHeaders(type(email.policy.compat32)):  # type: ignore[misc]
    """compat32 parsing, but header values come back as the raw strings."""

    def header_fetch_parse(self, name, value):
        return value


_POLICY = _RawHeaders()


@dataclass(frozen=True)
class ParsedMessage:
    """One buyer-seller e-mail, without its text, names or addresses."""

    message_id: str
    thread_key: str
    order_id: str | None
    direction: str  # 'buyer' or 'seller'
    sent_time: datetime  # UTC, whole seconds
    buyer_key: str
    subject_kind: str
    has_attachment: bool
    body_chars: int
    relay_domain: str  # e.g. marketplace.amazon.com: decides the marketplace
    body: str | None = None  # only with keep_body=True
    source: str = field(default="", compare=False)  # 'maildir' or 'imap'
    location: str = field(default="", compare=False)  # file or IMAP URL


@dataclass(frozen=True)
class Rejected:
    """A buyer-seller e-mail that could not be read; goes to quarantine."""

    reason: str
    message_id: str | None = None
    sent_time: datetime | None = None
    source: str = field(default="", compare=False)
    location: str = field(default="", compare=False)
    delivered_time: datetime | None = field(default=None, compare=False)


@dataclass(frozen=True)
class _Skip:
    reason: str


class _Reject(Exception):
    def __init__(self, reason: str, message_id: str | None = None, sent_time=None):
        super().__init__(reason)
        self.reason = reason
        self.message_id = message_id
        self.sent_time = sent_time


# --------------------------------------------------------------------------- parsing


def parse_message(
    raw: bytes,
    *,
    seller_addresses: Iterable[str],
    pepper: bytes,
    keep_body: bool = False,
) -> ParsedMessage | Rejected | None:
    """Turn one relay e-mail into a :class:`ParsedMessage`.

    Returns ``None`` for mail that is not a buyer-seller message (see
    :func:`skip_reason`) and :class:`Rejected` for a buyer-seller message that
    cannot be read. Never raises on any input bytes.
    """
    result = _classify(raw, _seller_set(seller_addresses), pepper, keep_body)
    return None if isinstance(result, _Skip) else result


def skip_reason(raw: bytes, *, seller_addresses: Iterable[str]) -> str | None:
    """Why :func:`parse_message` returns ``None`` for this mail, or ``None`` if it does not."""
    result = _classify(raw, _seller_set(seller_addresses), b"skip-reason", False)
    return result.reason if isinstance(result, _Skip) else None


def _seller_set(addresses: Iterable[str]) -> frozenset[str]:
    if isinstance(addresses, str):
        addresses = [addresses]
    return frozenset(a for a in (identity.normalise_email(x) for x in addresses) if a)


def _classify(
    raw: bytes, sellers: frozenset[str], pepper: bytes, keep_body: bool
) -> ParsedMessage | Rejected | _Skip:
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError(f"raw must be bytes, not {type(raw).__name__}")
    raw = bytes(raw)
    if len(raw) > MAX_MESSAGE_BYTES:
        return Rejected(f"message too large (> {MAX_MESSAGE_BYTES} bytes)")
    try:
        return _classify_parsed(raw, sellers, pepper, keep_body)
    except _Reject as exc:
        return Rejected(exc.reason, exc.message_id, exc.sent_time)
    except Exception as exc:  # noqa: BLE001 - a mail must never stop the ingest
        return Rejected(f"unreadable e-mail ({type(exc).__name__})")


def _classify_parsed(
    raw: bytes, sellers: frozenset[str], pepper: bytes, keep_body: bool
) -> ParsedMessage | Rejected | _Skip:
    msg = BytesParser(policy=_POLICY).parsebytes(raw)
    if len(msg.keys()) > MAX_HEADER_FIELDS:
        raise _Reject(f"more than {MAX_HEADER_FIELDS} header fields")

    # 1. Is this a buyer-seller message at all? Decided on addresses only, so
    #    broken newsletters are skipped rather than quarantined.
    senders = _addresses(_header(msg, "From"))
    if not senders:
        # Quarantine it if Amazon's relay evidently sent it, else it is not ours.
        others = [_addresses(_header(msg, h)) for h in ("Sender", "Reply-To", "Return-Path")]
        if any(_is_relay(a) for addresses in others for a in addresses):
            raise _Reject("missing or unparseable From header")
        return _Skip("no From address")
    sender = senders[0]
    if sender in sellers:
        direction = "seller"
        recipients = _addresses(_header(msg, "To")) + _addresses(_header(msg, "Cc"))
        relays = [a for a in recipients if _is_relay(a)]
        if not relays:
            return _Skip("seller mail not addressed to an Amazon relay address")
        relay = relays[0]
    elif _is_relay(sender):
        direction = "buyer"
        relay = sender
    elif _is_amazon(sender):
        return _Skip(f"Amazon notification from {sender.rpartition('@')[2]}, not a buyer message")
    else:
        return _Skip(f"not a buyer-seller message (sender domain {sender.rpartition('@')[2]})")

    # 2. Identity, time and content, strictly decoded.
    message_id: str | None = None
    sent_time: datetime | None = None
    try:
        message_id = _first_msgid(_header(msg, "Message-ID"))
        sent_time = _sent_time(msg)
        if message_id is None:
            raise _Reject("missing or malformed Message-ID")
        if sent_time is None:
            raise _Reject("no usable Date header and no dated Received header")
        subject = _decode_header_text(_header(msg, "Subject") or "", "Subject")
        body, has_attachment = _body(msg)
        order_match = ORDER_ID_RE.search(subject) or ORDER_ID_RE.search(body)
        order_id = order_match.group(1) if order_match else None
        thread_key = _thread_key(msg, message_id, order_id, subject, relay, pepper)
    except _Reject as exc:
        raise _Reject(exc.reason, message_id, sent_time) from None
    buyer_key = identity.key_from_email(pepper, relay)
    if buyer_key is None:  # pragma: no cover - a relay address always has an '@'
        raise _Reject("no buyer key from the relay address", message_id, sent_time)
    return ParsedMessage(
        message_id=message_id,
        thread_key=thread_key,
        order_id=order_id,
        direction=direction,
        sent_time=sent_time,
        buyer_key=buyer_key,
        subject_kind=subject_kind(subject, order_id),
        has_attachment=has_attachment,
        body_chars=len(body),
        relay_domain=relay.rpartition("@")[2],
        body=body if keep_body else None,
    )


def _header(msg: Message, name: str) -> str | None:
    value = msg.get(name)
    if value is None:
        return None
    value = str(value)
    if len(value) > MAX_HEADER_CHARS:
        raise _Reject(f"{name} header longer than {MAX_HEADER_CHARS} characters")
    return re.sub(r"\r?\n(?=[ \t])", "", value).replace("\r", "").replace("\n", "").strip()


def _all_headers(msg: Message, name: str) -> list[str]:
    values = []
    for value in msg.get_all(name) or []:
        value = str(value)
        if len(value) > MAX_HEADER_CHARS:
            raise _Reject(f"{name} header longer than {MAX_HEADER_CHARS} characters")
        values.append(re.sub(r"\r?\n(?=[ \t])", "", value).strip())
    return values


def _unsurrogate(value: str, what: str) -> str:
    """Raw 8-bit header bytes (kept as surrogates by the parser) read as UTF-8."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        pass
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeError:
        raise _Reject(f"{what}: raw 8-bit bytes that are not UTF-8") from None


def _addresses(value: str | None) -> list[str]:
    if not value:
        return []
    try:
        value = _unsurrogate(value, "address")
    except _Reject:
        value = value.encode("utf-8", "surrogateescape").decode("latin-1")
    result = []
    for _name, address in getaddresses([value]):
        normalised = identity.normalise_email(address)
        if normalised and " " not in normalised and len(normalised) <= 320:
            result.append(normalised)
    return result


def _domain(address: str) -> str:
    return address.rpartition("@")[2].rstrip(".")


def _is_relay(address: str) -> bool:
    return bool(_RELAY_DOMAIN_RE.match(_domain(address)))


def _is_amazon(address: str) -> bool:
    return bool(_AMAZON_DOMAIN_RE.search(_domain(address)))


def _msgids(value: str | None) -> list[str]:
    if not value:
        return []
    ids = _MSGID_RE.findall(value)
    if ids:
        return ids
    # Some mailers drop the angle brackets.
    return [token for token in value.split() if "@" in token and len(token) <= 998]


def _first_msgid(value: str | None) -> str | None:
    ids = _msgids(value)
    if not ids:
        return None
    return _unsurrogate(ids[0], "Message-ID")


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parts = parsedate_tz(value)
        if parts is None:
            return None
        offset = parts[9] or 0
        moment = datetime(*parts[:6], tzinfo=timezone(timedelta(seconds=offset)))
        moment = moment.astimezone(UTC)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    if not 1990 <= moment.year < 2200:
        return None
    return moment


def _sent_time(msg: Message) -> datetime | None:
    try:
        sent = _parse_date(_header(msg, "Date"))
    except _Reject:
        sent = None
    if sent is not None:
        return sent
    received = []
    for value in _all_headers(msg, "Received"):
        if ";" in value:
            moment = _parse_date(value.rpartition(";")[2].strip())
            if moment is not None:
                received.append(moment)
    return max(received) if received else None


def _codecs_for(label: str | None) -> tuple[str, ...] | None:
    if label is None:
        return ("utf-8",)
    label = label.strip().strip('"').lower()
    if label in _CHARSET_SUPERSETS:
        return _CHARSET_SUPERSETS[label]
    try:
        info = codecs.lookup(label)
    except (LookupError, TypeError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True):  # base64, rot13, zlib ...
        return None
    return (info.name,)


def _decode_bytes(data: bytes, label: str | None, what: str) -> str:
    candidates = _codecs_for(label)
    shown = (label or "")[:40]
    if candidates is None:
        raise _Reject(f"{what}: unknown charset {shown!r}")
    for codec in candidates:
        try:
            return data.decode(codec)
        except (UnicodeError, LookupError, ValueError):
            continue
    if label is None:
        raise _Reject(f"{what}: 8-bit data without a charset that is not UTF-8")
    raise _Reject(f"{what}: bytes do not decode as the labelled charset {shown!r}")


def _decode_header_text(value: str, name: str) -> str:
    """RFC 2047 encoded-words decoded strictly; adjacent words of one charset joined."""
    value = _unsurrogate(value, name)
    if "=?" not in value:
        return value
    out: list[str] = []
    pending: bytearray = bytearray()
    pending_charset: str | None = None
    position = 0

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending_charset is not None:
            out.append(_decode_bytes(bytes(pending), pending_charset, f"{name} encoded-word"))
        pending, pending_charset = bytearray(), None

    for match in _ENCODED_WORD_RE.finditer(value):
        between = value[position : match.start()]
        charset = match.group(1).split("*", 1)[0]  # RFC 2231 language suffix
        encoding = match.group(2).lower()
        payload = match.group(3)
        if between.strip() or pending_charset is None:
            flush()
            out.append(between)
        elif charset.lower() != pending_charset.lower():
            flush()  # whitespace between encoded-words is dropped
        try:
            if encoding == "b":
                data = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True)
            else:
                data = quopri.decodestring(payload.encode("ascii"), header=True)
        except (binascii.Error, ValueError, UnicodeError):
            raise _Reject(f"{name}: malformed encoded-word") from None
        pending += data
        pending_charset = charset
        position = match.end()
    flush()
    out.append(value[position:])
    return "".join(out)


def _parts(msg: Message, depth: int = 0) -> Iterator[Message]:
    """Leaf parts, not descending into attached messages."""
    if depth > MAX_MIME_DEPTH:
        raise _Reject(f"MIME nesting deeper than {MAX_MIME_DEPTH}")
    if msg.is_multipart() and msg.get_content_maintype() == "multipart":
        for part in msg.get_payload():
            if isinstance(part, Message):
                yield from _parts(part, depth + 1)
    elif msg.get_content_maintype() == "multipart":
        raise _Reject("multipart part without subparts (missing boundary?)")
    else:
        yield msg


def _body(msg: Message) -> tuple[str, bool]:
    plain: Message | None = None
    html_part: Message | None = None
    has_attachment = False
    for count, part in enumerate(_parts(msg), start=1):
        if count > MAX_MIME_PARTS:
            raise _Reject(f"more than {MAX_MIME_PARTS} MIME parts")
        content_type = part.get_content_type()
        disposition = (part.get_content_disposition() or "").lower()
        try:
            filename = part.get_filename()
        except (ValueError, LookupError, UnicodeError, TypeError):
            filename = "?"
        if disposition == "attachment" or filename or part.get_content_maintype() != "text":
            has_attachment = True
        elif content_type == "text/plain" and plain is None:
            plain = part
        elif content_type == "text/html" and html_part is None:
            html_part = part
    if plain is not None:
        text = _part_text(plain)
    elif html_part is not None:
        text = _html_to_text(_part_text(html_part))
    else:
        text = ""
    return text.replace("\r\n", "\n").replace("\r", "\n"), has_attachment


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if payload is None:
        return ""
    bad = (email_errors.InvalidBase64CharactersDefect, email_errors.InvalidBase64LengthDefect)
    if any(isinstance(defect, bad) for defect in part.defects):
        raise _Reject("body: corrupt base64")
    charset = part.get_param("charset")
    if isinstance(charset, tuple):  # RFC 2231 form
        charset = charset[2]
    if charset is not None:
        charset = _unsurrogate(str(charset), "charset")
    return _decode_bytes(payload, charset, "body")


class _TextExtractor(html.parser.HTMLParser):
    _BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head", "title"):
            self._skip += 1
        elif tag in self._BLOCK and self.chunks and not self.chunks[-1].endswith("\n"):
            self.chunks.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head", "title"):
            self._skip = max(0, self._skip - 1)
        elif tag in ("p", "div", "li", "tr") and self.chunks and not self.chunks[-1].endswith("\n"):
            self.chunks.append("\n")

    def handle_data(self, data):
        if not self._skip:
            self.chunks.append(re.sub(r"\s+", " ", data))


def _html_to_text(markup: str) -> str:
    extractor = _TextExtractor()
    extractor.feed(markup)
    extractor.close()
    lines = (line.strip() for line in "".join(extractor.chunks).split("\n"))
    return "\n".join(line for line in lines if line)


def _normalised_subject(subject: str) -> str:
    text = subject
    for _ in range(10):
        stripped = _REPLY_PREFIX_RE.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    return identity.normalise_text(text)


def _is_reply_subject(subject: str) -> bool:
    return bool(_REPLY_PREFIX_RE.match(subject))


def subject_kind(subject: str, order_id: str | None) -> str:
    """Coarse kind of a message from its (decoded) subject; see the module docstring."""
    text = _normalised_subject(subject)
    text = _CUSTOMER_NAME_RE.sub(lambda m: m.group(1) or m.group(2) or "", text)
    if _RETURN_RE.search(text):
        return "return"
    if _INQUIRY_RE.search(text):
        return "order_inquiry" if order_id else "presales_inquiry"
    return "other"


def _thread_key(
    msg: Message,
    message_id: str,
    order_id: str | None,
    subject: str,
    relay: str,
    pepper: bytes,
) -> str:
    references = _msgids(_header(msg, "References"))
    if references:
        return _unsurrogate(references[0], "References")
    parent = _first_msgid(_header(msg, "In-Reply-To"))
    if parent:
        return parent
    if not _is_reply_subject(subject):
        return message_id
    basis = f"order:{order_id}" if order_id else f"subject:{_normalised_subject(subject)}"
    digest = hmac.new(pepper, f"thread|{basis}|{relay}".encode(), sha256).hexdigest()
    return "orphan:" + digest[:32]


# --------------------------------------------------------------------------- readers


def _check_window(since: datetime | None, until: datetime | None) -> None:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ValueError(f"{name} must be timezone-aware (UTC), got {value!r}")


def _in_window(record: ParsedMessage | Rejected, since, until) -> bool:
    moment = record.sent_time
    if moment is None and isinstance(record, Rejected):
        moment = record.delivered_time
    if moment is None:
        return True
    return (since is None or moment >= since) and (until is None or moment < until)


def _read_one(
    raw: bytes,
    *,
    sellers: frozenset[str],
    pepper: bytes,
    keep_body: bool,
    source: str,
    location: str,
    delivered: datetime | None,
    on_skip: Callable[[str, str], None] | None,
) -> ParsedMessage | Rejected | None:
    result = _classify(raw, sellers, pepper, keep_body)
    if isinstance(result, _Skip):
        log.debug("skipped %s: %s", location, result.reason)
        if on_skip is not None:
            on_skip(location, result.reason)
        return None
    if isinstance(result, Rejected):
        return replace(result, source=source, location=location, delivered_time=delivered)
    return replace(result, source=source, location=location)


def _maildir_folders(root: Path, folders: Iterable[str] | None) -> list[tuple[str, Path]]:
    if folders is None:
        found = [("INBOX", root)]
        if root.is_dir():
            for entry in sorted(root.iterdir()):
                name = entry.name
                if name.startswith(".") and name not in (".", "..") and (entry / "cur").is_dir():
                    found.append((name[1:], entry))
        return found
    result = []
    for name in folders:
        path = root if name.upper() == "INBOX" else root / ("." + name)
        result.append((name, path))
    return result


def read_maildir(
    root: str | os.PathLike[str],
    *,
    seller_addresses: Iterable[str],
    pepper: bytes,
    since: datetime | None = None,
    until: datetime | None = None,
    folders: Iterable[str] | None = None,
    keep_body: bool = False,
    on_skip: Callable[[str, str], None] | None = None,
) -> Iterator[ParsedMessage | Rejected]:
    """Buyer-seller messages from a Maildir (``new`` and ``cur``) and its Maildir++ folders.

    ``folders=None`` reads the inbox and every subfolder (``.Sent`` is
    ``"Sent"``); otherwise the named folders, ``"INBOX"`` being the root.
    Mail that is not a buyer-seller message is skipped (``on_skip(location,
    reason)`` is called for it). Files are read in name order, ``new`` first.
    """
    _check_window(since, until)
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no Maildir at {root}")
    sellers = _seller_set(seller_addresses)
    for folder, path in _maildir_folders(root, folders):
        if not (path / "cur").is_dir() and not (path / "new").is_dir():
            log.warning("Maildir %s has no folder %r; skipped", root, folder)
            continue
        for sub in ("new", "cur"):
            directory = path / sub
            try:
                names = sorted(n for n in os.listdir(directory) if not n.startswith("."))
            except FileNotFoundError:
                continue
            for name in names:
                record = _read_maildir_file(
                    root, directory, name, sellers, pepper, keep_body, on_skip
                )
                if record is not None and _in_window(record, since, until):
                    yield record


def _read_maildir_file(root, directory, name, sellers, pepper, keep_body, on_skip):
    path = directory / name
    try:
        stat = path.stat()
        if not path.is_file():
            return None
        location = str(path.relative_to(root))
        delivered = datetime.fromtimestamp(int(stat.st_mtime), UTC)
        if stat.st_size > MAX_MESSAGE_BYTES:
            return Rejected(
                f"message too large (> {MAX_MESSAGE_BYTES} bytes)",
                source=SOURCE_MAILDIR,
                location=location,
                delivered_time=delivered,
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        # A mail server moved it from new/ to cur/ while we were reading.
        key = name.split(":", 1)[0]
        cur = directory.parent / "cur"
        moved = [p for p in cur.iterdir() if p.name.split(":", 1)[0] == key and p != path]
        if directory.name == "new" and moved:
            return _read_maildir_file(
                root, moved[0].parent, moved[0].name, sellers, pepper, keep_body, on_skip
            )
        return None
    return _read_one(
        raw,
        sellers=sellers,
        pepper=pepper,
        keep_body=keep_body,
        source=SOURCE_MAILDIR,
        location=location,
        delivered=delivered,
        on_skip=on_skip,
    )


def imap_date(day: date) -> str:
    """IMAP ``date`` (RFC 3501), independent of the locale: ``4-Nov-2026``."""
    return f"{day.day}-{_MONTHS[day.month - 1]}-{day.year}"


def imap_search_criteria(since: datetime | None, until: datetime | None) -> str:
    """The server-side pre-filter: a superset of the window with a day's margin."""
    criteria = []
    if since is not None:
        day = imap_date(since.astimezone(UTC).date() - timedelta(days=1))
        criteria.append(f"(OR SENTSINCE {day} SINCE {day})")
    if until is not None:
        day = imap_date(until.astimezone(UTC).date() + timedelta(days=2))
        criteria.append(f"(OR SENTBEFORE {day} BEFORE {day})")
    return " ".join(criteria) or "ALL"


def _imap_utf7(name: str) -> str:
    """Modified UTF-7 for mailbox names (RFC 3501 5.1.3)."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(data).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def _quote_mailbox(name: str) -> str:
    encoded = _imap_utf7(name)
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _parse_internaldate(value: str) -> datetime | None:
    match = _INTERNALDATE_RE.match(value)
    if not match:
        return None
    day, month, year, hour, minute, second, sign, oh, om = match.groups()
    try:
        offset = timedelta(hours=int(oh), minutes=int(om)) * (-1 if sign == "-" else 1)
        moment = datetime(
            int(year),
            _MONTHS.index(month.capitalize()) + 1,
            int(day),
            int(hour),
            int(minute),
            int(second),
            tzinfo=timezone(offset),
        )
    except ValueError:
        return None
    return moment.astimezone(UTC)


def _fetch_entries(data: list) -> list[tuple[bytes, bytes | None]]:
    """Group an imaplib FETCH response into (attributes, literal) per message."""
    entries: list[list] = []
    for item in data:
        if isinstance(item, tuple):
            entries.append([bytes(item[0]), bytes(item[1])])
        elif isinstance(item, bytes):
            if re.match(rb"^\d+ \(", item) or not entries:
                entries.append([item, None])
            else:
                entries[-1][0] += b" " + item
    return [(meta, literal) for meta, literal in entries]


def _batches(items: list[bytes], size: int) -> Iterator[list[bytes]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_imap(
    host: str,
    port: int,
    username: str,
    password: str,
    *,
    seller_addresses: Iterable[str],
    pepper: bytes,
    folders: Iterable[str] = ("INBOX", "Sent"),
    ssl: bool = False,
    starttls: bool = False,
    ssl_context: ssl_module.SSLContext | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    batch_size: int = 50,
    timeout: float = 60.0,
    keep_body: bool = False,
    on_skip: Callable[[str, str], None] | None = None,
) -> Iterator[ParsedMessage | Rejected]:
    """Buyer-seller messages from an IMAP account, read-only.

    Each folder is opened with EXAMINE and fetched with ``BODY.PEEK[]``, so no
    flag ever changes. The server searches with day granularity
    (:func:`imap_search_criteria`); records are then filtered exactly by UTC
    like :func:`read_maildir`. Folders that do not exist are logged and
    skipped. ``ssl=True`` is implicit TLS (port 993), ``starttls=True``
    upgrades a plain connection.
    """
    _check_window(since, until)
    if ssl and starttls:
        raise ValueError("choose ssl=True (implicit TLS) or starttls=True, not both")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    sellers = _seller_set(seller_addresses)
    if ssl:
        conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
            host,
            port,
            ssl_context=ssl_context or ssl_module.create_default_context(),
            timeout=timeout,
        )
    else:
        conn = imaplib.IMAP4(host, port, timeout=timeout)
    try:
        if starttls:
            conn.starttls(ssl_context=ssl_context or ssl_module.create_default_context())
        elif not ssl and not _is_loopback(host):
            log.warning("IMAP login to %s:%s without TLS", host, port)
        conn.login(username, password)
        for folder in folders:
            yield from _read_imap_folder(
                conn,
                host,
                port,
                folder,
                sellers,
                pepper,
                since,
                until,
                batch_size,
                keep_body,
                on_skip,
            )
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            conn.logout()


def _read_imap_folder(
    conn, host, port, folder, sellers, pepper, since, until, batch_size, keep_body, on_skip
) -> Iterator[ParsedMessage | Rejected]:
    status, _ = conn.select(_quote_mailbox(folder), readonly=True)  # EXAMINE
    if status != "OK":
        log.warning("IMAP folder %r cannot be opened on %s; skipped", folder, host)
        return
    _, validity = conn.response("UIDVALIDITY")
    uidvalidity = (validity or [b"0"])[0]
    uidvalidity = uidvalidity.decode() if isinstance(uidvalidity, bytes) else str(uidvalidity)
    status, data = conn.uid("SEARCH", imap_search_criteria(since, until))
    if status != "OK":
        raise imaplib.IMAP4.error(f"UID SEARCH failed in {folder!r}: {data!r}")
    uids = [uid for uid in (data[0] or b"").split() if uid.isdigit()]
    base = f"imap://{host}:{port}/{folder};UIDVALIDITY={uidvalidity}/;UID="
    for batch in _batches(uids, batch_size):
        wanted = set(batch)
        status, data = conn.uid(
            "FETCH", b",".join(batch).decode(), "(UID RFC822.SIZE INTERNALDATE)"
        )
        if status != "OK":
            raise imaplib.IMAP4.error(f"UID FETCH failed in {folder!r}: {data!r}")
        info: dict[bytes, tuple[int, datetime | None]] = {}
        for meta, _literal in _fetch_entries(data):
            uid = re.search(rb"UID (\d+)", meta)
            size = re.search(rb"RFC822\.SIZE (\d+)", meta)
            when = re.search(rb'INTERNALDATE "([^"]+)"', meta)
            if uid and size and uid.group(1) in wanted:
                delivered = _parse_internaldate(when.group(1).decode()) if when else None
                info[uid.group(1)] = (int(size.group(1)), delivered)
        small = []
        for uid in batch:
            size, delivered = info.get(uid, (0, None))
            if size > MAX_MESSAGE_BYTES:
                record = Rejected(
                    f"message too large (> {MAX_MESSAGE_BYTES} bytes)",
                    source=SOURCE_IMAP,
                    location=base + uid.decode(),
                    delivered_time=delivered,
                )
                if _in_window(record, since, until):
                    yield record
            else:
                small.append(uid)
        if not small:
            continue
        status, data = conn.uid("FETCH", b",".join(small).decode(), "(UID BODY.PEEK[])")
        if status != "OK":
            raise imaplib.IMAP4.error(f"UID FETCH failed in {folder!r}: {data!r}")
        bodies: dict[bytes, bytes] = {}
        for meta, literal in _fetch_entries(data):
            uid = re.search(rb"UID (\d+)", meta)
            if uid and literal is not None and uid.group(1) in wanted:
                bodies[uid.group(1)] = literal
        for uid in small:
            if uid not in bodies:
                log.warning("IMAP %s: no body for UID %s (expunged?)", folder, uid.decode())
                continue
            record = _read_one(
                bodies[uid],
                sellers=sellers,
                pepper=pepper,
                keep_body=keep_body,
                source=SOURCE_IMAP,
                location=base + uid.decode(),
                delivered=info.get(uid, (0, None))[1],
                on_skip=on_skip,
            )
            if record is not None and _in_window(record, since, until):
                yield record


# --------------------------------------------------------------------------- frames

REJECTED_COLUMNS = (
    "account_id",
    "marketplace_id",
    "source",
    "location",
    "message_id",
    "sent_time",
    "reason",
)


def _resolver(
    marketplace_id_resolver: Callable[[str], str | None] | Mapping[str, str] | None,
) -> Callable[[str], str | None]:
    if marketplace_id_resolver is None:
        return DEFAULT_RELAY_MARKETPLACES.get
    if isinstance(marketplace_id_resolver, Mapping):
        return marketplace_id_resolver.get
    return marketplace_id_resolver


def to_dataframe(
    records: Iterable[ParsedMessage | Rejected],
    account_id: str,
    marketplace_id_resolver: Callable[[str], str | None] | Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(messages, rejected)`` frames for one account.

    ``messages`` has exactly the columns of :data:`sellerops.datasets.MESSAGES`
    (typed by :func:`sellerops.frames.typed_frame`), one row per Message-ID:
    the same mail read from two folders (a seller copy in INBOX and Sent) is
    kept once. The marketplace comes from the relay domain through
    ``marketplace_id_resolver`` (a mapping or a function; default
    :data:`DEFAULT_RELAY_MARKETPLACES`); a message whose domain does not
    resolve is rejected. ``rejected`` has :data:`REJECTED_COLUMNS`.
    """
    resolve = _resolver(marketplace_id_resolver)
    rows: list[dict] = []
    rejected: list[dict] = []
    seen: set[str] = set()
    for record in records:
        if isinstance(record, Rejected):
            rejected.append(_rejected_row(record, account_id))
            continue
        marketplace_id = resolve(record.relay_domain)
        if not marketplace_id:
            rejected.append(
                _rejected_row(
                    Rejected(
                        f"unknown relay domain {record.relay_domain!r}",
                        record.message_id,
                        record.sent_time,
                        source=record.source,
                        location=record.location,
                    ),
                    account_id,
                )
            )
            continue
        if record.message_id in seen:
            continue
        seen.add(record.message_id)
        rows.append(
            {
                "account_id": account_id,
                "marketplace_id": marketplace_id,
                "message_id": record.message_id,
                "thread_key": record.thread_key,
                "order_id": record.order_id,
                "direction": record.direction,
                "sent_time": pd.Timestamp(record.sent_time),
                "buyer_key": record.buyer_key,
                "subject_kind": record.subject_kind,
                "has_attachment": record.has_attachment,
                "body_chars": record.body_chars,
                "source": record.source or SOURCE_MAILDIR,
            }
        )
    rows.sort(key=lambda r: (r["sent_time"], r["message_id"]))
    messages = typed_frame(datasets.MESSAGES, rows)
    rejected_frame = pd.DataFrame(rejected, columns=list(REJECTED_COLUMNS))
    rejected_frame["sent_time"] = pd.to_datetime(rejected_frame["sent_time"], utc=True).astype(
        "datetime64[us, UTC]"
    )
    return messages, rejected_frame


def _rejected_row(record: Rejected, account_id: str) -> dict:
    return {
        "account_id": account_id,
        "marketplace_id": None,
        "source": record.source or SOURCE_MAILDIR,
        "location": record.location,
        "message_id": record.message_id,
        "sent_time": record.sent_time,
        "reason": record.reason,
    }
