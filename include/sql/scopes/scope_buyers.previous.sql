-- Incremental builds only, before any model is updated: the buyers the orders and
-- threads in scope had at the last build. Their facts change too when an order
-- moves to another buyer key (e.g. a buyer identified later).
SELECT f.account_id, f.marketplace_id, f.buyer_key
FROM core.order_facts AS f
WHERE
    f.buyer_key IS NOT NULL
    AND (f.account_id, f.order_id) IN (
        SELECT s.account_id, s.order_id FROM staging.scope_orders AS s
    )
UNION
SELECT m.account_id, m.marketplace_id, m.buyer_key
FROM core.message_replies AS m
WHERE
    m.buyer_key IS NOT NULL
    AND (m.account_id, m.thread_key) IN (
        SELECT s.account_id, s.thread_key FROM staging.scope_threads AS s
    )
