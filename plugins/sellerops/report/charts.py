"""The charts of the KPI report: one function per chart, each reading the marts for one account.

Every chart function takes an open connection and an account id, runs its SQL over
``marts.*`` with bound parameters, and returns a :class:`Chart`: the aggregated
rows it plotted (``Chart.data``, plain pandas frames, what the tests check) and
the Altair (Vega-Lite) chart built from exactly those rows. Only aggregates are
read: no buyer key, order id or message text ever reaches a chart.

An account selling on several marketplaces gets one panel per marketplace in each
chart (currencies and time zones differ, so they are never summed). A chart
without data, or whose mart does not exist in this warehouse (``marts.
tag_counts_daily`` before the tags migration, ``marts.campaign_results`` before
campaigns), is a small text chart that says so, so every report has every
section and the same number of charts.

The SQL is portable between DuckDB and PostgreSQL. Dates go into the specs as
ISO strings and the specs use UTC time units, so a browser in any time zone shows
the same days and months as the marts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from statistics import NormalDist
from typing import Any

import altair as alt
import pandas as pd
import sqlalchemy as sa

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
TIME_ZONE_GROUPS = (
    "Eastern",
    "Central",
    "Mountain",
    "Pacific",
    "Alaska",
    "Hawaii",
    "Atlantic",
    "Other",
    "Unknown",
)
LIFECYCLE_STAGES = ("potential", "new", "growing", "mature", "at_risk", "churned")
LIFECYCLE_COLORS = ("#9e9e9e", "#6baed6", "#2171b5", "#08306b", "#fd8d3c", "#d62728")
# Two-sided 95 % normal quantile, for the Wilson intervals of campaign results.
Z_95 = 1.959963984540054
TOP_ASINS = 15
TOP_TAGS = 12
CHART_WIDTH = 1040  # px of the widest chart body; the page is laid out for about 1100 px


# -- result types -----------------------------------------------------------------------


@dataclass(frozen=True)
class Marketplace:
    """One marketplace of the account, labelled for humans."""

    marketplace_id: str
    country_code: str | None = None
    currency: str | None = None

    @property
    def label(self) -> str:
        if self.country_code:
            return f"{self.country_code} marketplace ({self.marketplace_id})"
        return self.marketplace_id


@dataclass
class Chart:
    """One report chart: what it shows, the rows behind it, and the Altair chart."""

    key: str
    title: str
    description: str
    data: dict[str, pd.DataFrame]
    chart: Any
    notes: list[str] = field(default_factory=list)
    empty: bool = False

    def spec(self) -> dict[str, Any]:
        """The Vega-Lite spec (validated by Altair), data inline."""
        return self.chart.to_dict()


ChartFunction = Callable[[sa.Connection, str], Chart]


# -- small helpers ------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A JSON-ready scalar: Decimal -> float, date -> ISO text, NaN/NaT -> None."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()  # numpy scalars
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as JSON-ready dicts (what goes inline into a spec)."""
    return [
        {str(k): _plain(v) for k, v in row.items()}
        for row in frame.astype(object).to_dict(orient="records")
    ]


def _inline(frame: pd.DataFrame) -> alt.InlineData:
    return alt.InlineData(values=records(frame))


def query(conn: sa.Connection, sql: str, **params: Any) -> pd.DataFrame:
    """Run ``sql`` with bound ``params``; Decimal columns come back as floats."""
    result = conn.execute(sa.text(sql), params)
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    for column in frame.columns:
        if frame[column].map(lambda v: isinstance(v, Decimal)).any():
            frame[column] = frame[column].map(lambda v: None if v is None else float(v))
    return frame


def relation_exists(conn: sa.Connection, name: str) -> bool:
    """True when the table or view ``schema.name`` exists."""
    schema, table = name.split(".")
    count = conn.execute(
        sa.text(
            "SELECT COUNT(*) FROM information_schema.tables "
            "WHERE table_schema = :schema AND table_name = :table"
        ),
        {"schema": schema, "table": table},
    ).scalar()
    return bool(count)


def relation_columns(conn: sa.Connection, name: str) -> list[str]:
    schema, table = name.split(".")
    rows = conn.execute(
        sa.text(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = :schema AND table_name = :table ORDER BY ordinal_position"
        ),
        {"schema": schema, "table": table},
    ).fetchall()
    return [r[0] for r in rows]


def account_marketplaces(conn: sa.Connection, account_id: str) -> list[Marketplace]:
    """The account's marketplaces with any activity in ``marts.kpi_daily``, with labels."""
    frame = query(
        conn,
        "SELECT k.marketplace_id, m.country_code, m.currency "
        "FROM (SELECT DISTINCT marketplace_id FROM marts.kpi_daily "
        "      WHERE account_id = :account_id) AS k "
        "LEFT JOIN core.marketplaces AS m ON m.marketplace_id = k.marketplace_id "
        "ORDER BY k.marketplace_id",
        account_id=account_id,
    )
    return [
        Marketplace(r["marketplace_id"], r["country_code"], r["currency"]) for r in records(frame)
    ]


def _marketplace_order(
    conn: sa.Connection, account_id: str, ids: Iterable[str]
) -> list[Marketplace]:
    """``ids`` as labelled marketplaces, the account's known ones first, in a stable order."""
    known = {m.marketplace_id: m for m in account_marketplaces(conn, account_id)}
    wanted = sorted(set(ids))
    return [known.get(i, Marketplace(i)) for i in wanted]


def placeholder(message: str, *, height: int = 40) -> alt.Chart:
    """A small chart that says why there is nothing to plot."""
    return (
        alt.Chart(alt.InlineData(values=[{"message": message}]))
        .mark_text(align="left", baseline="middle", fontSize=14, color="#555")
        .encode(text="message:N", x=alt.value(0), y=alt.value(height / 2))
        .properties(width=CHART_WIDTH, height=height, view=alt.ViewBackground(strokeOpacity=0))
    )


def _empty_chart(key: str, title: str, description: str, message: str, **data) -> Chart:
    return Chart(
        key=key,
        title=title,
        description=description,
        data=data,
        chart=placeholder(message),
        notes=[message],
        empty=True,
    )


def _stack(panels: Sequence[tuple[Marketplace, Any]], **config: Any) -> Any:
    """One panel per marketplace, titled, stacked vertically."""
    titled = [chart.properties(title=mkt.label) for mkt, chart in panels]
    if len(titled) == 1:
        return titled[0]
    return alt.vconcat(*titled, spacing=36, **config)


def _day_axis(days: pd.Series) -> alt.Axis:
    """A day axis: one tick per day for short spans (no repeated or half-day ticks)."""
    if days.nunique() <= 14:
        return alt.Axis(
            tickCount=alt.TimeIntervalStep(interval="day", step=1),
            format="%b %d",
            labelOverlap="greedy",
        )
    return alt.Axis(labelOverlap="greedy")


def hour_label(hour: int | None) -> str:
    return "--" if hour is None else f"{int(hour) % 24:02d}:00"


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (``(nan, nan)`` without trials)."""
    if trials <= 0:
        return (math.nan, math.nan)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def _asin_label(asin: str, title: str | None, width: int = 34) -> str:
    if not title:
        return asin
    short = title if len(title) <= width else title[: width - 1].rstrip() + "…"
    return f"{asin} · {short}"


def _percent(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{100 * value:.{digits}f}%"


# -- 1. buyer messages by local hour, with the reply window ------------------------------

HEAT_TITLE = (
    "When buyers write: messages by local hour and time zone, with the recommended reply window"
)
HEAT_DESCRIPTION = (
    "Buyer messages of the last 90 days by weekday and hour, on the buyer's own clock "
    "(the time zone of the ship-to address) and on the seller's clock, and below by the "
    "buyer's US time zone and local hour. The red frame on the seller's clock is the "
    "recommended reply window: the block of consecutive hours in which most buyer "
    "messages arrive (marts.message_peak_hours, marts.reply_window)."
)
# US zone groups from west to east, then the rest (sellerops.geo).
ZONE_GROUPS = ("Hawaii", "Alaska", "Pacific", "Mountain", "Central", "Eastern", "Atlantic")


def message_heat_map(conn: sa.Connection, account_id: str) -> Chart:
    """Buyer messages by local weekday x hour, buyer's and seller's clock, plus the window."""
    cells = query(
        conn,
        "SELECT marketplace_id, time_zone_basis, time_zone_group, local_weekday, local_hour, "
        "buyer_messages FROM marts.message_peak_hours WHERE account_id = :account_id",
        account_id=account_id,
    )
    window = query(
        conn,
        "SELECT marketplace_id, seller_time_zone, window_hours, window_start_hour, "
        "window_end_hour, buyer_messages_in_window, buyer_messages, coverage_share, "
        "answered_in_window, median_first_reply_minutes "
        "FROM marts.reply_window WHERE account_id = :account_id ORDER BY marketplace_id",
        account_id=account_id,
    )
    seller_zone = query(
        conn,
        "SELECT seller_time_zone FROM core.accounts WHERE account_id = :account_id",
        account_id=account_id,
    )
    default_zone = seller_zone["seller_time_zone"].iloc[0] if len(seller_zone) else "UTC"
    if cells.empty:
        return _empty_chart(
            "message_heat_map",
            HEAT_TITLE,
            HEAT_DESCRIPTION,
            "No buyer messages in the last 90 days.",
            cells=cells,
            window=window,
            segments=pd.DataFrame(),
            zones=pd.DataFrame(),
        )

    zones = _zone_hours(cells)
    keys = ["marketplace_id", "time_zone_basis", "local_weekday", "local_hour"]
    grid = _message_grid(cells.groupby(keys, as_index=False)["buyer_messages"].sum())
    segments = _window_segments(window)
    most = int(grid["buyer_messages"].max())
    panels = []
    notes = []
    for mkt in _marketplace_order(conn, account_id, grid["marketplace_id"]):
        mine = grid[grid["marketplace_id"] == mkt.marketplace_id]
        win = window[window["marketplace_id"] == mkt.marketplace_id]
        zone = win["seller_time_zone"].iloc[0] if len(win) else default_zone
        buyer = _heat_panel(
            mine[mine["time_zone_basis"] == "buyer"], "Buyer's local time", None, most
        )
        seller_segments = segments[segments["marketplace_id"] == mkt.marketplace_id]
        seller = _heat_panel(
            mine[mine["time_zone_basis"] == "seller"],
            f"Seller's clock ({zone})",
            seller_segments,
            most,
        )
        clocks = alt.hconcat(buyer, seller, spacing=24).resolve_scale(color="shared")
        by_zone = _zone_panel(zones[zones["marketplace_id"] == mkt.marketplace_id])
        stacked = alt.vconcat(clocks, by_zone, spacing=16).resolve_scale(color="independent")
        panels.append((mkt, stacked))
        if len(win):
            w = records(win)[0]
            median = w["median_first_reply_minutes"]
            notes.append(
                f"{mkt.label}: reply window {hour_label(w['window_start_hour'])}–"
                f"{hour_label(w['window_end_hour'])} {w['seller_time_zone']} covers "
                f"{_percent(w['coverage_share'], 0)} of {w['buyer_messages']} buyer messages; "
                + (
                    f"median first reply inside it {median:.0f} min."
                    if median is not None
                    else "none of them answered yet."
                )
            )
    return Chart(
        key="message_heat_map",
        title=HEAT_TITLE,
        description=HEAT_DESCRIPTION,
        data={"cells": grid, "window": window, "segments": segments, "zones": zones},
        chart=_stack(panels),
        notes=notes,
    )


def _message_grid(cells: pd.DataFrame) -> pd.DataFrame:
    """Every weekday x hour cell per marketplace and basis, zeros filled in."""
    keys = cells[["marketplace_id"]].drop_duplicates()
    full = (
        keys.merge(pd.DataFrame({"time_zone_basis": ["buyer", "seller"]}), how="cross")
        .merge(pd.DataFrame({"local_weekday": range(1, 8)}), how="cross")
        .merge(pd.DataFrame({"local_hour": range(24)}), how="cross")
    )
    counts = cells.astype({"local_weekday": int, "local_hour": int, "buyer_messages": int})
    grid = full.merge(
        counts, on=["marketplace_id", "time_zone_basis", "local_weekday", "local_hour"], how="left"
    )
    grid["buyer_messages"] = grid["buyer_messages"].fillna(0).astype(int)
    totals = grid.groupby(["marketplace_id", "time_zone_basis"])["buyer_messages"].transform("sum")
    grid["share_of_buyer_messages"] = (grid["buyer_messages"] / totals.where(totals > 0)).fillna(
        0.0
    )
    grid["weekday"] = grid["local_weekday"].map(lambda d: WEEKDAYS[d - 1])
    grid["hour_end"] = grid["local_hour"] + 1
    grid["hour_label"] = grid["local_hour"].map(hour_label)
    return grid.sort_values(
        ["marketplace_id", "time_zone_basis", "local_weekday", "local_hour"]
    ).reset_index(drop=True)


def _zone_hours(cells: pd.DataFrame) -> pd.DataFrame:
    """Buyer messages by marketplace, buyer's time-zone group and local hour (buyer's clock).

    Every hour 0-23 of each group that has a message, zeros filled in; groups ordered
    west to east, then any other group.
    """
    buyer = cells[cells["time_zone_basis"] == "buyer"].astype(
        {"local_hour": int, "buyer_messages": int}
    )
    counts = buyer.groupby(["marketplace_id", "time_zone_group", "local_hour"], as_index=False)[
        "buyer_messages"
    ].sum()
    groups = counts[["marketplace_id", "time_zone_group"]].drop_duplicates()
    full = groups.merge(pd.DataFrame({"local_hour": range(24)}), how="cross").merge(
        counts, on=["marketplace_id", "time_zone_group", "local_hour"], how="left"
    )
    full["buyer_messages"] = full["buyer_messages"].fillna(0).astype(int)
    rank = {g: i for i, g in enumerate(ZONE_GROUPS)}
    full["zone_rank"] = full["time_zone_group"].map(lambda g: rank.get(g, len(rank)))
    full["hour_end"] = full["local_hour"] + 1
    full["hour_label"] = full["local_hour"].map(hour_label)
    return full.sort_values(
        ["marketplace_id", "zone_rank", "time_zone_group", "local_hour"]
    ).reset_index(drop=True)


def _local_hour_x(title: str) -> Any:
    """A 0-24 local-hour axis, ticks every 3 hours; cells span local_hour to hour_end."""
    return alt.X(
        "local_hour:Q",
        scale=alt.Scale(domain=[0, 24], nice=False, zero=False),
        axis=alt.Axis(values=list(range(0, 25, 3)), title=title, format="d"),
    )


def _zone_panel(zones: pd.DataFrame) -> Any:
    order = list(dict.fromkeys(zones["time_zone_group"]))
    return (
        alt.Chart(_inline(zones))
        .mark_rect(stroke="white", strokeWidth=0.5)
        .encode(
            x=_local_hour_x("Buyer's local hour"),
            x2="hour_end:Q",
            y=alt.Y("time_zone_group:N", sort=order, title="Buyer's time zone"),
            color=alt.when(alt.datum.buyer_messages == 0)
            .then(alt.value("#eef1f5"))
            .otherwise(
                alt.Color(
                    "buyer_messages:Q",
                    scale=alt.Scale(scheme="purples", domainMin=0),
                    title="Messages by zone",
                    legend=alt.Legend(format="d"),
                )
            ),
            tooltip=[
                alt.Tooltip("time_zone_group:N", title="Time zone"),
                alt.Tooltip("hour_label:N", title="Hour"),
                alt.Tooltip("buyer_messages:Q", title="Messages"),
            ],
        )
        .properties(width=864, height=max(40, 22 * len(order)), title="By buyer's time zone")
    )


def _window_segments(window: pd.DataFrame) -> pd.DataFrame:
    """The reply window as [from_hour, to_hour) spans on a 0-24 axis (split at midnight)."""
    rows = []
    for w in records(window):
        start, hours = int(w["window_start_hour"]), int(w["window_hours"])
        label = (
            f"Reply window {hour_label(start)}–{hour_label(w['window_end_hour'])}: "
            f"{_percent(w['coverage_share'], 0)} of buyer messages"
        )
        end = start + hours
        spans = [(start, min(end, 24))] + ([(0, end - 24)] if end > 24 else [])
        for lo, hi in spans:
            rows.append(
                {
                    "marketplace_id": w["marketplace_id"],
                    "from_hour": lo,
                    "to_hour": hi,
                    "label": label,
                }
            )
    return pd.DataFrame(rows, columns=["marketplace_id", "from_hour", "to_hour", "label"])


def _heat_panel(cells: pd.DataFrame, title: str, segments: pd.DataFrame | None, most: int) -> Any:
    # Whole numbers on the legend (Vega would tick 0, 0.5, 1 for small counts).
    values = list(range(0, most + 1, 1 if most <= 5 else 2)) if most <= 10 else None
    legend = alt.Legend(format="d", values=values) if values else alt.Legend(format="d")
    heat = (
        alt.Chart(_inline(cells))
        .mark_rect(stroke="white", strokeWidth=0.5)
        .encode(
            x=_local_hour_x("Local hour"),
            x2="hour_end:Q",
            y=alt.Y("weekday:N", sort=list(WEEKDAYS), title=None),
            color=alt.when(alt.datum.buyer_messages == 0)
            .then(alt.value("#eef1f5"))
            .otherwise(
                alt.Color(
                    "buyer_messages:Q",
                    scale=alt.Scale(scheme="blues", domainMin=0),
                    title="Buyer messages",
                    legend=legend,
                )
            ),
            tooltip=[
                alt.Tooltip("weekday:N", title="Weekday"),
                alt.Tooltip("hour_label:N", title="Hour"),
                alt.Tooltip("buyer_messages:Q", title="Messages"),
                alt.Tooltip("share_of_buyer_messages:Q", title="Share", format=".1%"),
            ],
        )
    )
    layers = [heat]
    if segments is not None and len(segments):
        layers.append(
            alt.Chart(_inline(segments))
            .mark_rect(filled=False, color="#d62728", strokeWidth=3)
            .encode(
                x="from_hour:Q",
                x2="to_hour:Q",
                tooltip=[alt.Tooltip("label:N", title="Recommended")],
            )
        )
    return alt.layer(*layers).properties(width=420, height=150, title=title)


# -- 2. orders by state and time zone ---------------------------------------------------

REGION_TITLE = "Where orders ship: orders by state and by time zone"
REGION_DESCRIPTION = (
    "Non-cancelled orders over all history by ship-to state (prefecture in Japan), coloured "
    "by time-zone group, and by IANA time zone with the zone's busiest local ordering hours "
    "in the tooltip (marts.orders_by_region, marts.regional_peak_schedule)."
)


def orders_by_region(conn: sa.Connection, account_id: str) -> Chart:
    """Orders per ship-to region (stacked by zone group) and per time zone."""
    regions = query(
        conn,
        "SELECT marketplace_id, region_code, region_name, time_zone, time_zone_group, "
        "orders, buyers, revenue, order_share, revenue_share "
        "FROM marts.orders_by_region WHERE account_id = :account_id "
        "ORDER BY marketplace_id, orders DESC, region_code",
        account_id=account_id,
    )
    peaks = query(
        conn,
        "SELECT marketplace_id, time_zone, peak_rank, local_hour, orders, seller_time_zone, "
        "seller_local_hour FROM marts.regional_peak_schedule WHERE account_id = :account_id "
        "ORDER BY marketplace_id, time_zone, peak_rank",
        account_id=account_id,
    )
    if regions.empty:
        return _empty_chart(
            "orders_by_region",
            REGION_TITLE,
            REGION_DESCRIPTION,
            "No orders yet.",
            regions=regions,
            zones=pd.DataFrame(),
        )
    regions = regions.copy()
    regions["region"] = [
        f"{code} {name}" if code and name else (code or "Unresolved address")
        for code, name in ((r["region_code"], r["region_name"]) for r in records(regions))
    ]
    regions["time_zone"] = regions["time_zone"].fillna("Unknown")
    regions["time_zone_group"] = regions["time_zone_group"].fillna("Unknown")
    zones = (
        regions.groupby(["marketplace_id", "time_zone", "time_zone_group"], as_index=False)
        .agg(
            orders=("orders", "sum"), revenue=("revenue", "sum"), order_share=("order_share", "sum")
        )
        .sort_values(["marketplace_id", "orders", "time_zone"], ascending=[True, False, True])
        .reset_index(drop=True)
    )
    zones["orders"] = zones["orders"].astype(int)
    zones["peak_hours"] = [
        _peak_text(peaks, m, z)
        for m, z in zip(zones["marketplace_id"], zones["time_zone"], strict=True)
    ]
    panels = []
    for mkt in _marketplace_order(conn, account_id, regions["marketplace_id"]):
        mine = regions[regions["marketplace_id"] == mkt.marketplace_id]
        my_zones = zones[zones["marketplace_id"] == mkt.marketplace_id]
        region_order = (
            mine.groupby("region")["orders"].sum().sort_values(ascending=False, kind="stable")
        )
        by_region = (
            alt.Chart(_inline(mine))
            .mark_bar()
            .encode(
                x=alt.X("orders:Q", title="Orders", axis=alt.Axis(tickMinStep=1)),
                y=alt.Y("region:N", sort=list(region_order.index), title=None),
                color=alt.Color(
                    "time_zone_group:N",
                    scale=alt.Scale(domain=list(TIME_ZONE_GROUPS), scheme="tableau10"),
                    title="Time-zone group",
                    legend=alt.Legend(orient="top", direction="horizontal", columns=9),
                ),
                tooltip=[
                    alt.Tooltip("region:N", title="Region"),
                    alt.Tooltip("time_zone:N", title="Time zone"),
                    alt.Tooltip("orders:Q", title="Orders"),
                    alt.Tooltip("buyers:Q", title="Buyers"),
                    alt.Tooltip(
                        "revenue:Q", title=f"Revenue ({mkt.currency or ''})", format=",.2f"
                    ),
                    alt.Tooltip("order_share:Q", title="Share of orders", format=".1%"),
                ],
            )
            .properties(
                width=420, height=max(60, 14 * len(region_order)), title="By state / region"
            )
        )
        by_zone = (
            alt.Chart(_inline(my_zones))
            .mark_bar()
            .encode(
                x=alt.X("orders:Q", title="Orders", axis=alt.Axis(tickMinStep=1)),
                y=alt.Y("time_zone:N", sort="-x", title=None),
                color=alt.Color(
                    "time_zone_group:N",
                    scale=alt.Scale(domain=list(TIME_ZONE_GROUPS), scheme="tableau10"),
                    title="Time-zone group",
                ),
                tooltip=[
                    alt.Tooltip("time_zone:N", title="Time zone"),
                    alt.Tooltip("orders:Q", title="Orders"),
                    alt.Tooltip("order_share:Q", title="Share of orders", format=".1%"),
                    alt.Tooltip("peak_hours:N", title="Busiest local hours"),
                ],
            )
            .properties(width=300, height=max(60, 18 * len(my_zones)), title="By time zone")
        )
        panels.append(
            (mkt, alt.hconcat(by_region, by_zone, spacing=40).resolve_scale(color="shared"))
        )
    return Chart(
        key="orders_by_region",
        title=REGION_TITLE,
        description=REGION_DESCRIPTION,
        data={"regions": regions, "zones": zones, "peaks": peaks},
        chart=_stack(panels),
    )


def _peak_text(peaks: pd.DataFrame, marketplace_id: str, time_zone: str) -> str:
    rows = peaks[(peaks["marketplace_id"] == marketplace_id) & (peaks["time_zone"] == time_zone)]
    if rows.empty:
        return "n/a"
    parts = [
        f"{hour_label(r['local_hour'])} (seller {hour_label(r['seller_local_hour'])})"
        for r in records(rows)
    ]
    return ", ".join(parts)


# -- 3. repurchase and second purchase -------------------------------------------------

REPURCHASE_TITLE = "Repurchase and second-purchase trends"
REPURCHASE_DESCRIPTION = (
    "Per month: the share of the month's buyers who ordered twice or more in it, the share "
    "who had ordered before the month, and, by month of first order, the share of new "
    "buyers whose second order came within 90 days (shown once a cohort has had 90 days; "
    "marts.kpi_repurchase, marts.cohort_second_purchase)."
)
REPURCHASE_METRICS = (
    "Repurchase rate (2+ orders in the month)",
    "Returning-buyer share",
    "Second order within 90 days (by first-order month)",
)


def repurchase_trends(conn: sa.Connection, account_id: str) -> Chart:
    """Monthly repurchase rate, returning-buyer share and 90-day second-purchase rate."""
    monthly = query(
        conn,
        "SELECT marketplace_id, period_start, buyers, repeat_buyers, repurchase_rate, "
        "returning_buyers, returning_buyer_share FROM marts.kpi_repurchase "
        "WHERE account_id = :account_id AND period_grain = :grain "
        "ORDER BY marketplace_id, period_start",
        account_id=account_id,
        grain="month",
    )
    second = query(
        conn,
        "SELECT marketplace_id, cohort_month, new_buyers, second_within_90d, "
        "second_purchase_rate_90d FROM marts.cohort_second_purchase "
        "WHERE account_id = :account_id ORDER BY marketplace_id, cohort_month",
        account_id=account_id,
    )
    rows = []
    for r in records(monthly):
        rows.append(
            (
                r["marketplace_id"],
                r["period_start"],
                REPURCHASE_METRICS[0],
                r["repurchase_rate"],
                r["repeat_buyers"],
                r["buyers"],
            )
        )
        rows.append(
            (
                r["marketplace_id"],
                r["period_start"],
                REPURCHASE_METRICS[1],
                r["returning_buyer_share"],
                r["returning_buyers"],
                r["buyers"],
            )
        )
    for r in records(second):
        rows.append(
            (
                r["marketplace_id"],
                r["cohort_month"],
                REPURCHASE_METRICS[2],
                r["second_purchase_rate_90d"],
                r["second_within_90d"],
                r["new_buyers"],
            )
        )
    trend = (
        pd.DataFrame(
            rows, columns=["marketplace_id", "month", "metric", "rate", "numerator", "denominator"]
        )
        .sort_values(["marketplace_id", "metric", "month"], kind="stable")
        .reset_index(drop=True)
    )
    if trend.empty:
        return _empty_chart(
            "repurchase_trends",
            REPURCHASE_TITLE,
            REPURCHASE_DESCRIPTION,
            "No buyers with orders yet.",
            trend=trend,
        )
    panels = []
    for mkt in _marketplace_order(conn, account_id, trend["marketplace_id"]):
        mine = trend[trend["marketplace_id"] == mkt.marketplace_id]
        chart = (
            alt.Chart(_inline(mine))
            .mark_line(point=alt.OverlayMarkDef(size=60))
            .encode(
                x=alt.X("month:T", timeUnit="utcyearmonth", title="Month"),
                y=alt.Y("rate:Q", title="Share of buyers", axis=alt.Axis(format="%")),
                color=alt.Color(
                    "metric:N",
                    scale=alt.Scale(domain=list(REPURCHASE_METRICS)),
                    title=None,
                    legend=alt.Legend(orient="bottom", columns=1, labelLimit=500),
                ),
                tooltip=[
                    alt.Tooltip("month:T", timeUnit="utcyearmonth", title="Month"),
                    alt.Tooltip("metric:N", title="Metric"),
                    alt.Tooltip("rate:Q", title="Rate", format=".1%"),
                    alt.Tooltip("numerator:Q", title="Buyers counted"),
                    alt.Tooltip("denominator:Q", title="Out of"),
                ],
            )
            .properties(width=CHART_WIDTH - 120, height=220)
        )
        panels.append((mkt, chart))
    return Chart(
        key="repurchase_trends",
        title=REPURCHASE_TITLE,
        description=REPURCHASE_DESCRIPTION,
        data={"trend": trend},
        chart=_stack(panels),
    )


# -- 4. cohort retention triangle --------------------------------------------------------

COHORT_TITLE = "Cohort retention"
COHORT_DESCRIPTION = (
    "Buyers grouped by the month of their first order (rows); each cell is the share of the "
    "cohort that ordered again in that later month (marts.cohort_retention)."
)


def cohort_retention(conn: sa.Connection, account_id: str) -> Chart:
    """Retention by first-order month x months since: the triangle."""
    cells = query(
        conn,
        "SELECT marketplace_id, cohort_month, months_since_first, cohort_buyers, "
        "active_buyers, retention_rate, cumulative_revenue_per_buyer "
        "FROM marts.cohort_retention WHERE account_id = :account_id "
        "ORDER BY marketplace_id, cohort_month, months_since_first",
        account_id=account_id,
    )
    if cells.empty:
        return _empty_chart(
            "cohort_retention",
            COHORT_TITLE,
            COHORT_DESCRIPTION,
            "No cohorts yet.",
            cells=cells,
        )
    cells = cells.copy()
    cells["cohort"] = [
        f"{str(m)[:7]} ({int(n)} buyers)"
        for m, n in zip(cells["cohort_month"], cells["cohort_buyers"], strict=True)
    ]
    panels = []
    for mkt in _marketplace_order(conn, account_id, cells["marketplace_id"]):
        mine = cells[cells["marketplace_id"] == mkt.marketplace_id]
        cohorts = list(dict.fromkeys(mine["cohort"]))
        months = int(mine["months_since_first"].max()) + 1
        base = alt.Chart(_inline(mine)).encode(
            x=alt.X("months_since_first:O", title="Months since first order"),
            y=alt.Y("cohort:N", sort=cohorts, title="First-order month"),
        )
        rect = base.mark_rect().encode(
            color=alt.Color(
                "retention_rate:Q",
                scale=alt.Scale(scheme="greens", domain=[0, 1]),
                title="Retention",
                legend=alt.Legend(format="%"),
            ),
            tooltip=[
                alt.Tooltip("cohort:N", title="Cohort"),
                alt.Tooltip("months_since_first:O", title="Months since first"),
                alt.Tooltip("active_buyers:Q", title="Active buyers"),
                alt.Tooltip("retention_rate:Q", title="Retention", format=".1%"),
                alt.Tooltip(
                    "cumulative_revenue_per_buyer:Q",
                    title=f"Cumulative revenue per buyer ({mkt.currency or ''})",
                    format=",.2f",
                ),
            ],
        )
        text = base.mark_text(fontSize=11).encode(
            text=alt.Text("retention_rate:Q", format=".0%"),
            color=alt.when(alt.datum.retention_rate > 0.5)
            .then(alt.value("white"))
            .otherwise(alt.value("#222")),
        )
        chart = alt.layer(rect, text).properties(
            width=min(CHART_WIDTH - 300, max(60, 48 * months)),
            height=max(30, 24 * len(cohorts)),
        )
        panels.append((mkt, chart))
    return Chart(
        key="cohort_retention",
        title=COHORT_TITLE,
        description=COHORT_DESCRIPTION,
        data={"cells": cells},
        chart=_stack(panels),
    )


# -- 5. returns and refunds by ASIN and reason --------------------------------------------

RETURNS_TITLE = "Returns and refunds by ASIN and reason"
RETURNS_DESCRIPTION = (
    f"The {TOP_ASINS} ASINs with the most returned units and refunded orders: return rate "
    "(returned / ordered units), refund rate and refund-without-return rate (refunded orders "
    "/ orders), and their returned units by Amazon return reason (marts.returns_by_asin, "
    "marts.return_reasons)."
)
RETURN_METRICS = ("Return rate", "Refund rate", "Refund without return")


def returns_by_asin(conn: sa.Connection, account_id: str) -> Chart:
    """Return/refund rates of the top ASINs and their returned units by reason."""
    asins = query(
        conn,
        "SELECT marketplace_id, asin, title, orders, ordered_units, returned_units, return_rate, "
        "refunded_orders, refund_rate, refunded_without_return_orders, "
        "refund_without_return_rate, refunded_amount FROM marts.returns_by_asin "
        "WHERE account_id = :account_id AND (returned_units > 0 OR refunded_orders > 0) "
        "ORDER BY marketplace_id, returned_units + refunded_orders DESC, ordered_units DESC, asin",
        account_id=account_id,
    )
    reasons = query(
        conn,
        "SELECT marketplace_id, asin, reason, return_lines, returned_units "
        "FROM marts.return_reasons WHERE account_id = :account_id "
        "ORDER BY marketplace_id, asin, reason",
        account_id=account_id,
    )
    if asins.empty:
        return _empty_chart(
            "returns_by_asin",
            RETURNS_TITLE,
            RETURNS_DESCRIPTION,
            "No returns or refunds yet.",
            rates=pd.DataFrame(),
            reasons=reasons,
        )
    top = asins.groupby("marketplace_id", group_keys=False).head(TOP_ASINS).copy()
    top["asin_label"] = [_asin_label(r["asin"], r["title"]) for r in records(top)]
    rate_rows = []
    for r in records(top):
        for metric, rate, num, den in (
            (RETURN_METRICS[0], r["return_rate"], r["returned_units"], r["ordered_units"]),
            (RETURN_METRICS[1], r["refund_rate"], r["refunded_orders"], r["orders"]),
            (
                RETURN_METRICS[2],
                r["refund_without_return_rate"],
                r["refunded_without_return_orders"],
                r["orders"],
            ),
        ):
            rate_rows.append(
                (r["marketplace_id"], r["asin"], r["asin_label"], metric, rate or 0.0, num, den)
            )
    rates = pd.DataFrame(
        rate_rows,
        columns=[
            "marketplace_id",
            "asin",
            "asin_label",
            "metric",
            "rate",
            "numerator",
            "denominator",
        ],
    )
    labels = top[["marketplace_id", "asin", "asin_label"]]
    reasons_top = reasons.merge(labels, on=["marketplace_id", "asin"], how="inner")
    reasons_top["returned_units"] = reasons_top["returned_units"].astype(int)
    panels = []
    for mkt in _marketplace_order(conn, account_id, top["marketplace_id"]):
        order = list(top.loc[top["marketplace_id"] == mkt.marketplace_id, "asin_label"])
        mine = rates[rates["marketplace_id"] == mkt.marketplace_id]
        height = max(60, 30 * len(order))
        rate_chart = (
            alt.Chart(_inline(mine))
            .mark_bar()
            .encode(
                x=alt.X("rate:Q", title="Rate", axis=alt.Axis(format="%")),
                y=alt.Y("asin_label:N", sort=order, title=None),
                yOffset=alt.YOffset("metric:N", sort=list(RETURN_METRICS)),
                color=alt.Color(
                    "metric:N",
                    scale=alt.Scale(
                        domain=list(RETURN_METRICS), range=["#e15759", "#4e79a7", "#f28e2b"]
                    ),
                    title=None,
                    legend=alt.Legend(orient="bottom", labelLimit=300),
                ),
                tooltip=[
                    alt.Tooltip("asin_label:N", title="ASIN"),
                    alt.Tooltip("metric:N", title="Metric"),
                    alt.Tooltip("rate:Q", title="Rate", format=".1%"),
                    alt.Tooltip("numerator:Q", title="Count"),
                    alt.Tooltip("denominator:Q", title="Out of"),
                ],
            )
            .properties(width=300, height=height, title="Rates by ASIN")
        )
        my_reasons = reasons_top[reasons_top["marketplace_id"] == mkt.marketplace_id]
        if my_reasons.empty:
            reason_chart = placeholder("No return lines for these ASINs.").properties(
                width=300, title="Returned units by reason"
            )
        else:
            reason_chart = (
                alt.Chart(_inline(my_reasons))
                .mark_bar()
                .encode(
                    x=alt.X(
                        "returned_units:Q", title="Returned units", axis=alt.Axis(tickMinStep=1)
                    ),
                    y=alt.Y("asin_label:N", sort=order, title=None, axis=alt.Axis(labels=False)),
                    color=alt.Color(
                        "reason:N",
                        title="Return reason",
                        scale=alt.Scale(scheme="set2"),
                        legend=alt.Legend(orient="bottom", columns=2, labelLimit=300),
                    ),
                    tooltip=[
                        alt.Tooltip("asin_label:N", title="ASIN"),
                        alt.Tooltip("reason:N", title="Reason"),
                        alt.Tooltip("returned_units:Q", title="Returned units"),
                        alt.Tooltip("return_lines:Q", title="Return lines"),
                    ],
                )
                .properties(width=260, height=height, title="Returned units by reason")
            )
        panels.append(
            (
                mkt,
                alt.hconcat(rate_chart, reason_chart, spacing=16).resolve_scale(
                    color="independent"
                ),
            )
        )
    return Chart(
        key="returns_by_asin",
        title=RETURNS_TITLE,
        description=RETURNS_DESCRIPTION,
        data={"asins": top.reset_index(drop=True), "rates": rates, "reasons": reasons_top},
        chart=_stack(panels),
    )


# -- 6. negative feedback trend -----------------------------------------------------------

FEEDBACK_TITLE = "Negative seller feedback, week by week"
FEEDBACK_DESCRIPTION = (
    "Seller feedback with 1-2 stars received each week (bars) and per 100 orders placed that "
    "week (line); weeks start on Monday, UTC (marts.kpi_daily). The trailing 30/90/365-day "
    "rates Amazon uses are below the chart (marts.feedback_summary)."
)


def negative_feedback_trend(conn: sa.Connection, account_id: str) -> Chart:
    """Weekly negative feedback count and rate per 100 orders."""
    weeks = query(
        conn,
        "SELECT marketplace_id, "
        "CAST(date_trunc('week', CAST(day AS TIMESTAMP)) AS DATE) AS week_start, "
        "SUM(orders) AS orders, SUM(feedback_received) AS feedback_received, "
        "SUM(negative_feedback) AS negative_feedback, "
        "100.0 * SUM(negative_feedback) / NULLIF(SUM(orders), 0) AS negative_per_100_orders "
        "FROM marts.kpi_daily WHERE account_id = :account_id "
        "GROUP BY marketplace_id, CAST(date_trunc('week', CAST(day AS TIMESTAMP)) AS DATE) "
        "ORDER BY marketplace_id, week_start",
        account_id=account_id,
    )
    summary = query(
        conn,
        "SELECT marketplace_id, window_days, orders, feedback_count, negative_feedback, "
        "negative_feedback_rate FROM marts.feedback_summary WHERE account_id = :account_id "
        "ORDER BY marketplace_id, window_days",
        account_id=account_id,
    )
    if weeks.empty:
        return _empty_chart(
            "negative_feedback_trend",
            FEEDBACK_TITLE,
            FEEDBACK_DESCRIPTION,
            "No orders or feedback yet.",
            weeks=weeks,
            summary=summary,
        )
    weeks = weeks.astype(
        {"orders": int, "feedback_received": int, "negative_feedback": int}
    ).reset_index(drop=True)
    weeks["week"] = [str(w)[:10] for w in weeks["week_start"]]
    panels = []
    notes = []
    for mkt in _marketplace_order(conn, account_id, weeks["marketplace_id"]):
        mine = weeks[weeks["marketplace_id"] == mkt.marketplace_id]
        base = alt.Chart(_inline(mine)).encode(
            x=alt.X(
                "week:O",
                title="Week starting (Monday, UTC)",
                axis=alt.Axis(labelAngle=0, labelOverlap="greedy"),
            )
        )
        tooltip = [
            alt.Tooltip("week:O", title="Week starting"),
            alt.Tooltip("orders:Q", title="Orders"),
            alt.Tooltip("feedback_received:Q", title="Feedback received"),
            alt.Tooltip("negative_feedback:Q", title="Negative (1-2 stars)"),
            alt.Tooltip("negative_per_100_orders:Q", title="Per 100 orders", format=".2f"),
        ]
        most = max(1, int(mine["negative_feedback"].max()))
        count_axis = alt.Axis(format="d", titleColor="#e15759")
        if most <= 10:  # whole numbers only
            count_axis = alt.Axis(format="d", titleColor="#e15759", values=list(range(most + 1)))
        bars = base.mark_bar(color="#e15759", opacity=0.55).encode(
            y=alt.Y(
                "negative_feedback:Q",
                title="Negative feedback",
                axis=count_axis,
                scale=alt.Scale(domain=[0, most]) if most <= 10 else alt.Scale(domainMin=0),
            ),
            tooltip=tooltip,
        )
        line = base.mark_line(color="#4e79a7", point=True).encode(
            y=alt.Y(
                "negative_per_100_orders:Q",
                title="Per 100 orders",
                axis=alt.Axis(titleColor="#4e79a7"),
                scale=alt.Scale(domainMin=0),
            ),
            tooltip=tooltip,
        )
        chart = (
            alt.layer(bars, line)
            .resolve_scale(y="independent")
            .properties(width=min(CHART_WIDTH - 140, max(240, 70 * len(mine))), height=200)
        )
        panels.append((mkt, chart))
        windows = [
            f"{r['window_days']} days: {r['negative_feedback']} of {r['feedback_count']} "
            f"({_percent(r['negative_feedback_rate'], 2)} of {r['orders']} orders)"
            for r in records(summary[summary["marketplace_id"] == mkt.marketplace_id])
        ]
        if windows:
            notes.append(f"{mkt.label}, negative feedback in the last " + "; ".join(windows) + ".")
    return Chart(
        key="negative_feedback_trend",
        title=FEEDBACK_TITLE,
        description=FEEDBACK_DESCRIPTION,
        data={"weeks": weeks, "summary": summary},
        chart=_stack(panels),
        notes=notes,
    )


# -- 7. tag group sizes --------------------------------------------------------------------

TAGS_TITLE = "Buyer tag group sizes over time"
TAGS_DESCRIPTION = (
    f"Buyers holding each tag at the end of each day the tags ran, for the {TOP_TAGS} largest "
    "tags; dashed lines are manual tags (marts.tag_counts_daily)."
)


def tag_group_sizes(conn: sa.Connection, account_id: str) -> Chart:
    """Buyers per tag and source over the days the tag task ran."""
    if not relation_exists(conn, "marts.tag_counts_daily"):
        return _empty_chart(
            "tag_group_sizes",
            TAGS_TITLE,
            TAGS_DESCRIPTION,
            "Buyer tags are not set up in this warehouse yet (no marts.tag_counts_daily).",
            counts=pd.DataFrame(),
        )
    counts = query(
        conn,
        "SELECT marketplace_id, day, tag, source, buyers FROM marts.tag_counts_daily "
        "WHERE account_id = :account_id ORDER BY marketplace_id, tag, source, day",
        account_id=account_id,
    )
    if counts.empty:
        return _empty_chart(
            "tag_group_sizes",
            TAGS_TITLE,
            TAGS_DESCRIPTION,
            "No tag counts yet: the tags task has not run for this account.",
            counts=counts,
        )
    counts = counts.astype({"buyers": int})
    # The largest tags per marketplace by their peak size (ties: by name).
    peak = counts.groupby(["marketplace_id", "tag"], as_index=False)["buyers"].max()
    peak = peak.sort_values(["marketplace_id", "buyers", "tag"], ascending=[True, False, True])
    keep = peak.groupby("marketplace_id", group_keys=False).head(TOP_TAGS)[
        ["marketplace_id", "tag"]
    ]
    shown = counts.merge(keep, on=["marketplace_id", "tag"], how="inner").reset_index(drop=True)
    panels = []
    for mkt in _marketplace_order(conn, account_id, shown["marketplace_id"]):
        mine = shown[shown["marketplace_id"] == mkt.marketplace_id]
        chart = (
            alt.Chart(_inline(mine))
            .mark_line(point=alt.OverlayMarkDef(size=50))
            .encode(
                x=alt.X(
                    "day:T", timeUnit="utcyearmonthdate", title="Day", axis=_day_axis(mine["day"])
                ),
                y=alt.Y("buyers:Q", title="Buyers", axis=alt.Axis(tickMinStep=1)),
                color=alt.Color("tag:N", title="Tag", scale=alt.Scale(scheme="tableau20")),
                strokeDash=alt.StrokeDash(
                    "source:N",
                    title="Source",
                    scale=alt.Scale(domain=["rule", "manual"], range=[[1, 0], [6, 3]]),
                ),
                detail="source:N",
                tooltip=[
                    alt.Tooltip("day:T", timeUnit="utcyearmonthdate", title="Day"),
                    alt.Tooltip("tag:N", title="Tag"),
                    alt.Tooltip("source:N", title="Source"),
                    alt.Tooltip("buyers:Q", title="Buyers"),
                ],
            )
            .properties(width=CHART_WIDTH - 220, height=240)
        )
        panels.append((mkt, chart))
    return Chart(
        key="tag_group_sizes",
        title=TAGS_TITLE,
        description=TAGS_DESCRIPTION,
        data={"counts": shown},
        chart=_stack(panels),
    )


# -- 8. lifecycle stages ------------------------------------------------------------------

LIFECYCLE_TITLE = "Buyers by lifecycle stage"
LIFECYCLE_DESCRIPTION = (
    "Buyers in each lifecycle stage at the end of each day: potential (wrote, no order "
    "yet), new, growing, mature, at risk (no order for 90 days) and churned (180 days) "
    "(marts.lifecycle_daily)."
)


def lifecycle_stages(conn: sa.Connection, account_id: str) -> Chart:
    """Stacked buyers per lifecycle stage per day."""
    days = query(
        conn,
        "SELECT marketplace_id, day, lifecycle_stage, stage_order, buyers "
        "FROM marts.lifecycle_daily WHERE account_id = :account_id "
        "ORDER BY marketplace_id, day, stage_order",
        account_id=account_id,
    )
    if days.empty:
        return _empty_chart(
            "lifecycle_stages",
            LIFECYCLE_TITLE,
            LIFECYCLE_DESCRIPTION,
            "No buyers yet.",
            days=days,
        )
    days = days.astype({"buyers": int, "stage_order": int})
    panels = []
    for mkt in _marketplace_order(conn, account_id, days["marketplace_id"]):
        mine = days[days["marketplace_id"] == mkt.marketplace_id]
        # One day is no area to draw: stacked bars then.
        mark = {"type": "area"} if mine["day"].nunique() > 1 else {"type": "bar", "size": 40}
        chart = (
            alt.Chart(_inline(mine), mark=mark)
            .encode(
                x=alt.X(
                    "day:T", timeUnit="utcyearmonthdate", title="Day", axis=_day_axis(mine["day"])
                ),
                y=alt.Y("buyers:Q", stack="zero", title="Buyers", axis=alt.Axis(tickMinStep=1)),
                color=alt.Color(
                    "lifecycle_stage:N",
                    scale=alt.Scale(domain=list(LIFECYCLE_STAGES), range=list(LIFECYCLE_COLORS)),
                    title="Stage",
                ),
                order=alt.Order("stage_order:Q"),
                tooltip=[
                    alt.Tooltip("day:T", timeUnit="utcyearmonthdate", title="Day"),
                    alt.Tooltip("lifecycle_stage:N", title="Stage"),
                    alt.Tooltip("buyers:Q", title="Buyers"),
                ],
            )
            .properties(width=CHART_WIDTH - 160, height=200)
        )
        panels.append((mkt, chart))
    return Chart(
        key="lifecycle_stages",
        title=LIFECYCLE_TITLE,
        description=LIFECYCLE_DESCRIPTION,
        data={"days": days},
        chart=_stack(panels),
    )


# -- 9. campaign results -------------------------------------------------------------------

CAMPAIGN_TITLE = "Campaign results with 95% intervals"
CAMPAIGN_DESCRIPTION = (
    "Per campaign that contacted this account's buyers, and per outcome metric: the rate "
    "among treated and held-out buyers with Wilson intervals (left), and the difference "
    "treated minus held-out with the interval the campaign results report (right; an "
    "interval clear of zero is an effect). Results pool every account the campaign runs "
    "for (marts.campaign_results, ops.campaign_sends)."
)
CAMPAIGN_ARMS = ("treatment", "holdout")
CAMPAIGN_RESULT_COLUMNS = (
    "campaign",
    "metric",
    "window_days",
    "treated_buyers",
    "treated_events",
    "treated_rate",
    "holdout_buyers",
    "holdout_events",
    "holdout_rate",
    "difference",
    "ci_low",
    "ci_high",
    "confidence",
    "p_value",
    "relative_uplift",
    "immature_buyers",
)


def campaign_results(conn: sa.Connection, account_id: str) -> Chart:
    """Treated vs held-out rates per campaign and metric, with intervals.

    ``marts.campaign_results`` (migration 0004, written by
    :mod:`sellerops.campaigns.results`) has one row per campaign and metric, pooled
    over the campaign's accounts; the campaigns of this account are those with rows
    for it in ``ops.campaign_sends``.
    """
    name = "marts.campaign_results"

    def empty(message: str, **data: pd.DataFrame) -> Chart:
        return _empty_chart(
            "campaign_results", CAMPAIGN_TITLE, CAMPAIGN_DESCRIPTION, message, **data
        )

    if not relation_exists(conn, name) or not relation_exists(conn, "ops.campaign_sends"):
        return empty("No campaign results yet (campaigns are not set up in this warehouse).")
    missing = [c for c in CAMPAIGN_RESULT_COLUMNS if c not in set(relation_columns(conn, name))]
    if missing:
        return empty(f"marts.campaign_results lacks the column(s) {', '.join(missing)}.")
    results = query(
        conn,
        f"SELECT {', '.join(CAMPAIGN_RESULT_COLUMNS)} FROM marts.campaign_results "  # noqa: S608
        "WHERE campaign IN (SELECT DISTINCT campaign FROM ops.campaign_sends "
        "                   WHERE account_id = :account_id) "
        "ORDER BY campaign, metric",
        account_id=account_id,
    )
    results = results[(results["treated_buyers"] > 0) | (results["holdout_buyers"] > 0)]
    if results.empty:
        return empty("No campaign results for this account's buyers yet.", results=results)
    results = results.reset_index(drop=True)
    results["row"] = [f"{r['campaign']} · {r['metric']}" for r in records(results)]
    arm_rows = []
    for r in records(results):
        z = NormalDist().inv_cdf(0.5 + float(r["confidence"] or 0.95) / 2)
        for arm, buyers, events in (
            ("treatment", r["treated_buyers"], r["treated_events"]),
            ("holdout", r["holdout_buyers"], r["holdout_events"]),
        ):
            buyers, events = int(buyers or 0), int(events or 0)
            if buyers <= 0:
                continue
            low, high = wilson_interval(events, buyers, z)
            arm_rows.append(
                {
                    "row": r["row"],
                    "campaign": r["campaign"],
                    "metric": r["metric"],
                    "arm": arm,
                    "buyers": buyers,
                    "events": events,
                    "rate": events / buyers,
                    "rate_low": low,
                    "rate_high": high,
                }
            )
    arms = pd.DataFrame(arm_rows)
    rows = list(results["row"])
    height = max(60, 40 * len(rows))
    arm_tooltip = [
        alt.Tooltip("row:N", title="Campaign · metric"),
        alt.Tooltip("arm:N", title="Arm"),
        alt.Tooltip("buyers:Q", title="Buyers"),
        alt.Tooltip("events:Q", title="With the outcome"),
        alt.Tooltip("rate:Q", title="Rate", format=".1%"),
        alt.Tooltip("rate_low:Q", title="Interval low", format=".1%"),
        alt.Tooltip("rate_high:Q", title="Interval high", format=".1%"),
    ]
    arm_base = alt.Chart(_inline(arms)).encode(
        y=alt.Y("row:N", sort=rows, title=None),
        yOffset=alt.YOffset("arm:N", sort=list(CAMPAIGN_ARMS)),
        color=alt.Color(
            "arm:N",
            title="Arm",
            scale=alt.Scale(domain=list(CAMPAIGN_ARMS), range=["#4e79a7", "#9c9c9c"]),
            legend=alt.Legend(orient="bottom"),
        ),
        tooltip=arm_tooltip,
    )
    arm_chart = alt.layer(
        arm_base.mark_rule(strokeWidth=2).encode(
            x=alt.X("rate_low:Q", title="Rate (95% Wilson interval)", axis=alt.Axis(format="%")),
            x2="rate_high:Q",
        ),
        arm_base.mark_point(filled=True, size=60).encode(x="rate:Q"),
    ).properties(width=380, height=height, title="Treated vs held out")
    diffs = results[results["difference"].notna()]
    if diffs.empty:
        diff_chart = placeholder("No difference yet: one arm has no buyers.").properties(
            width=300, title="Difference"
        )
    else:
        diff_tooltip = [
            alt.Tooltip("row:N", title="Campaign · metric"),
            alt.Tooltip("difference:Q", title="Treated − held out", format="+.1%"),
            alt.Tooltip("ci_low:Q", title="Interval low", format="+.1%"),
            alt.Tooltip("ci_high:Q", title="Interval high", format="+.1%"),
            alt.Tooltip("p_value:Q", title="p-value", format=".3f"),
            alt.Tooltip("relative_uplift:Q", title="Relative uplift", format="+.0%"),
            alt.Tooltip("immature_buyers:Q", title="Buyers still in their window"),
        ]
        diff_base = alt.Chart(_inline(diffs)).encode(
            y=alt.Y("row:N", sort=rows, title=None, axis=alt.Axis(labels=False)),
            tooltip=diff_tooltip,
        )
        zero = (
            alt.Chart(alt.InlineData(values=[{"zero": 0}]))
            .mark_rule(color="#888", strokeDash=[4, 3])
            .encode(x="zero:Q")
        )
        diff_chart = alt.layer(
            zero,
            diff_base.mark_rule(strokeWidth=2, color="#e15759").encode(
                x=alt.X(
                    "ci_low:Q",
                    title="Treated − held out (interval)",
                    axis=alt.Axis(format="+%"),
                ),
                x2="ci_high:Q",
            ),
            diff_base.mark_point(filled=True, size=60, color="#e15759").encode(x="difference:Q"),
        ).properties(width=300, height=height, title="Difference")
    return Chart(
        key="campaign_results",
        title=CAMPAIGN_TITLE,
        description=CAMPAIGN_DESCRIPTION,
        data={"results": results, "arms": arms},
        chart=alt.hconcat(arm_chart, diff_chart, spacing=16),
        notes=[
            f"{r['row']}: {r['treated_events']}/{r['treated_buyers']} treated vs "
            f"{r['holdout_events']}/{r['holdout_buyers']} held out"
            + (
                f", difference {100 * r['difference']:+.1f} points "
                f"[{100 * r['ci_low']:+.1f}, {100 * r['ci_high']:+.1f}]"
                if r["difference"] is not None and r["ci_low"] is not None
                else ""
            )
            + "."
            for r in records(results)
        ],
    )


# -- the report's charts, in page order ----------------------------------------------------

CHARTS: tuple[ChartFunction, ...] = (
    message_heat_map,
    orders_by_region,
    repurchase_trends,
    cohort_retention,
    returns_by_asin,
    negative_feedback_trend,
    tag_group_sizes,
    lifecycle_stages,
    campaign_results,
)
CHART_KEYS: tuple[str, ...] = (
    "message_heat_map",
    "orders_by_region",
    "repurchase_trends",
    "cohort_retention",
    "returns_by_asin",
    "negative_feedback_trend",
    "tag_group_sizes",
    "lifecycle_stages",
    "campaign_results",
)


def account_charts(conn: sa.Connection, account_id: str) -> list[Chart]:
    """Every chart of the report for one account, in page order."""
    return [function(conn, account_id) for function in CHARTS]


# -- headline figures ---------------------------------------------------------------------


def account_summary(conn: sa.Connection, account_id: str) -> pd.DataFrame:
    """Headline figures per marketplace for the top of the page (aggregates only)."""
    kpis = query(
        conn,
        "SELECT marketplace_id, MIN(day) AS first_day, MAX(day) AS last_day, "
        "SUM(orders) AS orders, SUM(units) AS units, SUM(revenue) AS revenue, "
        "SUM(new_buyers) AS new_buyers, SUM(buyer_messages) AS buyer_messages "
        "FROM marts.kpi_daily WHERE account_id = :account_id GROUP BY marketplace_id",
        account_id=account_id,
    )
    buyers = query(
        conn,
        "SELECT marketplace_id, "
        "SUM(CASE WHEN orders >= 1 THEN 1 ELSE 0 END) AS buyers, "
        "SUM(CASE WHEN orders >= 2 THEN 1 ELSE 0 END) AS repeat_buyers "
        "FROM marts.buyer_profile WHERE account_id = :account_id GROUP BY marketplace_id",
        account_id=account_id,
    )
    returns = query(
        conn,
        "SELECT marketplace_id, "
        "CAST(SUM(returned_units) AS DOUBLE PRECISION) / NULLIF(SUM(ordered_units), 0) AS return_rate, "
        "CAST(SUM(refunded_orders) AS DOUBLE PRECISION) / NULLIF(SUM(orders), 0) AS refund_rate "
        "FROM marts.returns_by_month WHERE account_id = :account_id GROUP BY marketplace_id",
        account_id=account_id,
    )
    feedback = query(
        conn,
        "SELECT marketplace_id, negative_feedback_rate AS negative_feedback_rate_30d "
        "FROM marts.feedback_summary WHERE account_id = :account_id AND window_days = :days",
        account_id=account_id,
        days=30,
    )
    replies = query(
        conn,
        "SELECT marketplace_id, median_first_reply_minutes, replied_within_24h_share "
        "FROM marts.reply_times WHERE account_id = :account_id AND seller_local_hour IS NULL",
        account_id=account_id,
    )
    frame = kpis
    for other in (buyers, returns, feedback, replies):
        frame = frame.merge(other, on="marketplace_id", how="left")
    labels = {m.marketplace_id: m for m in account_marketplaces(conn, account_id)}
    frame["label"] = [labels.get(m, Marketplace(m)).label for m in frame["marketplace_id"]]
    frame["country_code"] = [
        labels.get(m, Marketplace(m)).country_code for m in frame["marketplace_id"]
    ]
    frame["currency"] = [labels.get(m, Marketplace(m)).currency for m in frame["marketplace_id"]]
    frame["repurchase_rate"] = [
        (r["repeat_buyers"] / r["buyers"]) if r["buyers"] else None for r in records(frame)
    ]
    return frame.sort_values("marketplace_id").reset_index(drop=True)
