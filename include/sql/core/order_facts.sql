-- depends_on: staging.stg_orders, staging.stg_order_items, staging.stg_returns, staging.stg_refunds, staging.stg_feedback
-- materialized: incremental
-- incremental_scope: staging.scope_orders
-- One row per order (cancelled ones included, flagged) with everything the marts
-- ask of an order: its lines summed, its returns, refunds and feedback, its ship-to
-- region and zone. Returns, refunds and feedback are kept whatever the order status.
-- Incremental: only the orders in staging.scope_orders are recomputed.
WITH scoped_orders AS (
    SELECT o.*
    FROM staging.stg_orders AS o
    WHERE (o.account_id, o.order_id) IN (SELECT s.account_id, s.order_id FROM staging.scope_orders AS s)
),

scoped_lines AS (
    SELECT i.*
    FROM staging.stg_order_items AS i
    WHERE (i.account_id, i.order_id) IN (SELECT s.account_id, s.order_id FROM staging.scope_orders AS s)
),

lines AS (
    SELECT
        account_id,
        order_id,
        CAST(SUM(quantity) AS BIGINT) AS units,
        SUM(line_revenue) AS revenue,
        COUNT(*) AS order_lines,
        COUNT(DISTINCT asin) AS distinct_asins,
        COUNT(*) FILTER (WHERE has_promotion) AS promoted_lines
    FROM scoped_lines
    GROUP BY account_id, order_id
),

-- The order's main line: the highest gross line price (ties: lowest ASIN, SKU).
-- Its ASIN's category is the order's category in the acquisition-channel mart.
top_line AS (
    SELECT
        account_id,
        order_id,
        asin,
        category,
        ROW_NUMBER() OVER (
            PARTITION BY account_id, order_id
            ORDER BY COALESCE(item_price, 0) DESC, asin, sku
        ) AS line_rank
    FROM scoped_lines
),

order_returns AS (
    SELECT account_id, order_id, COUNT(*) AS return_lines, CAST(SUM(quantity) AS BIGINT) AS returned_units
    FROM staging.stg_returns
    WHERE (account_id, order_id) IN (SELECT s.account_id, s.order_id FROM staging.scope_orders AS s)
    GROUP BY account_id, order_id
),

order_refunds AS (
    SELECT account_id, order_id, COUNT(*) AS refund_lines, SUM(amount) AS refunded_amount
    FROM staging.stg_refunds
    WHERE (account_id, order_id) IN (SELECT s.account_id, s.order_id FROM staging.scope_orders AS s)
    GROUP BY account_id, order_id
),

order_feedback AS (
    SELECT account_id, order_id, rating, feedback_date
    FROM staging.stg_feedback
    WHERE (account_id, order_id) IN (SELECT s.account_id, s.order_id FROM staging.scope_orders AS s)
)

SELECT
    o.account_id,
    o.marketplace_id,
    o.order_id,
    o.buyer_key,
    o.purchase_time,
    o.purchase_date,
    o.order_status,
    o.is_cancelled,
    o.fulfillment_channel,
    o.sales_channel,
    o.is_business_order,
    (o.has_promotion_ids OR COALESCE(l.promoted_lines, 0) > 0) AS used_promotion,
    o.ship_state,
    o.region_code,
    o.time_zone,
    COALESCE(l.units, 0) AS units,
    COALESCE(l.revenue, 0) AS revenue,
    COALESCE(l.order_lines, 0) AS order_lines,
    COALESCE(l.distinct_asins, 0) AS distinct_asins,
    t.asin AS top_asin,
    CASE WHEN t.asin IS NOT NULL THEN COALESCE(t.category, 'unknown') END AS top_category,
    COALESCE(r.return_lines, 0) AS return_lines,
    COALESCE(r.returned_units, 0) AS returned_units,
    COALESCE(f.refund_lines, 0) AS refund_lines,
    COALESCE(f.refunded_amount, 0) AS refunded_amount,
    fb.rating AS feedback_rating,
    fb.feedback_date
FROM scoped_orders AS o
LEFT JOIN lines AS l ON l.account_id = o.account_id AND l.order_id = o.order_id
LEFT JOIN top_line AS t ON t.account_id = o.account_id AND t.order_id = o.order_id AND t.line_rank = 1
LEFT JOIN order_returns AS r ON r.account_id = o.account_id AND r.order_id = o.order_id
LEFT JOIN order_refunds AS f ON f.account_id = o.account_id AND f.order_id = o.order_id
LEFT JOIN order_feedback AS fb ON fb.account_id = o.account_id AND fb.order_id = o.order_id
