/**
 * Creates or updates the schedule of key (tenant_id, name). An existing schedule keeps its
 * pause state, created_at, last_fire_at, and its next_fire_at unless the last parameter is 1.
 * Parameters: name, job, input, cron, interval_ms, timezone, paused (0 or 1, new schedules
 * only), next_fire_at, options, tenant_id, created_at, updated_at, reset next_fire_at (0 or 1).
 * Result: the stored row.
 */
export const UPSERT_SCHEDULE = `
INSERT INTO zapjobs_schedules (
  name, job, input, cron, interval_ms, timezone, paused, next_fire_at, last_fire_at, options,
  tenant_id, created_at, updated_at
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?)
ON CONFLICT (ifnull(tenant_id, ''), name) DO UPDATE SET
  job = excluded.job,
  input = excluded.input,
  cron = excluded.cron,
  interval_ms = excluded.interval_ms,
  timezone = excluded.timezone,
  options = excluded.options,
  updated_at = excluded.updated_at,
  next_fire_at = CASE WHEN ? THEN excluded.next_fire_at ELSE zapjobs_schedules.next_fire_at END
RETURNING *`;

/**
 * Unpaused schedules whose next occurrence has come, oldest first.
 * Parameters: now, max rows. Result: schedule rows.
 */
export const DUE_SCHEDULES = `
SELECT * FROM zapjobs_schedules
WHERE paused = 0 AND next_fire_at IS NOT NULL AND next_fire_at <= ?
ORDER BY next_fire_at, name, tenant_id LIMIT ?`;

/** Condition on a schedule's key. Parameters: tenant id ('' for none), name. */
const KEY = `ifnull(tenant_id, '') = ? AND name = ?`;

/** One schedule. Parameters: tenant id ('' for none), name. Result: its row. */
export const GET_SCHEDULE = `SELECT * FROM zapjobs_schedules WHERE ${KEY}`;

/** Every schedule. Result: schedule rows, schedules without a tenant first. */
export const LIST_SCHEDULES = `
SELECT * FROM zapjobs_schedules ORDER BY ifnull(tenant_id, ''), name`;

/** The schedules of one tenant. Parameters: tenant id. Result: schedule rows. */
export const LIST_TENANT_SCHEDULES = `
SELECT * FROM zapjobs_schedules WHERE tenant_id = ? ORDER BY name`;

/** Pauses or resumes a schedule. Parameters: paused (0 or 1), updated_at, tenant id, name. */
export const PAUSE_SCHEDULE = `
UPDATE zapjobs_schedules SET paused = ?, updated_at = ? WHERE ${KEY}`;

/** Deletes a schedule. Parameters: tenant id ('' for none), name. */
export const DELETE_SCHEDULE = `DELETE FROM zapjobs_schedules WHERE ${KEY}`;

/**
 * Compare-and-set on next_fire_at: advances a schedule only while it still has the expected
 * value. Parameters: next_fire_at, last_fire_at, updated_at, tenant id ('' for none), name,
 * expected next_fire_at.
 * Changes: 1 when this call fired the occurrence, 0 when another one did.
 */
export const FIRE_SCHEDULE = `
UPDATE zapjobs_schedules SET next_fire_at = ?, last_fire_at = ?, updated_at = ?
WHERE ${KEY} AND next_fire_at = ?`;
