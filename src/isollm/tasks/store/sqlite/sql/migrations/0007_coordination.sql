-- isollm task store, schema version 7: coordination between agents working at once.
--
-- file_locks: paths (or globs) an agent reserved while it holds a task's claim.
-- context_board: one entry per agent, what it says it works on.
--
-- Both rows name the claim they live by (task, agent, fence); a row counts only while
-- that claim is current (the task in progress, held by the agent with that fence, its
-- lease not run out), which every query checks by joining the task. So a claim that
-- ends (done, released, blocked, expired, the task deleted) ends its locks and its
-- entry at once, without any transition of the task having to know about them; stale
-- rows are removed by the next write of the same kind.

CREATE TABLE file_locks (
    path        TEXT PRIMARY KEY,
    glob        INTEGER NOT NULL CHECK (glob = 0 OR glob = 1),
    agent       TEXT NOT NULL,
    task_id     TEXT NOT NULL,
    fence       INTEGER NOT NULL,
    acquired_at TEXT NOT NULL
);
CREATE INDEX file_locks_by_agent ON file_locks (agent);

CREATE TABLE context_board (
    agent      TEXT PRIMARY KEY,
    task_id    TEXT NOT NULL,
    fence      INTEGER NOT NULL,
    status     TEXT NOT NULL CHECK (status = 'working' OR status = 'blocked' OR status = 'done'),
    files      TEXT NOT NULL,  -- a JSON array of paths
    message    TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
