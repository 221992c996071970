-- depends_on: core.order_facts, staging.stg_order_items, staging.stg_returns, staging.stg_refunds, staging.stg_products
-- Returns and refunds per ASIN over all non-cancelled order lines: one row per
-- account, marketplace and ASIN sold. A return or refund belongs to the order line
-- with the same order id and SKU.
--   return_rate                 = returned units / ordered units of the ASIN
--   refund_rate                 = orders of the ASIN with a refund on its line / orders of the ASIN
--   refund_without_return_rate  = orders of the ASIN refunded on its line without a
--                                 return of that line / orders of the ASIN
-- Rebuilt in full each build.
WITH lines AS (
    SELECT i.account_id, i.marketplace_id, i.asin, i.order_id, i.sku, i.quantity
    FROM staging.stg_order_items AS i
    INNER JOIN core.order_facts AS o ON o.account_id = i.account_id AND o.order_id = i.order_id
    WHERE NOT o.is_cancelled
),

line_returns AS (
    SELECT account_id, order_id, sku, SUM(quantity) AS returned_units
    FROM staging.stg_returns
    GROUP BY account_id, order_id, sku
),

line_refunds AS (
    SELECT account_id, order_id, sku, COUNT(*) AS refund_lines, SUM(amount) AS refunded_amount
    FROM staging.stg_refunds
    GROUP BY account_id, order_id, sku
)

SELECT
    l.account_id,
    l.marketplace_id,
    l.asin,
    MIN(p.title) AS title,
    MIN(p.category) AS category,
    COUNT(DISTINCT l.order_id) AS orders,
    CAST(SUM(l.quantity) AS BIGINT) AS ordered_units,
    CAST(SUM(COALESCE(r.returned_units, 0)) AS BIGINT) AS returned_units,
    CAST(SUM(COALESCE(r.returned_units, 0)) AS DOUBLE PRECISION) / NULLIF(SUM(l.quantity), 0) AS return_rate,
    COUNT(DISTINCT CASE WHEN f.refund_lines > 0 THEN l.order_id END) AS refunded_orders,
    CAST(COUNT(DISTINCT CASE WHEN f.refund_lines > 0 THEN l.order_id END) AS DOUBLE PRECISION)
        / COUNT(DISTINCT l.order_id) AS refund_rate,
    COUNT(DISTINCT CASE WHEN f.refund_lines > 0 AND r.returned_units IS NULL THEN l.order_id END)
        AS refunded_without_return_orders,
    CAST(COUNT(DISTINCT CASE WHEN f.refund_lines > 0 AND r.returned_units IS NULL THEN l.order_id END) AS DOUBLE PRECISION)
        / COUNT(DISTINCT l.order_id) AS refund_without_return_rate,
    SUM(COALESCE(f.refunded_amount, 0)) AS refunded_amount
FROM lines AS l
LEFT JOIN line_returns AS r ON r.account_id = l.account_id AND r.order_id = l.order_id AND r.sku = l.sku
LEFT JOIN line_refunds AS f ON f.account_id = l.account_id AND f.order_id = l.order_id AND f.sku = l.sku
LEFT JOIN staging.stg_products AS p
    ON p.account_id = l.account_id AND p.marketplace_id = l.marketplace_id AND p.asin = l.asin
GROUP BY l.account_id, l.marketplace_id, l.asin
