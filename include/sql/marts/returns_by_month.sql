-- depends_on: core.order_facts
-- Returns and refunds by order purchase month (UTC): one row per account,
-- marketplace and month with non-cancelled orders. Returns and refunds are
-- attributed to the month the order was placed, whenever they happened, so a
-- month's rates can still rise while its orders are within the return window.
--   return_rate                 = returned units / ordered units
--   refund_rate                 = orders with a refund / orders
--   refund_without_return_rate  = orders with a refund and no return line / orders
-- Returns and refunds of orders not in core.orders have no purchase date and are
-- left out here (they are in return_reasons and kpi_daily). Rebuilt in full.
SELECT
    account_id,
    marketplace_id,
    CAST(date_trunc('month', CAST(purchase_date AS TIMESTAMP)) AS DATE) AS purchase_month,
    COUNT(*) AS orders,
    CAST(SUM(units) AS BIGINT) AS ordered_units,
    CAST(SUM(returned_units) AS BIGINT) AS returned_units,
    CAST(SUM(returned_units) AS DOUBLE PRECISION) / NULLIF(SUM(units), 0) AS return_rate,
    COUNT(*) FILTER (WHERE refund_lines > 0) AS refunded_orders,
    CAST(COUNT(*) FILTER (WHERE refund_lines > 0) AS DOUBLE PRECISION) / COUNT(*) AS refund_rate,
    COUNT(*) FILTER (WHERE refund_lines > 0 AND return_lines = 0) AS refunded_without_return_orders,
    CAST(COUNT(*) FILTER (WHERE refund_lines > 0 AND return_lines = 0) AS DOUBLE PRECISION) / COUNT(*)
        AS refund_without_return_rate,
    SUM(refunded_amount) AS refunded_amount
FROM core.order_facts
WHERE NOT is_cancelled
GROUP BY account_id, marketplace_id, CAST(date_trunc('month', CAST(purchase_date AS TIMESTAMP)) AS DATE)
