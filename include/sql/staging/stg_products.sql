-- materialized: view
-- One row per (account, marketplace, ASIN) of the seller's catalogue (core.products).
-- Several SKUs can share an ASIN (an FBA and a merchant-fulfilled offer); their
-- attributes are combined with MIN so the choice is deterministic, and blank text
-- counts as missing so it never wins over a real value.
SELECT
    account_id,
    marketplace_id,
    asin,
    MIN(NULLIF(TRIM(title), '')) AS title,
    MIN(NULLIF(TRIM(brand), '')) AS brand,
    MIN(NULLIF(TRIM(category), '')) AS category
FROM core.products
GROUP BY account_id, marketplace_id, asin
