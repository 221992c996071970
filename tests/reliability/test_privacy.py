"""Buyer privacy: the 30-day purge, its CLI verb and DAG, and pseudonymous audience exports.

Every expectation is computed by hand from rows and files placed at known ages
around the cutoff (``now`` - 30 days): 29 days old stays, 31 days old goes, and
exactly 30 days old stays (the purge takes what is *more* than 30 days old).
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from sellerops import cli, privacy

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def touch(path: Path, when: datetime, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(text)
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


def add_quarantine(wh, rows: list[tuple[int, datetime, str | None]]) -> None:
    with wh.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO ops.quarantine (batch_id, dataset, account_id, marketplace_id, "
                "row_number, reason, row_values, quarantined_at) VALUES ('b1', 'feedback', "
                "'acme-outdoor', 'ATVPDKIKX0DER', :n, 'rating out of range', :v, :at)"
            ),
            [{"n": n, "at": at, "v": values} for n, at, values in rows],
        )


def quarantine(wh) -> dict[int, tuple[str | None, str]]:
    with wh.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT row_number, row_values, reason FROM ops.quarantine ORDER BY row_number"
        ).fetchall()
    return {int(n): (v, r) for n, v, r in rows}


def add_export_send(wh, order_id: str, path: Path, sent_at: datetime) -> None:
    with wh.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO ops.campaign_sends (campaign, account_id, marketplace_id, order_id, "
                "buyer_key, channel, action, status, detail, anchor_time, anchor_source, due_at, "
                "give_up_at, planned_at, sent_at, updated_at) VALUES ('repeat_buyers_export', "
                "'acme-outdoor', 'ATVPDKIKX0DER', :o, :k, 'audience_export', 'export', 'sent', "
                ":d, :t, 'order', :t, :t, :t, :sent, :t)"
            ),
            {
                "o": order_id,
                "k": "a" * 64,
                "d": f"exported to {path}",
                "t": sent_at - timedelta(days=1),
                "sent": sent_at,
            },
        )


def test_quarantined_values_are_redacted_31_days_after_not_29(any_warehouse, tmp_path):
    values = json.dumps({"order_id": "111-1", "comments": "call me on 555-0100, Jane Roe"})
    add_quarantine(
        any_warehouse,
        [
            (0, days_ago(29), values),
            (1, days_ago(30), values),  # exactly at the cutoff: not older than 30 days
            (2, days_ago(30) - timedelta(seconds=1), values),
            (3, days_ago(31), values),
            (4, days_ago(400), None),  # nothing left to redact
        ],
    )
    report = privacy.purge(
        any_warehouse, NOW, data_root=tmp_path, export_dirs=[], temp_root=tmp_path / "tmp"
    )
    assert report.cutoff == datetime(2026, 5, 31, 12, 0, tzinfo=UTC)
    assert report.quarantine_rows_redacted == 2
    assert quarantine(any_warehouse) == {
        0: (values, "rating out of range"),
        1: (values, "rating out of range"),
        2: (None, "rating out of range"),
        3: (None, "rating out of range"),
        4: (None, "rating out of range"),
    }
    # A second run on the same day finds nothing more.
    again = privacy.purge(
        any_warehouse, NOW, data_root=tmp_path, export_dirs=[], temp_root=tmp_path / "tmp"
    )
    assert again.quarantine_rows_redacted == 0
    # Two days later the 29-day and 30-day rows are past it too.
    later = privacy.purge(
        any_warehouse,
        NOW + timedelta(days=2),
        data_root=tmp_path,
        export_dirs=[],
        temp_root=tmp_path / "tmp",
    )
    assert later.quarantine_rows_redacted == 2
    assert {n: v for n, (v, _) in quarantine(any_warehouse).items()} == dict.fromkeys(range(5))


def test_export_files_are_deleted_30_days_after_delivery(duckdb_warehouse, tmp_path):
    exports = tmp_path / "data" / "campaigns" / "exports" / "repeat_buyers_export"
    # Written recently but delivered (sent_at) 31 days ago: the delivery counts.
    old = touch(exports / "acme-outdoor__ATVPDKIKX0DER__aaa.csv", NOW)
    # Two sends in one file: the later delivery (29 days) keeps it.
    mixed = touch(exports / "acme-outdoor__A1VC38T7YXB528__bbb.csv", days_ago(40))
    recent = touch(exports / "bluebird-home__ATVPDKIKX0DER__ccc.parquet", days_ago(40))
    add_export_send(duckdb_warehouse, "o-1", old, days_ago(31))
    add_export_send(duckdb_warehouse, "o-2", mixed, days_ago(33))
    add_export_send(duckdb_warehouse, "o-3", mixed, days_ago(29))
    add_export_send(duckdb_warehouse, "o-4", recent, days_ago(2))
    # Files no send refers to count from their modification time.
    stray_old = touch(exports / "acme-outdoor__ATVPDKIKX0DER__ddd.csv", days_ago(31))
    stray_new = touch(exports / "acme-outdoor__ATVPDKIKX0DER__eee.csv", days_ago(29))
    leftover_tmp = touch(exports / "acme-outdoor__ATVPDKIKX0DER__fff.csv.tmp", days_ago(45))
    not_an_export = touch(exports / "README.txt", days_ago(365))
    custom = touch(tmp_path / "elsewhere" / "x__y__ggg.csv", days_ago(31))

    report = privacy.purge(
        duckdb_warehouse,
        NOW,
        data_root=tmp_path / "data",
        export_dirs=[exports.parent, tmp_path / "elsewhere", tmp_path / "missing"],
        temp_root=tmp_path / "tmp",
    )
    assert sorted(report.export_files_deleted) == sorted(
        str(p) for p in (old, stray_old, leftover_tmp, custom)
    )
    assert [p.exists() for p in (old, mixed, recent, stray_old, stray_new, not_an_export)] == [
        False,
        True,
        True,
        False,
        True,
        True,
    ]
    # The outbox keeps its record of the delivery.
    with duckdb_warehouse.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM ops.campaign_sends").scalar() == 4


def test_data_docs_and_stale_ingest_folders(duckdb_warehouse, tmp_path):
    docs = tmp_path / "data" / "data_docs"
    old_page = touch(docs / "validations" / "sellerops" / "run1" / "page.html", days_ago(31))
    new_page = touch(docs / "validations" / "sellerops" / "run2" / "page.html", days_ago(29))
    old_result = touch(docs / "validation_results" / "sellerops" / "r1.json", days_ago(60))
    index = touch(docs / "index.html", days_ago(90))  # the site index, no values
    temp = tmp_path / "tmp"
    stale = touch(temp / "sellerops-ingest-k1" / "report.tsv", days_ago(2), "buyer@x.test")
    os.utime(stale.parent, (days_ago(2).timestamp(),) * 2)
    running = touch(temp / "sellerops-ingest-k2" / "report.tsv", NOW - timedelta(hours=1))
    os.utime(running.parent, ((NOW - timedelta(hours=1)).timestamp(),) * 2)
    other = touch(temp / "someone-else" / "f", days_ago(9))
    os.utime(other.parent, (days_ago(9).timestamp(),) * 2)
    stray_report = touch(temp / "GET_SELLER_FEEDBACK_DATA.k3.tsv", days_ago(3), "rater@x.test")
    fresh_report = touch(temp / "GET_SELLER_FEEDBACK_DATA.k4.tsv", NOW - timedelta(hours=2))

    report = privacy.purge(
        duckdb_warehouse, NOW, data_root=tmp_path / "data", export_dirs=[], temp_root=temp
    )
    assert report.data_docs_files_deleted == 2
    assert not old_page.exists() and not old_page.parent.exists() and not old_result.exists()
    assert new_page.exists() and index.exists()
    assert report.workdirs_deleted == [str(temp / "sellerops-ingest-k1"), str(stray_report)]
    assert not stale.parent.exists() and running.exists() and other.exists()
    assert not stray_report.exists() and fresh_report.exists()
    assert report.as_dict() == {
        "now": "2026-06-30T12:00:00+00:00",
        "cutoff": "2026-05-31T12:00:00+00:00",
        "quarantine_rows_redacted": 0,
        "export_files_deleted": 0,
        "data_docs_files_deleted": 2,
        "workdirs_deleted": 2,
    }


def test_cli_privacy_purge(duckdb_warehouse, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SELLEROPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SELLEROPS_CAMPAIGNS_FILE", str(tmp_path / "no-campaigns.yaml"))
    add_quarantine(duckdb_warehouse, [(0, days_ago(31), "{}"), (1, days_ago(29), "{}")])
    export = touch(tmp_path / "data" / "campaigns" / "exports" / "c" / "a__m__t.csv", days_ago(31))
    url = duckdb_warehouse.url.render_as_string(hide_password=False)
    duckdb_warehouse.dispose()
    code = cli.main(["--warehouse", url, "privacy", "purge", "--as-of", "2026-06-30T12:00:00"])
    out = capsys.readouterr().out
    assert code == 0
    assert "1 quarantined row(s) redacted, 1 export file(s) deleted" in out
    assert "cutoff 2026-05-31 12:00" in out
    assert not export.exists()
    assert [v for v, _ in quarantine(duckdb_warehouse).values()] == [None, "{}"]


def test_maintenance_task_returns_a_summary(duckdb_warehouse, tmp_path, monkeypatch):
    monkeypatch.setenv("SELLEROPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv(
        "SELLEROPS_WAREHOUSE_URL", duckdb_warehouse.url.render_as_string(hide_password=False)
    )
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # not the shared /tmp
    add_quarantine(duckdb_warehouse, [(0, datetime.now(UTC) - timedelta(days=31), "{}")])
    summary = privacy.run_purge_task()
    assert summary["quarantine_rows_redacted"] == 1
    assert json.loads(json.dumps(summary)) == summary  # a plain XCom


def test_retention_must_be_positive(duckdb_warehouse):
    with pytest.raises(ValueError, match="at least 1"):
        privacy.purge(duckdb_warehouse, NOW, retention_days=0)


# -- audience exports ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_audience_exports_list_only_pseudonymous_keys(tmp_path, fmt):
    from sellerops.campaigns import channels
    from sellerops.campaigns.definitions import load_campaigns
    from sellerops.paths import INCLUDE_DIR

    text = (INCLUDE_DIR / "campaigns.yaml").read_text()
    text = text.replace(
        "export:\n      format: csv\n",
        f"export:\n      format: {fmt}\n      directory: {tmp_path / 'out'}\n",
    )
    assert f"format: {fmt}" in text
    path = tmp_path / "campaigns.yaml"
    path.write_text(text)
    campaign = next(c for c in load_campaigns(path).campaigns if c.channel == "audience_export")
    keys = ["1" * 64, "2" * 64]
    rows = [
        # Whatever a caller passes along, only the key reaches the file.
        {"order_id": "111-1", "buyer_key": keys[0], "email": "jane@x.test", "name": "Jane Roe"},
        {"order_id": "111-2", "buyer_key": keys[1], "ship_postal_code": "10001"},
        {"order_id": "111-3", "buyer_key": keys[0]},
    ]
    out, listed = channels.write_export(campaign, "acme-outdoor", "ATVPDKIKX0DER", "tok", rows)
    assert listed == 2
    if fmt == "csv":
        with out.open(newline="") as handle:
            records = list(csv.DictReader(handle))
    else:
        import pyarrow.parquet as pq

        records = pq.read_table(out).to_pylist()
    assert records == [
        {
            "campaign": campaign.name,
            "account_id": "acme-outdoor",
            "marketplace_id": "ATVPDKIKX0DER",
            "buyer_key": key,
        }
        for key in keys
    ]
    assert all(HEX64.match(r["buyer_key"]) for r in records)
    raw = out.read_bytes()
    for personal in (b"jane@x.test", b"Jane Roe", b"10001", b"111-1"):
        assert personal not in raw
