"""Schema staging; reference tables the SQL models join to; the model-run log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

* ``staging`` holds the model runner's views over ``core`` (``stg_*``), its
  one-row parameter table and the key sets ("scopes") of an incremental build.
  The runner creates all of those itself; the migration only makes the schema.
* ``core.accounts`` (seller time zone per account), ``core.marketplaces``
  (default time zone per marketplace), ``core.products`` (the seller's
  catalogue: brand and category are not in the Orders API) and the geography
  tables ``core.geo_state_time_zones``, ``core.geo_postal_time_zones`` and
  ``core.geo_time_zone_groups`` are filled by the runner from the accounts file,
  the catalogue CSV and ``sellerops.geo``.
* ``ops.model_runs`` logs each build; its ``watermark`` (the newest
  ``core.*.loaded_at`` the build saw) is where the next incremental build starts.

On PostgreSQL the ``loaded_at`` column of every core dataset gets an index, so
an incremental build finds the rows changed since its watermark without a scan.
DuckDB gets none: its zone maps serve the same purpose, and its ART indexes
would slow the loader's upserts of ``loaded_at``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CORE_DATASETS = ("orders", "order_items", "returns", "refunds", "feedback", "messages")
# Tables the model runner builds in core (marts are rebuilt into their own schema).
CORE_MODELS = ("order_facts", "message_replies", "buyer_facts")


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.TIMESTAMP(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS staging")

    op.create_table(
        "accounts",
        sa.Column("account_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text),
        sa.Column("seller_time_zone", sa.Text, nullable=False),
        _ts("loaded_at", nullable=False),
        schema="core",
    )
    op.create_table(
        "marketplaces",
        sa.Column("marketplace_id", sa.Text, primary_key=True),
        sa.Column("country_code", sa.Text, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("default_time_zone", sa.Text, nullable=False),
        schema="core",
    )
    op.create_table(
        "products",
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("marketplace_id", sa.Text, nullable=False),
        sa.Column("sku", sa.Text, nullable=False),
        sa.Column("asin", sa.Text, nullable=False),
        sa.Column("title", sa.Text),
        sa.Column("brand", sa.Text),
        sa.Column("category", sa.Text),
        sa.Column("source", sa.Text, nullable=False),
        _ts("loaded_at", nullable=False),
        sa.PrimaryKeyConstraint("account_id", "marketplace_id", "sku", name="pk_products"),
        schema="core",
    )
    op.create_table(
        "geo_state_time_zones",
        sa.Column("country_code", sa.Text, nullable=False),
        sa.Column("state_key", sa.Text, nullable=False),
        sa.Column("state_code", sa.Text),
        sa.Column("state_name", sa.Text),
        sa.Column("time_zone", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("country_code", "state_key", name="pk_geo_state_time_zones"),
        schema="core",
    )
    op.create_table(
        "geo_postal_time_zones",
        sa.Column("state_code", sa.Text, nullable=False),
        sa.Column("postal_prefix", sa.Text, nullable=False),
        sa.Column("time_zone", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("state_code", "postal_prefix", name="pk_geo_postal_time_zones"),
        schema="core",
    )
    op.create_table(
        "geo_time_zone_groups",
        sa.Column("time_zone", sa.Text, primary_key=True),
        sa.Column("time_zone_group", sa.Text, nullable=False),
        schema="core",
    )
    op.create_table(
        "model_runs",
        sa.Column("run_id", sa.Text, primary_key=True),
        _ts("started_at", nullable=False),
        _ts("finished_at"),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("mode", sa.Text),
        sa.Column("reason", sa.Text),
        _ts("as_of"),
        _ts("watermark"),
        _ts("changed_since"),
        sa.Column("fingerprint", sa.Text),
        sa.Column("models", sa.Text),
        sa.Column("detail", sa.Text),
        schema="ops",
    )
    if op.get_bind().dialect.name == "postgresql":
        for name in CORE_DATASETS:
            op.create_index(f"ix_{name}_loaded_at", name, ["loaded_at"], schema="core")


def downgrade() -> None:
    # The runner's views depend on core tables; its tables are not managed here.
    op.execute("DROP SCHEMA IF EXISTS staging CASCADE")
    for name in CORE_MODELS:
        op.execute(f"DROP TABLE IF EXISTS core.{name}")
    op.execute("DROP SCHEMA IF EXISTS marts CASCADE")
    op.execute("CREATE SCHEMA marts")
    if op.get_bind().dialect.name == "postgresql":
        for name in CORE_DATASETS:
            op.drop_index(f"ix_{name}_loaded_at", table_name=name, schema="core")
    op.drop_table("model_runs", schema="ops")
    for name in (
        "geo_time_zone_groups",
        "geo_postal_time_zones",
        "geo_state_time_zones",
        "products",
        "marketplaces",
        "accounts",
    ):
        op.drop_table(name, schema="core")
