-- depends_on: core.order_facts, staging.stg_order_items
-- One row per account, marketplace, ASIN, period grain ('month', 'quarter', 'year')
-- and period (UTC calendar) in which the ASIN had a known buyer.
--   repurchase_rate = buyers who bought the ASIN in >= 2 distinct orders of the period
--                     / buyers of the ASIN in the period
-- Non-cancelled orders of known buyers only. Rebuilt in full each build.
WITH grains AS (
    SELECT 'month' AS period_grain
    UNION ALL SELECT 'quarter'
    UNION ALL SELECT 'year'
),

asin_orders AS (
    SELECT DISTINCT
        o.account_id,
        o.marketplace_id,
        i.asin,
        o.buyer_key,
        o.order_id,
        CAST(o.purchase_date AS TIMESTAMP) AS purchase_day
    FROM core.order_facts AS o
    INNER JOIN staging.stg_order_items AS i ON i.account_id = o.account_id AND i.order_id = o.order_id
    WHERE NOT o.is_cancelled AND o.buyer_key IS NOT NULL
),

buyer_periods AS (
    SELECT
        a.account_id,
        a.marketplace_id,
        a.asin,
        g.period_grain,
        CAST(
            CASE g.period_grain
                WHEN 'month' THEN date_trunc('month', a.purchase_day)
                WHEN 'quarter' THEN date_trunc('quarter', a.purchase_day)
                ELSE date_trunc('year', a.purchase_day)
            END AS DATE
        ) AS period_start,
        a.buyer_key,
        COUNT(DISTINCT a.order_id) AS period_orders
    FROM asin_orders AS a
    CROSS JOIN grains AS g
    GROUP BY 1, 2, 3, 4, 5, 6
)

SELECT
    account_id,
    marketplace_id,
    asin,
    period_grain,
    period_start,
    COUNT(*) AS buyers,
    COUNT(*) FILTER (WHERE period_orders >= 2) AS repeat_buyers,
    CAST(COUNT(*) FILTER (WHERE period_orders >= 2) AS DOUBLE PRECISION) / COUNT(*) AS repurchase_rate
FROM buyer_periods
GROUP BY account_id, marketplace_id, asin, period_grain, period_start
