"""Alembic migrations for the warehouse schemas ``raw``, ``core``, ``marts`` and ``ops``.

Run them with ``sellerops db upgrade`` (or :func:`sellerops.migrations.upgrade`).
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def _register_duckdb() -> None:
    """Alembic has no DuckDB dialect of its own; DuckDB speaks PostgreSQL-style DDL."""
    from alembic.ddl.impl import DefaultImpl, _impls

    if "duckdb" not in _impls:

        class DuckDBImpl(DefaultImpl):
            __dialect__ = "duckdb"
            transactional_ddl = True


def alembic_config(url: str):
    from alembic.config import Config

    _register_duckdb()
    config = Config()
    config.set_main_option("script_location", str(HERE))
    # Alembic interpolates '%' in options; escape it in passwords.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(warehouse, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade the warehouse to ``revision``; return (revision before, revision after)."""
    from alembic import command

    before = current_revision(warehouse)
    with warehouse.begin() as conn:
        config = alembic_config(warehouse.url.render_as_string(hide_password=False))
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    return before, current_revision(warehouse)


def current_revision(warehouse) -> str | None:
    from alembic.runtime.migration import MigrationContext

    _register_duckdb()
    with warehouse.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("duckdb://")).get_current_head()
