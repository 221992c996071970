-- The orders whose facts (core.order_facts) this build computes: every order in a
-- full build; in an incremental build the orders with a new or changed row since
-- the last build in any dataset keyed by order (the order itself, its lines, its
-- returns, refunds or feedback). core.*.loaded_at moves whenever the loader
-- inserts or changes a row, so "changed" is loaded_at > changed_since.
SELECT o.account_id, o.order_id
FROM core.orders AS o
CROSS JOIN staging.build_params AS p
WHERE p.full_refresh OR o.loaded_at > p.changed_since
UNION
SELECT i.account_id, i.order_id
FROM core.order_items AS i
CROSS JOIN staging.build_params AS p
WHERE p.full_refresh OR i.loaded_at > p.changed_since
UNION
SELECT r.account_id, r.order_id
FROM core.returns AS r
CROSS JOIN staging.build_params AS p
WHERE p.full_refresh OR r.loaded_at > p.changed_since
UNION
SELECT f.account_id, f.order_id
FROM core.refunds AS f
CROSS JOIN staging.build_params AS p
WHERE p.full_refresh OR f.loaded_at > p.changed_since
UNION
SELECT b.account_id, b.order_id
FROM core.feedback AS b
CROSS JOIN staging.build_params AS p
WHERE p.full_refresh OR b.loaded_at > p.changed_since
