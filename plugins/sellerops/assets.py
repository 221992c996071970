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

# What each ingest group writes.
INGEST_OUTLETS: dict[str, list[Asset]] = {
    "orders": [CORE_ORDERS, CORE_ORDER_ITEMS],
    "returns": [CORE_RETURNS],
    "refunds": [CORE_REFUNDS],
    "feedback": [CORE_FEEDBACK],
    "messages": [CORE_MESSAGES],
}

# Any core table changing is reason to rebuild the models.
CORE_ASSETS = (
    CORE_ORDERS | CORE_ORDER_ITEMS | CORE_RETURNS | CORE_REFUNDS | CORE_FEEDBACK | CORE_MESSAGES
)

MARTS = _table_asset("marts.buyer_profile")
BUYER_TAGS = _table_asset("marts.buyer_tags")
