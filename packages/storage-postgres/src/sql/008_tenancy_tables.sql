-- Migration 8: tables and indexes of tenants, quotas and fair queues.
--
-- Placeholders: {{schema}} is the quoted schema name.
--
-- runs.fair_key: the value a fair queue shares by (tenant id or partition key, '' for runs
--   without one), set while the run's queue is fair and null otherwise.
-- tenants: the registry; quota columns are null when the quota is not set.
-- tenant_counters: per tenant and window length (ms), the start of the current window and the
--   runs created in it.
-- fair_queues: fair queues; vtime is the virtual time of the last run claimed.
-- fair_weights: weights set by key in a fair queue's settings.
-- fair_state: per key, the virtual time its next run starts at (pass). A key without a row, or
--   with pass behind vtime, starts at vtime.

alter table {{schema}}.runs add column fair_key text;

-- Serves the fair claim: due runs per key in claim order. The state predicate is the claim
-- predicate of runs_claim, spelled the same way.
create index runs_fair on {{schema}}.runs (queue, fair_key, priority desc, run_at, id)
  where fair_key is not null
    and (state in ('available', 'scheduled') or (state = 'suspended' and wake_at is not null));

-- Serves tenant listing and purging, and the queued and running counts of quotas.
create index runs_tenant on {{schema}}.runs (tenant_id, id) where tenant_id is not null;
create index runs_tenant_open on {{schema}}.runs (tenant_id, state)
  where tenant_id is not null
    and state in ('waiting', 'scheduled', 'available', 'running', 'suspended');

create index events_tenant on {{schema}}.events (tenant_id, id) where tenant_id is not null;
create index schedules_tenant on {{schema}}.schedules (tenant_id) where tenant_id is not null;

create table {{schema}}.tenants (
  id text collate "C" primary key,
  status text not null,
  weight double precision not null,
  runs_per_hour integer,
  runs_per_day integer,
  max_queued_runs integer,
  max_concurrent_runs integer,
  metadata text,
  created_at bigint not null,
  updated_at bigint not null,
  deleted_at bigint,
  purge_at bigint
);
-- A claim looks here first: with no row, no tenant restricts it.
create index tenants_restricted on {{schema}}.tenants (id)
  where status <> 'active' or max_concurrent_runs is not null;
create index tenants_purge on {{schema}}.tenants (purge_at) where status = 'deleted';

create table {{schema}}.tenant_counters (
  tenant_id text collate "C" not null,
  window_ms bigint not null,
  window_start bigint not null,
  count integer not null,
  primary key (tenant_id, window_ms)
);

create table {{schema}}.fair_queues (
  queue text primary key,
  by text not null,
  vtime double precision not null default 0
);

create table {{schema}}.fair_weights (
  queue text not null,
  key text not null,
  weight double precision not null,
  primary key (queue, key)
);

create table {{schema}}.fair_state (
  queue text not null,
  key text not null,
  pass double precision not null,
  primary key (queue, key)
);
create index fair_state_pass on {{schema}}.fair_state (queue, pass);
