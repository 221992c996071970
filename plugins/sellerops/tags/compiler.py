"""Compile tag rules into parameterised SQLAlchemy Core queries.

Every identifier in the SQL comes from this module: an attribute name of a rule is
only ever a key into :data:`PROFILE_COLUMNS` (a dictionary of column objects) and a
fact name a key into the fact builders, so a name that is not on the whitelist
cannot reach the SQL text, even if validation were bypassed. Every value of a rule
(numbers, texts, lists, window starts) becomes a bound parameter.

A compiled tag is one ``SELECT`` over ``marts.buyer_profile`` (one row per account,
marketplace and buyer) returning the buyers that meet the condition, with one
boolean and one value column per leaf condition, from which the reason of a
membership is rendered. Facts become grouped subqueries over ``core.order_facts``,
``staging.stg_order_items``, ``staging.stg_returns`` and ``core.message_replies``
LEFT JOINed on (account_id, marketplace_id, buyer_key): set-based, so neither
database runs a subquery per buyer.

Leaves are two-valued: a comparison with a NULL value is false (``COALESCE(..,
false)``), so ``not`` of it is true, the same in SQL and in the reason text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from sellerops.tags import rules as r


class CompileError(ValueError):
    """A rule reached the compiler with something that is not on the whitelist."""


# -- the relations rules may read (fixed identifiers) ----------------------------------------

_NUMBER = sa.Float
_TYPES = {"number": _NUMBER, "text": sa.Text, "enum": sa.Text}

BUYER_PROFILE = sa.table(
    "buyer_profile",
    sa.column("account_id", sa.Text),
    sa.column("marketplace_id", sa.Text),
    sa.column("buyer_key", sa.Text),
    sa.column("as_of", sa.DateTime(timezone=True)),
    *(sa.column(a.name, _TYPES[a.kind]()) for a in r.ATTRIBUTES.values()),
    schema="marts",
)

ORDER_FACTS = sa.table(
    "order_facts",
    sa.column("account_id", sa.Text),
    sa.column("marketplace_id", sa.Text),
    sa.column("order_id", sa.Text),
    sa.column("buyer_key", sa.Text),
    sa.column("purchase_date", sa.Date),
    sa.column("is_cancelled", sa.Boolean),
    sa.column("fulfillment_channel", sa.Text),
    sa.column("sales_channel", sa.Text),
    sa.column("used_promotion", sa.Boolean),
    sa.column("units", sa.BigInteger),
    sa.column("return_lines", sa.BigInteger),
    sa.column("refund_lines", sa.BigInteger),
    sa.column("feedback_rating", sa.BigInteger),
    sa.column("feedback_date", sa.Date),
    schema="core",
)

ORDER_ITEMS = sa.table(
    "stg_order_items",
    sa.column("account_id", sa.Text),
    sa.column("order_id", sa.Text),
    sa.column("asin", sa.Text),
    sa.column("brand", sa.Text),
    sa.column("category", sa.Text),
    schema="staging",
)

RETURNS = sa.table(
    "stg_returns",
    sa.column("account_id", sa.Text),
    sa.column("order_id", sa.Text),
    sa.column("asin", sa.Text),
    sa.column("quantity", sa.BigInteger),
    sa.column("return_date", sa.Date),
    sa.column("reason", sa.Text),
    schema="staging",
)

MESSAGE_REPLIES = sa.table(
    "message_replies",
    sa.column("account_id", sa.Text),
    sa.column("marketplace_id", sa.Text),
    sa.column("buyer_key", sa.Text),
    sa.column("subject_kind", sa.Text),
    sa.column("sent_date", sa.Date),
    sa.column("reply_time", sa.DateTime(timezone=True)),
    sa.column("is_thread_opener", sa.Boolean),
    sa.column("is_presales", sa.Boolean),
    schema="core",
)

PROFILE_COLUMNS: dict[str, str] = {name: name for name in r.ATTRIBUTES}

# What the rules read, for documentation and the "warehouse untouched" tests.
SOURCES = (
    "marts.buyer_profile",
    "core.order_facts",
    "staging.stg_order_items",
    "staging.stg_returns",
    "core.message_replies",
)

KEYS = ("account_id", "marketplace_id", "buyer_key")


# -- compiled form --------------------------------------------------------------------------


@dataclass(frozen=True)
class Leaf:
    """One comparison or fact of a tag, as the reason text shows it."""

    index: int
    condition: Any
    label: str
    per: str | None = None


@dataclass
class CompiledTag:
    rule: r.TagRule
    version: str
    query: sa.Select
    leaves: list[Leaf] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.rule.name

    def reason(self, row: Any) -> str:
        """The conditions that held for one result row, as text."""
        return _reason(self.rule.when, self.leaves, row)

    def holds(self, row: Any) -> bool:
        """Evaluate the condition tree from the row's leaf columns (mirrors the SQL)."""
        return _holds(self.rule.when, self.leaves, row)

    def sql(self, dialect: sa.Dialect | None = None) -> str:
        """The SQL text with placeholders (never the values)."""
        return str(self.query.compile(dialect=dialect))


def window_start(as_of: datetime, days: int) -> date:
    """First UTC day of a window of ``days`` days ending on as_of's UTC date."""
    return as_of.astimezone(UTC).date() - timedelta(days=days - 1)


def compile_tag(
    rule: r.TagRule,
    *,
    as_of: datetime,
    accounts: Sequence[str] | None = None,
) -> CompiledTag:
    """The query that lists the buyers meeting ``rule`` (with one column pair per leaf).

    ``as_of`` anchors the ``within_days`` windows; ``accounts`` limits the buyers.
    """
    if as_of.tzinfo is None:
        raise CompileError("as_of must be timezone-aware")
    builder = _Builder(as_of=as_of, accounts=tuple(accounts) if accounts else None)
    predicate = builder.condition(rule.when)
    query = (
        sa.select(
            builder.p.c.account_id,
            builder.p.c.marketplace_id,
            builder.p.c.buyer_key,
            *builder.columns,
        )
        .select_from(builder.from_)
        .where(*builder.scope(builder.p), predicate)
        .order_by(builder.p.c.account_id, builder.p.c.marketplace_id, builder.p.c.buyer_key)
    )
    return CompiledTag(rule=rule, version=rule.rule_version, query=query, leaves=builder.leaves)


def compile_rules(
    rules: r.RulesFile, *, as_of: datetime, accounts: Sequence[str] | None = None
) -> list[CompiledTag]:
    """Compile every enabled tag; raises before anything runs if one cannot be compiled."""
    return [compile_tag(t, as_of=as_of, accounts=accounts) for t in rules.enabled_tags]


class _Builder:
    def __init__(self, *, as_of: datetime, accounts: tuple[str, ...] | None):
        self.as_of = as_of
        self.accounts = accounts
        self.p = BUYER_PROFILE.alias("p")
        self.from_: Any = self.p
        self.columns: list[Any] = []
        self.leaves: list[Leaf] = []

    # -- tree ----------------------------------------------------------------------

    def condition(self, node: Any) -> Any:
        if isinstance(node, r.AllOf):
            return sa.and_(*(self.condition(c) for c in node.all_))
        if isinstance(node, r.AnyOf):
            return sa.or_(*(self.condition(c) for c in node.any_))
        if isinstance(node, r.NotOf):
            return sa.not_(self.condition(node.not_))
        if isinstance(node, r.Comparison):
            return self._leaf(node, *self._comparison(node))
        if isinstance(node, r.FactCondition):
            return self._leaf(node, *self._fact(node))
        raise CompileError(f"not a condition: {type(node).__name__}")

    def _leaf(self, node: Any, held: Any, value: Any, per: str | None = None) -> Any:
        index = len(self.leaves)
        held = sa.func.coalesce(held, sa.false())
        self.columns.append(held.label(f"h{index}"))
        self.columns.append(value.label(f"v{index}"))
        self.leaves.append(Leaf(index, node, label(node), per))
        return held

    def scope(self, table: Any) -> list[Any]:
        if self.accounts is None:
            return []
        return [table.c.account_id.in_(list(self.accounts))]

    # -- leaves --------------------------------------------------------------------

    def _comparison(self, node: r.Comparison) -> tuple[Any, Any]:
        spec = r.ATTRIBUTES.get(node.attribute) if isinstance(node.attribute, str) else None
        if spec is None or node.attribute not in PROFILE_COLUMNS:
            raise CompileError(f"attribute {node.attribute!r} is not on the whitelist")
        column = self.p.c[PROFILE_COLUMNS[node.attribute]]
        allowed = r.NUMBER_OPS if spec.kind == "number" else r.TEXT_OPS
        if node.op not in allowed:
            raise CompileError(f"operator {node.op!r} is not allowed for {node.attribute!r}")
        return _compare(column, node.op, node.value, spec.kind), column

    def _fact(self, node: r.FactCondition) -> tuple[Any, Any] | tuple[Any, Any, str]:
        builder = (
            {
                "orders": self._orders,
                "feedback": self._feedback,
                "returned_units": self._returned_units,
                "messages": self._messages,
            }.get(node.fact)
            if isinstance(node.fact, str)
            else None
        )
        if builder is None:
            raise CompileError(f"fact {node.fact!r} is not on the whitelist")
        if node.op not in r.FACT_OPS:
            raise CompileError(f"operator {node.op!r} is not allowed for facts")
        spec = r.FACTS[node.fact]
        for name in r.FILTERS:
            if getattr(node, name, None) is not None and name not in spec.filters:
                raise CompileError(f"filter {name!r} does not apply to fact {node.fact!r}")
        return builder(node)

    def _join(self, sub: Any) -> None:
        self.from_ = self.from_.outerjoin(sub, sa.and_(*(sub.c[k] == self.p.c[k] for k in KEYS)))

    def _aggregate(self, keys_from: Any, measure: Any, where: list[Any], from_: Any) -> Any:
        index = len(self.leaves)
        sub = (
            sa.select(*(keys_from.c[k] for k in KEYS), measure.label("v"))
            .select_from(from_)
            .where(keys_from.c.buyer_key.is_not(None), *self.scope(keys_from), *where)
            .group_by(*(keys_from.c[k] for k in KEYS))
            .subquery(f"f{index}")
        )
        self._join(sub)
        return sa.func.coalesce(sub.c.v, 0)

    def _window(self, column: Any, node: r.FactCondition) -> list[Any]:
        if node.within_days is None:
            return []
        return [column >= window_start(self.as_of, int(node.within_days))]

    def _orders(self, node: r.FactCondition) -> tuple[Any, Any] | tuple[Any, Any, str]:
        o = ORDER_FACTS.alias(f"o{len(self.leaves)}")
        where = self._window(o.c.purchase_date, node)
        status = node.status or "placed"
        if status == "placed":
            where.append(sa.not_(o.c.is_cancelled))
        elif status == "cancelled":
            where.append(o.c.is_cancelled)
        if node.discounted is not None:
            where.append(sa.func.coalesce(o.c.used_promotion, sa.false()) == bool(node.discounted))
        if node.min_units is not None:
            where.append(o.c.units >= int(node.min_units))
        if node.max_units is not None:
            where.append(o.c.units <= int(node.max_units))
        if node.refunded is not None:
            where.append((o.c.refund_lines > 0) == bool(node.refunded))
        if node.returned is not None:
            where.append((o.c.return_lines > 0) == bool(node.returned))
        if node.fulfillment_channel is not None:
            where.append(o.c.fulfillment_channel == str(node.fulfillment_channel))
        if node.sales_channel is not None:
            where.append(o.c.sales_channel.in_(_strings(node.sales_channel)))

        i = ORDER_ITEMS.alias(f"i{len(self.leaves)}")
        item_filters = [
            i.c[name].in_(_strings(getattr(node, name)))
            for name in ("asin", "brand", "category")
            if getattr(node, name) is not None
        ]
        if node.per is None:
            if item_filters:
                where.append(
                    sa.tuple_(o.c.account_id, o.c.order_id).in_(
                        sa.select(i.c.account_id, i.c.order_id).where(*item_filters)
                    )
                )
            held_value = self._aggregate(o, sa.func.count(), where, o)
            return _compare(held_value, node.op, node.value, "number"), held_value

        # Per ASIN / brand / category: the buyer qualifies when one group meets op/value;
        # the value shown is the (alphabetically first) group that did.
        if node.per not in ("asin", "brand", "category"):
            raise CompileError(f"per {node.per!r} is not allowed")
        group = i.c[node.per]
        orders_in_group = sa.func.count(sa.distinct(o.c.order_id))
        index = len(self.leaves)
        groups = (
            sa.select(*(o.c[k] for k in KEYS), group.label("grp"))
            .select_from(
                o.join(i, sa.and_(i.c.account_id == o.c.account_id, i.c.order_id == o.c.order_id))
            )
            .where(o.c.buyer_key.is_not(None), group.is_not(None), *self.scope(o), *where)
            .where(*item_filters)
            .group_by(*(o.c[k] for k in KEYS), group)
            .having(_compare(orders_in_group, node.op, node.value, "number"))
            .subquery(f"g{index}")
        )
        sub = (
            sa.select(*(groups.c[k] for k in KEYS), sa.func.min(groups.c.grp).label("v"))
            .group_by(*(groups.c[k] for k in KEYS))
            .subquery(f"f{index}")
        )
        self._join(sub)
        return sub.c.v.is_not(None), sub.c.v, str(node.per)

    def _feedback(self, node: r.FactCondition) -> tuple[Any, Any]:
        o = ORDER_FACTS.alias(f"o{len(self.leaves)}")
        where = [o.c.feedback_rating.is_not(None), *self._window(o.c.feedback_date, node)]
        if node.min_rating is not None:
            where.append(o.c.feedback_rating >= int(node.min_rating))
        if node.max_rating is not None:
            where.append(o.c.feedback_rating <= int(node.max_rating))
        value = self._aggregate(o, sa.func.count(), where, o)
        return _compare(value, node.op, node.value, "number"), value

    def _returned_units(self, node: r.FactCondition) -> tuple[Any, Any]:
        o = ORDER_FACTS.alias(f"o{len(self.leaves)}")
        ret = RETURNS.alias(f"r{len(self.leaves)}")
        where = self._window(ret.c.return_date, node)
        if node.reason is not None:
            where.append(ret.c.reason.in_(_strings(node.reason)))
        if node.asin is not None:
            where.append(ret.c.asin.in_(_strings(node.asin)))
        joined = o.join(
            ret, sa.and_(ret.c.account_id == o.c.account_id, ret.c.order_id == o.c.order_id)
        )
        value = self._aggregate(o, sa.func.sum(ret.c.quantity), where, joined)
        return _compare(value, node.op, node.value, "number"), value

    def _messages(self, node: r.FactCondition) -> tuple[Any, Any]:
        m = MESSAGE_REPLIES.alias(f"m{len(self.leaves)}")
        where = self._window(m.c.sent_date, node)
        if node.subject_kind is not None:
            where.append(m.c.subject_kind.in_(_strings(node.subject_kind)))
        if node.presales is not None:
            opened_presales = sa.and_(
                sa.func.coalesce(m.c.is_thread_opener, sa.false()),
                sa.func.coalesce(m.c.is_presales, sa.false()),
            )
            where.append(opened_presales if node.presales else sa.not_(opened_presales))
        if node.answered is not None:
            where.append(m.c.reply_time.is_not(None) if node.answered else m.c.reply_time.is_(None))
        value = self._aggregate(m, sa.func.count(), where, m)
        return _compare(value, node.op, node.value, "number"), value


def _strings(value: Any) -> list[str]:
    items = value if isinstance(value, list | tuple) else [value]
    out = []
    for item in items:
        if not isinstance(item, str):
            raise CompileError(f"expected text, got {type(item).__name__}")
        out.append(item)
    return out


def _number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise CompileError(f"expected a number, got {type(value).__name__}")
    return value if isinstance(value, int) else float(value)


def _bind_number(value: Any) -> Any:
    number = _number(value)
    return sa.bindparam(None, number, type_=sa.BigInteger if isinstance(number, int) else sa.Float)


def _compare(expr: Any, op: str, value: Any, kind: str) -> Any:
    """``expr OP :value`` with the value bound (never rendered into the SQL text)."""
    if op == "is_null":
        return expr.is_(None)
    if op == "not_null":
        return expr.is_not(None)
    if kind == "number":
        if op == "between":
            low, high = value
            return expr.between(_bind_number(low), _bind_number(high))
        bound = _bind_number(value)
    else:
        if op in ("in", "not_in"):
            values = _strings(value)
            return expr.in_(values) if op == "in" else expr.not_in(values)
        bound = sa.bindparam(None, _strings(value)[0], type_=sa.Text)
    operators = {
        "eq": lambda: expr == bound,
        "ne": lambda: expr != bound,
        "lt": lambda: expr < bound,
        "le": lambda: expr <= bound,
        "gt": lambda: expr > bound,
        "ge": lambda: expr >= bound,
    }
    if op not in operators:
        raise CompileError(f"operator {op!r} is not allowed here")
    return operators[op]()


# -- labels and reasons ---------------------------------------------------------------------


def _show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return text
    return str(value)


def label(node: Any) -> str:
    """A condition as the operations team wrote it, e.g. ``orders >= 2``."""
    if isinstance(node, r.AllOf):
        return "all of (" + "; ".join(label(c) for c in node.all_) + ")"
    if isinstance(node, r.AnyOf):
        return "any of (" + "; ".join(label(c) for c in node.any_) + ")"
    if isinstance(node, r.NotOf):
        return "not (" + label(node.not_) + ")"
    symbol = r.SYMBOLS.get(node.op, node.op)
    if isinstance(node, r.Comparison):
        subject = node.attribute
    else:
        filters = []
        for name in r.FILTERS:
            value = getattr(node, name, None)
            if value is None or name == "per":
                continue
            if isinstance(value, bool):
                filters.append(name if value else f"not {name}")
            elif name == "within_days":
                filters.append(f"in the last {value} days")
            else:
                filters.append(f"{name} {_show(value)}")
        subject = node.fact
        if node.per:
            subject += f" per {node.per}"
        if filters:
            subject += " (" + ", ".join(filters) + ")"
    if node.op in ("is_null", "not_null"):
        return f"{subject} {symbol}"
    if node.op == "between":
        low, high = node.value
        return f"{subject} between {_show(low)} and {_show(high)}"
    return f"{subject} {symbol} {_show(node.value)}"


def _held(leaf: Leaf, row: Any) -> bool:
    return bool(_get(row, f"h{leaf.index}"))


def _get(row: Any, key: str) -> Any:
    mapping = getattr(row, "_mapping", row)
    return mapping[key]


def _holds(node: Any, leaves: list[Leaf], row: Any) -> bool:
    iterator = iter(leaves)

    def walk(n: Any) -> bool:
        if isinstance(n, r.AllOf):
            return all([walk(c) for c in n.all_])
        if isinstance(n, r.AnyOf):
            return any([walk(c) for c in n.any_])
        if isinstance(n, r.NotOf):
            return not walk(n.not_)
        return _held(next(iterator), row)

    return walk(node)


def _reason(node: Any, leaves: list[Leaf], row: Any) -> str:
    """Which conditions held, with the buyer's values: ``orders >= 2 (4); ...``."""
    iterator = iter(leaves)

    def walk(n: Any) -> tuple[bool, list[str]]:
        if isinstance(n, r.AllOf | r.AnyOf):
            children = [walk(c) for c in (n.all_ if isinstance(n, r.AllOf) else n.any_)]
            held = [text for ok, texts in children if ok for text in texts]
            if isinstance(n, r.AllOf):
                return all(ok for ok, _ in children), held
            return any(ok for ok, _ in children), held
        if isinstance(n, r.NotOf):
            ok, _ = walk(n.not_)
            return (not ok), [f"not ({label(n.not_)})"]
        leaf = next(iterator)
        value = _get(row, f"v{leaf.index}")
        shown = "null" if value is None else _show(_plain(value))
        if leaf.per:
            shown = f"{leaf.per} {shown}"
        return _held(leaf, row), [f"{leaf.label} ({shown})"]

    _, texts = walk(node)
    return "; ".join(texts)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
