/**
 * Version 2: tenants, quotas and fair queues.
 *
 * - `zapjobs_runs.fair_key`: the value a fair queue shares by (tenant id or partition key, ''
 *   for runs without one), set while the run's queue is fair and null otherwise.
 *   `zapjobs_runs_fair` serves the fair claim: due runs per key in claim order.
 * - `zapjobs_runs_tenant_state`: counts of a tenant's queued and running runs for quotas.
 * - `zapjobs_tenants`: the registry; quota columns are null when the quota is not set.
 * - `zapjobs_tenant_counters`: per tenant and window length (ms), the start of the current
 *   window and the runs created in it.
 * - `zapjobs_fair_queues`: fair queues; `vtime` is the virtual time of the last run claimed.
 * - `zapjobs_fair_weights`: weights set by key in a fair queue's settings.
 * - `zapjobs_fair_state`: per key, the virtual time its next run starts at (`pass`). A key
 *   without a row, or with `pass` behind `vtime`, starts at `vtime`.
 */
export const tenancySchema = `
ALTER TABLE zapjobs_runs ADD COLUMN fair_key TEXT;
CREATE INDEX zapjobs_runs_fair ON zapjobs_runs (queue, fair_key, priority DESC, run_at, id)
  WHERE state = 'available' AND fair_key IS NOT NULL;
CREATE INDEX zapjobs_runs_tenant_state ON zapjobs_runs (tenant_id, state)
  WHERE tenant_id IS NOT NULL;
CREATE INDEX zapjobs_events_tenant ON zapjobs_events (tenant_id, id) WHERE tenant_id IS NOT NULL;
CREATE INDEX zapjobs_schedules_tenant ON zapjobs_schedules (tenant_id)
  WHERE tenant_id IS NOT NULL;

CREATE TABLE zapjobs_tenants (
  id TEXT PRIMARY KEY,
  status TEXT NOT NULL,
  weight REAL NOT NULL,
  runs_per_hour INTEGER,
  runs_per_day INTEGER,
  max_queued_runs INTEGER,
  max_concurrent_runs INTEGER,
  metadata TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  deleted_at INTEGER,
  purge_at INTEGER
);
CREATE INDEX zapjobs_tenants_restricted ON zapjobs_tenants (id)
  WHERE status <> 'active' OR max_concurrent_runs IS NOT NULL;
CREATE INDEX zapjobs_tenants_inactive ON zapjobs_tenants (id) WHERE status <> 'active';
CREATE INDEX zapjobs_tenants_purge ON zapjobs_tenants (purge_at) WHERE status = 'deleted';

CREATE TABLE zapjobs_tenant_counters (
  tenant_id TEXT NOT NULL,
  window_ms INTEGER NOT NULL,
  window_start INTEGER NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, window_ms)
) WITHOUT ROWID;

CREATE TABLE zapjobs_fair_queues (
  queue TEXT PRIMARY KEY,
  by TEXT NOT NULL,
  vtime REAL NOT NULL DEFAULT 0
);

CREATE TABLE zapjobs_fair_weights (
  queue TEXT NOT NULL,
  key TEXT NOT NULL,
  weight REAL NOT NULL,
  PRIMARY KEY (queue, key)
) WITHOUT ROWID;

CREATE TABLE zapjobs_fair_state (
  queue TEXT NOT NULL,
  key TEXT NOT NULL,
  pass REAL NOT NULL,
  PRIMARY KEY (queue, key)
) WITHOUT ROWID;
CREATE INDEX zapjobs_fair_state_pass ON zapjobs_fair_state (queue, pass);
`;
