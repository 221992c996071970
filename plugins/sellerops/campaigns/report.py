"""The campaign run report: counts by campaign, outcome and reason, logged and kept.

Every plan, send and results run is a :class:`CampaignRun`. Its counts are keyed by
``(campaign, outcome, reason)``; :meth:`CampaignRun.summary` renders them as the
table the task log shows, and :func:`record_run` keeps the run, the counts (JSON)
and that text in ``ops.campaign_runs``. :func:`campaign_status` is ``sellerops
campaigns status``: the outbox by campaign, status and reason, and the last runs.

Outcomes of a run
    plan: ``planned`` and ``held_out`` (new rows), ``excluded`` (reason: the first
    exclusion that applied), ``restored`` (an excluded row whose exclusion lapsed),
    ``expired`` (given up: the window passed);
    send: ``sent``, ``ineligible`` (Amazon does not offer the action now: asked again
    later), ``failed`` (Amazon's error code), ``unknown`` (a message whose fate a
    failure hid: never resent), ``deferred`` (send window, limits), ``error`` (a
    transient failure; the row is retried on the next run), ``ambiguous`` (a send call
    that may or may not have gone out: 500, 504, no answer -- followed by a question to
    Amazon), ``resolved`` (an interrupted send settled by asking Amazon), ``skipped``
    (claimed by another worker), and in a dry run ``would_send`` / ``would_be_ineligible``.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

log = logging.getLogger(__name__)

RUNS_TABLE = "ops.campaign_runs"
SENDS_TABLE = "ops.campaign_sends"


@dataclass
class CampaignRun:
    """What one run did: counts by (campaign, outcome, reason), POSTs by order."""

    step: str
    as_of: datetime
    run_id: str = ""
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    status: str = "running"
    campaigns: list[str] = field(default_factory=list)
    live: dict[str, bool] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)
    posts: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    error: str | None = None

    def __post_init__(self) -> None:
        if not self.run_id:
            self.run_id = (
                f"campaigns:{self.step}:{datetime.now(UTC):%Y%m%dT%H%M%S}:{uuid.uuid4().hex[:8]}"
            )

    # -- counting -------------------------------------------------------------------------------

    def add(self, campaign: str, outcome: str, reason: str = "", n: int = 1) -> None:
        if n:
            self.counts[(campaign, outcome, reason or "")] += n

    def post(self, campaign: str, account_id: str, order_id: str) -> None:
        self.posts[(campaign, account_id, order_id)] += 1

    def note_error(self, text: str) -> None:
        log.warning("%s", text)
        if len(self.errors) < 200:
            self.errors.append(text)

    def count(self, outcome: str, campaign: str | None = None, reason: str | None = None) -> int:
        return sum(
            n
            for (c, o, r), n in self.counts.items()
            if o == outcome
            and (campaign is None or c == campaign)
            and (reason is None or r == reason)
        )

    def totals(self) -> dict[str, int]:
        out: Counter = Counter()
        for (_, outcome, _), n in self.counts.items():
            out[outcome] += n
        return dict(sorted(out.items()))

    def finish(self, status: str = "success", error: str | None = None) -> None:
        self.status = status
        self.error = error
        self.finished_at = datetime.now(UTC)

    # -- rendering ------------------------------------------------------------------------------

    def summary(self) -> str:
        seconds = ((self.finished_at or datetime.now(UTC)) - self.started_at).total_seconds()
        head = (
            f"campaign {self.step} run {self.run_id} as of {self.as_of.isoformat()}: "
            f"{self.status} in {seconds:.1f} s"
        )
        lines = [head]
        if self.live:
            modes = ", ".join(
                f"{c} {'LIVE' if v else 'dry run'}" for c, v in sorted(self.live.items())
            )
            lines.append(f"  campaigns: {modes}")
        if not self.counts:
            lines.append("  nothing to do")
        else:
            lines.append(f"  {'campaign':30} {'outcome':20} {'reason':34} {'count':>7}")
            for (campaign, outcome, reason), n in sorted(self.counts.items()):
                lines.append(f"  {campaign:30} {outcome:20} {reason or '-':34} {n:>7}")
            totals = ", ".join(f"{k} {v}" for k, v in self.totals().items())
            lines.append(f"  totals: {totals}")
        posts = sum(self.posts.values())
        if posts:
            lines.append(f"  Amazon send calls (POST): {posts}")
        if self.error:
            lines.append(f"  error: {self.error}")
        for text in self.errors[:20]:
            lines.append(f"  ! {text}")
        if len(self.errors) > 20:
            lines.append(f"  ! ... {len(self.errors) - 20} more")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "step": self.step,
            "as_of": self.as_of.isoformat(),
            "status": self.status,
            "live": dict(sorted(self.live.items())),
            "totals": self.totals(),
            "counts": [
                {"campaign": c, "outcome": o, "reason": r, "count": n}
                for (c, o, r), n in sorted(self.counts.items())
            ],
            "posts": sum(self.posts.values()),
            "errors": list(self.errors),
        }


def record_run(warehouse: Any, run: CampaignRun) -> None:
    """Insert the run into ``ops.campaign_runs`` (its own transaction)."""
    if run.finished_at is None:
        run.finish()
    row = {
        "run_id": run.run_id,
        "step": run.step,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "as_of": run.as_of,
        "status": run.status,
        "campaigns": ",".join(run.campaigns),
        "live_campaigns": ",".join(sorted(c for c, v in run.live.items() if v)),
        "counts": json.dumps(run.as_dict(), sort_keys=True),
        "report": run.summary(),
        "error": run.error,
    }
    with warehouse.begin() as conn:
        conn.execute(
            sa.text(
                f"INSERT INTO {RUNS_TABLE} (run_id, step, started_at, finished_at, as_of, "  # noqa: S608
                "status, campaigns, live_campaigns, counts, report, error) VALUES (:run_id, "
                ":step, :started_at, :finished_at, :as_of, :status, :campaigns, "
                ":live_campaigns, :counts, :report, :error)"
            ),
            row,
        )


def outbox_counts(warehouse: Any, campaigns: list[str] | None = None) -> list[tuple]:
    """(campaign, status, reason, rows) of the outbox."""
    where, params = "", {}
    if campaigns:
        where = " WHERE campaign IN :names"
        params = {"names": list(campaigns)}
    stmt = sa.text(
        f"SELECT campaign, status, COALESCE(reason, ''), COUNT(*) FROM {SENDS_TABLE}{where} "  # noqa: S608
        "GROUP BY campaign, status, COALESCE(reason, '') ORDER BY 1, 2, 3"
    )
    if campaigns:
        stmt = stmt.bindparams(sa.bindparam("names", expanding=True))
    with warehouse.connect() as conn:
        return [tuple(r) for r in conn.execute(stmt, params).fetchall()]


def campaign_status(warehouse: Any, campaigns: list[str] | None = None, runs: int = 5) -> str:
    """``sellerops campaigns status``: the outbox by status and reason, and the last runs."""
    lines = ["outbox (ops.campaign_sends):"]
    rows = outbox_counts(warehouse, campaigns)
    if not rows:
        lines.append("  empty")
    else:
        lines.append(f"  {'campaign':30} {'status':12} {'reason':40} {'rows':>7}")
        for campaign, status, reason, n in rows:
            lines.append(f"  {campaign:30} {status:12} {reason or '-':40} {n:>7}")
    with warehouse.connect() as conn:
        last = conn.execute(
            sa.text(
                f"SELECT run_id, step, status, as_of, finished_at, counts FROM {RUNS_TABLE} "  # noqa: S608
                "ORDER BY started_at DESC LIMIT :n"
            ),
            {"n": int(runs)},
        ).fetchall()
    lines.append("last runs (ops.campaign_runs):")
    if not last:
        lines.append("  none")
    for run_id, step, status, as_of, _, counts in last:
        totals = json.loads(counts or "{}").get("totals", {})
        text = ", ".join(f"{k} {v}" for k, v in totals.items()) or "nothing to do"
        lines.append(f"  {run_id} {step} {status} as of {as_of}: {text}")
    return "\n".join(lines)
