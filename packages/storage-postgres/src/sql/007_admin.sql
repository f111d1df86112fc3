-- Migration 7: progress, retention, dead-letter retry and schedule upserts.
--
-- Placeholders: {{schema}} is the quoted schema name.

-- Stores progress on a running run whose lease p_token holds, appending a 'progress' event with
-- the progress as data when the run records full history. Returns whether the lease held.
create function {{schema}}.set_progress(p_id text, p_token text, p_progress text)
  returns boolean
  language sql volatile
  as $$
    with updated as (
      update {{schema}}.runs as r
      set progress = p_progress
      where r.id = p_id and r.lease_token = p_token and r.state = 'running'
      returning r.id, r.group_id, r.tenant_id, r.history_level, r.attempt
    ), logged as (
      insert into {{schema}}.events (run_id, group_id, tenant_id, type, at, attempt, data)
      select u.id, u.group_id, u.tenant_id, 'progress', {{schema}}.now_ms(), u.attempt,
        p_progress
      from updated as u
      where u.history_level = 'full'
    )
    select count(*) > 0 from updated
  $$;

-- Deletes up to p_limit runs in the terminal states p_states that finished before p_before,
-- oldest first, with their events, state, dependency edges and unique keys. Runs locked by
-- another transaction are left for a later call. Returns how many runs were deleted.
create function {{schema}}.purge_runs(p_states text[], p_before bigint, p_limit integer)
  returns integer
  language sql volatile
  as $$
    with doomed as (
      select r.id
      from {{schema}}.runs as r
      where r.finished_at < p_before
        and r.state = any(p_states)
        and r.state in ('completed', 'failed', 'cancelled')
      order by r.finished_at
      limit p_limit
      for update skip locked
    ), deleted as (
      delete from {{schema}}.runs as r using doomed as d where r.id = d.id returning r.id
    ), events as (
      delete from {{schema}}.events as e using deleted as d where e.run_id = d.id
    ), state as (
      delete from {{schema}}.state as s using deleted as d where s.run_id = d.id
    ), child_edges as (
      delete from {{schema}}.dependencies as e using deleted as d where e.child_id = d.id
    ), parent_edges as (
      delete from {{schema}}.dependencies as e using deleted as d where e.parent_id = d.id
    ), keys as (
      delete from {{schema}}.unique_keys as k using deleted as d where k.run_id = d.id
    )
    select count(*)::integer from deleted
  $$;

-- Moves failed or cancelled runs among p_ids back to available with attempt 0, clearing their
-- finish time, and wakes workers of their queues. Returns how many runs moved.
create function {{schema}}.retry_runs(p_ids text[])
  returns integer
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_now bigint := {{schema}}.now_ms();
  v_queues text[];
begin
  with moved as (
    update {{schema}}.runs as r
    set state = 'available', attempt = 0, run_at = v_now, finished_at = null,
      lease_token = null, lease_expires_at = null, wake_at = null, wait_signal = null
    where r.id = any(p_ids) and r.state in ('failed', 'cancelled')
    returning r.queue
  )
  select array_agg(m.queue) into v_queues from moved as m;

  if v_queues is null then
    return 0;
  end if;
  perform {{schema}}.notify_work(v_queues);
  return cardinality(v_queues);
end
$fn$;

-- Creates or updates a schedule and returns it. An existing schedule keeps its paused flag and,
-- unless p_reset is true, its stored next_fire_at; a new one starts with p_paused (default
-- false) and p_next_fire_at.
create function {{schema}}.upsert_schedule(p_name text, p_job text, p_input text, p_cron text,
  p_interval_ms bigint, p_timezone text, p_options text, p_tenant_id text,
  p_next_fire_at bigint, p_reset boolean, p_paused boolean)
  returns setof {{schema}}.schedules
  language sql volatile
  as $$
    insert into {{schema}}.schedules as s (name, job, input, cron, interval_ms, timezone,
      paused, next_fire_at, options, tenant_id, created_at, updated_at)
    select p_name, p_job, p_input, p_cron, p_interval_ms, p_timezone,
      coalesce(p_paused, false), p_next_fire_at, p_options, p_tenant_id, t.now, t.now
    from (select {{schema}}.now_ms() as now) as t
    on conflict (name) do update
    set job = excluded.job, input = excluded.input, cron = excluded.cron,
      interval_ms = excluded.interval_ms, timezone = excluded.timezone,
      options = excluded.options, tenant_id = excluded.tenant_id,
      updated_at = excluded.updated_at,
      next_fire_at = case when p_reset then excluded.next_fire_at else s.next_fire_at end
    returning s.*
  $$;
