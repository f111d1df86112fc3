/**
 * Statements of tenants, quotas and fair queues. Longer ones carry their parameters and result.
 */

/**
 * Creates a tenant as active, or replaces the weight, quotas and metadata of an existing one.
 * Parameters: id, weight, runs_per_hour, runs_per_day, max_queued_runs, max_concurrent_runs,
 * metadata, created_at, updated_at. Result: the stored row.
 */
export const UPSERT_TENANT = `
INSERT INTO zapjobs_tenants (
  id, status, weight, runs_per_hour, runs_per_day, max_queued_runs, max_concurrent_runs,
  metadata, created_at, updated_at
) VALUES (?, 'active', ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
  weight = excluded.weight,
  runs_per_hour = excluded.runs_per_hour,
  runs_per_day = excluded.runs_per_day,
  max_queued_runs = excluded.max_queued_runs,
  max_concurrent_runs = excluded.max_concurrent_runs,
  metadata = excluded.metadata,
  updated_at = excluded.updated_at
RETURNING *`;

/**
 * Sets a tenant's status. Parameters: status, deleted_at, purge_at, updated_at, id.
 * Result: the updated row, or none when the tenant is not registered.
 */
export const SET_TENANT_STATUS = `
UPDATE zapjobs_tenants SET status = ?, deleted_at = ?, purge_at = ?, updated_at = ?
WHERE id = ?
RETURNING *`;

/** Ids of tenants that no claim may start runs of. Result: ids. */
export const INACTIVE_TENANTS = `
SELECT id FROM zapjobs_tenants INDEXED BY zapjobs_tenants_inactive WHERE status <> 'active'`;

/**
 * Whether a claim of these queues must take the tenant-aware path: one of them is fair, or a
 * tenant is not active or has a concurrency quota. `list` is one `?` per queue.
 * Parameters: the queues. Result: 1 or 0.
 */
export function needsTenantClaimSql(list: string): string {
  return `
SELECT EXISTS (SELECT 1 FROM zapjobs_fair_queues WHERE queue IN (${list}))
  OR EXISTS (SELECT 1 FROM zapjobs_tenants INDEXED BY zapjobs_tenants_restricted
             WHERE status <> 'active' OR max_concurrent_runs IS NOT NULL)`;
}

/**
 * Counts a tenant's runs in the queued states. Parameters: tenant id. Result: the count.
 */
export const COUNT_QUEUED = `
SELECT count(*) FROM zapjobs_runs INDEXED BY zapjobs_runs_tenant_state
WHERE tenant_id = ? AND state IN ('waiting', 'scheduled', 'available')`;

/** Counts a tenant's running runs. Parameters: tenant id. Result: the count. */
export const COUNT_RUNNING = `
SELECT count(*) FROM zapjobs_runs INDEXED BY zapjobs_runs_tenant_state
WHERE tenant_id = ? AND state = 'running'`;

/**
 * Adds to a tenant's window counter, starting the window over when it changed.
 * Parameters: tenant id, window ms, window start, count to add. Result: the new count.
 */
export const ADD_TO_COUNTER = `
INSERT INTO zapjobs_tenant_counters (tenant_id, window_ms, window_start, count)
VALUES (?, ?, ?, ?)
ON CONFLICT (tenant_id, window_ms) DO UPDATE SET
  count = CASE WHEN window_start = excluded.window_start THEN count + excluded.count
               ELSE excluded.count END,
  window_start = excluded.window_start
RETURNING count`;

/**
 * Sets the fair key of a queue's runs that a claim or a retry may still start (every state but
 * completed). Parameters: by ('tenant', 'partition' or null to clear), queue.
 */
export const ASSIGN_FAIR_KEYS = `
UPDATE zapjobs_runs
SET fair_key = CASE ? WHEN 'tenant' THEN coalesce(tenant_id, '')
                      WHEN 'partition' THEN coalesce(partition_key, '') END
WHERE queue = ? AND state <> 'completed'`;

/**
 * Distinct fair keys with an available run in a queue, by a loose scan of the fair index: one
 * index probe per key. Parameters: queue, queue. Result: key.
 */
export const FAIR_KEYS = `
WITH RECURSIVE keys (key) AS (
  SELECT (SELECT min(fair_key) FROM zapjobs_runs INDEXED BY zapjobs_runs_fair
          WHERE queue = ? AND state = 'available' AND fair_key IS NOT NULL)
  UNION ALL
  SELECT (SELECT min(r.fair_key) FROM zapjobs_runs AS r INDEXED BY zapjobs_runs_fair
          WHERE r.queue = ? AND r.state = 'available' AND r.fair_key > keys.key)
  FROM keys WHERE keys.key IS NOT NULL
)
SELECT key FROM keys WHERE key IS NOT NULL`;

/**
 * The next available runs of one fair key after a keyset position, in claim order, leaving
 * out runs of the tenants in a JSON array. Parameters: queue, key, JSON array of excluded
 * tenant ids, priority, priority, run_at, run_at, id (of the last run seen, or the start
 * sentinel), page size.
 */
export const FAIR_CANDIDATES = `
SELECT id, job, queue, priority, run_at, partition_key, tenant_id
FROM zapjobs_runs INDEXED BY zapjobs_runs_fair
WHERE queue = ? AND fair_key = ? AND state = 'available'
  AND (tenant_id IS NULL OR tenant_id NOT IN (SELECT value FROM json_each(?)))
  AND (priority < ? OR (priority = ? AND (run_at > ? OR (run_at = ? AND id > ?))))
ORDER BY priority DESC, run_at, id LIMIT ?`;

/**
 * The next available runs of a queue after a keyset position, in claim order, leaving out runs
 * of the tenants in a JSON array. Parameters as {@link FAIR_CANDIDATES} without the key.
 */
export const FILTERED_CANDIDATES = `
SELECT id, job, queue, priority, run_at, partition_key, tenant_id
FROM zapjobs_runs INDEXED BY zapjobs_runs_available
WHERE queue = ? AND state = 'available'
  AND (tenant_id IS NULL OR tenant_id NOT IN (SELECT value FROM json_each(?)))
  AND (priority < ? OR (priority = ? AND (run_at > ? OR (run_at = ? AND id > ?))))
ORDER BY priority DESC, run_at, id LIMIT ?`;

/**
 * A deleted tenant whose purge time has come, oldest first. Parameters: now.
 * Result: id, or none.
 */
export const NEXT_PURGEABLE_TENANT = `
SELECT id FROM zapjobs_tenants INDEXED BY zapjobs_tenants_purge
WHERE status = 'deleted' AND purge_at <= ?
ORDER BY purge_at, id LIMIT 1`;

/**
 * Queues with an available run, by a loose scan of the available index: one probe per queue.
 * Result: queue.
 */
export const QUEUES_WITH_AVAILABLE_RUNS = `
WITH RECURSIVE queues (queue) AS (
  SELECT (SELECT min(queue) FROM zapjobs_runs INDEXED BY zapjobs_runs_available
          WHERE state = 'available')
  UNION ALL
  SELECT (SELECT min(r.queue) FROM zapjobs_runs AS r INDEXED BY zapjobs_runs_available
          WHERE r.state = 'available' AND r.queue > queues.queue)
  FROM queues WHERE queues.queue IS NOT NULL
)
SELECT queue FROM queues WHERE queue IS NOT NULL`;
