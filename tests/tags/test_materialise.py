"""Materialisation: history (valid_from/valid_to), idempotence, rule changes, counts, scope."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
import tagworld
from tagworld import AS_OF, NEW_DAY_AS_OF, SHOP, TEA

from sellerops.models import runner
from sellerops.tags import load_rules, materialise_tags, rules
from sellerops.tags.materialise import OWNED_RELATIONS, TagError

DEFAULTS = load_rules()
TABLES = ("marts.buyer_tags", "marts.tag_counts_daily", "ops.manual_buyer_tags")


def snapshot(wh, table: str) -> list[tuple]:
    with wh.connect() as conn:
        rows = conn.exec_driver_sql(f"SELECT * FROM {table}").fetchall()  # noqa: S608 - test
    return sorted((tuple(r) for r in rows), key=repr)


def snapshots(wh) -> dict[str, list[tuple]]:
    return {table: snapshot(wh, table) for table in TABLES}


def with_rule(tag: str, when: dict | None = None, **changes) -> rules.RulesFile:
    """The default rules with one tag's condition (or other fields) replaced."""
    data = DEFAULTS.model_dump(mode="json", by_alias=True, exclude_none=True)
    for entry in data["tags"]:
        if entry["name"] == tag:
            if when is not None:
                entry["when"] = when
            entry.update(changes)
    return rules.parse_rules(data)


def without(*tags: str) -> rules.RulesFile:
    data = DEFAULTS.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["tags"] = [t for t in data["tags"] if t["name"] not in tags]
    return rules.parse_rules(data)


def members(wh, tag: str, *, open_only: bool = True) -> dict[tuple[str, str], list[dict]]:
    out: dict[tuple[str, str], list[dict]] = {}
    sql = "SELECT * FROM marts.buyer_tags WHERE tag = :t AND source = 'rule'"
    if open_only:
        sql += " AND valid_to IS NULL"
    for row in tagworld.fetch(wh, sql + " ORDER BY valid_from", t=tag):
        out.setdefault((row["account_id"], row["buyer_key"]), []).append(row)
    return out


def assert_one_open_membership_per_key(wh) -> None:
    duplicates = tagworld.fetch(
        wh,
        "SELECT account_id, marketplace_id, buyer_key, tag, source, COUNT(*) AS n "
        "FROM marts.buyer_tags WHERE valid_to IS NULL "
        "GROUP BY account_id, marketplace_id, buyer_key, tag, source HAVING COUNT(*) > 1",
    )
    assert duplicates == []
    backwards = tagworld.fetch(
        wh, "SELECT * FROM marts.buyer_tags WHERE valid_to IS NOT NULL AND valid_to < valid_from"
    )
    assert backwards == []


# -- idempotence ------------------------------------------------------------------------------


def test_first_run_opens_and_a_rerun_writes_nothing(world):
    first = materialise_tags(world, DEFAULTS)
    expected = sum(len(v) for v in tagworld.EXPECTED.values())
    assert (first.opened, first.closed, first.unchanged) == (expected, 0, 0)
    assert first.as_of == AS_OF and first.profile_as_of == AS_OF
    assert first.counts_written == len(DEFAULTS.tags) * 2  # two (account, marketplace) pairs
    before = snapshots(world)
    assert len(before["marts.buyer_tags"]) == expected

    second = materialise_tags(world, DEFAULTS)
    assert (second.opened, second.closed, second.unchanged) == (0, 0, expected)
    assert second.rows_written == 0 and not second.changed
    assert snapshots(world) == before  # every column, valid_from and valid_to included

    third = materialise_tags(world, DEFAULTS, as_of=AS_OF)
    assert third.rows_written == 0
    assert snapshots(world) == before
    assert_one_open_membership_per_key(world)


def test_daily_counts(world):
    materialise_tags(world, DEFAULTS)
    counts = {
        (r["account_id"], r["tag"], r["source"]): r["buyers"]
        for r in tagworld.fetch(world, "SELECT * FROM marts.tag_counts_daily")
    }
    days = {
        r["day"] for r in tagworld.fetch(world, "SELECT DISTINCT day FROM marts.tag_counts_daily")
    }
    assert days == {date(2025, 6, 30)}
    for tag, expected in tagworld.EXPECTED.items():
        for account in (SHOP, TEA):
            assert counts[(account, tag, "rule")] == sum(1 for a, _ in expected if a == account)
    assert counts[(TEA, "at_risk", "rule")] == 0


# -- rule changes ------------------------------------------------------------------------------


def test_changing_a_rule_closes_old_memberships_and_opens_new_ones(world):
    materialise_tags(world, DEFAULTS)
    old_version = DEFAULTS.get("repeat_buyer").rule_version
    untouched = [r for r in snapshot(world, "marts.buyer_tags") if r[3] != "repeat_buyer"]

    stricter = with_rule("repeat_buyer", {"attribute": "orders", "op": ">=", "value": 3})
    new_version = stricter.get("repeat_buyer").rule_version
    assert new_version != old_version
    later = AS_OF + timedelta(hours=1)
    report = materialise_tags(world, stricter, as_of=later)
    assert (report.opened, report.closed) == (1, 9)
    assert report.tags["repeat_buyer"].opened == 1 and report.tags["repeat_buyer"].closed == 9

    history = members(world, "repeat_buyer", open_only=False)
    assert set(history) == tagworld.EXPECTED["repeat_buyer"]
    for rows in history.values():
        assert rows[0]["rule_version"] == old_version
        assert rows[0]["valid_from"] == AS_OF and rows[0]["valid_to"] == later
    assert [r["rule_version"] for r in history[(SHOP, "b20")]] == [old_version, new_version]
    newest = history[(SHOP, "b20")][1]
    assert newest["valid_from"] == later and newest["valid_to"] is None
    assert newest["reason"] == "orders >= 3 (5)"
    assert set(members(world, "repeat_buyer")) == {(SHOP, "b20")}
    # Every other tag's rows are exactly as they were.
    assert [r for r in snapshot(world, "marts.buyer_tags") if r[3] != "repeat_buyer"] == untouched

    # Rerunning the changed rule writes nothing.
    before = snapshots(world)
    assert materialise_tags(world, stricter, as_of=later).rows_written == 0
    assert snapshots(world) == before

    # Reverting at the same as_of: b20's short-lived membership closes, the old version
    # opens again for all nine (new rows, valid from the revert).
    reverted = materialise_tags(world, DEFAULTS, as_of=later)
    assert (reverted.opened, reverted.closed) == (9, 1)
    current = members(world, "repeat_buyer")
    assert set(current) == tagworld.EXPECTED["repeat_buyer"]
    assert {rows[0]["rule_version"] for rows in current.values()} == {old_version}
    assert {rows[0]["valid_from"] for rows in current.values()} == {later}
    assert_one_open_membership_per_key(world)

    # ... and flipping back and forth again at that as_of reuses the zero-length rows.
    materialise_tags(world, stricter, as_of=later)
    materialise_tags(world, DEFAULTS, as_of=later)
    assert set(members(world, "repeat_buyer")) == tagworld.EXPECTED["repeat_buyer"]
    assert_one_open_membership_per_key(world)
    before = snapshots(world)
    assert materialise_tags(world, DEFAULTS, as_of=later).rows_written == 0
    assert snapshots(world) == before


def test_editing_only_the_description_changes_nothing(world):
    materialise_tags(world, DEFAULTS)
    before = snapshots(world)
    reworded = with_rule("repeat_buyer", description="Came back at least once.", owner="crm")
    assert materialise_tags(world, reworded).rows_written == 0
    assert snapshots(world) == before


def test_disabled_and_removed_tags_are_closed_not_deleted(world):
    materialise_tags(world, DEFAULTS)
    later = AS_OF + timedelta(days=1)
    disabled = with_rule("at_risk", enabled=False)
    report = materialise_tags(world, disabled, as_of=later)
    assert (report.opened, report.closed) == (0, 1)
    assert members(world, "at_risk") == {}
    closed = members(world, "at_risk", open_only=False)[(SHOP, "b07")][0]
    assert closed["valid_from"] == AS_OF and closed["valid_to"] == later

    fewer = without("at_risk", "tz_pacific", "tz_eastern")
    report = materialise_tags(world, fewer, as_of=later)
    assert report.closed == len(tagworld.EXPECTED["tz_pacific"]) + len(
        tagworld.EXPECTED["tz_eastern"]
    )
    assert report.opened == 0
    day = later.date()
    counts = {
        (r["account_id"], r["tag"]): r["buyers"]
        for r in tagworld.fetch(world, "SELECT * FROM marts.tag_counts_daily WHERE day = :d", d=day)
    }
    # The day a tag loses its last member records a final 0; a disabled tag stays at 0.
    assert counts[(SHOP, "tz_pacific")] == 0 and counts[(SHOP, "at_risk")] == 0
    assert counts[(SHOP, "repeat_buyer")] == 8
    # Nothing was deleted: the closed rows are all there.
    assert len(snapshot(world, "marts.buyer_tags")) == sum(map(len, tagworld.EXPECTED.values()))


# -- data changes over time ----------------------------------------------------------------------


def test_new_data_moves_buyers_between_tags(world, tmp_path):
    materialise_tags(world, DEFAULTS)
    before = {
        (r["account_id"], r["buyer_key"], r["tag"]): r
        for r in tagworld.fetch(world, "SELECT * FROM marts.buyer_tags")
    }
    tagworld.insert_new_day(world)
    build = runner.build(
        world, accounts=tagworld.ACCOUNTS, catalog_path=tagworld.write_catalog(tmp_path)
    )
    assert build.as_of == NEW_DAY_AS_OF

    report = materialise_tags(world, DEFAULTS)
    assert report.as_of == NEW_DAY_AS_OF
    opened = {
        (r["buyer_key"], r["tag"])
        for r in tagworld.fetch(
            world, "SELECT * FROM marts.buyer_tags WHERE valid_from = :t", t=NEW_DAY_AS_OF
        )
    }
    closed = {
        (r["buyer_key"], r["tag"])
        for r in tagworld.fetch(
            world, "SELECT * FROM marts.buyer_tags WHERE valid_to = :t", t=NEW_DAY_AS_OF
        )
    }
    assert closed == {("b07", "at_risk"), ("b11", "refunded_without_return")}
    # b07's third order also makes them a champion: R=5 (latest order), F=5 (the only
    # buyer with 3 orders besides b20), M=4 (150.00 ranks 13th of 19 buyers).
    assert opened == {
        ("b07", "high_value"),
        ("b08", "repeat_buyer"),
        ("b08", "brand_loyalist"),
        ("b11", "returner"),
        ("b21", "tz_eastern"),
    }
    assert (report.opened, report.closed) == (5, 2)

    # Memberships that still hold keep their row: same valid_from, same reason.
    after = {
        (r["account_id"], r["buyer_key"], r["tag"]): r
        for r in tagworld.fetch(world, "SELECT * FROM marts.buyer_tags WHERE valid_to IS NULL")
    }
    kept = (SHOP, "b07", "repeat_buyer")
    assert after[kept] == before[kept]
    assert after[kept]["reason"] == "orders >= 2 (2)"  # the reason it was given, not 3 now
    assert after[(SHOP, "b20", "high_value")] == before[(SHOP, "b20", "high_value")]

    days = {
        r["day"]: r["buyers"]
        for r in tagworld.fetch(
            world,
            "SELECT day, buyers FROM marts.tag_counts_daily WHERE account_id = :a "
            "AND tag = 'repeat_buyer'",
            a=SHOP,
        )
    }
    assert days == {date(2025, 6, 30): 8, date(2025, 7, 2): 9}
    assert_one_open_membership_per_key(world)

    # And again: nothing to do.
    snap = snapshots(world)
    assert materialise_tags(world, DEFAULTS).rows_written == 0
    assert snapshots(world) == snap


def test_as_of_cannot_go_back(world):
    materialise_tags(world, DEFAULTS)
    before = snapshots(world)
    with pytest.raises(TagError, match="before the last tag run"):
        materialise_tags(world, DEFAULTS, as_of=AS_OF - timedelta(days=1))
    assert snapshots(world) == before
    # A date means the end of that UTC day.
    report = materialise_tags(world, DEFAULTS, as_of=date(2025, 6, 30))
    assert report.as_of.isoformat().startswith("2025-06-30T23:59:59")


def test_accounts_limit_what_is_evaluated_and_written(world):
    report = materialise_tags(world, DEFAULTS, accounts=[TEA])
    tea = {
        (r["account_id"], r["buyer_key"], r["tag"])
        for r in tagworld.fetch(world, "SELECT * FROM marts.buyer_tags")
    }
    assert tea == {(TEA, "jp2", "repeat_buyer"), (TEA, "jp2", "brand_loyalist")}
    assert report.opened == 2
    counts = tagworld.fetch(world, "SELECT DISTINCT account_id FROM marts.tag_counts_daily")
    assert [r["account_id"] for r in counts] == [TEA]
    tea_rows = snapshot(world, "marts.buyer_tags")

    # The other account's run adds its own rows and leaves tea-jp's alone.
    materialise_tags(world, DEFAULTS, accounts=[SHOP])
    rows = snapshot(world, "marts.buyer_tags")
    assert [r for r in rows if r[0] == TEA] == tea_rows
    assert len(rows) == sum(map(len, tagworld.EXPECTED.values()))
    assert materialise_tags(world, DEFAULTS).rows_written == 0


def test_rules_file_path_is_accepted(world, tmp_path):
    path = tmp_path / "tags.yaml"
    path.write_text(
        "tags:\n  - name: big\n    description: d\n    owner: o\n"
        "    when: {attribute: revenue, op: '>=', value: 400}\n",
        encoding="utf-8",
    )
    report = materialise_tags(world, path)
    # USD 500 for b20; the yen amounts of tea-jp are all above 400.
    assert set(members(world, "big")) == {(SHOP, "b20"), (TEA, "b01"), (TEA, "jp2")}
    assert report.opened == 3


# -- the model runner leaves the tag tables alone ---------------------------------------------------


def test_model_runner_never_builds_or_drops_the_tag_tables(world, tmp_path):
    assert not set(OWNED_RELATIONS) & set(runner.built_relations())
    materialise_tags(world, DEFAULTS)
    before = snapshots(world)
    runner.build(world, accounts=tagworld.ACCOUNTS, catalog_path=tagworld.write_catalog(tmp_path))
    runner.build(
        world,
        accounts=tagworld.ACCOUNTS,
        catalog_path=tagworld.write_catalog(tmp_path),
        full_refresh=True,
    )
    assert snapshots(world) == before
    assert len(tagworld.fetch(world, "SELECT * FROM marts.buyer_tags_current")) == len(
        before["marts.buyer_tags"]
    )
    assert materialise_tags(world, DEFAULTS).rows_written == 0


def test_a_profile_is_needed(any_warehouse):
    with pytest.raises(TagError, match="build the models first"):
        materialise_tags(any_warehouse, DEFAULTS)


def test_postgres_enforces_one_open_membership(world):
    if world.is_duckdb:
        pytest.skip("DuckDB has no partial unique index; the materialiser's diff keeps it")
    materialise_tags(world, DEFAULTS)
    with pytest.raises(sa.exc.IntegrityError), world.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO marts.buyer_tags SELECT account_id, marketplace_id, buyer_key, tag, "
            "source, 'other', valid_from + INTERVAL '1 second', NULL, reason "
            "FROM marts.buyer_tags WHERE valid_to IS NULL LIMIT 1"
        )
