"""Properties of the mailbox parser: it never raises, and it reads back what the writer wrote."""

from __future__ import annotations

import importlib.util
import re
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sellerops.identity import key_from_email
from sellerops.sandbox.mailbox import write_maildir
from sellerops.sandbox.world import COLUMNS, SandboxAccount, World
from sellerops.sources.mailbox import (
    ORDER_ID_RE,
    SUBJECT_KINDS,
    ParsedMessage,
    Rejected,
    parse_message,
    read_maildir,
    skip_reason,
)

FIXTURES = Path(__file__).parent / "fixtures"


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
RELAY = "0x3k9q2m7t1v8wjose@marketplace.amazon.com"


def _check(result, raw: bytes) -> None:
    """Whatever came out is one of the three documented outcomes, and private data stays in."""
    assert result is None or isinstance(result, ParsedMessage | Rejected)
    if isinstance(result, ParsedMessage):
        assert result.direction in ("buyer", "seller")
        assert result.subject_kind in SUBJECT_KINDS
        assert result.sent_time.utcoffset() == timedelta(0)
        assert result.body_chars >= 0
        assert result.body is None
        assert result.order_id is None or ORDER_ID_RE.fullmatch(result.order_id)
        assert result.thread_key and result.message_id
        assert re.fullmatch(r"[0-9a-f]{64}", result.buyer_key)
        assert "@marketplace.amazon" not in result.thread_key
    if isinstance(result, Rejected):
        assert result.reason and isinstance(result.reason, str)
        assert "@marketplace.amazon" not in result.reason


def _parse(raw: bytes):
    result = parse_message(raw, seller_addresses=SELLERS, pepper=PEPPER)
    _check(result, raw)
    reason = skip_reason(raw, seller_addresses=SELLERS)
    assert (reason is not None) == (result is None)
    return result


# --------------------------------------------------------------------------- never raises


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_raise(raw):
    _parse(raw)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_after_relay_headers_never_raise(tail):
    head = (
        f"From: <{RELAY}>\nTo: orders@acme-outdoor.example\n"
        "Message-ID: <x@y>\nDate: Mon, 09 Nov 2026 10:11:12 +0000\n"
    ).encode()
    _parse(head + tail)


_HEADER_NAMES = st.sampled_from(
    [
        "From",
        "To",
        "Cc",
        "Subject",
        "Date",
        "Received",
        "Message-ID",
        "In-Reply-To",
        "References",
        "Content-Type",
        "Content-Transfer-Encoding",
        "Content-Disposition",
        "MIME-Version",
    ]
)
_VALUE = st.one_of(
    st.text(max_size=200).map(lambda s: s.encode("utf-8")),
    st.binary(max_size=200),
    st.sampled_from(
        [
            f"<{RELAY}>".encode(),
            b"orders@acme-outdoor.example",
            b"=?utf-8?b?w6k=?= <x@marketplace.amazon.co.jp>",
            b"=?iso-2022-jp?B?GyRCOzNFRBsoQg==?=",
            b"=?utf-8?q?=FF=FE?=",
            b"=?unknown?x?abc?=",
            b"multipart/mixed; boundary=b",
            b'multipart/alternative; boundary="b"',
            b"text/plain; charset*=utf-8''%E2%82%AC",
            b"text/plain; charset=shift_jis",
            b"message/rfc822",
            b"base64",
            b"quoted-printable",
            b"x-uuencode",
            b"Tue, 03 Nov 2026 21:15:00 -0800",
            b"Tue, 03 Nov 2026 21:15:00 +9999",
            b"31 Feb 2026 25:61:61 +0000",
            b"from x by y; Mon, 9 Nov 10000 10:11:13 +0000",
            b"<a@b> <c@d>",
            b"<>",
            b"RE: Inquiry from Amazon customer X (Order: 111-1234567-1234567)",
        ]
    ),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    headers=st.lists(st.tuples(_HEADER_NAMES, _VALUE), max_size=14),
    body=st.one_of(
        st.binary(max_size=800),
        st.just(b"--b\nContent-Type: text/plain\n\nhi\n--b--\n"),
        st.just(b"--b\nContent-Type: message/rfc822\n\nFrom: a@b\n\nx\n--b--\n"),
    ),
    sender=st.sampled_from([RELAY, "orders@acme-outdoor.example", "donotreply@amazon.com", None]),
    crlf=st.booleans(),
)
def test_arbitrary_header_values_never_raise(headers, body, sender, crlf):
    lines = [f"From: {sender}".encode()] if sender else []
    lines += [name.encode() + b": " + value for name, value in headers]
    raw = b"\n".join(lines) + b"\n\n" + body
    if crlf:
        raw = raw.replace(b"\n", b"\r\n")
    _parse(raw)


_WRITTEN: dict[str, bytes] = {}


def _written_samples() -> list[bytes]:
    if not _WRITTEN:
        world = mw.build_world()
        with tempfile.TemporaryDirectory() as tmp:
            for account in world.accounts:
                root = Path(tmp) / account.account_id
                write_maildir(world, root, account.account_id)
                for path in sorted(root.rglob("*")):
                    if path.is_file():
                        _WRITTEN[str(path.relative_to(tmp))] = path.read_bytes()
    return list(_WRITTEN.values())


@settings(max_examples=300, deadline=None)
@given(
    index=st.integers(min_value=0, max_value=15),
    edits=st.lists(
        st.tuples(
            st.sampled_from(["delete", "insert", "replace", "truncate"]),
            st.integers(min_value=0, max_value=5000),
            st.binary(min_size=1, max_size=20),
        ),
        min_size=1,
        max_size=5,
    ),
)
def test_damaged_writer_output_never_raises(index, edits):
    samples = _written_samples()
    raw = bytearray(samples[index % len(samples)])
    for kind, position, data in edits:
        position %= max(len(raw), 1)
        if kind == "delete":
            del raw[position : position + len(data)]
        elif kind == "insert":
            raw[position:position] = data
        elif kind == "replace":
            raw[position : position + len(data)] = data
        else:
            del raw[position:]
    _parse(bytes(raw))


# --------------------------------------------------------------------------- round trip

_ZONES = [
    "America/Los_Angeles",
    "America/New_York",
    "America/St_Johns",  # -0330 / -0230
    "Asia/Tokyo",
    "Asia/Kathmandu",  # +0545
    "Pacific/Chatham",  # +1245 / +1345
    "Pacific/Kiritimati",  # +1400
    "UTC",
]
_text = st.text(max_size=120).filter(lambda s: not ORDER_ID_RE.search(s))
_name = st.text(min_size=1, max_size=30).filter(lambda s: not ORDER_ID_RE.search(s))
_order_id = st.from_regex(r"\d{3}-\d{7}-\d{7}", fullmatch=True)


@st.composite
def worlds(draw):
    marketplace = draw(st.sampled_from(["ATVPDKIKX0DER", "A1VC38T7YXB528"]))
    domain = (
        "marketplace.amazon.com" if marketplace == "ATVPDKIKX0DER" else "marketplace.amazon.co.jp"
    )
    account = SandboxAccount(
        account_id="hyp",
        seller_id="AHYP",
        seller_name=draw(_name),
        seller_email="seller@hyp-shop.example",
        seller_time_zone=draw(st.sampled_from(_ZONES)),
        marketplace_ids=(marketplace,),
    )
    n_buyers = draw(st.integers(min_value=1, max_value=3))
    locals_ = draw(
        st.lists(
            st.from_regex(r"[a-z0-9]{6,16}", fullmatch=True),
            min_size=n_buyers,
            max_size=n_buyers,
            unique=True,
        )
    )
    buyers = [
        {
            "account_id": "hyp",
            "marketplace_id": marketplace,
            "buyer_id": i + 1,
            "email": f"{local}@{domain}",
            "name": draw(_name),
            "state": "",
            "city": "",
            "postal_code": "",
            "country_code": "US",
            "time_zone": "UTC",
        }
        for i, local in enumerate(locals_)
    ]
    messages = []
    clock = draw(
        st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1))
    ).replace(tzinfo=UTC)
    for thread in range(draw(st.integers(min_value=1, max_value=4))):
        buyer = draw(st.sampled_from(buyers))
        presales = draw(st.booleans())
        order_id = "" if presales else draw(_order_id)
        template = draw(st.sampled_from(["inquiry", "return", "free"]))
        if template == "inquiry":
            subject = f"Inquiry from Amazon customer {buyer['name']}"
            subject += "" if presales else f" (Order: {order_id})"
        elif template == "return":
            subject = f"Return request from Amazon customer {buyer['name']}"
        else:
            subject = "Question " + draw(_text)
        parent = ""
        for i in range(draw(st.integers(min_value=1, max_value=4))):
            clock += timedelta(seconds=draw(st.integers(min_value=1, max_value=10 * 86400)))
            clock += timedelta(microseconds=draw(st.integers(min_value=0, max_value=999999)))
            message_id = f"t{thread}.m{i}@hyp.test"
            messages.append(
                {
                    "account_id": "hyp",
                    "marketplace_id": marketplace,
                    "message_id": message_id,
                    "thread_id": f"T{thread}",
                    "order_id": order_id,
                    "buyer_id": buyer["buyer_id"],
                    "direction": draw(st.sampled_from(["buyer", "seller"])),
                    "sent_time": clock,
                    "subject": subject
                    if i == 0
                    else draw(st.sampled_from(["RE: ", "Re: "])) + subject,
                    "body": draw(_text),
                    "in_reply_to": parent,
                    "asin": "B0HYP00001" if presales else "",
                }
            )
            parent = message_id
    tables = {name: pd.DataFrame(columns=list(columns)) for name, columns in COLUMNS.items()}
    tables["buyers"] = pd.DataFrame(buyers, columns=list(COLUMNS["buyers"]))
    frame = pd.DataFrame(messages, columns=list(COLUMNS["messages"]))
    frame["sent_time"] = pd.to_datetime(frame["sent_time"], utc=True).astype("datetime64[us, UTC]")
    tables["messages"] = frame
    return World(
        seed=0,
        start=datetime(2000, 1, 1, tzinfo=UTC),
        end=datetime(2100, 1, 1, tzinfo=UTC),
        accounts=[account],
        tables=tables,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world=worlds())
def test_parser_reads_back_what_the_writer_wrote(world):
    account = world.accounts[0]
    emails = dict(zip(world.buyers.buyer_id, world.buyers.email, strict=True))
    with tempfile.TemporaryDirectory() as tmp:
        assert write_maildir(world, tmp, account.account_id) == len(world.messages)
        records = list(
            read_maildir(
                tmp, seller_addresses={account.seller_email}, pepper=PEPPER, keep_body=True
            )
        )
    rejected = [r for r in records if not isinstance(r, ParsedMessage)]
    assert not rejected, rejected
    parsed = {r.message_id: r for r in records}
    assert set(parsed) == set(world.messages.message_id)
    keys: dict[str, set[str]] = {}
    for row in world.messages.itertuples(index=False):
        got = parsed[row.message_id]
        assert got.direction == row.direction
        assert got.order_id == (row.order_id or None)
        assert got.sent_time == row.sent_time.to_pydatetime().replace(microsecond=0)
        assert got.buyer_key == key_from_email(PEPPER, emails[row.buyer_id])
        body = row.body.replace("\r\n", "\n").replace("\r", "\n")
        assert body in got.body
        keys.setdefault(row.thread_id, set()).add(got.thread_key)
    assert all(len(k) == 1 for k in keys.values()), keys
    assert len({next(iter(k)) for k in keys.values()}) == len(keys)
    assume(len(world.messages) > 0)
