-- materialized: view
-- One row per return line with its UTC return date. The returns reports leave the
-- ASIN out at times; it is taken from the order line of the same SKU then.
SELECT
    r.account_id,
    r.marketplace_id,
    r.return_key,
    r.order_id,
    r.sku,
    COALESCE(r.asin, i.asin) AS asin,
    r.quantity,
    r.return_time,
    CAST(r.return_time AT TIME ZONE 'UTC' AS DATE) AS return_date,
    COALESCE(NULLIF(TRIM(r.reason), ''), 'unknown') AS reason,
    r.status,
    r.fulfillment_channel,
    r.loaded_at
FROM core.returns AS r
LEFT JOIN core.order_items AS i
    ON i.account_id = r.account_id AND i.order_id = r.order_id AND i.sku = r.sku
