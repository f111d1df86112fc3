/**
 * Versioned schema migrations. Each entry runs once per database file, in order, inside the
 * same BEGIN IMMEDIATE transaction that records it in `zapjobs_migrations`. Never edit an
 * applied migration; append a new one.
 *
 * Times are epoch milliseconds (INTEGER). Payloads (`input`, `output`, state values, event
 * data) are stored as TEXT exactly as core serialized them.
 */

import { dependencyIndexSchema } from './dependency-index-schema.js';
import { eventDataSchema } from './event-data-schema.js';
import { hotPathSchema } from './hot-path-schema.js';
import { scheduleKeySchema } from './schedule-key-schema.js';
import { tenancySchema } from './tenancy-schema.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * Version 1: every table of the storage contract.
 *
 * - `zapjobs_runs`: one row per run. `lease_token` is set only while `running`. `wake_at` and
 *   `wait_signal` are set only while `suspended`.
 * - `zapjobs_unique_keys`: one row per unique key that is currently taken; deleting the row
 *   releases the key. `expires_at` is the ttlMs deadline, or null.
 * - `zapjobs_dependencies`: parent edges; `satisfied` is null until the parent finishes.
 * - `zapjobs_state`, `zapjobs_events`: per-run key-value state and history, deleted with the run.
 * - `zapjobs_schedules`, `zapjobs_limits`, `zapjobs_workers`: admin data.
 * - `zapjobs_rate_claims`: one row per claim counted by a rate limit, pruned after the window.
 * - `zapjobs_notifications`: a short-lived change log that other processes poll (work arrived,
 *   run finished, signal delivered); `source` is the writing connection's random id.
 */
const initialSchema = `
CREATE TABLE zapjobs_runs (
  id TEXT PRIMARY KEY,
  job TEXT NOT NULL,
  queue TEXT NOT NULL,
  state TEXT NOT NULL,
  input TEXT NOT NULL,
  output TEXT,
  error TEXT,
  priority INTEGER NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  run_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  first_started_at INTEGER,
  finished_at INTEGER,
  lease_token TEXT,
  lease_expires_at INTEGER,
  worker_id TEXT,
  progress TEXT,
  group_id TEXT,
  partition_key TEXT,
  tenant_id TEXT,
  unique_key TEXT,
  trace_context TEXT,
  history_level TEXT NOT NULL,
  metadata TEXT,
  wake_at INTEGER,
  wait_signal TEXT
);
CREATE INDEX zapjobs_runs_available ON zapjobs_runs (queue, priority DESC, run_at, id)
  WHERE state = 'available';
CREATE INDEX zapjobs_runs_scheduled ON zapjobs_runs (queue, run_at) WHERE state = 'scheduled';
CREATE INDEX zapjobs_runs_wake ON zapjobs_runs (queue, wake_at)
  WHERE state = 'suspended' AND wake_at IS NOT NULL;
CREATE INDEX zapjobs_runs_lease ON zapjobs_runs (lease_expires_at) WHERE state = 'running';
CREATE INDEX zapjobs_runs_running_job ON zapjobs_runs (job) WHERE state = 'running';
CREATE INDEX zapjobs_runs_running_partition ON zapjobs_runs (queue, partition_key)
  WHERE state = 'running';
CREATE INDEX zapjobs_runs_state ON zapjobs_runs (state, id);
CREATE INDEX zapjobs_runs_queue ON zapjobs_runs (queue, id);
CREATE INDEX zapjobs_runs_job ON zapjobs_runs (job, id);
CREATE INDEX zapjobs_runs_group ON zapjobs_runs (group_id, id) WHERE group_id IS NOT NULL;
CREATE INDEX zapjobs_runs_tenant ON zapjobs_runs (tenant_id, id) WHERE tenant_id IS NOT NULL;
CREATE INDEX zapjobs_runs_finished ON zapjobs_runs (state, finished_at)
  WHERE finished_at IS NOT NULL;

CREATE TABLE zapjobs_unique_keys (
  key TEXT PRIMARY KEY,
  run_id TEXT NOT NULL REFERENCES zapjobs_runs (id) ON DELETE CASCADE,
  release_on TEXT NOT NULL,
  expires_at INTEGER
);
CREATE INDEX zapjobs_unique_keys_run ON zapjobs_unique_keys (run_id);

CREATE TABLE zapjobs_dependencies (
  child_id TEXT NOT NULL REFERENCES zapjobs_runs (id) ON DELETE CASCADE,
  parent_id TEXT NOT NULL REFERENCES zapjobs_runs (id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  condition TEXT NOT NULL,
  pass_output INTEGER NOT NULL,
  satisfied INTEGER,
  PRIMARY KEY (child_id, parent_id)
) WITHOUT ROWID;
CREATE INDEX zapjobs_dependencies_parent ON zapjobs_dependencies (parent_id);

CREATE TABLE zapjobs_state (
  run_id TEXT NOT NULL REFERENCES zapjobs_runs (id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (run_id, key)
) WITHOUT ROWID;

CREATE TABLE zapjobs_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id TEXT NOT NULL REFERENCES zapjobs_runs (id) ON DELETE CASCADE,
  group_id TEXT,
  tenant_id TEXT,
  type TEXT NOT NULL,
  at INTEGER NOT NULL,
  attempt INTEGER,
  data TEXT
);
CREATE INDEX zapjobs_events_run ON zapjobs_events (run_id, id);
CREATE INDEX zapjobs_events_group ON zapjobs_events (group_id, id) WHERE group_id IS NOT NULL;
CREATE INDEX zapjobs_events_at ON zapjobs_events (at);

CREATE TABLE zapjobs_schedules (
  name TEXT PRIMARY KEY,
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
CREATE INDEX zapjobs_schedules_due ON zapjobs_schedules (next_fire_at) WHERE paused = 0;

CREATE TABLE zapjobs_limits (
  scope TEXT NOT NULL,
  key TEXT NOT NULL,
  concurrency INTEGER,
  rate_limit INTEGER,
  rate_period_ms INTEGER,
  burst_multiplier REAL,
  PRIMARY KEY (scope, key)
) WITHOUT ROWID;

CREATE TABLE zapjobs_rate_claims (
  scope TEXT NOT NULL,
  key TEXT NOT NULL,
  partition_key TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX zapjobs_rate_claims_window ON zapjobs_rate_claims (scope, key, partition_key, at);

CREATE TABLE zapjobs_workers (
  id TEXT PRIMARY KEY,
  hostname TEXT NOT NULL,
  pid INTEGER NOT NULL,
  queues TEXT NOT NULL,
  concurrency INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL
);

CREATE TABLE zapjobs_notifications (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  source TEXT NOT NULL,
  kind TEXT NOT NULL,
  run_id TEXT,
  queue TEXT,
  name TEXT,
  state TEXT,
  at INTEGER NOT NULL
);
CREATE INDEX zapjobs_notifications_at ON zapjobs_notifications (at);
`;

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'initial schema', sql: initialSchema },
  { version: 2, name: 'tenants and fair queues', sql: tenancySchema },
  { version: 3, name: 'lighter claim and finish paths', sql: hotPathSchema },
  { version: 4, name: 'event compaction and lifecycle data', sql: eventDataSchema },
  { version: 5, name: 'dependency outcome index', sql: dependencyIndexSchema },
  { version: 6, name: 'schedule names unique per tenant', sql: scheduleKeySchema },
];

/** Bookkeeping table of applied migrations; created before any migration runs. */
export const CREATE_MIGRATIONS_TABLE = `
CREATE TABLE IF NOT EXISTS zapjobs_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at INTEGER NOT NULL
)`;
