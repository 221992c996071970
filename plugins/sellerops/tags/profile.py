"""One buyer's profile for people: ``sellerops buyer show --account A --buyer-key K``.

:func:`buyer_show` renders, for every marketplace of the account where the buyer
is known: orders, amount, units, average order value, when they bought,
categories and brands, returns and refunds, feedback given, messages, lifecycle
and RFM, and the tags they carry now with the reason each was given (plus the
tags they carried before). Read-only.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from sellerops.tags.materialise import (
    CURRENT_VIEW,
    TAGS_TABLE,
    prepare_session,
    relation_exists,
    utc,
)
from sellerops.warehouse import Warehouse

ZERO_DECIMAL_CURRENCIES = {"JPY"}
MAX_PURCHASES_SHOWN = 20
MAX_HISTORY_SHOWN = 10


class BuyerNotFound(LookupError):
    pass


def _money(value: Any, currency: str | None) -> str:
    if value is None:
        return "-"
    amount = float(value) if isinstance(value, Decimal) else float(value)
    digits = 0 if currency in ZERO_DECIMAL_CURRENCIES else 2
    return f"{amount:,.{digits}f}" + (f" {currency}" if currency else "")


def _when(value: Any, with_time: bool = True) -> str:
    moment = utc(value)
    if moment is None:
        return "-"
    return moment.strftime("%Y-%m-%d %H:%M UTC" if with_time else "%Y-%m-%d")


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() else f"{value:.2f}"
    return str(value)


def _rows(conn: sa.Connection, sql: str, **params: Any) -> list[Any]:
    return conn.execute(sa.text(sql), params).fetchall()


def buyer_show(warehouse: Warehouse, account_id: str, buyer_key: str) -> str:
    """The buyer's profile as text; :class:`BuyerNotFound` when the warehouse has no trace of them."""
    with warehouse.connect() as conn:
        prepare_session(conn, warehouse)
        has_profile = relation_exists(conn, "marts.buyer_profile")
        has_tags = relation_exists(conn, TAGS_TABLE)
        profiles = (
            {
                r.marketplace_id: r
                for r in _rows(
                    conn,
                    "SELECT * FROM marts.buyer_profile WHERE account_id = :a AND buyer_key = :b "
                    "ORDER BY marketplace_id",
                    a=account_id,
                    b=buyer_key,
                )
            }
            if has_profile
            else {}
        )
        tag_marketplaces = (
            [
                r[0]
                for r in _rows(
                    conn,
                    f"SELECT DISTINCT marketplace_id FROM {TAGS_TABLE} "  # noqa: S608
                    "WHERE account_id = :a AND buyer_key = :b",
                    a=account_id,
                    b=buyer_key,
                )
            ]
            if has_tags
            else []
        )
        marketplaces = sorted(set(profiles) | set(tag_marketplaces))
        if not marketplaces:
            raise BuyerNotFound(
                f"no buyer {buyer_key!r} in account {account_id!r} (not in marts.buyer_profile; "
                "build the models if they are new)"
            )
        sections = []
        for marketplace_id in marketplaces:
            sections.append(
                _section(
                    conn,
                    account_id,
                    marketplace_id,
                    buyer_key,
                    profiles.get(marketplace_id),
                    has_tags,
                )
            )
        conn.rollback()
    return "\n\n".join(sections) + "\n"


def _section(
    conn: sa.Connection,
    account_id: str,
    marketplace_id: str,
    buyer_key: str,
    profile: Any,
    has_tags: bool,
) -> str:
    currency = conn.execute(
        sa.text("SELECT currency FROM core.marketplaces WHERE marketplace_id = :m"),
        {"m": marketplace_id},
    ).scalar()
    key = {"a": account_id, "m": marketplace_id, "b": buyer_key}
    head = f"Buyer {buyer_key} - account {account_id}, marketplace {marketplace_id}"
    lines = [head, "=" * len(head)]
    rows: list[tuple[str, str]] = []
    if profile is None:
        lines.append("  (no row in marts.buyer_profile: build the models to see the profile)")
    else:
        p = profile._mapping
        lines.append(f"  profile as of {_when(p['as_of'])}")
        rows.append(
            (
                "Orders",
                f"{p['orders']} (first {_when(p['first_order_time'], False)}, last "
                f"{_when(p['last_order_time'], False)}"
                + (
                    f", {p['days_since_last_order']} days ago"
                    if p["days_since_last_order"] is not None
                    else ""
                )
                + f"); cancelled {p['cancelled_orders']}",
            )
        )
        rows.append(("Amount", _money(p["revenue"], currency)))
        units = str(p["units"])
        if p["max_units_per_order"] is not None:
            units += f" (at most {_number(p['max_units_per_order'])} in one order)"
        rows.append(("Units", units))
        rows.append(("Average order", _money(p["average_order_value"], currency)))
        rows.append(("Discounted orders", str(p["discounted_orders"])))
        if relation_exists(conn, "core.order_facts"):
            purchases = _rows(
                conn,
                "SELECT order_id, purchase_time, order_status, is_cancelled, units, revenue, "
                "used_promotion FROM core.order_facts WHERE account_id = :a AND "
                "marketplace_id = :m AND buyer_key = :b ORDER BY purchase_time, order_id",
                **key,
            )
            shown = [
                f"{_when(o.purchase_time, False)} {o.order_id} {o.units} u "
                f"{_money(o.revenue, currency)}"
                + (" promo" if o.used_promotion else "")
                + (" CANCELLED" if o.is_cancelled else "")
                for o in purchases[-MAX_PURCHASES_SHOWN:]
            ]
            more = len(purchases) - len(shown)
            rows.append(
                (
                    "Times bought",
                    (f"({more} earlier) " if more else "") + ("\n" + " " * 24).join(shown)
                    if shown
                    else "never",
                )
            )
            if relation_exists(conn, "staging.stg_order_items"):
                categories = _rows(
                    conn,
                    "SELECT COALESCE(i.category, 'uncatalogued') AS category, "
                    "SUM(i.quantity) AS units FROM staging.stg_order_items AS i "
                    "JOIN core.order_facts AS o ON o.account_id = i.account_id "
                    "AND o.order_id = i.order_id WHERE o.account_id = :a AND "
                    "o.marketplace_id = :m AND o.buyer_key = :b AND NOT o.is_cancelled "
                    "GROUP BY COALESCE(i.category, 'uncatalogued') ORDER BY 2 DESC, 1",
                    **key,
                )
                rows.append(
                    (
                        "Categories",
                        ", ".join(f"{c.category} ({c.units} u)" for c in categories) or "-",
                    )
                )
            feedback = _rows(
                conn,
                "SELECT order_id, feedback_rating, feedback_date FROM core.order_facts "
                "WHERE account_id = :a AND marketplace_id = :m AND buyer_key = :b "
                "AND feedback_rating IS NOT NULL ORDER BY feedback_date, order_id",
                **key,
            )
            rows.append(
                (
                    "Feedback given",
                    ", ".join(
                        f"{f.feedback_rating}/5 on {_when(f.feedback_date, False)} ({f.order_id})"
                        for f in feedback
                    )
                    or "none",
                )
            )
        share = p["main_brand_unit_share"]
        rows.append(
            (
                "Main category/brand",
                f"{p['main_category'] or '-'} / {p['main_brand'] or '-'}"
                + (f" ({float(share):.0%} of branded units)" if share is not None else ""),
            )
        )
        rows.append(
            (
                "Location",
                f"{p['ship_state'] or '?'}, {p['time_zone'] or 'unknown time zone'}"
                + (f" ({p['time_zone_group']})" if p["time_zone_group"] else ""),
            )
        )
        rows.append(
            (
                "Returns, refunds",
                f"{p['returned_units']} units returned; {p['refunded_orders']} orders refunded "
                f"({_money(p['refunded_amount'], currency)})",
            )
        )
        rows.append(
            (
                "Feedback summary",
                f"{p['positive_feedback']} positive, {p['negative_feedback']} negative",
            )
        )
        last_message = None
        if relation_exists(conn, "core.message_replies"):
            last_message = conn.execute(
                sa.text(
                    "SELECT MAX(sent_time) FROM core.message_replies WHERE account_id = :a "
                    "AND marketplace_id = :m AND buyer_key = :b"
                ),
                key,
            ).scalar()
        rows.append(
            (
                "Messages",
                f"{p['buyer_messages']} sent, {p['presales_inquiries']} pre-sales inquiries"
                + (f"; last {_when(last_message)}" if last_message is not None else ""),
            )
        )
        p_alive = p["p_alive"]
        rows.append(
            (
                "Lifecycle, RFM",
                f"{p['lifecycle_stage']}; RFM {p['rfm_score'] or '-'} "
                f"({p['rfm_segment'] or 'no orders'})"
                + (f"; p_alive {float(p_alive):.2f}" if p_alive is not None else ""),
            )
        )
    for label, value in rows:
        lines.append(f"  {label + ':':22}{value}")

    if has_tags:
        current = _rows(
            conn,
            "SELECT tag, source, rule_version, valid_from, reason "  # noqa: S608
            f"FROM {CURRENT_VIEW} WHERE account_id = :a AND marketplace_id = :m "
            "AND buyer_key = :b ORDER BY tag, source",
            **key,
        )
        lines.append("  Tags:" if current else "  Tags: none")
        for t in current:
            version = "" if t.source == "manual" else f" v{t.rule_version}"
            lines.append(
                f"    - {t.tag} ({t.source}{version}, since {_when(t.valid_from)}): "
                f"{t.reason or ''}".rstrip()
            )
        history = _rows(
            conn,
            "SELECT tag, source, valid_from, valid_to FROM "  # noqa: S608
            f"{TAGS_TABLE} WHERE account_id = :a AND marketplace_id = :m AND buyer_key = :b "
            "AND valid_to IS NOT NULL ORDER BY valid_to DESC, tag",
            **key,
        )
        if history:
            lines.append("  Earlier tags:")
            for t in history[:MAX_HISTORY_SHOWN]:
                lines.append(
                    f"    - {t.tag} ({t.source}) {_when(t.valid_from)} to {_when(t.valid_to)}"
                )
            if len(history) > MAX_HISTORY_SHOWN:
                lines.append(f"    ... and {len(history) - MAX_HISTORY_SHOWN} more")
    return "\n".join(lines)
