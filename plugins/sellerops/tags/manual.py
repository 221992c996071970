"""Manual buyer tags: what the operations team tags by hand, e.g. while answering a message.

``ops.manual_buyer_tags`` keeps every manual tag with who added it, when and why;
a removal stamps ``removed_at`` (rows are never deleted). Each change is mirrored
at once into ``marts.buyer_tags`` as a ``source = 'manual'`` membership, beside
the rule tags, so ``marts.buyer_tags_current`` and ``sellerops buyer show`` see it
immediately.

Buyer keys are per account; tags are kept per account x marketplace like the
profiles. Without a marketplace a buyer is tagged in every marketplace of the
account where the warehouse has seen the buyer (an order, a message or a profile).

CLI: ``sellerops tags add|remove --account A --buyer-key K --tag T [--note ...]``
and ``sellerops tags import FILE.csv`` (columns ``account_id, buyer_key, tag`` and
optionally ``marketplace_id, note, action`` (add or remove), ``added_by``).
"""

from __future__ import annotations

import csv
import getpass
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sellerops.tags import rules as tag_rules
from sellerops.tags.materialise import (
    MANUAL_TABLE,
    TAGS_TABLE,
    prepare_session,
    relation_exists,
    sync_manual,
    utc,
)
from sellerops.warehouse import Warehouse

_ACCOUNT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
CSV_REQUIRED = ("account_id", "buyer_key", "tag")
CSV_OPTIONAL = ("marketplace_id", "note", "action", "added_by")


class ManualTagError(ValueError):
    """A manual tag request is invalid, or names a buyer the warehouse does not know."""


def _clean(value: str, what: str, limit: int) -> str:
    if len(value) > limit:
        raise ValueError(f"{what} is longer than {limit} characters")
    if "\x00" in value:
        raise ValueError(f"{what} must not contain NUL characters")
    return value


class ManualTagRequest(BaseModel):
    """One manual tag to add or remove (a CLI call or a CSV line)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    account_id: str
    buyer_key: str = Field(min_length=1, max_length=200)
    tag: str
    marketplace_id: str | None = None
    note: str | None = None
    action: Literal["add", "remove"] = "add"
    by: str | None = None

    @field_validator("account_id")
    @classmethod
    def _account(cls, value: str) -> str:
        if not _ACCOUNT_ID.fullmatch(value):
            raise ValueError(f"account id {value!r} is not valid")
        return value

    @field_validator("buyer_key")
    @classmethod
    def _buyer_key(cls, value: str) -> str:
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ValueError("buyer key must not contain control characters")
        return value

    @field_validator("tag")
    @classmethod
    def _tag(cls, value: str) -> str:
        if not tag_rules.TAG_NAME.fullmatch(value):
            raise ValueError(f"tag {value!r} is not valid: {tag_rules.TAG_NAME_HELP}")
        return value

    @field_validator("marketplace_id")
    @classmethod
    def _marketplace(cls, value: str | None) -> str | None:
        from sellerops.accounts import MARKETPLACES

        if value in (None, ""):
            return None
        if value not in MARKETPLACES:
            raise ValueError(f"unknown marketplace id {value!r}")
        return value

    @field_validator("note")
    @classmethod
    def _note(cls, value: str | None) -> str | None:
        return _clean(value, "note", 2000) or None if value is not None else None

    @field_validator("by")
    @classmethod
    def _by(cls, value: str | None) -> str | None:
        return _clean(value, "added_by", 200) or None if value is not None else None


@dataclass
class ManualChange:
    account_id: str
    marketplace_id: str
    buyer_key: str
    tag: str
    action: str  # added | removed | already_tagged | not_tagged
    since: datetime | None = None

    def describe(self) -> str:
        who = f"{self.buyer_key} ({self.account_id}/{self.marketplace_id})"
        if self.action == "added":
            return f"tagged {who} with {self.tag}"
        if self.action == "removed":
            return f"removed {self.tag} from {who}"
        if self.action == "already_tagged":
            since = f" since {self.since:%Y-%m-%d %H:%M} UTC" if self.since else ""
            return f"{who} already carries {self.tag}{since}; nothing to do"
        return f"{who} does not carry the manual tag {self.tag}; nothing to do"


@dataclass
class ManualImportReport:
    path: str
    added: int = 0
    removed: int = 0
    unchanged: int = 0
    changes: list[ManualChange] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.path}: {self.added} tags added, {self.removed} removed, "
            f"{self.unchanged} unchanged"
        )


def _now(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _user(by: str | None) -> str | None:
    if by:
        return by
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name available
        return None


def _request(**kwargs) -> ManualTagRequest:
    try:
        return ManualTagRequest(**kwargs)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'request'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise ManualTagError(problems) from None


def buyer_marketplaces(conn: sa.Connection, account_id: str, buyer_key: str) -> list[str]:
    """Marketplaces of the account where the buyer has an order, a message or a profile."""
    parts = [
        "SELECT marketplace_id FROM core.orders WHERE account_id = :a AND buyer_key = :b",
        "SELECT marketplace_id FROM core.messages WHERE account_id = :a AND buyer_key = :b",
    ]
    if relation_exists(conn, "marts.buyer_profile"):
        parts.append(
            "SELECT marketplace_id FROM marts.buyer_profile WHERE account_id = :a "
            "AND buyer_key = :b"
        )
    rows = conn.execute(
        sa.text(" UNION ".join(parts) + " ORDER BY 1"), {"a": account_id, "b": buyer_key}
    ).fetchall()
    return [r[0] for r in rows]


def _apply(
    conn: sa.Connection, request: ManualTagRequest, at: datetime, origin: str
) -> list[ManualChange]:
    if request.marketplace_id:
        marketplaces = [request.marketplace_id]
    else:
        marketplaces = buyer_marketplaces(conn, request.account_id, request.buyer_key)
        if not marketplaces:
            raise ManualTagError(
                f"buyer {request.buyer_key!r} is not known in account {request.account_id!r} "
                "(no order, message or profile); give the marketplace (--marketplace) to tag them "
                "anyway"
            )
    changes = []
    for marketplace_id in marketplaces:
        key = {
            "a": request.account_id,
            "m": marketplace_id,
            "b": request.buyer_key,
            "t": request.tag,
        }
        open_rows = conn.execute(
            sa.text(
                f"SELECT added_at FROM {MANUAL_TABLE} WHERE account_id = :a "  # noqa: S608
                "AND marketplace_id = :m AND buyer_key = :b AND tag = :t "
                "AND removed_at IS NULL ORDER BY added_at"
            ),
            key,
        ).fetchall()
        change = ManualChange(
            request.account_id, marketplace_id, request.buyer_key, request.tag, ""
        )
        if request.action == "add":
            if open_rows:
                change.action, change.since = "already_tagged", utc(open_rows[0].added_at)
            else:
                conn.execute(
                    sa.text(
                        f"INSERT INTO {MANUAL_TABLE} (account_id, marketplace_id, buyer_key, "  # noqa: S608
                        "tag, note, added_by, added_at, origin) VALUES (:a, :m, :b, :t, :note, "
                        ":by, :at, :origin)"
                    ),
                    {**key, "note": request.note, "by": request.by, "at": at, "origin": origin},
                )
                change.action, change.since = "added", at
        elif open_rows:
            for row in open_rows:
                added_at = utc(row.added_at)
                conn.execute(
                    sa.text(
                        f"UPDATE {MANUAL_TABLE} SET removed_at = :at, removed_by = :by, "  # noqa: S608
                        "removal_note = :note WHERE account_id = :a AND marketplace_id = :m "
                        "AND buyer_key = :b AND tag = :t AND added_at = :added_at "
                        "AND removed_at IS NULL"
                    ),
                    {
                        **key,
                        "at": max(at, added_at),
                        "by": request.by,
                        "note": request.note,
                        "added_at": added_at,
                    },
                )
            change.action, change.since = "removed", utc(open_rows[0].added_at)
        else:
            change.action = "not_tagged"
        changes.append(change)
    return changes


def _check_tables(conn: sa.Connection) -> None:
    for name in (MANUAL_TABLE, TAGS_TABLE):
        if not relation_exists(conn, name):
            raise ManualTagError(f"{name} does not exist: run `sellerops db upgrade`")


def add_manual_tag(
    warehouse: Warehouse,
    account_id: str,
    buyer_key: str,
    tag: str,
    *,
    note: str | None = None,
    marketplace_id: str | None = None,
    added_by: str | None = None,
    at: datetime | None = None,
) -> list[ManualChange]:
    """Tag a buyer by hand (``sellerops tags add``); a no-op where the tag is already there."""
    request = _request(
        account_id=account_id,
        buyer_key=buyer_key,
        tag=tag,
        marketplace_id=marketplace_id,
        note=note,
        action="add",
        by=_user(added_by),
    )
    at = _now(at)
    with warehouse.begin() as conn:
        prepare_session(conn, warehouse)
        _check_tables(conn)
        changes = _apply(conn, request, at, "cli")
        sync_manual(conn, now=at, accounts=[request.account_id])
    return changes


def remove_manual_tag(
    warehouse: Warehouse,
    account_id: str,
    buyer_key: str,
    tag: str,
    *,
    note: str | None = None,
    marketplace_id: str | None = None,
    removed_by: str | None = None,
    at: datetime | None = None,
) -> list[ManualChange]:
    """Remove a manual tag (``sellerops tags remove``); an error if the buyer does not carry it."""
    request = _request(
        account_id=account_id,
        buyer_key=buyer_key,
        tag=tag,
        marketplace_id=marketplace_id,
        note=note,
        action="remove",
        by=_user(removed_by),
    )
    at = _now(at)
    with warehouse.begin() as conn:
        prepare_session(conn, warehouse)
        _check_tables(conn)
        changes = _apply(conn, request, at, "cli")
        if not any(c.action == "removed" for c in changes):
            raise ManualTagError(
                f"buyer {buyer_key!r} in account {account_id!r} does not carry the manual tag "
                f"{tag!r} (rule tags change with the rules, not by hand)"
            )
        sync_manual(conn, now=at, accounts=[request.account_id])
    return changes


def read_manual_csv(path: str | Path, *, added_by: str | None = None) -> list[ManualTagRequest]:
    """Validate every line of a manual-tags CSV; one error lists every bad line."""
    path = Path(path)
    if not path.exists():
        raise ManualTagError(f"{path} not found")
    errors: list[str] = []
    requests: list[ManualTagRequest] = []
    seen: dict[tuple, int] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(row for row in handle if not row.lstrip().startswith("#"))
        header = [(h or "").strip() for h in reader.fieldnames or ()]
        missing = [c for c in CSV_REQUIRED if c not in header]
        unknown = [c for c in header if c not in CSV_REQUIRED + CSV_OPTIONAL]
        if missing or unknown:
            raise ManualTagError(
                f"{path}: header needs {', '.join(CSV_REQUIRED)} (optional: "
                f"{', '.join(CSV_OPTIONAL)}); missing {missing}, unknown {unknown}"
            )
        for line, raw in enumerate(reader, start=2):
            values = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k}
            if None in raw:
                errors.append(f"line {line}: more fields than the header")
                continue
            try:
                request = ManualTagRequest(
                    account_id=values.get("account_id", ""),
                    buyer_key=values.get("buyer_key", ""),
                    tag=values.get("tag", ""),
                    marketplace_id=values.get("marketplace_id") or None,
                    note=values.get("note") or None,
                    action=(values.get("action") or "add").lower(),
                    by=values.get("added_by") or added_by,
                )
            except ValidationError as exc:
                for e in exc.errors():
                    where = ".".join(str(p) for p in e["loc"])
                    errors.append(f"line {line}: {where}: {e['msg'].removeprefix('Value error, ')}")
                continue
            key = (request.account_id, request.marketplace_id, request.buyer_key, request.tag)
            if key in seen:
                errors.append(
                    f"line {line}: repeats line {seen[key]} (one action per tag and buyer)"
                )
                continue
            seen[key] = line
            requests.append(request)
    if errors:
        raise ManualTagError(f"{path}: {len(errors)} bad line(s):\n  " + "\n  ".join(errors))
    return requests


def import_manual_tags_csv(
    warehouse: Warehouse,
    path: str | Path,
    *,
    added_by: str | None = None,
    at: datetime | None = None,
) -> ManualImportReport:
    """Apply a CSV of manual tags (``sellerops tags import``) in one transaction.

    Every line is validated first, and every buyer resolved, before anything is
    written; importing the same file again changes nothing.
    """
    requests = read_manual_csv(path, added_by=_user(added_by))
    at = _now(at)
    report = ManualImportReport(str(path))
    with warehouse.begin() as conn:
        prepare_session(conn, warehouse)
        _check_tables(conn)
        unknown = [
            f"{r.account_id}/{r.buyer_key}"
            for r in requests
            if not r.marketplace_id and not buyer_marketplaces(conn, r.account_id, r.buyer_key)
        ]
        if unknown:
            raise ManualTagError(
                f"{path}: unknown buyers (give marketplace_id to tag them anyway): "
                + ", ".join(unknown[:20])
                + (" ..." if len(unknown) > 20 else "")
            )
        for request in requests:
            for change in _apply(conn, request, at, "csv"):
                report.changes.append(change)
                if change.action == "added":
                    report.added += 1
                elif change.action == "removed":
                    report.removed += 1
                else:
                    report.unchanged += 1
        accounts = sorted({r.account_id for r in requests})
        if accounts:
            sync_manual(conn, now=at, accounts=accounts)
    return report
