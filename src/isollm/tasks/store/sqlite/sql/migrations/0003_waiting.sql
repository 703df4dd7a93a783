-- isollm task store, schema version 3: tasks count what they wait for.
--
-- tasks.waiting is the number of tasks a task depends on that are not done; a task is
-- ready when it is open and waits for nothing. Triggers keep the count, whatever
-- changes it: an edge added or removed, a task done or no longer done, a task deleted
-- (foreign-key cascades fire them too). A claim walking idx_tasks_queue then skips a
-- waiting task by reading its row, where it ran a join per task before.

ALTER TABLE tasks ADD COLUMN waiting INTEGER NOT NULL DEFAULT 0 CHECK (waiting >= 0);

UPDATE tasks SET waiting = (
    SELECT COUNT(*) FROM dependencies d JOIN tasks p ON p.id = d.parent_id
    WHERE d.child_id = tasks.id AND p.status != 'done');

CREATE TRIGGER dependency_added AFTER INSERT ON dependencies
WHEN (SELECT status FROM tasks WHERE id = new.parent_id) != 'done'
BEGIN
    UPDATE tasks SET waiting = waiting + 1 WHERE id = new.child_id;
END;

-- A parent being deleted is gone by the time its edges are: task_deleted counted it.
CREATE TRIGGER dependency_removed AFTER DELETE ON dependencies
WHEN (SELECT status FROM tasks WHERE id = old.parent_id) != 'done'
BEGIN
    UPDATE tasks SET waiting = waiting - 1 WHERE id = old.child_id;
END;

CREATE TRIGGER task_deleted BEFORE DELETE ON tasks
WHEN old.status != 'done'
BEGIN
    UPDATE tasks SET waiting = waiting - 1
    WHERE id IN (SELECT child_id FROM dependencies WHERE parent_id = old.id);
END;

CREATE TRIGGER task_done_changed AFTER UPDATE OF status ON tasks
WHEN (old.status = 'done') != (new.status = 'done')
BEGIN
    UPDATE tasks SET waiting = waiting + CASE WHEN new.status = 'done' THEN -1 ELSE 1 END
    WHERE id IN (SELECT child_id FROM dependencies WHERE parent_id = new.id);
END;
