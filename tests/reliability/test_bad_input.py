"""The bad-input corpus through `sellerops import-report` and the mailbox reader.

Each report case runs the CLI entry point (``sellerops.cli.main``) on one corpus
file into a fresh DuckDB warehouse and checks the exact outcome: the exit code,
the error message (it names the file and the line or column, and is one line,
not a traceback), the ``ops.load_audit`` lines (extracted = loaded + quarantined),
the ``ops.quarantine`` reasons and what landed in ``core``. The e-mail cases go
through ``read_maildir`` -> ``to_dataframe`` -> ``process_batch``. The table is
documented in docs/bad_input.md.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import shutil
import subprocess
import sys
import tracemalloc
import zlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from hashlib import sha256
from pathlib import Path

import pytest
import sqlalchemy as sa

from sellerops import cli, datasets, migrations, warehouse
from sellerops.ingest import Batch, process_batch
from sellerops.sources import mailbox, reports
from tests.reliability.corpus import build

ACCOUNTS = """
accounts:
  - account_id: acme-outdoor
    name: Acme Outdoor
    spapi_conn_id: sellerops_spapi_acme
    marketplaces: [ATVPDKIKX0DER, A1VC38T7YXB528]
    seller_time_zone: America/New_York
"""

AO, SH, MFN, FBA, FB = (
    build.ALL_ORDERS,
    build.SHIPPING,
    build.MFN_RETURNS,
    build.FBA_RETURNS,
    build.FEEDBACK,
)
LT, JT = build.LATIN_TEXT, build.JAPANESE_TEXT


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# What lands in core, per report type: one query and its rows for the clean file.
SUMMARY_SQL = {
    AO: "SELECT order_id, ship_city, CAST(order_total AS DOUBLE PRECISION) FROM core.orders ORDER BY 1",
    SH: "SELECT order_id, ship_city, CAST(order_total AS DOUBLE PRECISION) FROM core.orders ORDER BY 1",
    MFN: "SELECT return_key, quantity, status, return_time FROM core.returns ORDER BY 1",
    FBA: "SELECT return_key, quantity, status, return_time FROM core.returns ORDER BY 1",
    FB: "SELECT order_id, feedback_date, rating, comments, has_response FROM core.feedback "
    "ORDER BY 1",
}
MFN_KEYS = (
    "mfn:115-0000003-0000001:CHAIR-1:DKRMA0001",
    "mfn:115-0000003-0000002:CHAIR-2:DKRMA0002",
)
FBA_KEYS = ("fba:116-0000004-0000001:LAMP-00001:LPNRR0001", "fba:116-0000004-0000002:LAMP-00002:LPNRR0002")  # fmt: skip
CLEAN_ROWS = {
    # 24.00 + 1.92 tax; 149.99 + 12.00 + 5.99 - 10.00 promotion + 9.99 + 0.80
    AO: [("113-0000001-0000001", "Portland", 25.92), ("113-0000001-0000002", "Austin", 168.77)],
    # 39.00 + 3.12 + 4.99 shipping; 78.00 + 6.24 + 4.99
    SH: [("114-0000002-0000001", "Seattle", 47.11), ("114-0000002-0000002", "Denver", 89.23)],
    # Bare dates: midnight in New York (EST after 1 November 2026), in UTC.
    MFN: [
        (MFN_KEYS[0], 1, "Approved", utc(2026, 11, 3, 5)),
        (MFN_KEYS[1], 2, "Approved", utc(2026, 11, 4, 5)),
    ],
    FBA: [
        (FBA_KEYS[0], 1, "SELLABLE", utc(2026, 11, 5, 14, 3, 11)),
        (FBA_KEYS[1], 1, "SELLABLE", utc(2026, 11, 6, 9, 30)),
    ],
    FB: [
        ("117-0000005-0000001", date(2026, 11, 20), 5, "Great mug, fast shipping", False),
        ("117-0000005-0000002", date(2026, 11, 21), 2, "Arrived late", True),
        ("117-0000005-0000003", date(2026, 11, 22), 4, "Good", False),
    ],
}
CLEAN_AUDIT = {
    AO: {"orders": (2, 2, 0), "order_items": (3, 3, 0)},
    SH: {"orders": (2, 2, 0), "order_items": (2, 2, 0)},
    MFN: {"returns": (2, 2, 0)},
    FBA: {"returns": (2, 2, 0)},
    FB: {"feedback": (3, 3, 0)},
}
ZERO_AUDIT = {rt: {ds: (0, 0, 0) for ds in audit} for rt, audit in CLEAN_AUDIT.items()}
LATIN_ROWS = {
    AO: [("113-0000001-0000001", LT, 25.92), CLEAN_ROWS[AO][1]],
    SH: [("114-0000002-0000001", LT, 47.11), CLEAN_ROWS[SH][1]],
    MFN: [(MFN_KEYS[0], 1, LT, utc(2026, 11, 3, 5)), CLEAN_ROWS[MFN][1]],
    FBA: [(FBA_KEYS[0], 1, LT, utc(2026, 11, 5, 14, 3, 11)), CLEAN_ROWS[FBA][1]],
    FB: [(*CLEAN_ROWS[FB][0][:3], LT, False), *CLEAN_ROWS[FB][1:]],
}
# The Amazon.co.jp files: yen (x100 of the dollar amounts), 503- order ids, Tokyo dates.
JAPAN_ROWS = {
    AO: [("503-0000001-0000001", JT, 2592.0), ("503-0000001-0000002", JT, 16877.0)],
    SH: [("503-0000002-0000001", JT, 4711.0), ("503-0000002-0000002", JT, 8923.0)],
    MFN: [
        ("mfn:503-0000003-0000001:CHAIR-1:DKRMA0001", 1, JT, utc(2026, 11, 2, 15)),
        ("mfn:503-0000003-0000002:CHAIR-2:DKRMA0002", 2, JT, utc(2026, 11, 3, 15)),
    ],
    FBA: [
        ("fba:503-0000004-0000001:LAMP-00001:LPNRR0001", 1, JT, utc(2026, 11, 5, 14, 3, 11)),
        ("fba:503-0000004-0000002:LAMP-00002:LPNRR0002", 1, JT, utc(2026, 11, 6, 9, 30)),
    ],
    FB: [
        ("503-0000005-0000001", date(2026, 11, 20), 5, JT, False),
        ("503-0000005-0000002", date(2026, 11, 21), 2, JT, True),
        ("503-0000005-0000003", date(2026, 11, 22), 4, JT, False),
    ],
}
MISSING = {AO: "purchase-date", SH: "quantity-purchased", MFN: "merchant-sku", FBA: "order-id"}
MISSING[FB] = "rating"
FIELDS = {AO: 32, SH: 30, MFN: 32, FBA: 13, FB: 6}
DATASET = {AO: "orders", SH: "orders", MFN: "returns", FBA: "returns", FB: "feedback"}


@dataclass(frozen=True)
class Expect:
    """One case's outcome. ``{file}`` in reasons stands for the corpus file's name."""

    audit: dict[str, tuple[int, int, int]] | None = None  # dataset -> extracted, loaded, quar.
    quarantine: list[tuple[str, str]] = field(default_factory=list)  # (dataset, reason)
    rows: list[tuple] | None = None  # SUMMARY_SQL's rows
    error: str | None = None  # the whole error message after "{path}: "
    sql: tuple[str, list[tuple]] | None = None  # another query and its rows


def _row_problem(rt: str, count: int) -> Expect:
    """Line 3 has ``count`` fields; in an order report its order's other line follows it."""
    reason = f"{{file}}: line 3 has {count} fields, the header has {FIELDS[rt]}"
    if rt == AO:
        return Expect(
            {"orders": (3, 1, 2), "order_items": (1, 1, 0)},
            [
                ("orders", reason),
                (
                    "orders",
                    "{file}: line 4: another line of order 113-0000001-0000002 (line 3) "
                    "was quarantined",
                ),
            ],
            CLEAN_ROWS[AO][:1],
        )
    if rt == SH:
        return Expect(
            {"orders": (2, 1, 1), "order_items": (1, 1, 0)},
            [("orders", reason)],
            CLEAN_ROWS[SH][:1],
        )
    (dataset,) = CLEAN_AUDIT[rt]
    extracted = len(CLEAN_ROWS[rt])
    kept = [r for i, r in enumerate(CLEAN_ROWS[rt]) if i != 1]
    return Expect({dataset: (extracted, extracted - 1, 1)}, [(dataset, reason)], kept)


def _duplicate(rt: str) -> Expect:
    """The first data line repeated at the end: quarantined, the original loads once."""
    line = {AO: 5, SH: 4, MFN: 4, FBA: 4, FB: 5}[rt]
    audit = dict(CLEAN_AUDIT[rt])
    ds = DATASET[rt]
    extracted, loaded, quarantined = audit[ds]
    audit[ds] = (extracted + 1, loaded, quarantined + 1)
    return Expect(audit, [(ds, f"{{file}}: line {line}: repeats line 2 exactly")], CLEAN_ROWS[rt])


def _one(reason: str, kept: list[tuple] | None = None, **audit) -> Expect:
    return Expect(audit, [(next(iter(audit)), reason)], kept)


CASES: dict[str, Expect] = {}
for _rt, _short in build.SHORT.items():
    _path_error = f"not a {_rt} file: missing column(s) {MISSING[_rt]}"
    CASES |= {
        f"{_short}__clean.txt": Expect(CLEAN_AUDIT[_rt], [], CLEAN_ROWS[_rt]),
        f"{_short}__utf8_bom.txt": Expect(CLEAN_AUDIT[_rt], [], CLEAN_ROWS[_rt]),
        f"{_short}__cp1252.txt": Expect(CLEAN_AUDIT[_rt], [], LATIN_ROWS[_rt]),
        f"{_short}__shift_jis_jp.txt": Expect(CLEAN_AUDIT[_rt], [], JAPAN_ROWS[_rt]),
        f"{_short}__missing_column.txt": Expect(error=_path_error),
        f"{_short}__extra_columns.txt": Expect(CLEAN_AUDIT[_rt], [], CLEAN_ROWS[_rt]),
        f"{_short}__reordered_columns.txt": Expect(CLEAN_AUDIT[_rt], [], CLEAN_ROWS[_rt]),
        f"{_short}__short_row.txt": _row_problem(_rt, 3),
        f"{_short}__extra_field.txt": _row_problem(_rt, FIELDS[_rt] + 1),
        f"{_short}__duplicate_row.txt": _duplicate(_rt),
        f"{_short}__empty.txt": Expect(
            error=f"the file is empty (no header line), not a {_rt} file"
        ),
        f"{_short}__header_only.txt": Expect(ZERO_AUDIT[_rt], [], []),
    }

# Byte offset of the damaged "é" on line 3 of the all-orders file: after the fields
# before ship-city, their tabs, and "Ñandú caf".
_AO_CITY = build.ALL_ORDERS_COLUMNS.index("ship-city")
_AO_BYTE = (
    len("\t".join(build.ROWS[AO]()[1][c] for c in build.ALL_ORDERS_COLUMNS[:_AO_CITY]).encode())
    + 1
    + len("Ñandú caf".encode())
    + 1
)
_SIBLING = "{file}: line 4: another line of order 113-0000001-0000002 (line 3) was quarantined"
_WINDOW = "[2000-01-01T00:00:00+00:00, 2100-01-01T00:00:00+00:00)"

CASES |= {
    # A UTF-8 file with one Windows-1252 byte: that line is quarantined, not misread.
    "feedback__utf8_damaged.txt": _one(
        "{file}: line 3: byte 23 (column comments) is not utf-8 text",
        [
            ("117-0000005-0000001", date(2026, 11, 20), 5, "Ñandú café", False),
            ("117-0000005-0000003", date(2026, 11, 22), 4, "Ñandú café", False),
        ],
        feedback=(3, 2, 1),
    ),
    "all_orders__utf8_damaged.txt": Expect(
        {"orders": (3, 1, 2), "order_items": (1, 1, 0)},
        [
            ("orders", f"{{file}}: line 3: byte {_AO_BYTE} (column ship-city) is not utf-8 text"),
            ("orders", _SIBLING),
        ],
        [("113-0000001-0000001", "Ñandú café", 25.92)],
    ),
    "feedback__utf16_excel.txt": Expect(CLEAN_AUDIT[FB], [], CLEAN_ROWS[FB]),
    "mfn_returns__crlf.txt": Expect(CLEAN_AUDIT[MFN], [], CLEAN_ROWS[MFN]),
    "fba_returns__gzip.txt.gz": Expect(CLEAN_AUDIT[FBA], [], CLEAN_ROWS[FBA]),
    "fba_returns__gzip_truncated.txt.gz": Expect(
        error="corrupt or truncated gzip data: "
        "Compressed file ended before the end-of-stream marker was reached"
    ),
    "feedback__xlsx.xlsx": Expect(
        error="line 1: a ZIP archive (an Excel .xlsx file?), not a tab-separated report; "
        "download the report as a text (.txt) file"
    ),
    "feedback__comma_separated.csv": Expect(
        error=f"not a {FB} file: missing column(s) date, rating, order-id (the header has no "
        "tabs: Amazon reports are tab-separated, not CSV)"
    ),
    "fba_returns__duplicate_header.txt": Expect(error="line 1: column(s) sku appear twice"),
    # Dates and zones: never guessed.
    "all_orders__bad_dates.txt": Expect(
        {"orders": (3, 0, 3), "order_items": (0, 0, 0)},
        [
            ("orders", "{file}: line 2: purchase-date '2026-02-30T10:00:00+00:00' is not a date"),
            ("orders", "{file}: line 3: last-updated-date '04/11/2026 01:35' is not a date"),
            ("orders", "{file}: line 4: last-updated-date '04/11/2026 01:35' is not a date"),
        ],
        [],
    ),
    "shipping__bad_dates.txt": Expect(
        {"orders": (2, 1, 1), "order_items": (1, 1, 0)},
        [("orders", "{file}: line 3: purchase-date '2026-13-01T10:00:00+00:00' is not a date")],
        CLEAN_ROWS[SH][:1],
    ),
    "mfn_returns__bad_dates.txt": _one(
        "{file}: line 2: return-request-date '32-Nov-2026' is not a date",
        CLEAN_ROWS[MFN][1:],
        returns=(2, 1, 1),
    ),
    "fba_returns__bad_dates.txt": _one(
        "{file}: line 3: return-date 'yesterday' is not a date",
        CLEAN_ROWS[FBA][:1],
        returns=(2, 1, 1),
    ),
    "feedback__bad_dates.txt": _one(
        "{file}: line 2: date '20/11/2026' is not a date", CLEAN_ROWS[FB][1:], feedback=(3, 2, 1)
    ),
    # -08:00, PST, +09:00 and Z: the same instants as the clean file's UTC times.
    "all_orders__time_zones.txt": Expect(
        CLEAN_AUDIT[AO],
        [],
        CLEAN_ROWS[AO],
        sql=(
            "SELECT order_id, purchase_time, last_updated_time FROM core.orders ORDER BY 1",
            [
                ("113-0000001-0000001", utc(2026, 11, 2, 18, 20), utc(2026, 11, 3, 9)),
                ("113-0000001-0000002", utc(2026, 11, 4, 1, 5), utc(2026, 11, 4, 1, 35)),
            ],
        ),
    ),
    "fba_returns__unknown_time_zone.txt": _one(
        "{file}: line 2: return-date '2026-11-05 14:03:11 CST': unknown or ambiguous time "
        "zone 'CST'",
        CLEAN_ROWS[FBA][1:],
        returns=(2, 1, 1),
    ),
    "fba_returns__out_of_window.txt": _one(
        f"return_time outside the window {_WINDOW}", CLEAN_ROWS[FBA][:1], returns=(2, 1, 1)
    ),
    # Numbers.
    "all_orders__negative_numbers.txt": Expect(
        {"orders": (2, 1, 1), "order_items": (3, 2, 1)},
        # -24.00 + 1.92 tax = -22.08
        [("order_items", "quantity < 1; item_price < 0"), ("orders", "order_total < 0")],
        CLEAN_ROWS[AO][1:],
    ),
    "shipping__negative_numbers.txt": Expect(
        {"orders": (2, 1, 1), "order_items": (2, 1, 1)},
        [("order_items", "item_price < 0"), ("orders", "order_total < 0")],
        CLEAN_ROWS[SH][1:],
    ),
    "mfn_returns__negative_numbers.txt": _one(
        "quantity < 0", CLEAN_ROWS[MFN][:1], returns=(2, 1, 1)
    ),
    "fba_returns__negative_numbers.txt": _one(
        "quantity < 0", CLEAN_ROWS[FBA][1:], returns=(2, 1, 1)
    ),
    "feedback__negative_numbers.txt": _one(
        "rating not in 1..5", CLEAN_ROWS[FB][::2], feedback=(3, 2, 1)
    ),
    "all_orders__huge_numbers.txt": Expect(
        {"orders": (3, 0, 3), "order_items": (0, 0, 0)},
        [
            ("orders", "{file}: line 2: item-price '123456789012345678.00' is out of range"),
            (
                "orders",
                "{file}: line 3: another line of order 113-0000001-0000002 (line 4) "
                "was quarantined",
            ),
            ("orders", "{file}: line 4: quantity '99999999999' is out of range"),
        ],
        [],
    ),
    "feedback__huge_numbers.txt": _one(
        "{file}: line 4: rating '99999999999999999999' is out of range",
        CLEAN_ROWS[FB][:2],
        feedback=(3, 2, 1),
    ),
    "fba_returns__huge_numbers.txt": _one(
        "{file}: line 3: quantity '1000000000000' is out of range",
        CLEAN_ROWS[FBA][:1],
        returns=(2, 1, 1),
    ),
    "shipping__not_numbers.txt": Expect(
        {"orders": (2, 0, 2), "order_items": (0, 0, 0)},
        [
            ("orders", "{file}: line 2: item-price '39,00' is not an amount"),
            ("orders", "{file}: line 3: quantity-purchased 'two' is not a whole number"),
        ],
        [],
    ),
    "feedback__rating_out_of_range.txt": _one(
        "rating not in 1..5", CLEAN_ROWS[FB][1:], feedback=(3, 2, 1)
    ),
    # The same key twice with different values: the later line wins.
    "feedback__duplicate_key.txt": _one(
        "duplicate key (superseded by row 3)",
        [
            ("117-0000005-0000001", date(2026, 11, 23), 1, "Changed my mind", False),
            *CLEAN_ROWS[FB][1:],
        ],
        feedback=(4, 3, 1),
    ),
    "fba_returns__bad_order_id.txt": _one(
        r"order_id does not match ^\d{3}-\d{7}-\d{7}$", CLEAN_ROWS[FBA][1:], returns=(2, 1, 1)
    ),
    "all_orders__unknown_status.txt": Expect(
        {"orders": (2, 1, 1), "order_items": (3, 3, 0)},
        [("orders", "order_status is not a known order status")],
        CLEAN_ROWS[AO][1:],
    ),
    # Formula text is data: stored as written (nothing exports it to a spreadsheet).
    "feedback__formula_text.txt": Expect(
        {"feedback": (4, 4, 0)},
        [],
        sql=(
            "SELECT order_id, comments FROM core.feedback ORDER BY 1",
            [
                ("117-0000005-0000001", '=HYPERLINK("http://evil.example","click")'),
                ("117-0000005-0000002", "+1 555 0100 call me"),
                ("117-0000005-0000003", "@SUM(A1:A9)"),
                ("117-0000005-0000004", '-2+3, "quoted", back\\slash'),
            ],
        ),
    ),
    "all_orders__formula_text.txt": Expect(
        CLEAN_AUDIT[AO],
        [],
        [("113-0000001-0000001", "=cmd|' /C calc'!A0", 25.92), CLEAN_ROWS[AO][1]],
    ),
    # Enormous values: bounded and quarantined.
    "feedback__enormous_field.txt": _one(
        "{file}: line 3: comments has 100000 characters, more than 65536",
        CLEAN_ROWS[FB][::2],
        feedback=(3, 2, 1),
    ),
    "feedback__enormous_line.txt": _one(
        "{file}: line 3 is longer than 1048576 bytes", CLEAN_ROWS[FB][::2], feedback=(3, 2, 1)
    ),
}


def test_every_corpus_case_has_an_expected_outcome():
    assert sorted(CASES) == sorted(build.REPORT_CASES)


def test_committed_corpus_files_are_up_to_date():
    for directory, cases in ((build.REPORTS_DIR, build.REPORT_CASES), (build.MAIL_DIR, build.MAIL_CASES)):  # fmt: skip
        committed = {p.name for p in directory.iterdir()}
        assert committed == {name for name, case in cases.items() if case.committed}
        for name in committed:
            stored, built = (directory / name).read_bytes(), cases[name].build()
            if name.endswith(".gz"):  # compressed bytes may differ between zlib versions
                stored, built = (zlib.decompressobj(31).decompress(d) for d in (stored, built))
            assert stored == built, name


@pytest.fixture(autouse=True)
def _root_log_handlers():
    """cli.main's logging.basicConfig binds a handler to this test's captured stderr: drop it."""
    before = logging.root.handlers[:]
    yield
    logging.root.handlers[:] = before


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A migrated DuckDB file, copied for each case (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "warehouse.duckdb"
    wh = warehouse.connect(f"duckdb:///{path}")
    migrations.upgrade(wh)
    wh.dispose()
    return path


def _corpus_file(name: str, directory: Path) -> Path:
    case = build.REPORT_CASES[name]
    committed = build.REPORTS_DIR / name
    target = directory / name
    if case.committed:
        shutil.copy(committed, target)
    else:
        target.write_bytes(case.build())
    return target


def _import(url: str, path: Path, case: build.ReportCase, accounts: Path, share: str = "1"):
    return cli.main(
        [
            "--warehouse", url, "import-report", str(path), "--report-type", case.report_type,
            "--account", "acme-outdoor", "--marketplace", case.marketplace_id,
            "--accounts", str(accounts), "--max-quarantine-share", share,
        ]
    )  # fmt: skip


def _outcome(wh: warehouse.Warehouse) -> tuple[dict, list, list]:
    with wh.connect() as conn:
        audits = conn.execute(
            sa.text(
                "SELECT dataset, extracted, loaded, quarantined, inserted + updated + unchanged "
                "FROM ops.load_audit ORDER BY dataset"
            )
        ).fetchall()
        quarantine = conn.execute(
            sa.text(
                "SELECT dataset, reason, row_values FROM ops.quarantine "
                "ORDER BY dataset, row_number"
            )
        ).fetchall()
    for dataset, extracted, loaded, quarantined, merged in audits:
        assert extracted == loaded + quarantined, dataset
        assert loaded == merged, dataset
    audit = {a[0]: tuple(int(v) for v in a[1:4]) for a in audits}
    assert len(audit) == len(audits), "one audit line per dataset"
    return audit, [(q[0], q[1]) for q in quarantine], [q[2] for q in quarantine]


def _check_case(name: str, url: str, tmp_path: Path, capsys) -> None:
    case = build.REPORT_CASES[name]
    expect = CASES[name]
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(ACCOUNTS)
    path = _corpus_file(name, tmp_path)
    code = _import(url, path, case, accounts)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    wh = warehouse.connect(url)
    try:
        audit, quarantine, values = _outcome(wh)
        if expect.error is not None:
            assert code == 1
            assert f"sellerops import-report: error: {path}: {expect.error}\n" in captured.err
            assert (audit, quarantine) == ({}, [])
            return
        assert code == 0, captured.err
        assert audit == expect.audit
        assert sorted(quarantine) == sorted(
            (ds, reason.replace("{file}", path.name)) for ds, reason in expect.quarantine
        )
        for text in values:  # bounded, and JSON
            assert text is None or (len(text) < 10_000 and isinstance(json.loads(text), dict))
        for dataset, (extracted, loaded, quarantined) in expect.audit.items():
            line = f"{dataset}: extracted {extracted} = loaded {loaded} + quarantined {quarantined}"
            assert line in captured.out
        with wh.connect() as conn:
            if expect.rows is not None:
                rows = conn.execute(sa.text(SUMMARY_SQL[case.report_type])).fetchall()
                assert [tuple(r) for r in rows] == expect.rows
            if expect.sql is not None:
                rows = conn.execute(sa.text(expect.sql[0])).fetchall()
                assert [tuple(r) for r in rows] == expect.sql[1]
    finally:
        wh.dispose()


@pytest.mark.parametrize("name", sorted(CASES))
def test_report_case(name, template, tmp_path, capsys):
    database = tmp_path / "warehouse.duckdb"
    shutil.copy(template, database)
    _check_case(name, f"duckdb:///{database}", tmp_path, capsys)


@pytest.mark.parametrize(
    "name",
    ["feedback__formula_text.txt", "all_orders__shift_jis_jp.txt", "shipping__short_row.txt"],
)
def test_report_case_on_postgres(name, pg_warehouse, tmp_path, capsys):
    """COPY's CSV transport keeps quotes, commas, backslashes and formula text as written."""
    _check_case(name, pg_warehouse.url.render_as_string(hide_password=False), tmp_path, capsys)


def test_too_many_bad_rows_reject_the_batch_with_a_clean_message(template, tmp_path, capsys):
    """With the default 5 % threshold, 1 bad row of 3 rejects the whole batch (exit 1)."""
    database = tmp_path / "warehouse.duckdb"
    shutil.copy(template, database)
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(ACCOUNTS)
    name = "feedback__bad_dates.txt"
    path = _corpus_file(name, tmp_path)
    code = _import(f"duckdb:///{database}", path, build.REPORT_CASES[name], accounts, "0.05")
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "1 of 3 rows failed validation (33.3% > 5.0%); batch quarantined whole" in err
    wh = warehouse.connect(f"duckdb:///{database}")
    audit, quarantine, _ = _outcome(wh)
    wh.dispose()
    assert audit == {"feedback": (3, 0, 3)}
    assert len(quarantine) == 3


def test_cli_process_prints_one_line_not_a_traceback(template, tmp_path):
    """The real `sellerops` process on a damaged file: exit 1, one error line on stderr."""
    database = tmp_path / "warehouse.duckdb"
    shutil.copy(template, database)
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(ACCOUNTS)
    name = "fba_returns__gzip_truncated.txt.gz"
    path = _corpus_file(name, tmp_path)
    env = {**os.environ, "SELLEROPS_BUYER_PEPPER": "test-pepper-not-secret"}
    done = subprocess.run(
        [
            sys.executable, "-c", "import sys; from sellerops.cli import main; sys.exit(main())",
            "--warehouse", f"duckdb:///{database}", "import-report", str(path),
            "--report-type", FBA, "--account", "acme-outdoor", "--marketplace", build.US,
            "--accounts", str(accounts),
        ],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert f"sellerops import-report: error: {path}: corrupt or truncated gzip data" in done.stderr


def test_a_huge_line_is_read_in_bounded_memory(tmp_path):
    """A 24 MiB line (one field) is skipped without being held in memory."""
    path = tmp_path / "huge.txt"
    with path.open("wb") as out:
        out.write(b"Date\tRating\tComments\tResponse\tOrder ID\tRater Email\n")
        out.write(b"11/20/26\t5\t")
        for _ in range(24):
            out.write(b"x" * (1 << 20))
        out.write(b"\t\t117-0000005-0000001\t\n11/21/26\t4\tok\t\t117-0000005-0000002\t\n")
    tracemalloc.start()
    try:
        rows = [row for chunk in reports.read_rows(path, report_type=FB) for row in chunk]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * (1 << 20)
    assert [(r["__line"], r.get("__problem")) for r in rows] == [
        ("2", "line 2 is longer than 1048576 bytes"),
        ("3", None),
    ]
    assert rows[0]["rating"] == "5" and "comments" not in rows[0]


def test_latin1_is_not_read_as_shift_jis(tmp_path):
    """'é' followed by a letter is a valid Shift_JIS pair; the marketplace decides."""
    data = "Date\tRating\tComments\n11/20/26\t5\tRésumés très parfaits\n".encode("cp1252")
    path = tmp_path / "latin.txt"
    path.write_bytes(data)
    assert data.decode("cp932")  # the old guessing order would have taken this
    assert reports.detect_encoding(path, build.US) == "cp1252"
    assert reports.detect_encoding(path) == "cp1252"  # no kana: not Japanese
    assert reports.detect_encoding(path, build.JP) == "cp932"
    (row,) = [r for chunk in reports.read_rows(path, marketplace_id=build.US) for r in chunk]
    assert row["comments"] == "Résumés très parfaits"


# --------------------------------------------------------------------------- e-mail

SELLERS = {build.SELLER}
PEPPER = b"test-pepper-not-secret"
WINDOW = (utc(2026, 11, 1), utc(2026, 12, 1))


def _orphan(order: str, relay: str) -> str:
    digest = hmac.new(PEPPER, f"thread|order:{order}|{relay}".encode(), sha256).hexdigest()
    return "orphan:" + digest[:32]


# name -> (parsed (message_id, thread_key, order_id, sent_time, subject_kind, body) or None,
#          rejection reason or None); None, None: not a buyer-seller message (skipped).
_BUYER = ("bi-0001@relay.example", "bi-0001@relay.example", build.ORDER)
_SENT = utc(2026, 11, 20, 18, 15)  # Fri, 20 Nov 2026 10:15:00 -0800
_RECEIVED = utc(2026, 11, 20, 18, 15, 5)
_JAPANESE = f"注文番号 {build.ORDER} の商品が届きません。"
MAIL: dict[str, tuple[tuple | None, str | None]] = {
    "clean_utf8.eml": ((*_BUYER, _SENT, "order_inquiry", build.BODY), None),
    "latin1_declared.eml": ((*_BUYER, _SENT, "order_inquiry", build.BODY), None),
    "latin1_declared_utf8.eml": (
        None,
        "body: bytes do not decode as the labelled charset 'UTF-8'",
    ),
    "no_charset_utf8.eml": ((*_BUYER, _SENT, "order_inquiry", build.BODY), None),
    "no_charset_latin1.eml": (None, "body: 8-bit data without a charset that is not UTF-8"),
    "no_content_type_latin1.eml": (
        None,
        "body: 8-bit data without a charset that is not UTF-8",
    ),
    "unknown_charset.eml": (None, "body: unknown charset 'x-klingon'"),
    # A reply without threading headers: an orphan thread keyed by order and relay.
    "shift_jis.eml": (
        (
            "bi-sjis@relay",
            _orphan(build.ORDER, build.RELAY_JP),
            build.ORDER,
            utc(2026, 11, 21),
            "order_inquiry",
            _JAPANESE,
        ),
        None,
    ),
    "iso_2022_jp.eml": (
        ("bi-jis@relay", "bi-jis@relay", build.ORDER, utc(2026, 11, 21), "return", _JAPANESE),
        None,
    ),
    "base64_corrupt.eml": (None, "body: corrupt base64"),
    "missing_message_id.eml": (None, "missing or malformed Message-ID"),
    # No or an unreadable Date: the newest Received header's time.
    "missing_date.eml": ((*_BUYER, _RECEIVED, "order_inquiry", build.BODY), None),
    "bad_date.eml": ((*_BUYER, _RECEIVED, "order_inquiry", build.BODY), None),
    "no_dates_at_all.eml": (None, "no usable Date header and no dated Received header"),
    "missing_from.eml": (None, None),
    "missing_from_relay_reply_to.eml": (None, "missing or unparseable From header"),
    "formula_subject.eml": (
        (
            "bi-formula@relay",
            "bi-formula@relay",
            build.ORDER,
            _SENT,
            "other",
            '=HYPERLINK("http://evil.example")\n',
        ),
        None,
    ),
    "huge_header.eml": (None, "Subject header longer than 65536 characters"),
    "huge_body.eml": (
        (
            "bi-huge@relay",
            "bi-huge@relay",
            build.ORDER,
            _SENT,
            "order_inquiry",
            "Lorem ipsum " * 350_000,
        ),
        None,
    ),  # fmt: skip
    "empty.eml": (None, None),
}


def test_every_mail_case_has_an_expected_outcome():
    assert sorted(MAIL) == sorted(build.MAIL_CASES)


@pytest.mark.parametrize("name", sorted(MAIL))
def test_mail_parser_case(name):
    parsed, reason = MAIL[name]
    raw = build.MAIL_CASES[name].build()
    result = mailbox.parse_message(raw, seller_addresses=SELLERS, pepper=PEPPER, keep_body=True)
    if parsed is None and reason is None:
        assert result is None
    elif reason is not None:
        assert isinstance(result, mailbox.Rejected)
        assert result.reason == reason
    else:
        assert isinstance(result, mailbox.ParsedMessage)
        got = (
            result.message_id,
            result.thread_key,
            result.order_id,
            result.sent_time,
            result.subject_kind,
            result.body,
        )
        assert got == parsed
        assert result.body_chars == len(parsed[5])


def _maildir(root: Path, files: dict[str, bytes]) -> Path:
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (root / "new" / name).write_bytes(data)
    return root


def test_mail_corpus_loads_with_a_balanced_audit(duckdb_warehouse, tmp_path):
    """The whole mail corpus as one mailbox: parsed rows load, unreadable mail is quarantined.

    Also in the mailbox: the clean message a second time (a copy in another folder is
    the same Message-ID: loaded once) and a sparse file over the 25 MiB limit (rejected
    from its size, never read).
    """
    files = {f"{i:02d}.{name}": case.build() for i, name in enumerate(sorted(build.MAIL_CASES)) for case in [build.MAIL_CASES[name]]}  # fmt: skip
    files["99.duplicate.eml"] = build.MAIL_CASES["clean_utf8.eml"].build()
    root = _maildir(tmp_path / "Maildir", files)
    with (root / "new" / "98.too_large.eml").open("wb") as big:
        big.truncate(mailbox.MAX_MESSAGE_BYTES + 1)
    records = list(mailbox.read_maildir(root, seller_addresses=SELLERS, pepper=PEPPER))
    frame, rejected = mailbox.to_dataframe(records, "acme-outdoor")
    batch = Batch(datasets.MESSAGES, frame, "maildir", *WINDOW, rejected=rejected)
    audit = process_batch(
        duckdb_warehouse,
        batch,
        account_id="acme-outdoor",
        marketplace_id=build.US,
        max_quarantine_share=1.0,
    )
    parsed = sorted({v[0][0] for v in MAIL.values() if v[0] is not None})
    reasons = sorted(v[1] for v in MAIL.values() if v[1] is not None)
    reasons.append(f"message too large (> {mailbox.MAX_MESSAGE_BYTES} bytes)")
    # bi-0001 (6 cases + the duplicate), bi-sjis, bi-jis, bi-formula, bi-huge: 5 messages.
    assert parsed == ["bi-0001@relay.example", "bi-formula@relay", "bi-huge@relay",
                      "bi-jis@relay", "bi-sjis@relay"]  # fmt: skip
    assert (audit.extracted, audit.loaded, audit.quarantined) == (5 + 10, 5, 10)
    assert audit.extracted == audit.loaded + audit.quarantined
    with duckdb_warehouse.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT message_id, marketplace_id, body_chars FROM core.messages ORDER BY 1")
        ).fetchall()
        quarantined = conn.execute(sa.text("SELECT reason FROM ops.quarantine")).scalars().all()
        logged = conn.execute(
            sa.text("SELECT extracted, loaded, quarantined FROM ops.load_audit")
        ).fetchall()
    assert sorted(quarantined) == sorted(reasons)
    assert [tuple(r) for r in logged] == [(15, 5, 10)]
    assert [tuple(r) for r in stored] == [
        ("bi-0001@relay.example", build.US, len(build.BODY)),
        ("bi-formula@relay", build.US, len('=HYPERLINK("http://evil.example")\n')),
        ("bi-huge@relay", build.US, 4_200_000),
        ("bi-jis@relay", build.JP, len(_JAPANESE)),
        ("bi-sjis@relay", build.JP, len(_JAPANESE)),
    ]
