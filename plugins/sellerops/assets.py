"""Airflow assets SellerOps produces: one per warehouse table family.

Only ``airflow.sdk`` is imported here, so DAG files can import this module at parse time.
"""

from __future__ import annotations

from airflow.sdk import Asset


def _table_asset(table: str) -> Asset:
    schema, name = table.split(".")
    return Asset(name=table, uri=f"sellerops://warehouse/{schema}/{name}", group="sellerops")


CORE_ORDERS = _table_asset("core.orders")
CORE_ORDER_ITEMS = _table_asset("core.order_items")
CORE_RETURNS = _table_asset("core.returns")
CORE_REFUNDS = _table_asset("core.refunds")
CORE_FEEDBACK = _table_asset("core.feedback")
CORE_MESSAGES = _table_asset("core.messages")

# The daily ingest's tasks, one per source API. Each is mapped over the accounts'
# quota units (account x SP-API region) and runs these ingest groups for every
# marketplace of its unit in turn; ``pool`` bounds the fleet-wide concurrency
# (include/pools.json). Returns and feedback share one task because both draw
# on the Reports API quota.
INGEST_TASKS: dict[str, dict] = {
    "orders": {
        "groups": ("orders",),
        "outlets": [CORE_ORDERS, CORE_ORDER_ITEMS],
        "pool": "sellerops_spapi",
    },
    "reports": {
        "groups": ("returns", "feedback"),
        "outlets": [CORE_RETURNS, CORE_FEEDBACK],
        "pool": "sellerops_spapi",
    },
    "finances": {"groups": ("refunds",), "outlets": [CORE_REFUNDS], "pool": "sellerops_spapi"},
    "mailbox": {"groups": ("messages",), "outlets": [CORE_MESSAGES], "pool": "sellerops_mailbox"},
}

# One event per finished daily ingest run (whatever its partitions did): the models
# are rebuilt once per run, not once per loaded partition.
INGEST_RUN = Asset(
    name="sellerops.ingest_run", uri="sellerops://pipeline/ingest_run", group="sellerops"
)

MARTS = _table_asset("marts.buyer_profile")
BUYER_TAGS = _table_asset("marts.buyer_tags")
