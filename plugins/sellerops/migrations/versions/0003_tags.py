"""Buyer tags: manual tags, tag memberships with history, daily group sizes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

* ``ops.manual_buyer_tags``: tags the operations team gives by hand (``sellerops
  tags add|remove|import``); a removal sets ``removed_at``, rows are never deleted.
* ``marts.buyer_tags``: every membership of a buyer in a tag, from a rule
  (``source = 'rule'``, ``rule_version`` = hash of the rule's condition) or by hand
  (``source = 'manual'``, ``rule_version = 'manual'``), valid from ``valid_from``
  until ``valid_to`` (NULL while it holds). Leaving a tag closes the row.
* ``marts.buyer_tags_current``: the memberships that hold now.
* ``marts.tag_counts_daily``: buyers per tag and source on the UTC day of each run.

The model runner (``sellerops.models.runner``) drops and recreates only the
relations named by files in ``include/sql`` (and ``marts.buyer_predictions``), so
these tables survive every build; nothing here depends on a relation the runner
rebuilds (the view reads ``marts.buyer_tags`` only).
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.TIMESTAMP(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "manual_buyer_tags",
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("marketplace_id", sa.Text, nullable=False),
        sa.Column("buyer_key", sa.Text, nullable=False),
        sa.Column("tag", sa.Text, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("added_by", sa.Text),
        _ts("added_at", nullable=False),
        sa.Column("origin", sa.Text, nullable=False),
        _ts("removed_at"),
        sa.Column("removed_by", sa.Text),
        sa.Column("removal_note", sa.Text),
        sa.PrimaryKeyConstraint(
            "account_id",
            "marketplace_id",
            "buyer_key",
            "tag",
            "added_at",
            name="pk_manual_buyer_tags",
        ),
        schema="ops",
    )
    op.create_table(
        "buyer_tags",
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("marketplace_id", sa.Text, nullable=False),
        sa.Column("buyer_key", sa.Text, nullable=False),
        sa.Column("tag", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("rule_version", sa.Text, nullable=False),
        _ts("valid_from", nullable=False),
        _ts("valid_to"),
        sa.Column("reason", sa.Text),
        sa.PrimaryKeyConstraint(
            "account_id",
            "marketplace_id",
            "buyer_key",
            "tag",
            "source",
            "rule_version",
            "valid_from",
            name="pk_buyer_tags",
        ),
        schema="marts",
    )
    op.create_table(
        "tag_counts_daily",
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("marketplace_id", sa.Text, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("tag", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("buyers", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(
            "account_id", "marketplace_id", "day", "tag", "source", name="pk_tag_counts_daily"
        ),
        schema="marts",
    )
    op.execute(
        "CREATE VIEW marts.buyer_tags_current AS "
        "SELECT account_id, marketplace_id, buyer_key, tag, source, rule_version, "
        "valid_from, reason FROM marts.buyer_tags WHERE valid_to IS NULL"
    )
    if op.get_bind().dialect.name == "postgresql":
        # At most one open membership per (buyer, tag, source); DuckDB has no partial
        # indexes, and there the materialiser's own diff keeps it so (tested).
        op.execute(
            "CREATE UNIQUE INDEX ux_buyer_tags_open ON marts.buyer_tags "
            "(account_id, marketplace_id, buyer_key, tag, source) WHERE valid_to IS NULL"
        )
        op.create_index(
            "ix_manual_buyer_tags_open",
            "manual_buyer_tags",
            ["account_id", "buyer_key"],
            schema="ops",
        )


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS marts.buyer_tags_current")
    op.drop_table("tag_counts_daily", schema="marts")
    op.drop_table("buyer_tags", schema="marts")
    op.drop_table("manual_buyer_tags", schema="ops")
