-- isollm task store, schema version 2: one index for the queue instead of two.
--
-- Open tasks in claim order (their lease is NULL), tasks in progress by lease expiry
-- (what the reaper looks for), the other statuses in list order. A claim moves a
-- task's entry from the head of 'open' to the tail of 'in_progress', next to it, so it
-- changes one index page where the status and lease indexes changed two; every page a
-- transaction changes is written to the WAL at commit.

DROP INDEX idx_tasks_status;
DROP INDEX idx_tasks_lease;
CREATE INDEX idx_tasks_queue ON tasks(status, lease_expires_at, priority, created_at);
