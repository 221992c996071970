"""Schemas raw, core, marts, ops; landing and core tables of the six datasets; load audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

The table definitions are frozen here on purpose (a migration must not change
when ``sellerops.datasets`` evolves); later changes come as new revisions.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TYPES = {
    "text": sa.Text,
    "int": sa.BigInteger,
    "money": lambda: sa.Numeric(18, 4),
    "bool": sa.Boolean,
    "timestamp": lambda: sa.TIMESTAMP(timezone=True),
    "date": sa.Date,
}

# name -> (columns as "name type [not null]", natural key)
DATASETS = {
    "orders": (
        """account_id text not null, marketplace_id text not null, order_id text not null,
        purchase_time timestamp not null, last_updated_time timestamp not null,
        order_status text not null, fulfillment_channel text not null, sales_channel text,
        is_business_order bool, buyer_email_key text, buyer_recipient_key text,
        identity_source text not null, ship_city text,
        ship_state text, ship_postal_code text, ship_country text, ship_time timestamp,
        latest_delivery_time timestamp, currency text, order_total money, promotion_ids text,
        source text not null""",
        ("account_id", "order_id"),
    ),
    "order_items": (
        """account_id text not null, marketplace_id text not null, order_id text not null,
        sku text not null, order_item_id text, asin text, quantity int not null,
        item_price money, item_tax money, shipping_price money, promotion_discount money,
        promotion_ids text, currency text, last_updated_time timestamp not null,
        source text not null""",
        ("account_id", "order_id", "sku"),
    ),
    "returns": (
        """account_id text not null, marketplace_id text not null, return_key text not null,
        order_id text not null, sku text, asin text, quantity int not null,
        return_time timestamp not null, reason text, status text,
        fulfillment_channel text not null, source text not null""",
        ("account_id", "return_key"),
    ),
    "refunds": (
        """account_id text not null, marketplace_id text not null, adjustment_id text not null,
        order_id text not null, sku text, quantity int, amount money not null,
        currency text not null, posted_time timestamp not null, source text not null""",
        ("account_id", "adjustment_id"),
    ),
    "feedback": (
        """account_id text not null, marketplace_id text not null, order_id text not null,
        feedback_date date not null, rating int not null, comments text,
        has_response bool not null, buyer_key text, source text not null""",
        ("account_id", "order_id"),
    ),
    "messages": (
        """account_id text not null, marketplace_id text not null, message_id text not null,
        thread_key text not null, order_id text, direction text not null,
        sent_time timestamp not null, buyer_key text, subject_kind text, has_attachment bool,
        body_chars int, source text not null""",
        ("account_id", "message_id"),
    ),
}


def _columns(spec: str, *, keep_not_null: bool) -> list[sa.Column]:
    columns = []
    for part in spec.split(","):
        words = part.split()
        name, type_name = words[0], words[1]
        not_null = "not" in words
        columns.append(
            sa.Column(name, TYPES[type_name](), nullable=not (not_null and keep_not_null))
        )
    return columns


def upgrade() -> None:
    for schema in ("raw", "core", "marts", "ops"):
        op.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")

    for name, (spec, key) in DATASETS.items():
        # Landing tables keep every extracted version, append-only, keyed by batch.
        op.create_table(
            name,
            sa.Column("batch_id", sa.Text, nullable=False),
            sa.Column("extracted_at", sa.TIMESTAMP(timezone=True), nullable=False),
            *_columns(spec, keep_not_null=False),
            schema="raw",
        )
        op.create_table(
            name,
            *_columns(spec, keep_not_null=True),
            sa.Column("batch_id", sa.Text, nullable=False),
            sa.Column("loaded_at", sa.TIMESTAMP(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint(*key, name=f"pk_{name}"),
            schema="core",
        )

    # The resolved buyer identity of an order, maintained by identity resolution.
    op.add_column("orders", sa.Column("buyer_key", sa.Text), schema="core")
    op.create_table(
        "buyer_aliases",
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("alias_key", sa.Text, nullable=False),
        sa.Column("buyer_key", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "alias_key", name="pk_buyer_aliases"),
        schema="core",
    )
    op.create_table(
        "load_audit",
        sa.Column("batch_id", sa.Text, primary_key=True),
        sa.Column("dataset", sa.Text, nullable=False),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("marketplace_id", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("window_start", sa.TIMESTAMP(timezone=True)),
        sa.Column("window_end", sa.TIMESTAMP(timezone=True)),
        sa.Column("extracted", sa.BigInteger, nullable=False),
        sa.Column("loaded", sa.BigInteger, nullable=False),
        sa.Column("quarantined", sa.BigInteger, nullable=False),
        sa.Column("inserted", sa.BigInteger, nullable=False),
        sa.Column("updated", sa.BigInteger, nullable=False),
        sa.Column("unchanged", sa.BigInteger, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("started_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("finished_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("detail", sa.Text),
        schema="ops",
    )
    op.create_table(
        "quarantine",
        sa.Column("batch_id", sa.Text, nullable=False),
        sa.Column("dataset", sa.Text, nullable=False),
        sa.Column("account_id", sa.Text),
        sa.Column("marketplace_id", sa.Text),
        sa.Column("row_number", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("row_values", sa.Text),
        sa.Column("quarantined_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", "row_number", name="pk_quarantine"),
        schema="ops",
    )
    op.create_table(
        "validation_runs",
        sa.Column("batch_id", sa.Text, primary_key=True),
        sa.Column("dataset", sa.Text, nullable=False),
        sa.Column("suite_name", sa.Text, nullable=False),
        sa.Column("success", sa.Boolean, nullable=False),
        sa.Column("evaluated_rows", sa.BigInteger, nullable=False),
        sa.Column("quarantined_rows", sa.BigInteger, nullable=False),
        sa.Column("expectations", sa.BigInteger, nullable=False),
        sa.Column("failed_expectations", sa.Text),
        sa.Column("run_time", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("data_docs_path", sa.Text),
        schema="ops",
    )


def downgrade() -> None:
    for table in ("validation_runs", "quarantine", "load_audit"):
        op.drop_table(table, schema="ops")
    op.drop_table("buyer_aliases", schema="core")
    for name in DATASETS:
        op.drop_table(name, schema="core")
        op.drop_table(name, schema="raw")
    for schema in ("ops", "marts", "core", "raw"):
        op.execute(f"DROP SCHEMA IF EXISTS {schema}")
