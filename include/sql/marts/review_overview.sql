-- depends_on: core.order_facts, staging.stg_order_items, staging.stg_feedback, staging.stg_products
-- Per ASIN: the last 30 days against the 90 days before them, to spot a product
-- whose feedback turns negative. One row per account, marketplace and ASIN with an
-- order or feedback in those 120 days.
-- Windows are UTC calendar days: recent = [as_of_date - 29, as_of_date],
-- prior = [as_of_date - 119, as_of_date - 30]. Amazon's product reviews are not
-- available through SP-API, so this uses seller feedback on orders containing the
-- ASIN (an order with several ASINs counts for each).
--   negative_rate_<window>  = 1-2 star feedback received in the window on orders of
--                             the ASIN / non-cancelled orders of the ASIN placed in it
--   negative_rate_rising    = the recent window has negative feedback and its rate is
--                             above the prior window's (taken as 0 when the prior had
--                             no orders), or it has no orders to rate against
-- Rebuilt in full each build.
WITH params AS (
    SELECT
        as_of_date - 29 AS recent_start,
        as_of_date AS recent_end,
        as_of_date - 119 AS prior_start,
        as_of_date - 30 AS prior_end
    FROM staging.build_params
),

asin_orders AS (
    SELECT DISTINCT o.account_id, o.marketplace_id, i.asin, o.order_id, o.purchase_date, o.is_cancelled
    FROM core.order_facts AS o
    INNER JOIN staging.stg_order_items AS i ON i.account_id = o.account_id AND i.order_id = o.order_id
),

order_stats AS (
    SELECT
        a.account_id,
        a.marketplace_id,
        a.asin,
        COUNT(*) FILTER (
            WHERE NOT a.is_cancelled AND a.purchase_date BETWEEN p.recent_start AND p.recent_end
        ) AS orders_30d,
        COUNT(*) FILTER (
            WHERE NOT a.is_cancelled AND a.purchase_date BETWEEN p.prior_start AND p.prior_end
        ) AS orders_prior_90d
    FROM asin_orders AS a
    CROSS JOIN params AS p
    GROUP BY a.account_id, a.marketplace_id, a.asin
),

feedback_stats AS (
    SELECT
        a.account_id,
        a.marketplace_id,
        a.asin,
        COUNT(*) FILTER (WHERE f.feedback_date BETWEEN p.recent_start AND p.recent_end) AS feedback_30d,
        COUNT(*) FILTER (
            WHERE f.is_negative AND f.feedback_date BETWEEN p.recent_start AND p.recent_end
        ) AS negative_30d,
        COUNT(*) FILTER (WHERE f.feedback_date BETWEEN p.prior_start AND p.prior_end) AS feedback_prior_90d,
        COUNT(*) FILTER (
            WHERE f.is_negative AND f.feedback_date BETWEEN p.prior_start AND p.prior_end
        ) AS negative_prior_90d
    FROM asin_orders AS a
    INNER JOIN staging.stg_feedback AS f ON f.account_id = a.account_id AND f.order_id = a.order_id
    CROSS JOIN params AS p
    GROUP BY a.account_id, a.marketplace_id, a.asin
),

combined AS (
    SELECT
        o.account_id,
        o.marketplace_id,
        o.asin,
        o.orders_30d,
        COALESCE(f.feedback_30d, 0) AS feedback_30d,
        COALESCE(f.negative_30d, 0) AS negative_30d,
        CAST(COALESCE(f.negative_30d, 0) AS DOUBLE PRECISION) / NULLIF(o.orders_30d, 0) AS negative_rate_30d,
        o.orders_prior_90d,
        COALESCE(f.feedback_prior_90d, 0) AS feedback_prior_90d,
        COALESCE(f.negative_prior_90d, 0) AS negative_prior_90d,
        CAST(COALESCE(f.negative_prior_90d, 0) AS DOUBLE PRECISION) / NULLIF(o.orders_prior_90d, 0)
            AS negative_rate_prior_90d
    FROM order_stats AS o
    LEFT JOIN feedback_stats AS f
        ON f.account_id = o.account_id AND f.marketplace_id = o.marketplace_id AND f.asin = o.asin
)

SELECT
    c.account_id,
    c.marketplace_id,
    c.asin,
    pr.title,
    pr.category,
    p.recent_start,
    p.recent_end,
    p.prior_start,
    p.prior_end,
    c.orders_30d,
    c.feedback_30d,
    c.negative_30d,
    c.negative_rate_30d,
    c.orders_prior_90d,
    c.feedback_prior_90d,
    c.negative_prior_90d,
    c.negative_rate_prior_90d,
    (
        c.negative_30d > 0
        AND (c.negative_rate_30d IS NULL OR c.negative_rate_30d > COALESCE(c.negative_rate_prior_90d, 0))
    ) AS negative_rate_rising
FROM combined AS c
CROSS JOIN params AS p
LEFT JOIN staging.stg_products AS pr
    ON pr.account_id = c.account_id AND pr.marketplace_id = c.marketplace_id AND pr.asin = c.asin
WHERE c.orders_30d + c.orders_prior_90d + c.feedback_30d + c.feedback_prior_90d > 0
