"""Render a World's buyer-seller messages as Amazon relay e-mails in a Maildir.

``write_maildir(world, root, account_id)`` writes every row of
``world.messages`` of one account as one RFC 822 file, the way the seller's
mailbox holds them:

* buyer -> seller: ``From: "José García - Amazon Marketplace"
  <relay@marketplace.amazon.com>`` (the buyer's relay address from
  ``world.buyers``), ``To:`` the seller, a ``Received:`` header from Amazon SES,
  the world's subject;
* seller -> buyer: ``From:`` the seller, ``To:`` the buyer's relay address;
  dated in the seller's time zone. By default they sit in the inbox (the copies
  Amazon sends back to the seller); ``sent_folder="Sent"`` puts them in the
  Maildir++ folder ``.Sent`` instead, like a mail client's Sent folder.

Threads carry ``Message-ID``, ``In-Reply-To`` and ``References`` (every
ancestor, root first), except that some direct replies to a thread's first
message carry ``In-Reply-To`` only, as some mailers do.

The files vary on purpose, deterministically by the message's position in the
account's mail (sorted by time, then Message-ID): quoted-printable, base64 and
8-bit bodies; UTF-8, ISO-8859-1 and, for Amazon.co.jp, ISO-2022-JP and
Shift_JIS; some multipart/alternative with an HTML part; RFC 2047 encoded-word
headers (Q and B) for non-ASCII names and subjects; ``Date`` in UTC, ``-0000``,
``GMT``, ``-0700`` or the seller's local offset; the order id repeated in the
body as ``Order ID: ...``, ``[Amazon Order ID: ...]`` or ``注文番号：...`` (always
when the subject lacks it). A few messages of each direction are in ``cur``
with flags (seen, replied, flagged), the rest in ``new``.

File names derive from the sent time and the Message-ID and the mtime is the
delivery time, so the same world gives byte-identical files, and writing twice
into the same directory replaces the files instead of duplicating them.
"""

from __future__ import annotations

import base64
import hashlib
import html
import mailbox
import os
import quopri
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from sellerops.sandbox.world import World

RELAY_DISPLAY_SUFFIX = " - Amazon Marketplace"
_LINE_LIMIT = 900  # bytes; an 8-bit or 7-bit body line must stay under 998
_BEGIN = "------------- Begin message -------------"
_END = "------------- End message -------------"
_FYI = (
    "For Your Information: To help arrive at a satisfactory resolution, this message was "
    "sent through Amazon's Buyer-Seller Messaging service. Please respond within 24 hours."
)
_FYI_JP = "このメールはAmazonの購入者・出品者間メッセージサービスを通じて送信されました。"

# Fixed offsets for buyer mail stamped by Amazon's mail servers.
_BUYER_ZONES = ("+0000", "-0700", "-0000", "GMT", "-0800")
_BUYER_ZONES_JP = ("+0900", "+0000")


@dataclass(frozen=True)
class _Style:
    layout: str  # 'plain' or 'alternative'
    charset: str  # MIME label
    encoding: str  # 'quoted-printable', 'base64', '8bit', '7bit'


def _styles(marketplace_id: str) -> tuple[_Style, ...]:
    if marketplace_id == "A1VC38T7YXB528":
        return (
            _Style("plain", "UTF-8", "quoted-printable"),
            _Style("plain", "ISO-2022-JP", "7bit"),
            _Style("alternative", "UTF-8", "base64"),
            _Style("plain", "Shift_JIS", "base64"),
            _Style("plain", "UTF-8", "8bit"),
        )
    return (
        _Style("plain", "UTF-8", "quoted-printable"),
        _Style("plain", "UTF-8", "base64"),
        _Style("alternative", "UTF-8", "quoted-printable"),
        _Style("plain", "ISO-8859-1", "quoted-printable"),
        _Style("plain", "UTF-8", "8bit"),
    )


_CODECS = {
    "UTF-8": "utf-8",
    "ISO-8859-1": "latin-1",
    "ISO-2022-JP": "iso2022_jp",
    "Shift_JIS": "cp932",
}


# How mail readers (and ``sellerops.sources.mailbox``) decode each label.
_READ_CODECS = {
    "UTF-8": "utf-8",
    "ISO-8859-1": "cp1252",
    "ISO-2022-JP": "iso2022_jp_2",
    "Shift_JIS": "cp932",
}


def _encodable(text: str, charset: str) -> bool:
    """The text survives being written in ``charset`` and read back the way readers do."""
    if charset == "ISO-2022-JP" and any(ch in "\x1b\x0e\x0f" for ch in text):
        return False  # escape and shift characters would change the decoding
    try:
        return text.encode(_CODECS[charset]).decode(_READ_CODECS[charset]) == text
    except UnicodeError:
        return False


def _one_line(text: str) -> str:
    """Header text: no line breaks (header injection) and no control characters."""
    return "".join(" " if ch in "\r\n\t\v\f\x1c\x1d\x1e\x85\u2028\u2029" else ch for ch in text)


def _needs_encoding(text: str) -> bool:
    return any(ord(ch) > 0x7E or ord(ch) < 0x20 for ch in text) or "=?" in text


def _encoded_word(text: str, charset: str, method: str) -> str:
    data = text.encode(_CODECS[charset])
    if method == "B":
        payload = base64.b64encode(data).decode("ascii")
    else:
        safe = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!*+-/"
        payload = "".join(
            "_" if byte == 0x20 else chr(byte) if byte in safe else f"={byte:02X}" for byte in data
        )
    return f"=?{charset}?{method}?{payload}?="


def _encoded_words(text: str, charset: str, method: str) -> str:
    """Encoded-words of at most 75 characters, folded; never splits a character."""
    words: list[str] = []
    chunk = ""
    for char in text:
        candidate = chunk + char
        if chunk and len(_encoded_word(candidate, charset, method)) > 75:
            words.append(_encoded_word(chunk, charset, method))
            chunk = char
        else:
            chunk = candidate
    words.append(_encoded_word(chunk, charset, method))
    return "\n ".join(words)


def _header_charset(text: str, style: _Style) -> tuple[str, str]:
    charset = style.charset if _encodable(text, style.charset) else "UTF-8"
    method = "Q" if charset == "ISO-8859-1" else "B"
    return charset, method


_NON_ASCII_RUN = re.compile(r"\S*[^\x20-\x7e]\S*(?:\s+\S*[^\x20-\x7e]\S*)*")


_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*")


def _phrase(text: str, style: _Style, position: int, *, display_name: bool = False) -> str:
    """Header text: plain ASCII, or encoded-words for the whole text or for its non-ASCII words.

    In a display name the words left unencoded must be atoms (no ``@``, ``<``,
    ``,``, quotes ...), else the whole name is encoded.
    """
    text = _one_line(text)
    if not _needs_encoding(text):
        return text
    charset, method = _header_charset(text, style)
    if charset == "UTF-8" and position % 2:
        method = "Q"
    if position % 3 == 2 and "=?" not in text:
        # Only the runs of words with non-ASCII characters, as many mailers do.
        rest = _NON_ASCII_RUN.sub("", text)
        if not display_name or _ATOMS.fullmatch(rest):
            return _NON_ASCII_RUN.sub(lambda m: _encoded_words(m.group(0), charset, method), text)
    return _encoded_words(text, charset, method)


def _mailbox(name: str, address: str, style: _Style, position: int) -> str:
    name = _one_line(name).strip()
    if not name:
        return f"<{address}>"
    if _needs_encoding(name):
        return f"{_phrase(name, style, position, display_name=True)} <{address}>"
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{quoted}" <{address}>'


def _format_date(moment: datetime, zone: str, with_weekday: bool) -> str:
    """RFC 2822 date of the UTC ``moment`` in a fixed zone or an IANA time zone."""
    if zone in ("-0000", "GMT"):
        local, suffix = moment, zone
    elif zone[0] in "+-" and zone[1:].isdigit():
        sign = -1 if zone[0] == "-" else 1
        offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])) * sign
        local, suffix = moment + offset, zone
    else:
        local = moment.astimezone(ZoneInfo(zone))
        total = int(local.utcoffset().total_seconds() // 60)
        sign = "-" if total < 0 else "+"
        suffix = f"{sign}{abs(total) // 60:02d}{abs(total) % 60:02d}"
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    clock = f"{local.hour:02d}:{local.minute:02d}:{local.second:02d}"
    if with_weekday:
        return (
            f"{days[local.weekday()]}, {local.day:02d} {months[local.month - 1]} "
            f"{local.year} {clock} {suffix}"
        )
    return f"{local.day} {months[local.month - 1]} {local.year} {clock} {suffix}"


def _normalise_body(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _encode_body(text: str, charset: str, encoding: str) -> tuple[bytes, str, str]:
    """(encoded bytes, charset, transfer encoding), falling back to UTF-8 / QP when needed."""
    if not _encodable(text, charset):
        charset = "UTF-8"
        if encoding == "7bit":
            encoding = "base64"
    if not text.endswith("\n"):
        text += "\n"
    data = text.encode(_CODECS[charset])
    if encoding in ("8bit", "7bit"):
        risky = any(ord(ch) < 0x20 and ch not in "\n\t" for ch in text) or any(
            len(line) > _LINE_LIMIT for line in data.split(b"\n")
        )
        if risky or (encoding == "7bit" and any(b > 0x7F for b in data)):
            encoding = "quoted-printable"
    if encoding == "base64":
        encoded = base64.encodebytes(data)
    elif encoding == "quoted-printable":
        encoded = quopri.encodestring(data, quotetabs=False)
    else:
        encoded = data
    return encoded, charset, encoding


def _html(text: str) -> str:
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    inner = "".join(
        "<p>" + "<br>\n".join(html.escape(line) for line in p.split("\n")) + "</p>\n"
        for p in paragraphs
    )
    return (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
        "</head>\n<body>\n" + inner + "</body></html>\n"
    )


def _single_part(text: str, subtype: str, charset: str, encoding: str) -> tuple[list[str], bytes]:
    encoded, charset, encoding = _encode_body(text, charset, encoding)
    headers = [
        f'Content-Type: text/{subtype}; charset="{charset}"',
        f"Content-Transfer-Encoding: {encoding}",
    ]
    return headers, encoded


def _mime_body(text: str, style: _Style, boundary: str) -> tuple[list[str], bytes]:
    if style.layout == "plain":
        return _single_part(text, "plain", style.charset, style.encoding)
    plain_headers, plain = _single_part(text, "plain", style.charset, style.encoding)
    html_headers, markup = _single_part(_html(text), "html", "UTF-8", "base64")
    body = b"This is a multi-part message in MIME format.\n\n"
    for headers, payload in ((plain_headers, plain), (html_headers, markup)):
        # The line break before a boundary belongs to the boundary, not to the part.
        body += f"--{boundary}\n".encode() + "\n".join(headers).encode() + b"\n\n" + payload
        body += b"\n"
    body += f"--{boundary}--\n".encode()
    return [f'Content-Type: multipart/alternative; boundary="{boundary}"'], body


def _buyer_text(row, position: int, japanese: bool, subject: str, product_title: str) -> str:
    body = _normalise_body(_s(row.body))
    order_id = _s(row.order_id)
    must_mark = bool(order_id) and order_id not in subject
    variant = position % 3
    lines: list[str] = []
    if order_id and (must_mark or variant != 2):
        if japanese:
            lines += [f"注文番号：{order_id}", ""]
        elif variant == 1:
            lines += [f"[Amazon Order ID: {order_id}]", ""]
        else:
            lines += [f"Order ID: {order_id}", ""]
    elif not order_id and _s(row.asin):
        lines += [f"ASIN: {row.asin}"]
        if product_title:
            lines += [_normalise_body(product_title).replace("\n", " ")]
        lines += [""]
    if variant == 2 and not must_mark:
        return "\n".join([*lines, body])
    lines += [_BEGIN, "", body, "", _END, "", _FYI_JP if japanese else _FYI]
    return "\n".join(lines)


def _seller_text(row, subject: str, seller_name: str) -> str:
    body = _normalise_body(_s(row.body))
    order_id = _s(row.order_id)
    head = [f"Re: order {order_id}", ""] if order_id and order_id not in subject else []
    return "\n".join([*head, body, "", "--", _one_line(seller_name)])


def _ancestors(message_id: str, parents: dict[str, str]) -> list[str]:
    chain: list[str] = []
    seen = {message_id}
    current = parents.get(message_id, "")
    while current and current not in seen:
        chain.append(current)
        seen.add(current)
        current = parents.get(current, "")
    return list(reversed(chain))


def _file_name(message_id: str, sent: datetime) -> str:
    digest = hashlib.sha256(message_id.encode("utf-8")).hexdigest()[:20]
    return f"{int(sent.timestamp())}.M{digest}.sellerops-sandbox"


def _s(value) -> str:
    """A text cell; '' for None / NaN / NA."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


def _utc_seconds(value) -> datetime:
    moment = pd.Timestamp(value)
    if moment.tzinfo is None:
        moment = moment.tz_localize("UTC")
    return moment.tz_convert("UTC").to_pydatetime().replace(microsecond=0, tzinfo=UTC)


def _deliver(root: Path, name: str, data: bytes, flags: str, mtime: float) -> None:
    """Maildir delivery: write into tmp/, then rename into new/ or cur/ (with flags)."""
    tmp = root / "tmp" / name
    target = root / "new" / name if not flags else root / "cur" / f"{name}:2,{flags}"
    for stale in (root / "new" / name, *(root / "cur").glob(f"{name}:2,*")):
        if stale != target:
            stale.unlink(missing_ok=True)
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.utime(tmp, (mtime, mtime))
    os.replace(tmp, target)


def write_maildir(
    world: World,
    root: str | os.PathLike[str],
    account_id: str,
    *,
    sent_folder: str | None = None,
) -> int:
    """Write the account's messages into the Maildir at ``root``; return how many."""
    account = world.account(account_id)
    inbox = Path(root)
    inbox.parent.mkdir(parents=True, exist_ok=True)
    maildir = mailbox.Maildir(inbox, factory=None, create=True)
    sent_box = inbox
    if sent_folder:
        maildir.add_folder(sent_folder)  # Maildir++: .Sent/ (with a maildirfolder marker)
        sent_box = inbox / f".{sent_folder}"
    for box in {inbox, sent_box}:
        for sub in ("new", "cur", "tmp"):  # also when ``root`` existed but was empty
            (box / sub).mkdir(mode=0o700, exist_ok=True)
    messages = world.messages[world.messages["account_id"] == account_id].copy()
    if messages.empty:
        return 0
    messages["sent_utc_seconds"] = [_utc_seconds(v) for v in messages["sent_time"]]
    messages = messages.sort_values(["sent_utc_seconds", "message_id"], kind="stable")
    buyers = {int(row.buyer_id): row for row in world.buyers.itertuples(index=False)}
    titles: dict[tuple[str, str], str] = {}
    products = world.tables.get("products")
    if products is not None:
        for row in products.itertuples(index=False):
            if row.account_id == account_id:
                titles[(row.marketplace_id, row.asin)] = str(row.title)
    parents = {_s(row.message_id): _s(row.in_reply_to) for row in messages.itertuples(index=False)}
    answered = {  # buyer messages the seller replied to: flagged \Answered when read
        _s(row.in_reply_to)
        for row in messages.itertuples(index=False)
        if row.direction == "seller" and _s(row.in_reply_to)
    }
    seller_domain = account.seller_email.rpartition("@")[2]
    per_direction = {"buyer": 0, "seller": 0}
    written = 0
    for position, row in enumerate(messages.itertuples(index=False)):
        message_id = str(row.message_id)
        sent: datetime = row.sent_utc_seconds
        buyer = buyers.get(int(row.buyer_id))
        if buyer is None:
            raise ValueError(f"message {message_id!r} names unknown buyer {row.buyer_id}")
        japanese = row.marketplace_id == "A1VC38T7YXB528"
        styles = _styles(row.marketplace_id)
        style = styles[position % len(styles)]
        subject = _one_line(_s(row.subject))
        relay = str(buyer.email)
        seller = _mailbox(account.seller_name, account.seller_email, style, position)
        buyer_box = _mailbox(f"{buyer.name}{RELAY_DISPLAY_SUFFIX}", relay, style, position)
        ancestors = _ancestors(message_id, parents)
        digest = hashlib.sha256(message_id.encode("utf-8")).hexdigest()
        headers: list[str] = []
        if row.direction == "buyer":
            zones = _BUYER_ZONES_JP if japanese else _BUYER_ZONES
            zone = zones[position % len(zones)]
            delivered = sent + timedelta(seconds=2)
            headers.append(
                f"Received: from a8-{int(digest[:2], 16)}.smtp-out.amazonses.com "
                f"(a8-{int(digest[:2], 16)}.smtp-out.amazonses.com [54.240.8.{int(digest[2:4], 16)}])\n"
                f"\tby mx.{seller_domain} with ESMTPS id {digest[4:16]}\n"
                f"\tfor <{account.seller_email}>; {_format_date(delivered, '+0000', True)}"
            )
            headers.append(f"Date: {_format_date(sent, zone, position % 4 != 3)}")
            headers.append(f"From: {buyer_box}")
            headers.append(f"To: {seller}")
            text = _buyer_text(
                row,
                position,
                japanese,
                subject,
                titles.get((row.marketplace_id, _s(row.asin)), ""),
            )
        elif row.direction == "seller":
            delivered = sent
            headers.append(f"Date: {_format_date(sent, account.seller_time_zone, True)}")
            headers.append(f"From: {seller}")
            headers.append(f"To: {buyer_box}")
            text = _seller_text(row, subject, account.seller_name)
        else:
            raise ValueError(f"message {message_id!r} has direction {row.direction!r}")
        headers.append(f"Subject: {_phrase(subject, style, position)}")
        headers.append(f"Message-ID: <{message_id}>")
        if ancestors:
            headers.append(f"In-Reply-To: <{ancestors[-1]}>")
            if len(ancestors) > 1 or position % 2 == 0:
                headers.append("References: " + "\n ".join(f"<{a}>" for a in ancestors))
        headers.append("MIME-Version: 1.0")
        mime_headers, body = _mime_body(text, style, f"----=_Part_{digest[:24]}")
        headers += mime_headers
        data = ("\n".join(headers) + "\n\n").encode("utf-8") + body

        index = per_direction[str(row.direction)]
        per_direction[str(row.direction)] += 1
        flags = ""
        if index % 3 == 0:  # a few of each direction have been read
            flags = "S"
            if row.direction == "buyer" and message_id in answered:
                flags = "RS"
            if row.direction == "buyer" and index % 2 == 1:
                flags = "F" + flags
        folder = sent_box if row.direction == "seller" else inbox
        _deliver(folder, _file_name(message_id, sent), data, flags, delivered.timestamp())
        written += 1
    return written
