-- depends_on: core.buyer_facts
-- One row per account, marketplace and cohort month (UTC month of the buyer's
-- first non-cancelled order) that has had 90 full days of follow-up after its
-- last day: as_of >= first instant of the next month + 90 x 24 h.
--   second_within_90d         = cohort buyers whose second non-cancelled order came at
--                               most 90 x 24 h after their first
--   second_purchase_rate_90d  = second_within_90d / new_buyers
-- Rebuilt in full each build.
WITH cohorts AS (
    SELECT
        b.account_id,
        b.marketplace_id,
        CAST(date_trunc('month', CAST(b.first_order_date AS TIMESTAMP)) AS DATE) AS cohort_month,
        b.first_order_time,
        b.second_order_time
    FROM core.buyer_facts AS b
    WHERE b.orders > 0
)

SELECT
    c.account_id,
    c.marketplace_id,
    c.cohort_month,
    COUNT(*) AS new_buyers,
    COUNT(*) FILTER (
        WHERE c.second_order_time <= c.first_order_time + (24 * 90) * INTERVAL '1 hour'
    ) AS second_within_90d,
    CAST(
        COUNT(*) FILTER (WHERE c.second_order_time <= c.first_order_time + (24 * 90) * INTERVAL '1 hour')
        AS DOUBLE PRECISION
    ) / COUNT(*) AS second_purchase_rate_90d
FROM cohorts AS c
CROSS JOIN staging.build_params AS p
-- Compared as UTC wall-clock times so the session time zone plays no part.
WHERE
    (p.as_of AT TIME ZONE 'UTC')
    >= CAST(c.cohort_month AS TIMESTAMP) + INTERVAL '1 month' + (24 * 90) * INTERVAL '1 hour'
GROUP BY c.account_id, c.marketplace_id, c.cohort_month
