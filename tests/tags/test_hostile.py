"""Hostile rule files: SQL in names, attributes, operators and values is rejected or bound.

Every test checksums every relation of the warehouse (all schemas, columns and
rows) before and after: a rejected file changes nothing at all, and a file whose
hostile values are bound changes nothing but the tag tables it is meant to write.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import tagworld
import yaml
from tagworld import AS_OF, SHOP, US

from sellerops.tags import compiler, materialise_tags, rules
from sellerops.tags.manual import ManualTagError, add_manual_tag
from sellerops.tags.rules import RulesError

TAG_TABLES = {"marts.buyer_tags", "marts.tag_counts_daily", "marts.buyer_tags_current"}

INJECTIONS = [
    "' OR '1'='1",
    "Acme'; DROP TABLE core.orders; --",
    'Acme" OR "1"="1',
    "Acme' UNION SELECT account_id, marketplace_id, buyer_key FROM core.orders --",
    "%(account_id)s",
    "$1",
    ":param_1",
    "\\'; DELETE FROM marts.buyer_profile; --",
    "*/ OR 1=1 /*",
    "Acme') OR ('a'='a",
    "⌁'; TRUNCATE ops.manual_buyer_tags; --",
]


def checksums(wh) -> dict[str, str]:
    """relation -> sha256 of its column list and all its rows (order-independent)."""
    out = {}
    with wh.connect() as conn:
        excluded = {"temp": "pg_temp%", "toast": "pg_toast%"}
        relations = conn.execute(
            sa.text(
                "SELECT table_schema, table_name, table_type FROM information_schema.tables "
                "WHERE table_schema NOT IN ('information_schema', 'pg_catalog') "
                "AND table_schema NOT LIKE :temp AND table_schema NOT LIKE :toast ORDER BY 1, 2"
            ),
            excluded,
        ).fetchall()
        assert len(relations) > 40, "expected the whole warehouse"
        columns: dict[tuple[str, str], list[tuple]] = {}
        for row in conn.execute(
            sa.text(
                "SELECT table_schema, table_name, column_name, data_type, ordinal_position "
                "FROM information_schema.columns "
                "WHERE table_schema NOT IN ('information_schema', 'pg_catalog') "
                "AND table_schema NOT LIKE :temp AND table_schema NOT LIKE :toast "
                "ORDER BY 1, 2, 5"
            ),
            excluded,
        ):
            columns.setdefault((row[0], row[1]), []).append((row[2], row[3]))
        for schema, name, kind in relations:
            rows = conn.exec_driver_sql(f'SELECT * FROM "{schema}"."{name}"').fetchall()  # noqa: S608
            digest = hashlib.sha256()
            digest.update(repr((kind, columns.get((schema, name)))).encode())
            for line in sorted(repr(tuple(r)) for r in rows):
                digest.update(line.encode())
            out[f"{schema}.{name}"] = digest.hexdigest()
    return out


def write_rules(tmp_path: Path, tags: list[dict], raw: str | None = None) -> Path:
    path = tmp_path / "hostile.yaml"
    text = raw if raw is not None else yaml.safe_dump({"tags": tags}, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


def tag(when, name: str = "hostile") -> dict:
    return {"name": name, "description": "d", "owner": "o", "when": when}


def assert_rejected(world, tmp_path, tags: list[dict], match: str, raw: str | None = None):
    before = checksums(world)
    with pytest.raises(RulesError, match=match):
        materialise_tags(world, write_rules(tmp_path, tags, raw))
    assert checksums(world) == before


# -- rejected at validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "x'; DROP TABLE core.orders; --",
        'a" OR 1=1',
        "repeat_buyer; DELETE FROM marts.buyer_tags",
        "Robert'); DROP TABLE students;--",
        "tag\nDROP",
        "tag_" + "x" * 100,
    ],
)
def test_sql_in_tag_names_is_rejected(world, tmp_path, name):
    assert_rejected(
        world, tmp_path, [tag({"attribute": "orders", "op": ">=", "value": 1}, name)], "tag name"
    )


@pytest.mark.parametrize(
    "attribute",
    [
        "orders; DROP TABLE core.orders",
        "orders) OR (1=1",
        "p.orders",
        "orders--",
        "ORDERS",
        "1",
        "__class__",
        "buyer_key",  # a real column, but not a rule attribute
        "(SELECT COUNT(*) FROM core.orders)",
    ],
)
def test_sql_in_attribute_names_is_rejected(world, tmp_path, attribute):
    assert_rejected(
        world,
        tmp_path,
        [
            tag(
                {
                    "all": [
                        {"attribute": "orders", "op": ">=", "value": 1},
                        {"attribute": attribute, "op": ">=", "value": 1},
                    ]
                }
            )
        ],
        r"tag 'hostile' \(tags\[0\]\.when\.all\[1\]\): attribute .* is not allowed; allowed: ",
    )


@pytest.mark.parametrize(
    "op",
    [
        ">= 0 OR 1=1",
        "; DROP TABLE core.orders",
        "LIKE",
        "= ANY",
        "||",
        ">=--",
        "IS NOT DISTINCT FROM",
        1,
    ],
)
def test_sql_in_operators_is_rejected(world, tmp_path, op):
    assert_rejected(
        world,
        tmp_path,
        [tag({"attribute": "orders", "op": op, "value": 1})],
        "operator .* is not allowed; allowed: ",
    )
    assert_rejected(
        world,
        tmp_path,
        [tag({"fact": "orders", "op": op, "value": 1})],
        "operator .* is not allowed; allowed: ",
    )


def test_sql_in_fact_names_filters_and_groups_is_rejected(world, tmp_path):
    assert_rejected(
        world,
        tmp_path,
        [tag({"fact": "orders UNION SELECT 1", "op": ">=", "value": 1})],
        "fact .* is not allowed; allowed: feedback, messages, orders, returned_units",
    )
    assert_rejected(
        world,
        tmp_path,
        [tag({"fact": "orders", "brand) OR (1=1": "x", "op": ">=", "value": 1})],
        "is not a filter; allowed: ",
    )
    assert_rejected(
        world,
        tmp_path,
        [tag({"fact": "orders", "per": "brand; DROP TABLE core.orders", "op": ">=", "value": 1})],
        "is not allowed; allowed: asin, brand, category",
    )
    assert_rejected(
        world,
        tmp_path,
        [tag({"fact": "orders", "within_days": "90; DROP", "op": ">=", "value": 1})],
        "must be a whole number",
    )


@pytest.mark.parametrize(
    ("when", "match"),
    [
        ({"attribute": "orders", "op": ">=", "value": "1 OR 1=1"}, "must be a number"),
        ({"attribute": "orders", "op": "between", "value": ["0", "1; --"]}, "must be a number"),
        ({"attribute": "main_brand", "op": "=", "value": "Acme\x00"}, "control characters"),
        ({"attribute": "main_brand", "op": "=", "value": "Acme\n; DROP"}, "control characters"),
        ({"attribute": "main_brand", "op": "=", "value": {"$ne": 1}}, "takes text"),
        ({"attribute": "main_brand", "op": "=", "value": "x" * 201}, "longer than 200"),
        (
            {"attribute": "lifecycle_stage", "op": "=", "value": "new' OR '1'='1"},
            "is not allowed; allowed: potential",
        ),
        (
            {"attribute": "time_zone_group", "op": "in", "value": ["Pacific", "x') OR 1=1 --"]},
            "is not allowed; allowed: Eastern",
        ),
        ({"attribute": "main_brand", "op": "in", "value": ["a"] * 201}, "at most 200 values"),
        ({"fact": "orders", "brand": "Acme\x00", "op": ">=", "value": 1}, "control characters"),
        ({"attribute": "p_alive", "op": ">", "value": 1e300}, "out of range"),
    ],
)
def test_malformed_values_are_rejected(world, tmp_path, when, match):
    assert_rejected(world, tmp_path, [tag(when)], match)


def test_yaml_cannot_run_code(world, tmp_path):
    marker = tmp_path / "pwned"
    raw = (
        "tags:\n  - name: x\n    description: !!python/object/apply:os.system "
        f'["touch {marker}"]\n    owner: o\n    when: {{attribute: orders, op: ">=", value: 1}}\n'
    )
    assert_rejected(world, tmp_path, [], "not valid YAML", raw=raw)
    assert not marker.exists()


def test_a_rule_that_escaped_validation_still_cannot_reach_the_sql(world):
    before = checksums(world)
    bypass = rules.RulesFile.model_construct(
        version=1,
        tags=[
            rules.TagRule.model_construct(
                name="x",
                enabled=True,
                when=rules.Comparison.model_construct(
                    attribute="orders >= 0; DROP TABLE core.orders; --", op="ge", value=1
                ),
            )
        ],
    )
    with pytest.raises(compiler.CompileError, match="not on the whitelist"):
        materialise_tags(world, bypass)
    assert checksums(world) == before


# -- bound harmlessly --------------------------------------------------------------------------


def test_hostile_values_are_bound_and_match_literally(world, tmp_path):
    before = checksums(world)
    hostile_tags = [
        tag({"attribute": "main_brand", "op": "=", "value": value}, f"eq_{i}")
        for i, value in enumerate(INJECTIONS)
    ]
    hostile_tags += [
        tag(
            {"attribute": "main_brand", "op": "in", "value": ["Acme", *INJECTIONS]}, "acme_or_junk"
        ),
        tag({"attribute": "rfm_score", "op": "not_in", "value": INJECTIONS}, "any_score"),
        tag({"fact": "orders", "brand": INJECTIONS, "op": ">=", "value": 1}, "junk_brand"),
        tag(
            {
                "fact": "orders",
                "category": INJECTIONS[1],
                "per": "category",
                "op": ">=",
                "value": 1,
            },
            "junk_per",
        ),
        tag(
            {"fact": "returned_units", "reason": INJECTIONS, "op": ">=", "value": 1}, "junk_reason"
        ),
        tag({"fact": "messages", "subject_kind": INJECTIONS, "op": ">=", "value": 1}, "junk_kind"),
        tag({"attribute": "ship_state", "op": "!=", "value": INJECTIONS[0]}, "any_state"),
    ]
    report = materialise_tags(world, write_rules(tmp_path, hostile_tags))

    after = checksums(world)
    changed = {name for name in before if before[name] != after[name]}
    assert changed <= TAG_TABLES
    assert set(after) == set(before)

    members: dict[str, set[tuple[str, str]]] = {}
    reasons: dict[tuple[str, str], str] = {}
    for row in tagworld.fetch(world, "SELECT * FROM marts.buyer_tags_current"):
        members.setdefault(row["tag"], set()).add((row["account_id"], row["buyer_key"]))
        reasons[(row["tag"], row["buyer_key"])] = row["reason"]
    profile = tagworld.fetch(
        world,
        "SELECT account_id, buyer_key, main_brand, rfm_score, ship_state FROM marts.buyer_profile",
    )
    # No injection matched anybody ...
    for i in range(len(INJECTIONS)):
        assert f"eq_{i}" not in members and report.tags[f"eq_{i}"].current == 0
    for name in ("junk_brand", "junk_per", "junk_reason", "junk_kind"):
        assert name not in members
    # ... the real value in the same list matched exactly its buyers ...
    acme = {(r["account_id"], r["buyer_key"]) for r in profile if r["main_brand"] == "Acme"}
    assert members["acme_or_junk"] == acme and acme
    scored = {(r["account_id"], r["buyer_key"]) for r in profile if r["rfm_score"] is not None}
    assert members["any_score"] == scored
    located = {(r["account_id"], r["buyer_key"]) for r in profile if r["ship_state"] is not None}
    assert members["any_state"] == located
    # ... and the hostile text came back verbatim, as data.
    reason = reasons[("acme_or_junk", "b01")]
    for value in INJECTIONS:
        assert value in reason


def test_generated_sql_never_contains_the_values():
    when = {
        "all": [
            {"attribute": "main_brand", "op": "in", "value": INJECTIONS},
            {"fact": "orders", "brand": INJECTIONS, "op": ">=", "value": 1},
            {"fact": "messages", "subject_kind": INJECTIONS[3], "op": ">=", "value": 1},
        ]
    }
    parsed = rules.parse_rules({"tags": [tag(when)]}).tags[0]
    compiled = compiler.compile_tag(parsed, as_of=AS_OF)
    placeholders = {"$1", ":param_1", "%(account_id)s"}  # look like the SQL's own placeholders
    for dialect in (sa.dialects.postgresql.dialect(), None):
        text = compiled.sql(dialect)
        for value in INJECTIONS:
            if value not in placeholders:
                assert value not in text
        assert "DROP" not in text and "UNION" not in text and "TRUNCATE" not in text
    bound = []
    for value in compiled.query.compile().params.values():
        bound.extend(value if isinstance(value, list) else [value])
    for value in INJECTIONS:
        assert value in bound


def test_hostile_manual_tags(world):
    before = checksums(world)
    with pytest.raises(ManualTagError):
        add_manual_tag(world, SHOP, "b01", "vip'; DROP TABLE core.orders; --")
    with pytest.raises(ManualTagError):
        add_manual_tag(world, "shop-us'; --", "b01", "vip")
    assert checksums(world) == before

    key = "b01'); DELETE FROM marts.buyer_tags; --"
    note = "'; UPDATE ops.manual_buyer_tags SET removed_at = NULL; --"
    at = AS_OF + timedelta(hours=1)
    add_manual_tag(world, SHOP, key, "vip", note=note, marketplace_id=US, added_by="$1", at=at)
    after = checksums(world)
    changed = {name for name in before if before[name] != after[name]}
    assert changed <= {"ops.manual_buyer_tags", "marts.buyer_tags", "marts.buyer_tags_current"}
    [row] = tagworld.fetch(world, "SELECT * FROM ops.manual_buyer_tags")
    assert (row["buyer_key"], row["note"], row["added_by"]) == (key, note, "$1")
    [member] = tagworld.fetch(world, "SELECT * FROM marts.buyer_tags_current")
    assert member["buyer_key"] == key and member["reason"] == f"tagged by hand by $1: {note}"


def test_checksums_see_a_change():
    # The checksum itself is sensitive to a single changed value (sanity check of the proof).
    first = hashlib.sha256(json.dumps([1, "a"]).encode()).hexdigest()
    second = hashlib.sha256(json.dumps([1, "b"]).encode()).hexdigest()
    assert first != second


def test_checksums_detect_a_one_row_change(world):
    before = checksums(world)
    with world.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE core.orders SET ship_city = 'Elsewhere' WHERE order_id = '111-0000000-0000001'"
        )
    after = checksums(world)
    assert {n for n in before if before[n] != after[n]} == {"core.orders"}
