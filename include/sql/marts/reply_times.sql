-- depends_on: core.message_replies
-- First-reply times of buyer messages by the hour they arrived in the seller's
-- time zone (core.accounts.seller_time_zone; UTC when the account is not in the
-- accounts file). One row per account, marketplace and seller-local hour with a
-- message, plus one row with seller_local_hour NULL for all hours together.
-- Messages sent in the trailing message_lookback_days (90) UTC days ending on
-- as_of's date count. first_reply_minutes is defined in core.message_replies.
--   median / p90_first_reply_minutes  over the answered messages
--   replied_within_1h_share           = messages answered within 60 minutes / messages
--   replied_within_24h_share          = messages answered within 24 h / messages
-- Unanswered messages count in the shares' denominators, not in the percentiles.
-- Rebuilt in full each build.
WITH messages AS (
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

by_hour AS (
    SELECT
        account_id,
        marketplace_id,
        seller_time_zone,
        seller_local_hour,
        COUNT(*) AS buyer_messages,
        COUNT(first_reply_minutes) AS answered_messages,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY first_reply_minutes) AS median_first_reply_minutes,
        percentile_cont(0.9) WITHIN GROUP (ORDER BY first_reply_minutes) AS p90_first_reply_minutes,
        CAST(COUNT(*) FILTER (WHERE first_reply_minutes <= 60) AS DOUBLE PRECISION) / COUNT(*)
            AS replied_within_1h_share,
        CAST(COUNT(*) FILTER (WHERE first_reply_minutes <= 24 * 60) AS DOUBLE PRECISION) / COUNT(*)
            AS replied_within_24h_share
    FROM messages
    GROUP BY account_id, marketplace_id, seller_time_zone, seller_local_hour
),

all_hours AS (
    SELECT
        account_id,
        marketplace_id,
        seller_time_zone,
        CAST(NULL AS INTEGER) AS seller_local_hour,
        COUNT(*) AS buyer_messages,
        COUNT(first_reply_minutes) AS answered_messages,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY first_reply_minutes) AS median_first_reply_minutes,
        percentile_cont(0.9) WITHIN GROUP (ORDER BY first_reply_minutes) AS p90_first_reply_minutes,
        CAST(COUNT(*) FILTER (WHERE first_reply_minutes <= 60) AS DOUBLE PRECISION) / COUNT(*)
            AS replied_within_1h_share,
        CAST(COUNT(*) FILTER (WHERE first_reply_minutes <= 24 * 60) AS DOUBLE PRECISION) / COUNT(*)
            AS replied_within_24h_share
    FROM messages
    GROUP BY account_id, marketplace_id, seller_time_zone
)

SELECT * FROM by_hour
UNION ALL
SELECT * FROM all_hours
