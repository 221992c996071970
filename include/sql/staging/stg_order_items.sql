-- depends_on: staging.stg_products
-- materialized: view
-- One row per order line with its net value and the catalogue's title, brand and
-- category (NULL when the ASIN is not in the catalogue).
-- line_revenue = item_price - promotion_discount: product sales net of promotions,
-- without tax and shipping, the figure every revenue measure of the marts sums.
SELECT
    i.account_id,
    i.marketplace_id,
    i.order_id,
    i.sku,
    i.asin,
    i.quantity,
    i.item_price,
    COALESCE(i.promotion_discount, 0) AS promotion_discount,
    COALESCE(i.item_price, 0) - COALESCE(i.promotion_discount, 0) AS line_revenue,
    (
        COALESCE(i.promotion_discount, 0) > 0
        OR COALESCE(TRIM(i.promotion_ids), '') <> ''
    ) AS has_promotion,
    p.title,
    p.brand,
    p.category,
    i.loaded_at
FROM core.order_items AS i
LEFT JOIN staging.stg_products AS p
    ON p.account_id = i.account_id AND p.marketplace_id = i.marketplace_id AND p.asin = i.asin
