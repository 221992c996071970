-- depends_on: core.message_replies
-- The seller's best "we reply within minutes" window: the contiguous block of
-- reply_window_hours (staging.build_params, default 4) seller-local hours, wrapping
-- past midnight, in which the most buyer messages arrive. One row per account and
-- marketplace with buyer messages in the trailing message_lookback_days (90) UTC
-- days ending on as_of's date.
-- Ties go to the window whose first hour has messages, then to the earliest start
-- hour, so the window does not open with idle hours.
--   window_start_hour .. window_end_hour  seller-local hours, end exclusive
--   coverage_share              = buyer messages arriving inside the window / buyer messages
--   median_first_reply_minutes  = median first reply of the answered messages that
--                                 arrived inside the window: how fast the seller is now
-- Rebuilt in full each build.
WITH RECURSIVE hours (h) AS (
    SELECT 0
    UNION ALL
    SELECT hours.h + 1 FROM hours WHERE hours.h < 23
),

messages AS (
    SELECT
        m.account_id,
        m.marketplace_id,
        m.first_reply_minutes,
        COALESCE(a.seller_time_zone, 'UTC') AS seller_time_zone,
        CAST(EXTRACT(hour FROM (m.sent_time AT TIME ZONE COALESCE(a.seller_time_zone, 'UTC'))) AS INTEGER)
            AS seller_local_hour
    FROM core.message_replies AS m
    CROSS JOIN staging.build_params AS p
    LEFT JOIN core.accounts AS a ON a.account_id = m.account_id
    WHERE m.sent_date BETWEEN p.as_of_date - p.message_lookback_days + 1 AND p.as_of_date
),

hourly AS (
    SELECT account_id, marketplace_id, seller_local_hour, COUNT(*) AS buyer_messages
    FROM messages
    GROUP BY account_id, marketplace_id, seller_local_hour
),

sellers AS (
    SELECT account_id, marketplace_id, seller_time_zone, COUNT(*) AS buyer_messages
    FROM messages
    GROUP BY account_id, marketplace_id, seller_time_zone
),

-- Every start hour with the messages of its window: hour h + k for k < N, mod 24.
windows AS (
    SELECT
        s.account_id,
        s.marketplace_id,
        s.h AS window_start_hour,
        SUM(COALESCE(hr.buyer_messages, 0)) AS messages_in_window,
        MAX(CASE WHEN k.h = 0 AND hr.buyer_messages > 0 THEN 1 ELSE 0 END) AS starts_busy
    FROM (SELECT se.account_id, se.marketplace_id, st.h FROM sellers AS se CROSS JOIN hours AS st) AS s
    CROSS JOIN staging.build_params AS p
    INNER JOIN hours AS k ON k.h < p.reply_window_hours
    LEFT JOIN hourly AS hr
        ON hr.account_id = s.account_id
        AND hr.marketplace_id = s.marketplace_id
        AND hr.seller_local_hour = mod(s.h + k.h, 24)
    GROUP BY s.account_id, s.marketplace_id, s.h
),

best AS (
    SELECT
        w.*,
        ROW_NUMBER() OVER (
            PARTITION BY w.account_id, w.marketplace_id
            ORDER BY w.messages_in_window DESC, w.starts_busy DESC, w.window_start_hour
        ) AS window_rank
    FROM windows AS w
),

inside AS (
    SELECT
        m.account_id,
        m.marketplace_id,
        COUNT(m.first_reply_minutes) AS answered_in_window,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY m.first_reply_minutes) AS median_first_reply_minutes
    FROM messages AS m
    INNER JOIN best AS b
        ON b.account_id = m.account_id AND b.marketplace_id = m.marketplace_id AND b.window_rank = 1
    CROSS JOIN staging.build_params AS p
    WHERE mod(m.seller_local_hour - b.window_start_hour + 24, 24) < p.reply_window_hours
    GROUP BY m.account_id, m.marketplace_id
)

SELECT
    b.account_id,
    b.marketplace_id,
    s.seller_time_zone,
    p.reply_window_hours AS window_hours,
    b.window_start_hour,
    mod(b.window_start_hour + p.reply_window_hours, 24) AS window_end_hour,
    CAST(b.messages_in_window AS BIGINT) AS buyer_messages_in_window,
    s.buyer_messages,
    CAST(b.messages_in_window AS DOUBLE PRECISION) / s.buyer_messages AS coverage_share,
    COALESCE(i.answered_in_window, 0) AS answered_in_window,
    i.median_first_reply_minutes
FROM best AS b
CROSS JOIN staging.build_params AS p
INNER JOIN sellers AS s ON s.account_id = b.account_id AND s.marketplace_id = b.marketplace_id
LEFT JOIN inside AS i ON i.account_id = b.account_id AND i.marketplace_id = b.marketplace_id
WHERE b.window_rank = 1
