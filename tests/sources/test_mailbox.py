"""The mailbox source: parsing Amazon relay e-mails, the Maildir reader and the frames.

Expected values are worked out by hand in the comments; the hand-written
samples are in ``fixtures/eml``, the tiny World in ``fixtures/mailbox_world.py``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from sellerops import datasets
from sellerops.identity import key_from_email
from sellerops.sandbox.mailbox import write_maildir
from sellerops.sources.mailbox import (
    DEFAULT_RELAY_MARKETPLACES,
    MAX_HEADER_CHARS,
    REJECTED_COLUMNS,
    ParsedMessage,
    Rejected,
    imap_date,
    imap_search_criteria,
    parse_message,
    read_maildir,
    skip_reason,
    subject_kind,
    to_dataframe,
)

FIXTURES = Path(__file__).parent / "fixtures"
EML = FIXTURES / "eml"


def _load_world_module():
    name = "sellerops_tests_mailbox_world"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, FIXTURES / "mailbox_world.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


mw = _load_world_module()
PEPPER = mw.PEPPER
SELLERS = {"orders@acme-outdoor.example", "shop@sakura-zakka.example"}
JOSE_ROOT_ID = "0100018f2a9c4e1b-7c1d@email.amazonses.com"
RELAY = "0x3k9q2m7t1v8wjose@marketplace.amazon.com"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def parse(raw: bytes, **kwargs):
    return parse_message(raw, seller_addresses=SELLERS, pepper=PEPPER, **kwargs)


def eml(name: str) -> bytes:
    return (EML / name).read_bytes()


def mail(headers: dict[str, str], body: bytes = b"Hello\n", *, crlf: bool = False) -> bytes:
    lines = [f"{k}: {v}" for k, v in headers.items()]
    data = ("\n".join(lines) + "\n\n").encode("utf-8") + body
    return data.replace(b"\n", b"\r\n") if crlf else data


BUYER = {
    "Date": "Mon, 09 Nov 2026 10:11:12 +0000",
    "From": '"Jose Garcia - Amazon Marketplace" <0x3k9q2m7t1v8wjose@marketplace.amazon.com>',
    "To": "orders@acme-outdoor.example",
    "Subject": "Inquiry from Amazon customer Jose Garcia (Order: 113-1111111-2222222)",
    "Message-ID": "<buyer-1@email.amazonses.com>",
    "Content-Type": "text/plain; charset=utf-8",
}


# --------------------------------------------------------------------------- samples


def test_buyer_order_inquiry_sample():
    got = parse(eml("buyer_order_inquiry.eml"), keep_body=True)
    assert isinstance(got, ParsedMessage)
    assert got.message_id == JOSE_ROOT_ID
    assert got.direction == "buyer"
    # Tue, 03 Nov 2026 21:15:00 -0800 is 2026-11-04 05:15:00 UTC.
    assert got.sent_time == utc(2026, 11, 4, 5, 15, 0)
    assert got.sent_time.tzinfo is not None and got.sent_time.utcoffset().total_seconds() == 0
    assert got.order_id == "111-1234567-1234567"
    assert got.subject_kind == "order_inquiry"
    assert got.thread_key == JOSE_ROOT_ID  # no References / In-Reply-To: starts a thread
    assert got.buyer_key == key_from_email(PEPPER, "0x3k9q2m7t1v8wjose@marketplace.amazon.com")
    assert got.relay_domain == "marketplace.amazon.com"
    assert got.has_attachment is False
    assert got.body == (
        "------------- Begin message -------------\n\n"
        "¿Dónde está mi pedido?\n\n"
        "------------- End message -------------\n"
    )
    # 41 + 2 + 22 + 2 + 39 + 1 characters.
    assert got.body_chars == 107


def test_seller_reply_sample():
    got = parse(eml("seller_reply.eml"), keep_body=True)
    assert isinstance(got, ParsedMessage)
    assert got.direction == "seller"  # From Orders@Acme-Outdoor.example, case-insensitively
    # Wed, 4 Nov 2026 09:40:12 -0800 (PST) is 17:40:12 UTC.
    assert got.sent_time == utc(2026, 11, 4, 17, 40, 12)
    assert got.thread_key == JOSE_ROOT_ID  # the root in References
    assert got.order_id == "111-1234567-1234567"  # from the folded subject
    # The buyer of a seller mail is the relay address in To.
    assert got.buyer_key == key_from_email(PEPPER, "0x3k9q2m7t1v8wjose@marketplace.amazon.com")
    assert got.body == "Hi José, it shipped today."  # the text/plain part (base64)
    assert got.body_chars == 26


def test_japanese_presales_sample_in_iso_2022_jp():
    got = parse(eml("buyer_presales_jp.eml"), keep_body=True)
    assert isinstance(got, ParsedMessage)
    # Thu, 12 Nov 2026 23:45:00 +0900 is 14:45:00 UTC the same day.
    assert got.sent_time == utc(2026, 11, 12, 14, 45, 0)
    assert got.order_id is None
    assert got.subject_kind == "presales_inquiry"
    assert got.relay_domain == "marketplace.amazon.co.jp"
    assert got.body == "ASIN: B0JP000001\n\nこの商品は防水ですか？\n"
    assert got.body_chars == 16 + 2 + 11 + 1


def test_return_with_attachment_sample():
    got = parse(eml("buyer_return_attachment.eml"), keep_body=True)
    assert isinstance(got, ParsedMessage)
    assert got.sent_time == utc(2026, 11, 8, 12, 0, 0)  # "GMT"
    assert got.subject_kind == "return"
    assert got.order_id == "112-7654321-7654321"  # only in the body marker
    assert got.has_attachment is True
    assert got.body.endswith("Schöne Grüße.")  # ISO-8859-1 quoted-printable


def test_non_amazon_mail_is_skipped_with_a_reason():
    for name, reason in [
        ("amazon_notification.eml", "Amazon notification from amazon.com, not a buyer message"),
        ("newsletter.eml", "not a buyer-seller message (sender domain outdoor-retailer.example)"),
    ]:
        assert parse(eml(name)) is None
        assert skip_reason(eml(name), seller_addresses=SELLERS) == reason
    assert skip_reason(eml("buyer_order_inquiry.eml"), seller_addresses=SELLERS) is None


def test_mislabelled_charset_is_rejected_not_raised():
    got = parse(eml("buyer_mislabelled_charset.eml"))
    assert isinstance(got, Rejected)
    assert got.reason == "body: bytes do not decode as the labelled charset 'UTF-8'"
    assert got.message_id == "0100018f-mislabelled@email.amazonses.com"
    assert got.sent_time == utc(2026, 11, 9, 17, 0, 0)  # 10:00 -0700


# --------------------------------------------------------------------------- rules


def test_seller_mail_to_someone_else_is_skipped():
    raw = mail({**BUYER, "From": "orders@acme-outdoor.example", "To": "supplier@tents.example"})
    assert parse(raw) is None
    assert skip_reason(raw, seller_addresses=SELLERS) == (
        "seller mail not addressed to an Amazon relay address"
    )


def test_mail_without_from_is_skipped_unless_the_relay_sent_it():
    no_from = {k: v for k, v in BUYER.items() if k != "From"}
    assert skip_reason(mail(no_from), seller_addresses=SELLERS) == "no From address"
    broken = {**no_from, "From": "Jose Garcia - Amazon Marketplace", "Reply-To": f"<{RELAY}>"}
    got = parse(mail(broken))
    assert isinstance(got, Rejected)
    assert got.reason == "missing or unparseable From header"


def test_seller_mail_finds_the_relay_in_cc():
    raw = mail(
        {
            **BUYER,
            "From": "orders@acme-outdoor.example",
            "To": "me@acme-outdoor.example",
            "Cc": "Jose <0x3k9q2m7t1v8wjose@marketplace.amazon.com>",
        }
    )
    got = parse(raw)
    assert got.direction == "seller"
    assert got.buyer_key == key_from_email(PEPPER, "0x3k9q2m7t1v8wjose@marketplace.amazon.com")


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("Tue, 03 Nov 2026 21:15:00 -0800", utc(2026, 11, 4, 5, 15, 0)),
        ("Sat, 31 Oct 2026 20:30:00 -0700", utc(2026, 11, 1, 3, 30, 0)),  # PDT
        ("Thu, 12 Nov 2026 23:45:00 +0900", utc(2026, 11, 12, 14, 45, 0)),
        ("12 Nov 2026 05:00:00 +0545", utc(2026, 11, 11, 23, 15, 0)),  # Kathmandu
        ("Mon, 09 Nov 2026 10:11:12 -0000", utc(2026, 11, 9, 10, 11, 12)),  # UTC, zone unknown
        ("Mon, 09 Nov 2026 10:11:12 GMT", utc(2026, 11, 9, 10, 11, 12)),
        ("Mon, 09 Nov 2026 10:11:12 EST", utc(2026, 11, 9, 15, 11, 12)),  # obsolete zone
        ("Mon, 9 Nov 26 10:11:12 +0100", utc(2026, 11, 9, 9, 11, 12)),  # two-digit year
    ],
)
def test_date_header_to_utc(date, expected):
    got = parse(mail({**BUYER, "Date": date}))
    assert got.sent_time == expected


def test_missing_date_falls_back_to_the_newest_received_header():
    headers = {k: v for k, v in BUYER.items() if k != "Date"}
    received = (
        b"Received: from mx2 by mx.acme-outdoor.example; Mon, 09 Nov 2026 02:11:14 -0800\n"
        b"Received: from a8-31.smtp-out.amazonses.com by mx2; Mon, 9 Nov 2026 10:11:13 +0000\n"
    )
    got = parse(received + mail(headers))
    # 02:11:14 -0800 = 10:11:14 UTC, newer than 10:11:13 UTC.
    assert got.sent_time == utc(2026, 11, 9, 10, 11, 14)
    got = parse(received + mail({**headers, "Date": "not a date"}))
    assert got.sent_time == utc(2026, 11, 9, 10, 11, 14)


def test_no_usable_date_is_rejected():
    headers = {k: v for k, v in BUYER.items() if k != "Date"}
    got = parse(mail({**headers, "Date": "yesterday"}))
    assert got == Rejected(
        "no usable Date header and no dated Received header", "buyer-1@email.amazonses.com"
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"Message-ID": None}, "missing or malformed Message-ID"),
        ({"Subject": "=?UTF-8?B?!!!notbase64?="}, "Subject: malformed encoded-word"),
        ({"Subject": "=?x-klingon?Q?qapla?="}, "Subject encoded-word: unknown charset 'x-klingon'"),
        ({"Subject": "=?base64?Q?abc?="}, "Subject encoded-word: unknown charset 'base64'"),
        (
            {"Subject": "=?utf-8?Q?Gr=FC=DFe?="},
            "Subject encoded-word: bytes do not decode as the labelled charset 'utf-8'",
        ),
        ({"Subject": "x" * (MAX_HEADER_CHARS + 1)}, "Subject header longer than 65536 characters"),
        (
            {"Content-Type": "text/plain; charset=x-unknown"},
            "body: unknown charset 'x-unknown'",
        ),
        (
            {"Content-Type": "multipart/mixed"},
            "multipart part without subparts (missing boundary?)",
        ),
    ],
)
def test_malformed_buyer_mail_is_rejected_with_a_reason(change, reason):
    headers = {k: v for k, v in {**BUYER, **change}.items() if v is not None}
    got = parse(mail(headers))
    assert isinstance(got, Rejected)
    assert got.reason == reason


def test_bad_base64_body_is_rejected():
    headers = {**BUYER, "Content-Transfer-Encoding": "base64"}
    assert parse(mail(headers, b"SGVsbG8=\n")).body_chars == 5  # "Hello"
    # Missing padding is forgiven, as every mail reader does: "Hello world".
    assert parse(mail(headers, b"SGVsbG8gd29ybGQ\n")).body_chars == 11
    # 17 base64 characters cannot be a whole number of bytes; '*' is not base64.
    for body in (b"SGVsbG8gd29ybGQhQ\n", b"SGVs*bG8=\n"):
        got = parse(mail(headers, body))
        assert isinstance(got, Rejected)
        assert got.reason == "body: corrupt base64"


def test_raw_8bit_headers_are_read_as_utf8():
    raw = mail(
        {**BUYER, "Subject": "Inquiry from Amazon customer José (Order: 113-1111111-2222222)"}
    )
    assert parse(raw).order_id == "113-1111111-2222222"
    latin1 = raw.replace("José".encode(), "José".encode("latin-1"))
    got = parse(latin1)
    assert isinstance(got, Rejected)
    assert got.reason == "Subject: raw 8-bit bytes that are not UTF-8"


def test_oversized_message_is_rejected_without_parsing(monkeypatch):
    import sellerops.sources.mailbox as mailbox_source

    monkeypatch.setattr(mailbox_source, "MAX_MESSAGE_BYTES", 100)
    got = parse(mail(BUYER, b"x" * 200))
    assert got == Rejected("message too large (> 100 bytes)")


def test_crlf_and_lf_give_the_same_record():
    body = b"Line one\nLine two\n"
    headers = {**BUYER, "Content-Transfer-Encoding": "quoted-printable"}
    lf = parse(mail(headers, body), keep_body=True)
    crlf = parse(mail(headers, body, crlf=True), keep_body=True)
    assert lf == crlf
    assert crlf.body == "Line one\nLine two\n"


def test_order_id_from_subject_first_then_body():
    body = b"Order ID: 999-9999999-9999999\n"
    assert parse(mail(BUYER, body)).order_id == "113-1111111-2222222"
    no_order_subject = {**BUYER, "Subject": "Inquiry from Amazon customer Jose Garcia"}
    assert parse(mail(no_order_subject, body)).order_id == "999-9999999-9999999"
    assert parse(mail(no_order_subject, b"Is it red?\n")).order_id is None
    # Longer digit runs are not order ids.
    assert parse(mail(no_order_subject, b"ref 1113-1111111-22222223\n")).order_id is None


def test_html_only_body_is_converted_to_text():
    headers = {**BUYER, "Content-Type": "text/html; charset=utf-8"}
    got = parse(
        mail(headers, b"<html><body><p>Hello &amp; thanks</p><p>Bye</p></body></html>"),
        keep_body=True,
    )
    assert got.body == "Hello & thanks\nBye"
    assert got.body_chars == 18


def test_body_is_not_returned_by_default():
    got = parse(eml("buyer_order_inquiry.eml"))
    assert got.body is None
    assert got.body_chars == 107


def test_thread_key_from_references_then_in_reply_to():
    refs = {**BUYER, "References": "<root@x> <middle@x>", "In-Reply-To": "<middle@x>"}
    assert parse(mail(refs)).thread_key == "root@x"
    only_parent = {**BUYER, "In-Reply-To": "<parent@x> (sent by Jose)"}
    assert parse(mail(only_parent)).thread_key == "parent@x"


def test_orphaned_replies_share_a_key_per_order_and_buyer():
    reply = {**BUYER, "Subject": "RE: " + BUYER["Subject"]}
    first = parse(mail({**reply, "Message-ID": "<a@x>"}))
    second = parse(mail({**reply, "Message-ID": "<b@x>", "Subject": "Re: Re: " + BUYER["Subject"]}))
    assert first.thread_key.startswith("orphan:")
    assert first.thread_key == second.thread_key
    other_order = parse(
        mail({**reply, "Message-ID": "<c@x>", "Subject": "RE: (Order: 114-1111111-2222222)"})
    )
    assert other_order.thread_key != first.thread_key
    # The key is an HMAC: it does not contain the relay address or the order id.
    assert "0x3k9" not in first.thread_key and "113-" not in first.thread_key


@pytest.mark.parametrize(
    ("subject", "order_id", "kind"),
    [
        (
            "Inquiry from Amazon customer José García (Order: 111-1234567-1234567)",
            "x",
            "order_inquiry",
        ),
        ("Product details inquiry from Amazon customer Jack", None, "presales_inquiry"),
        ("RE: Inquiry from Amazon customer Jack", None, "presales_inquiry"),
        ("Return request from Amazon customer Zoë Müller", "x", "return"),
        ("Return authorization request for order #111-1234567-1234567", "x", "return"),
        ("AW: Refund for my order", "x", "return"),
        (
            "Amazon.co.jp のお客様からのお問い合わせ（注文番号：250-1234567-7654321）",
            "x",
            "order_inquiry",
        ),
        ("Amazon.co.jp のお客様からの商品についての質問", None, "presales_inquiry"),
        ("返品について", "x", "return"),
        # The customer's name does not decide the kind.
        (
            "Inquiry from Amazon customer Bob Returns (Order: 111-1234567-1234567)",
            "x",
            "order_inquiry",
        ),
        ("Hello", None, "other"),
        ("", None, "other"),
    ],
)
def test_subject_kind(subject, order_id, kind):
    assert subject_kind(subject, order_id) == kind


def test_records_never_hold_names_addresses_or_subjects():
    for path in sorted(EML.glob("*.eml")):
        got = parse(path.read_bytes())
        text = repr(got)
        for secret in (
            "marketplace.amazon.com>",
            "0x3k9",
            "q9w8e7",
            "p0o9i8",
            "José",
            "Zo",
            "佐藤",
        ):
            assert secret not in text.replace("marketplace.amazon.com'", ""), (path.name, secret)


# --------------------------------------------------------------------------- round trip


def test_every_world_message_round_trips_through_the_writer(tmp_path):
    world = mw.build_world()
    buyers = world.buyers.set_index("buyer_id")
    for account in world.accounts:
        root = tmp_path / account.account_id
        assert write_maildir(world, root, account.account_id) > 0
        records = list(
            read_maildir(
                root, seller_addresses={account.seller_email}, pepper=PEPPER, keep_body=True
            )
        )
        assert all(isinstance(r, ParsedMessage) for r in records), records
        parsed = {r.message_id: r for r in records}
        expected = world.messages[world.messages.account_id == account.account_id]
        assert set(parsed) == set(expected.message_id)
        roots = {}
        for row in expected.itertuples(index=False):
            got = parsed[row.message_id]
            assert got.direction == row.direction
            assert got.order_id == (row.order_id or None)
            assert got.sent_time == row.sent_time.to_pydatetime().replace(microsecond=0)
            email = buyers.loc[row.buyer_id, "email"]
            assert got.buyer_key == key_from_email(PEPPER, email)
            assert got.relay_domain == email.rpartition("@")[2]
            body = row.body.replace("\r\n", "\n")
            assert body in got.body
            roots.setdefault(row.thread_id, set()).add(got.thread_key)
        # One key per world thread, different threads different keys, and the
        # key is the Message-ID of the thread's first message.
        assert all(len(keys) == 1 for keys in roots.values()), roots
        assert len({next(iter(k)) for k in roots.values()}) == len(roots)
        firsts = expected[expected.in_reply_to == ""].set_index("thread_id").message_id
        assert {t: next(iter(k)) for t, k in roots.items()} == firsts.to_dict()


def test_hand_computed_values_of_the_written_world(tmp_path):
    world = mw.build_world()
    write_maildir(world, tmp_path, "acme-us")
    got = {
        r.message_id: r
        for r in read_maildir(tmp_path, seller_addresses={mw.ACME.seller_email}, pepper=PEPPER)
    }
    m2 = got["m2.jose@sandbox.sellerops.test"]
    # sent 17:40:12.345678 UTC: whole seconds, whatever the zone of the Date header.
    assert (m2.direction, m2.sent_time, m2.thread_key) == (
        "seller",
        utc(2026, 11, 4, 17, 40, 12),
        "m1.jose@sandbox.sellerops.test",
    )
    assert got["m7.zoe@sandbox.sellerops.test"].order_id == "112-7654321-7654321"  # from the body
    assert got["m7.zoe@sandbox.sellerops.test"].subject_kind == "return"
    assert got["m5.jack@sandbox.sellerops.test"].subject_kind == "presales_inquiry"
    assert got["m11.zoe@sandbox.sellerops.test"].sent_time == utc(2026, 10, 31, 3, 30, 0)
    assert got["m9.jose@sandbox.sellerops.test"].thread_key == "m9.jose@sandbox.sellerops.test"


# --------------------------------------------------------------------------- maildir reader


def _seed(tmp_path: Path) -> Path:
    world = mw.build_world()
    root = tmp_path / "Maildir"
    write_maildir(world, root, "acme-us", sent_folder="Sent")
    extra = {
        "newsletter": eml("newsletter.eml"),
        "mislabelled": eml("buyer_mislabelled_charset.eml"),
        "dateless": mail(
            {k: v for k, v in BUYER.items() if k != "Date"} | {"Message-ID": "<nodate@x>"}
        ),
    }
    for name, data in extra.items():
        path = root / "new" / f"1794000000.{name}.test"
        path.write_bytes(data)
        # delivered 2026-11-09 12:00:00 UTC
        os.utime(path, (1794225600, 1794225600))
    return root


def test_read_maildir_reads_inbox_and_sent_and_reports_skips(tmp_path):
    root = _seed(tmp_path)
    skipped = []
    records = list(
        read_maildir(
            root,
            seller_addresses=[mw.ACME.seller_email],
            pepper=PEPPER,
            on_skip=lambda location, reason: skipped.append((location, reason)),
        )
    )
    parsed = [r for r in records if isinstance(r, ParsedMessage)]
    rejected = [r for r in records if isinstance(r, Rejected)]
    assert len(parsed) == 11
    assert {r.direction for r in parsed if r.location.startswith(".Sent/")} == {"seller"}
    assert {r.direction for r in parsed if not r.location.startswith(".Sent/")} == {"buyer"}
    assert sorted(r.reason for r in rejected) == [
        "body: bytes do not decode as the labelled charset 'UTF-8'",
        "no usable Date header and no dated Received header",
    ]
    assert skipped == [
        (
            "new/1794000000.newsletter.test",
            "not a buyer-seller message (sender domain outdoor-retailer.example)",
        )
    ]
    dateless = next(r for r in rejected if r.message_id == "nodate@x")
    assert dateless.delivered_time == utc(2026, 11, 9, 12, 0, 0)
    assert dateless.location == "new/1794000000.dateless.test"
    # Only the named folders.
    inbox_only = list(
        read_maildir(
            root, seller_addresses=[mw.ACME.seller_email], pepper=PEPPER, folders=["INBOX"]
        )
    )
    assert {r.direction for r in inbox_only if isinstance(r, ParsedMessage)} == {"buyer"}


def test_read_maildir_window_is_exact_in_utc(tmp_path):
    root = _seed(tmp_path)

    def ids(since, until):
        return sorted(
            r.message_id
            for r in read_maildir(
                root,
                seller_addresses=[mw.ACME.seller_email],
                pepper=PEPPER,
                since=since,
                until=until,
            )
        )

    # m1 was sent 2026-11-04 05:15:00 UTC (Date header in another zone): since is inclusive...
    assert "m1.jose@sandbox.sellerops.test" in ids(utc(2026, 11, 4, 5, 15, 0), None)
    assert "m1.jose@sandbox.sellerops.test" not in ids(utc(2026, 11, 4, 5, 15, 1), None)
    # ...until exclusive.
    assert "m1.jose@sandbox.sellerops.test" not in ids(None, utc(2026, 11, 4, 5, 15, 0))
    assert ids(utc(2026, 11, 4, 5, 15, 0), utc(2026, 11, 5, 2, 3, 5)) == [
        "m1.jose@sandbox.sellerops.test",
        "m2.jose@sandbox.sellerops.test",
        "m3.jose@sandbox.sellerops.test",
    ]
    # The mislabelled mail (Date 17:00 UTC on 9 Nov) and the dateless one
    # (delivered 12:00 UTC on 9 Nov) are placed in time too.
    assert ids(utc(2026, 11, 9, 11, 0, 0), utc(2026, 11, 9, 18, 0, 0)) == [
        "0100018f-mislabelled@email.amazonses.com",
        "nodate@x",
    ]
    with pytest.raises(ValueError, match="timezone-aware"):
        ids(datetime(2026, 11, 1), None)


def test_read_maildir_missing_root_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        list(read_maildir(tmp_path / "nope", seller_addresses=[], pepper=PEPPER))


# --------------------------------------------------------------------------- frames


def test_to_dataframe_columns_types_and_marketplaces(tmp_path):
    root = _seed(tmp_path)
    records = list(read_maildir(root, seller_addresses=[mw.ACME.seller_email], pepper=PEPPER))
    jp = parse(eml("buyer_presales_jp.eml"))
    messages, rejected = to_dataframe([*records, jp], "acme-us")
    assert list(messages.columns) == datasets.MESSAGES.column_names
    assert len(messages) == 12
    assert str(messages["sent_time"].dtype) == "datetime64[us, UTC]"
    assert messages["sent_time"].is_monotonic_increasing
    assert set(messages["account_id"]) == {"acme-us"}
    by_id = messages.set_index("message_id")
    assert by_id.loc["m1.jose@sandbox.sellerops.test", "marketplace_id"] == "ATVPDKIKX0DER"
    assert by_id.loc["jp-presales-0001@email.amazonses.com", "marketplace_id"] == "A1VC38T7YXB528"
    assert by_id.loc["m1.jose@sandbox.sellerops.test", "sent_time"] == pd.Timestamp(
        "2026-11-04T05:15:00Z"
    )
    assert by_id.loc["m1.jose@sandbox.sellerops.test", "source"] == "maildir"
    assert pd.isna(by_id.loc["m5.jack@sandbox.sellerops.test", "order_id"])
    assert list(rejected.columns) == list(REJECTED_COLUMNS)
    assert len(rejected) == 2
    assert set(rejected["location"]) == {
        "new/1794000000.mislabelled.test",
        "new/1794000000.dateless.test",
    }
    # No names, addresses or text anywhere in either frame.
    dump = messages.to_csv() + rejected.to_csv()
    for secret in ("@marketplace.amazon", "José", "Zoë", "Jack", "waterproof"):
        assert secret not in dump


def test_to_dataframe_resolver_dedup_and_unknown_domain():
    jose = parse(eml("buyer_order_inquiry.eml"))
    uk = parse(mail({**BUYER, "From": "abc@marketplace.amazon.co.uk", "Message-ID": "<uk@x>"}))
    messages, rejected = to_dataframe([jose, jose, uk], "acme-us")
    assert list(messages["message_id"]) == [JOSE_ROOT_ID, "uk@x"]  # the copy is dropped
    assert messages.set_index("message_id").loc["uk@x", "marketplace_id"] == "A1F83G8C2ARO7P"
    messages, rejected = to_dataframe(
        [jose, uk], "acme-us", {"marketplace.amazon.com": "SANDBOX-US"}
    )
    assert list(messages["marketplace_id"]) == ["SANDBOX-US"]
    assert list(rejected["reason"]) == ["unknown relay domain 'marketplace.amazon.co.uk'"]
    assert list(rejected["message_id"]) == ["uk@x"]
    messages, rejected = to_dataframe([jose], "acme-us", lambda domain: None)
    assert messages.empty and len(rejected) == 1
    empty_messages, empty_rejected = to_dataframe([], "acme-us")
    assert list(empty_messages.columns) == datasets.MESSAGES.column_names
    assert list(empty_rejected.columns) == list(REJECTED_COLUMNS)
    assert DEFAULT_RELAY_MARKETPLACES["marketplace.amazon.com"] == "ATVPDKIKX0DER"


# --------------------------------------------------------------------------- IMAP helpers


def test_imap_search_criteria_has_a_day_of_margin():
    assert imap_search_criteria(None, None) == "ALL"
    assert imap_search_criteria(utc(2026, 11, 4, 5, 15), utc(2026, 11, 6)) == (
        "(OR SENTSINCE 3-Nov-2026 SINCE 3-Nov-2026) (OR SENTBEFORE 8-Nov-2026 BEFORE 8-Nov-2026)"
    )
    assert imap_date(datetime(2027, 1, 1).date()) == "1-Jan-2027"


def test_imap_mailbox_names_are_modified_utf7():
    from sellerops.sources.mailbox import _quote_mailbox

    assert _quote_mailbox("Sent") == '"Sent"'
    assert _quote_mailbox("Entwürfe") == '"Entw&APw-rfe"'
    # RFC 3501, section 5.1.3.
    assert _quote_mailbox("~peter/mail/台北/日本語") == '"~peter/mail/&U,BTFw-/&ZeVnLIqe-"'
    assert _quote_mailbox('A&B "x"') == '"A&-B \\"x\\""'
