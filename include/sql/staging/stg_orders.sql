-- materialized: view
-- One row per order with its UTC purchase date and the IANA time zone of its
-- ship-to address. The zone lookup follows sellerops.geo.time_zone_for:
--   * the state (code or name, case-insensitive) gives the state's main zone;
--   * in the split states a ZIP-prefix rule overrides it, 5 digits before 3;
--   * territories reported as their own country (PR, GU, VI, AS, MP) are looked
--     up as US states; a Japanese address is Asia/Tokyo whatever the prefecture;
--   * anything else stays NULL (marts fall back to the marketplace's zone).
-- Offsets are never stored: local times come from AT TIME ZONE with the zone name,
-- so daylight saving is whatever the database's zone data says for that instant.
WITH base AS (
    SELECT
        o.*,
        COALESCE(NULLIF(UPPER(TRIM(o.ship_country)), ''), 'US') AS country_norm,
        UPPER(TRIM(o.ship_state)) AS state_key,
        TRIM(split_part(TRIM(o.ship_postal_code), '-', 1)) AS postal_head
    FROM core.orders AS o
),

normalised AS (
    SELECT
        b.*,
        -- Territories are US states in the lookup, whatever the country column says.
        CASE
            WHEN b.country_norm IN ('PR', 'GU', 'VI', 'AS', 'MP') THEN 'US'
            ELSE b.country_norm
        END AS lookup_country,
        -- The 5-digit ZIP: '32501-1234' -> '32501', '2108' (lost leading zero) -> '02108'.
        CASE
            WHEN b.postal_head <> ''
                AND translate(b.postal_head, '0123456789', '') = ''
                AND LENGTH(b.postal_head) BETWEEN 3 AND 9
                THEN CASE
                    WHEN LENGTH(b.postal_head) < 5 THEN LPAD(b.postal_head, 5, '0')
                    ELSE SUBSTR(b.postal_head, 1, 5)
                END
        END AS zip5
    FROM base AS b
),

located AS (
    SELECT
        n.*,
        COALESCE(st.state_code, terr.state_code) AS region_code,
        COALESCE(st.time_zone, terr.time_zone, whole_country.time_zone) AS region_time_zone
    FROM normalised AS n
    LEFT JOIN core.geo_state_time_zones AS st
        ON st.country_code = n.lookup_country AND st.state_key = n.state_key
    -- Amazon sometimes puts a territory in the country column only.
    LEFT JOIN core.geo_state_time_zones AS terr
        ON n.country_norm IN ('PR', 'GU', 'VI', 'AS', 'MP')
        AND terr.country_code = 'US'
        AND terr.state_key = n.country_norm
    -- Countries with one zone everywhere (Japan) have a '*' row.
    LEFT JOIN core.geo_state_time_zones AS whole_country
        ON whole_country.country_code = n.lookup_country AND whole_country.state_key = '*'
)

SELECT
    l.account_id,
    l.marketplace_id,
    l.order_id,
    l.buyer_key,
    l.purchase_time,
    CAST(l.purchase_time AT TIME ZONE 'UTC' AS DATE) AS purchase_date,
    l.last_updated_time,
    l.order_status,
    l.order_status = 'CANCELLED' AS is_cancelled,
    l.fulfillment_channel,
    l.sales_channel,
    l.is_business_order,
    COALESCE(TRIM(l.promotion_ids), '') <> '' AS has_promotion_ids,
    l.ship_state,
    l.ship_postal_code,
    l.country_norm AS ship_country,
    l.region_code,
    COALESCE(zip_5.time_zone, zip_3.time_zone, l.region_time_zone) AS time_zone,
    l.loaded_at
FROM located AS l
LEFT JOIN core.geo_postal_time_zones AS zip_5
    ON l.lookup_country = 'US' AND zip_5.state_code = l.region_code AND zip_5.postal_prefix = l.zip5
LEFT JOIN core.geo_postal_time_zones AS zip_3
    ON l.lookup_country = 'US'
    AND zip_3.state_code = l.region_code
    AND zip_3.postal_prefix = SUBSTR(l.zip5, 1, 3)
