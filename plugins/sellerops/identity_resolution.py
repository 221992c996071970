"""Resolve each order's buyer to one key across FBM and FBA orders, messages and feedback.

Amazon gives the buyer's relay e-mail only on merchant-fulfilled (FBM) orders.
FBA orders carry the recipient (name + postal code + country) key instead, so
one buyer would otherwise appear under two keys. The rule, applied per account:

* every e-mail key is a buyer key (messages, feedback and FBM orders use it);
* a recipient key is an alias of the e-mail key it is seen with — on an order
  that shows both, or through a buyer message or feedback that names an order
  carrying that recipient key (the smallest e-mail key wins if several do);
* ``core.orders.buyer_key`` = the order's e-mail key, else the resolved
  recipient key, else null.

The links live in ``core.buyer_aliases``; re-running changes nothing when no
new link appeared, and only rows whose resolved key changed are updated (with a
new ``loaded_at``, as the loader would: incremental model builds see the change).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import sqlalchemy as sa

from sellerops.warehouse import Warehouse, xact_lock

log = logging.getLogger(__name__)

_LINKS = """
SELECT account_id, buyer_recipient_key AS alias_key, MIN(email_key) AS buyer_key
FROM (
    SELECT account_id, buyer_recipient_key, buyer_email_key AS email_key
    FROM core.orders
    WHERE buyer_email_key IS NOT NULL AND buyer_recipient_key IS NOT NULL
    UNION ALL
    SELECT o.account_id, o.buyer_recipient_key, m.buyer_key
    FROM core.messages AS m
    JOIN core.orders AS o ON o.account_id = m.account_id AND o.order_id = m.order_id
    WHERE m.direction = 'buyer' AND m.buyer_key IS NOT NULL
      AND o.buyer_recipient_key IS NOT NULL
    UNION ALL
    SELECT o.account_id, o.buyer_recipient_key, f.buyer_key
    FROM core.feedback AS f
    JOIN core.orders AS o ON o.account_id = f.account_id AND o.order_id = f.order_id
    WHERE f.buyer_key IS NOT NULL AND o.buyer_recipient_key IS NOT NULL
) AS links
WHERE account_id = :account_id
GROUP BY account_id, buyer_recipient_key
"""

_RESOLVED = """
COALESCE(
    o.buyer_email_key,
    (SELECT a.buyer_key FROM core.buyer_aliases AS a
     WHERE a.account_id = o.account_id AND a.alias_key = o.buyer_recipient_key),
    o.buyer_recipient_key
)
"""


def resolve_identities(warehouse: Warehouse, account_id: str) -> dict[str, int]:
    """Refresh the aliases and the resolved ``core.orders.buyer_key`` of one account."""
    params = {"account_id": account_id}
    with warehouse.begin() as conn:
        # The loader's lock: a concurrent resolution would re-insert the aliases this
        # one inserts, and an orders load updates the same rows of core.orders.
        xact_lock(conn, f"sellerops:load:{account_id}")
        before = conn.execute(
            sa.text("SELECT COUNT(*) FROM core.buyer_aliases WHERE account_id = :account_id"),
            params,
        ).scalar()
        conn.execute(
            sa.text("DELETE FROM core.buyer_aliases WHERE account_id = :account_id"), params
        )
        conn.execute(
            sa.text(f"INSERT INTO core.buyer_aliases (account_id, alias_key, buyer_key) {_LINKS}"),
            params,
        )
        aliases = conn.execute(
            sa.text("SELECT COUNT(*) FROM core.buyer_aliases WHERE account_id = :account_id"),
            params,
        ).scalar()
        # A re-keyed order is a changed row: loaded_at moves with it, so the next
        # incremental model build recomputes it (and its old and new buyer).
        updated = conn.execute(
            sa.text(
                f"UPDATE core.orders AS o SET buyer_key = {_RESOLVED}, loaded_at = :now "  # noqa: S608 - fixed SQL
                f"WHERE o.account_id = :account_id AND o.buyer_key IS DISTINCT FROM {_RESOLVED}"
            ),
            {**params, "now": datetime.now(UTC)},
        ).rowcount
    log.info(
        "identity %s: %d aliases (was %d), %d orders re-keyed", account_id, aliases, before, updated
    )
    return {"aliases": int(aliases), "orders_rekeyed": int(updated or 0)}
