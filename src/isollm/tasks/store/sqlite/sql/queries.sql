-- Every SQL statement of the SQLite task store, by name (see isollm.tasks.queries).
-- A block starts with "-- name: <name>" and runs to the next one.
-- Task rows are always selected with the same columns, in the order sqlite_store reads.

-- name: get_task
-- A staged task (an import still being written, migration 0006) does not exist yet.
SELECT id, title, status, priority, created_at, updated_at, description, parent_id, spec_id,
       claimed_by, claimed_at, lease_expires_at, fence
FROM tasks WHERE id = :id AND status != 'staged';

-- name: id_taken
-- A deleted task's id stays taken (retired_tasks), like its history; a staged one's too.
SELECT 1 FROM tasks WHERE id = :id
UNION ALL SELECT 1 FROM retired_tasks WHERE id = :id
LIMIT 1;

-- name: spec_id_taken
SELECT 1 FROM specs WHERE id = :id;

-- name: insert_task
INSERT INTO tasks (id, title, status, priority, created_at, updated_at, description,
                   parent_id, spec_id)
VALUES (:id, :title, 'open', :priority, :now, :now, :description, :parent_id, :spec_id);

-- name: count_tasks
SELECT COUNT(*) FROM tasks WHERE status != 'staged';

-- name: list_tasks
SELECT id, title, status, priority, created_at, updated_at, description, parent_id, spec_id,
       claimed_by, claimed_at, lease_expires_at, fence
FROM tasks WHERE status != 'staged'
ORDER BY priority, created_at, rowid LIMIT :limit OFFSET :offset;

-- name: count_tasks_by_status
SELECT COUNT(*) FROM tasks WHERE status = :status;

-- name: list_tasks_by_status
-- Any status but in_progress: those tasks have no lease, so idx_tasks_queue is in order.
SELECT id, title, status, priority, created_at, updated_at, description, parent_id, spec_id,
       claimed_by, claimed_at, lease_expires_at, fence
FROM tasks WHERE status = :status AND lease_expires_at IS NULL
ORDER BY priority, created_at, rowid LIMIT :limit OFFSET :offset;

-- name: list_tasks_in_progress
SELECT id, title, status, priority, created_at, updated_at, description, parent_id, spec_id,
       claimed_by, claimed_at, lease_expires_at, fence
FROM tasks WHERE status = 'in_progress'
ORDER BY priority, created_at, rowid LIMIT :limit OFFSET :offset;

-- name: count_ready
SELECT COUNT(*) FROM tasks t
WHERE t.status = 'open' AND t.lease_expires_at IS NULL AND t.waiting = 0;

-- name: list_ready
SELECT id, title, status, priority, created_at, updated_at, description, parent_id, spec_id,
       claimed_by, claimed_at, lease_expires_at, fence
FROM tasks t
WHERE t.status = 'open' AND t.lease_expires_at IS NULL AND t.waiting = 0
ORDER BY t.priority, t.created_at, t.rowid LIMIT :limit OFFSET :offset;

-- name: waiting_for
SELECT d.parent_id FROM dependencies d JOIN tasks p ON p.id = d.parent_id
WHERE d.child_id = :id AND p.status != 'done' ORDER BY d.parent_id;

-- name: next_ready
-- The ?1 most urgent ready tasks: open (so without a lease), every task they depend on
-- done; by priority, then age: the head of idx_tasks_queue's 'open' entries. Selects
-- rowid, id, title, priority, created_at, description, parent_id, spec_id, fence,
-- last_audit, and whether any lease ran out by ?2, now (what any_lease_expired says; one
-- statement fewer on every claim, computed once). next_ready, audit_claim and claim_row
-- are every claim's statements: their parameters are numbered, bound from a tuple,
-- which measured 700 instructions a parameter cheaper than by name.
SELECT t.rowid, t.id, t.title, t.priority, t.created_at, t.description, t.parent_id,
       t.spec_id, t.fence, t.last_audit,
       EXISTS (SELECT 1 FROM tasks e
               WHERE e.status = 'in_progress' AND e.lease_expires_at <= ?2) AS expired
FROM tasks t
WHERE t.status = 'open' AND t.lease_expires_at IS NULL AND t.waiting = 0
ORDER BY t.priority, t.created_at, t.rowid LIMIT ?1;

-- name: claim_row
-- Claims a task next_ready found, in the same transaction, for agent ?1 at ?2 with a
-- lease until ?3, after audit_claim wrote the claim's audit row (?4); the task's rowid
-- is ?5. No RETURNING: the caller knows every value it sets, and RETURNING costs SQLite
-- about half the update again.
UPDATE tasks
SET status = 'in_progress', claimed_by = ?1, claimed_at = ?2, updated_at = ?2,
    lease_expires_at = ?3, fence = fence + 1, last_audit = ?4
WHERE rowid = ?5 AND status = 'open';

-- name: claim_task
UPDATE tasks
SET status = 'in_progress', claimed_by = :agent, claimed_at = :now, updated_at = :now,
    lease_expires_at = :expires, fence = fence + 1
WHERE id = :id AND status = 'open'
RETURNING id, title, status, priority, created_at, updated_at, description, parent_id, spec_id,
          claimed_by, claimed_at, lease_expires_at, fence;

-- name: renew_lease
UPDATE tasks SET lease_expires_at = :expires
WHERE id = :id AND status = 'in_progress' AND fence = :fence
RETURNING id, title, status, priority, created_at, updated_at, description, parent_id, spec_id,
          claimed_by, claimed_at, lease_expires_at, fence;

-- name: complete_task
UPDATE tasks SET status = 'done', lease_expires_at = NULL, updated_at = :now, done_at = :now
WHERE id = :id AND status = 'in_progress' AND fence = :fence
RETURNING id, title, status, priority, created_at, updated_at, description, parent_id, spec_id,
          claimed_by, claimed_at, lease_expires_at, fence;

-- name: release_task
UPDATE tasks
SET status = 'open', claimed_by = NULL, claimed_at = NULL, lease_expires_at = NULL,
    updated_at = :now
WHERE id = :id AND status = 'in_progress' AND fence = :fence
RETURNING id, title, status, priority, created_at, updated_at, description, parent_id, spec_id,
          claimed_by, claimed_at, lease_expires_at, fence;

-- name: block_task
UPDATE tasks SET status = 'blocked', lease_expires_at = NULL, updated_at = :now, done_at = NULL
WHERE id = :id AND status = :from_status
RETURNING id, title, status, priority, created_at, updated_at, description, parent_id, spec_id,
          claimed_by, claimed_at, lease_expires_at, fence;

-- name: unblock_task
UPDATE tasks SET status = 'open', claimed_by = NULL, claimed_at = NULL, updated_at = :now
WHERE id = :id AND status = 'blocked'
RETURNING id, title, status, priority, created_at, updated_at, description, parent_id, spec_id,
          claimed_by, claimed_at, lease_expires_at, fence;

-- name: update_task
UPDATE tasks
SET title = :title, description = :description, priority = :priority, parent_id = :parent_id,
    updated_at = :now
WHERE id = :id
RETURNING id, title, status, priority, created_at, updated_at, description, parent_id, spec_id,
          claimed_by, claimed_at, lease_expires_at, fence;

-- name: delete_task
DELETE FROM tasks WHERE id = :id;

-- name: descendants
-- With their status: a staged one (an import writing subtasks of :id) stops a delete.
WITH RECURSIVE sub(id, status) AS (
    SELECT id, status FROM tasks WHERE parent_id = :id
    UNION SELECT t.id, t.status FROM tasks t JOIN sub ON t.parent_id = sub.id)
SELECT id, status FROM sub;

-- name: ancestors
WITH RECURSIVE up(id) AS (
    SELECT parent_id FROM tasks WHERE id = :id AND parent_id IS NOT NULL
    UNION SELECT t.parent_id FROM tasks t JOIN up ON t.id = up.id WHERE t.parent_id IS NOT NULL)
SELECT id FROM up;

-- name: clearable_done
WITH RECURSIVE keep(id) AS (
    SELECT id FROM tasks WHERE status != 'done'
    UNION SELECT t.parent_id FROM tasks t JOIN keep ON t.id = keep.id
    WHERE t.parent_id IS NOT NULL)
SELECT id FROM tasks WHERE status = 'done' AND id NOT IN (SELECT id FROM keep)
ORDER BY priority, created_at, rowid;

-- name: still_clearable
-- clearable_done for one task, in the transaction that deletes it: done, and nothing
-- below it is not (a subtask added, a task reopened since the list was made).
WITH RECURSIVE sub(id, status) AS (
    SELECT id, status FROM tasks WHERE parent_id = :id
    UNION SELECT t.id, t.status FROM tasks t JOIN sub ON t.parent_id = sub.id)
SELECT EXISTS (SELECT 1 FROM tasks WHERE id = :id AND status = 'done')
       AND NOT EXISTS (SELECT 1 FROM sub WHERE status != 'done');

-- name: any_lease_expired
SELECT 1 FROM tasks WHERE status = 'in_progress' AND lease_expires_at <= :now LIMIT 1;

-- name: expired_leases
SELECT id, claimed_by FROM tasks
WHERE status = 'in_progress' AND lease_expires_at <= :now
ORDER BY lease_expires_at LIMIT :limit;

-- name: expire_lease
UPDATE tasks
SET status = 'open', claimed_by = NULL, claimed_at = NULL, lease_expires_at = NULL,
    updated_at = :now
WHERE id = :id AND status = 'in_progress' AND lease_expires_at <= :now;

-- name: list_deps
SELECT child_id, parent_id FROM dependencies WHERE child_id = :id ORDER BY rowid;

-- name: parents_of
SELECT parent_id FROM dependencies WHERE child_id = :id ORDER BY parent_id;

-- name: dep_exists
SELECT 1 FROM dependencies WHERE child_id = :child_id AND parent_id = :parent_id;

-- name: insert_dep
INSERT INTO dependencies (child_id, parent_id) VALUES (:child_id, :parent_id);

-- name: delete_dep
DELETE FROM dependencies WHERE child_id = :child_id AND parent_id = :parent_id;

-- name: insert_audit
-- An audit row of a task that exists, chained to its previous one; chain_audit then
-- makes it the task's newest.
INSERT INTO audit_log
    (task_id, action, field, old_value, new_value, changed_at, changed_by, prev)
VALUES (:task_id, :action, :field, :old_value, :new_value, :now, :by,
        (SELECT last_audit FROM tasks WHERE id = :task_id));

-- name: chain_audit
UPDATE tasks SET last_audit = :audit WHERE id = :task_id;

-- name: audit_claim
-- The audit row of a claim_row: task ?1, at ?2, by ?3; ?4 is the task's last_audit, as
-- next_ready read it.
INSERT INTO audit_log
    (task_id, action, field, old_value, new_value, changed_at, changed_by, prev)
VALUES (?1, 'claim', 'status', 'open', 'in_progress', ?2, ?3, ?4);

-- name: history
-- Newest first, along the task's chain (see migration 0004).
WITH RECURSIVE chain(id) AS (
    SELECT COALESCE((SELECT last_audit FROM tasks WHERE id = :id AND status != 'staged'),
                    (SELECT last_audit FROM retired_tasks WHERE id = :id))
    UNION ALL
    SELECT a.prev FROM audit_log a JOIN chain c ON a.id = c.id WHERE a.prev IS NOT NULL)
SELECT a.id, a.task_id, a.action, a.changed_at, a.changed_by, a.field, a.old_value,
       a.new_value
FROM chain c JOIN audit_log a ON a.id = c.id ORDER BY a.id DESC;

-- name: count_audit
SELECT COUNT(*) FROM audit_log
WHERE (:action IS NULL OR action = :action) AND (:agent IS NULL OR changed_by = :agent)
  AND (:start IS NULL OR changed_at >= :start) AND (:end IS NULL OR changed_at <= :end)
  AND task_id NOT IN (SELECT id FROM tasks WHERE status = 'staged');

-- name: query_audit
SELECT id, task_id, action, changed_at, changed_by, field, old_value, new_value
FROM audit_log
WHERE (:action IS NULL OR action = :action) AND (:agent IS NULL OR changed_by = :agent)
  AND (:start IS NULL OR changed_at >= :start) AND (:end IS NULL OR changed_at <= :end)
  AND task_id NOT IN (SELECT id FROM tasks WHERE status = 'staged')
ORDER BY id DESC LIMIT :limit OFFSET :offset;

-- name: insert_spec
INSERT INTO specs (id, title, description, manual_status, created_at, updated_at)
VALUES (:id, :title, :description, NULL, :now, :now);

-- name: spec_rows
-- Specs with their task counts and computed status; filtered by :id and/or :status.
WITH counted AS (
    SELECT s.id, s.title, s.created_at, s.updated_at, s.description, s.manual_status,
           (SELECT COUNT(*) FROM tasks WHERE spec_id = s.id AND status != 'staged') AS task_count,
           (SELECT COUNT(*) FROM tasks WHERE spec_id = s.id AND status = 'done') AS done_count
    FROM specs s WHERE :id IS NULL OR s.id = :id),
statused AS (
    SELECT *, CASE WHEN manual_status = 'cancelled' THEN 'cancelled'
                   WHEN task_count = 0 THEN 'draft'
                   WHEN done_count = task_count THEN 'done'
                   ELSE 'active' END AS status
    FROM counted)
SELECT id, title, created_at, updated_at, description, manual_status, task_count, done_count
FROM statused WHERE :status IS NULL OR status = :status
ORDER BY created_at DESC, id LIMIT :limit OFFSET :offset;

-- name: count_specs
WITH counted AS (
    SELECT s.manual_status,
           (SELECT COUNT(*) FROM tasks WHERE spec_id = s.id AND status != 'staged') AS task_count,
           (SELECT COUNT(*) FROM tasks WHERE spec_id = s.id AND status = 'done') AS done_count
    FROM specs s)
SELECT COUNT(*) FROM counted
WHERE :status IS NULL OR :status = CASE WHEN manual_status = 'cancelled' THEN 'cancelled'
                                        WHEN task_count = 0 THEN 'draft'
                                        WHEN done_count = task_count THEN 'done'
                                        ELSE 'active' END;

-- name: ready_spec_ids
-- Not cancelled, not done, and every spec it depends on is done (airyra's rule).
WITH counted AS (
    SELECT s.id, s.created_at, s.manual_status,
           (SELECT COUNT(*) FROM tasks WHERE spec_id = s.id AND status != 'staged') AS task_count,
           (SELECT COUNT(*) FROM tasks WHERE spec_id = s.id AND status = 'done') AS done_count
    FROM specs s),
finished AS (
    SELECT id FROM counted
    WHERE manual_status IS NULL AND task_count > 0 AND done_count = task_count)
SELECT c.id FROM counted c
WHERE c.manual_status IS NULL
  AND c.id NOT IN (SELECT id FROM finished)
  AND NOT EXISTS (SELECT 1 FROM spec_dependencies sd
                  WHERE sd.child_id = c.id AND sd.parent_id NOT IN (SELECT id FROM finished))
ORDER BY c.created_at, c.id;

-- name: update_spec
UPDATE specs SET title = :title, description = :description, updated_at = :now WHERE id = :id;

-- name: set_spec_cancelled
UPDATE specs SET manual_status = :manual_status, updated_at = :now WHERE id = :id;

-- name: delete_spec
DELETE FROM specs WHERE id = :id;

-- name: count_spec_tasks
SELECT COUNT(*) FROM tasks WHERE spec_id = :id AND status != 'staged';

-- name: list_spec_tasks
SELECT id, title, status, priority, created_at, updated_at, description, parent_id, spec_id,
       claimed_by, claimed_at, lease_expires_at, fence
FROM tasks WHERE spec_id = :id AND status != 'staged'
ORDER BY priority, created_at, rowid LIMIT :limit OFFSET :offset;

-- name: list_spec_deps
SELECT child_id, parent_id FROM spec_dependencies WHERE child_id = :id ORDER BY rowid;

-- name: spec_parents_of
SELECT parent_id FROM spec_dependencies WHERE child_id = :id ORDER BY parent_id;

-- name: spec_dep_exists
SELECT 1 FROM spec_dependencies WHERE child_id = :child_id AND parent_id = :parent_id;

-- name: insert_spec_dep
INSERT INTO spec_dependencies (child_id, parent_id) VALUES (:child_id, :parent_id);

-- name: delete_spec_dep
DELETE FROM spec_dependencies WHERE child_id = :child_id AND parent_id = :parent_id;

-- name: stage_task
-- A task of an import being written (migration 0006): no query shows it, no claim
-- takes it, until publish_import.
INSERT INTO tasks (id, title, status, priority, created_at, updated_at, description,
                   parent_id, spec_id, staged_by)
VALUES (:id, :title, 'staged', :priority, :now, :now, :description, :parent_id, :spec_id,
        :import);

-- name: publish_import
UPDATE tasks SET status = 'open', staged_by = NULL
WHERE status = 'staged' AND staged_by = :import;

-- name: staged_imports
SELECT DISTINCT staged_by FROM tasks WHERE status = 'staged';

-- name: staged_tail
-- The rowid from which the newest :limit staged tasks of an import start: removing an
-- import newest first deletes subtasks before their parents (a parent's cascade would
-- take a subtask's row without its history).
SELECT MIN(rowid) FROM (
    SELECT rowid FROM tasks WHERE status = 'staged' AND staged_by = :import
    ORDER BY rowid DESC LIMIT :limit);

-- name: delete_staged_audit
WITH RECURSIVE chain(id) AS (
    SELECT last_audit FROM tasks
    WHERE status = 'staged' AND staged_by = :import AND rowid >= :from
          AND last_audit IS NOT NULL
    UNION ALL
    SELECT a.prev FROM audit_log a JOIN chain c ON a.id = c.id WHERE a.prev IS NOT NULL)
DELETE FROM audit_log WHERE id IN (SELECT id FROM chain);

-- name: delete_staged
DELETE FROM tasks WHERE status = 'staged' AND staged_by = :import AND rowid >= :from;

-- Coordination (schema 7): file locks and the context board. A row counts only while
-- the claim it names is current: the task in progress, held by the row's agent with
-- the row's fence, its lease not run out by :now.

-- name: agent_claims
SELECT id, fence FROM tasks
WHERE status = 'in_progress' AND claimed_by = :agent AND lease_expires_at > :now
ORDER BY claimed_at, id;

-- name: live_locks
SELECT l.path, l.glob, l.agent, l.task_id, l.acquired_at
FROM file_locks l JOIN tasks t ON t.id = l.task_id
WHERE t.status = 'in_progress' AND t.claimed_by = l.agent AND t.fence = l.fence
      AND t.lease_expires_at > :now
ORDER BY l.path;

-- name: prune_locks
DELETE FROM file_locks WHERE NOT EXISTS (
    SELECT 1 FROM tasks t
    WHERE t.id = file_locks.task_id AND t.status = 'in_progress'
          AND t.claimed_by = file_locks.agent AND t.fence = file_locks.fence
          AND t.lease_expires_at > :now);

-- name: put_lock
INSERT INTO file_locks (path, glob, agent, task_id, fence, acquired_at)
VALUES (:path, :glob, :agent, :task_id, :fence, :now)
ON CONFLICT (path) DO UPDATE SET
    glob = excluded.glob, agent = excluded.agent, task_id = excluded.task_id,
    fence = excluded.fence,
    acquired_at = CASE WHEN file_locks.agent = excluded.agent AND file_locks.fence = excluded.fence
                       THEN file_locks.acquired_at ELSE excluded.acquired_at END;

-- name: lock_holder
SELECT agent FROM file_locks WHERE path = :path;

-- name: delete_lock
DELETE FROM file_locks WHERE path = :path AND agent = :agent;

-- name: delete_agent_locks
DELETE FROM file_locks WHERE agent = :agent RETURNING path;

-- name: live_board
SELECT b.agent, b.task_id, b.status, b.files, b.message, b.updated_at
FROM context_board b JOIN tasks t ON t.id = b.task_id
WHERE t.status = 'in_progress' AND t.claimed_by = b.agent AND t.fence = b.fence
      AND t.lease_expires_at > :now
ORDER BY b.agent;

-- name: prune_board
DELETE FROM context_board WHERE NOT EXISTS (
    SELECT 1 FROM tasks t
    WHERE t.id = context_board.task_id AND t.status = 'in_progress'
          AND t.claimed_by = context_board.agent AND t.fence = context_board.fence
          AND t.lease_expires_at > :now);

-- name: put_board
INSERT INTO context_board (agent, task_id, fence, status, files, message, updated_at)
VALUES (:agent, :task_id, :fence, :status, :files, :message, :now)
ON CONFLICT (agent) DO UPDATE SET
    task_id = excluded.task_id, fence = excluded.fence, status = excluded.status,
    files = excluded.files, message = excluded.message, updated_at = excluded.updated_at;
