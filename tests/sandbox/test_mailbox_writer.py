"""The sandbox mailbox writer: a World's messages as Amazon relay e-mails in a Maildir.

The tiny World is built by hand in ``tests/sources/fixtures/mailbox_world.py``
(shared with the mailbox source tests); these tests read the files back with
the standard library only, not with the SellerOps parser.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import importlib.util
import mailbox
import re
import sys
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from sellerops.sandbox.mailbox import write_maildir

WORLD_MODULE = Path(__file__).resolve().parents[1] / "sources" / "fixtures" / "mailbox_world.py"


def _load_world_module():
    name = "sellerops_tests_mailbox_world"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, WORLD_MODULE)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


mw = _load_world_module()


@pytest.fixture(scope="module")
def world():
    return mw.build_world()


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.parent.name in ("new", "cur")
    }


def _messages(root: Path) -> dict[str, tuple[str, email.message.EmailMessage]]:
    """Message-ID -> (relative path, parsed message), parsed by the standard library."""
    out = {}
    for rel, data in _files(root).items():
        msg = email.message_from_bytes(data, policy=email.policy.default)
        out[msg["Message-ID"].strip("<>")] = (rel, msg)
    return out


def _utc(date_header) -> datetime:
    moment = parsedate_to_datetime(str(date_header))
    # "-0000" means UTC with the local zone unknown; the stdlib returns it naive.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def test_writes_every_message_of_the_account_once(world, tmp_path):
    count = write_maildir(world, tmp_path, "acme-us")
    expected = world.messages[world.messages.account_id == "acme-us"]
    assert count == len(expected) == 11
    written = _messages(tmp_path)
    assert set(written) == set(expected.message_id)
    for sub in ("new", "cur", "tmp"):
        assert (tmp_path / sub).is_dir()
    assert not any((tmp_path / "tmp").iterdir())


def test_most_mail_is_new_and_a_few_of_each_direction_are_read(world, tmp_path):
    write_maildir(world, tmp_path, "acme-us")
    direction = dict(zip(world.messages.message_id, world.messages.direction, strict=True))
    placed: dict[str, list[str]] = {"buyer": [], "seller": []}
    for message_id, (rel, _msg) in _messages(tmp_path).items():
        placed[direction[message_id]].append(rel)
    for rels in placed.values():
        cur = [r for r in rels if r.startswith("cur/")]
        assert 1 <= len(cur) < len(rels) / 2, rels
        for rel in cur:
            flags = rel.rpartition(":2,")[2]
            assert flags and set(flags) <= set("FRS") and flags == "".join(sorted(flags))
    # The stdlib sees the same flags: m10 was answered (m11 replies to it) and read.
    box = mailbox.Maildir(tmp_path, create=False)
    flags = {msg["Message-ID"].strip("<>"): msg.get_flags() for msg in box}
    assert flags["m10.zoe@sandbox.sellerops.test"] == "RS"
    assert flags["m11.zoe@sandbox.sellerops.test"] == "S"
    assert flags["m1.jose@sandbox.sellerops.test"] == ""


def test_same_world_gives_byte_identical_files(world, tmp_path):
    write_maildir(world, tmp_path / "a", "sakura-jp")
    write_maildir(world, tmp_path / "b", "sakura-jp")
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert first == second and len(first) == 5
    # File names come from the sent time and the Message-ID.
    digest = hashlib.sha256(b"j1.yamada@sandbox.sellerops.test").hexdigest()[:20]
    # 2026-11-10 01:00:00 UTC = 1794272400 s after the epoch.
    assert f"cur/1794272400.M{digest}.sellerops-sandbox:2,RS" in first
    # mtime = delivery time (two seconds after sending for buyer mail).
    path = tmp_path / "a" / f"cur/1794272400.M{digest}.sellerops-sandbox:2,RS"
    assert path.stat().st_mtime == 1794272402
    # Writing again into the same directory replaces, never duplicates.
    write_maildir(world, tmp_path / "a", "sakura-jp")
    assert _files(tmp_path / "a") == first


def test_relay_headers(world, tmp_path):
    write_maildir(world, tmp_path / "us", "acme-us")
    write_maildir(world, tmp_path / "jp", "sakura-jp")
    written = {**_messages(tmp_path / "us"), **_messages(tmp_path / "jp")}
    buyers = world.buyers.set_index("buyer_id")
    accounts = {a.account_id: a for a in world.accounts}
    for row in world.messages.itertuples(index=False):
        _rel, msg = written[row.message_id]
        buyer = buyers.loc[row.buyer_id]
        account = accounts[row.account_id]
        sender, recipient = msg["From"].addresses[0], msg["To"].addresses[0]
        relay_side = sender if row.direction == "buyer" else recipient
        seller_side = recipient if row.direction == "buyer" else sender
        assert relay_side.addr_spec == buyer.email
        assert relay_side.display_name == f"{buyer['name']} - Amazon Marketplace"
        assert seller_side.addr_spec == account.seller_email
        assert seller_side.display_name == account.seller_name
        assert str(msg["Subject"]) == row.subject
        assert _utc(msg["Date"]) == row.sent_time.to_pydatetime().replace(microsecond=0)
        assert ("Received" in msg) == (row.direction == "buyer")
        body = msg.get_body(preferencelist=("plain",)).get_content()
        assert row.body in body.replace("\r\n", "\n")


def test_dates_are_in_varied_zones_and_the_seller_zone(tmp_path, world):
    write_maildir(world, tmp_path, "acme-us")
    written = _messages(tmp_path)
    raw_dates = {mid: str(msg["Date"]) for mid, (_rel, msg) in written.items()}
    # Seller mail in Los Angeles time: PDT (-0700) on 30 Oct, PST (-0800) in November.
    assert raw_dates["m11.zoe@sandbox.sellerops.test"] == "Fri, 30 Oct 2026 20:30:00 -0700"
    assert raw_dates["m2.jose@sandbox.sellerops.test"] == "Wed, 04 Nov 2026 09:40:12 -0800"
    buyer_zones = {
        date.rsplit(" ", 1)[1]
        for mid, date in raw_dates.items()
        if world.messages.set_index("message_id").loc[mid, "direction"] == "buyer"
    }
    assert len(buyer_zones) >= 3
    assert buyer_zones <= {"+0000", "-0700", "-0000", "GMT", "-0800"}


def test_threading_headers(world, tmp_path):
    write_maildir(world, tmp_path, "acme-us")
    written = _messages(tmp_path)
    assert str(written["m3.jose@sandbox.sellerops.test"][1]["References"]).split() == [
        "<m1.jose@sandbox.sellerops.test>",
        "<m2.jose@sandbox.sellerops.test>",
    ]
    parents = dict(zip(world.messages.message_id, world.messages.in_reply_to, strict=True))
    direct_replies_without_references = 0
    for message_id, (_rel, msg) in written.items():
        parent = parents[message_id]
        if not parent:
            assert "In-Reply-To" not in msg and "References" not in msg
            continue
        assert msg["In-Reply-To"] == f"<{parent}>"
        if "References" in msg:
            assert str(msg["References"]).split()[-1] == f"<{parent}>"
        else:
            assert not parents[parent]  # only direct replies to a thread's first message
            direct_replies_without_references += 1
    assert direct_replies_without_references >= 1


def test_encodings_are_mixed_on_purpose(world, tmp_path):
    write_maildir(world, tmp_path / "us", "acme-us")
    write_maildir(world, tmp_path / "jp", "sakura-jp")
    raw = {**_files(tmp_path / "us"), **_files(tmp_path / "jp")}
    transfer, charsets, layouts, words = set(), set(), set(), set()
    for data in raw.values():
        msg = email.message_from_bytes(data, policy=email.policy.compat32)
        layouts.add(msg.get_content_type())
        for part in msg.walk():
            if part.get_content_maintype() == "text":
                transfer.add(part["Content-Transfer-Encoding"])
                charsets.add(part.get_content_charset())
        head = data.split(b"\n\n", 1)[0].decode("ascii", "replace")
        words |= {m.lower() for m in re.findall(r"=\?[^?]+\?([QB])\?", head)}
    assert {"quoted-printable", "base64", "8bit", "7bit"} <= transfer
    assert {"utf-8", "iso-8859-1", "iso-2022-jp", "shift_jis"} <= charsets
    assert {"text/plain", "multipart/alternative"} <= layouts
    assert words == {"q", "b"}
    # Some subjects are only partly encoded, and the order id marker varies.
    subjects = [d.split(b"\nSubject: ", 1)[1].split(b"\n", 1)[0] for d in raw.values()]
    assert any(s.startswith(b"Inquiry from Amazon customer =?") for s in subjects)
    bodies = "\n".join(
        (m.get_body(("plain",)).get_content())
        for m in (email.message_from_bytes(d, policy=email.policy.default) for d in raw.values())
    )
    for marker in (
        "[Amazon Order ID: 111-1234567-1234567]",
        "Order ID: 112-7654321-7654321",
        "注文番号：250-1234567-7654321",
        "ASIN: B0C1234567",
        "------------- Begin message -------------",
    ):
        assert marker in bodies, marker


def test_sent_folder_holds_the_seller_mail(world, tmp_path):
    assert write_maildir(world, tmp_path, "acme-us", sent_folder="Sent") == 11
    box = mailbox.Maildir(tmp_path, create=False)
    assert box.list_folders() == ["Sent"]
    assert (tmp_path / ".Sent" / "maildirfolder").exists()
    inbox = {m["From"] for m in box}
    sent = {m["From"] for m in box.get_folder("Sent")}
    assert len(box) == 6 and len(box.get_folder("Sent")) == 5
    assert all("marketplace.amazon.com" in f for f in inbox)
    assert sent == {'"Acme Outdoor Co." <orders@acme-outdoor.example>'}


def test_account_without_messages_and_unknown_account(world, tmp_path):
    quiet = mw.build_world()
    quiet.tables["messages"] = quiet.messages.iloc[0:0]
    assert write_maildir(quiet, tmp_path / "quiet", "acme-us") == 0
    assert (tmp_path / "quiet" / "new").is_dir()
    with pytest.raises(KeyError):
        write_maildir(world, tmp_path / "x", "no-such-account")


def test_header_values_cannot_inject_headers(tmp_path):
    nasty = mw.build_world()
    messages = nasty.messages.copy()
    messages.loc[messages.message_id == "m1.jose@sandbox.sellerops.test", "subject"] = (
        "Inquiry\r\nBcc: everyone@example.com\nX-Evil: 1 =?utf-8?q?not_a_word?="
    )
    nasty.tables["messages"] = messages
    write_maildir(nasty, tmp_path, "acme-us")
    _rel, msg = _messages(tmp_path)["m1.jose@sandbox.sellerops.test"]
    assert "Bcc" not in msg and "X-Evil" not in msg
    assert str(msg["Subject"]) == (
        "Inquiry  Bcc: everyone@example.com X-Evil: 1 =?utf-8?q?not_a_word?="
    )


def test_world_times_may_be_naive_or_carry_microseconds(tmp_path):
    local = mw.build_world()
    messages = local.messages.copy()
    messages["sent_time"] = messages["sent_time"].dt.tz_localize(None)
    local.tables["messages"] = messages
    write_maildir(local, tmp_path, "acme-us")
    _rel, msg = _messages(tmp_path)["m2.jose@sandbox.sellerops.test"]
    # 17:40:12.345678 UTC, written to the second.
    assert _utc(msg["Date"]) == datetime(2026, 11, 4, 17, 40, 12, tzinfo=UTC)
