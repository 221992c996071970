"""Buyer tag rules: the YAML file the operations team writes, validated by pydantic.

A rules file (``include/tags.yaml``; ``include/tags.schema.json`` is its JSON schema,
for editors) lists tags. Each tag has a ``name``, a ``description``, an ``owner``
and a condition ``when`` over one buyer of ``marts.buyer_profile`` (one account x
marketplace x buyer_key)::

    tags:
      - name: discount_responsive
        description: Bought more than 2 units in a discounted order and came back.
        owner: ops-team
        when:
          all:
            - {fact: orders, discounted: true, min_units: 3, op: ">=", value: 1}
            - {attribute: orders, op: ">=", value: 2}

A condition is one of

``{all: [condition, ...]}`` / ``{any: [condition, ...]}`` / ``{not: condition}``
    combine conditions;
``{attribute: NAME, op: OP, value: V}``
    compares a column of ``marts.buyer_profile`` (:data:`ATTRIBUTES`);
``{fact: NAME, <filters>, op: OP, value: V}``
    compares a count or sum over the buyer's orders, feedback, returns or messages,
    narrowed by the fact's filters (:data:`FACTS`), e.g. orders of a brand in the
    last 90 days.

Operators: ``=`` ``!=`` ``<`` ``<=`` ``>`` ``>=`` (or ``eq ne lt le gt ge``),
``between`` (``value: [low, high]``, both included), ``in`` / ``not_in`` (a list),
``is_null`` / ``not_null`` (no value). A comparison with a missing (NULL) value is
false, and ``not`` of it is true: conditions are always true or false.

Attribute and fact names come from fixed whitelists and values must have the
attribute's type, so a rule can only ever become a comparison of a known column
with a bound value (:mod:`sellerops.tags.compiler`). :func:`load_rules` reports every
problem with the file, the tag and the attribute, and what is allowed instead.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from sellerops.paths import INCLUDE_DIR

RULES_ENV = "SELLEROPS_TAGS_FILE"
DEFAULT_RULES_FILE = INCLUDE_DIR / "tags.yaml"
SCHEMA_FILE = INCLUDE_DIR / "tags.schema.json"

# Bumped when the meaning of a compiled rule changes: every rule_version changes with it.
SEMANTICS_VERSION = "1"

TAG_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
TAG_NAME_HELP = "1-63 characters of lowercase letters, digits and '_', starting with a letter"

MAX_TAGS = 500
MAX_CONDITIONS_PER_TAG = 64
MAX_DEPTH = 8
MAX_LIST_ITEMS = 200
MAX_TEXT = 200
MAX_DAYS = 3650


class RulesError(ValueError):
    """The rules file is missing, not YAML, or not a valid set of rules."""


# -- the whitelists ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Attribute:
    name: str
    kind: Literal["number", "text", "enum"]
    doc: str
    choices: tuple[str, ...] = ()


LIFECYCLE_STAGES = ("potential", "new", "growing", "mature", "at_risk", "churned")
RFM_SEGMENTS = (
    "champions",
    "loyal",
    "promising",
    "needs_attention",
    "slipping",
    "hibernating",
)
TIME_ZONE_GROUPS = (
    "Eastern",
    "Central",
    "Mountain",
    "Pacific",
    "Alaska",
    "Hawaii",
    "Atlantic",
    "Other",
)


def _a(name: str, kind: str, doc: str, choices: tuple[str, ...] = ()) -> Attribute:
    return Attribute(name, kind, doc, choices)  # type: ignore[arg-type]


# Columns of marts.buyer_profile a rule may read (definitions: include/sql/dictionary.yaml).
ATTRIBUTES: dict[str, Attribute] = {
    a.name: a
    for a in (
        _a("orders", "number", "non-cancelled orders"),
        _a("units", "number", "units in those orders"),
        _a("revenue", "number", "revenue (item price - promotion discount)"),
        _a("average_order_value", "number", "revenue / orders"),
        _a("discounted_orders", "number", "orders that used a promotion"),
        _a("max_units_per_order", "number", "largest units in one order"),
        _a("distinct_asins", "number", "different ASINs bought"),
        _a("main_category", "text", "category with the most units ('unknown' if none)"),
        _a("main_brand", "text", "brand with the most units ('unknown' if none)"),
        _a("main_brand_unit_share", "number", "units of main_brand / units of known brands"),
        _a("ship_state", "text", "state of the latest resolved address, e.g. CA or JP-13"),
        _a("time_zone", "text", "IANA time zone of that address, e.g. America/Chicago"),
        _a("time_zone_group", "enum", "US time-zone group of time_zone", TIME_ZONE_GROUPS),
        _a("cancelled_orders", "number", "cancelled orders"),
        _a("returned_units", "number", "units returned"),
        _a("refunded_orders", "number", "orders with a refund"),
        _a("refunded_amount", "number", "refunds posted on the buyer's orders"),
        _a("negative_feedback", "number", "orders with 1-2 star feedback"),
        _a("positive_feedback", "number", "orders with 4-5 star feedback"),
        _a("buyer_messages", "number", "messages the buyer sent"),
        _a("presales_inquiries", "number", "pre-sales threads the buyer opened"),
        _a("days_since_last_order", "number", "days from the last order to as_of"),
        _a("lifecycle_stage", "enum", "lifecycle stage", LIFECYCLE_STAGES),
        _a("recency_score", "number", "RFM recency quintile 1-5"),
        _a("frequency_score", "number", "RFM frequency quintile 1-5"),
        _a("monetary_score", "number", "RFM monetary quintile 1-5"),
        _a("rfm_score", "text", "the three RFM scores as text, e.g. '542'"),
        _a("rfm_segment", "enum", "RFM segment", RFM_SEGMENTS),
        _a("p_alive", "number", "probability the buyer is still active (0-1)"),
        _a("expected_orders_90d", "number", "expected purchase days in the next 90 days"),
        _a("predicted_value_365d", "number", "expected revenue in the next 365 days"),
    )
}

# operator spellings -> canonical name
OPERATORS: dict[str, str] = {
    "=": "eq",
    "==": "eq",
    "eq": "eq",
    "!=": "ne",
    "<>": "ne",
    "ne": "ne",
    "<": "lt",
    "lt": "lt",
    "<=": "le",
    "le": "le",
    ">": "gt",
    "gt": "gt",
    ">=": "ge",
    "ge": "ge",
    "between": "between",
    "in": "in",
    "not_in": "not_in",
    "is_null": "is_null",
    "not_null": "not_null",
}
SYMBOLS = {
    "eq": "=",
    "ne": "!=",
    "lt": "<",
    "le": "<=",
    "gt": ">",
    "ge": ">=",
    "between": "between",
    "in": "in",
    "not_in": "not in",
    "is_null": "is null",
    "not_null": "is not null",
}
NUMBER_OPS = ("eq", "ne", "lt", "le", "gt", "ge", "between", "is_null", "not_null")
TEXT_OPS = ("eq", "ne", "in", "not_in", "is_null", "not_null")
FACT_OPS = ("eq", "ne", "lt", "le", "gt", "ge", "between")


@dataclass(frozen=True)
class Filter:
    name: str
    kind: Literal["days", "bool", "texts", "choice", "count", "rating"]
    doc: str
    choices: tuple[str, ...] = ()


FILTERS: dict[str, Filter] = {
    f.name: f
    for f in (
        Filter("within_days", "days", "only events dated in the last N UTC days up to as_of"),
        Filter(
            "status",
            "choice",
            "placed (default: not cancelled), cancelled or any",
            ("placed", "cancelled", "any"),
        ),
        Filter("discounted", "bool", "the order used a promotion (or did not)"),
        Filter("min_units", "count", "the order has at least N units"),
        Filter("max_units", "count", "the order has at most N units"),
        Filter("refunded", "bool", "the order has a refund (or has none)"),
        Filter("returned", "bool", "the order has a return line (or has none)"),
        Filter("fulfillment_channel", "choice", "AFN or MFN", ("AFN", "MFN")),
        Filter("sales_channel", "texts", "sales channel(s), e.g. Amazon.com"),
        Filter("asin", "texts", "ASIN(s) bought in the order (returns: of the return line)"),
        Filter("brand", "texts", "catalogue brand(s) bought in the order"),
        Filter("category", "texts", "catalogue category(ies) bought in the order"),
        Filter(
            "per",
            "choice",
            "count per ASIN, brand or category: holds when one of them satisfies op/value",
            ("asin", "brand", "category"),
        ),
        Filter("min_rating", "rating", "feedback of at least N stars (1-5)"),
        Filter("max_rating", "rating", "feedback of at most N stars (1-5)"),
        Filter("reason", "texts", "Amazon return reason code(s), e.g. DEFECTIVE"),
        Filter(
            "subject_kind",
            "texts",
            "message kind(s): presales_inquiry, order_inquiry, return, other",
        ),
        Filter("presales", "bool", "the message opened a pre-sales thread (or did not)"),
        Filter("answered", "bool", "the message got a seller reply (or did not)"),
    )
}


@dataclass(frozen=True)
class Fact:
    name: str
    doc: str
    filters: tuple[str, ...]


FACTS: dict[str, Fact] = {
    f.name: f
    for f in (
        Fact(
            "orders",
            "number of the buyer's orders (core.order_facts) that pass the filters",
            (
                "within_days",
                "status",
                "discounted",
                "min_units",
                "max_units",
                "refunded",
                "returned",
                "fulfillment_channel",
                "sales_channel",
                "asin",
                "brand",
                "category",
                "per",
            ),
        ),
        Fact(
            "feedback",
            "number of seller-feedback entries on the buyer's orders",
            ("within_days", "min_rating", "max_rating"),
        ),
        Fact(
            "returned_units",
            "units returned from the buyer's orders (staging.stg_returns)",
            ("within_days", "reason", "asin"),
        ),
        Fact(
            "messages",
            "number of messages the buyer sent (core.message_replies)",
            ("within_days", "subject_kind", "presales", "answered"),
        ),
    )
}


def _allowed(names: Any) -> str:
    return ", ".join(sorted(names))


def _text_ok(value: str, what: str) -> str:
    if not value.strip():
        raise ValueError(f"{what} must not be blank")
    if len(value) > MAX_TEXT:
        raise ValueError(f"{what} is longer than {MAX_TEXT} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError(f"{what} must not contain control characters")
    return value


def _texts(value: Any, what: str) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else [value]
    if not items:
        raise ValueError(f"{what} needs at least one value")
    if len(items) > MAX_LIST_ITEMS:
        raise ValueError(f"{what} takes at most {MAX_LIST_ITEMS} values")
    out = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"{what} takes text; got {item!r} (quote it in YAML)")
        out.append(_text_ok(item, what))
    return tuple(out)


def _number(value: Any, what: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number; got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number; got {value!r}")
    if abs(value) > 1e15:
        raise ValueError(f"{what} is out of range; got {value!r}")
    return value


def _canonical_op(op: Any, allowed: tuple[str, ...], subject: str) -> str:
    spelled = ", ".join(k for k in OPERATORS if OPERATORS[k] in allowed)
    if not isinstance(op, str) or op.strip() not in OPERATORS:
        raise ValueError(f"{subject}: operator {op!r} is not allowed; allowed: {spelled}")
    canonical = OPERATORS[op.strip()]
    if canonical not in allowed:
        raise ValueError(f"{subject}: operator {op!r} is not allowed; allowed: {spelled}")
    return canonical


def _numeric_value(op: str, value: Any, subject: str) -> Any:
    if op in ("is_null", "not_null"):
        if value is not None:
            raise ValueError(f"{subject}: '{op}' takes no value")
        return None
    if op == "between":
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise ValueError(f"{subject}: 'between' takes [low, high]; got {value!r}")
        low = _number(value[0], f"{subject}: low bound")
        high = _number(value[1], f"{subject}: high bound")
        if low > high:
            raise ValueError(f"{subject}: 'between' needs low <= high; got {value!r}")
        return (low, high)
    if value is None:
        raise ValueError(f"{subject}: a value is required")
    return _number(value, f"{subject}: value")


def _text_value(op: str, value: Any, subject: str, choices: tuple[str, ...]) -> Any:
    if op in ("is_null", "not_null"):
        if value is not None:
            raise ValueError(f"{subject}: '{op}' takes no value")
        return None
    if value is None:
        raise ValueError(f"{subject}: a value is required")
    if op in ("in", "not_in"):
        if not isinstance(value, list | tuple):
            raise ValueError(f"{subject}: '{op}' takes a list; got {value!r}")
        values = _texts(list(value), f"{subject}: value")
    else:
        if isinstance(value, list | tuple):
            raise ValueError(f"{subject}: '{op}' takes one value; use 'in' for a list")
        values = _texts(value, f"{subject}: value")
    if choices:
        wrong = [v for v in values if v not in choices]
        if wrong:
            raise ValueError(
                f"{subject}: value {wrong[0]!r} is not allowed; allowed: {', '.join(choices)}"
            )
    return values if op in ("in", "not_in") else values[0]


# -- the condition models ---------------------------------------------------------------------

_STRICT = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Comparison(BaseModel):
    """Compare a column of marts.buyer_profile with a value."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"required": ["attribute", "op"]},
    )
    KIND: ClassVar[str] = "comparison"

    attribute: str = Field(
        description="a column of marts.buyer_profile",
        json_schema_extra={"enum": sorted(ATTRIBUTES)},
    )
    op: str = Field(
        description="operator",
        json_schema_extra={"enum": sorted(OPERATORS)},
    )
    value: Any = Field(
        default=None,
        description="a number or text; [low, high] for between; a list for in / not_in",
    )

    @model_validator(mode="before")
    @classmethod
    def _check(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        name = data.get("attribute")
        if not isinstance(name, str) or name not in ATTRIBUTES:
            raise ValueError(f"attribute {name!r} is not allowed; allowed: {_allowed(ATTRIBUTES)}")
        spec = ATTRIBUTES[name]
        subject = f"attribute {name!r}"
        allowed = NUMBER_OPS if spec.kind == "number" else TEXT_OPS
        op = _canonical_op(data.get("op"), allowed, subject)
        if spec.kind == "number":
            value = _numeric_value(op, data.get("value"), subject)
        else:
            value = _text_value(op, data.get("value"), subject, spec.choices)
        return {**data, "op": op, "value": value}


class FactCondition(BaseModel):
    """Compare an aggregate over the buyer's orders, feedback, returns or messages."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    KIND: ClassVar[str] = "fact_condition"

    fact: str = Field(description="what to count", json_schema_extra={"enum": sorted(FACTS)})
    op: str = Field(
        description="operator",
        json_schema_extra={"enum": sorted(k for k, v in OPERATORS.items() if v in FACT_OPS)},
    )
    value: Any = Field(default=None, description="a number, or [low, high] for between")
    within_days: int | None = Field(default=None, description=FILTERS["within_days"].doc)
    status: Literal["placed", "cancelled", "any"] | None = Field(
        default=None, description=FILTERS["status"].doc
    )
    discounted: bool | None = Field(default=None, description=FILTERS["discounted"].doc)
    min_units: int | None = Field(default=None, description=FILTERS["min_units"].doc)
    max_units: int | None = Field(default=None, description=FILTERS["max_units"].doc)
    refunded: bool | None = Field(default=None, description=FILTERS["refunded"].doc)
    returned: bool | None = Field(default=None, description=FILTERS["returned"].doc)
    fulfillment_channel: Literal["AFN", "MFN"] | None = Field(
        default=None, description=FILTERS["fulfillment_channel"].doc
    )
    sales_channel: str | list[str] | None = Field(
        default=None, description=FILTERS["sales_channel"].doc
    )
    asin: str | list[str] | None = Field(default=None, description=FILTERS["asin"].doc)
    brand: str | list[str] | None = Field(default=None, description=FILTERS["brand"].doc)
    category: str | list[str] | None = Field(default=None, description=FILTERS["category"].doc)
    per: Literal["asin", "brand", "category"] | None = Field(
        default=None, description=FILTERS["per"].doc
    )
    min_rating: int | None = Field(default=None, description=FILTERS["min_rating"].doc)
    max_rating: int | None = Field(default=None, description=FILTERS["max_rating"].doc)
    reason: str | list[str] | None = Field(default=None, description=FILTERS["reason"].doc)
    subject_kind: str | list[str] | None = Field(
        default=None, description=FILTERS["subject_kind"].doc
    )
    presales: bool | None = Field(default=None, description=FILTERS["presales"].doc)
    answered: bool | None = Field(default=None, description=FILTERS["answered"].doc)

    @model_validator(mode="before")
    @classmethod
    def _check(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        name = data.get("fact")
        if not isinstance(name, str) or name not in FACTS:
            raise ValueError(f"fact {name!r} is not allowed; allowed: {_allowed(FACTS)}")
        spec = FACTS[name]
        subject = f"fact {name!r}"
        given = [k for k in data if k not in ("fact", "op", "value")]
        unknown = [k for k in given if k not in FILTERS]
        if unknown:
            raise ValueError(
                f"{subject}: {unknown[0]!r} is not a filter; allowed: {_allowed(spec.filters)}"
            )
        wrong = [k for k in given if k not in spec.filters]
        if wrong:
            raise ValueError(
                f"{subject}: filter {wrong[0]!r} does not apply; allowed: {_allowed(spec.filters)}"
            )
        out = dict(data)
        for key in given:
            out[key] = _filter_value(FILTERS[key], data[key], subject)
        if (
            out.get("min_rating") is not None
            and out.get("max_rating") is not None
            and out["min_rating"] > out["max_rating"]
        ):
            raise ValueError(f"{subject}: min_rating is above max_rating")
        if (
            out.get("min_units") is not None
            and out.get("max_units") is not None
            and out["min_units"] > out["max_units"]
        ):
            raise ValueError(f"{subject}: min_units is above max_units")
        op = _canonical_op(data.get("op"), FACT_OPS, subject)
        out["op"] = op
        out["value"] = _numeric_value(op, data.get("value"), subject)
        return out


def _filter_value(spec: Filter, value: Any, subject: str) -> Any:
    what = f"{subject}: filter {spec.name!r}"
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{what} must be true or false; got {value!r}")
        return value
    if spec.kind in ("days", "count", "rating"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{what} must be a whole number; got {value!r}")
        low, high = {"days": (1, MAX_DAYS), "count": (1, 1_000_000), "rating": (1, 5)}[spec.kind]
        if not low <= value <= high:
            raise ValueError(f"{what} must be between {low} and {high}; got {value!r}")
        return value
    if spec.kind == "choice":
        if value not in spec.choices:
            raise ValueError(
                f"{what}: {value!r} is not allowed; allowed: {', '.join(spec.choices)}"
            )
        return value
    values = _texts(value, what)
    return list(values)


def _condition_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        present = [k for k in ("all", "any", "not", "attribute", "fact") if k in value]
        if len(present) != 1:
            return None
        return {
            "all": "all_of",
            "any": "any_of",
            "not": "not_of",
            "attribute": "comparison",
            "fact": "fact_condition",
        }[present[0]]
    return getattr(value, "KIND", None)


class AllOf(BaseModel):
    """True when every condition holds."""

    model_config = _STRICT
    KIND: ClassVar[str] = "all_of"
    all_: list[Condition] = Field(alias="all", min_length=1, max_length=MAX_CONDITIONS_PER_TAG)


class AnyOf(BaseModel):
    """True when at least one condition holds."""

    model_config = _STRICT
    KIND: ClassVar[str] = "any_of"
    any_: list[Condition] = Field(alias="any", min_length=1, max_length=MAX_CONDITIONS_PER_TAG)


class NotOf(BaseModel):
    """True when the condition does not hold."""

    model_config = _STRICT
    KIND: ClassVar[str] = "not_of"
    not_: Condition = Field(alias="not")


UNION_TAGS = ("all_of", "any_of", "not_of", "comparison", "fact_condition")

Condition = Annotated[
    Annotated[AllOf, Tag("all_of")]
    | Annotated[AnyOf, Tag("any_of")]
    | Annotated[NotOf, Tag("not_of")]
    | Annotated[Comparison, Tag("comparison")]
    | Annotated[FactCondition, Tag("fact_condition")],
    Discriminator(
        _condition_kind,
        custom_error_type="condition",
        custom_error_message=(
            "a condition is a mapping with exactly one of: all, any, not, attribute, fact"
        ),
    ),
]

AllOf.model_rebuild()
AnyOf.model_rebuild()
NotOf.model_rebuild()


def leaves(condition: Any) -> list[Comparison | FactCondition]:
    """The comparisons and facts of a condition tree, depth first, left to right."""
    if isinstance(condition, AllOf):
        return [leaf for child in condition.all_ for leaf in leaves(child)]
    if isinstance(condition, AnyOf):
        return [leaf for child in condition.any_ for leaf in leaves(child)]
    if isinstance(condition, NotOf):
        return leaves(condition.not_)
    return [condition]


def depth(condition: Any) -> int:
    if isinstance(condition, AllOf):
        return 1 + max(depth(c) for c in condition.all_)
    if isinstance(condition, AnyOf):
        return 1 + max(depth(c) for c in condition.any_)
    if isinstance(condition, NotOf):
        return 1 + depth(condition.not_)
    return 1


def normalised(condition: Any) -> Any:
    """A plain, order-insensitive-where-it-should-be form of a condition (for the version)."""
    if isinstance(condition, AllOf):
        return {"all": [normalised(c) for c in condition.all_]}
    if isinstance(condition, AnyOf):
        return {"any": [normalised(c) for c in condition.any_]}
    if isinstance(condition, NotOf):
        return {"not": normalised(condition.not_)}
    data = condition.model_dump(mode="json", exclude_none=True)
    for key, value in list(data.items()):
        if isinstance(value, list) and key != "value":
            data[key] = sorted(value)
    if data.get("op") in ("in", "not_in"):
        data["value"] = sorted(data["value"])
    return data


class TagRule(BaseModel):
    """One tag: who it is for, who owns it, and when a buyer carries it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        description=f"the tag: {TAG_NAME_HELP}", json_schema_extra={"pattern": TAG_NAME.pattern}
    )
    description: str = Field(min_length=1, max_length=2000, description="what the group is for")
    owner: str = Field(min_length=1, max_length=200, description="team or person who owns it")
    enabled: bool = Field(default=True, description="false: evaluate nothing, close memberships")
    when: Condition = Field(description="the condition a buyer must meet")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not TAG_NAME.fullmatch(value):
            raise ValueError(f"tag name {value!r} is not valid: {TAG_NAME_HELP}")
        return value

    @field_validator("description", "owner")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        if "\x00" in value or not value.strip():
            raise ValueError("must be non-blank text without NUL characters")
        return value

    @model_validator(mode="after")
    def _limits(self) -> TagRule:
        count = len(leaves(self.when))
        if count > MAX_CONDITIONS_PER_TAG:
            raise ValueError(f"more than {MAX_CONDITIONS_PER_TAG} conditions ({count})")
        if depth(self.when) > MAX_DEPTH:
            raise ValueError(f"conditions nested deeper than {MAX_DEPTH} levels")
        return self

    @property
    def rule_version(self) -> str:
        """Short hash of the normalised condition: editing the rule changes it."""
        text = json.dumps(
            {"semantics": SEMANTICS_VERSION, "when": normalised(self.when)},
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


class RulesFile(BaseModel):
    """The buyer tag rules."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="SellerOps buyer tag rules",
        json_schema_extra={"additionalProperties": False},
    )

    version: Literal[1] = Field(default=1, description="format version of this file")
    tags: list[TagRule] = Field(default_factory=list, max_length=MAX_TAGS)

    @field_validator("tags")
    @classmethod
    def _unique(cls, value: list[TagRule]) -> list[TagRule]:
        names = [t.name for t in value]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"tag names must be unique; repeated: {repeated}")
        return value

    @property
    def enabled_tags(self) -> list[TagRule]:
        return [t for t in self.tags if t.enabled]

    def get(self, name: str) -> TagRule:
        for tag in self.tags:
            if tag.name == name:
                return tag
        raise KeyError(name)


# -- loading ----------------------------------------------------------------------------------


def rules_path() -> Path:
    return Path(os.environ.get(RULES_ENV) or DEFAULT_RULES_FILE)


def parse_rules(data: Any, source: str = "<rules>") -> RulesFile:
    """Validate already-parsed YAML/JSON data; errors name the source, the tag and the attribute."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RulesError(f"{source}: the top level must be a mapping with a 'tags' list")
    try:
        return RulesFile.model_validate(data)
    except ValidationError as exc:
        raise RulesError(_describe(exc, data, source)) from None


def load_rules(path: str | Path | None = None) -> RulesFile:
    """Read and validate a rules file (default ``include/tags.yaml`` or $SELLEROPS_TAGS_FILE)."""
    import yaml

    path = Path(path) if path else rules_path()
    if not path.exists():
        raise RulesError(f"tag rules file {path} not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RulesError(f"{path}: not valid YAML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise RulesError(f"{path}: not UTF-8 text: {exc}") from None
    return parse_rules(data, str(path))


def _describe(exc: ValidationError, data: dict, source: str) -> str:
    tags = data.get("tags") if isinstance(data.get("tags"), list) else []
    lines = [f"{source}: invalid tag rules ({exc.error_count()} problem(s))"]
    for error in exc.errors():
        loc = list(error["loc"])
        where = "file"
        if len(loc) >= 2 and loc[0] == "tags" and isinstance(loc[1], int):
            index = loc[1]
            raw = tags[index] if index < len(tags) else None
            name = raw.get("name") if isinstance(raw, dict) else None
            label = f"tag {name!r}" if isinstance(name, str) else f"tag #{index + 1}"
            path = _path(loc[2:])
            where = f"{label} (tags[{index}]{'.' + path if path else ''})"
        elif loc:
            where = _path(loc)
        message = error["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        lines.append(f"  {where}: {message}")
    return "\n".join(lines)


def _path(loc: list[Any]) -> str:
    parts: list[str] = []
    for item in loc:
        if item in UNION_TAGS:
            continue
        if isinstance(item, int):
            if parts:
                parts[-1] += f"[{item}]"
            else:
                parts.append(f"[{item}]")
        else:
            parts.append(str(item))
    return ".".join(parts)


# -- JSON schema --------------------------------------------------------------------------------


def rules_json_schema() -> dict[str, Any]:
    """The JSON schema of the rules file (what ``include/tags.schema.json`` holds)."""
    schema = RulesFile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://sellerops.invalid/schemas/tags.schema.json"
    schema["description"] = (
        "Buyer tag rules for SellerOps (generated by sellerops.tags.rules.write_json_schema; "
        "do not edit). Attributes: "
        + "; ".join(f"{a.name} ({a.doc})" for a in ATTRIBUTES.values())
        + ". Facts: "
        + "; ".join(f"{f.name} ({f.doc}; filters: {', '.join(f.filters)})" for f in FACTS.values())
        + "."
    )
    return schema


def render_json_schema() -> str:
    return json.dumps(rules_json_schema(), indent=2, ensure_ascii=False) + "\n"


def write_json_schema(path: str | Path | None = None) -> Path:
    """Write the schema to ``include/tags.schema.json`` (or ``path``)."""
    path = Path(path or SCHEMA_FILE)
    path.write_text(render_json_schema(), encoding="utf-8")
    return path
