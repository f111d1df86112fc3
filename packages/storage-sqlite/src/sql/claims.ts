/**
 * Selects whether any run of the listed queues is available, scheduled and due, or suspended with a
 * wake time that has come. `list` is one `?` per queue.
 * Parameters: the queues, the queues, now, the queues, now. Result: 1 or 0.
 * INDEXED BY keeps SQLite from picking the (state, id) index and scanning every available run.
 */
export function hasClaimableSql(list: string): string {
  return `
SELECT
  EXISTS (SELECT 1 FROM zapjobs_runs INDEXED BY zapjobs_runs_available
          WHERE state = 'available' AND queue IN (${list}))
  OR EXISTS (SELECT 1 FROM zapjobs_runs
             WHERE state = 'scheduled' AND queue IN (${list}) AND run_at <= ?)
  OR EXISTS (SELECT 1 FROM zapjobs_runs
             WHERE state = 'suspended' AND wake_at IS NOT NULL AND queue IN (${list})
               AND wake_at <= ?)`;
}

/** Most due runs one claim moves from scheduled or suspended to available. */
export const DUE_PER_CLAIM_MAX = 1_000;

/**
 * Makes scheduled runs of the listed queues whose due time has come available, earliest due
 * first and at most `maxRows` of them, so one claim transaction stays short.
 * NOTE: when more runs are due than that, the rest wait for the next claim even if their
 * priority is higher than that of runs already available.
 * Parameters: the queues, now.
 */
export function promoteDueSql(list: string, maxRows = DUE_PER_CLAIM_MAX): string {
  return `
UPDATE zapjobs_runs SET state = 'available'
WHERE id IN (
  SELECT id FROM zapjobs_runs
  WHERE state = 'scheduled' AND queue IN (${list}) AND run_at <= ?
  ORDER BY run_at LIMIT ${maxRows}
)`;
}

/**
 * First page of a queue's available runs in claim order: priority (higher first), due time,
 * id. Parameters: queue, page size. Result: the columns claim limits look at.
 */
export const FIRST_CANDIDATES = `
SELECT id, job, queue, priority, run_at, partition_key FROM zapjobs_runs
WHERE queue = ? AND state = 'available'
ORDER BY priority DESC, run_at, id LIMIT ?`;

/**
 * Next page of candidates after the last one seen (keyset on priority, run_at, id).
 * Parameters: queue, priority, priority, run_at, run_at, id of the last candidate, page size.
 */
export const NEXT_CANDIDATES = `
SELECT id, job, queue, priority, run_at, partition_key FROM zapjobs_runs
WHERE queue = ? AND state = 'available'
  AND (priority < ? OR (priority = ? AND (run_at > ? OR (run_at = ? AND id > ?))))
ORDER BY priority DESC, run_at, id LIMIT ?`;

/**
 * Starts an attempt of each listed available run: it becomes running under a new lease whose
 * token is 128 random bits in hex.
 * Parameters: lease expiry, worker id, now, now, JSON array of run ids. Result: the updated
 * rows, in no particular order.
 */
export const CLAIM_RUNS = `
UPDATE zapjobs_runs
SET state = 'running', attempt = attempt + 1, lease_token = lower(hex(randomblob(16))),
    lease_expires_at = ?, worker_id = ?, started_at = ?,
    first_started_at = coalesce(first_started_at, ?)
WHERE id IN (SELECT value FROM json_each(?)) AND state = 'available'
RETURNING *`;

/**
 * Appends `started` for each listed run whose history level records it (every level but
 * `off`, as `records` in events.ts decides for lifecycle events).
 * Parameters: now, event data, JSON array of run ids.
 */
export const APPEND_STARTED = `
INSERT INTO zapjobs_events (run_id, group_id, tenant_id, type, at, attempt, data)
SELECT id, group_id, tenant_id, 'started', ?, attempt, ? FROM zapjobs_runs
WHERE id IN (SELECT value FROM json_each(?)) AND history_level <> 'off'`;

/**
 * Releases the unique keys of the listed runs that are held until start.
 * Parameters: JSON array of run ids.
 */
export const RELEASE_KEYS_ON_START = `
DELETE FROM zapjobs_unique_keys
WHERE release_on = 'start' AND run_id IN (SELECT value FROM json_each(?))`;

/**
 * Counts the claims that a rate limit counted inside its window.
 * Parameters: scope, key, partition key ('' when not per partition), window start (exclusive).
 * Result: the count.
 */
export const COUNT_RATE_CLAIMS = `
SELECT count(*) FROM zapjobs_rate_claims
WHERE scope = ? AND key = ? AND partition_key = ? AND at > ?`;
