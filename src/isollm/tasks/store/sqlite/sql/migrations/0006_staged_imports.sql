-- isollm task store, schema version 6: imports are staged, then published at once.
--
-- An import of thousands of tasks written in one transaction held SQLite's only write
-- lock for as long as it took (1.5 s for 10,000 tasks), and every claim waited. Its
-- rows are now written in short transactions as status 'staged', which no query
-- shows and no claim takes, tagged with the import that wrote them (staged_by), and
-- one short transaction turns them 'open' together. A staged row's staged_by is set
-- exactly while it is staged (a CHECK); an import that fails, or a process killed in
-- the middle of one, leaves only staged rows, which the next import removes.
--
-- A staged task is deleted with its history (its audit rows, by the store) and without
-- retiring its id: nobody ever saw it.
--
-- The status check cannot be altered in place, so the table is copied as in 0005.

CREATE TABLE tasks_v6 (
    id               TEXT PRIMARY KEY,
    parent_id        TEXT REFERENCES tasks(id) ON DELETE CASCADE,
    spec_id          TEXT REFERENCES specs(id) ON DELETE SET NULL,
    title            TEXT NOT NULL,
    description      TEXT,
    status           TEXT NOT NULL DEFAULT 'open'
                     CHECK (status = 'open' OR status = 'in_progress' OR status = 'blocked'
                            OR status = 'done' OR status = 'staged'),
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
    -- The import writing this task while it is staged.
    staged_by        TEXT,
    CHECK ((status = 'in_progress') = (lease_expires_at IS NOT NULL)),
    CHECK ((status = 'done') = (done_at IS NOT NULL)),
    CHECK ((status = 'staged') = (staged_by IS NOT NULL))
);

INSERT INTO tasks_v6 (rowid, id, parent_id, spec_id, title, description, status, priority,
                      claimed_by, claimed_at, lease_expires_at, fence, created_at, updated_at,
                      done_at, waiting, last_audit)
SELECT rowid, id, parent_id, spec_id, title, description, status, priority,
       claimed_by, claimed_at, lease_expires_at, fence, created_at, updated_at,
       done_at, waiting, last_audit
FROM tasks;

DROP TRIGGER dependency_added;
DROP TRIGGER dependency_removed;
DROP TABLE tasks;
ALTER TABLE tasks_v6 RENAME TO tasks;

CREATE INDEX idx_tasks_order ON tasks(priority, created_at);
CREATE INDEX idx_tasks_parent ON tasks(parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX idx_tasks_spec ON tasks(spec_id) WHERE spec_id IS NOT NULL;
-- Also finds an import's staged rows (status 'staged').
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
WHEN old.status != 'staged'
BEGIN
    INSERT OR REPLACE INTO retired_tasks (id, last_audit) VALUES (old.id, old.last_audit);
END;
