"""Campaigns: the send outbox, the run log, buyer opt-outs, the holdout comparison.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24

* ``ops.campaign_sends``: the outbox, one row per campaign x order (primary key
  ``(campaign, account_id, order_id)``, so a campaign can never plan an order
  twice). ``status`` moves through the state machine of
  :mod:`sellerops.campaigns.sender`; ``arm`` is the holdout assignment
  (``treatment`` / ``holdout``, NULL while the order was excluded before it was
  ever assigned). ``claim_token`` / ``claimed_at`` mark a row a worker is sending
  right now; a claim older than the lease that was never settled is resolved by
  asking Amazon, never by sending again; ``posting_at`` (set, and committed, right
  before each send call of the claim) tells "never called" from "maybe sent".
* ``ops.campaign_runs``: one row per plan / send / results run, with the counts
  by campaign, outcome and reason (JSON) and the report text.
* ``ops.buyer_opt_outs``: buyers who asked not to be contacted, per account and
  channel (``all`` for every channel); rows are never deleted by the pipeline.
* ``marts.campaign_results``: treated vs held-out buyers per campaign and metric,
  written by :mod:`sellerops.campaigns.results` (not by the model runner, which
  only rebuilds the relations named by files in ``include/sql``).
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.TIMESTAMP(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "campaign_sends",
        sa.Column("campaign", sa.Text, nullable=False),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("marketplace_id", sa.Text, nullable=False),
        sa.Column("order_id", sa.Text, nullable=False),
        sa.Column("buyer_key", sa.Text),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("arm", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("detail", sa.Text),
        _ts("anchor_time", nullable=False),
        sa.Column("anchor_source", sa.Text, nullable=False),
        _ts("due_at", nullable=False),
        _ts("give_up_at", nullable=False),
        sa.Column("time_zone", sa.Text),
        _ts("planned_at", nullable=False),
        _ts("next_check_at"),
        sa.Column("checks", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("attempts", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("posts", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("claim_token", sa.Text),
        _ts("claimed_at"),
        _ts("posting_at"),
        _ts("settled_at"),
        _ts("sent_at"),
        sa.Column("confirmed", sa.Boolean),
        sa.Column("amazon_request_id", sa.Text),
        sa.Column("run_id", sa.Text),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("campaign", "account_id", "order_id", name="pk_campaign_sends"),
        schema="ops",
    )
    op.create_table(
        "campaign_runs",
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("step", sa.Text, nullable=False),
        _ts("started_at", nullable=False),
        _ts("finished_at"),
        _ts("as_of", nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("campaigns", sa.Text),
        sa.Column("live_campaigns", sa.Text),
        sa.Column("counts", sa.Text),
        sa.Column("report", sa.Text),
        sa.Column("error", sa.Text),
        schema="ops",
    )
    op.create_table(
        "buyer_opt_outs",
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("buyer_key", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        _ts("since", nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("note", sa.Text),
        _ts("recorded_at", nullable=False),
        sa.PrimaryKeyConstraint("account_id", "buyer_key", "channel", name="pk_buyer_opt_outs"),
        schema="ops",
    )
    op.create_table(
        "campaign_results",
        sa.Column("campaign", sa.Text, nullable=False),
        sa.Column("metric", sa.Text, nullable=False),
        sa.Column("window_days", sa.BigInteger, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("holdout_share", sa.Float, nullable=False),
        sa.Column("treated_buyers", sa.BigInteger, nullable=False),
        sa.Column("treated_sent", sa.BigInteger, nullable=False),
        sa.Column("treated_events", sa.BigInteger, nullable=False),
        sa.Column("treated_rate", sa.Float),
        sa.Column("holdout_buyers", sa.BigInteger, nullable=False),
        sa.Column("holdout_events", sa.BigInteger, nullable=False),
        sa.Column("holdout_rate", sa.Float),
        sa.Column("difference", sa.Float),
        sa.Column("ci_low", sa.Float),
        sa.Column("ci_high", sa.Float),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("ci_method", sa.Text, nullable=False),
        sa.Column("p_value", sa.Float),
        sa.Column("relative_uplift", sa.Float),
        sa.Column("immature_buyers", sa.BigInteger, nullable=False),
        _ts("as_of", nullable=False),
        _ts("computed_at", nullable=False),
        sa.PrimaryKeyConstraint("campaign", "metric", name="pk_campaign_results"),
        schema="marts",
    )
    if op.get_bind().dialect.name == "postgresql":
        # The sender's work list: due rows of a campaign by status.
        op.create_index(
            "ix_campaign_sends_status",
            "campaign_sends",
            ["campaign", "status", "next_check_at"],
            schema="ops",
        )
        # "Already solicited" looks across campaigns by order.
        op.create_index(
            "ix_campaign_sends_order",
            "campaign_sends",
            ["account_id", "order_id"],
            schema="ops",
        )


def downgrade() -> None:
    op.drop_table("campaign_results", schema="marts")
    op.drop_table("buyer_opt_outs", schema="ops")
    op.drop_table("campaign_runs", schema="ops")
    op.drop_table("campaign_sends", schema="ops")
