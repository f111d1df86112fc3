-- Migration 1: the tables and indexes of the storage contract.
--
-- Placeholders: {{schema}} is the quoted schema name. Times are epoch milliseconds on the
-- database clock (bigint). Payloads (input, output, state values, event data) are text stored
-- exactly as core serialized them. No table has foreign keys: the functions that write them keep
-- the references consistent, and leaving the checks out keeps the hot paths to one index probe.
--
-- runs: one row per run. lease_token is set only while running. wake_at is set only while a
--   suspended run waits for a time (run_at then equals wake_at), wait_signal only while it waits
--   for a signal.
-- unique_keys: one row per unique key that is taken; deleting the row releases the key.
-- dependencies: parent edges; satisfied is null until the parent finishes.
-- rate_claims: one row per claim counted by a rate limit, pruned once outside the window.

create table {{schema}}.runs (
  id text collate "C" primary key,
  job text not null,
  queue text not null,
  state text not null,
  input text not null,
  output text,
  error text,
  priority integer not null,
  attempt integer not null default 0,
  max_attempts integer not null,
  run_at bigint not null,
  created_at bigint not null,
  started_at bigint,
  first_started_at bigint,
  finished_at bigint,
  lease_token text,
  lease_expires_at bigint,
  worker_id text,
  progress text,
  group_id text,
  partition_key text,
  tenant_id text,
  unique_key text,
  unique_release_on text,
  trace_context text,
  history_level text not null,
  metadata text,
  wake_at bigint,
  wait_signal text
) with (fillfactor = 90);

-- Serves the claim: due runs of one queue in claim order. Its predicate must stay textually
-- equal to the one in the claim functions, or the planner stops using it.
create index runs_claim on {{schema}}.runs (queue, priority desc, run_at, id)
  where state in ('available', 'scheduled') or (state = 'suspended' and wake_at is not null);

-- Serves nextDueAt: runs that become due later.
create index runs_due_later on {{schema}}.runs (queue, run_at)
  where state = 'scheduled' or (state = 'suspended' and wake_at is not null);

-- Serves stall recovery and the running counts of concurrency limits. The lease expiry is
-- deliberately not indexed, so a heartbeat can be a heap-only update.
create index runs_running on {{schema}}.runs (queue, partition_key) where state = 'running';

create index runs_group on {{schema}}.runs (group_id, id) where group_id is not null;
create index runs_finished on {{schema}}.runs (finished_at) where finished_at is not null;

create table {{schema}}.unique_keys (
  key text primary key,
  run_id text collate "C" not null,
  expires_at bigint
);
create index unique_keys_run on {{schema}}.unique_keys (run_id);

create table {{schema}}.dependencies (
  child_id text collate "C" not null,
  parent_id text collate "C" not null,
  position integer not null,
  condition text not null,
  pass_output boolean not null,
  satisfied boolean,
  primary key (child_id, parent_id)
);
create index dependencies_parent on {{schema}}.dependencies (parent_id);

create table {{schema}}.state (
  run_id text collate "C" not null,
  key text not null,
  value text not null,
  updated_at bigint not null,
  primary key (run_id, key)
);

create table {{schema}}.events (
  id bigint generated always as identity primary key,
  run_id text collate "C" not null,
  group_id text,
  tenant_id text,
  type text not null,
  at bigint not null,
  attempt integer,
  data text
);
create index events_run on {{schema}}.events (run_id, id);
create index events_group on {{schema}}.events (group_id, id) where group_id is not null;

create table {{schema}}.schedules (
  name text primary key,
  job text not null,
  input text not null,
  cron text,
  interval_ms bigint,
  timezone text,
  paused boolean not null,
  next_fire_at bigint,
  last_fire_at bigint,
  options text not null,
  tenant_id text,
  created_at bigint not null,
  updated_at bigint not null
);
create index schedules_due on {{schema}}.schedules (next_fire_at) where not paused;

create table {{schema}}.limits (
  scope text not null,
  key text not null,
  concurrency integer,
  rate_limit integer,
  rate_period_ms bigint,
  burst_multiplier double precision,
  primary key (scope, key)
);

create table {{schema}}.rate_claims (
  scope text not null,
  key text not null,
  partition_key text not null,
  at bigint not null
);
create index rate_claims_window on {{schema}}.rate_claims (scope, key, partition_key, at);

create table {{schema}}.workers (
  id text primary key,
  hostname text not null,
  pid integer not null,
  queues text[] not null,
  concurrency integer not null,
  started_at bigint not null,
  last_seen_at bigint not null
);

-- The storage clock in epoch milliseconds. clock_timestamp, not now(), so a call made after
-- waiting for a lock reads the time after the wait.
create function {{schema}}.now_ms() returns bigint
  language sql volatile parallel safe
  as $$ select floor(extract(epoch from clock_timestamp()) * 1000)::bigint $$;
