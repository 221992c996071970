"""Alembic environment: runs on the connection SellerOps hands it (DuckDB or PostgreSQL)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from sellerops.migrations import _register_duckdb

_register_duckdb()


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        engine = sa.create_engine(context.config.get_main_option("sqlalchemy.url"))
        with engine.begin() as connection:
            context.configure(connection=connection)
            context.run_migrations()
        return
    context.configure(connection=connection)
    context.run_migrations()


run_migrations()
