-- isollm task store, schema version 1: airyra's tables plus leases and fencing.
-- Applied inside one transaction by isollm.tasks.sqlite_store; PRAGMA user_version
-- records the version.

CREATE TABLE specs (
    id            TEXT PRIMARY KEY,
    title         TEXT NOT NULL,
    description   TEXT,
    manual_status TEXT CHECK (manual_status IS NULL OR manual_status = 'cancelled'),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE spec_dependencies (
    child_id  TEXT NOT NULL REFERENCES specs(id) ON DELETE CASCADE,
    parent_id TEXT NOT NULL REFERENCES specs(id) ON DELETE CASCADE,
    PRIMARY KEY (child_id, parent_id),
    CHECK (child_id != parent_id)
);
CREATE INDEX idx_spec_deps_parent ON spec_dependencies(parent_id);

CREATE TABLE tasks (
    id               TEXT PRIMARY KEY,
    parent_id        TEXT REFERENCES tasks(id) ON DELETE CASCADE,
    spec_id          TEXT REFERENCES specs(id) ON DELETE SET NULL,
    title            TEXT NOT NULL,
    description      TEXT,
    status           TEXT NOT NULL DEFAULT 'open'
                     CHECK (status IN ('open', 'in_progress', 'blocked', 'done')),
    priority         INTEGER NOT NULL DEFAULT 2 CHECK (priority BETWEEN 0 AND 4),
    claimed_by       TEXT,
    claimed_at       TEXT,
    -- Set exactly while the task is in_progress; a reaper reopens the task after it.
    lease_expires_at TEXT,
    -- Grows with every claim; done/release/heartbeat carrying an older one are refused.
    fence            INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    CHECK ((status = 'in_progress') = (lease_expires_at IS NOT NULL))
);
-- Listing by status and picking the next ready task both walk this index in order.
CREATE INDEX idx_tasks_status ON tasks(status, priority, created_at);
-- The unfiltered listing; claims do not touch it (they change status, not order).
CREATE INDEX idx_tasks_order ON tasks(priority, created_at);
CREATE INDEX idx_tasks_lease ON tasks(lease_expires_at) WHERE lease_expires_at IS NOT NULL;
CREATE INDEX idx_tasks_parent ON tasks(parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX idx_tasks_spec ON tasks(spec_id) WHERE spec_id IS NOT NULL;

CREATE TABLE dependencies (
    child_id  TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    parent_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    PRIMARY KEY (child_id, parent_id),
    CHECK (child_id != parent_id)
);
CREATE INDEX idx_deps_parent ON dependencies(parent_id);

-- Kept when a task is deleted, so its history (and its id) stay taken.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    task_id    TEXT NOT NULL,
    action     TEXT NOT NULL,
    field      TEXT,
    old_value  TEXT,
    new_value  TEXT,
    changed_at TEXT NOT NULL,
    changed_by TEXT NOT NULL
);
CREATE INDEX idx_audit_task ON audit_log(task_id);
