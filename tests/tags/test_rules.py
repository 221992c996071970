"""The rules file: the shipped defaults, the JSON schema, and errors that name tag and attribute."""

from __future__ import annotations

import json
import textwrap

import pytest

from sellerops.tags import rules
from sellerops.tags.rules import RulesError, load_rules, parse_rules

DEFAULT_TAGS = {
    "discount_responsive",
    "low_marketing_value",
    "repeat_buyer",
    "high_value",
    "at_risk",
    "returner",
    "refunded_without_return",
    "presales_no_order",
    "brand_loyalist",
    "tz_eastern",
    "tz_central",
    "tz_mountain",
    "tz_pacific",
    "tz_alaska_hawaii",
}


def tag(when, name="t1", **extra) -> dict:
    return {"name": name, "description": "d", "owner": "ops", "when": when, **extra}


def problem(*tags: dict) -> str:
    with pytest.raises(RulesError) as info:
        parse_rules({"tags": list(tags)}, "rules.yaml")
    return str(info.value)


def write(tmp_path, text: str):
    path = tmp_path / "tags.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# -- the shipped files ---------------------------------------------------------------------------


def test_default_rules_load_and_cover_the_spec():
    loaded = load_rules()
    assert {t.name for t in loaded.tags} == DEFAULT_TAGS
    for t in loaded.tags:
        assert t.enabled and t.description.strip() and t.owner.strip()
        assert len(t.rule_version) == 12


def test_shipped_json_schema_is_current():
    assert rules.SCHEMA_FILE.read_text(encoding="utf-8") == rules.render_json_schema(), (
        "include/tags.schema.json is stale: run "
        "python -c 'from sellerops.tags import rules; rules.write_json_schema()'"
    )


def test_default_rules_validate_against_the_json_schema():
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    data = yaml.safe_load(rules.DEFAULT_RULES_FILE.read_text(encoding="utf-8"))
    schema = json.loads(rules.SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.validate(data, schema)
    # ... and the schema catches what pydantic catches for editors: an unknown attribute.
    data["tags"][0]["when"] = {"attribute": "nope", "op": ">=", "value": 1}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


def test_schema_lists_every_attribute_and_fact():
    text = rules.render_json_schema()
    for name in (*rules.ATTRIBUTES, *rules.FACTS):
        assert f'"{name}"' in text


def test_rules_path_follows_the_environment(monkeypatch, tmp_path):
    path = write(tmp_path, "tags: []\n")
    monkeypatch.setenv(rules.RULES_ENV, str(path))
    assert rules.rules_path() == path
    assert load_rules().tags == []


# -- valid rules -----------------------------------------------------------------------------------


def test_every_operator_spelling_is_normalised():
    for spelled, canonical in rules.OPERATORS.items():
        if canonical in ("in", "not_in"):
            when = {"attribute": "main_brand", "op": spelled, "value": ["Acme"]}
        elif canonical in ("is_null", "not_null"):
            when = {"attribute": "p_alive", "op": spelled}
        elif canonical == "between":
            when = {"attribute": "orders", "op": spelled, "value": [1, 3]}
        else:
            when = {"attribute": "orders", "op": spelled, "value": 2}
        parsed = parse_rules({"tags": [tag(when)]})
        assert parsed.tags[0].when.op == canonical


def test_nested_conditions_and_facts_parse():
    when = {
        "all": [
            {
                "any": [
                    {"attribute": "orders", "op": ">=", "value": 2},
                    {"not": {"fact": "feedback", "max_rating": 2, "op": ">=", "value": 1}},
                ]
            },
            {
                "fact": "orders",
                "brand": ["Acme", "Brew"],
                "within_days": 90,
                "op": "between",
                "value": [1, 5],
            },
            {"fact": "messages", "presales": True, "answered": False, "op": ">=", "value": 1},
            {"fact": "returned_units", "reason": "DEFECTIVE", "op": ">", "value": 0},
            {"attribute": "lifecycle_stage", "op": "not_in", "value": ["churned", "at_risk"]},
        ]
    }
    parsed = parse_rules({"tags": [tag(when)]}).tags[0]
    assert len(rules.leaves(parsed.when)) == 6
    fact = rules.leaves(parsed.when)[2]
    assert fact.brand == ["Acme", "Brew"] and fact.value == (1, 5)
    # A single text for a list filter is accepted as a one-item list.
    assert rules.leaves(parsed.when)[4].reason == ["DEFECTIVE"]


def test_rule_version_ignores_spelling_order_and_description_but_not_the_condition():
    def version(when, **extra):
        return parse_rules({"tags": [tag(when, **extra)]}).tags[0].rule_version

    base = version({"attribute": "orders", "op": ">=", "value": 2})
    assert base == version({"attribute": "orders", "op": "ge", "value": 2})
    assert base == version({"attribute": "orders", "op": ">=", "value": 2}, description="other")
    assert base != version({"attribute": "orders", "op": ">=", "value": 3})
    assert base != version({"attribute": "orders", "op": ">", "value": 2})
    assert base != version({"attribute": "units", "op": ">=", "value": 2})
    in_a = version({"attribute": "main_brand", "op": "in", "value": ["Acme", "Brew"]})
    in_b = version({"attribute": "main_brand", "op": "in", "value": ["Brew", "Acme"]})
    assert in_a == in_b
    fact_a = version({"fact": "orders", "brand": ["A", "B"], "op": ">=", "value": 1})
    fact_b = version({"fact": "orders", "brand": ["B", "A"], "op": ">=", "value": 1})
    assert fact_a == fact_b


# -- errors: file, tag, attribute, what is allowed --------------------------------------------------


def test_unknown_attribute_names_file_tag_attribute_and_the_allowed_ones(tmp_path):
    path = write(
        tmp_path,
        """
        tags:
          - name: good
            description: fine
            owner: ops
            when: {attribute: orders, op: ">=", value: 2}
          - name: discount_lovers
            description: typo inside
            owner: ops
            when:
              all:
                - {attribute: orders, op: ">=", value: 2}
                - {attribute: discouted_orders, op: ">=", value: 1}
        """,
    )
    with pytest.raises(RulesError) as info:
        load_rules(path)
    message = str(info.value)
    assert str(path) in message
    assert "tag 'discount_lovers'" in message
    assert "when.all[1]" in message
    assert "attribute 'discouted_orders' is not allowed" in message
    assert "allowed: average_order_value" in message and "discounted_orders" in message
    assert "tag 'good'" not in message


def test_bad_operator_lists_the_operators_of_the_attribute():
    message = problem(tag({"attribute": "lifecycle_stage", "op": ">=", "value": "new"}, "stages"))
    assert "tag 'stages'" in message
    assert "attribute 'lifecycle_stage': operator '>=' is not allowed" in message
    assert "allowed: =, ==, eq, !=, <>, ne, in, not_in, is_null, not_null" in message


def test_enum_value_lists_the_allowed_values():
    message = problem(tag({"attribute": "rfm_segment", "op": "=", "value": "champion"}))
    assert "value 'champion' is not allowed; allowed: champions, loyal, promising" in message


def test_value_types_are_checked():
    assert "must be a number; got 'two'" in problem(
        tag({"attribute": "orders", "op": ">=", "value": "two"})
    )
    assert "must be a number; got True" in problem(
        tag({"attribute": "orders", "op": ">=", "value": True})
    )
    assert "takes text; got 555" in problem(
        tag({"attribute": "rfm_score", "op": "=", "value": 555})
    )
    assert "'between' takes [low, high]" in problem(
        tag({"attribute": "orders", "op": "between", "value": 3})
    )
    assert "low <= high" in problem(tag({"attribute": "orders", "op": "between", "value": [3, 1]}))
    assert "'is_null' takes no value" in problem(
        tag({"attribute": "p_alive", "op": "is_null", "value": 1})
    )
    assert "a value is required" in problem(tag({"attribute": "orders", "op": ">="}))
    assert "'in' takes a list" in problem(
        tag({"attribute": "main_brand", "op": "in", "value": "A"})
    )
    assert "use 'in' for a list" in problem(
        tag({"attribute": "main_brand", "op": "=", "value": ["A"]})
    )
    assert "finite" in problem(tag({"attribute": "p_alive", "op": "<", "value": float("nan")}))


def test_fact_errors_name_the_fact_and_its_filters():
    message = problem(tag({"fact": "purchases", "op": ">=", "value": 1}, "f"))
    assert (
        "fact 'purchases' is not allowed; allowed: feedback, messages, orders, returned_units"
        in message
    )
    message = problem(tag({"fact": "feedback", "brand": "Acme", "op": ">=", "value": 1}, "f"))
    assert "fact 'feedback': filter 'brand' does not apply" in message
    assert "allowed: max_rating, min_rating, within_days" in message
    message = problem(tag({"fact": "orders", "colour": "red", "op": ">=", "value": 1}, "f"))
    assert "'colour' is not a filter" in message
    message = problem(tag({"fact": "orders", "within_days": 0, "op": ">=", "value": 1}))
    assert "'within_days' must be between 1 and 3650" in message
    message = problem(tag({"fact": "orders", "per": "seller", "op": ">=", "value": 1}))
    assert "'seller' is not allowed; allowed: asin, brand, category" in message
    message = problem(tag({"fact": "orders", "op": "in", "value": [1]}))
    assert "operator 'in' is not allowed" in message
    message = problem(
        tag({"fact": "feedback", "min_rating": 4, "max_rating": 2, "op": ">=", "value": 1})
    )
    assert "min_rating is above max_rating" in message
    message = problem(tag({"fact": "orders", "discounted": "yes", "op": ">=", "value": 1}))
    assert "must be true or false" in message


def test_structure_errors():
    assert "exactly one of: all, any, not, attribute, fact" in problem(
        tag({"attribute": "orders", "all": [], "op": ">=", "value": 1})
    )
    assert "exactly one of" in problem(tag({"orders": 2}))
    assert "at least 1 item" in problem(tag({"all": []}))
    message = problem({"name": "x", "description": "d", "owner": "o", "whem": {}})
    assert "tag 'x'" in message and "whem" in message and "when" in message
    assert "owner" in problem(
        {"name": "x", "description": "d", "when": {"attribute": "orders", "op": ">=", "value": 1}}
    )
    message = problem(
        tag({"attribute": "orders", "op": ">=", "value": 1}, "same"),
        tag({"attribute": "orders", "op": ">=", "value": 2}, "same"),
    )
    assert "repeated: ['same']" in message


@pytest.mark.parametrize("name", ["Repeat", "1st", "a-b", "a b", "", "x" * 64, "é", "abc\n"])
def test_bad_tag_names(name):
    message = problem(tag({"attribute": "orders", "op": ">=", "value": 1}, name))
    assert f"tag name {name!r} is not valid: 1-63 characters of lowercase letters" in message


def test_size_limits():
    many = {"all": [{"attribute": "orders", "op": ">=", "value": i} for i in range(65)]}
    assert "at most 64 items" in problem(tag(many))
    spread = {
        "all": [
            {"any": [{"attribute": "orders", "op": ">=", "value": i} for i in range(40)]}
            for _ in range(2)
        ]
    }
    assert "more than 64 conditions" in problem(tag(spread))
    deep: dict = {"attribute": "orders", "op": ">=", "value": 1}
    for _ in range(9):
        deep = {"not": deep}
    assert "nested deeper than 8" in problem(tag(deep))


def test_file_level_errors(tmp_path):
    with pytest.raises(RulesError, match="not found"):
        load_rules(tmp_path / "missing.yaml")
    with pytest.raises(RulesError, match="not valid YAML"):
        load_rules(write(tmp_path, "tags: [\n"))
    with pytest.raises(RulesError, match="top level must be a mapping"):
        load_rules(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(RulesError, match="version"):
        load_rules(write(tmp_path, "version: 2\ntags: []\n"))
    assert load_rules(write(tmp_path, "")).tags == []
