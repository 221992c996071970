"""``read_imap`` against a real Dovecot, compared with ``read_maildir`` on the same mail.

Dovecot comes from the Debian package ``dovecot-imapd``: installed on demand
when running as root (``sellerops.testing.system_packages``), skipped when it
cannot be had, and a failure instead of a skip when ``CI=true``.

The server runs in the foreground (``dovecot -F -c <config>``) from a throwaway
directory, listening on a free port of 127.0.0.1 with plaintext login and one
static user whose mail is ``maildir:<tmp>/home/Maildir``. As a normal user
everything runs as that user. As root, Dovecot refuses to serve mail with
uid 0 and to run its login process as root, so the mail belongs to ``nobody``
(the Maildir is chowned to it), the login process runs as ``dovenull`` and
the internal processes as ``dovecot`` (both made by the package).
"""

from __future__ import annotations

import grp
import imaplib
import importlib.util
import logging
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sellerops.sandbox.mailbox import write_maildir
from sellerops.sources.mailbox import (
    ParsedMessage,
    Rejected,
    read_imap,
    read_maildir,
    to_dataframe,
)
from sellerops.testing.system_packages import require_debian_package

FIXTURES = Path(__file__).parent / "fixtures"
DOVECOT = "/usr/sbin/dovecot"
USER, PASSWORD = "seller", "not-a-secret"


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
SELLERS = {mw.ACME.seller_email}


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _user_or(name: str, fallback: str) -> str:
    try:
        pwd.getpwnam(name)
        return name
    except KeyError:
        return fallback


class Dovecot:
    """A throwaway Dovecot IMAP server for one Maildir."""

    def __init__(self, binary: Path, base: Path):
        self.binary = binary
        self.base = base
        self.home = base / "home"
        self.maildir = self.home / "Maildir"
        self.config = base / "dovecot.conf"
        self.log = base / "dovecot.log"
        self.host = "127.0.0.1"
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    def _accounts(self) -> dict[str, str | int]:
        if os.geteuid() == 0:
            mail = pwd.getpwnam("nobody")
            internal = _user_or("dovecot", "nobody")
            return {
                "internal": internal,
                "internal_group": grp.getgrgid(pwd.getpwnam(internal).pw_gid).gr_name,
                "login": _user_or("dovenull", "nobody"),
                "uid": mail.pw_uid,
                "gid": mail.pw_gid,
            }
        me = pwd.getpwuid(os.geteuid())
        return {
            "internal": me.pw_name,
            "internal_group": grp.getgrgid(os.getegid()).gr_name,
            "login": me.pw_name,
            "uid": os.geteuid(),
            "gid": os.getegid(),
        }

    def start(self) -> None:
        a = self._accounts()
        if os.geteuid() == 0:
            for path in [self.home, *self.home.rglob("*")]:
                os.chown(path, a["uid"], a["gid"], follow_symlinks=False)
        self.config.write_text(
            f"""\
protocols = imap
listen = {self.host}
base_dir = {self.base}/run
state_dir = {self.base}/state
instance_name = sellerops-test-{self.port}
log_path = {self.log}
info_log_path = {self.log}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {a["internal"]}
default_internal_group = {a["internal_group"]}
default_login_user = {a["login"]}
first_valid_uid = {a["uid"]}
first_valid_gid = {a["gid"]}
mail_location = maildir:{self.maildir}
passdb {{
  driver = static
  args = password={PASSWORD}
}}
userdb {{
  driver = static
  args = uid={a["uid"]} gid={a["gid"]} home={self.home}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {self.host}
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""
        )
        log = open(self.log.with_suffix(".out"), "wb")  # noqa: SIM115 - closed in stop()
        self._out = log
        self.process = subprocess.Popen(
            [str(self.binary), "-F", "-c", str(self.config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dovecot exited with {self.process.returncode}:\n{self.logs()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"dovecot did not answer on port {self.port}:\n{self.logs()}")

    def logs(self) -> str:
        parts = []
        for path in (self.log, self.log.with_suffix(".out")):
            if path.exists():
                parts.append(path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        if getattr(self, "_out", None) is not None:
            self._out.close()

    def flags(self) -> dict[str, dict[str, frozenset[str]]]:
        """Folder -> Message-ID -> IMAP flags, read without changing anything."""
        out: dict[str, dict[str, frozenset[str]]] = {}
        conn = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            conn.login(USER, PASSWORD)
            for folder in ("INBOX", "Sent"):
                assert conn.select(f'"{folder}"', readonly=True)[0] == "OK"
                status, data = conn.uid(
                    "FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"
                )
                assert status == "OK"
                folder_flags = {}
                for item in data:
                    if isinstance(item, tuple):
                        meta, header = item
                        flags = meta.split(b"FLAGS (", 1)[1].split(b")", 1)[0].decode().split()
                        message_id = header.decode().split(":", 1)[1].strip().strip("<>")
                        folder_flags[message_id] = frozenset(flags) - {"\\Recent"}
                out[folder] = folder_flags
        finally:
            conn.logout()
        return out


@pytest.fixture(scope="session")
def dovecot_binary() -> Path:
    return require_debian_package(DOVECOT, "dovecot-imapd")


def _mail(headers: dict[str, str], body: bytes = b"Hello\n") -> bytes:
    return ("\n".join(f"{k}: {v}" for k, v in headers.items()) + "\n\n").encode() + body


@pytest.fixture(scope="module")
def server(dovecot_binary):
    # Not pytest's tmp_path: its parents are private to the user running the
    # tests, and Dovecot's unprivileged processes must reach the mail and sockets.
    base = Path(tempfile.mkdtemp(prefix="sellerops-dovecot-"))
    base.chmod(0o755)
    dovecot = Dovecot(dovecot_binary, base)
    world = mw.build_world()
    write_maildir(world, dovecot.maildir, "acme-us", sent_folder="Sent")
    extra = {
        "new/1794000000.newsletter.test": (FIXTURES / "eml" / "newsletter.eml").read_bytes(),
        "new/1794000000.mislabelled.test": (
            FIXTURES / "eml" / "buyer_mislabelled_charset.eml"
        ).read_bytes(),
        "new/1794000000.dateless.test": _mail(
            {
                "From": f"<{mw.JOSE}>",
                "To": mw.ACME.seller_email,
                "Subject": "Inquiry from Amazon customer Jose (Order: 113-1111111-2222222)",
                "Message-ID": "<nodate@x>",
            }
        ),
        ".Sent/cur/1794000000.supplier.test:2,S": _mail(
            {
                "Date": "Mon, 09 Nov 2026 09:00:00 -0800",
                "From": mw.ACME.seller_email,
                "To": "sales@tents.example",
                "Subject": "Restock",
                "Message-ID": "<restock@acme>",
            }
        ),
    }
    for name, data in extra.items():
        path = dovecot.maildir / name
        path.write_bytes(data)
        os.utime(path, (1794225600, 1794225600))  # delivered 2026-11-09 12:00:00 UTC
    try:
        dovecot.start()
        yield dovecot
    finally:
        dovecot.stop()
        shutil.rmtree(base, ignore_errors=True)


def _imap(server: Dovecot, **kwargs):
    return list(
        read_imap(
            server.host,
            server.port,
            USER,
            PASSWORD,
            seller_addresses=SELLERS,
            pepper=PEPPER,
            **kwargs,
        )
    )


def _maildir(server: Dovecot, **kwargs):
    return list(
        read_maildir(
            server.maildir,
            seller_addresses=SELLERS,
            pepper=PEPPER,
            folders=("INBOX", "Sent"),
            **kwargs,
        )
    )


def _sorted(records):
    return sorted(
        records,
        key=lambda r: (type(r).__name__, r.message_id or "", getattr(r, "reason", "")),
    )


def test_imap_and_maildir_give_the_same_records(server):
    before = server.flags()
    from_imap = _imap(server, keep_body=True)
    from_maildir = _maildir(server, keep_body=True)
    assert _sorted(from_imap) == _sorted(from_maildir)
    parsed = [r for r in from_imap if isinstance(r, ParsedMessage)]
    rejected = [r for r in from_imap if isinstance(r, Rejected)]
    assert len(parsed) == 11
    assert sorted(r.reason for r in rejected) == [
        "body: bytes do not decode as the labelled charset 'UTF-8'",
        "no usable Date header and no dated Received header",
    ]
    assert {r.source for r in from_imap} == {"imap"}
    assert {r.source for r in from_maildir} == {"maildir"}
    m1 = next(r for r in parsed if r.message_id == "m1.jose@sandbox.sellerops.test")
    assert m1.sent_time == utc(2026, 11, 4, 5, 15, 0)
    assert m1.location.startswith(f"imap://127.0.0.1:{server.port}/INBOX;UIDVALIDITY=")
    # The dateless mail is placed by its delivery time (the IMAP INTERNALDATE).
    dateless = next(r for r in rejected if r.message_id == "nodate@x")
    assert dateless.delivered_time == utc(2026, 11, 9, 12, 0, 0)
    # Reading changed no flag.
    assert server.flags() == before


def test_reading_is_read_only_and_flags_match_the_maildir(server):
    before = server.flags()
    _imap(server)
    _imap(server, batch_size=1)
    after = server.flags()
    assert after == before
    inbox, sent = after["INBOX"], after["Sent"]
    # Written to cur/ as ":2,RS" (answered and seen) and ":2,S"; new/ mail is unseen.
    assert inbox["m10.zoe@sandbox.sellerops.test"] == {"\\Answered", "\\Seen"}
    assert inbox["m5.jack@sandbox.sellerops.test"] == {"\\Answered", "\\Flagged", "\\Seen"}
    assert inbox["m1.jose@sandbox.sellerops.test"] == frozenset()
    assert sent["m11.zoe@sandbox.sellerops.test"] == {"\\Seen"}


def test_windows_are_exact_in_utc(server):
    since, until = utc(2026, 11, 4, 5, 15, 0), utc(2026, 11, 8, 12, 0, 0)
    expected = [
        f"m{i}.{who}@sandbox.sellerops.test" for i, who in enumerate(["jose"] * 4 + ["jack"] * 2, 1)
    ]
    for records in (
        _imap(server, since=since, until=until),
        _maildir(server, since=since, until=until),
    ):
        assert sorted(r.message_id for r in records) == sorted(expected)
    # The two rejected mails: one by its Date (17:00 UTC), one by delivery (12:00 UTC).
    since, until = utc(2026, 11, 9, 11, 0, 0), utc(2026, 11, 9, 18, 0, 0)
    from_imap = _imap(server, since=since, until=until)
    assert _sorted(from_imap) == _sorted(_maildir(server, since=since, until=until))
    assert sorted(r.message_id for r in from_imap) == [
        "0100018f-mislabelled@email.amazonses.com",
        "nodate@x",
    ]
    assert _imap(server, since=utc(2030, 1, 1)) == []


def test_batches_and_frames_agree(server):
    small = _imap(server, batch_size=2)
    assert _sorted(small) == _sorted(_imap(server))
    imap_messages, imap_rejected = to_dataframe(small, "acme-us")
    md_messages, md_rejected = to_dataframe(_maildir(server), "acme-us")
    assert len(imap_messages) == 11 and len(imap_rejected) == 2
    assert set(imap_messages["source"]) == {"imap"}
    columns = [c for c in imap_messages.columns if c != "source"]
    assert imap_messages[columns].equals(md_messages[columns])
    assert sorted(imap_rejected["reason"]) == sorted(md_rejected["reason"])


def test_missing_folder_is_skipped_with_a_warning(server, caplog):
    with caplog.at_level(logging.WARNING, logger="sellerops.sources.mailbox"):
        records = _imap(server, folders=("INBOX", "Archive/2025"))
    assert len(records) == 6 + 2  # buyer mail and the two rejected, all in INBOX
    assert "Archive/2025" in caplog.text


def test_wrong_password_raises(server):
    with pytest.raises(imaplib.IMAP4.error):
        list(
            read_imap(
                server.host,
                server.port,
                USER,
                "wrong",
                seller_addresses=SELLERS,
                pepper=PEPPER,
            )
        )


# --------------------------------------------------------------------------- system packages


def test_ensure_debian_package_returns_an_existing_binary_without_apt(monkeypatch):
    from sellerops.testing import system_packages

    monkeypatch.setattr(system_packages, "_apt_get", lambda *a, **k: pytest.fail("apt-get ran"))
    assert system_packages.ensure_debian_package(sys.executable, "python3") == Path(sys.executable)


def test_ensure_debian_package_installs_as_root_and_retries_after_stale_lists(
    monkeypatch, tmp_path
):
    from sellerops.testing import system_packages

    binary = tmp_path / "bin" / "fakebin"
    calls = []

    def fake_apt_get(args, timeout):
        calls.append(args[0])
        if args[0] == "install" and calls.count("install") == 1:
            return subprocess.CompletedProcess(args, 100, "", "E: Unable to locate package fake")
        if args[0] == "install":
            binary.parent.mkdir()
            binary.write_text("#!/bin/sh\n")
            binary.chmod(0o755)
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(system_packages.os, "geteuid", lambda: 0)
    monkeypatch.setattr(system_packages, "_have_package_lists", lambda: True)
    monkeypatch.setattr(system_packages.shutil, "which", lambda name: "/usr/bin/apt-get")
    monkeypatch.setattr(system_packages, "_apt_get", fake_apt_get)
    assert system_packages.ensure_debian_package(binary, "fake-package") == binary
    assert calls == ["install", "update", "install"]


def test_missing_package_skips_locally_and_fails_on_ci(monkeypatch, tmp_path):
    from sellerops.testing import system_packages

    monkeypatch.setattr(system_packages.os, "geteuid", lambda: 1000)
    missing = tmp_path / "no-such-binary"
    with pytest.raises(system_packages.SystemPackageUnavailable, match="not root"):
        system_packages.ensure_debian_package(missing, "dovecot-imapd")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        system_packages.require_debian_package(missing, "dovecot-imapd")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y dovecot-imapd"):
        system_packages.require_debian_package(missing, "dovecot-imapd")
    with pytest.raises(ValueError):
        system_packages.ensure_debian_package(missing, "bad name; rm -rf /")
