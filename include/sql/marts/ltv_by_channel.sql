-- depends_on: core.buyer_facts
-- Value per buyer in the first 90, 180 and 365 days, by how the buyer was acquired.
-- One row per account, marketplace, acquisition_dimension and its value:
--   sales_channel        the first order's sales channel (Amazon.com, Non-Amazon, ...)
--   fulfillment_channel  the first order's AFN (FBA) or MFN
--   promotion            'with_promotion' when the first order used a promotion
--   first_category       catalogue category of the first order's main line
--                        (highest line price); 'unknown' when not catalogued
-- Each buyer appears once per dimension. Value = non-cancelled revenue of orders
-- placed at most N x 24 h after the first order (first included). Only buyers whose
-- first order is at least N x 24 h before as_of count for horizon N, so young
-- buyers do not drag the figure down: value_per_buyer_Nd = sum of their N-day value
-- / buyers_Nd (NULL when none is old enough). Rebuilt in full each build.
WITH buyers AS (
    SELECT
        b.*,
        b.first_order_time + (24 * 90) * INTERVAL '1 hour' <= p.as_of AS observed_90d,
        b.first_order_time + (24 * 180) * INTERVAL '1 hour' <= p.as_of AS observed_180d,
        b.first_order_time + (24 * 365) * INTERVAL '1 hour' <= p.as_of AS observed_365d
    FROM core.buyer_facts AS b
    CROSS JOIN staging.build_params AS p
    WHERE b.orders > 0
),

dimensions AS (
    SELECT
        account_id, marketplace_id, 'sales_channel' AS acquisition_dimension,
        COALESCE(first_sales_channel, 'unknown') AS acquisition_value,
        observed_90d, observed_180d, observed_365d, revenue_first_90d, revenue_first_180d, revenue_first_365d
    FROM buyers
    UNION ALL
    SELECT
        account_id, marketplace_id, 'fulfillment_channel',
        COALESCE(first_fulfillment_channel, 'unknown'),
        observed_90d, observed_180d, observed_365d, revenue_first_90d, revenue_first_180d, revenue_first_365d
    FROM buyers
    UNION ALL
    SELECT
        account_id, marketplace_id, 'promotion',
        CASE WHEN first_used_promotion THEN 'with_promotion' ELSE 'without_promotion' END,
        observed_90d, observed_180d, observed_365d, revenue_first_90d, revenue_first_180d, revenue_first_365d
    FROM buyers
    UNION ALL
    SELECT
        account_id, marketplace_id, 'first_category',
        COALESCE(first_category, 'unknown'),
        observed_90d, observed_180d, observed_365d, revenue_first_90d, revenue_first_180d, revenue_first_365d
    FROM buyers
)

SELECT
    account_id,
    marketplace_id,
    acquisition_dimension,
    acquisition_value,
    COUNT(*) AS buyers,
    COUNT(*) FILTER (WHERE observed_90d) AS buyers_90d,
    CAST(SUM(CASE WHEN observed_90d THEN revenue_first_90d END) AS DOUBLE PRECISION)
        / NULLIF(COUNT(*) FILTER (WHERE observed_90d), 0) AS value_per_buyer_90d,
    COUNT(*) FILTER (WHERE observed_180d) AS buyers_180d,
    CAST(SUM(CASE WHEN observed_180d THEN revenue_first_180d END) AS DOUBLE PRECISION)
        / NULLIF(COUNT(*) FILTER (WHERE observed_180d), 0) AS value_per_buyer_180d,
    COUNT(*) FILTER (WHERE observed_365d) AS buyers_365d,
    CAST(SUM(CASE WHEN observed_365d THEN revenue_first_365d END) AS DOUBLE PRECISION)
        / NULLIF(COUNT(*) FILTER (WHERE observed_365d), 0) AS value_per_buyer_365d
FROM dimensions
GROUP BY account_id, marketplace_id, acquisition_dimension, acquisition_value
