-- materialized: view
-- One row per buyer or seller e-mail with its UTC date; an empty order id means
-- the message is not about an order (a pre-sales question).
SELECT
    account_id,
    marketplace_id,
    message_id,
    thread_key,
    NULLIF(TRIM(order_id), '') AS order_id,
    direction,
    sent_time,
    CAST(sent_time AT TIME ZONE 'UTC' AS DATE) AS sent_date,
    buyer_key,
    subject_kind,
    loaded_at
FROM core.messages
