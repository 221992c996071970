-- depends_on: core.order_facts
-- Where orders ship to: one row per account, marketplace, state or region
-- (region_code: USPS code for the US and its territories, ISO code such as JP-13
-- for Japanese prefectures) and time zone. The split states get one row per zone
-- (Florida's panhandle is America/Chicago, the rest America/New_York). Orders
-- whose address could not be resolved are the row with region_code NULL, so the
-- shares of an account and marketplace add up to 1.
-- Non-cancelled orders over all history.
--   order_share   = orders / all orders of the account and marketplace
--   revenue_share = revenue / all revenue of the account and marketplace
-- Rebuilt in full each build.
WITH orders AS (
    SELECT *
    FROM core.order_facts
    WHERE NOT is_cancelled
),

totals AS (
    SELECT account_id, marketplace_id, COUNT(*) AS total_orders, SUM(revenue) AS total_revenue
    FROM orders
    GROUP BY account_id, marketplace_id
),

regions AS (
    SELECT
        account_id,
        marketplace_id,
        region_code,
        time_zone,
        COUNT(*) AS orders,
        COUNT(DISTINCT buyer_key) AS buyers,
        SUM(revenue) AS revenue
    FROM orders
    GROUP BY account_id, marketplace_id, region_code, time_zone
)

SELECT
    r.account_id,
    r.marketplace_id,
    r.region_code,
    names.state_name AS region_name,
    r.time_zone,
    g.time_zone_group,
    r.orders,
    r.buyers,
    r.revenue,
    CAST(r.orders AS DOUBLE PRECISION) / t.total_orders AS order_share,
    CAST(r.revenue AS DOUBLE PRECISION) / CAST(NULLIF(t.total_revenue, 0) AS DOUBLE PRECISION) AS revenue_share
FROM regions AS r
INNER JOIN totals AS t ON t.account_id = r.account_id AND t.marketplace_id = r.marketplace_id
LEFT JOIN core.geo_time_zone_groups AS g ON g.time_zone = r.time_zone
-- Every region code is also a lookup key of its own row (e.g. 'CA', 'JP-13').
LEFT JOIN core.geo_state_time_zones AS names
    ON names.state_key = r.region_code AND names.state_code = r.region_code
