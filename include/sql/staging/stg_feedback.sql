-- materialized: view
-- One row per seller-feedback entry. Negative and positive follow Amazon's seller
-- metrics: 1-2 stars negative, 3 neutral, 4-5 positive.
SELECT
    account_id,
    marketplace_id,
    order_id,
    feedback_date,
    rating,
    rating <= 2 AS is_negative,
    rating >= 4 AS is_positive,
    buyer_key,
    loaded_at
FROM core.feedback
