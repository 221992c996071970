-- Incremental builds only, before any model is updated: the days the orders,
-- buyers and threads in scope touched at the last build (an order's old purchase
-- day, a buyer's old first-order day, the days of a thread's buyer messages).
SELECT f.account_id, f.marketplace_id, f.purchase_date AS day
FROM core.order_facts AS f
WHERE (f.account_id, f.order_id) IN (SELECT s.account_id, s.order_id FROM staging.scope_orders AS s)
UNION
SELECT b.account_id, b.marketplace_id, b.first_order_date
FROM core.buyer_facts AS b
WHERE
    b.first_order_date IS NOT NULL
    AND (b.account_id, b.marketplace_id, b.buyer_key) IN (
        SELECT s.account_id, s.marketplace_id, s.buyer_key FROM staging.scope_buyers AS s
    )
UNION
SELECT m.account_id, m.marketplace_id, m.sent_date
FROM core.message_replies AS m
WHERE (m.account_id, m.thread_key) IN (SELECT s.account_id, s.thread_key FROM staging.scope_threads AS s)
