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

/**
 * Makes scheduled runs of the listed queues whose due time has come available.
 * Parameters: the queues, now.
 */
export function promoteDueSql(list: string): string {
  return `
UPDATE zapjobs_runs SET state = 'available'
WHERE state = 'scheduled' AND queue IN (${list}) AND run_at <= ?`;
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
 * Starts an attempt: the run becomes running under a new lease.
 * Parameters: lease token, lease expiry, worker id, now, now, run id. Result: the updated row.
 */
export const CLAIM_RUN = `
UPDATE zapjobs_runs
SET state = 'running', attempt = attempt + 1, lease_token = ?, lease_expires_at = ?,
    worker_id = ?, started_at = ?, first_started_at = coalesce(first_started_at, ?)
WHERE id = ?
RETURNING *`;

/**
 * Counts the claims that a rate limit counted inside its window.
 * Parameters: scope, key, partition key ('' when not per partition), window start (exclusive).
 * Result: the count.
 */
export const COUNT_RATE_CLAIMS = `
SELECT count(*) FROM zapjobs_rate_claims
WHERE scope = ? AND key = ? AND partition_key = ? AND at > ?`;
