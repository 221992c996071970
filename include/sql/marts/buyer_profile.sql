-- depends_on: core.buyer_facts, marts.buyer_predictions
-- One row per known buyer (account, marketplace, buyer_key): the buyer facts of
-- core.buyer_facts plus what depends on the build date (as_of): days since the
-- last order, lifecycle stage, RFM scores and segment, and the BG/NBD and
-- Gamma-Gamma predictions of marts.buyer_predictions.
-- Rebuilt in full every build: quintiles rank each buyer against all others and
-- recency moves with as_of, so no buyer's row can be kept from the last build.
-- Cheap all the same, as it reads one row per buyer (the expensive per-order work
-- is incremental in core.buyer_facts).
--
-- Lifecycle stages (thresholds in staging.build_params, defaults in brackets):
--   potential  no non-cancelled order yet (wrote to the seller, or only cancelled)
--   churned    last order more than lifecycle_churned_days (180) days before as_of
--   at_risk    last order more than lifecycle_at_risk_days (90) days before as_of
--   mature     at least lifecycle_mature_min_orders (4) orders
--   growing    at least lifecycle_growing_min_orders (2) orders
--   new        one order
-- checked in that order; days are whole UTC calendar days (as_of_date - last order date).
--
-- RFM scores are quintiles 1-5 within the account and marketplace among buyers with
-- an order: score = 1 + floor(5 * (rank - 1) / buyers), rank ascending with ties
-- sharing the lowest rank, so equal values always get the same score. Recency ranks
-- by last order date (most recent = 5), frequency by orders, monetary by revenue.
WITH params AS (
    SELECT * FROM staging.build_params
),

facts AS (
    SELECT
        b.*,
        CASE WHEN b.orders > 0 THEN p.as_of_date - b.last_order_date END AS days_since_last_order
    FROM core.buyer_facts AS b
    CROSS JOIN params AS p
),

scores AS (
    SELECT
        account_id,
        marketplace_id,
        buyer_key,
        1 + CAST(FLOOR(
            5 * CAST(RANK() OVER (PARTITION BY account_id, marketplace_id ORDER BY last_order_date) - 1 AS DOUBLE PRECISION)
            / COUNT(*) OVER (PARTITION BY account_id, marketplace_id)
        ) AS INTEGER) AS recency_score,
        1 + CAST(FLOOR(
            5 * CAST(RANK() OVER (PARTITION BY account_id, marketplace_id ORDER BY orders) - 1 AS DOUBLE PRECISION)
            / COUNT(*) OVER (PARTITION BY account_id, marketplace_id)
        ) AS INTEGER) AS frequency_score,
        1 + CAST(FLOOR(
            5 * CAST(RANK() OVER (PARTITION BY account_id, marketplace_id ORDER BY revenue) - 1 AS DOUBLE PRECISION)
            / COUNT(*) OVER (PARTITION BY account_id, marketplace_id)
        ) AS INTEGER) AS monetary_score
    FROM facts
    WHERE orders > 0
)

SELECT
    f.account_id,
    f.marketplace_id,
    f.buyer_key,
    f.first_order_time,
    f.last_order_time,
    f.orders,
    f.units,
    f.revenue,
    CASE WHEN f.orders > 0 THEN CAST(f.revenue AS DOUBLE PRECISION) / f.orders END AS average_order_value,
    f.discounted_orders,
    f.max_units_per_order,
    f.distinct_asins,
    f.main_category,
    f.main_brand,
    f.main_brand_unit_share,
    f.region_code AS ship_state,
    f.time_zone,
    g.time_zone_group,
    f.cancelled_orders,
    f.returned_units,
    f.refunded_orders,
    f.refunded_amount,
    f.negative_feedback,
    f.positive_feedback,
    f.buyer_messages,
    f.presales_inquiries,
    f.first_contact_time,
    f.days_since_last_order,
    CASE
        WHEN f.orders = 0 THEN 'potential'
        WHEN f.days_since_last_order > p.lifecycle_churned_days THEN 'churned'
        WHEN f.days_since_last_order > p.lifecycle_at_risk_days THEN 'at_risk'
        WHEN f.orders >= p.lifecycle_mature_min_orders THEN 'mature'
        WHEN f.orders >= p.lifecycle_growing_min_orders THEN 'growing'
        ELSE 'new'
    END AS lifecycle_stage,
    s.recency_score,
    s.frequency_score,
    s.monetary_score,
    CAST(s.recency_score AS VARCHAR) || CAST(s.frequency_score AS VARCHAR) || CAST(s.monetary_score AS VARCHAR)
        AS rfm_score,
    -- Segments on the recency x frequency grid (monetary is reported, not used):
    CASE
        WHEN s.recency_score IS NULL THEN NULL
        WHEN s.recency_score >= 4 AND s.frequency_score >= 4 THEN 'champions'
        WHEN s.recency_score >= 3 AND s.frequency_score >= 3 THEN 'loyal'
        WHEN s.recency_score >= 4 THEN 'promising'
        WHEN s.recency_score = 3 THEN 'needs_attention'
        WHEN s.frequency_score >= 3 THEN 'slipping'
        ELSE 'hibernating'
    END AS rfm_segment,
    pr.p_alive,
    pr.expected_orders_90d,
    pr.predicted_value_365d,
    p.as_of
FROM facts AS f
CROSS JOIN params AS p
LEFT JOIN scores AS s
    ON s.account_id = f.account_id AND s.marketplace_id = f.marketplace_id AND s.buyer_key = f.buyer_key
LEFT JOIN core.geo_time_zone_groups AS g ON g.time_zone = f.time_zone
LEFT JOIN marts.buyer_predictions AS pr
    ON pr.account_id = f.account_id AND pr.marketplace_id = f.marketplace_id AND pr.buyer_key = f.buyer_key
