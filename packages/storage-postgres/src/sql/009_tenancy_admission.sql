-- Migration 9: inserting runs with tenancy rules, fair-queue settings and purging tenants.
--
-- Placeholders: {{schema}} is the quoted schema name.
--
-- Rejections are raised with SQLSTATEs of the class ZJ, which the storage maps to the errors of
-- @zapjobs/core: ZJT01 tenant suspended, ZJT02 tenant deleted, ZJQ01 quota exceeded. The detail
-- of ZJQ01 is a JSON object {tenantId, quota, limit, resetAt}. Raising rolls back everything
-- the statement did, so a rejected insert stores nothing.

-- Inserts runs through insert_plain_runs (p_plain) or insert_runs, with the tenancy rules.
-- Runs of suspended or deleted tenants are rejected before anything is written. Tenants with
-- quotas are locked in id order, so concurrent inserts of one tenant queue up instead of racing
-- past a quota. After the insert, the created runs get their fair key and count toward quotas.
--
-- The fair-queue settings are read after the insert holds its lock on runs. set_fairness takes
-- a share lock on runs, so either it committed before that read, or it waits for this
-- transaction and then assigns fair keys to these runs itself.
--
-- p_tenants and p_queues are the distinct tenant ids and queues of p_runs, p_ids their run ids.
-- Returns one row per input run, in input order, as insert_runs does.
create function {{schema}}.insert_runs_tenancy(p_runs json, p_plain boolean,
  p_tenants text[], p_queues text[], p_ids text[])
  returns table (run_id text, created boolean, replaced boolean, state text)
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_tenant {{schema}}.tenants;
  v_created text[];
  v_ids text[];
  v_flags boolean[];
  v_replaced boolean[];
  v_states text[];
begin
  if cardinality(p_tenants) > 0 then
    for v_tenant in
      select t.* from {{schema}}.tenants as t
      where t.id = any(p_tenants) and t.status <> 'active'
      order by t.id
      limit 1
    loop
      if v_tenant.status = 'suspended' then
        raise exception 'tenant % is suspended', v_tenant.id
          using errcode = 'ZJT01', detail = v_tenant.id;
      end if;
      raise exception 'tenant % is deleted', v_tenant.id
        using errcode = 'ZJT02', detail = v_tenant.id;
    end loop;

    perform 1 from {{schema}}.tenants as t
    where t.id = any(p_tenants)
      and (t.runs_per_hour is not null or t.runs_per_day is not null
        or t.max_queued_runs is not null)
    order by t.id
    for update;
  end if;

  if p_plain then
    return query
    select r.run_id, true, false, r.state from {{schema}}.insert_plain_runs(p_runs) as r;
    v_created := p_ids;
  else
    select array_agg(r.run_id order by r.ord), array_agg(r.created order by r.ord),
      array_agg(r.replaced order by r.ord), array_agg(r.state order by r.ord)
    into v_ids, v_flags, v_replaced, v_states
    from {{schema}}.insert_runs(p_runs) with ordinality
      as r(run_id, created, replaced, state, ord);
    return query select * from unnest(v_ids, v_flags, v_replaced, v_states);
    select coalesce(array_agg(i.id), '{}') into v_created
    from unnest(v_ids, v_flags) as i(id, created) where i.created;
  end if;

  if exists (select 1 from {{schema}}.fair_queues as f where f.queue = any(p_queues)) then
    update {{schema}}.runs as r
    set fair_key = case f.by when 'tenant' then coalesce(r.tenant_id, '')
      else coalesce(r.partition_key, '') end
    from {{schema}}.fair_queues as f
    where f.queue = r.queue and r.id = any(v_created);
  end if;

  if cardinality(p_tenants) > 0 then
    perform {{schema}}.check_tenant_quotas(v_created);
  end if;
end
$fn$;

-- Counts the runs p_created toward their tenants' window quotas and checks every quota,
-- raising ZJQ01 for the first one exceeded. Windows are fixed and aligned to the epoch: hours
-- at multiples of 3,600,000 ms, days at multiples of 86,400,000 ms (UTC midnight).
create function {{schema}}.check_tenant_quotas(p_created text[])
  returns void
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_now bigint := {{schema}}.now_ms();
  c record;
  v_window record;
  v_count bigint;
  v_start bigint;
begin
  for c in
    select t.*, n.created
    from (
      select r.tenant_id, count(*) as created
      from {{schema}}.runs as r
      where r.id = any(p_created) and r.tenant_id is not null
      group by r.tenant_id
    ) as n
    join {{schema}}.tenants as t on t.id = n.tenant_id
    order by t.id
  loop
    for v_window in
      select * from (values
        ('runsPerHour', 3600000::bigint, c.runs_per_hour),
        ('runsPerDay', 86400000::bigint, c.runs_per_day)
      ) as w(quota, window_ms, quota_limit)
      where w.quota_limit is not null
    loop
      v_start := (v_now / v_window.window_ms) * v_window.window_ms;
      insert into {{schema}}.tenant_counters as k (tenant_id, window_ms, window_start, count)
      values (c.id, v_window.window_ms, v_start, c.created)
      on conflict (tenant_id, window_ms) do update
      set count = case when k.window_start = excluded.window_start
          then k.count + excluded.count else excluded.count end,
        window_start = excluded.window_start
      returning k.count into v_count;
      if v_count > v_window.quota_limit then
        raise exception 'tenant % exceeded its quota %', c.id, v_window.quota
          using errcode = 'ZJQ01',
            detail = json_build_object('tenantId', c.id, 'quota', v_window.quota,
              'limit', v_window.quota_limit, 'resetAt', v_start + v_window.window_ms)::text;
      end if;
    end loop;

    if c.max_queued_runs is not null then
      select count(*) into v_count from {{schema}}.runs as r
      where r.tenant_id = c.id and r.state in ('waiting', 'scheduled', 'available');
      if v_count > c.max_queued_runs then
        raise exception 'tenant % exceeded its quota maxQueuedRuns', c.id
          using errcode = 'ZJQ01',
            detail = json_build_object('tenantId', c.id, 'quota', 'maxQueuedRuns',
              'limit', c.max_queued_runs, 'resetAt', null)::text;
      end if;
    end if;
  end loop;
end
$fn$;

-- Makes p_queue fair by p_by ('tenant' or 'partition') with the weights of the JSON object
-- p_weights, or returns it to plain order when p_by is null. A change of p_by recomputes the
-- fair key of the queue's runs (all but completed ones, which can never run again) and starts
-- every key level. The share lock on runs waits for transactions that insert runs and keeps new
-- ones out until this one commits, so no run of the queue misses its fair key.
-- Returns whether the queue was fair before.
create function {{schema}}.set_fairness(p_queue text, p_by text, p_weights json)
  returns boolean
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_current text;
begin
  lock table {{schema}}.runs in share mode;
  select f.by into v_current from {{schema}}.fair_queues as f where f.queue = p_queue;

  delete from {{schema}}.fair_weights as w where w.queue = p_queue;
  if p_by is null then
    delete from {{schema}}.fair_queues as f where f.queue = p_queue;
  else
    insert into {{schema}}.fair_queues as f (queue, by) values (p_queue, p_by)
    on conflict (queue) do update set by = excluded.by;
    insert into {{schema}}.fair_weights (queue, key, weight)
    select p_queue, w.key, w.value::double precision
    from json_each_text(coalesce(p_weights, '{}')) as w;
  end if;

  if v_current is distinct from p_by then
    delete from {{schema}}.fair_state as s where s.queue = p_queue;
    update {{schema}}.runs as r
    set fair_key = case p_by when 'tenant' then coalesce(r.tenant_id, '')
      when 'partition' then coalesce(r.partition_key, '') end
    where r.queue = p_queue and r.state <> 'completed';
  end if;
  perform {{schema}}.notify_work(array[p_queue]);
  return v_current is not null;
end
$fn$;

-- Deletes up to p_limit runs of deleted tenants whose purge_at has passed, oldest purge_at
-- first, with their events, state, dependency edges and unique keys. A tenant left without
-- runs loses its schedules, counters and fair state, and its record. Runs locked by another
-- transaction are left for a later call. Returns the runs deleted and the tenants removed.
create function {{schema}}.purge_tenants(p_limit integer)
  returns table (runs_deleted integer, tenants_deleted text[])
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_now bigint := {{schema}}.now_ms();
  v_tenant text;
  v_seen text[] := '{}';
  v_count integer;
begin
  runs_deleted := 0;
  tenants_deleted := '{}';
  loop
    exit when runs_deleted >= p_limit;
    select t.id into v_tenant from {{schema}}.tenants as t
    where t.status = 'deleted' and t.purge_at <= v_now and t.id <> all(v_seen)
    order by t.purge_at, t.id
    limit 1
    for update skip locked;
    exit when not found;
    v_seen := v_seen || v_tenant;

    with doomed as (
      select r.id from {{schema}}.runs as r
      where r.tenant_id = v_tenant
      order by r.id
      limit p_limit - runs_deleted
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
    select count(*)::integer into v_count from deleted;
    runs_deleted := runs_deleted + v_count;

    if runs_deleted < p_limit
      and not exists (select 1 from {{schema}}.runs as r where r.tenant_id = v_tenant) then
      delete from {{schema}}.schedules as s where s.tenant_id = v_tenant;
      delete from {{schema}}.tenant_counters as k where k.tenant_id = v_tenant;
      delete from {{schema}}.fair_state as s where s.key = v_tenant;
      delete from {{schema}}.tenants as t where t.id = v_tenant;
      tenants_deleted := tenants_deleted || v_tenant;
    end if;
  end loop;
  return next;
end
$fn$;
