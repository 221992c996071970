"""``marts.campaign_results``: treated vs held-out buyers, with a confidence interval.

Computed here in Python over SQL (not by the model runner, which only rebuilds the
relations named by files in ``include/sql``) and written to the table migration 0004
creates; :func:`compute_results` runs after every send run (the DAG's results task)
and replaces the rows of the campaigns it computed.

Units and arms
    The unit is the buyer (per campaign, account and marketplace): the holdout is
    drawn by a hash of campaign and buyer key, so all of a buyer's orders are in
    one arm. Rows without a buyer key are left out. The comparison is by intention
    to treat: every buyer assigned to treatment counts, whether or not Amazon
    ended up offering the action (``treated_sent`` says how many were reached), and
    a buyer keeps the arm drawn when first assigned even if later excluded (the
    held-out side is never re-examined, so dropping later exclusions from the
    treated side only would bias the comparison).

Metrics (each over buyers whose window has fully passed by ``as_of``; the others
are counted in ``immature_buyers``)
    ``feedback_30d``: seller feedback on one of the buyer's campaign orders dated
    from the order's due day to 30 days after it (product reviews are not in the
    warehouse: SP-API does not serve them);
    ``repurchase_90d``: a non-cancelled order of the buyer (same account and
    marketplace) purchased within 90 days after the buyer's first due time;
    ``return_30d``: a return of one of the buyer's campaign orders within 30 days
    after its due time.

Statistics
    rates ``events / buyers`` per arm; ``difference = treated - holdout``;
    ``relative_uplift = difference / holdout rate``; the confidence interval of the
    difference is **Newcombe's hybrid score interval** (Newcombe 1998, method 10),
    built from the two Wilson score intervals -- it stays inside [-1, 1] and keeps
    its coverage for small counts and rates near 0, where the Wald interval does
    not; ``p_value`` is the two-sided pooled two-proportion z-test.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from sellerops.campaigns.planner import (
    HOLDOUT,
    SENDS,
    SENT,
    TREATMENT,
    get_definitions,
    get_warehouse,
    prepare_session,
    resolve_as_of,
    utc,
)

log = logging.getLogger(__name__)

RESULTS_TABLE = "marts.campaign_results"
CI_METHOD = "newcombe_hybrid_score"
METRICS: tuple[tuple[str, int], ...] = (
    ("feedback_30d", 30),
    ("repurchase_90d", 90),
    ("return_30d", 30),
)


# -- statistics -----------------------------------------------------------------------------------


def _z(confidence: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + confidence / 2))


def wilson_interval(events: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion."""
    if n <= 0:
        return (math.nan, math.nan)
    z = _z(confidence)
    p = events / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def newcombe_interval(
    x1: int, n1: int, x2: int, n2: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p1 - p2 (1998, method 10)."""
    if n1 <= 0 or n2 <= 0:
        return (math.nan, math.nan)
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1, confidence)
    l2, u2 = wilson_interval(x2, n2, confidence)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return (low, high)


def two_proportion_p_value(x1: int, n1: int, x2: int, n2: int) -> float | None:
    """Two-sided pooled z-test of p1 = p2."""
    if n1 <= 0 or n2 <= 0:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    from scipy.stats import norm

    z = (x1 / n1 - x2 / n2) / se
    return float(2 * norm.sf(abs(z)))


@dataclass
class Comparison:
    treated_n: int
    treated_x: int
    holdout_n: int
    holdout_x: int
    confidence: float = 0.95

    @property
    def treated_rate(self) -> float | None:
        return self.treated_x / self.treated_n if self.treated_n else None

    @property
    def holdout_rate(self) -> float | None:
        return self.holdout_x / self.holdout_n if self.holdout_n else None

    @property
    def difference(self) -> float | None:
        if self.treated_rate is None or self.holdout_rate is None:
            return None
        return self.treated_rate - self.holdout_rate

    @property
    def interval(self) -> tuple[float | None, float | None]:
        low, high = newcombe_interval(
            self.treated_x, self.treated_n, self.holdout_x, self.holdout_n, self.confidence
        )
        return (None if math.isnan(low) else low, None if math.isnan(high) else high)

    @property
    def p_value(self) -> float | None:
        return two_proportion_p_value(
            self.treated_x, self.treated_n, self.holdout_x, self.holdout_n
        )

    @property
    def relative_uplift(self) -> float | None:
        if self.difference is None or not self.holdout_rate:
            return None
        return self.difference / self.holdout_rate


# -- the mart -------------------------------------------------------------------------------------


def _units(conn: sa.Connection, names: Sequence[str] | None) -> list[tuple]:
    where = "arm IS NOT NULL AND buyer_key IS NOT NULL"
    params: dict[str, Any] = {}
    stmt_text = (
        f"SELECT campaign, account_id, marketplace_id, order_id, buyer_key, arm, status, due_at, "  # noqa: S608
        f"channel FROM {SENDS} WHERE {where}"
    )
    if names:
        stmt_text += " AND campaign IN :names"
        params["names"] = list(names)
    stmt = sa.text(stmt_text)
    if names:
        stmt = stmt.bindparams(sa.bindparam("names", expanding=True))
    return [tuple(r) for r in conn.execute(stmt, params).fetchall()]


def compute_results(
    warehouse: Any = None,
    definitions: Any = None,
    *,
    as_of: datetime | date | str | None = None,
    campaigns: Sequence[str] | None = None,
    confidence: float = 0.95,
    mature_only: bool = True,
) -> list[dict[str, Any]]:
    """Compare treated and held-out buyers; replace the campaigns' rows of the mart.

    ``campaigns`` defaults to every campaign in the outbox. ``definitions`` (a
    CampaignsFile or path; optional) supplies the configured holdout shares.
    ``mature_only=False`` also counts buyers whose window has not passed yet (their
    outcomes so far: both arms are censored alike, the rates are lower bounds).
    """
    wh = get_warehouse(warehouse)
    resolved = resolve_as_of(as_of)
    shares: dict[str, float] = {}
    try:
        shares = {c.name: c.holdout for c in get_definitions(definitions).campaigns}
    except Exception as exc:  # noqa: BLE001 - the shares are informative only
        log.info("campaign definitions not available (%s): holdout shares as observed", exc)
    computed_at = datetime.now(UTC)
    with wh.begin() as conn:
        prepare_session(conn, wh)
        units = _units(conn, campaigns)
        feedback = _feedback(conn, campaigns)
        returns = _returns(conn, campaigns)
        purchases = _purchases(conn, campaigns)
        rows = _compare(units, feedback, returns, purchases, resolved, confidence, mature_only)
        for row in rows:
            row["holdout_share"] = shares.get(row["campaign"], row.pop("observed_share"))
            row.pop("observed_share", None)
            row["as_of"] = resolved
            row["computed_at"] = computed_at
        names = sorted({u[0] for u in units} | set(campaigns or ()))
        if names:
            conn.execute(
                sa.text(f"DELETE FROM {RESULTS_TABLE} WHERE campaign IN :names").bindparams(  # noqa: S608
                    sa.bindparam("names", expanding=True)
                ),
                {"names": names},
            )
        if rows:
            columns = list(rows[0])
            conn.execute(
                sa.text(
                    f"INSERT INTO {RESULTS_TABLE} ({', '.join(columns)}) VALUES "  # noqa: S608
                    f"({', '.join(':' + c for c in columns)})"
                ),
                rows,
            )
    log.info("%s", render_results(rows))
    return rows


def _scoped(conn: sa.Connection, sql: str, names: Sequence[str] | None) -> list[tuple]:
    """Run ``sql``, whose ``{units}`` is replaced by the outbox rows of the campaigns."""
    units = (
        f"SELECT account_id, marketplace_id, order_id, buyer_key FROM {SENDS} WHERE arm IS NOT NULL"  # noqa: S608
    )
    params: dict[str, Any] = {}
    if names:
        units += " AND campaign IN :names"
        params["names"] = list(names)
    stmt = sa.text(sql.replace("{units}", units))
    if names:
        stmt = stmt.bindparams(sa.bindparam("names", expanding=True))
    return [tuple(r) for r in conn.execute(stmt, params).fetchall()]


def _feedback(conn: sa.Connection, names: Sequence[str] | None) -> dict[tuple[str, str], date]:
    rows = _scoped(
        conn,
        "SELECT account_id, order_id, feedback_date FROM core.feedback "
        "WHERE (account_id, order_id) IN (SELECT u.account_id, u.order_id FROM ({units}) AS u)",
        names,
    )
    out = {}
    for account_id, order_id, day in rows:
        out[(account_id, order_id)] = day.date() if isinstance(day, datetime) else day
    return out


def _returns(
    conn: sa.Connection, names: Sequence[str] | None
) -> dict[tuple[str, str], list[datetime]]:
    rows = _scoped(
        conn,
        "SELECT account_id, order_id, return_time FROM core.returns "
        "WHERE (account_id, order_id) IN (SELECT u.account_id, u.order_id FROM ({units}) AS u)",
        names,
    )
    out: dict[tuple[str, str], list[datetime]] = {}
    for account_id, order_id, when in rows:
        out.setdefault((account_id, order_id), []).append(utc(when))  # type: ignore[arg-type]
    return out


def _purchases(
    conn: sa.Connection, names: Sequence[str] | None
) -> dict[tuple[str, str, str], list[tuple[datetime, str]]]:
    rows = _scoped(
        conn,
        "SELECT account_id, marketplace_id, buyer_key, purchase_time, order_id FROM core.orders "
        "WHERE order_status <> 'CANCELLED' AND buyer_key IS NOT NULL "
        "AND (account_id, marketplace_id, buyer_key) IN (SELECT u.account_id, u.marketplace_id, "
        "u.buyer_key FROM ({units}) AS u WHERE u.buyer_key IS NOT NULL)",
        names,
    )
    out: dict[tuple[str, str, str], list[tuple[datetime, str]]] = {}
    for account_id, marketplace_id, buyer_key, when, order_id in rows:
        out.setdefault((account_id, marketplace_id, buyer_key), []).append((utc(when), order_id))  # type: ignore[arg-type]
    return out


def _compare(
    units: list[tuple],
    feedback: dict[tuple[str, str], date],
    returns: dict[tuple[str, str], list[datetime]],
    purchases: dict[tuple[str, str, str], list[tuple[datetime, str]]],
    as_of: datetime,
    confidence: float,
    mature_only: bool,
) -> list[dict[str, Any]]:
    # (campaign, account, marketplace, buyer) -> its orders
    by_buyer: dict[tuple[str, str, str, str], list[tuple]] = {}
    channels: dict[str, str] = {}
    for u in units:
        campaign, account_id, marketplace_id, _, buyer_key, _, _, _, channel = u
        by_buyer.setdefault((campaign, account_id, marketplace_id, buyer_key), []).append(u)
        channels[campaign] = channel
    # campaign -> metric -> arm -> [n, events]; plus sent and immature counts
    stats: dict[str, dict[str, dict[str, list[int]]]] = {}
    sent: dict[str, int] = {}
    immature: dict[str, dict[str, int]] = {}
    arms_seen: dict[str, dict[str, int]] = {}
    for (campaign, account_id, marketplace_id, buyer_key), orders in by_buyer.items():
        arm = orders[0][5]
        if arm not in (TREATMENT, HOLDOUT):
            continue
        dues = [utc(o[7]) for o in orders]
        first_due, last_due = min(dues), max(dues)  # type: ignore[type-var]
        arms_seen.setdefault(campaign, {}).setdefault(arm, 0)
        arms_seen[campaign][arm] += 1
        if arm == TREATMENT and any(o[6] == SENT for o in orders):
            sent[campaign] = sent.get(campaign, 0) + 1
        outcomes = {
            "feedback_30d": any(
                (day := feedback.get((account_id, o[3]))) is not None
                and utc(o[7]).date() <= day <= (utc(o[7]) + timedelta(days=30)).date()  # type: ignore[union-attr]
                for o in orders
            ),
            "repurchase_90d": any(
                first_due < when <= first_due + timedelta(days=90)  # type: ignore[operator]
                for when, _ in purchases.get((account_id, marketplace_id, buyer_key), [])
            ),
            "return_30d": any(
                utc(o[7]) < when <= utc(o[7]) + timedelta(days=30)  # type: ignore[operator]
                for o in orders
                for when in returns.get((account_id, o[3]), [])
            ),
        }
        for metric, window in METRICS:
            mature = last_due + timedelta(days=window) <= as_of  # type: ignore[operator]
            if mature_only and not mature:
                immature.setdefault(campaign, {}).setdefault(metric, 0)
                immature[campaign][metric] += 1
                continue
            cell = stats.setdefault(campaign, {}).setdefault(metric, {}).setdefault(arm, [0, 0])
            cell[0] += 1
            cell[1] += int(outcomes[metric])
    rows = []
    for campaign in sorted(arms_seen):
        seen = arms_seen[campaign]
        total = sum(seen.values())
        for metric, window in METRICS:
            cells = stats.get(campaign, {}).get(metric, {})
            t_n, t_x = cells.get(TREATMENT, [0, 0])
            h_n, h_x = cells.get(HOLDOUT, [0, 0])
            comparison = Comparison(t_n, t_x, h_n, h_x, confidence)
            low, high = comparison.interval
            rows.append(
                {
                    "campaign": campaign,
                    "metric": metric,
                    "window_days": window,
                    "channel": channels[campaign],
                    "observed_share": seen.get(HOLDOUT, 0) / total if total else 0.0,
                    "treated_buyers": t_n,
                    "treated_sent": sent.get(campaign, 0),
                    "treated_events": t_x,
                    "treated_rate": comparison.treated_rate,
                    "holdout_buyers": h_n,
                    "holdout_events": h_x,
                    "holdout_rate": comparison.holdout_rate,
                    "difference": comparison.difference,
                    "ci_low": low,
                    "ci_high": high,
                    "confidence": confidence,
                    "ci_method": CI_METHOD,
                    "p_value": comparison.p_value,
                    "relative_uplift": comparison.relative_uplift,
                    "immature_buyers": immature.get(campaign, {}).get(metric, 0),
                }
            )
    return rows


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.1f} pp"


def render_results(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "campaign results: no campaign has assigned buyers yet"
    lines = [
        "campaign results (treated vs held out, intention to treat; "
        f"{rows[0]['confidence']:.0%} CI, {CI_METHOD}):",
        f"  {'campaign':30} {'metric':15} {'treated':>15} {'held out':>15} "
        f"{'difference':>11} {'CI':>21} {'immature':>8}",
    ]
    for r in rows:
        t = f"{r['treated_events']}/{r['treated_buyers']}"
        h = f"{r['holdout_events']}/{r['holdout_buyers']}"
        ci = (
            "-"
            if r["ci_low"] is None
            else f"[{100 * r['ci_low']:+.1f}, {100 * r['ci_high']:+.1f}] pp"
        )
        lines.append(
            f"  {r['campaign']:30} {r['metric']:15} {t:>15} {h:>15} {_pct(r['difference']):>11} "
            f"{ci:>21} {r['immature_buyers']:>8}"
        )
    return "\n".join(lines)


def read_results(
    warehouse: Any = None, campaigns: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    wh = get_warehouse(warehouse)
    sql = f"SELECT * FROM {RESULTS_TABLE}"  # noqa: S608
    params: dict[str, Any] = {}
    if campaigns:
        sql += " WHERE campaign IN :names"
        params["names"] = list(campaigns)
    stmt = sa.text(sql + " ORDER BY campaign, metric")
    if campaigns:
        stmt = stmt.bindparams(sa.bindparam("names", expanding=True))
    with wh.connect() as conn:
        result = conn.execute(stmt, params)
        return [dict(r._mapping) for r in result.fetchall()]


def run_results_task(airflow_run_id: str | None = None) -> dict[str, Any]:
    """The DAG's results task: recompute marts.campaign_results as of now."""
    rows = compute_results()
    if airflow_run_id:
        log.info("Airflow run %s", airflow_run_id)
    return {"rows": len(rows), "campaigns": sorted({r["campaign"] for r in rows})}
