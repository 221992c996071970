-- The message threads whose reply times (core.message_replies) this build computes:
-- every thread in a full build, the threads with a new or changed message otherwise.
-- A whole thread is recomputed because a new seller message answers earlier buyer
-- messages of the thread.
SELECT DISTINCT m.account_id, m.thread_key
FROM core.messages AS m
CROSS JOIN staging.build_params AS p
WHERE p.full_refresh OR m.loaded_at > p.changed_since
