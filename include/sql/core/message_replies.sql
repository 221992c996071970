-- depends_on: staging.stg_messages
-- materialized: incremental
-- incremental_scope: staging.scope_threads
-- One row per buyer message with the time to the seller's first reply.
-- Every buyer message awaits an answer until the seller writes in the same thread:
-- first_reply_minutes is the time from the buyer message to the seller's next
-- message in the thread (strictly later), NULL while none exists. Two buyer
-- messages before one seller reply each get their own (different) wait.
-- A thread is a pre-sales inquiry when its first buyer message names no order.
-- Incremental: whole threads of staging.scope_threads are recomputed.
WITH thread_messages AS (
    SELECT m.*
    FROM staging.stg_messages AS m
    WHERE (m.account_id, m.thread_key) IN (SELECT s.account_id, s.thread_key FROM staging.scope_threads AS s)
),

buyer_messages AS (
    SELECT
        m.*,
        ROW_NUMBER() OVER (
            PARTITION BY m.account_id, m.thread_key ORDER BY m.sent_time, m.message_id
        ) AS buyer_message_number
    FROM thread_messages AS m
    WHERE m.direction = 'buyer'
),

replies AS (
    SELECT b.account_id, b.message_id, MIN(s.sent_time) AS reply_time
    FROM buyer_messages AS b
    INNER JOIN thread_messages AS s
        ON s.account_id = b.account_id
        AND s.thread_key = b.thread_key
        AND s.direction = 'seller'
        AND s.sent_time > b.sent_time
    GROUP BY b.account_id, b.message_id
),

openers AS (
    SELECT account_id, thread_key, order_id AS opener_order_id
    FROM buyer_messages
    WHERE buyer_message_number = 1
)

SELECT
    b.account_id,
    b.marketplace_id,
    b.message_id,
    b.thread_key,
    b.order_id,
    b.buyer_key,
    b.subject_kind,
    b.sent_time,
    b.sent_date,
    r.reply_time,
    CAST(EXTRACT(epoch FROM (r.reply_time - b.sent_time)) AS DOUBLE PRECISION) / 60 AS first_reply_minutes,
    b.buyer_message_number = 1 AS is_thread_opener,
    o.opener_order_id IS NULL AS is_presales
FROM buyer_messages AS b
LEFT JOIN replies AS r ON r.account_id = b.account_id AND r.message_id = b.message_id
LEFT JOIN openers AS o ON o.account_id = b.account_id AND o.thread_key = b.thread_key
