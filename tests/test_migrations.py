"""`sellerops db upgrade` creates the schemas and is a no-op the second time, on both databases."""

from __future__ import annotations

import sqlalchemy as sa

from sellerops import cli, migrations, warehouse


def _tables(wh) -> set[str]:
    with wh.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema IN ('raw', 'core', 'marts', 'ops')"
        ).fetchall()
    return {r[0] for r in rows}


EXPECTED = {
    *(
        f"{layer}.{name}"
        for layer in ("raw", "core")
        for name in ("orders", "order_items", "returns", "refunds", "feedback", "messages")
    ),
    "ops.load_audit",
    "ops.quarantine",
    "ops.validation_runs",
}


def _upgrade_twice(url: str, capsys) -> None:
    assert cli.main(["--warehouse", url, "db", "upgrade"]) == 0
    first = capsys.readouterr().out
    assert f"upgraded from empty to {migrations.head_revision()}" in first
    wh = warehouse.connect(url)
    tables_after_first = _tables(wh)
    assert tables_after_first >= EXPECTED

    assert cli.main(["--warehouse", url, "db", "upgrade"]) == 0
    second = capsys.readouterr().out
    assert "nothing to do" in second
    assert _tables(wh) == tables_after_first


def test_upgrade_twice_duckdb(tmp_path, capsys):
    _upgrade_twice(f"duckdb:///{tmp_path / 'w.duckdb'}", capsys)


def test_upgrade_twice_postgres(pg_server_url, capsys):
    engine = sa.create_engine(pg_server_url)
    with engine.begin() as conn:
        for schema in ("raw", "core", "marts", "ops"):
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    engine.dispose()
    _upgrade_twice(pg_server_url, capsys)


def _primary_key(wh, schema: str, table: str) -> list[str]:
    with wh.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT k.column_name FROM information_schema.table_constraints c "
                "JOIN information_schema.key_column_usage k "
                "  ON k.constraint_name = c.constraint_name AND k.table_schema = c.table_schema "
                "  AND k.table_name = c.table_name "
                "WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = :s "
                "AND c.table_name = :t ORDER BY k.ordinal_position"
            ),
            {"s": schema, "t": table},
        ).fetchall()
    return [r[0] for r in rows]


def test_core_keys_are_primary_keys(any_warehouse):
    assert _primary_key(any_warehouse, "core", "orders") == ["account_id", "order_id"]
    assert _primary_key(any_warehouse, "core", "order_items") == ["account_id", "order_id", "sku"]
    assert _primary_key(any_warehouse, "core", "refunds") == ["account_id", "adjustment_id"]
