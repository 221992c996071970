-- depends_on: core.order_facts
-- When each time zone shops, and what that is on the seller's clock: for every
-- buyer time zone (from the ship-to address) the peak_hours_top_n (3) local hours
-- with the most non-cancelled orders over all history, ranked by orders (ties: the
-- earlier hour), with the same hour in the seller's time zone on reference_date
-- (as_of's date). Use it to time region-specific listing content and offers.
-- The seller's hour is computed from the zone database for that date, so it moves
-- by an hour when one of the two zones changes to or from daylight saving time.
-- One row per account, marketplace, time zone and rank.
-- Rebuilt in full each build.
WITH orders AS (
    SELECT
        account_id,
        marketplace_id,
        time_zone,
        CAST(EXTRACT(hour FROM (purchase_time AT TIME ZONE time_zone)) AS INTEGER) AS local_hour
    FROM core.order_facts
    WHERE NOT is_cancelled AND time_zone IS NOT NULL
),

hourly AS (
    SELECT
        account_id,
        marketplace_id,
        time_zone,
        local_hour,
        COUNT(*) AS orders,
        SUM(COUNT(*)) OVER (PARTITION BY account_id, marketplace_id, time_zone) AS zone_orders,
        ROW_NUMBER() OVER (
            PARTITION BY account_id, marketplace_id, time_zone ORDER BY COUNT(*) DESC, local_hour
        ) AS peak_rank
    FROM orders
    GROUP BY account_id, marketplace_id, time_zone, local_hour
)

SELECT
    h.account_id,
    h.marketplace_id,
    h.time_zone,
    g.time_zone_group,
    CAST(h.peak_rank AS INTEGER) AS peak_rank,
    h.local_hour,
    h.orders,
    CAST(h.zone_orders AS BIGINT) AS zone_orders,
    CAST(h.orders AS DOUBLE PRECISION) / CAST(h.zone_orders AS DOUBLE PRECISION) AS share_of_zone_orders,
    COALESCE(a.seller_time_zone, 'UTC') AS seller_time_zone,
    p.as_of_date AS reference_date,
    -- The local hour on reference_date in the buyer's zone, as an instant, then read
    -- on the seller's clock.
    CAST(EXTRACT(hour FROM (
        ((CAST(p.as_of_date AS TIMESTAMP) + h.local_hour * INTERVAL '1 hour') AT TIME ZONE h.time_zone)
        AT TIME ZONE COALESCE(a.seller_time_zone, 'UTC')
    )) AS INTEGER) AS seller_local_hour
FROM hourly AS h
CROSS JOIN staging.build_params AS p
LEFT JOIN core.accounts AS a ON a.account_id = h.account_id
LEFT JOIN core.geo_time_zone_groups AS g ON g.time_zone = h.time_zone
WHERE h.peak_rank <= p.peak_hours_top_n
