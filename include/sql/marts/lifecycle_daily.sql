-- depends_on: core.order_facts, core.buyer_facts
-- How many buyers are in each lifecycle stage at the end of each UTC day, from the
-- first day a buyer appears to as_of's date: one row per account, marketplace, day
-- and stage, zero counts included, so stage trends chart without gaps.
-- A buyer's stage at the end of day d uses the non-cancelled orders placed up to
-- and including d, with the thresholds of marts.buyer_profile (staging.build_params):
--   potential  from the first contact (buyer message or any order) until the first
--              non-cancelled order
--   new / growing / mature  by the number of orders to date (1 / >= 2 / >= 4)
--   at_risk    from lifecycle_at_risk_days + 1 (91) days after the last order
--   churned    from lifecycle_churned_days + 1 (181) days after the last order
-- so the row for as_of's date matches the stages in marts.buyer_profile.
-- Computed from stage intervals per buyer (start day inclusive, end exclusive) and a
-- running sum of their starts and ends, not by evaluating every buyer on every day.
-- Rebuilt in full each build.
WITH RECURSIVE params AS (
    SELECT * FROM staging.build_params
),

order_days AS (
    SELECT account_id, marketplace_id, buyer_key, purchase_date AS day, COUNT(*) AS day_orders
    FROM core.order_facts
    WHERE NOT is_cancelled AND buyer_key IS NOT NULL
    GROUP BY account_id, marketplace_id, buyer_key, purchase_date
),

sequenced AS (
    SELECT
        od.account_id,
        od.marketplace_id,
        od.buyer_key,
        od.day,
        SUM(od.day_orders) OVER (
            PARTITION BY od.account_id, od.marketplace_id, od.buyer_key
            ORDER BY od.day
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS orders_to_date,
        COALESCE(
            LEAD(od.day) OVER (PARTITION BY od.account_id, od.marketplace_id, od.buyer_key ORDER BY od.day),
            p.as_of_date + 1
        ) AS next_order_day
    FROM order_days AS od
    CROSS JOIN params AS p
),

intervals AS (
    -- Active after an order, until the next order or the at-risk threshold.
    SELECT
        s.account_id,
        s.marketplace_id,
        CASE
            WHEN s.orders_to_date >= p.lifecycle_mature_min_orders THEN 'mature'
            WHEN s.orders_to_date >= p.lifecycle_growing_min_orders THEN 'growing'
            ELSE 'new'
        END AS stage,
        s.day AS start_day,
        LEAST(s.day + p.lifecycle_at_risk_days + 1, s.next_order_day) AS end_day
    FROM sequenced AS s
    CROSS JOIN params AS p
    UNION ALL
    SELECT
        s.account_id,
        s.marketplace_id,
        'at_risk',
        s.day + p.lifecycle_at_risk_days + 1,
        LEAST(s.day + p.lifecycle_churned_days + 1, s.next_order_day)
    FROM sequenced AS s
    CROSS JOIN params AS p
    UNION ALL
    SELECT
        s.account_id,
        s.marketplace_id,
        'churned',
        s.day + p.lifecycle_churned_days + 1,
        s.next_order_day
    FROM sequenced AS s
    CROSS JOIN params AS p
    UNION ALL
    SELECT
        b.account_id,
        b.marketplace_id,
        'potential',
        b.first_contact_date,
        COALESCE(b.first_order_date, p.as_of_date + 1)
    FROM core.buyer_facts AS b
    CROSS JOIN params AS p
),

-- Clipped to the reported days; empty intervals dropped.
valid_intervals AS (
    SELECT
        i.account_id,
        i.marketplace_id,
        i.stage,
        i.start_day,
        LEAST(i.end_day, p.as_of_date + 1) AS end_day
    FROM intervals AS i
    CROSS JOIN params AS p
    WHERE i.start_day < LEAST(i.end_day, p.as_of_date + 1)
),

deltas AS (
    SELECT account_id, marketplace_id, stage, day, SUM(delta) AS delta
    FROM (
        SELECT account_id, marketplace_id, stage, start_day AS day, 1 AS delta FROM valid_intervals
        UNION ALL
        SELECT account_id, marketplace_id, stage, end_day AS day, -1 AS delta FROM valid_intervals
    ) AS changes
    GROUP BY account_id, marketplace_id, stage, day
),

calendar (account_id, marketplace_id, day) AS (
    SELECT account_id, marketplace_id, MIN(start_day)
    FROM valid_intervals
    GROUP BY account_id, marketplace_id
    UNION ALL
    SELECT c.account_id, c.marketplace_id, c.day + 1
    FROM calendar AS c
    WHERE c.day < (SELECT as_of_date FROM params)
),

stages AS (
    SELECT 'potential' AS lifecycle_stage, 1 AS stage_order
    UNION ALL SELECT 'new', 2
    UNION ALL SELECT 'growing', 3
    UNION ALL SELECT 'mature', 4
    UNION ALL SELECT 'at_risk', 5
    UNION ALL SELECT 'churned', 6
)

SELECT
    c.account_id,
    c.marketplace_id,
    c.day,
    s.lifecycle_stage,
    s.stage_order,
    CAST(
        SUM(COALESCE(d.delta, 0)) OVER (
            PARTITION BY c.account_id, c.marketplace_id, s.lifecycle_stage
            ORDER BY c.day
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS BIGINT
    ) AS buyers
FROM calendar AS c
CROSS JOIN stages AS s
LEFT JOIN deltas AS d
    ON d.account_id = c.account_id AND d.marketplace_id = c.marketplace_id AND d.stage = s.lifecycle_stage
    AND d.day = c.day
