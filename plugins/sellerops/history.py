"""The pipeline's run history, read from the ``ops`` tables (``sellerops history``).

Every step writes its own log table: loads (``ops.load_audit``), validations
(``ops.validation_runs``), model builds (``ops.model_runs``) and campaign runs
(``ops.campaign_runs``). :func:`run_history` reads the recent rows of each, newest
first, and :func:`format_history` prints them as fixed-width tables an operator can
read in a terminal or a task log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from sellerops.warehouse import Warehouse


@dataclass(frozen=True)
class Section:
    title: str
    table: str
    time_column: str
    columns: tuple[str, ...]


SECTIONS = (
    Section(
        "Loads",
        "ops.load_audit",
        "started_at",
        ("started_at", "account_id", "marketplace_id", "dataset", "source", "status")
        + ("extracted", "loaded", "quarantined", "inserted", "updated"),
    ),
    Section(
        "Validations",
        "ops.validation_runs",
        "run_time",
        ("run_time", "dataset", "suite_name", "success", "evaluated_rows", "quarantined_rows")
        + ("failed_expectations",),
    ),
    Section(
        "Model builds",
        "ops.model_runs",
        "started_at",
        ("started_at", "finished_at", "status", "mode", "reason"),
    ),
    Section(
        "Campaign runs",
        "ops.campaign_runs",
        "started_at",
        ("started_at", "finished_at", "step", "status", "live_campaigns", "error"),
    ),
)


def run_history(
    warehouse: Warehouse, *, since: datetime | None = None, limit: int = 50
) -> dict[str, list[dict[str, Any]]]:
    """The rows of each history table started at or after ``since`` (default: 7 days ago).

    At most ``limit`` rows per table, newest first.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    since = since or datetime.now(UTC) - timedelta(days=7)
    out: dict[str, list[dict[str, Any]]] = {}
    with warehouse.connect() as conn:
        for section in SECTIONS:
            statement = sa.text(
                f"SELECT {', '.join(section.columns)} FROM {section.table} "  # noqa: S608 - fixed names
                f"WHERE {section.time_column} >= :since "
                f"ORDER BY {section.time_column} DESC LIMIT :limit"
            )
            rows = conn.execute(statement, {"since": since, "limit": limit}).mappings()
            out[section.title] = [dict(row) for row in rows]
    return out


def _cell(value: Any, width: int = 40) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    text = str(value).replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def format_history(history: dict[str, list[dict[str, Any]]]) -> str:
    """Fixed-width tables, one per section; times in UTC."""
    lines: list[str] = []
    for section in SECTIONS:
        rows = history.get(section.title, [])
        lines.append(f"{section.title} ({section.table}, newest first, UTC): {len(rows)}")
        if not rows:
            lines.append("  (none)")
            lines.append("")
            continue
        cells = [[_cell(row[c]) for c in section.columns] for row in rows]
        widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(section.columns)]
        lines.append(
            "  " + "  ".join(c.ljust(w) for c, w in zip(section.columns, widths, strict=True))
        )
        for row in cells:
            lines.append("  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
