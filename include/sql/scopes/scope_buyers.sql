-- depends_on: staging.scope_orders, staging.scope_threads
-- The buyers whose facts (core.buyer_facts) this build computes: the buyers of the
-- orders and threads in scope, as they are now. (scope_buyers.previous.sql adds the
-- buyers those orders and threads had at the last build, for an order whose buyer
-- key changed.)
SELECT o.account_id, o.marketplace_id, o.buyer_key
FROM staging.stg_orders AS o
WHERE
    o.buyer_key IS NOT NULL
    AND (o.account_id, o.order_id) IN (
        SELECT s.account_id, s.order_id FROM staging.scope_orders AS s
    )
UNION
SELECT m.account_id, m.marketplace_id, m.buyer_key
FROM staging.stg_messages AS m
WHERE
    m.direction = 'buyer'
    AND m.buyer_key IS NOT NULL
    AND (m.account_id, m.thread_key) IN (
        SELECT s.account_id, s.thread_key FROM staging.scope_threads AS s
    )
