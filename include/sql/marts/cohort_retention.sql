-- depends_on: core.order_facts, core.buyer_facts
-- One row per account, marketplace, cohort month and month since the first order,
-- from month 0 (the cohort month itself) to the month of as_of, months without any
-- activity included. A buyer's cohort is the UTC calendar month of the first
-- non-cancelled order.
--   active_buyers                 = cohort buyers with a non-cancelled order in that month
--   retention_rate                = active_buyers / cohort_buyers
--   cumulative_revenue_per_buyer  = the cohort's revenue from its first month through
--                                   this one / cohort_buyers
-- Rebuilt in full each build.
WITH RECURSIVE params AS (
    SELECT
        as_of_date,
        CAST(date_trunc('month', CAST(as_of_date AS TIMESTAMP)) AS DATE) AS as_of_month
    FROM staging.build_params
),

buyer_cohorts AS (
    SELECT
        account_id,
        marketplace_id,
        buyer_key,
        CAST(date_trunc('month', CAST(first_order_date AS TIMESTAMP)) AS DATE) AS cohort_month
    FROM core.buyer_facts
    WHERE orders > 0
),

cohorts AS (
    SELECT
        c.account_id,
        c.marketplace_id,
        c.cohort_month,
        COUNT(*) AS cohort_buyers,
        -- Whole months from the cohort month to the as_of month.
        CAST(
            (EXTRACT(year FROM p.as_of_month) - EXTRACT(year FROM c.cohort_month)) * 12
            + EXTRACT(month FROM p.as_of_month) - EXTRACT(month FROM c.cohort_month)
            AS INTEGER
        ) AS months_observed
    FROM buyer_cohorts AS c
    CROSS JOIN params AS p
    GROUP BY c.account_id, c.marketplace_id, c.cohort_month, p.as_of_month
),

month_numbers (n) AS (
    SELECT 0
    UNION ALL
    SELECT m.n + 1
    FROM month_numbers AS m
    WHERE m.n < (SELECT MAX(c.months_observed) FROM cohorts AS c)
),

grid AS (
    SELECT c.account_id, c.marketplace_id, c.cohort_month, c.cohort_buyers, m.n AS months_since_first
    FROM cohorts AS c
    INNER JOIN month_numbers AS m ON m.n <= c.months_observed
),

activity AS (
    SELECT
        c.account_id,
        c.marketplace_id,
        c.cohort_month,
        CAST(
            (EXTRACT(year FROM o.purchase_date) - EXTRACT(year FROM c.cohort_month)) * 12
            + EXTRACT(month FROM o.purchase_date) - EXTRACT(month FROM c.cohort_month)
            AS INTEGER
        ) AS months_since_first,
        COUNT(DISTINCT c.buyer_key) AS active_buyers,
        SUM(o.revenue) AS revenue
    FROM buyer_cohorts AS c
    INNER JOIN core.order_facts AS o
        ON o.account_id = c.account_id AND o.marketplace_id = c.marketplace_id AND o.buyer_key = c.buyer_key
    WHERE NOT o.is_cancelled
    GROUP BY 1, 2, 3, 4
)

SELECT
    g.account_id,
    g.marketplace_id,
    g.cohort_month,
    g.months_since_first,
    g.cohort_buyers,
    COALESCE(a.active_buyers, 0) AS active_buyers,
    CAST(COALESCE(a.active_buyers, 0) AS DOUBLE PRECISION) / g.cohort_buyers AS retention_rate,
    CAST(
        SUM(COALESCE(a.revenue, 0)) OVER (
            PARTITION BY g.account_id, g.marketplace_id, g.cohort_month
            ORDER BY g.months_since_first
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS DOUBLE PRECISION
    ) / g.cohort_buyers AS cumulative_revenue_per_buyer
FROM grid AS g
LEFT JOIN activity AS a
    ON a.account_id = g.account_id
    AND a.marketplace_id = g.marketplace_id
    AND a.cohort_month = g.cohort_month
    AND a.months_since_first = g.months_since_first
