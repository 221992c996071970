"""Hostile inputs cannot inject SQL or template code anywhere on the way to the warehouse.

Tag rules, campaign files, the accounts file and the data itself (product titles,
SKUs, feedback comments, return reasons as Amazon serves them) carry SQL fragments
(``'; DROP TABLE``), Jinja (``{{7*7}}``, ``{% ... %}``), Python format fields
(``{0.__class__}``) and HTML. Identifiers that would reach SQL are rejected by
validation with a message naming the field; everything else is stored and shown
verbatim: ``{{7*7}}`` stays that string (never 49), and the warehouse changes by
exactly the rows the run is meant to write.
"""

from __future__ import annotations

import hashlib
import html
import json
from datetime import UTC, datetime

import pytest
import yaml

from sellerops.accounts import AccountsFileError, load_accounts
from sellerops.campaigns import definitions as defs
from sellerops.tags import compiler, rules
from sellerops.tags.rules import RulesError

SQL = "x'; DROP TABLE core.orders; --"
JINJA = "{{7*7}}"
JINJA_BLOCK = "{% for x in range(3) %}{{ x }}{% endfor %}"
JINJA_ESCAPE = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
FORMAT = "{0.__class__} {order_id.__class__} %(account_id)s"
HTML = "</script><script>alert(1)</script>"
HOSTILE = [SQL, JINJA, JINJA_BLOCK, JINJA_ESCAPE, FORMAT, HTML]
HOSTILE_IDS = ["sql", "jinja", "jinja_block", "jinja_escape", "format", "html"]


def checksums(wh) -> dict[str, str]:
    """One digest per relation of every schema: its columns and all its rows."""
    out = {}
    with wh.connect() as conn:
        relations = conn.exec_driver_sql(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('information_schema', 'pg_catalog') ORDER BY 1, 2"
        ).fetchall()
        for schema, name in relations:
            rows = conn.exec_driver_sql(f'SELECT * FROM "{schema}"."{name}"').fetchall()  # noqa: S608
            digest = hashlib.sha256()
            for line in sorted(repr(tuple(str(v) for v in r)) for r in rows):
                digest.update(line.encode())
            out[f"{schema}.{name}"] = digest.hexdigest()
    return out


# -- tag rules (SQL cases: tests/tags/test_hostile.py; here the template ones) ---------------


def _tag(when, name="hostile", description="d") -> dict:
    return {"name": name, "description": description, "owner": "o", "when": when}


@pytest.mark.parametrize("name", [JINJA, JINJA_BLOCK, "tag_{{x}}", "{0}", "tag%(a)s"])
def test_template_code_in_tag_names_is_rejected(name):
    with pytest.raises(RulesError, match="name"):
        rules.parse_rules({"tags": [_tag({"attribute": "orders", "op": ">=", "value": 2}, name)]})


@pytest.mark.parametrize("attribute", [JINJA, "orders {{1}}", "main_brand{% if 1 %}"])
def test_template_code_in_attribute_names_is_rejected(attribute):
    with pytest.raises(RulesError, match="attribute"):
        rules.parse_rules({"tags": [_tag({"attribute": attribute, "op": "=", "value": "x"})]})


def test_template_values_are_bound_never_rendered():
    when = {
        "any": [
            {"attribute": "main_brand", "op": "in", "value": HOSTILE},
            {"fact": "orders", "brand": HOSTILE, "op": ">=", "value": 1},
        ]
    }
    parsed = rules.parse_rules({"tags": [_tag(when, description=JINJA + " " + SQL)]}).tags[0]
    assert parsed.description == JINJA + " " + SQL
    compiled = compiler.compile_tag(parsed, as_of=datetime(2026, 6, 1, tzinfo=UTC))
    from sqlalchemy.dialects import postgresql

    for dialect in (postgresql.dialect(), None):
        text = compiled.sql(dialect)
        assert "{{" not in text and "{%" not in text and "7*7" not in text and "DROP" not in text
    bound = []
    for value in compiled.query.compile().params.values():
        bound.extend(value if isinstance(value, list) else [value])
    for value in HOSTILE:
        assert value in bound


# -- campaign files ------------------------------------------------------------------------------

BASE_CAMPAIGN = {
    "name": "confirm_delivery",
    "channel": "amazon_message",
    "purpose": "delivery_coordination",
    "trigger": {"event": "shipment", "days": 3},
    "message": {"type": "confirmDeliveryDetails", "text": "Your order {order_id} shipped."},
    "limits": {"give_up_after_days": 10},
}


def _campaigns_file(tmp_path, **changes):
    data = json.loads(json.dumps(BASE_CAMPAIGN))
    for key, value in changes.items():
        target = data
        *parents, leaf = key.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    path = tmp_path / "campaigns.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "campaigns": [data]}, allow_unicode=True))
    return path


@pytest.mark.parametrize("value", HOSTILE + ["review'--", "a b"], ids=HOSTILE_IDS + ["q", "sp"])
def test_hostile_campaign_names_are_rejected(tmp_path, value):
    with pytest.raises(defs.CampaignsError) as error:
        defs.load_campaigns(_campaigns_file(tmp_path, name=value))
    assert "name: must be 1-63 lowercase letters, digits or '_'" in str(error.value)


@pytest.mark.parametrize("value", HOSTILE, ids=HOSTILE_IDS)
def test_hostile_tag_names_in_audiences_are_rejected(tmp_path, value):
    for key in ("audience.include_tags", "audience.exclude_tags"):
        with pytest.raises(defs.CampaignsError, match="not tag names"):
            defs.load_campaigns(_campaigns_file(tmp_path, **{key: ["repeat_buyer", value]}))


@pytest.mark.parametrize("value", HOSTILE, ids=HOSTILE_IDS)
def test_hostile_asins_are_rejected(tmp_path, value):
    with pytest.raises(defs.CampaignsError, match="not ASINs"):
        defs.load_campaigns(_campaigns_file(tmp_path, products={"scope": "only", "asins": [value]}))


def test_template_code_in_message_text_is_sent_verbatim(tmp_path):
    text = f"Order {{order_id}}: {SQL} {JINJA} {JINJA_BLOCK} {FORMAT}"
    file = defs.load_campaigns(
        _campaigns_file(
            tmp_path, description=JINJA + SQL, owner=JINJA_ESCAPE, **{"message.text": text}
        )
    )
    campaign = file.campaigns[0]
    assert campaign.description == JINJA + SQL and campaign.owner == JINJA_ESCAPE
    # Only the documented {order_id} placeholder is replaced; nothing is evaluated.
    assert campaign.message.body("111-2222222-3333333") == {
        "text": f"Order 111-2222222-3333333: {SQL} {JINJA} {JINJA_BLOCK} {FORMAT}"
    }
    assert "49" not in campaign.message.body("1")["text"]


def test_hostile_campaign_plan_writes_only_the_outbox(any_warehouse):
    """A campaign whose free-text fields are hostile plans like any other: the outbox
    and run log change, every other relation is byte-identical, nothing is dropped."""
    import importlib

    planner_world = importlib.import_module("tests.campaigns.test_planner")
    planner_world.build_world(any_warehouse)
    before = checksums(any_warehouse)
    campaign = planner_world.campaign(
        "hostile_text", description=f"{SQL} {JINJA}", owner=JINJA_BLOCK
    )
    run = planner_world.plan(any_warehouse, campaign)
    after = checksums(any_warehouse)
    assert set(after) == set(before)
    changed = {name for name in before if before[name] != after[name]}
    assert changed <= {"ops.campaign_sends", "ops.campaign_runs"}
    assert "ops.campaign_sends" in changed
    assert planner_world.rows(any_warehouse, "hostile_text")
    assert run is not None


# -- the accounts file ---------------------------------------------------------------------------

ACCOUNT = {
    "account_id": "acme-outdoor",
    "name": "Acme Outdoor",
    "spapi_conn_id": "sellerops_spapi_acme",
    "marketplaces": ["ATVPDKIKX0DER"],
    "seller_time_zone": "America/New_York",
}


def _accounts_file(tmp_path, **changes):
    path = tmp_path / "accounts.yaml"
    path.write_text(yaml.safe_dump({"accounts": [{**ACCOUNT, **changes}]}, allow_unicode=True))
    return path


@pytest.mark.parametrize("value", HOSTILE + ["ACME", "-acme"], ids=HOSTILE_IDS + ["up", "dash"])
def test_hostile_account_ids_are_rejected(tmp_path, value):
    with pytest.raises(AccountsFileError) as error:
        load_accounts(_accounts_file(tmp_path, account_id=value))
    assert "accounts.0.account_id: Value error, must be 1-63 characters of lowercase" in str(
        error.value
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("marketplaces", [SQL], "unknown marketplace id"),
        ("marketplaces", [JINJA], "unknown marketplace id"),
        ("seller_time_zone", SQL, "not an IANA time zone"),
        ("seller_time_zone", JINJA, "not an IANA time zone"),
    ],
)
def test_hostile_account_fields_are_rejected(tmp_path, field, value, message):
    with pytest.raises(AccountsFileError, match=message):
        load_accounts(_accounts_file(tmp_path, **{field: value}))


def test_yaml_tags_cannot_run_code(tmp_path):
    path = tmp_path / "accounts.yaml"
    path.write_text("accounts: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(AccountsFileError, match="not valid YAML"):
        load_accounts(path)


# -- data and report contents, end to end --------------------------------------------------------


def _hostile_world():
    """A sandbox world whose free text (titles, SKUs, comments, reasons) is hostile."""
    from sellerops.sandbox.service import make_world

    world = make_world(seed=21, days=45, orders_per_day=5)
    products = world.tables["products"]
    account, marketplace = "acme-outdoor", "ATVPDKIKX0DER"
    mine = products[
        (products["account_id"] == account) & (products["marketplace_id"] == marketplace)
    ]
    # Every product title of the partition: whichever the report shows carries one.
    for n, index in enumerate(mine.index):
        products.loc[index, "title"] = f"{HOSTILE[n % len(HOSTILE)]} #{n}"
    # One SKU, renamed everywhere it occurs.
    old_sku = mine.iloc[0]["sku"]
    hostile_sku = "SKU'; DROP TABLE core.order_items; --{{7*7}}"
    for name in ("products", "order_items", "returns", "refunds"):
        frame = world.tables[name]
        frame.loc[frame["sku"] == old_sku, "sku"] = hostile_sku
    feedback = world.tables["feedback"]
    for n, index in enumerate(feedback.index):
        feedback.loc[index, "comments"] = f"{HOSTILE[n % len(HOSTILE)]} fb{n}"
    return world, account, marketplace, hostile_sku


def test_hostile_data_is_stored_and_reported_verbatim(duckdb_warehouse, tmp_path):
    from sellerops import identity, ingest
    from sellerops.models.runner import build
    from sellerops.report import write_report
    from sellerops.sandbox.service import sandbox_environment

    world, account_id, marketplace_id, hostile_sku = _hostile_world()
    feedback = world.tables["feedback"]
    expected_comments = set(
        feedback.loc[
            (feedback["account_id"] == account_id) & (feedback["marketplace_id"] == marketplace_id),
            "comments",
        ]
    )
    assert len(expected_comments) >= len(HOSTILE)
    with sandbox_environment(tmp_path / "sandbox", world=world) as env:
        accounts = load_accounts(env.accounts_file)
        account = accounts.get(account_id)
        audits = ingest.ingest_window(
            duckdb_warehouse,
            account,
            marketplace_id,
            world.start,
            world.end,
            pepper=identity.DEVELOPMENT_PEPPER.encode(),
        )
        relations_after_ingest = set(checksums(duckdb_warehouse))
        build(duckdb_warehouse, accounts=accounts, catalog_path=env.workdir / "catalog.csv")
        pages = write_report(duckdb_warehouse, tmp_path / "report.html", accounts=accounts)
    assert sum(a.quarantined for a in audits) == 0

    with duckdb_warehouse.connect() as conn:
        comments = {
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT comments FROM core.feedback WHERE comments IS NOT NULL"
            )
        }
        skus = {r[0] for r in conn.exec_driver_sql("SELECT DISTINCT sku FROM core.order_items")}
        tables = {
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables"
            )
        }
        orders = conn.exec_driver_sql("SELECT count(*) FROM core.orders").scalar()
    # Stored verbatim: {{7*7}} is still that text, the SQL is still text.
    assert comments == expected_comments
    assert hostile_sku in skus
    # Nothing was dropped: every relation the ingest made is still there, with its rows.
    assert relations_after_ingest <= tables
    assert {"core.orders", "core.order_items"} <= tables and orders > 0

    page = "\n".join(p.read_text(encoding="utf-8") for p in pages)
    # The hostile titles reach the report as text: Jinja literal, HTML escaped.
    assert JINJA in page or html.escape(JINJA) in page
    assert "<script>alert(1)" not in page
    assert "\\u003c/script>\\u003cscript>alert(1)" in page or "&lt;/script&gt;" in page
