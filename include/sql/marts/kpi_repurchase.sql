-- depends_on: core.order_facts, core.buyer_facts
-- One row per account, marketplace, period grain ('month', 'quarter', 'year') and
-- period (UTC calendar; period_start is its first day) with at least one buyer.
-- Only non-cancelled orders of known buyers count.
--   repurchase_rate       = buyers with >= 2 distinct orders in the period
--                           / buyers with >= 1 order in the period
--   returning_buyer_share = buyers of the period whose first order was before it
--                           / buyers of the period
-- Rebuilt in full each build (one pass over the orders).
WITH grains AS (
    SELECT 'month' AS period_grain
    UNION ALL SELECT 'quarter'
    UNION ALL SELECT 'year'
),

buyer_orders AS (
    SELECT account_id, marketplace_id, buyer_key, order_id, CAST(purchase_date AS TIMESTAMP) AS purchase_day
    FROM core.order_facts
    WHERE NOT is_cancelled AND buyer_key IS NOT NULL
),

periods AS (
    SELECT
        o.account_id,
        o.marketplace_id,
        g.period_grain,
        CAST(
            CASE g.period_grain
                WHEN 'month' THEN date_trunc('month', o.purchase_day)
                WHEN 'quarter' THEN date_trunc('quarter', o.purchase_day)
                ELSE date_trunc('year', o.purchase_day)
            END AS DATE
        ) AS period_start,
        o.buyer_key,
        o.order_id
    FROM buyer_orders AS o
    CROSS JOIN grains AS g
),

buyer_periods AS (
    SELECT account_id, marketplace_id, period_grain, period_start, buyer_key, COUNT(DISTINCT order_id) AS period_orders
    FROM periods
    GROUP BY account_id, marketplace_id, period_grain, period_start, buyer_key
)

SELECT
    bp.account_id,
    bp.marketplace_id,
    bp.period_grain,
    bp.period_start,
    COUNT(*) AS buyers,
    COUNT(*) FILTER (WHERE bp.period_orders >= 2) AS repeat_buyers,
    CAST(COUNT(*) FILTER (WHERE bp.period_orders >= 2) AS DOUBLE PRECISION) / COUNT(*) AS repurchase_rate,
    COUNT(*) FILTER (WHERE b.first_order_date < bp.period_start) AS returning_buyers,
    CAST(COUNT(*) FILTER (WHERE b.first_order_date < bp.period_start) AS DOUBLE PRECISION) / COUNT(*)
        AS returning_buyer_share
FROM buyer_periods AS bp
INNER JOIN core.buyer_facts AS b
    ON b.account_id = bp.account_id AND b.marketplace_id = bp.marketplace_id AND b.buyer_key = bp.buyer_key
GROUP BY bp.account_id, bp.marketplace_id, bp.period_grain, bp.period_start
