-- depends_on: staging.stg_returns
-- Returns by ASIN and reason: one row per account, marketplace, ASIN and Amazon
-- return reason code ('unknown' when the report gave none). Every return line
-- counts, whatever the order's status. Sum returned_units over ASINs for the
-- reasons of the whole account.
--   share_of_asin_returned_units = returned units for the reason / returned units of the ASIN
-- Rebuilt in full each build.
SELECT
    account_id,
    marketplace_id,
    asin,
    reason,
    COUNT(*) AS return_lines,
    CAST(SUM(quantity) AS BIGINT) AS returned_units,
    CAST(SUM(quantity) AS DOUBLE PRECISION)
        / CAST(SUM(SUM(quantity)) OVER (PARTITION BY account_id, marketplace_id, asin) AS DOUBLE PRECISION)
        AS share_of_asin_returned_units
FROM staging.stg_returns
GROUP BY account_id, marketplace_id, asin, reason
