-- Migration 14: schedule names are unique per tenant. The key of a schedule becomes its tenant
-- ('' for none) and its name, so two tenants can each have a schedule of the same name.
--
-- NOTE: processes of the previous release get, fire, pause and delete a schedule by name alone
-- (where name = $1). Once two tenants have schedules of the same name, those processes act on
-- all of them, and an old scheduler advances every tenant's copy but creates the run of one. Stop every
-- process of an older release that fires or manages schedules before the first process of
-- this release migrates. An older process does not reject a migrated schema when it starts.

alter table {{schema}}.schedules drop constraint schedules_pkey;
create unique index schedules_key on {{schema}}.schedules ((coalesce(tenant_id, '')), name);

-- Creates or updates the schedule of key (p_tenant_id, p_name) and returns it. An existing
-- schedule keeps its paused flag and, unless p_reset is true, its stored next_fire_at; a new one
-- starts with p_paused (default false) and p_next_fire_at.
create or replace function {{schema}}.upsert_schedule(p_name text, p_job text, p_input text,
  p_cron text, p_interval_ms bigint, p_timezone text, p_options text, p_tenant_id text,
  p_next_fire_at bigint, p_reset boolean, p_paused boolean)
  returns setof {{schema}}.schedules
  language sql volatile
  as $$
    insert into {{schema}}.schedules as s (name, job, input, cron, interval_ms, timezone,
      paused, next_fire_at, options, tenant_id, created_at, updated_at)
    select p_name, p_job, p_input, p_cron, p_interval_ms, p_timezone,
      coalesce(p_paused, false), p_next_fire_at, p_options, p_tenant_id, t.now, t.now
    from (select {{schema}}.now_ms() as now) as t
    on conflict ((coalesce(tenant_id, '')), name) do update
    set job = excluded.job, input = excluded.input, cron = excluded.cron,
      interval_ms = excluded.interval_ms, timezone = excluded.timezone,
      options = excluded.options, updated_at = excluded.updated_at,
      next_fire_at = case when p_reset then excluded.next_fire_at else s.next_fire_at end
    returning s.*
  $$;
