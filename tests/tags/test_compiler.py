"""The compiler: every operator and fact, on both databases, against hand-worked buyer sets."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
import tagworld
from tagworld import AS_OF, SHOP, TEA

from sellerops.tags import compiler, rules
from sellerops.tags.compiler import CompileError, compile_tag


def rule(when, name: str = "t") -> rules.TagRule:
    return rules.parse_rules(
        {"tags": [{"name": name, "description": "d", "owner": "o", "when": when}]}
    ).tags[0]


def run(wh, when, *, as_of=AS_OF, accounts=None) -> dict[tuple[str, str], str]:
    """(account, buyer) -> reason, for the buyers the condition selects."""
    compiled = compile_tag(rule(when), as_of=as_of, accounts=accounts)
    with wh.connect() as conn:
        rows = conn.execute(compiled.query).fetchall()
    out = {}
    for row in rows:
        assert compiled.holds(row), "the SQL and the Python evaluation disagree"
        out[(row.account_id, row.buyer_key)] = compiled.reason(row)
    return out


def buyers(wh, when, **kwargs) -> set[tuple[str, str]]:
    return set(run(wh, when, **kwargs))


def shop(*keys: str) -> set[tuple[str, str]]:
    return {(SHOP, k) for k in keys}


def profile(wh) -> list[dict]:
    return tagworld.fetch(wh, "SELECT * FROM marts.buyer_profile")


def python_eval(row: dict, attribute: str, op: str, value) -> bool:
    """What a comparison means, NULLs false: the reference the SQL must match."""
    actual = row[attribute]
    if op == "is_null":
        return actual is None
    if op == "not_null":
        return actual is not None
    if actual is None:
        return False
    if isinstance(value, list) and op == "between":
        return value[0] <= float(actual) <= value[1]
    if op == "in":
        return actual in value
    if op == "not_in":
        return actual not in value
    if isinstance(value, int | float):
        actual = float(actual)
    return {
        "eq": actual == value,
        "ne": actual != value,
        "lt": actual < value,
        "le": actual <= value,
        "gt": actual > value,
        "ge": actual >= value,
    }[op]


COMPARISONS = [
    ("orders", "eq", 2),
    ("orders", "ne", 1),
    ("orders", "lt", 1),
    ("orders", "le", 1),
    ("units", "gt", 3),
    ("revenue", "ge", 100),
    ("revenue", "between", [15, 60]),
    ("average_order_value", "gt", 99.5),
    ("p_alive", "is_null", None),
    ("p_alive", "not_null", None),
    ("p_alive", "lt", 0.5),
    ("main_brand_unit_share", "ge", 0.75),
    ("days_since_last_order", "between", [90, 180]),
    ("main_brand", "eq", "Acme"),
    ("main_brand", "ne", "Acme"),
    ("main_category", "in", ["Kitchen", "Tea"]),
    ("main_category", "not_in", ["Kitchen", "unknown"]),
    ("ship_state", "is_null", None),
    ("time_zone", "eq", "America/Chicago"),
    ("time_zone_group", "in", ["Mountain", "Other"]),
    ("lifecycle_stage", "ne", "new"),
    ("rfm_segment", "eq", "loyal"),
    ("rfm_score", "in", ["555", "531"]),
    ("recency_score", "ge", 4),
]


@pytest.mark.parametrize(("attribute", "op", "value"), COMPARISONS)
def test_comparisons_match_a_python_reference(world, attribute, op, value):
    when = {"attribute": attribute, "op": op}
    if value is not None:
        when["value"] = value
    expected = {
        (r["account_id"], r["buyer_key"])
        for r in profile(world)
        if python_eval(r, attribute, op, value)
    }
    got = buyers(world, when)
    assert got == expected
    assert expected, "pick comparisons that select somebody"


def test_not_of_an_unknown_value_is_true(world):
    # b13 and b15 have no address: "not Pacific" includes them (two-valued leaves).
    not_pacific = buyers(
        world, {"not": {"attribute": "time_zone_group", "op": "=", "value": "Pacific"}}
    )
    assert shop("b13", "b15") <= not_pacific
    assert not shop("b01", "b10", "b12", "b20") & not_pacific
    everyone = {(r["account_id"], r["buyer_key"]) for r in profile(world)}
    pacific = buyers(world, {"attribute": "time_zone_group", "op": "=", "value": "Pacific"})
    assert pacific | not_pacific == everyone and not pacific & not_pacific


def test_all_any_not_combine(world):
    when = {
        "any": [
            {
                "all": [
                    {"attribute": "orders", "op": ">=", "value": 2},
                    {"attribute": "time_zone_group", "op": "=", "value": "Mountain"},
                ]
            },
            {"not": {"attribute": "orders", "op": ">=", "value": 1}},
        ]
    }
    assert buyers(world, when) == shop("b02", "b16", "b13", "b15")


def test_reasons_show_the_conditions_that_held_with_values(world):
    when = {
        "all": [
            {"attribute": "orders", "op": ">=", "value": 2},
            {
                "any": [
                    {"attribute": "main_brand", "op": "=", "value": "Acme"},
                    {"attribute": "lifecycle_stage", "op": "=", "value": "mature"},
                ]
            },
            {"not": {"attribute": "time_zone_group", "op": "=", "value": "Alaska"}},
        ]
    }
    got = run(world, when)
    # Acme is the main brand of b01, b02, b07 and b16 (a 1:1 tie goes to the first
    # name), b20 is mature; b07 is in Alaska.
    assert set(got) == shop("b01", "b02", "b16", "b20")
    assert got[(SHOP, "b01")] == (
        "orders >= 2 (2); main_brand = Acme (Acme); not (time_zone_group = Alaska)"
    )
    assert got[(SHOP, "b20")] == (
        "orders >= 2 (5); main_brand = Acme (Acme); lifecycle_stage = mature (mature); "
        "not (time_zone_group = Alaska)"
    )


# -- facts ---------------------------------------------------------------------------------------


def test_orders_in_a_window(world):
    # Last 30 days up to 2025-06-30: orders on or after 2025-06-01.
    when = {"fact": "orders", "within_days": 30, "op": ">=", "value": 2}
    assert buyers(world, when) == shop("b18")
    got = run(world, {"fact": "orders", "within_days": 30, "op": "=", "value": 0})
    assert shop("b07", "b08", "b09", "b13", "b14", "b15") <= set(got)
    assert (SHOP, "b01") not in got  # b01 ordered 06-10
    assert got[(SHOP, "b07")] == "orders (in the last 30 days) = 0 (0)"
    # 121 days reach back to 2025-03-02: b07's 03-15 order counts, b20's 03-10 does not.
    assert run(world, {"fact": "orders", "within_days": 121, "op": ">=", "value": 4}) == {
        (SHOP, "b20"): "orders (in the last 121 days) >= 4 (4)"
    }


def test_orders_by_brand_asin_category_and_status(world):
    brew = {"fact": "orders", "brand": "Brew", "op": ">=", "value": 1}
    assert buyers(world, brew) == shop("b02", "b04", "b05", "b06", "b08", "b12", "b16")
    tents = {"fact": "orders", "asin": [tagworld.T1], "op": ">=", "value": 3}
    assert buyers(world, tents) == shop("b20")
    lighting = {"fact": "orders", "category": ["Lighting"], "op": ">=", "value": 1}
    assert buyers(world, lighting) == shop("b01", "b07", "b11", "b17")
    cancelled = {"fact": "orders", "status": "cancelled", "op": ">=", "value": 1}
    assert buyers(world, cancelled) == shop("b15", "b19")
    any_status_acme = {"fact": "orders", "status": "any", "brand": "Acme", "op": ">=", "value": 2}
    placed_acme = {"fact": "orders", "brand": "Acme", "op": ">=", "value": 2}
    assert buyers(world, any_status_acme) - buyers(world, placed_acme) == shop("b19")
    mfn = {"fact": "orders", "fulfillment_channel": "MFN", "op": ">=", "value": 1}
    assert buyers(world, mfn) == set()
    jp_channel = {"fact": "orders", "sales_channel": ["Amazon.co.jp"], "op": ">=", "value": 1}
    assert buyers(world, jp_channel) == {(TEA, "b01"), (TEA, "jp2")}


def test_orders_by_discount_and_units(world):
    discounted = {"fact": "orders", "discounted": True, "op": ">=", "value": 1}
    assert buyers(world, discounted) == shop("b01", "b02", "b03", "b04") | {(TEA, "b01")}
    bulk = {"fact": "orders", "min_units": 3, "discounted": False, "op": ">=", "value": 1}
    assert buyers(world, bulk) == shop("b04")
    small = {"fact": "orders", "max_units": 1, "op": ">=", "value": 5}
    assert buyers(world, small) == shop("b20")


def test_orders_refunded_and_returned(world):
    refunded = {"fact": "orders", "refunded": True, "op": ">=", "value": 1}
    assert buyers(world, refunded) == shop("b10", "b11", "b12")
    returned_not_refunded = {
        "fact": "orders",
        "returned": True,
        "refunded": False,
        "op": ">=",
        "value": 1,
    }
    assert buyers(world, returned_not_refunded) == shop("b12")


def test_orders_per_group(world):
    per_category = run(world, {"fact": "orders", "per": "category", "op": ">=", "value": 2})
    assert set(per_category) == shop("b04", "b07", "b12", "b20") | {(TEA, "jp2")}
    assert per_category[(SHOP, "b12")] == "orders per category >= 2 (category Kitchen)"
    per_asin = buyers(world, {"fact": "orders", "per": "asin", "op": ">=", "value": 2})
    assert per_asin == shop("b04", "b07", "b18", "b20") | {(TEA, "jp2")}
    # Filters narrow the lines that are grouped.
    acme_twice = {"fact": "orders", "per": "brand", "brand": "Acme", "op": ">=", "value": 2}
    assert buyers(world, acme_twice) == shop("b01", "b07", "b20")
    exactly_one = {"fact": "orders", "per": "brand", "op": "=", "value": 1}
    assert buyers(world, exactly_one) == shop(
        "b02", "b03", "b05", "b06", "b08", "b09", "b10", "b11", "b14", "b16", "b17", "b19"
    ) | {(TEA, "b01")}


def test_feedback_fact(world):
    negative = {"fact": "feedback", "max_rating": 2, "op": ">=", "value": 1}
    assert buyers(world, negative) == shop("b05")
    positive_recent = {
        "fact": "feedback",
        "min_rating": 4,
        "within_days": 30,
        "op": ">=",
        "value": 1,
    }
    assert buyers(world, positive_recent) == shop("b20")  # b01's 5 stars are from 05-10
    neutral = {"fact": "feedback", "min_rating": 3, "max_rating": 3, "op": "=", "value": 1}
    assert buyers(world, neutral) == shop("b06")


def test_returned_units_fact(world):
    defective = {"fact": "returned_units", "reason": "DEFECTIVE", "op": ">=", "value": 1}
    assert buyers(world, defective) == shop("b10")
    kettles = {"fact": "returned_units", "asin": tagworld.K1, "op": ">=", "value": 1}
    assert buyers(world, kettles) == shop("b12")
    recent = {"fact": "returned_units", "within_days": 12, "op": ">=", "value": 1}
    assert buyers(world, recent) == shop("b12")  # 06-20 is within 06-19..06-30, 06-15 is not


def test_messages_fact(world):
    presales_unanswered = {
        "fact": "messages",
        "presales": True,
        "answered": False,
        "op": ">=",
        "value": 1,
    }
    assert buyers(world, presales_unanswered) == shop("b13", "b15")
    about_orders = {"fact": "messages", "subject_kind": ["order_inquiry"], "op": ">=", "value": 2}
    assert buyers(world, about_orders) == shop("b05")
    june = {"fact": "messages", "within_days": 30, "op": ">=", "value": 1}
    assert buyers(world, june) == shop("b05", "b13", "b15")


def test_facts_are_per_account_and_marketplace(world):
    # shop-us b01 has two orders; tea-jp's buyer with the same key has one.
    when = {"fact": "orders", "op": ">=", "value": 2}
    got = buyers(world, when)
    assert (SHOP, "b01") in got and (TEA, "b01") not in got


def test_accounts_limit_the_buyers(world):
    when = {"attribute": "orders", "op": ">=", "value": 1}
    assert {a for a, _ in buyers(world, when, accounts=[TEA])} == {TEA}
    assert buyers(world, {"fact": "orders", "op": ">=", "value": 1}, accounts=[TEA]) == {
        (TEA, "b01"),
        (TEA, "jp2"),
    }


# -- safety of the generated SQL -----------------------------------------------------------------------


def test_values_are_bound_never_rendered():
    when = {
        "all": [
            {"attribute": "main_brand", "op": "in", "value": ["Acme-VALUE-1", "VALUE-2"]},
            {"attribute": "orders", "op": "between", "value": [12345, 67890]},
            {"fact": "orders", "brand": "VALUE-3", "within_days": 77, "op": ">=", "value": 4242},
        ]
    }
    compiled = compile_tag(rule(when), as_of=AS_OF)
    for dialect in (None, sa.dialects.postgresql.dialect()):
        text = compiled.sql(dialect)
        for value in ("VALUE-1", "VALUE-2", "VALUE-3", "12345", "67890", "4242", "2025-04-15"):
            assert value not in text
    params = compiled.query.compile().params
    assert "VALUE-3" in str(params) and 4242 in params.values()


def test_names_outside_the_whitelist_never_compile():
    bypass = rules.Comparison.model_construct(
        attribute="orders; DROP TABLE core.orders", op="ge", value=1
    )
    with pytest.raises(CompileError, match="not on the whitelist"):
        compile_tag(rules.TagRule.model_construct(name="x", when=bypass), as_of=AS_OF)
    bad_op = rules.Comparison.model_construct(attribute="orders", op="ge OR 1=1", value=1)
    with pytest.raises(CompileError, match="not allowed"):
        compile_tag(rules.TagRule.model_construct(name="x", when=bad_op), as_of=AS_OF)
    bad_fact = rules.FactCondition.model_construct(fact="orders o; --", op="ge", value=1)
    with pytest.raises(CompileError, match="not on the whitelist"):
        compile_tag(rules.TagRule.model_construct(name="x", when=bad_fact), as_of=AS_OF)
    text_as_number = rules.Comparison.model_construct(attribute="orders", op="ge", value="1 OR 1=1")
    with pytest.raises(CompileError, match="expected a number"):
        compile_tag(rules.TagRule.model_construct(name="x", when=text_as_number), as_of=AS_OF)
    with pytest.raises(CompileError, match="timezone-aware"):
        compile_tag(
            rule({"attribute": "orders", "op": ">=", "value": 1}), as_of=AS_OF.replace(tzinfo=None)
        )


def test_every_default_rule_compiles_and_reads_only_known_relations():
    loaded = rules.load_rules()
    for compiled in compiler.compile_rules(loaded, as_of=AS_OF):
        text = compiled.sql()
        referenced = {
            name
            for name in ("marts.", "core.", "staging.", "ops.", "raw.")
            for name in [word for word in text.replace("(", " ").split() if word.startswith(name)]
        }
        assert referenced <= set(compiler.SOURCES), referenced
