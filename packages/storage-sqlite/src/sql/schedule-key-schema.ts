/**
 * Version 6: schedule names are unique per tenant, so the key of `zapjobs_schedules` becomes
 * (tenant, name), with '' standing for schedules without a tenant in
 * `zapjobs_schedules_key`. SQLite cannot drop a primary key, so the table is rebuilt with the
 * same columns in the same order, and its rows copied.
 *
 * NOTE: processes of the previous release that are still running get, fire, pause and delete a
 * schedule by name alone (`WHERE name = ?`). Once two tenants have schedules of the same name,
 * those processes act on all of them, and an old scheduler advances every tenant's copy but
 * creates the run of one. Their upserts fail, because `ON CONFLICT (name)` matches no unique index after
 * this version. Stop every process of an older release that fires or manages schedules before
 * the first process of this release migrates.
 */
export const scheduleKeySchema = `
CREATE TABLE zapjobs_schedules_rebuilt (
  name TEXT NOT NULL,
  job TEXT NOT NULL,
  input TEXT NOT NULL,
  cron TEXT,
  interval_ms INTEGER,
  timezone TEXT,
  paused INTEGER NOT NULL,
  next_fire_at INTEGER,
  last_fire_at INTEGER,
  options TEXT NOT NULL,
  tenant_id TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
INSERT INTO zapjobs_schedules_rebuilt (
  name, job, input, cron, interval_ms, timezone, paused, next_fire_at, last_fire_at, options,
  tenant_id, created_at, updated_at
)
SELECT name, job, input, cron, interval_ms, timezone, paused, next_fire_at, last_fire_at, options,
  tenant_id, created_at, updated_at
FROM zapjobs_schedules;
DROP TABLE zapjobs_schedules;
ALTER TABLE zapjobs_schedules_rebuilt RENAME TO zapjobs_schedules;
CREATE UNIQUE INDEX zapjobs_schedules_key ON zapjobs_schedules (ifnull(tenant_id, ''), name);
CREATE INDEX zapjobs_schedules_due ON zapjobs_schedules (next_fire_at) WHERE paused = 0;
CREATE INDEX zapjobs_schedules_tenant ON zapjobs_schedules (tenant_id)
  WHERE tenant_id IS NOT NULL;
`;
