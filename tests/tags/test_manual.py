"""Manual tags: add, remove, CSV import; mirrored beside the rule tags with source = manual."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
import tagworld
from tagworld import AS_OF, SHOP, TEA, US

from sellerops.tags import load_rules, materialise_tags
from sellerops.tags.manual import (
    ManualTagError,
    add_manual_tag,
    import_manual_tags_csv,
    remove_manual_tag,
)

DEFAULTS = load_rules()
T0 = AS_OF + timedelta(hours=2)


def manual_rows(wh) -> list[dict]:
    return tagworld.fetch(
        wh, "SELECT * FROM ops.manual_buyer_tags ORDER BY account_id, buyer_key, tag, added_at"
    )


def mirrored(wh) -> list[dict]:
    return tagworld.fetch(
        wh,
        "SELECT * FROM marts.buyer_tags WHERE source = 'manual' "
        "ORDER BY account_id, buyer_key, tag, valid_from",
    )


def snapshot(wh) -> dict[str, list]:
    out = {}
    for table in ("ops.manual_buyer_tags", "marts.buyer_tags", "marts.tag_counts_daily"):
        with wh.connect() as conn:
            rows = conn.exec_driver_sql(f"SELECT * FROM {table}").fetchall()  # noqa: S608
        out[table] = sorted((tuple(r) for r in rows), key=repr)
    return out


def test_add_and_remove_keep_history_and_sit_beside_rule_tags(world):
    materialise_tags(world, DEFAULTS)
    changes = add_manual_tag(
        world,
        SHOP,
        "b05",
        "do_not_contact",
        note="asked not to be e-mailed",
        added_by="alice",
        at=T0,
    )
    assert [(c.marketplace_id, c.action) for c in changes] == [(US, "added")]
    assert "tagged b05" in changes[0].describe()
    [row] = manual_rows(world)
    assert row["note"] == "asked not to be e-mailed" and row["added_by"] == "alice"
    assert row["added_at"] == T0 and row["removed_at"] is None and row["origin"] == "cli"
    [member] = mirrored(world)
    assert member["tag"] == "do_not_contact" and member["marketplace_id"] == US
    assert member["rule_version"] == "manual" and member["valid_from"] == T0
    assert member["valid_to"] is None
    assert member["reason"] == "tagged by hand by alice: asked not to be e-mailed"

    current = tagworld.fetch(
        world,
        "SELECT tag, source FROM marts.buyer_tags_current WHERE buyer_key = 'b05' ORDER BY tag",
    )
    assert [(r["tag"], r["source"]) for r in current] == [
        ("do_not_contact", "manual"),
        ("low_marketing_value", "rule"),
        ("tz_central", "rule"),
    ]

    # Adding again changes nothing.
    again = add_manual_tag(world, SHOP, "b05", "do_not_contact", note="again", at=T0 + timedelta(1))
    assert again[0].action == "already_tagged" and again[0].since == T0
    assert len(manual_rows(world)) == 1 and len(mirrored(world)) == 1

    # Removing closes both; nothing is deleted.
    t1 = T0 + timedelta(days=1)
    removed = remove_manual_tag(
        world, SHOP, "b05", "do_not_contact", note="consent given", removed_by="bob", at=t1
    )
    assert removed[0].action == "removed"
    [row] = manual_rows(world)
    assert row["removed_at"] == t1 and row["removed_by"] == "bob"
    assert row["removal_note"] == "consent given"
    [member] = mirrored(world)
    assert member["valid_from"] == T0 and member["valid_to"] == t1
    with pytest.raises(ManualTagError, match="does not carry the manual tag"):
        remove_manual_tag(world, SHOP, "b05", "do_not_contact", at=t1)

    # Tagging again opens a second period.
    t2 = t1 + timedelta(days=1)
    add_manual_tag(world, SHOP, "b05", "do_not_contact", at=t2, added_by="carol")
    periods = [(m["valid_from"], m["valid_to"]) for m in mirrored(world)]
    assert periods == [(T0, t1), (t2, None)]


def test_materialise_keeps_manual_tags_and_counts_them(world):
    add_manual_tag(world, SHOP, "b01", "vip", note="wholesale lead", added_by="alice", at=T0)
    report = materialise_tags(world, DEFAULTS)
    assert report.manual_opened == 0  # already mirrored when it was added
    counts = tagworld.fetch(world, "SELECT * FROM marts.tag_counts_daily WHERE tag = 'vip'")
    assert [(c["account_id"], c["source"], c["buyers"]) for c in counts] == [(SHOP, "manual", 1)]
    before = snapshot(world)
    assert materialise_tags(world, DEFAULTS).rows_written == 0
    assert snapshot(world) == before
    # A manual tag may share a rule tag's name: they are separate memberships.
    add_manual_tag(world, SHOP, "b03", "repeat_buyer", note="bought offline too", at=T0)
    sources = tagworld.fetch(
        world,
        "SELECT source FROM marts.buyer_tags_current WHERE tag = 'repeat_buyer' AND buyer_key = 'b03'",
    )
    assert [s["source"] for s in sources] == ["manual"]


def test_materialise_mirrors_manual_rows_written_elsewhere(world):
    materialise_tags(world, DEFAULTS)
    with world.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO ops.manual_buyer_tags (account_id, marketplace_id, buyer_key, tag, "
                "note, added_by, added_at, origin) VALUES (:a, :m, 'b02', 'gift_buyer', 'x', "
                "'ops', TIMESTAMPTZ '2025-06-30 13:00:00+00', 'sql')"
            ),
            {"a": SHOP, "m": US},
        )
    report = materialise_tags(world, DEFAULTS)
    assert (report.manual_opened, report.manual_closed) == (1, 0)
    with world.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE ops.manual_buyer_tags SET removed_at = TIMESTAMPTZ '2025-06-30 14:00:00+00'"
        )
    report = materialise_tags(world, DEFAULTS)
    assert (report.manual_opened, report.manual_closed) == (0, 1)
    [member] = mirrored(world)
    assert member["valid_to"].isoformat() == "2025-06-30T14:00:00+00:00"


def test_unknown_buyer_needs_a_marketplace(world):
    with pytest.raises(ManualTagError, match="not known in account 'shop-us'"):
        add_manual_tag(world, SHOP, "nobody", "vip", at=T0)
    changes = add_manual_tag(world, SHOP, "nobody", "vip", marketplace_id=US, at=T0)
    assert changes[0].action == "added"
    # Buyer keys are per account: tea-jp's b01 is not shop-us's.
    add_manual_tag(world, TEA, "b01", "vip", at=T0)
    assert {(m["account_id"], m["marketplace_id"]) for m in mirrored(world)} == {
        (SHOP, US),
        (TEA, tagworld.JP),
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tag": "VIP"}, "tag 'VIP' is not valid"),
        ({"tag": "vip; drop table x"}, "is not valid"),
        ({"account_id": "Shop US"}, "account id 'Shop US' is not valid"),
        ({"marketplace_id": "XX"}, "unknown marketplace id 'XX'"),
        ({"buyer_key": "b\x0001"}, "control characters"),
        ({"note": "n" * 2001}, "longer than 2000"),
    ],
)
def test_invalid_requests_are_rejected(world, kwargs, message):
    args = {"account_id": SHOP, "buyer_key": "b01", "tag": "vip"} | kwargs
    with pytest.raises(ManualTagError, match=message):
        add_manual_tag(
            world, args.pop("account_id"), args.pop("buyer_key"), args.pop("tag"), **args
        )
    assert manual_rows(world) == []


def test_csv_import_is_validated_first_and_idempotent(world, tmp_path):
    materialise_tags(world, DEFAULTS)
    add_manual_tag(world, SHOP, "b11", "fragile_items", at=T0)
    path = tmp_path / "manual.csv"
    path.write_text(
        "# tags from the support inbox\n"
        "account_id,buyer_key,tag,note,action,marketplace_id\n"
        f'{SHOP},b01,vip,"big order, call first",add,\n'
        f"{SHOP},b05,do_not_contact,complained,,\n"
        f"{SHOP},b11,fragile_items,,remove,\n"
        f"{SHOP},prospect-9,vip,trade fair,add,{US}\n",
        encoding="utf-8",
    )
    report = import_manual_tags_csv(world, path, added_by="import-bot", at=T0 + timedelta(hours=1))
    assert (report.added, report.removed, report.unchanged) == (3, 1, 0)
    assert "3 tags added, 1 removed" in report.summary()
    rows = {(r["buyer_key"], r["tag"]): r for r in manual_rows(world)}
    assert rows[("b01", "vip")]["note"] == "big order, call first"
    assert (
        rows[("b01", "vip")]["added_by"] == "import-bot" and rows[("b01", "vip")]["origin"] == "csv"
    )
    assert rows[("b11", "fragile_items")]["removed_at"] is not None
    current = {
        (r["buyer_key"], r["tag"])
        for r in tagworld.fetch(
            world, "SELECT * FROM marts.buyer_tags_current WHERE source = 'manual'"
        )
    }
    assert current == {("b01", "vip"), ("b05", "do_not_contact"), ("prospect-9", "vip")}

    before = snapshot(world)
    again = import_manual_tags_csv(world, path, at=T0 + timedelta(hours=2))
    assert (again.added, again.removed, again.unchanged) == (0, 0, 4)
    assert snapshot(world) == before


def test_bad_csv_writes_nothing_and_lists_every_bad_line(world, tmp_path):
    before = snapshot(world)
    path = tmp_path / "bad.csv"
    path.write_text(
        "account_id,buyer_key,tag,action\n"
        f"{SHOP},b01,vip,add\n"
        f"{SHOP},b02,Not A Tag,add\n"
        f"{SHOP},b03,vip,delete\n"
        f"{SHOP},b01,vip,remove\n"
        f"{SHOP},,vip,add\n",
        encoding="utf-8",
    )
    with pytest.raises(ManualTagError) as info:
        import_manual_tags_csv(world, path, at=T0)
    message = str(info.value)
    assert "4 bad line(s)" in message
    assert "line 3: tag" in message and "line 4: action" in message
    assert "line 5: repeats line 2" in message and "line 6: buyer_key" in message
    assert snapshot(world) == before

    header = tmp_path / "header.csv"
    header.write_text("account,buyer_key,tag\n", encoding="utf-8")
    with pytest.raises(ManualTagError, match=r"missing \['account_id'\], unknown \['account'\]"):
        import_manual_tags_csv(world, header)

    unknown = tmp_path / "unknown.csv"
    unknown.write_text(
        f"account_id,buyer_key,tag\n{SHOP},b01,vip\n{SHOP},ghost,vip\n", encoding="utf-8"
    )
    with pytest.raises(ManualTagError, match="unknown buyers .*shop-us/ghost"):
        import_manual_tags_csv(world, unknown, at=T0)
    assert snapshot(world) == before


def test_a_manual_row_deleted_by_hand_is_closed_not_lost(world):
    add_manual_tag(world, SHOP, "b02", "gift_buyer", at=T0)
    with world.begin() as conn:
        conn.exec_driver_sql("DELETE FROM ops.manual_buyer_tags")
    report = materialise_tags(world, DEFAULTS)  # as_of (AS_OF) is before the tag was added
    assert report.manual_closed == 1
    [member] = mirrored(world)
    assert member["valid_from"] == T0 and member["valid_to"] == T0
