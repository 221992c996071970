-- depends_on: core.message_replies, core.order_facts
-- Pre-sales questions and whether they turn into orders, by UTC month: one row per
-- account, marketplace and month with a non-cancelled order or a pre-sales inquiry.
-- A pre-sales inquiry is a thread whose first buyer message names no order; it
-- counts in the month of that first message.
--   presales_inquiries_per_100_orders = inquiries / non-cancelled orders of the month x 100
-- Conversion is judged per inquirer (known buyer key) on the first inquiry the buyer
-- opened that month: converted when the buyer placed a non-cancelled order at most
-- 7 x 24 h after that inquiry's first message.
--   presales_conversion_7d  = converted inquirers / inquirers
-- and the same split by whether the seller's first reply to that inquiry came within
-- 1 hour (_replied_within_1h) or not (_not_replied_within_1h: later, or never).
-- The last 7 days' inquiries may still convert. Rebuilt in full each build.
WITH inquiries AS (
    SELECT
        account_id,
        marketplace_id,
        thread_key,
        buyer_key,
        sent_time AS inquiry_time,
        first_reply_minutes,
        CAST(date_trunc('month', CAST(sent_date AS TIMESTAMP)) AS DATE) AS month
    FROM core.message_replies
    WHERE is_thread_opener AND is_presales
),

first_inquiries AS (
    SELECT
        i.*,
        ROW_NUMBER() OVER (
            PARTITION BY i.account_id, i.marketplace_id, i.buyer_key, i.month
            ORDER BY i.inquiry_time, i.thread_key
        ) AS inquiry_number
    FROM inquiries AS i
    WHERE i.buyer_key IS NOT NULL
),

inquirers AS (
    -- A join and GROUP BY rather than EXISTS: PostgreSQL runs an EXISTS referenced by
    -- the FILTERs below as one scan of order_facts per inquirer and FILTER (30 s at
    -- 50k order lines; 0.05 s this way).
    SELECT
        f.account_id,
        f.marketplace_id,
        f.month,
        f.buyer_key,
        COALESCE(f.first_reply_minutes <= 60, FALSE) AS replied_within_1h,
        COUNT(o.purchase_time) > 0 AS converted_7d
    FROM first_inquiries AS f
    LEFT JOIN core.order_facts AS o
        ON
            o.account_id = f.account_id
            AND o.marketplace_id = f.marketplace_id
            AND o.buyer_key = f.buyer_key
            AND NOT o.is_cancelled
            AND o.purchase_time >= f.inquiry_time
            AND o.purchase_time <= f.inquiry_time + (24 * 7) * INTERVAL '1 hour'
    WHERE f.inquiry_number = 1
    GROUP BY f.account_id, f.marketplace_id, f.month, f.buyer_key, f.first_reply_minutes
),

month_inquiries AS (
    SELECT account_id, marketplace_id, month, COUNT(*) AS presales_inquiries
    FROM inquiries
    GROUP BY account_id, marketplace_id, month
),

month_orders AS (
    SELECT
        account_id,
        marketplace_id,
        CAST(date_trunc('month', CAST(purchase_date AS TIMESTAMP)) AS DATE) AS month,
        COUNT(*) AS orders
    FROM core.order_facts
    WHERE NOT is_cancelled
    GROUP BY account_id, marketplace_id, CAST(date_trunc('month', CAST(purchase_date AS TIMESTAMP)) AS DATE)
),

month_conversion AS (
    SELECT
        account_id,
        marketplace_id,
        month,
        COUNT(*) AS inquirers,
        COUNT(*) FILTER (WHERE converted_7d) AS converted_7d,
        COUNT(*) FILTER (WHERE replied_within_1h) AS inquirers_replied_within_1h,
        COUNT(*) FILTER (WHERE replied_within_1h AND converted_7d) AS converted_7d_replied_within_1h,
        COUNT(*) FILTER (WHERE NOT replied_within_1h) AS inquirers_not_replied_within_1h,
        COUNT(*) FILTER (WHERE NOT replied_within_1h AND converted_7d) AS converted_7d_not_replied_within_1h
    FROM inquirers
    GROUP BY account_id, marketplace_id, month
),

months AS (
    SELECT account_id, marketplace_id, month FROM month_inquiries
    UNION
    SELECT account_id, marketplace_id, month FROM month_orders
)

SELECT
    m.account_id,
    m.marketplace_id,
    m.month,
    COALESCE(o.orders, 0) AS orders,
    COALESCE(i.presales_inquiries, 0) AS presales_inquiries,
    CAST(COALESCE(i.presales_inquiries, 0) AS DOUBLE PRECISION) * 100 / NULLIF(o.orders, 0)
        AS presales_inquiries_per_100_orders,
    COALESCE(c.inquirers, 0) AS inquirers,
    COALESCE(c.converted_7d, 0) AS converted_7d,
    CAST(c.converted_7d AS DOUBLE PRECISION) / NULLIF(c.inquirers, 0) AS presales_conversion_7d,
    COALESCE(c.inquirers_replied_within_1h, 0) AS inquirers_replied_within_1h,
    COALESCE(c.converted_7d_replied_within_1h, 0) AS converted_7d_replied_within_1h,
    CAST(c.converted_7d_replied_within_1h AS DOUBLE PRECISION) / NULLIF(c.inquirers_replied_within_1h, 0)
        AS presales_conversion_7d_replied_within_1h,
    COALESCE(c.inquirers_not_replied_within_1h, 0) AS inquirers_not_replied_within_1h,
    COALESCE(c.converted_7d_not_replied_within_1h, 0) AS converted_7d_not_replied_within_1h,
    CAST(c.converted_7d_not_replied_within_1h AS DOUBLE PRECISION) / NULLIF(c.inquirers_not_replied_within_1h, 0)
        AS presales_conversion_7d_not_replied_within_1h
FROM months AS m
LEFT JOIN month_orders AS o ON o.account_id = m.account_id AND o.marketplace_id = m.marketplace_id AND o.month = m.month
LEFT JOIN month_inquiries AS i
    ON i.account_id = m.account_id AND i.marketplace_id = m.marketplace_id AND i.month = m.month
LEFT JOIN month_conversion AS c
    ON c.account_id = m.account_id AND c.marketplace_id = m.marketplace_id AND c.month = m.month
