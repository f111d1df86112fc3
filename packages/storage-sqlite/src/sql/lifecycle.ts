/**
 * Moves a run to a terminal state and clears its lease and wait fields. Output and error are
 * kept when the new value is null.
 * Parameters: state, output, error (JSON), finished_at, run id.
 */
export const FINISH_RUN = `
UPDATE zapjobs_runs
SET state = ?, output = coalesce(?, output), error = coalesce(?, error), finished_at = ?,
    lease_token = NULL, lease_expires_at = NULL, wake_at = NULL, wait_signal = NULL
WHERE id = ?`;

/**
 * Makes a run claimable (available or scheduled) and clears its lease and wait fields.
 * Parameters: state, run_at, attempt change (added to attempt), run id.
 */
export const MAKE_READY = `
UPDATE zapjobs_runs
SET state = ?, run_at = ?, attempt = attempt + ?, lease_token = NULL,
    lease_expires_at = NULL, wake_at = NULL, wait_signal = NULL
WHERE id = ?`;

/**
 * Parks a running run without counting the attempt. run_at becomes the wake time, if any.
 * Parameters: wake_at, wait_signal, wake_at, run id.
 */
export const SUSPEND_RUN = `
UPDATE zapjobs_runs
SET state = 'suspended', attempt = attempt - 1, lease_token = NULL,
    lease_expires_at = NULL, wake_at = ?, wait_signal = ?, run_at = coalesce(?, run_at)
WHERE id = ?`;

/**
 * Running runs whose lease expired, oldest expiry first. The running index contains one entry
 * per running run, so this scans the running runs, not the whole table.
 * Parameters: now, max rows. Result: run rows.
 */
export const EXPIRED_LEASES = `
SELECT * FROM zapjobs_runs INDEXED BY zapjobs_runs_running
WHERE state = 'running' AND lease_expires_at <= ?
ORDER BY lease_expires_at LIMIT ?`;

/**
 * Completes a running run whose lease is `lease_token`, clearing its lease. Matches no row
 * when the lease is no longer held, which is the fencing of complete.
 * Parameters: output, finished_at, run id, lease token. Result: the columns the rest of the
 * transition needs, or no row.
 */
export const COMPLETE_RUN = `
UPDATE zapjobs_runs
SET state = 'completed', output = ?, finished_at = ?,
    lease_token = NULL, lease_expires_at = NULL, wake_at = NULL, wait_signal = NULL
WHERE id = ? AND lease_token = ? AND state = 'running'
RETURNING id, queue, attempt, group_id, tenant_id, history_level, unique_key, has_dependents`;

/**
 * Suspended runs of the listed queues whose wake time has come, earliest first, at most
 * `maxRows` of them so one claim transaction stays short.
 * Parameters: the queues, now. Result: run rows.
 */
export function dueSuspendedSql(list: string, maxRows: number): string {
  return `
SELECT * FROM zapjobs_runs
WHERE state = 'suspended' AND wake_at IS NOT NULL AND queue IN (${list}) AND wake_at <= ?
ORDER BY wake_at LIMIT ${maxRows}`;
}

/**
 * Earliest due time of a scheduled run, or wake time of a suspended run, in the listed queues.
 * Parameters: the queues, the queues. Result: `t`, null when there is none.
 */
export function nextDueAtSql(list: string): string {
  return `
SELECT min(t) AS t FROM (
  SELECT min(run_at) AS t FROM zapjobs_runs
  WHERE state = 'scheduled' AND queue IN (${list})
  UNION ALL
  SELECT min(wake_at) AS t FROM zapjobs_runs
  WHERE state = 'suspended' AND wake_at IS NOT NULL AND queue IN (${list})
)`;
}

/**
 * Writes a state value, replacing an existing one.
 * Parameters: run id, key, value, updated_at.
 */
export const UPSERT_STATE = `
INSERT INTO zapjobs_state (run_id, key, value, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`;

/**
 * Writes a state value only when the key is missing.
 * Parameters: run id, key, value, updated_at. Changes: 1 when written, 0 when present.
 */
export const INSERT_STATE_IF_ABSENT = `
INSERT INTO zapjobs_state (run_id, key, value, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (run_id, key) DO NOTHING`;
