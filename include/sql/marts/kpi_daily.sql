-- depends_on: core.order_facts, core.buyer_facts, core.message_replies, staging.stg_returns, staging.stg_refunds, staging.stg_feedback
-- materialized: incremental
-- incremental_scope: staging.scope_days
-- One row per account, marketplace and UTC day on which anything happened: an
-- order (any status), a return, a refund, a feedback entry or a buyer message.
-- Orders, units, revenue and buyers count non-cancelled orders by purchase day;
-- cancellations count orders placed that day that are now cancelled; returns,
-- refunds, feedback and messages count on the day they happened.
-- Nothing here depends on the build date, so a day's row only changes when that
-- day's data (or the first order of one of its buyers) does.
-- Incremental: only the days in staging.scope_days are recomputed.
WITH days AS (
    SELECT account_id, marketplace_id, day
    FROM staging.scope_days
),

day_orders AS (
    SELECT
        f.account_id,
        f.marketplace_id,
        f.purchase_date AS day,
        COUNT(*) FILTER (WHERE NOT f.is_cancelled) AS orders,
        CAST(SUM(CASE WHEN NOT f.is_cancelled THEN f.units ELSE 0 END) AS BIGINT) AS units,
        SUM(CASE WHEN NOT f.is_cancelled THEN f.revenue ELSE 0 END) AS revenue,
        COUNT(DISTINCT CASE WHEN NOT f.is_cancelled THEN f.buyer_key END) AS buyers,
        COUNT(*) FILTER (WHERE f.is_cancelled) AS cancellations
    FROM core.order_facts AS f
    WHERE (f.account_id, f.marketplace_id, f.purchase_date) IN (SELECT d.account_id, d.marketplace_id, d.day FROM days AS d)
    GROUP BY f.account_id, f.marketplace_id, f.purchase_date
),

buyer_days AS (
    SELECT DISTINCT f.account_id, f.marketplace_id, f.purchase_date AS day, f.buyer_key
    FROM core.order_facts AS f
    WHERE
        NOT f.is_cancelled
        AND f.buyer_key IS NOT NULL
        AND (f.account_id, f.marketplace_id, f.purchase_date) IN (SELECT d.account_id, d.marketplace_id, d.day FROM days AS d)
),

-- New: the buyer's first non-cancelled order is on this day. Returning: the buyer
-- had a non-cancelled order on an earlier day. Every buyer of the day is one of both.
day_buyers AS (
    SELECT
        bd.account_id,
        bd.marketplace_id,
        bd.day,
        COUNT(*) FILTER (WHERE b.first_order_date = bd.day) AS new_buyers,
        COUNT(*) FILTER (WHERE b.first_order_date < bd.day) AS returning_buyers
    FROM buyer_days AS bd
    INNER JOIN core.buyer_facts AS b
        ON b.account_id = bd.account_id AND b.marketplace_id = bd.marketplace_id AND b.buyer_key = bd.buyer_key
    GROUP BY bd.account_id, bd.marketplace_id, bd.day
),

day_returns AS (
    SELECT r.account_id, r.marketplace_id, r.return_date AS day, CAST(SUM(r.quantity) AS BIGINT) AS returned_units
    FROM staging.stg_returns AS r
    WHERE (r.account_id, r.marketplace_id, r.return_date) IN (SELECT d.account_id, d.marketplace_id, d.day FROM days AS d)
    GROUP BY r.account_id, r.marketplace_id, r.return_date
),

day_refunds AS (
    SELECT f.account_id, f.marketplace_id, f.posted_date AS day, COUNT(DISTINCT f.order_id) AS refunded_orders
    FROM staging.stg_refunds AS f
    WHERE (f.account_id, f.marketplace_id, f.posted_date) IN (SELECT d.account_id, d.marketplace_id, d.day FROM days AS d)
    GROUP BY f.account_id, f.marketplace_id, f.posted_date
),

day_feedback AS (
    SELECT
        b.account_id,
        b.marketplace_id,
        b.feedback_date AS day,
        COUNT(*) AS feedback_received,
        COUNT(*) FILTER (WHERE b.is_negative) AS negative_feedback
    FROM staging.stg_feedback AS b
    WHERE (b.account_id, b.marketplace_id, b.feedback_date) IN (SELECT d.account_id, d.marketplace_id, d.day FROM days AS d)
    GROUP BY b.account_id, b.marketplace_id, b.feedback_date
),

-- Reply times of the messages that arrived that day; a message still unanswered
-- counts against the 24 h share until the reply arrives (then the day is rebuilt).
day_messages AS (
    SELECT
        m.account_id,
        m.marketplace_id,
        m.sent_date AS day,
        COUNT(*) AS buyer_messages,
        COUNT(*) FILTER (WHERE m.is_thread_opener AND m.is_presales) AS presales_inquiries,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY m.first_reply_minutes) AS median_first_reply_minutes,
        CAST(COUNT(*) FILTER (WHERE m.first_reply_minutes <= 24 * 60) AS DOUBLE PRECISION) / COUNT(*)
            AS replied_within_24h_share
    FROM core.message_replies AS m
    WHERE (m.account_id, m.marketplace_id, m.sent_date) IN (SELECT d.account_id, d.marketplace_id, d.day FROM days AS d)
    GROUP BY m.account_id, m.marketplace_id, m.sent_date
)

SELECT
    d.account_id,
    d.marketplace_id,
    d.day,
    COALESCE(o.orders, 0) AS orders,
    COALESCE(o.units, 0) AS units,
    COALESCE(o.revenue, 0) AS revenue,
    COALESCE(o.buyers, 0) AS buyers,
    COALESCE(bu.new_buyers, 0) AS new_buyers,
    COALESCE(bu.returning_buyers, 0) AS returning_buyers,
    COALESCE(o.cancellations, 0) AS cancellations,
    COALESCE(r.returned_units, 0) AS returned_units,
    COALESCE(f.refunded_orders, 0) AS refunded_orders,
    COALESCE(fb.feedback_received, 0) AS feedback_received,
    COALESCE(fb.negative_feedback, 0) AS negative_feedback,
    COALESCE(m.buyer_messages, 0) AS buyer_messages,
    COALESCE(m.presales_inquiries, 0) AS presales_inquiries,
    m.median_first_reply_minutes,
    m.replied_within_24h_share
FROM days AS d
LEFT JOIN day_orders AS o ON o.account_id = d.account_id AND o.marketplace_id = d.marketplace_id AND o.day = d.day
LEFT JOIN day_buyers AS bu ON bu.account_id = d.account_id AND bu.marketplace_id = d.marketplace_id AND bu.day = d.day
LEFT JOIN day_returns AS r ON r.account_id = d.account_id AND r.marketplace_id = d.marketplace_id AND r.day = d.day
LEFT JOIN day_refunds AS f ON f.account_id = d.account_id AND f.marketplace_id = d.marketplace_id AND f.day = d.day
LEFT JOIN day_feedback AS fb ON fb.account_id = d.account_id AND fb.marketplace_id = d.marketplace_id AND fb.day = d.day
LEFT JOIN day_messages AS m ON m.account_id = d.account_id AND m.marketplace_id = d.marketplace_id AND m.day = d.day
-- A day in scope that has nothing left (an order moved to another day) gets no row,
-- exactly as in a full build.
WHERE
    o.day IS NOT NULL
    OR r.day IS NOT NULL
    OR f.day IS NOT NULL
    OR fb.day IS NOT NULL
    OR m.day IS NOT NULL
