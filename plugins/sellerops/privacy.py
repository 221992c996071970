"""Retention of buyer-derived data outside the pseudonymous tables: the daily purge.

The warehouse keys buyers by pseudonymous ``buyer_key`` only; e-mails and names
are hashed at extraction and never stored (``docs/data_map.md`` lists every table
and file). A few places still hold copies of source values for a while, and
:func:`purge` ends that ``RETENTION_DAYS`` (30) days after they were delivered:

``ops.quarantine.row_values``
    the values of rows that failed validation, kept so an operator can see why.
    Redacted (set to NULL) 30 days after ``quarantined_at``; the row itself (batch,
    row number, reason) stays, so load audits still add up.
audience export files
    the CSV/Parquet files of pseudonymous keys handed to a marketing channel
    (``ops.campaign_sends.detail`` = ``exported to <path>``). Deleted 30 days after
    delivery (``sent_at`` of the last send in the file); a file no send refers to
    counts from its modification time.
Great Expectations Data Docs validation pages
    they show samples of unexpected values (postal codes, feedback comments).
    Deleted 30 days after they were written.
left-over ingest work folders
    ``sellerops-ingest-*`` in the temporary directory hold downloaded Amazon report
    files, which carry buyer e-mails and names. A run deletes its own folder when it
    ends; one older than ``STALE_WORKDIR_HOURS`` belongs to a run that was killed and
    is deleted whole, as is a stray downloaded report file (``GET_*.tsv``) that old.

``sellerops privacy purge`` and the ``sellerops_maintenance`` DAG (daily) call it.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

log = logging.getLogger(__name__)

RETENTION_DAYS = 30
STALE_WORKDIR_HOURS = 24
WORKDIR_PREFIX = "sellerops-ingest-"
REPORT_FILE_PATTERNS = ("GET_*.tsv", "GET_*.download")  # sources.reports' download names
EXPORT_SUFFIXES = (".csv", ".parquet")
_EXPORTED = "exported to "


@dataclass
class PurgeReport:
    now: datetime
    cutoff: datetime
    quarantine_rows_redacted: int = 0
    export_files_deleted: list[str] = field(default_factory=list)
    data_docs_files_deleted: int = 0
    workdirs_deleted: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "cutoff": self.cutoff.isoformat(),
            "quarantine_rows_redacted": self.quarantine_rows_redacted,
            "export_files_deleted": len(self.export_files_deleted),
            "data_docs_files_deleted": self.data_docs_files_deleted,
            "workdirs_deleted": len(self.workdirs_deleted),
        }

    def summary(self) -> str:
        return (
            f"privacy purge as of {self.now:%Y-%m-%d %H:%M} UTC (retention {RETENTION_DAYS} days, "
            f"cutoff {self.cutoff:%Y-%m-%d %H:%M}): {self.quarantine_rows_redacted} quarantined "
            f"row(s) redacted, {len(self.export_files_deleted)} export file(s) deleted, "
            f"{self.data_docs_files_deleted} Data Docs file(s) deleted, "
            f"{len(self.workdirs_deleted)} stale ingest folder(s) deleted"
        )


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def purge(
    warehouse,
    now: datetime | None = None,
    *,
    retention_days: int = RETENTION_DAYS,
    data_root: Path | None = None,
    export_dirs: Iterable[Path] | None = None,
    temp_root: Path | None = None,
) -> PurgeReport:
    """Redact or delete everything past its retention as of ``now`` (default: now).

    ``data_root`` defaults to the data directory; ``export_dirs`` to its
    ``campaigns/exports`` plus the directories the campaigns file names;
    ``temp_root`` to the system's temporary directory.
    """
    if retention_days < 1:
        raise ValueError("retention_days must be at least 1")
    now = _utc(now or datetime.now(UTC))
    cutoff = now - timedelta(days=retention_days)
    report = PurgeReport(now=now, cutoff=cutoff)
    if data_root is None:
        from sellerops.paths import data_dir

        data_root = data_dir()
    data_root = Path(data_root)

    report.quarantine_rows_redacted = _redact_quarantine(warehouse, cutoff)
    dirs = list(export_dirs) if export_dirs is not None else _export_dirs(data_root)
    report.export_files_deleted = _purge_exports(warehouse, dirs, cutoff)
    report.data_docs_files_deleted = _purge_data_docs(data_root / "data_docs", cutoff)
    report.workdirs_deleted = _purge_workdirs(
        Path(temp_root or tempfile.gettempdir()), now - timedelta(hours=STALE_WORKDIR_HOURS)
    )
    log.info("%s", report.summary())
    return report


def _redact_quarantine(warehouse, cutoff: datetime) -> int:
    where = "WHERE row_values IS NOT NULL AND quarantined_at < :cutoff"
    with warehouse.begin() as conn:
        # DuckDB reports no rowcount for UPDATE: count in the same transaction.
        count = conn.execute(
            sa.text(f"SELECT count(*) FROM ops.quarantine {where}"),  # noqa: S608 - fixed text
            {"cutoff": cutoff},
        ).scalar()
        if count:
            conn.execute(
                sa.text(f"UPDATE ops.quarantine SET row_values = NULL {where}"),  # noqa: S608
                {"cutoff": cutoff},
            )
        return int(count or 0)


def _export_dirs(data_root: Path) -> list[Path]:
    dirs = [data_root / "campaigns" / "exports"]
    try:
        from sellerops.campaigns import definitions

        for campaign in definitions.load_campaigns().campaigns:
            if campaign.channel == definitions.EXPORT and campaign.export_settings.directory:
                dirs.append(Path(campaign.export_settings.directory))
    except Exception as exc:  # noqa: BLE001 - no campaigns file: only the default folder
        log.info("campaign export folders not read (%s); purging the default folder", exc)
    return dirs


def _export_deliveries(warehouse) -> dict[str, datetime]:
    """Export file path -> when its last send was delivered (``sent_at``)."""
    with warehouse.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT detail, MAX(sent_at) FROM ops.campaign_sends "
                "WHERE channel = 'audience_export' AND sent_at IS NOT NULL "
                "AND detail LIKE 'exported to %' GROUP BY detail"
            )
        ).fetchall()
    return {
        str(Path(detail[len(_EXPORTED) :]).resolve()): _utc(sent_at) for detail, sent_at in rows
    }


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _purge_exports(warehouse, dirs: list[Path], cutoff: datetime) -> list[str]:
    deliveries = _export_deliveries(warehouse)
    deleted = []
    seen: set[Path] = set()
    for directory in dirs:
        if not directory.is_dir():
            continue
        for path in sorted(directory.rglob("*")):
            if not path.is_file() or path in seen:
                continue
            seen.add(path)
            if not path.name.endswith(EXPORT_SUFFIXES + tuple(s + ".tmp" for s in EXPORT_SUFFIXES)):
                continue
            delivered = deliveries.get(str(path.resolve())) or _mtime(path)
            if delivered < cutoff:
                path.unlink(missing_ok=True)
                deleted.append(str(path))
    return deleted


def _purge_data_docs(root: Path, cutoff: datetime) -> int:
    count = 0
    for sub in ("validations", "validation_results"):
        folder = root / sub
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file() and _mtime(path) < cutoff:
                path.unlink(missing_ok=True)
                count += 1
        for path in sorted(folder.rglob("*"), reverse=True):  # now-empty run folders
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    return count


def _purge_workdirs(temp_root: Path, stale_before: datetime) -> list[str]:
    deleted = []
    if not temp_root.is_dir():
        return deleted
    for path in sorted(temp_root.glob(WORKDIR_PREFIX + "*")):
        if path.is_dir() and not path.is_symlink() and _mtime(path) < stale_before:
            shutil.rmtree(path, ignore_errors=True)
            deleted.append(str(path))
    # A report downloaded without a work folder lands in the temporary directory itself.
    for pattern in REPORT_FILE_PATTERNS:
        for path in sorted(temp_root.glob(pattern)):
            if path.is_file() and not path.is_symlink() and _mtime(path) < stale_before:
                path.unlink(missing_ok=True)
                deleted.append(str(path))
    return deleted


def run_purge_task() -> dict[str, Any]:
    """The ``sellerops_maintenance`` task body: purge as of now; a summary dict (its XCom)."""
    from sellerops.warehouse import connect

    warehouse = connect()
    try:
        return purge(warehouse).as_dict()
    finally:
        warehouse.dispose()
