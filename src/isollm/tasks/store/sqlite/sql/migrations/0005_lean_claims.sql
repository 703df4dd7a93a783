-- isollm task store, schema version 5: the tasks table rebuilt so that a claim runs
-- no more than it needs.
--
-- - The status check is written as comparisons. SQLite 3.40 checks
--   `status IN ('open', ...)` by filling a temporary b-tree with the four values for
--   every row it writes: 32,000 of the 245,000 instructions of a claim (callgrind).
-- - A done task records when (done_at), and a CHECK ties done_at to the status, so the
--   trigger keeping `waiting` counts can watch done_at instead of status: a statement
--   that makes a task done or no longer done must set done_at (or fail the check), and
--   claims, releases and expiries, which never do, no longer run the trigger (13,000
--   instructions a claim even when its WHEN is false). Tasks done before this version
--   take their updated_at as done_at.
--
-- A CHECK constraint cannot be altered in place, so the table is copied (rowids kept:
-- they break ties in the queue's order), its indexes and triggers made again, and the
-- triggers of dependencies too (SQLite refuses to rename a table into place while a
-- trigger names a table that does not exist). The migration runs with foreign keys
-- off and checks them before it commits.

CREATE TABLE tasks_v5 (
    id               TEXT PRIMARY KEY,
    parent_id        TEXT REFERENCES tasks(id) ON DELETE CASCADE,
    spec_id          TEXT REFERENCES specs(id) ON DELETE SET NULL,
    title            TEXT NOT NULL,
    description      TEXT,
    status           TEXT NOT NULL DEFAULT 'open'
                     CHECK (status = 'open' OR status = 'in_progress' OR status = 'blocked'
                            OR status = 'done'),
    priority         INTEGER NOT NULL DEFAULT 2 CHECK (priority BETWEEN 0 AND 4),
    claimed_by       TEXT,
    claimed_at       TEXT,
    -- Set exactly while the task is in_progress; a reaper reopens the task after it.
    lease_expires_at TEXT,
    -- Grows with every claim; done/release/heartbeat carrying an older one are refused.
    fence            INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    done_at          TEXT,
    -- How many tasks this one depends on are not done (migration 0003).
    waiting          INTEGER NOT NULL DEFAULT 0 CHECK (waiting >= 0),
    -- The newest row of this task's history in audit_log (migration 0004).
    last_audit       INTEGER,
    CHECK ((status = 'in_progress') = (lease_expires_at IS NOT NULL)),
    CHECK ((status = 'done') = (done_at IS NOT NULL))
);

INSERT INTO tasks_v5 (rowid, id, parent_id, spec_id, title, description, status, priority,
                      claimed_by, claimed_at, lease_expires_at, fence, created_at, updated_at,
                      done_at, waiting, last_audit)
SELECT rowid, id, parent_id, spec_id, title, description, status, priority,
       claimed_by, claimed_at, lease_expires_at, fence, created_at, updated_at,
       CASE WHEN status = 'done' THEN updated_at END, waiting, last_audit
FROM tasks;

DROP TRIGGER dependency_added;
DROP TRIGGER dependency_removed;
DROP TABLE tasks;
ALTER TABLE tasks_v5 RENAME TO tasks;

CREATE INDEX idx_tasks_order ON tasks(priority, created_at);
CREATE INDEX idx_tasks_parent ON tasks(parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX idx_tasks_spec ON tasks(spec_id) WHERE spec_id IS NOT NULL;
CREATE INDEX idx_tasks_queue ON tasks(status, lease_expires_at, priority, created_at);

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

CREATE TRIGGER task_done_changed AFTER UPDATE OF done_at ON tasks
WHEN (old.done_at IS NULL) != (new.done_at IS NULL)
BEGIN
    UPDATE tasks SET waiting = waiting + CASE WHEN new.done_at IS NULL THEN 1 ELSE -1 END
    WHERE id IN (SELECT child_id FROM dependencies WHERE parent_id = new.id);
END;

CREATE TRIGGER task_retired AFTER DELETE ON tasks
BEGIN
    INSERT OR REPLACE INTO retired_tasks (id, last_audit) VALUES (old.id, old.last_audit);
END;
