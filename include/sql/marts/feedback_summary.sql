-- depends_on: core.order_facts, staging.stg_feedback
-- Seller feedback over the trailing 30, 90 and 365 days: one row per account,
-- marketplace and window. A window is the N UTC calendar days ending on as_of's
-- date (window_start = as_of_date - N + 1, window_end = as_of_date).
--   orders                   = non-cancelled orders placed in the window
--   feedback_count           = feedback entries received in the window
--   negative_feedback_rate   = orders with 1-2 star feedback received in the window
--                              / orders placed in the window (Amazon's order-defect
--                              definition; Amazon allows one feedback per order)
--   negative_feedback_share  = negative entries / feedback entries received
-- Rebuilt in full each build.
WITH windows AS (
    SELECT 30 AS window_days
    UNION ALL SELECT 90
    UNION ALL SELECT 365
),

bounds AS (
    SELECT w.window_days, p.as_of_date - w.window_days + 1 AS window_start, p.as_of_date AS window_end
    FROM windows AS w
    CROSS JOIN staging.build_params AS p
),

window_orders AS (
    SELECT o.account_id, o.marketplace_id, b.window_days, COUNT(*) AS orders
    FROM core.order_facts AS o
    INNER JOIN bounds AS b ON o.purchase_date BETWEEN b.window_start AND b.window_end
    WHERE NOT o.is_cancelled
    GROUP BY o.account_id, o.marketplace_id, b.window_days
),

window_feedback AS (
    SELECT
        f.account_id,
        f.marketplace_id,
        b.window_days,
        COUNT(*) AS feedback_count,
        COUNT(*) FILTER (WHERE f.is_positive) AS positive_feedback,
        COUNT(*) FILTER (WHERE f.is_negative) AS negative_feedback
    FROM staging.stg_feedback AS f
    INNER JOIN bounds AS b ON f.feedback_date BETWEEN b.window_start AND b.window_end
    GROUP BY f.account_id, f.marketplace_id, b.window_days
),

keys AS (
    SELECT account_id, marketplace_id, window_days FROM window_orders
    UNION
    SELECT account_id, marketplace_id, window_days FROM window_feedback
)

SELECT
    k.account_id,
    k.marketplace_id,
    k.window_days,
    b.window_start,
    b.window_end,
    COALESCE(o.orders, 0) AS orders,
    COALESCE(f.feedback_count, 0) AS feedback_count,
    COALESCE(f.positive_feedback, 0) AS positive_feedback,
    COALESCE(f.negative_feedback, 0) AS negative_feedback,
    CAST(COALESCE(f.negative_feedback, 0) AS DOUBLE PRECISION) / NULLIF(o.orders, 0) AS negative_feedback_rate,
    CAST(COALESCE(f.negative_feedback, 0) AS DOUBLE PRECISION) / NULLIF(f.feedback_count, 0)
        AS negative_feedback_share
FROM keys AS k
INNER JOIN bounds AS b ON b.window_days = k.window_days
LEFT JOIN window_orders AS o
    ON o.account_id = k.account_id AND o.marketplace_id = k.marketplace_id AND o.window_days = k.window_days
LEFT JOIN window_feedback AS f
    ON f.account_id = k.account_id AND f.marketplace_id = k.marketplace_id AND f.window_days = k.window_days
