"""The model runner: discovery, full and incremental builds, the data dictionary, comments.

The key property: after a day of new data, an incremental build (which recomputes
only the orders, threads, buyers and days that data touches) leaves every model
exactly as a full rebuild does, on DuckDB and on PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from handmade import (
    ACCOUNTS,
    ACME,
    B1,
    B2,
    B3,
    B4,
    B6,
    B7,
    assert_row,
    by_key,
    fetch,
    insert_new_day,
    order_id,
    write_catalog,
)

from sellerops.models import runner
from sellerops.paths import SQL_DIR

# -- discovery and the SQL rules ---------------------------------------------------------


def test_models_are_discovered_in_layer_and_dependency_order():
    names = runner.model_names()
    layers = [n.split(".")[0] for n in names]
    assert layers == sorted(layers, key=runner.LAYERS.index)
    position = {n: i for i, n in enumerate(names)}
    for model in runner.discover_models():
        for dep in model.depends_on:
            if dep in position:
                assert position[dep] < position[model.name], (model.name, dep)
    assert names.index("marts.buyer_predictions") < names.index("marts.buyer_profile")
    assert {m.name for m in runner.discover_models() if m.materialized == "incremental"} == {
        "core.order_facts",
        "core.message_replies",
        "core.buyer_facts",
        "marts.kpi_daily",
    }


def test_one_model_per_file_named_after_its_table():
    for layer in runner.LAYERS:
        for path in (SQL_DIR / layer).glob("*.sql"):
            sql = path.read_text(encoding="utf-8")
            assert "%" not in sql, path  # no psycopg placeholders, no pasted values
            assert "::" not in sql, path  # CAST(... AS ...) works on both databases
            assert "QUALIFY" not in sql.upper(), path  # DuckDB only
            assert "generate_series" not in sql, path  # differs between the databases
    assert {p.stem for p in (SQL_DIR / "marts").glob("*.sql")} >= {
        "buyer_profile",
        "kpi_daily",
        "kpi_repurchase",
        "product_repurchase",
        "cohort_retention",
        "cohort_second_purchase",
        "ltv_by_channel",
        "returns_by_month",
        "returns_by_asin",
        "return_reasons",
        "feedback_summary",
        "review_overview",
        "reply_times",
        "message_peak_hours",
        "reply_window",
        "orders_by_region",
        "regional_peak_schedule",
        "presales_monthly",
        "lifecycle_daily",
    }


def test_dependency_cycles_are_refused(tmp_path):
    for layer in runner.LAYERS:
        (tmp_path / layer).mkdir()
    (tmp_path / "marts" / "a.sql").write_text("-- depends_on: marts.b\nSELECT 1 AS x")
    (tmp_path / "marts" / "b.sql").write_text("-- depends_on: marts.a\nSELECT 1 AS x")
    with pytest.raises(runner.ModelError, match="cycle"):
        runner.discover_models(tmp_path)


# -- the data dictionary -------------------------------------------------------------------


def test_every_built_column_is_in_the_dictionary(built):
    dictionary = runner.load_dictionary()
    relations = list(runner.built_relations())
    assert set(built.report.tables) <= set(relations)
    missing = []
    for name in relations:
        schema, table = name.split(".")
        columns = [
            r["column_name"]
            for r in fetch(
                built.wh,
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = :s AND table_name = :t",
                s=schema,
                t=table,
            )
        ]
        assert columns, f"{name} was not built"
        documented = (dictionary.get(name) or {}).get("columns") or {}
        missing += [f"{name}.{c}" for c in columns if c not in documented]
        missing += [f"{name}.{c} (no such column)" for c in documented if c not in columns]
    assert not missing, missing


def test_docs_data_dictionary_is_current():
    assert runner.DOCS_FILE.read_text(encoding="utf-8") == runner.render_dictionary(), (
        "docs/data_dictionary.md is stale: run "
        "python -c 'from sellerops.models import runner; runner.write_dictionary_docs()'"
    )
    text = runner.render_dictionary()
    assert "| `repurchase_rate` | repeat_buyers / buyers. |" in text


def test_comments_are_in_the_warehouse(built):
    wh = built.wh
    if wh.is_duckdb:
        table = fetch(
            wh,
            "SELECT comment FROM duckdb_tables() WHERE schema_name = 'marts' "
            "AND table_name = 'kpi_repurchase'",
        )[0]["comment"]
        column = fetch(
            wh,
            "SELECT comment FROM duckdb_columns() WHERE schema_name = 'marts' "
            "AND table_name = 'kpi_repurchase' AND column_name = 'repurchase_rate'",
        )[0]["comment"]
        view = fetch(
            wh,
            "SELECT comment FROM duckdb_views() WHERE schema_name = 'staging' "
            "AND view_name = 'stg_orders'",
        )[0]["comment"]
    else:
        table = fetch(wh, "SELECT obj_description('marts.kpi_repurchase'::regclass) AS c")[0]["c"]
        column = fetch(
            wh,
            "SELECT col_description('marts.kpi_repurchase'::regclass, "
            "(SELECT attnum FROM pg_attribute WHERE attrelid = 'marts.kpi_repurchase'::regclass "
            "AND attname = 'repurchase_rate')) AS c",
        )[0]["c"]
        view = fetch(wh, "SELECT obj_description('staging.stg_orders'::regclass) AS c")[0]["c"]
    assert table.startswith("Repurchase rate and returning-buyer share")
    assert column == "repeat_buyers / buyers."
    assert view.startswith("Orders with their UTC purchase date")


# -- full and incremental builds ----------------------------------------------------------

SNAPSHOT_RELATIONS = [m for m in runner.model_names() if not m.startswith("staging.")]


def snapshot(wh) -> dict[str, list[tuple]]:
    """Every model table's rows, sorted, floats rounded to 1e-9."""
    out = {}
    for name in SNAPSHOT_RELATIONS:
        rows = fetch(wh, f"SELECT * FROM {name}")  # noqa: S608 - fixed names
        out[name] = sorted((tuple(_canonical(v) for v in row.items()) for row in rows), key=repr)
    return out


def _canonical(item):
    column, value = item
    if isinstance(value, float):
        value = round(value, 9)
    return column, value


def test_first_build_is_full_and_recorded(built):
    report = built.report
    assert report.mode == "full" and report.reason == "no earlier successful build"
    assert report.model("marts.kpi_daily").rows == 29
    assert report.model("marts.buyer_profile").rows == 8
    assert all(m.seconds >= 0 for m in report.models)
    runs = fetch(built.wh, "SELECT * FROM ops.model_runs")
    assert len(runs) == 1
    assert_row(runs[0], {"status": "success", "mode": "full", "run_id": report.run_id})
    assert json.loads(runs[0]["models"])["scopes"]["staging.scope_buyers"] == 8


def test_rebuild_without_new_data_is_incremental_and_changes_nothing(built, tmp_path):
    before = snapshot(built.wh)
    report = runner.build(built.wh, accounts=ACCOUNTS, catalog_path=write_catalog(tmp_path))
    assert report.mode == "incremental"
    # The last build's rows are rescanned only within the overlap (1 h before the
    # watermark); the handmade rows were all loaded at the watermark itself.
    assert report.scopes["staging.scope_orders"] == 14
    assert snapshot(built.wh) == before


def test_incremental_build_equals_full_rebuild(built, tmp_path):
    insert_new_day(built.wh)
    settings = runner.BuildSettings(incremental_overlap=timedelta(0))
    catalog = write_catalog(tmp_path)
    report = runner.build(built.wh, accounts=ACCOUNTS, catalog_path=catalog, settings=settings)
    assert report.mode == "incremental"
    # Only what the new day touches is recomputed:
    #   orders: O12, O13 (new), O4 (status, feedback), O5 (cancelled), O11 (buyer found),
    #           O7 (refund)
    #   threads: T2 (reply); buyers: B4, B7, B1, B2, B6, B3 (not B5, not beta-jp)
    #   days: the orders' purchase days 2025-02-10, 03-05, 03-20, 03-21; the refund and
    #         feedback day 03-21; m2's day 03-03; first-order days of those buyers, old
    #         and new: 2024-10-05 (B1), 2024-11-10 (B4), 2025-02-10 / 02-25 (B2), 03-05
    #         (B3 and now B6), 03-21 (B7)
    scopes = {
        name: fetch(built.wh, f"SELECT * FROM {name}")  # noqa: S608 - fixed names
        for name in report.scopes
    }
    assert {r["order_id"] for r in scopes["staging.scope_orders"]} == {
        order_id(n) for n in (4, 5, 7, 11, 12, 13)
    }
    assert {r["thread_key"] for r in scopes["staging.scope_threads"]} == {"T2"}
    assert {r["buyer_key"] for r in scopes["staging.scope_buyers"]} == {B1, B2, B3, B4, B6, B7}
    assert {r["day"] for r in scopes["staging.scope_days"]} == {
        date(2024, 10, 5),
        date(2024, 11, 10),
        date(2025, 2, 10),
        date(2025, 2, 25),
        date(2025, 3, 3),
        date(2025, 3, 5),
        date(2025, 3, 20),
        date(2025, 3, 21),
    }
    assert report.model("core.buyer_facts").rows_written == 6
    assert report.model("marts.kpi_daily").rows_written == 8
    assert report.model("marts.kpi_daily").action == "incremental"

    # The recomputed days, by hand:
    kpi = by_key(
        fetch(built.wh, "SELECT * FROM marts.kpi_daily WHERE account_id = :a", a=ACME), "day"
    )
    # O5 is now cancelled: 02-10 keeps a row for the cancellation, without a buyer;
    # B2's first order is O6, so B2 is new on 02-25.
    assert_row(
        kpi[date(2025, 2, 10)], {"orders": 0, "cancellations": 1, "buyers": 0, "new_buyers": 0}
    )
    assert_row(kpi[date(2025, 2, 25)], {"orders": 1, "new_buyers": 1, "returning_buyers": 0})
    # O11 now belongs to B6: two new buyers on 03-05.
    assert_row(kpi[date(2025, 3, 5)], {"orders": 2, "buyers": 2, "new_buyers": 2})
    # m2 answered 2025-03-21 09:00, 18 days 7 hours after 03-03 02:00 = 26,340 minutes.
    assert_row(
        kpi[date(2025, 3, 3)],
        {"median_first_reply_minutes": 26340.0, "replied_within_24h_share": 0.0},
    )
    # 03-21: O12 (B4, returning) + O13 (B7, new), O7's refund, O4's feedback.
    assert_row(
        kpi[date(2025, 3, 21)],
        {
            "orders": 2,
            "units": 3,
            "revenue": 80.0,
            "buyers": 2,
            "new_buyers": 1,
            "returning_buyers": 1,
            "refunded_orders": 1,
            "feedback_received": 1,
            "negative_feedback": 0,
        },
    )
    # Untouched days are kept as they were.
    assert_row(kpi[date(2024, 9, 15)], {"orders": 1, "new_buyers": 1})

    incremental = snapshot(built.wh)
    full = runner.build(
        built.wh, accounts=ACCOUNTS, catalog_path=catalog, settings=settings, full_refresh=True
    )
    assert full.mode == "full" and full.reason == "full refresh requested"
    rebuilt = snapshot(built.wh)
    for name in SNAPSHOT_RELATIONS:
        assert incremental[name] == rebuilt[name], name

    profile = by_key(
        fetch(built.wh, "SELECT * FROM marts.buyer_profile WHERE account_id = :a", a=ACME),
        "buyer_key",
    )
    # as_of moved to O13's 2025-03-21 12:00. B4 ordered again after 131 days: two orders,
    # growing; B6 now has O11 (new); B2 lost O5 (one order left, new).
    assert_row(profile[B4], {"orders": 2, "lifecycle_stage": "growing", "days_since_last_order": 0})
    assert_row(profile[B6], {"orders": 1, "lifecycle_stage": "new", "revenue": 20.0})
    assert_row(profile[B2], {"orders": 1, "cancelled_orders": 1, "lifecycle_stage": "new"})
    assert_row(profile[B7], {"time_zone": "America/New_York", "ship_state": "TN"})


def test_changed_catalogue_forces_a_full_build(built, tmp_path):
    catalog = tmp_path / "catalog2.csv"
    catalog.write_text(
        built.catalog.read_text(encoding="utf-8")
        + "acme-outdoor,ATVPDKIKX0DER,B000MYST01,SKU-MYST,Mystery Box,Acme,Gifts\n",
        encoding="utf-8",
    )
    report = runner.build(built.wh, accounts=ACCOUNTS, catalog_path=catalog)
    assert report.mode == "full"
    assert "reference data changed" in report.reason
    b2 = fetch(
        built.wh,
        "SELECT main_brand_unit_share FROM marts.buyer_profile WHERE buyer_key = 'buyer-az'",
    )[0]
    # B2's mystery box is now an Acme product: 3 of 3 branded units.
    assert b2["main_brand_unit_share"] == 1.0
    products = fetch(built.wh, "SELECT * FROM core.products WHERE sku = 'SKU-MYST'")
    assert_row(products[0], {"brand": "Acme", "category": "Gifts", "source": "catalog_csv"})


def test_catalogue_errors_are_reported(tmp_path, any_warehouse):
    bad = tmp_path / "bad.csv"
    bad.write_text("account_id,marketplace_id,asin,title\nacme,ATVPDKIKX0DER,B0,x\n")
    with pytest.raises(ValueError, match="lacks columns"):
        runner.build(any_warehouse, accounts=ACCOUNTS, catalog_path=bad)


def test_accounts_are_upserted(built):
    rows = by_key(fetch(built.wh, "SELECT * FROM core.accounts"), "account_id")
    assert rows[ACME]["seller_time_zone"] == "Asia/Shanghai"
    assert rows["beta-jp"]["seller_time_zone"] == "Asia/Tokyo"


def test_reply_window_hours_is_checked(any_warehouse):
    with pytest.raises(ValueError, match="reply_window_hours"):
        runner.build(any_warehouse, accounts=ACCOUNTS, reply_window_hours=0)


def _copy_sql_dir(tmp_path):
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    for sub in ("staging", "core", "marts", "scopes"):
        (sql_dir / sub).mkdir()
        for path in (SQL_DIR / sub).glob("*.sql"):
            (sql_dir / sub / path.name).write_text(path.read_text(encoding="utf-8"))
    (sql_dir / "dictionary.yaml").write_text(
        (SQL_DIR / "dictionary.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    return sql_dir


def test_comments_may_contain_quotes_and_percent_signs(any_warehouse, tmp_path):
    sql_dir = _copy_sql_dir(tmp_path)
    path = sql_dir / "dictionary.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "repurchase_rate: repeat_buyers / buyers.",
            "repurchase_rate: \"repeat_buyers / buyers, 0-1 (not %); the 'rate'.\"",
        ),
        encoding="utf-8",
    )
    runner.build(any_warehouse, accounts=ACCOUNTS, sql_dir=sql_dir)
    if any_warehouse.is_duckdb:
        sql = (
            "SELECT comment AS c FROM duckdb_columns() WHERE schema_name = 'marts' "
            "AND table_name = 'kpi_repurchase' AND column_name = 'repurchase_rate'"
        )
    else:
        sql = (
            "SELECT col_description('marts.kpi_repurchase'::regclass, "
            "(SELECT attnum FROM pg_attribute WHERE attrelid = 'marts.kpi_repurchase'::regclass "
            "AND attname = 'repurchase_rate')) AS c"
        )
    assert fetch(any_warehouse, sql)[0]["c"] == "repeat_buyers / buyers, 0-1 (not %); the 'rate'."


def test_failed_build_is_recorded_and_rolled_back(built, tmp_path):
    sql_dir = _copy_sql_dir(tmp_path)
    (sql_dir / "marts" / "zz_broken.sql").write_text("SELECT no_such_column FROM core.order_facts")
    before = snapshot(built.wh)
    with pytest.raises(sa.exc.DBAPIError):
        runner.build(built.wh, accounts=ACCOUNTS, sql_dir=sql_dir)
    runs = fetch(built.wh, "SELECT status, detail FROM ops.model_runs ORDER BY started_at")
    assert [r["status"] for r in runs] == ["success", "failed"]
    assert "no_such_column" in runs[-1]["detail"]
    assert snapshot(built.wh) == before  # one transaction: nothing half-built


def test_empty_warehouse_builds(any_warehouse):
    report = runner.build(any_warehouse, accounts=ACCOUNTS)
    assert report.mode == "full"
    assert report.model("marts.kpi_daily").rows == 0
    assert report.model("marts.buyer_predictions").rows == 0
    assert fetch(any_warehouse, "SELECT COUNT(*) AS n FROM marts.lifecycle_daily")[0]["n"] == 0


def test_as_of_does_not_cut_data(built, tmp_path):
    # An explicit as_of moves the trailing windows and recency, not the facts.
    runner.build(
        built.wh,
        accounts=ACCOUNTS,
        catalog_path=write_catalog(tmp_path),
        as_of=date(2025, 3, 31),
    )
    assert fetch(built.wh, "SELECT as_of_date FROM staging.build_params")[0]["as_of_date"] == date(
        2025, 3, 31
    )
    b1 = fetch(built.wh, "SELECT * FROM marts.buyer_profile WHERE buyer_key = :b", b=B1)[0]
    assert_row(b1, {"orders": 4, "days_since_last_order": 11})
    assert (
        fetch(built.wh, "SELECT COUNT(*) AS n FROM marts.kpi_daily WHERE account_id = :a", a=ACME)[
            0
        ]["n"]
        == 26
    )


def test_a_model_built_in_chunks_of_its_scope_equals_one_statement(built, tmp_path):
    """``build_chunk_keys``: a full build fills the scope with one slice of keys after
    another; the tables equal a build in one statement, and the scope holds every key
    again for the models after it."""
    before = snapshot(built.wh)
    scope_before = sorted(fetch(built.wh, "SELECT * FROM staging.scope_buyers"), key=repr)
    sql_dir = _copy_sql_dir(tmp_path)
    path = sql_dir / "core" / "buyer_facts.sql"
    text = path.read_text(encoding="utf-8")
    header = "-- build_chunk_keys: "
    assert header in text  # the shipped model is chunked; here in chunks of 3 of 8 buyers
    path.write_text(
        "\n".join(header + "3" if line.startswith(header) else line for line in text.splitlines()),
        encoding="utf-8",
    )
    model = next(m for m in runner.discover_models(sql_dir) if m.name == "core.buyer_facts")
    assert model.chunk_keys == 3
    report = runner.build(
        built.wh, accounts=ACCOUNTS, catalog_path=built.catalog, sql_dir=sql_dir,
        full_refresh=True,
    )  # fmt: skip
    assert report.mode == "full" and report.scopes["staging.scope_buyers"] == 8
    assert report.model("core.buyer_facts").rows == 8
    assert snapshot(built.wh) == before
    assert sorted(fetch(built.wh, "SELECT * FROM staging.scope_buyers"), key=repr) == scope_before
    with built.wh.connect() as conn:
        assert not runner._table_exists(conn, "staging.scope_buyers_every_key")


@pytest.mark.parametrize(
    ("model", "value"),
    [("marts/reply_window", "10"), ("core/buyer_facts", "0"), ("core/buyer_facts", "many")],
)
def test_build_chunk_keys_must_be_a_count_on_an_incremental_model(tmp_path, model, value):
    sql_dir = _copy_sql_dir(tmp_path)
    path = sql_dir / f"{model}.sql"
    text = "\n".join(
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if not line.startswith("-- build_chunk_keys:")
    )
    path.write_text(f"-- build_chunk_keys: {value}\n" + text)
    with pytest.raises(runner.ModelError, match="build_chunk_keys"):
        runner.discover_models(sql_dir)
