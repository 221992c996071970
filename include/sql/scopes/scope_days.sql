-- depends_on: staging.scope_orders, staging.scope_threads, staging.scope_buyers
-- The (account, marketplace, UTC day) rows of marts.kpi_daily this build computes:
-- * the purchase day of every order in scope (orders, units, revenue, cancellations);
-- * the days of new or changed returns, refunds and feedback (counted on their day);
-- * the days of the buyer messages of the threads in scope (reply times can change);
-- * the first-order day of every buyer in scope, because whether a buyer counts as
--   new or returning on a day depends on that buyer's first order.
-- scope_days.previous.sql adds the same days as the last build saw them.
SELECT o.account_id, o.marketplace_id, o.purchase_date AS day
FROM staging.stg_orders AS o
WHERE (o.account_id, o.order_id) IN (SELECT s.account_id, s.order_id FROM staging.scope_orders AS s)
UNION
SELECT r.account_id, r.marketplace_id, r.return_date
FROM staging.stg_returns AS r
CROSS JOIN staging.build_params AS p
WHERE p.full_refresh OR r.loaded_at > p.changed_since
UNION
SELECT f.account_id, f.marketplace_id, f.posted_date
FROM staging.stg_refunds AS f
CROSS JOIN staging.build_params AS p
WHERE p.full_refresh OR f.loaded_at > p.changed_since
UNION
SELECT b.account_id, b.marketplace_id, b.feedback_date
FROM staging.stg_feedback AS b
CROSS JOIN staging.build_params AS p
WHERE p.full_refresh OR b.loaded_at > p.changed_since
UNION
SELECT m.account_id, m.marketplace_id, m.sent_date
FROM staging.stg_messages AS m
WHERE
    m.direction = 'buyer'
    AND (m.account_id, m.thread_key) IN (
        SELECT s.account_id, s.thread_key FROM staging.scope_threads AS s
    )
UNION
SELECT o.account_id, o.marketplace_id, MIN(o.purchase_date)
FROM staging.stg_orders AS o
WHERE
    NOT o.is_cancelled
    AND (o.account_id, o.marketplace_id, o.buyer_key) IN (
        SELECT s.account_id, s.marketplace_id, s.buyer_key FROM staging.scope_buyers AS s
    )
GROUP BY o.account_id, o.marketplace_id, o.buyer_key
