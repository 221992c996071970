-- depends_on: core.message_replies, core.order_facts, core.buyer_facts
-- When buyers write: buyer messages by the buyer's US time-zone group and local
-- weekday and hour, once on the buyer's clock (time_zone_basis 'buyer') and once on
-- the seller's ('seller'), so a team can see when Pacific buyers write on its own clock.
-- One row per account, marketplace, basis, time-zone group, weekday and hour with a
-- message; share_of_buyer_messages is over all groups of the account, marketplace and
-- basis (the shares of one basis sum to 1).
-- The buyer's zone is that of the ship-to address of the order the message is
-- about; else of the buyer's latest order (core.buyer_facts.time_zone); else the
-- marketplace's default zone (core.marketplaces); its group comes from
-- core.geo_time_zone_groups ('Other' outside the US zones). The seller's zone is
-- core.accounts.seller_time_zone (UTC when unknown). Local times come from
-- AT TIME ZONE, so each message gets the offset in force at its own instant.
-- local_weekday is ISO: 1 = Monday ... 7 = Sunday. Messages sent in the trailing
-- message_lookback_days (90) UTC days ending on as_of's date count.
-- Rebuilt in full each build.
WITH messages AS (
    SELECT
        m.account_id,
        m.marketplace_id,
        m.sent_time,
        z.buyer_time_zone,
        COALESCE(g.time_zone_group, 'Other') AS time_zone_group,
        COALESCE(a.seller_time_zone, 'UTC') AS seller_time_zone
    FROM core.message_replies AS m
    CROSS JOIN staging.build_params AS p
    LEFT JOIN core.order_facts AS o ON o.account_id = m.account_id AND o.order_id = m.order_id
    LEFT JOIN core.buyer_facts AS b
        ON b.account_id = m.account_id AND b.marketplace_id = m.marketplace_id AND b.buyer_key = m.buyer_key
    LEFT JOIN core.marketplaces AS mk ON mk.marketplace_id = m.marketplace_id
    LEFT JOIN core.accounts AS a ON a.account_id = m.account_id
    CROSS JOIN LATERAL (
        SELECT COALESCE(o.time_zone, b.time_zone, mk.default_time_zone, 'UTC') AS buyer_time_zone
    ) AS z
    LEFT JOIN core.geo_time_zone_groups AS g ON g.time_zone = z.buyer_time_zone
    WHERE m.sent_date BETWEEN p.as_of_date - p.message_lookback_days + 1 AND p.as_of_date
),

local_times AS (
    SELECT
        account_id, marketplace_id, 'buyer' AS time_zone_basis, time_zone_group,
        (sent_time AT TIME ZONE buyer_time_zone) AS local_time
    FROM messages
    UNION ALL
    SELECT account_id, marketplace_id, 'seller', time_zone_group, (sent_time AT TIME ZONE seller_time_zone)
    FROM messages
)

SELECT
    account_id,
    marketplace_id,
    time_zone_basis,
    time_zone_group,
    CAST(EXTRACT(isodow FROM local_time) AS INTEGER) AS local_weekday,
    CAST(EXTRACT(hour FROM local_time) AS INTEGER) AS local_hour,
    COUNT(*) AS buyer_messages,
    CAST(COUNT(*) AS DOUBLE PRECISION)
        / CAST(SUM(COUNT(*)) OVER (PARTITION BY account_id, marketplace_id, time_zone_basis) AS DOUBLE PRECISION)
        AS share_of_buyer_messages
FROM local_times
GROUP BY
    account_id,
    marketplace_id,
    time_zone_basis,
    time_zone_group,
    CAST(EXTRACT(isodow FROM local_time) AS INTEGER),
    CAST(EXTRACT(hour FROM local_time) AS INTEGER)
