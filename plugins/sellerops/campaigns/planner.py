"""Plan the outbox: one row per campaign x order in ``ops.campaign_sends``.

:func:`plan_campaigns` looks, for every campaign and (account, marketplace), at the
orders whose trigger is due as of ``as_of`` (the event plus ``trigger.days`` has
passed) and not yet given up (the event plus ``give_up_after_days`` has not), and
brings the outbox up to date in one transaction:

* an order without a row gets one: ``excluded`` (with the first reason that
  applied, and every reason in ``detail``) or, when nothing excludes it, assigned
  to an arm by :func:`holdout_arm`: ``held_out`` or ``planned``;
* rows still ``planned``, ``ineligible`` or ``excluded`` are re-evaluated: an order
  returned since it was planned becomes ``excluded`` (keeping its arm), an excluded
  one whose exclusion lapsed (a tag left, the campaign edited) is assigned;
* ``planned`` and ``ineligible`` rows past their ``give_up_at`` become ``expired``.

``held_out`` rows are never re-evaluated: a held-out buyer stays held out. Nothing
here talks to Amazon; the sender asks Amazon right before each send.

The event's time is an estimate (Amazon's promised delivery, else the shipment plus
the assumed transit days, ...): the warehouse never learns the real delivery.
Amazon's answer to the eligibility call decides; the estimate only decides when to
start asking.

Opt-outs (``ops.buyer_opt_outs``) come from :func:`add_opt_out` and
:func:`import_opt_outs_csv` (``sellerops campaigns opt-out``). Every recorded opt-out
applies, whatever its ``since`` (kept for the record) and the run's ``as_of``: an
opt-out is never back-dated out of effect. Amazon's own opt-out ("do not send me
solicitations") shows up as the action not being offered: ``ineligible``.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from sellerops.campaigns import definitions as defs
from sellerops.campaigns.report import CampaignRun, record_run

log = logging.getLogger(__name__)

SENDS = "ops.campaign_sends"
OPT_OUTS = "ops.buyer_opt_outs"

# Statuses (see sellerops.campaigns.sender for the state machine).
PLANNED, HELD_OUT, EXCLUDED, CLAIMED = "planned", "held_out", "excluded", "claimed"
SENT, INELIGIBLE, FAILED, EXPIRED, UNKNOWN = "sent", "ineligible", "failed", "expired", "unknown"
STATUSES = (PLANNED, HELD_OUT, EXCLUDED, CLAIMED, SENT, INELIGIBLE, FAILED, EXPIRED, UNKNOWN)
# Rows that count as "this order already got the action" for other campaigns.
DELIVERED_STATUSES = (SENT, CLAIMED, UNKNOWN)
TREATMENT, HOLDOUT = "treatment", "holdout"
OPT_OUT_ALL = "all"

# How far back an order's purchase may lie for its event to still be in the window.
_EVENT_SLACK_DAYS = {"delivery": 45, "shipment": 30, "order": 0, "return": 400, "feedback": 400}
# Orders whose event (when the order says when it is) was before ``as_of - give_up``
# cannot be due any more: left out in SQL already.
_EVENT_PREFILTER = {
    "delivery": " AND (latest_delivery_time IS NULL OR latest_delivery_time > :anchor_min)",
    "shipment": " AND (ship_time IS NULL OR ship_time > :anchor_min)",
    "order": " AND purchase_time > :anchor_min",
    "return": "",
    "feedback": "",
}

# Reasons in the order they are reported (the first that applies is the row's reason).
REASON_ORDER = (
    "opted_out",
    "already_solicited",
    "cancelled",
    "business_orders",
    "returned",
    "refunded",
    "negative_feedback",
    "fulfillment_channel",
    "product_scope",
    "tag_excluded",
    "tag_not_included",
)


class PlanError(RuntimeError):
    pass


# -- shared helpers (the sender and results use them too) ---------------------------------------


def utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, dtime.min, tzinfo=UTC)
    if hasattr(value, "to_pydatetime"):
        return utc(value.to_pydatetime())
    raise TypeError(f"not a timestamp: {value!r}")


def resolve_as_of(as_of: datetime | date | str | None) -> datetime:
    """The run's "now": the given time (a date means its 00:00 UTC) or the wall clock."""
    if as_of is None:
        return datetime.now(UTC).replace(microsecond=0)
    if isinstance(as_of, str):
        text = as_of.strip()
        as_of = (
            datetime.fromisoformat(text) if "T" in text or " " in text else date.fromisoformat(text)
        )
    return utc(as_of)  # type: ignore[return-value]


def prepare_session(conn: sa.Connection, warehouse: Any) -> None:
    """UTC session time zone on both databases."""
    if warehouse.is_duckdb:
        conn.exec_driver_sql("SET TimeZone = 'UTC'")
    else:
        conn.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")


def get_warehouse(warehouse: Any = None) -> Any:
    """A Warehouse from a Warehouse, a URL, or the configured one."""
    from sellerops.warehouse import Warehouse, connect

    if isinstance(warehouse, Warehouse):
        return warehouse
    return connect(warehouse)


def get_definitions(definitions: Any = None) -> defs.CampaignsFile:
    if isinstance(definitions, defs.CampaignsFile):
        return definitions
    return defs.load_campaigns(definitions)


def get_accounts(accounts: Any = None) -> Any:
    from sellerops.accounts import AccountsFile, load_accounts

    if isinstance(accounts, AccountsFile):
        return accounts
    if isinstance(accounts, list | tuple):
        return AccountsFile(accounts=list(accounts))
    return load_accounts(accounts)


def holdout_arm(campaign: str, buyer_key: str | None, order_id: str, share: float) -> str:
    """``holdout`` for a deterministic ``share`` of buyers (by hash of campaign and buyer)."""
    if share <= 0:
        return TREATMENT
    key = buyer_key if buyer_key else f"order:{order_id}"
    digest = hashlib.sha256(f"{campaign}\x1f{key}".encode()).digest()
    return HOLDOUT if int.from_bytes(digest[:8], "big") / 2**64 < share else TREATMENT


def _expanding(sql: str, *names: str) -> sa.TextClause:
    return sa.text(sql).bindparams(*(sa.bindparam(n, expanding=True) for n in names))


# -- the plan -------------------------------------------------------------------------------------


@dataclass
class _Order:
    account_id: str
    marketplace_id: str
    order_id: str
    buyer_key: str | None
    purchase_time: datetime
    order_status: str
    fulfillment_channel: str
    is_business_order: bool
    ship_time: datetime | None
    latest_delivery_time: datetime | None
    ship_state: str | None
    ship_postal_code: str | None
    ship_country: str | None
    asins: set[str] = field(default_factory=set)
    first_return: datetime | None = None
    refunded: bool = False
    feedback_date: date | None = None
    feedback_rating: int | None = None


@dataclass
class _Context:
    """What the exclusions of one campaign x (account, marketplace) need to know."""

    negative_buyers: set[str]
    tags: dict[str, set[str]]
    opted_out: set[str]
    solicited: set[str]


def plan_campaigns(
    warehouse: Any = None,
    definitions: Any = None,
    *,
    accounts: Any = None,
    as_of: datetime | date | str | None = None,
    campaigns: Sequence[str] | None = None,
    run: CampaignRun | None = None,
) -> CampaignRun:
    """Bring ``ops.campaign_sends`` up to date for ``campaigns`` (default all) as of ``as_of``.

    ``definitions`` is a :class:`~sellerops.campaigns.definitions.CampaignsFile` or a
    path (default ``include/campaigns.yaml``); ``accounts`` an ``AccountsFile``, a list
    of accounts or a path (default the accounts file). Returns the run (recorded in
    ``ops.campaign_runs`` unless it is part of a caller's ``run``).
    """
    wh = get_warehouse(warehouse)
    definitions = get_definitions(definitions)
    accounts = get_accounts(accounts)
    defs.check_accounts(definitions, accounts)
    resolved = resolve_as_of(as_of)
    selected = definitions.select(list(campaigns) if campaigns else None)
    own = run is None
    if run is None:
        run = CampaignRun(step="plan", as_of=resolved, campaigns=[c.name for c in selected])
        run.live = {c.name: c.live for c in selected}
    now = datetime.now(UTC)
    try:
        with wh.begin() as conn:
            prepare_session(conn, wh)
            for campaign in selected:
                for account, marketplace_id in defs.pairs(campaign, accounts):
                    _plan_pair(
                        conn, campaign, account.account_id, marketplace_id, resolved, now, run
                    )
    except Exception as exc:
        if own:
            run.finish("failed", error=str(exc))
            record_run(wh, run)
        raise
    if own:
        run.finish()
        record_run(wh, run)
        log.info("%s", run.summary())
    return run


def _anchor(campaign: defs.Campaign, o: _Order) -> tuple[datetime, str] | None:
    """The trigger event's (estimated) time and where it came from; None: not yet."""
    trig = campaign.trigger
    event = trig.event
    waiting = o.order_status in ("PENDING", "UNSHIPPED")
    if event == "order":
        return o.purchase_time, "order"
    if event == "delivery":
        if waiting:
            return None
        if o.latest_delivery_time is not None:
            return o.latest_delivery_time, "latest_delivery"
        if o.ship_time is not None:
            return o.ship_time + timedelta(days=trig.assumed_transit_days), "shipment"
        return o.purchase_time + timedelta(days=trig.assumed_delivery_days), "order"
    if event == "shipment":
        if waiting:
            return None
        if o.ship_time is not None:
            return o.ship_time, "shipment"
        return o.purchase_time + timedelta(days=trig.assumed_handling_days), "order"
    if event == "return":
        return (o.first_return, "return") if o.first_return is not None else None
    if event == "feedback":
        if o.feedback_date is None:
            return None
        return datetime.combine(o.feedback_date, dtime.min, tzinfo=UTC), "feedback"
    raise PlanError(f"unknown trigger event {event!r}")


def exclusion_reasons(campaign: defs.Campaign, o: _Order, ctx: _Context) -> list[str]:
    """Every reason ``o`` may not get this campaign, in :data:`REASON_ORDER`."""
    found = set()
    on = set(campaign.effective_exclusions)
    buyer = o.buyer_key
    if "opted_out" in on and buyer is not None and buyer in ctx.opted_out:
        found.add("opted_out")
    if "already_solicited" in on and o.order_id in ctx.solicited:
        found.add("already_solicited")
    if "cancelled" in on and o.order_status == "CANCELLED":
        found.add("cancelled")
    if "business_orders" in on and o.is_business_order:
        found.add("business_orders")
    if "returned" in on and o.first_return is not None:
        found.add("returned")
    if "refunded" in on and o.refunded:
        found.add("refunded")
    if "negative_feedback" in on and (
        (o.feedback_rating is not None and o.feedback_rating <= 2)
        or (buyer is not None and buyer in ctx.negative_buyers)
    ):
        found.add("negative_feedback")
    audience = campaign.audience
    if audience.fulfillment_channels and o.fulfillment_channel not in audience.fulfillment_channels:
        found.add("fulfillment_channel")
    if not campaign.products.matches(o.asins):
        found.add("product_scope")
    tags = ctx.tags.get(buyer, set()) if buyer is not None else set()
    if set(audience.exclude_tags) & tags:
        found.add("tag_excluded")
    if audience.include_tags:
        wanted = set(audience.include_tags)
        ok = wanted <= tags if audience.include_mode == "all" else bool(wanted & tags)
        if not ok:
            found.add("tag_not_included")
    return [r for r in REASON_ORDER if r in found]


def _describe(reasons: list[str], campaign: defs.Campaign, o: _Order, ctx: _Context) -> str:
    parts = []
    tags = ctx.tags.get(o.buyer_key, set()) if o.buyer_key else set()
    for reason in reasons:
        if reason == "tag_excluded":
            parts.append(
                f"tag_excluded({', '.join(sorted(set(campaign.audience.exclude_tags) & tags))})"
            )
        elif reason == "tag_not_included":
            parts.append(f"tag_not_included({', '.join(campaign.audience.include_tags)})")
        else:
            parts.append(reason)
    return ", ".join(parts)


def _time_zone(o: _Order) -> str | None:
    from sellerops import geo
    from sellerops.accounts import MARKETPLACES

    default = MARKETPLACES.get(o.marketplace_id, (None, None, None))[2]
    try:
        return geo.time_zone_for(o.ship_state, o.ship_postal_code, o.ship_country, default=default)
    except Exception:  # noqa: BLE001 - an odd address: the marketplace's zone
        return default


def _candidates(event: str) -> str:
    """The WHERE clause (on core.orders) of the orders that may be due: :a, :m, :since,
    :as_of, :anchor_min."""
    return (
        "account_id = :a AND marketplace_id = :m AND purchase_time >= :since "
        "AND purchase_time <= :as_of" + _EVENT_PREFILTER[event]
    )


def _load_orders(conn: sa.Connection, event: str, params: dict[str, Any]) -> dict[str, _Order]:
    as_of = params["as_of"]
    where = _candidates(event)
    scope = f"SELECT order_id FROM core.orders WHERE {where}"  # noqa: S608 - fixed text
    orders: dict[str, _Order] = {}
    for r in conn.execute(
        sa.text(
            "SELECT account_id, marketplace_id, order_id, buyer_key, purchase_time, order_status, "  # noqa: S608
            "fulfillment_channel, is_business_order, ship_time, latest_delivery_time, ship_state, "
            f"ship_postal_code, ship_country FROM core.orders WHERE {where}"
        ),
        params,
    ):
        orders[r[2]] = _Order(
            account_id=r[0],
            marketplace_id=r[1],
            order_id=r[2],
            buyer_key=r[3],
            purchase_time=utc(r[4]),  # type: ignore[arg-type]
            order_status=r[5],
            fulfillment_channel=r[6],
            is_business_order=bool(r[7]),
            ship_time=utc(r[8]),
            latest_delivery_time=utc(r[9]),
            ship_state=r[10],
            ship_postal_code=r[11],
            ship_country=r[12],
        )
    if not orders:
        return orders
    for order_id, asin in conn.execute(
        sa.text(
            f"SELECT order_id, asin FROM core.order_items WHERE account_id = :a "  # noqa: S608
            f"AND asin IS NOT NULL AND order_id IN ({scope})"
        ),
        params,
    ):
        if order_id in orders:
            orders[order_id].asins.add(str(asin).upper())
    for order_id, first in conn.execute(
        sa.text(
            f"SELECT order_id, MIN(return_time) FROM core.returns WHERE account_id = :a "  # noqa: S608
            f"AND return_time <= :as_of AND order_id IN ({scope}) GROUP BY order_id"
        ),
        params,
    ):
        if order_id in orders:
            orders[order_id].first_return = utc(first)
    for (order_id,) in conn.execute(
        sa.text(
            f"SELECT DISTINCT order_id FROM core.refunds WHERE account_id = :a "  # noqa: S608
            f"AND posted_time <= :as_of AND order_id IN ({scope})"
        ),
        params,
    ):
        if order_id in orders:
            orders[order_id].refunded = True
    for order_id, day, rating in conn.execute(
        sa.text(
            f"SELECT order_id, feedback_date, rating FROM core.feedback WHERE account_id = :a "  # noqa: S608
            f"AND feedback_date <= :as_of_date AND order_id IN ({scope})"
        ),
        {**params, "as_of_date": as_of.date()},
    ):
        if order_id in orders:
            orders[order_id].feedback_date = day if isinstance(day, date) else None
            if isinstance(day, datetime):
                orders[order_id].feedback_date = day.date()
            orders[order_id].feedback_rating = int(rating)
    return orders


def _load_context(
    conn: sa.Connection,
    campaign: defs.Campaign,
    account_id: str,
    marketplace_id: str,
    as_of: datetime,
    params: dict[str, Any],
) -> _Context:
    exclusions = set(campaign.effective_exclusions)
    negative: set[str] = set()
    if "negative_feedback" in exclusions:
        negative = {
            r[0]
            for r in conn.execute(
                sa.text(
                    "SELECT DISTINCT o.buyer_key FROM core.feedback AS f JOIN core.orders AS o "
                    "ON o.account_id = f.account_id AND o.order_id = f.order_id "
                    "WHERE f.account_id = :a AND f.marketplace_id = :m AND f.rating <= 2 "
                    "AND f.feedback_date <= :d AND o.buyer_key IS NOT NULL"
                ),
                {"a": account_id, "m": marketplace_id, "d": as_of.date()},
            )
        }
    tags: dict[str, set[str]] = defaultdict(set)
    wanted = sorted(set(campaign.audience.include_tags) | set(campaign.audience.exclude_tags))
    if wanted:
        for buyer_key, tag in conn.execute(
            _expanding(
                "SELECT buyer_key, tag FROM marts.buyer_tags WHERE account_id = :a "
                "AND marketplace_id = :m AND tag IN :tags AND valid_from <= :as_of "
                "AND (valid_to IS NULL OR valid_to > :as_of)",
                "tags",
            ),
            {"a": account_id, "m": marketplace_id, "tags": wanted, "as_of": as_of},
        ):
            tags[buyer_key].add(tag)
    opted_out = {
        r[0]
        for r in conn.execute(
            sa.text(
                f"SELECT DISTINCT buyer_key FROM {OPT_OUTS} WHERE account_id = :a "  # noqa: S608
                "AND channel IN (:ch, :all)"
            ),
            {"a": account_id, "ch": campaign.channel, "all": OPT_OUT_ALL},
        )
    }
    solicited: set[str] = set()
    if "already_solicited" in exclusions:
        solicited = {
            r[0]
            for r in conn.execute(
                _expanding(
                    f"SELECT DISTINCT order_id FROM {SENDS} WHERE account_id = :a "  # noqa: S608
                    "AND campaign <> :c AND channel = :ch AND action = :action "
                    "AND status IN :delivered AND order_id IN (SELECT order_id FROM core.orders "
                    f"WHERE {_candidates(campaign.trigger.event)})",
                    "delivered",
                ),
                {
                    **params,
                    "c": campaign.name,
                    "ch": campaign.channel,
                    "action": campaign.action,
                    "delivered": list(DELIVERED_STATUSES),
                },
            )
        }
    return _Context(
        negative_buyers=negative, tags=dict(tags), opted_out=opted_out, solicited=solicited
    )


def _plan_pair(
    conn: sa.Connection,
    campaign: defs.Campaign,
    account_id: str,
    marketplace_id: str,
    as_of: datetime,
    now: datetime,
    run: CampaignRun,
) -> None:
    name = campaign.name
    give_up_days = campaign.give_up_after_days
    days = campaign.trigger.days
    event = campaign.trigger.event
    params = {
        "a": account_id,
        "m": marketplace_id,
        "as_of": as_of,
        "since": as_of - timedelta(days=give_up_days + _EVENT_SLACK_DAYS[event]),
        "anchor_min": as_of - timedelta(days=give_up_days),
    }
    orders = _load_orders(conn, event, params)
    ctx = _load_context(conn, campaign, account_id, marketplace_id, as_of, params)

    existing: dict[str, dict[str, Any]] = {}
    for r in conn.execute(
        sa.text(
            f"SELECT order_id, status, arm, reason, detail, give_up_at FROM {SENDS} "  # noqa: S608
            "WHERE campaign = :c AND account_id = :a AND marketplace_id = :m AND ("
            "status IN ('planned', 'ineligible') OR (status = 'excluded' AND give_up_at > :as_of) "
            f"OR order_id IN (SELECT order_id FROM core.orders WHERE {_candidates(event)}))"
        ),
        {**params, "c": name},
    ):
        existing[r[0]] = {
            "status": r[1],
            "arm": r[2],
            "reason": r[3],
            "detail": r[4],
            "give_up_at": utc(r[5]),
        }

    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    base = {"c": name, "a": account_id, "run": run.run_id, "now": now}

    # Rows already there: expire, exclude, restore.
    for order_id, row in existing.items():
        status = row["status"]
        if status not in (PLANNED, INELIGIBLE, EXCLUDED):
            continue
        if row["give_up_at"] <= as_of:
            if status in (PLANNED, INELIGIBLE):
                updates.append(
                    {
                        **base,
                        "o": order_id,
                        "status": EXPIRED,
                        "arm": row["arm"],
                        "reason": "window_passed",
                        "detail": row["detail"],
                    }
                )
                run.add(name, EXPIRED, "window_passed")
            continue
        order = orders.get(order_id)
        if order is None:
            continue
        reasons = exclusion_reasons(campaign, order, ctx)
        if reasons:
            detail = _describe(reasons, campaign, order, ctx)
            if status != EXCLUDED or row["reason"] != reasons[0] or row["detail"] != detail:
                updates.append(
                    {
                        **base,
                        "o": order_id,
                        "status": EXCLUDED,
                        "arm": row["arm"],
                        "reason": reasons[0],
                        "detail": detail,
                    }
                )
                run.add(name, EXCLUDED, reasons[0])
        elif status == EXCLUDED:
            arm = row["arm"] or holdout_arm(name, order.buyer_key, order_id, campaign.holdout)
            new_status = HELD_OUT if arm == HOLDOUT else PLANNED
            updates.append(
                {
                    **base,
                    "o": order_id,
                    "status": new_status,
                    "arm": arm,
                    "reason": None,
                    "detail": None,
                }
            )
            run.add(name, "restored", new_status)

    # New rows for orders whose trigger is due.
    for order_id, order in orders.items():
        if order_id in existing:
            continue
        anchor = _anchor(campaign, order)
        if anchor is None:
            continue
        anchor_time, source = anchor
        due_at = anchor_time + timedelta(days=days)
        give_up_at = anchor_time + timedelta(days=give_up_days)
        if not due_at <= as_of < give_up_at:
            continue
        reasons = exclusion_reasons(campaign, order, ctx)
        if reasons:
            status, arm, reason = EXCLUDED, None, reasons[0]
            detail = _describe(reasons, campaign, order, ctx)
        else:
            arm = holdout_arm(name, order.buyer_key, order_id, campaign.holdout)
            status = HELD_OUT if arm == HOLDOUT else PLANNED
            reason, detail = None, None
        inserts.append(
            {
                "campaign": name,
                "account_id": account_id,
                "marketplace_id": marketplace_id,
                "order_id": order_id,
                "buyer_key": order.buyer_key,
                "channel": campaign.channel,
                "action": campaign.action,
                "arm": arm,
                "status": status,
                "reason": reason,
                "detail": detail,
                "anchor_time": anchor_time,
                "anchor_source": source,
                "due_at": due_at,
                "give_up_at": give_up_at,
                "time_zone": _time_zone(order),
                "planned_at": as_of,
                "next_check_at": due_at,
                "run_id": run.run_id,
                "updated_at": now,
            }
        )
        run.add(name, status, reason or "")

    if inserts:
        columns = list(inserts[0])
        conn.execute(
            sa.text(
                f"INSERT INTO {SENDS} ({', '.join(columns)}) VALUES "  # noqa: S608
                f"({', '.join(':' + c for c in columns)})"
            ),
            inserts,
        )
    if updates:
        conn.execute(
            sa.text(
                f"UPDATE {SENDS} SET status = :status, arm = :arm, reason = :reason, "  # noqa: S608
                "detail = :detail, run_id = :run, updated_at = :now "
                "WHERE campaign = :c AND account_id = :a AND order_id = :o"
            ),
            updates,
        )
    log.debug(
        "planned %s for %s/%s: %d new rows, %d updated",
        name,
        account_id,
        marketplace_id,
        len(inserts),
        len(updates),
    )


# -- opt-outs --------------------------------------------------------------------------------------


def add_opt_out(
    warehouse: Any,
    account_id: str,
    buyer_key: str,
    *,
    channel: str = OPT_OUT_ALL,
    since: datetime | date | None = None,
    source: str = "manual",
    note: str | None = None,
) -> bool:
    """Record that a buyer opted out of ``channel`` (``all``: every channel).

    Returns False when the opt-out was already recorded (it is left as it was).
    """
    if channel != OPT_OUT_ALL and channel not in defs.CHANNELS:
        raise ValueError(f"channel must be 'all' or one of {', '.join(defs.CHANNELS)}")
    if not buyer_key or not account_id:
        raise ValueError("account_id and buyer_key are required")
    wh = get_warehouse(warehouse)
    now = datetime.now(UTC)
    when = utc(since) if since is not None else now
    with wh.begin() as conn:
        prepare_session(conn, wh)
        found = conn.execute(
            sa.text(
                f"SELECT COUNT(*) FROM {OPT_OUTS} WHERE account_id = :a AND buyer_key = :b "  # noqa: S608
                "AND channel = :ch"
            ),
            {"a": account_id, "b": buyer_key, "ch": channel},
        ).scalar()
        if found:
            return False
        conn.execute(
            sa.text(
                f"INSERT INTO {OPT_OUTS} (account_id, buyer_key, channel, since, source, note, "  # noqa: S608
                "recorded_at) VALUES (:a, :b, :ch, :since, :source, :note, :now)"
            ),
            {
                "a": account_id,
                "b": buyer_key,
                "ch": channel,
                "since": when,
                "source": source,
                "note": note,
                "now": now,
            },
        )
    return True


def import_opt_outs_csv(warehouse: Any, path: str | Path, *, source: str = "csv") -> int:
    """Load opt-outs from a CSV with columns account_id, buyer_key[, channel, since, note].

    Returns how many were new. Rows already recorded are left alone.
    """
    path = Path(path)
    added = 0
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"account_id", "buyer_key"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for number, row in enumerate(reader, start=2):
            since_text = (row.get("since") or "").strip()
            try:
                since = resolve_as_of(since_text) if since_text else None
                added += add_opt_out(
                    warehouse,
                    (row.get("account_id") or "").strip(),
                    (row.get("buyer_key") or "").strip(),
                    channel=(row.get("channel") or OPT_OUT_ALL).strip() or OPT_OUT_ALL,
                    since=since,
                    source=source,
                    note=(row.get("note") or "").strip() or None,
                )
            except ValueError as exc:
                raise ValueError(f"{path}, line {number}: {exc}") from None
    return added


def run_plan_task(airflow_run_id: str | None = None) -> dict[str, Any]:
    """The DAG's plan task: plan every campaign of the configured file as of now."""
    run = plan_campaigns()
    if airflow_run_id:
        log.info("Airflow run %s", airflow_run_id)
    return run.as_dict()
