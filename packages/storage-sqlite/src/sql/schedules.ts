/**
 * Creates or updates a schedule. An existing schedule keeps its pause state, created_at,
 * last_fire_at, and its next_fire_at unless the last parameter is 1.
 * Parameters: name, job, input, cron, interval_ms, timezone, paused (0 or 1, new schedules
 * only), next_fire_at, options, tenant_id, created_at, updated_at, reset next_fire_at (0 or 1).
 * Result: the stored row.
 */
export const UPSERT_SCHEDULE = `
INSERT INTO zapjobs_schedules (
  name, job, input, cron, interval_ms, timezone, paused, next_fire_at, last_fire_at, options,
  tenant_id, created_at, updated_at
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE SET
  job = excluded.job,
  input = excluded.input,
  cron = excluded.cron,
  interval_ms = excluded.interval_ms,
  timezone = excluded.timezone,
  options = excluded.options,
  tenant_id = excluded.tenant_id,
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
ORDER BY next_fire_at, name LIMIT ?`;

/**
 * Compare-and-set on next_fire_at: advances a schedule only while it still has the expected
 * value. Parameters: next_fire_at, last_fire_at, updated_at, name, expected next_fire_at.
 * Changes: 1 when this call fired the occurrence, 0 when another one did.
 */
export const FIRE_SCHEDULE = `
UPDATE zapjobs_schedules SET next_fire_at = ?, last_fire_at = ?, updated_at = ?
WHERE name = ? AND next_fire_at = ?`;
