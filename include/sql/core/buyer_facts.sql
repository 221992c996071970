-- depends_on: core.order_facts, core.message_replies, staging.stg_order_items
-- materialized: incremental
-- incremental_scope: staging.scope_buyers
-- build_chunk_keys: 500000
-- One row per known buyer (account, marketplace, buyer_key): everything about the
-- buyer that follows from the data alone and not from the build date, so that a
-- buyer's row only changes when that buyer's data does. Recency, scores, lifecycle
-- stage and predictions depend on as_of and live in marts.buyer_profile.
-- A buyer is anyone with an order (any status) or a buyer message under a key.
-- Order measures count non-cancelled orders; returns, refunds and feedback count
-- over all of the buyer's orders.
-- Incremental: only the buyers in staging.scope_buyers are recomputed. A full build
-- runs over 500,000 buyers at a time (build_chunk_keys): its windows then fit in memory.
WITH buyer_orders AS (
    SELECT f.*
    FROM core.order_facts AS f
    WHERE
        f.buyer_key IS NOT NULL
        AND (f.account_id, f.marketplace_id, f.buyer_key) IN (
            SELECT s.account_id, s.marketplace_id, s.buyer_key FROM staging.scope_buyers AS s
        )
),

buyer_messages AS (
    SELECT m.*
    FROM core.message_replies AS m
    WHERE
        m.buyer_key IS NOT NULL
        AND (m.account_id, m.marketplace_id, m.buyer_key) IN (
            SELECT s.account_id, s.marketplace_id, s.buyer_key FROM staging.scope_buyers AS s
        )
),

buyers AS (
    SELECT account_id, marketplace_id, buyer_key FROM buyer_orders
    UNION
    SELECT account_id, marketplace_id, buyer_key FROM buyer_messages
),

-- The buyer's non-cancelled orders numbered in time (ties by order id).
placed AS (
    SELECT
        o.*,
        ROW_NUMBER() OVER (
            PARTITION BY o.account_id, o.marketplace_id, o.buyer_key
            ORDER BY o.purchase_time, o.order_id
        ) AS order_number
    FROM buyer_orders AS o
    WHERE NOT o.is_cancelled
),

order_stats AS (
    SELECT
        account_id,
        marketplace_id,
        buyer_key,
        MIN(purchase_time) AS first_order_time,
        MAX(purchase_time) AS last_order_time,
        MIN(CASE WHEN order_number = 2 THEN purchase_time END) AS second_order_time,
        COUNT(*) AS orders,
        CAST(SUM(units) AS BIGINT) AS units,
        SUM(revenue) AS revenue,
        COUNT(*) FILTER (WHERE used_promotion) AS discounted_orders,
        MAX(units) AS max_units_per_order
    FROM placed
    GROUP BY account_id, marketplace_id, buyer_key
),

first_orders AS (
    SELECT *
    FROM placed
    WHERE order_number = 1
),

-- Value in the first 90/180/365 days: orders placed at most N x 24 h after the
-- first one (the first included). Fixed once the buyer exists, so it can be kept
-- here; whether N days have passed yet is decided in the mart.
early_value AS (
    SELECT
        p.account_id,
        p.marketplace_id,
        p.buyer_key,
        SUM(CASE WHEN p.purchase_time <= fo.purchase_time + (24 * 90) * INTERVAL '1 hour' THEN p.revenue ELSE 0 END)
            AS revenue_first_90d,
        SUM(CASE WHEN p.purchase_time <= fo.purchase_time + (24 * 180) * INTERVAL '1 hour' THEN p.revenue ELSE 0 END)
            AS revenue_first_180d,
        SUM(CASE WHEN p.purchase_time <= fo.purchase_time + (24 * 365) * INTERVAL '1 hour' THEN p.revenue ELSE 0 END)
            AS revenue_first_365d
    FROM placed AS p
    INNER JOIN first_orders AS fo
        ON fo.account_id = p.account_id AND fo.marketplace_id = p.marketplace_id AND fo.buyer_key = p.buyer_key
    GROUP BY p.account_id, p.marketplace_id, p.buyer_key
),

event_stats AS (
    SELECT
        account_id,
        marketplace_id,
        buyer_key,
        MIN(purchase_time) AS first_any_order_time,
        COUNT(*) FILTER (WHERE is_cancelled) AS cancelled_orders,
        CAST(SUM(returned_units) AS BIGINT) AS returned_units,
        COUNT(*) FILTER (WHERE refund_lines > 0) AS refunded_orders,
        SUM(refunded_amount) AS refunded_amount,
        COUNT(*) FILTER (WHERE feedback_rating <= 2) AS negative_feedback,
        COUNT(*) FILTER (WHERE feedback_rating >= 4) AS positive_feedback
    FROM buyer_orders
    GROUP BY account_id, marketplace_id, buyer_key
),

-- Where the buyer lives: the latest non-cancelled order whose address resolved.
latest_location AS (
    SELECT
        account_id,
        marketplace_id,
        buyer_key,
        region_code,
        time_zone,
        ROW_NUMBER() OVER (
            PARTITION BY account_id, marketplace_id, buyer_key
            ORDER BY purchase_time DESC, order_id DESC
        ) AS recency_rank
    FROM placed
    WHERE time_zone IS NOT NULL
),

items AS (
    SELECT p.account_id, p.marketplace_id, p.buyer_key, i.asin, i.category, i.brand, i.quantity
    FROM placed AS p
    INNER JOIN staging.stg_order_items AS i ON i.account_id = p.account_id AND i.order_id = p.order_id
),

asin_stats AS (
    SELECT account_id, marketplace_id, buyer_key, COUNT(DISTINCT asin) AS distinct_asins
    FROM items
    GROUP BY account_id, marketplace_id, buyer_key
),

-- Main category and brand: most units bought; ties go to the alphabetically first.
-- Only catalogued products take part; with none the mart shows 'unknown'.
category_rank AS (
    SELECT
        account_id,
        marketplace_id,
        buyer_key,
        category,
        ROW_NUMBER() OVER (
            PARTITION BY account_id, marketplace_id, buyer_key
            ORDER BY SUM(quantity) DESC, category
        ) AS category_rank
    FROM items
    WHERE category IS NOT NULL
    GROUP BY account_id, marketplace_id, buyer_key, category
),

brand_rank AS (
    SELECT
        account_id,
        marketplace_id,
        buyer_key,
        brand,
        SUM(quantity) AS brand_units,
        SUM(SUM(quantity)) OVER (PARTITION BY account_id, marketplace_id, buyer_key) AS branded_units,
        ROW_NUMBER() OVER (
            PARTITION BY account_id, marketplace_id, buyer_key
            ORDER BY SUM(quantity) DESC, brand
        ) AS brand_rank
    FROM items
    WHERE brand IS NOT NULL
    GROUP BY account_id, marketplace_id, buyer_key, brand
),

message_stats AS (
    SELECT
        account_id,
        marketplace_id,
        buyer_key,
        MIN(sent_time) AS first_message_time,
        COUNT(*) AS buyer_messages,
        COUNT(*) FILTER (WHERE is_thread_opener AND is_presales) AS presales_inquiries
    FROM buyer_messages
    GROUP BY account_id, marketplace_id, buyer_key
)

SELECT
    b.account_id,
    b.marketplace_id,
    b.buyer_key,
    LEAST(e.first_any_order_time, ms.first_message_time) AS first_contact_time,
    CAST(LEAST(e.first_any_order_time, ms.first_message_time) AT TIME ZONE 'UTC' AS DATE) AS first_contact_date,
    os.first_order_time,
    CAST(os.first_order_time AT TIME ZONE 'UTC' AS DATE) AS first_order_date,
    os.last_order_time,
    CAST(os.last_order_time AT TIME ZONE 'UTC' AS DATE) AS last_order_date,
    os.second_order_time,
    COALESCE(os.orders, 0) AS orders,
    COALESCE(e.cancelled_orders, 0) AS cancelled_orders,
    COALESCE(os.units, 0) AS units,
    COALESCE(os.revenue, 0) AS revenue,
    COALESCE(os.discounted_orders, 0) AS discounted_orders,
    os.max_units_per_order,
    COALESCE(a.distinct_asins, 0) AS distinct_asins,
    CASE WHEN os.orders > 0 THEN COALESCE(cr.category, 'unknown') END AS main_category,
    CASE WHEN os.orders > 0 THEN COALESCE(br.brand, 'unknown') END AS main_brand,
    CAST(br.brand_units AS DOUBLE PRECISION) / br.branded_units AS main_brand_unit_share,
    ll.region_code,
    ll.time_zone,
    fo.order_id AS first_order_id,
    fo.sales_channel AS first_sales_channel,
    fo.fulfillment_channel AS first_fulfillment_channel,
    fo.used_promotion AS first_used_promotion,
    fo.top_category AS first_category,
    ev.revenue_first_90d,
    ev.revenue_first_180d,
    ev.revenue_first_365d,
    COALESCE(e.returned_units, 0) AS returned_units,
    COALESCE(e.refunded_orders, 0) AS refunded_orders,
    COALESCE(e.refunded_amount, 0) AS refunded_amount,
    COALESCE(e.negative_feedback, 0) AS negative_feedback,
    COALESCE(e.positive_feedback, 0) AS positive_feedback,
    COALESCE(ms.buyer_messages, 0) AS buyer_messages,
    COALESCE(ms.presales_inquiries, 0) AS presales_inquiries,
    ms.first_message_time
FROM buyers AS b
LEFT JOIN order_stats AS os
    ON os.account_id = b.account_id AND os.marketplace_id = b.marketplace_id AND os.buyer_key = b.buyer_key
LEFT JOIN event_stats AS e
    ON e.account_id = b.account_id AND e.marketplace_id = b.marketplace_id AND e.buyer_key = b.buyer_key
LEFT JOIN first_orders AS fo
    ON fo.account_id = b.account_id AND fo.marketplace_id = b.marketplace_id AND fo.buyer_key = b.buyer_key
LEFT JOIN early_value AS ev
    ON ev.account_id = b.account_id AND ev.marketplace_id = b.marketplace_id AND ev.buyer_key = b.buyer_key
LEFT JOIN latest_location AS ll
    ON ll.account_id = b.account_id AND ll.marketplace_id = b.marketplace_id AND ll.buyer_key = b.buyer_key
    AND ll.recency_rank = 1
LEFT JOIN asin_stats AS a
    ON a.account_id = b.account_id AND a.marketplace_id = b.marketplace_id AND a.buyer_key = b.buyer_key
LEFT JOIN category_rank AS cr
    ON cr.account_id = b.account_id AND cr.marketplace_id = b.marketplace_id AND cr.buyer_key = b.buyer_key
    AND cr.category_rank = 1
LEFT JOIN brand_rank AS br
    ON br.account_id = b.account_id AND br.marketplace_id = b.marketplace_id AND br.buyer_key = b.buyer_key
    AND br.brand_rank = 1
LEFT JOIN message_stats AS ms
    ON ms.account_id = b.account_id AND ms.marketplace_id = b.marketplace_id AND ms.buyer_key = b.buyer_key
