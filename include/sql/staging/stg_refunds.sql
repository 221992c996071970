-- materialized: view
-- One row per refunded order line with the UTC date Amazon posted it.
SELECT
    account_id,
    marketplace_id,
    adjustment_id,
    order_id,
    sku,
    quantity,
    amount,
    currency,
    posted_time,
    CAST(posted_time AT TIME ZONE 'UTC' AS DATE) AS posted_date,
    loaded_at
FROM core.refunds
