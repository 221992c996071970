"""Materialise buyer tags: evaluate the rules, keep the history, count the groups.

:func:`materialise_tags` evaluates every enabled rule of a rules file for every
buyer of ``marts.buyer_profile`` (per account x marketplace, as of ``as_of``) and
brings ``marts.buyer_tags`` up to date, writing only what changed:

* a buyer who meets a rule and has no open membership of that tag at the rule's
  current version gets a new row (``valid_from = as_of``, ``valid_to`` NULL, the
  reason: which conditions held, with the buyer's values);
* an open membership whose buyer no longer meets the rule, whose rule changed
  (another ``rule_version``), or whose tag was disabled or removed from the file is
  closed (``valid_to = as_of``); nothing is ever deleted;
* an open membership that still holds at the same version is left alone (its
  reason stays the one recorded when it opened).

Manual tags (``ops.manual_buyer_tags``) are mirrored as ``source = 'manual'``
rows, and ``marts.tag_counts_daily`` gets the group sizes on as_of's UTC day
(inserted or updated only when they differ). A rerun with the same rules and data
writes no row at all. Everything runs in one transaction.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from sellerops.tags import compiler
from sellerops.tags import rules as tag_rules
from sellerops.warehouse import Warehouse

log = logging.getLogger(__name__)

TAGS_TABLE = "marts.buyer_tags"
CURRENT_VIEW = "marts.buyer_tags_current"
COUNTS_TABLE = "marts.tag_counts_daily"
MANUAL_TABLE = "ops.manual_buyer_tags"
# The relations this package owns; the model runner must never build one of them.
OWNED_RELATIONS = (TAGS_TABLE, CURRENT_VIEW, COUNTS_TABLE, MANUAL_TABLE)

RULE = "rule"
MANUAL = "manual"
MANUAL_VERSION = "manual"


class TagError(RuntimeError):
    """Tags cannot be materialised (no profile yet, as_of before the last run, ...)."""


@dataclass
class TagStats:
    opened: int = 0
    closed: int = 0
    current: int = 0


@dataclass
class TagRunReport:
    as_of: datetime
    profile_as_of: datetime | None
    opened: int = 0  # rule memberships inserted (or reopened)
    closed: int = 0  # rule memberships given a valid_to
    unchanged: int = 0  # rule memberships that still hold, left alone
    manual_opened: int = 0  # manual rows mirrored into marts.buyer_tags
    manual_closed: int = 0  # mirrored manual rows closed
    counts_written: int = 0  # marts.tag_counts_daily rows inserted or updated
    tags: dict[str, TagStats] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rows_written(self) -> int:
        return (
            self.opened
            + self.closed
            + self.manual_opened
            + self.manual_closed
            + self.counts_written
        )

    @property
    def changed(self) -> bool:
        return self.rows_written > 0

    def summary(self) -> str:
        lines = [
            f"buyer tags as of {self.as_of.isoformat()}: {self.opened} opened, "
            f"{self.closed} closed, {self.unchanged} unchanged; manual {self.manual_opened} "
            f"opened, {self.manual_closed} closed; {self.counts_written} daily counts written "
            f"({self.seconds:.1f} s)"
        ]
        for name, stats in sorted(self.tags.items()):
            lines.append(f"  {name:32} {stats.current:7} buyers  +{stats.opened} -{stats.closed}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "opened": self.opened,
            "closed": self.closed,
            "unchanged": self.unchanged,
            "manual_opened": self.manual_opened,
            "manual_closed": self.manual_closed,
            "counts_written": self.counts_written,
            "tags": {
                k: {"opened": v.opened, "closed": v.closed, "current": v.current}
                for k, v in sorted(self.tags.items())
            },
        }


# -- session helpers (shared with manual and profile) ------------------------------------------


def prepare_session(conn: sa.Connection, warehouse: Warehouse, *, snapshot: bool = False) -> None:
    """UTC session time zone; on PostgreSQL optionally one snapshot for the transaction."""
    if warehouse.is_duckdb:
        conn.exec_driver_sql("SET TimeZone = 'UTC'")
        return
    if snapshot:
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    conn.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")


def relation_exists(conn: sa.Connection, name: str) -> bool:
    schema, table = name.split(".")
    return bool(
        conn.execute(
            sa.text(
                "SELECT COUNT(*) FROM information_schema.tables "
                "WHERE table_schema = :s AND table_name = :t"
            ),
            {"s": schema, "t": table},
        ).scalar()
    )


def utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, dtime.max, tzinfo=UTC)
    raise TypeError(f"not a timestamp: {value!r}")


def _scope_sql(accounts: Sequence[str] | None, column: str = "account_id") -> tuple[str, dict]:
    if not accounts:
        return "", {}
    names = {f"acct_{i}": a for i, a in enumerate(accounts)}
    return f" AND {column} IN ({', '.join(':' + n for n in names)})", names


# -- the run ------------------------------------------------------------------------------------


def materialise_tags(
    warehouse: Warehouse,
    rules: tag_rules.RulesFile | str | Path | None = None,
    *,
    as_of: datetime | date | None = None,
    accounts: Sequence[str] | None = None,
) -> TagRunReport:
    """Evaluate ``rules`` and update ``marts.buyer_tags`` and ``marts.tag_counts_daily``.

    ``rules`` is a :class:`~sellerops.tags.rules.RulesFile` or the path of a rules
    file (default ``include/tags.yaml``). ``as_of`` (default: ``marts.buyer_profile``'s
    as_of) anchors the ``within_days`` windows and stamps ``valid_from``/``valid_to``;
    a date means the end of that UTC day. It may not be earlier than the last run's.
    ``accounts`` limits the run to those accounts (others are not touched).
    """
    if not isinstance(rules, tag_rules.RulesFile):
        rules = tag_rules.load_rules(rules)
    clock = time.monotonic()
    with warehouse.begin() as conn:
        prepare_session(conn, warehouse, snapshot=True)
        if not relation_exists(conn, "marts.buyer_profile"):
            raise TagError("marts.buyer_profile does not exist: build the models first")
        if not relation_exists(conn, TAGS_TABLE):
            raise TagError(f"{TAGS_TABLE} does not exist: run `sellerops db upgrade`")
        profile_as_of = utc(
            conn.exec_driver_sql("SELECT MAX(as_of) FROM marts.buyer_profile").scalar()
        )
        resolved = _resolve_as_of(conn, as_of, profile_as_of)
        # Compile everything before anything is read or written.
        compiled = compiler.compile_rules(rules, as_of=resolved, accounts=accounts)
        _check_as_of(conn, resolved, accounts)

        report = TagRunReport(as_of=resolved, profile_as_of=profile_as_of)
        for tag in rules.tags:
            report.tags[tag.name] = TagStats()

        desired = _evaluate(conn, compiled)
        _apply_rule_changes(conn, warehouse, desired, resolved, accounts, report)
        report.manual_opened, report.manual_closed = sync_manual(
            conn, now=resolved, accounts=accounts
        )
        report.counts_written = _write_counts(conn, rules, resolved, accounts, report)
        report.seconds = time.monotonic() - clock
    log.info("%s", report.summary())
    return report


def _resolve_as_of(
    conn: sa.Connection, as_of: datetime | date | None, profile_as_of: datetime | None
) -> datetime:
    if as_of is not None:
        return utc(as_of)  # type: ignore[return-value]
    if profile_as_of is not None:
        return profile_as_of
    if relation_exists(conn, "staging.build_params"):
        value = utc(conn.exec_driver_sql("SELECT MAX(as_of) FROM staging.build_params").scalar())
        if value is not None:
            return value
    raise TagError("no as_of: marts.buyer_profile is empty and no model build is recorded")


def _check_as_of(conn: sa.Connection, as_of: datetime, accounts: Sequence[str] | None) -> None:
    scope, params = _scope_sql(accounts)
    row = conn.execute(
        sa.text(
            f"SELECT MAX(valid_from), MAX(valid_to) FROM {TAGS_TABLE} "  # noqa: S608 - fixed names
            f"WHERE source = :rule{scope}"
        ),
        {"rule": RULE, **params},
    ).one()
    latest = max((utc(v) for v in row if v is not None), default=None)
    if latest is not None and as_of < latest:
        raise TagError(
            f"as_of {as_of.isoformat()} is before the last tag run ({latest.isoformat()}): "
            "tag history only moves forward"
        )


Key = tuple[str, str, str, str]  # account_id, marketplace_id, buyer_key, tag


def _evaluate(
    conn: sa.Connection, compiled: list[compiler.CompiledTag]
) -> dict[Key, tuple[str, str]]:
    """(account, marketplace, buyer, tag) -> (rule_version, reason) for every buyer that qualifies."""
    desired: dict[Key, tuple[str, str]] = {}
    for tag in compiled:
        rows = conn.execute(tag.query).fetchall()
        for row in rows:
            if not tag.holds(row):  # the SQL and the reason renderer disagree
                raise TagError(f"tag {tag.name!r}: internal error evaluating the rule")
            key = (row.account_id, row.marketplace_id, row.buyer_key, tag.name)
            desired[key] = (tag.version, tag.reason(row))
        log.debug("tag %s: %d buyers", tag.name, len(rows))
    return desired


def _apply_rule_changes(
    conn: sa.Connection,
    warehouse: Warehouse,
    desired: dict[Key, tuple[str, str]],
    as_of: datetime,
    accounts: Sequence[str] | None,
    report: TagRunReport,
) -> None:
    scope, params = _scope_sql(accounts)
    open_rows = conn.execute(
        sa.text(
            "SELECT account_id, marketplace_id, buyer_key, tag, rule_version "  # noqa: S608
            f"FROM {TAGS_TABLE} WHERE source = :rule AND valid_to IS NULL{scope}"
        ),
        {"rule": RULE, **params},
    ).fetchall()
    current: dict[Key, str] = {}
    for row in open_rows:
        key = (row.account_id, row.marketplace_id, row.buyer_key, row.tag)
        if key in current:
            raise TagError(f"two open memberships of {key} in {TAGS_TABLE}")
        current[key] = row.rule_version

    to_close = [
        (*key, version)
        for key, version in current.items()
        if key not in desired or desired[key][0] != version
    ]
    to_open = [
        (*key, version, reason)
        for key, (version, reason) in desired.items()
        if current.get(key) != version
    ]
    report.unchanged = len(desired) - len(to_open)

    # A membership closed at this very as_of (zero length) and wanted again at the same
    # version is reopened rather than inserted twice under the same key.
    empty = {
        (r.account_id, r.marketplace_id, r.buyer_key, r.tag, r.rule_version)
        for r in conn.execute(
            sa.text(
                "SELECT account_id, marketplace_id, buyer_key, tag, rule_version "  # noqa: S608
                f"FROM {TAGS_TABLE} WHERE source = :rule AND valid_from = :as_of "
                f"AND valid_to = :as_of{scope}"
            ),
            {"rule": RULE, "as_of": as_of, **params},
        )
    }
    reopen = [row for row in to_open if tuple(row[:5]) in empty]
    insert = [row for row in to_open if tuple(row[:5]) not in empty]

    if to_close:
        with _rows(
            conn,
            warehouse,
            [
                ("account_id", "text"),
                ("marketplace_id", "text"),
                ("buyer_key", "text"),
                ("tag", "text"),
                ("rule_version", "text"),
            ],
            to_close,
        ) as rel:
            conn.execute(
                sa.text(
                    f"UPDATE {TAGS_TABLE} SET valid_to = :as_of "  # noqa: S608 - fixed names
                    "WHERE source = :rule AND valid_to IS NULL AND "
                    "(account_id, marketplace_id, buyer_key, tag, rule_version) IN "
                    f"(SELECT account_id, marketplace_id, buyer_key, tag, rule_version FROM {rel})"
                ),
                {"as_of": as_of, "rule": RULE},
            )
    if insert:
        with _rows(
            conn,
            warehouse,
            [
                ("account_id", "text"),
                ("marketplace_id", "text"),
                ("buyer_key", "text"),
                ("tag", "text"),
                ("rule_version", "text"),
                ("reason", "text"),
            ],
            insert,
        ) as rel:
            conn.execute(
                sa.text(
                    f"INSERT INTO {TAGS_TABLE} (account_id, marketplace_id, buyer_key, tag, "  # noqa: S608
                    "source, rule_version, valid_from, valid_to, reason) "
                    "SELECT account_id, marketplace_id, buyer_key, tag, :rule, rule_version, "
                    f":as_of, NULL, reason FROM {rel}"
                ),
                {"as_of": as_of, "rule": RULE},
            )
    if reopen:
        conn.execute(
            sa.text(
                f"UPDATE {TAGS_TABLE} SET valid_to = NULL, reason = :reason "  # noqa: S608
                "WHERE account_id = :a AND marketplace_id = :m AND buyer_key = :b AND tag = :t "
                "AND source = :rule AND rule_version = :v AND valid_from = :as_of"
            ),
            [
                {
                    "a": a,
                    "m": m,
                    "b": b,
                    "t": t,
                    "v": v,
                    "reason": reason,
                    "rule": RULE,
                    "as_of": as_of,
                }
                for a, m, b, t, v, reason in reopen
            ],
        )

    report.opened = len(to_open)
    report.closed = len(to_close)
    for *_, tag, _version, _reason in to_open:
        report.tags.setdefault(tag, TagStats()).opened += 1
    for *_, tag, _version in to_close:
        report.tags.setdefault(tag, TagStats()).closed += 1
    for *_, tag in desired:
        report.tags.setdefault(tag, TagStats()).current += 1


_ARROW_TYPES = {"text": "string", "timestamp": "timestamp", "date": "date32", "int": "int64"}
_SQL_TYPES = {"text": "TEXT", "timestamp": "TIMESTAMPTZ", "date": "DATE", "int": "BIGINT"}


@contextlib.contextmanager
def _rows(
    conn: sa.Connection,
    warehouse: Warehouse,
    columns: list[tuple[str, str]],
    rows: Sequence[Sequence[Any]],
) -> Iterator[str]:
    """Rows as a relation the next statements can read (Arrow on DuckDB, a temp table on PG)."""
    name = f"tag_rows_{uuid.uuid4().hex[:10]}"
    names = [c for c, _ in columns]
    if warehouse.is_duckdb:
        import pyarrow as pa

        def arrow_type(kind: str) -> Any:
            if kind == "timestamp":
                return pa.timestamp("us", tz="UTC")
            return getattr(pa, _ARROW_TYPES[kind])()

        schema = pa.schema([(c, arrow_type(k)) for c, k in columns])
        table = pa.Table.from_pylist(
            [dict(zip(names, row, strict=True)) for row in rows], schema=schema
        )
        raw = conn.connection.driver_connection
        raw.register(name, table)
        try:
            yield name
        finally:
            raw.unregister(name)
        return
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE {name} ("
        + ", ".join(f"{c} {_SQL_TYPES[k]}" for c, k in columns)
        + ") ON COMMIT DROP"
    )
    conn.execute(
        sa.text(
            f"INSERT INTO {name} ({', '.join(names)}) VALUES "  # noqa: S608 - generated name
            f"({', '.join(':' + c for c in names)})"
        ),
        [dict(zip(names, row, strict=True)) for row in rows],
    )
    try:
        yield name
    finally:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")


# -- manual tags --------------------------------------------------------------------------------


def sync_manual(
    conn: sa.Connection, *, now: datetime, accounts: Sequence[str] | None = None
) -> tuple[int, int]:
    """Mirror ``ops.manual_buyer_tags`` into ``marts.buyer_tags`` (source 'manual').

    Returns (rows inserted, rows closed). An ops row becomes a membership valid from
    ``added_at`` to ``removed_at``; a membership whose ops row disappeared is closed
    at ``now``. Writes nothing when both agree.
    """
    scope, params = _scope_sql(accounts)
    manual = {
        (r.account_id, r.marketplace_id, r.buyer_key, r.tag, utc(r.added_at)): r
        for r in conn.execute(
            sa.text(
                "SELECT account_id, marketplace_id, buyer_key, tag, note, added_by, "  # noqa: S608
                f"added_at, removed_at FROM {MANUAL_TABLE} WHERE TRUE{scope}"
            ),
            params,
        )
    }
    mirrored = {
        (r.account_id, r.marketplace_id, r.buyer_key, r.tag, utc(r.valid_from)): utc(r.valid_to)
        for r in conn.execute(
            sa.text(
                "SELECT account_id, marketplace_id, buyer_key, tag, valid_from, valid_to "  # noqa: S608
                f"FROM {TAGS_TABLE} WHERE source = :manual{scope}"
            ),
            {"manual": MANUAL, **params},
        )
    }
    inserts = []
    closes = []
    for key, row in manual.items():
        removed_at = utc(row.removed_at)
        if key not in mirrored:
            inserts.append(
                {
                    "a": key[0],
                    "m": key[1],
                    "b": key[2],
                    "t": key[3],
                    "valid_from": key[4],
                    "valid_to": removed_at,
                    "reason": manual_reason(row.note, row.added_by),
                }
            )
        elif mirrored[key] is None and removed_at is not None:
            closes.append((key, removed_at))
    for key, valid_to in mirrored.items():
        if valid_to is None and key not in manual:
            closes.append((key, max(now, key[4])))
    if inserts:
        conn.execute(
            sa.text(
                f"INSERT INTO {TAGS_TABLE} (account_id, marketplace_id, buyer_key, tag, source, "  # noqa: S608
                "rule_version, valid_from, valid_to, reason) VALUES (:a, :m, :b, :t, :manual, "
                ":version, :valid_from, :valid_to, :reason)"
            ),
            [{**row, "manual": MANUAL, "version": MANUAL_VERSION} for row in inserts],
        )
    if closes:
        conn.execute(
            sa.text(
                f"UPDATE {TAGS_TABLE} SET valid_to = :valid_to WHERE account_id = :a "  # noqa: S608
                "AND marketplace_id = :m AND buyer_key = :b AND tag = :t AND source = :manual "
                "AND valid_from = :valid_from AND valid_to IS NULL"
            ),
            [
                {
                    "a": key[0],
                    "m": key[1],
                    "b": key[2],
                    "t": key[3],
                    "valid_from": key[4],
                    "valid_to": valid_to,
                    "manual": MANUAL,
                }
                for key, valid_to in closes
            ],
        )
    return len(inserts), len(closes)


def manual_reason(note: str | None, added_by: str | None) -> str:
    text = "tagged by hand"
    if added_by:
        text += f" by {added_by}"
    if note:
        text += f": {note}"
    return text


# -- daily group sizes --------------------------------------------------------------------------


def _write_counts(
    conn: sa.Connection,
    rules: tag_rules.RulesFile,
    as_of: datetime,
    accounts: Sequence[str] | None,
    report: TagRunReport,
) -> int:
    """Buyers per (account, marketplace, tag, source) on as_of's UTC day; only changes written."""
    day = as_of.astimezone(UTC).date()
    scope, params = _scope_sql(accounts)
    pairs = {
        (r[0], r[1])
        for r in conn.execute(
            sa.text(
                "SELECT DISTINCT account_id, marketplace_id FROM marts.buyer_profile "  # noqa: S608
                f"WHERE TRUE{scope} UNION SELECT DISTINCT account_id, marketplace_id "
                f"FROM {TAGS_TABLE} WHERE TRUE{scope}"
            ),
            params,
        )
    }
    wanted: dict[tuple[str, str, str, str], int] = {}
    for account_id, marketplace_id in pairs:
        for tag in rules.enabled_tags:
            wanted[(account_id, marketplace_id, tag.name, RULE)] = 0
    day_start = datetime.combine(day, dtime.min, tzinfo=UTC)
    # Groups with members now, and groups that lost their last member today (a final 0).
    for r in conn.execute(
        sa.text(
            "SELECT account_id, marketplace_id, tag, source, "  # noqa: S608
            "SUM(CASE WHEN valid_to IS NULL THEN 1 ELSE 0 END) AS buyers "
            f"FROM {TAGS_TABLE} WHERE (valid_to IS NULL OR valid_to >= :day_start){scope} "
            "GROUP BY account_id, marketplace_id, tag, source"
        ),
        {"day_start": day_start, **params},
    ):
        wanted[(r.account_id, r.marketplace_id, r.tag, r.source)] = int(r.buyers)
    existing = {
        (r.account_id, r.marketplace_id, r.tag, r.source): int(r.buyers)
        for r in conn.execute(
            sa.text(
                "SELECT account_id, marketplace_id, tag, source, buyers "  # noqa: S608
                f"FROM {COUNTS_TABLE} WHERE day = :day{scope}"
            ),
            {"day": day, **params},
        )
    }
    inserts = [
        {"a": k[0], "m": k[1], "t": k[2], "s": k[3], "n": n, "day": day}
        for k, n in wanted.items()
        if k not in existing
    ]
    updates = [
        {"a": k[0], "m": k[1], "t": k[2], "s": k[3], "n": n, "day": day}
        for k, n in wanted.items()
        if k in existing and existing[k] != n
    ]
    if inserts:
        conn.execute(
            sa.text(
                f"INSERT INTO {COUNTS_TABLE} (account_id, marketplace_id, day, tag, source, "  # noqa: S608
                "buyers) VALUES (:a, :m, :day, :t, :s, :n)"
            ),
            inserts,
        )
    if updates:
        conn.execute(
            sa.text(
                f"UPDATE {COUNTS_TABLE} SET buyers = :n WHERE account_id = :a "  # noqa: S608
                "AND marketplace_id = :m AND day = :day AND tag = :t AND source = :s"
            ),
            updates,
        )
    return len(inserts) + len(updates)


# -- Airflow --------------------------------------------------------------------------------------


def run_tags_task(
    warehouse_url: str | None = None, rules_path: str | Path | None = None
) -> dict[str, Any]:
    """The ``sellerops_models`` task body: materialise the default rules file; a summary dict."""
    from sellerops.warehouse import connect

    warehouse = connect(warehouse_url)
    try:
        report = materialise_tags(warehouse, tag_rules.load_rules(rules_path))
    finally:
        warehouse.dispose()
    return report.as_dict()
