-- isollm task store, schema version 4: a task's history is a chain, not an index.
--
-- Every audit row points at the same task's previous row (audit_log.prev) and the task
-- points at its newest (tasks.last_audit); a deleted task's pointer moves to
-- retired_tasks, which also keeps its id taken. A claim writes its audit row at the
-- tail of audit_log and updates the task row it changes anyway, where the per-task
-- index on audit_log cost a page of its own (a random one) in every transaction.

ALTER TABLE tasks ADD COLUMN last_audit INTEGER;
ALTER TABLE audit_log ADD COLUMN prev INTEGER;

CREATE TABLE retired_tasks (
    id         TEXT PRIMARY KEY,
    last_audit INTEGER
);

UPDATE audit_log SET prev = (
    SELECT MAX(b.id) FROM audit_log b WHERE b.task_id = audit_log.task_id AND b.id < audit_log.id);

UPDATE tasks SET last_audit = (SELECT MAX(a.id) FROM audit_log a WHERE a.task_id = tasks.id);

INSERT INTO retired_tasks (id, last_audit)
SELECT a.task_id, MAX(a.id) FROM audit_log a
WHERE NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = a.task_id)
GROUP BY a.task_id;

DROP INDEX idx_audit_task;

-- Fires for foreign-key cascades too, so a deleted subtask keeps its history.
CREATE TRIGGER task_retired AFTER DELETE ON tasks
BEGIN
    INSERT OR REPLACE INTO retired_tasks (id, last_audit) VALUES (old.id, old.last_audit);
END;
