-- Migration 10: claiming runs with tenancy rules and fair queues.
--
-- Placeholders: {{schema}} is the quoted schema name, {{lock_prefix}} a string literal unique
-- to the schema, hashed into advisory lock keys. The '#tenant:' and '#fair:' lock strings
-- differ from those of limits, whose scopes are words.
--
-- claim_runs_tenancy is the claim the storage calls. Without a fair queue among the requested
-- ones and without a tenant that is suspended, deleted or has a concurrency quota, it is
-- claim_runs of migration 4 unchanged. Otherwise pick_tenancy picks the runs:
--
-- - runs of tenants that are not active are never picked;
-- - a tenant's maxConcurrentRuns is enforced across claimers. The claim counts the tenant's
--   running runs under a transaction-scoped advisory lock taken with try-lock, so two claims
--   never count at once. A claim that finds the lock taken leaves the tenant to the other;
-- - a fair queue is served by start-time fair queuing: the key with the earliest virtual start
--   time gets the next run and its start moves on by 1 / weight. Claims of one fair queue take
--   its advisory lock, so they read and move the virtual times one at a time;
-- - every limit of the limits table applies as in pick_limited, including the burst pass.

-- Checks whether a run may be claimed under its tenant's concurrency quota and every limit of
-- p_limits, and counts it in p_usage and p_tenants when it may. p_usage contains the running count
-- and rate-window count per limit key, as in pick_limited. p_tenants maps each tenant to JSON
-- null (no quota) or [maxConcurrentRuns, running]. A tenant found at its quota, or locked by another
-- claim, is appended to p_excluded. p_burst applies the limits' burst multipliers.
create function {{schema}}.tenancy_fits(p_limits {{schema}}.limits[], p_burst boolean,
  p_job text, p_queue text, p_partition text, p_tenant text, p_now bigint,
  inout p_usage jsonb, inout p_tenants jsonb, inout p_excluded text[], out p_fits boolean)
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_limit {{schema}}.limits;
  v_key text;
  v_counts jsonb;
  v_multiplier double precision;
  v_entry jsonb;
  v_max integer;
  v_running bigint;
begin
  p_fits := false;

  if p_tenant is not null then
    if p_tenant = any(p_excluded) then
      return;
    end if;
    v_entry := p_tenants -> p_tenant;
    if v_entry is null then
      select t.max_concurrent_runs into v_max from {{schema}}.tenants as t where t.id = p_tenant;
      if v_max is null then
        v_entry := 'null'::jsonb;
      elsif not pg_try_advisory_xact_lock(
          hashtextextended({{lock_prefix}} || '#tenant:' || p_tenant, 0)) then
        p_excluded := p_excluded || p_tenant;
        return;
      else
        select count(*) into v_running from {{schema}}.runs as r
        where r.tenant_id = p_tenant and r.state = 'running';
        v_entry := jsonb_build_array(v_max, v_running);
      end if;
      p_tenants := jsonb_set(p_tenants, array[p_tenant], v_entry);
    end if;
    if jsonb_typeof(v_entry) = 'array'
      and (v_entry ->> 1)::bigint >= (v_entry ->> 0)::bigint then
      p_excluded := p_excluded || p_tenant;
      return;
    end if;
  end if;

  foreach v_limit in array p_limits loop
    continue when not (
      (v_limit.scope = 'queue' and v_limit.key = p_queue)
      or (v_limit.scope = 'job' and v_limit.key = p_job)
      or (v_limit.scope = 'partition' and v_limit.key = p_queue and p_partition is not null));
    v_key := v_limit.scope || ':' || v_limit.key || ':'
      || case when v_limit.scope = 'partition' then p_partition else '' end;
    v_counts := p_usage -> v_key;
    if v_counts is null then
      v_counts := jsonb_build_array(
        (select count(*) from {{schema}}.runs as r
          where r.state = 'running'
            and case v_limit.scope
              when 'queue' then r.queue = v_limit.key
              when 'job' then r.job = v_limit.key
              else r.queue = v_limit.key and r.partition_key = p_partition
            end),
        case when v_limit.rate_limit is null then 0 else (
          select count(*) from {{schema}}.rate_claims as w
          where w.scope = v_limit.scope and w.key = v_limit.key
            and w.partition_key = case when v_limit.scope = 'partition'
              then p_partition else '' end
            and w.at > p_now - v_limit.rate_period_ms) end);
      p_usage := jsonb_set(p_usage, array[v_key], v_counts);
    end if;
    v_multiplier := case
      when p_burst then greatest(coalesce(v_limit.burst_multiplier, 1), 1) else 1 end;
    if (v_limit.concurrency is not null
        and (v_counts ->> 0)::bigint >= floor(v_limit.concurrency * v_multiplier))
      or (v_limit.rate_limit is not null
        and (v_counts ->> 1)::bigint >= floor(v_limit.rate_limit * v_multiplier)) then
      return;
    end if;
  end loop;

  foreach v_limit in array p_limits loop
    continue when not (
      (v_limit.scope = 'queue' and v_limit.key = p_queue)
      or (v_limit.scope = 'job' and v_limit.key = p_job)
      or (v_limit.scope = 'partition' and v_limit.key = p_queue and p_partition is not null));
    v_key := v_limit.scope || ':' || v_limit.key || ':'
      || case when v_limit.scope = 'partition' then p_partition else '' end;
    v_counts := p_usage -> v_key;
    p_usage := jsonb_set(p_usage, array[v_key], jsonb_build_array(
      (v_counts ->> 0)::bigint + 1, (v_counts ->> 1)::bigint + 1));
  end loop;

  if jsonb_typeof(v_entry) = 'array' then
    v_entry := jsonb_build_array((v_entry ->> 0)::bigint, (v_entry ->> 1)::bigint + 1);
    p_tenants := jsonb_set(p_tenants, array[p_tenant], v_entry);
    if (v_entry ->> 1)::bigint >= (v_entry ->> 0)::bigint then
      p_excluded := p_excluded || p_tenant;
    end if;
  end if;
  p_fits := true;
end
$fn$;

-- Picks runs of a plain queue in claim order (priority desc, run_at, id), leaving out runs of
-- excluded tenants and runs already picked, until p_ids has p_limit runs. Reads the candidates
-- in pages as large as the free slots, so a claim that nothing holds back reads one page. Looks
-- at 2000 candidates at most; a tenant excluded on the way is left out of the next page.
create function {{schema}}.pick_in_order(p_queue text, p_limit integer, p_now bigint,
  p_limits {{schema}}.limits[], p_burst boolean, inout p_ids text[], inout p_usage jsonb,
  inout p_tenants jsonb, inout p_excluded text[])
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_ids text[];
  v_jobs text[];
  v_partitions text[];
  v_tenants text[];
  v_fits boolean;
  v_scanned integer := 0;
  v_skipped text[] := '{}';
begin
  while v_scanned < 2000 and cardinality(p_ids) < p_limit loop
    select array_agg(x.id order by x.priority desc, x.run_at, x.id),
      array_agg(x.job order by x.priority desc, x.run_at, x.id),
      array_agg(x.partition_key order by x.priority desc, x.run_at, x.id),
      array_agg(x.tenant_id order by x.priority desc, x.run_at, x.id)
    into v_ids, v_jobs, v_partitions, v_tenants
    from (
      select r.id, r.job, r.partition_key, r.tenant_id, r.priority, r.run_at
      from {{schema}}.runs as r
      where r.queue = p_queue
        and (r.state in ('available', 'scheduled') or (r.state = 'suspended' and r.wake_at is not null))
        and r.run_at <= p_now
        and (r.tenant_id is null or r.tenant_id <> all(p_excluded))
        and r.id <> all(p_ids)
        and r.id <> all(v_skipped)
      order by r.priority desc, r.run_at, r.id
      limit least(p_limit - cardinality(p_ids), 2000 - v_scanned)
      for update skip locked
    ) as x;
    exit when v_ids is null;

    for i in 1..cardinality(v_ids) loop
      v_scanned := v_scanned + 1;
      if cardinality(p_limits) = 0
        and (v_tenants[i] is null or p_tenants -> v_tenants[i] = 'null'::jsonb) then
        -- Nothing can hold this run back: skip the call.
        v_fits := true;
      else
        select f.p_usage, f.p_tenants, f.p_excluded, f.p_fits
        into p_usage, p_tenants, p_excluded, v_fits
        from {{schema}}.tenancy_fits(p_limits, p_burst, v_jobs[i], p_queue, v_partitions[i],
          v_tenants[i], p_now, p_usage, p_tenants, p_excluded) as f;
      end if;
      if v_fits then
        p_ids := p_ids || v_ids[i];
      else
        v_skipped := v_skipped || v_ids[i];
      end if;
    end loop;
  end loop;
end
$fn$;

-- Picks runs of a fair queue by start-time fair queuing. The keys are the distinct fair keys
-- with a claimable run, found by a loose scan of runs_fair. Each key starts at its stored pass,
-- or at the queue's virtual time when that is later (a key that had no due runs earns no
-- credit). The key with the earliest start (ties to the smaller key) gives its next run in
-- claim order, read from a cursor per key, so each key's index range is walked once. A taken
-- run moves the key's start on by 1 / weight, and the queue's virtual time up to the start it
-- was taken at. A key is dropped for this claim when it has no further run
-- or 200 of its runs did not fit. Weights: the queue's settings, else the tenant's weight when
-- the queue is fair by tenant, else 1. The caller holds the queue's advisory lock.
create function {{schema}}.pick_fairly(p_queue text, p_by text, p_limit integer, p_now bigint,
  p_limits {{schema}}.limits[], p_burst boolean, inout p_ids text[], inout p_usage jsonb,
  inout p_tenants jsonb, inout p_excluded text[])
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_vtime double precision;
  v_keys text[];
  v_weights double precision[];
  v_starts double precision[];
  v_served boolean[];
  v_alive boolean[];
  v_scanned integer[];
  v_opened boolean[];
  v_cursor refcursor;
  v_count integer;
  v_best integer;
  v_fits boolean;
  c record;
begin
  select f.vtime into v_vtime from {{schema}}.fair_queues as f where f.queue = p_queue;
  if v_vtime is null then
    return;
  end if;

  with recursive keys (key) as (
    (select r.fair_key from {{schema}}.runs as r
      where r.queue = p_queue and r.fair_key is not null
        and (r.state in ('available', 'scheduled') or (r.state = 'suspended' and r.wake_at is not null))
      order by r.fair_key limit 1)
    union all
    select (select r.fair_key from {{schema}}.runs as r
        where r.queue = p_queue and r.fair_key > k.key
          and (r.state in ('available', 'scheduled') or (r.state = 'suspended' and r.wake_at is not null))
        order by r.fair_key limit 1)
    from keys as k
    where k.key is not null
  )
  select coalesce(array_agg(k.key order by k.key), '{}'),
    array_agg(coalesce(w.weight, t.weight, 1) order by k.key),
    array_agg(greatest(coalesce(s.pass, v_vtime), v_vtime) order by k.key)
  into v_keys, v_weights, v_starts
  from keys as k
  left join {{schema}}.fair_state as s on s.queue = p_queue and s.key = k.key
  left join {{schema}}.fair_weights as w on w.queue = p_queue and w.key = k.key
  left join {{schema}}.tenants as t on p_by = 'tenant' and t.id = k.key
  where k.key is not null and not (p_by = 'tenant' and k.key = any(p_excluded));

  v_count := cardinality(v_keys);
  if v_count = 0 then
    return;
  end if;
  v_served := array_fill(false, array[v_count]);
  v_alive := array_fill(true, array[v_count]);
  v_scanned := array_fill(0, array[v_count]);
  v_opened := array_fill(false, array[v_count]);

  while cardinality(p_ids) < p_limit loop
    v_best := null;
    for i in 1..v_count loop
      if v_alive[i] and (v_best is null or v_starts[i] < v_starts[v_best]
          or (v_starts[i] = v_starts[v_best] and v_keys[i] < v_keys[v_best])) then
        v_best := i;
      end if;
    end loop;
    exit when v_best is null;

    -- Cursors are portals named per key; they close at the end of this function.
    v_cursor := 'zapjobs_fair_' || v_best;
    if not v_opened[v_best] then
      open v_cursor for
        select r.id, r.job, r.queue, r.partition_key, r.tenant_id
        from {{schema}}.runs as r
        where r.queue = p_queue and r.fair_key = v_keys[v_best]
          and (r.state in ('available', 'scheduled') or (r.state = 'suspended' and r.wake_at is not null))
          and r.run_at <= p_now
          and (r.tenant_id is null or r.tenant_id <> all(p_excluded))
          and r.id <> all(p_ids)
        order by r.priority desc, r.run_at, r.id
        for update skip locked;
      v_opened[v_best] := true;
    end if;
    fetch v_cursor into c;
    if not found or v_scanned[v_best] >= 200 then
      v_alive[v_best] := false;
      continue;
    end if;
    v_scanned[v_best] := v_scanned[v_best] + 1;

    if cardinality(p_limits) = 0
      and (c.tenant_id is null or p_tenants -> c.tenant_id = 'null'::jsonb) then
      v_fits := true;
    else
      select f.p_usage, f.p_tenants, f.p_excluded, f.p_fits
      into p_usage, p_tenants, p_excluded, v_fits
      from {{schema}}.tenancy_fits(p_limits, p_burst, c.job, c.queue, c.partition_key,
        c.tenant_id, p_now, p_usage, p_tenants, p_excluded) as f;
    end if;
    if v_fits then
      p_ids := p_ids || c.id;
      v_vtime := greatest(v_vtime, v_starts[v_best]);
      v_starts[v_best] := v_starts[v_best] + 1.0 / v_weights[v_best];
      v_served[v_best] := true;
    end if;
    if p_by = 'tenant' and v_keys[v_best] <> '' and v_keys[v_best] = any(p_excluded) then
      v_alive[v_best] := false;
    end if;
  end loop;

  for i in 1..v_count loop
    if v_opened[i] then
      v_cursor := 'zapjobs_fair_' || i;
      close v_cursor;
    end if;
  end loop;

  update {{schema}}.fair_queues as f set vtime = v_vtime where f.queue = p_queue;
  insert into {{schema}}.fair_state as s (queue, key, pass)
  select p_queue, u.key, u.start
  from unnest(v_keys, v_starts, v_served) as u(key, start, served)
  where u.served
  on conflict (queue, key) do update set pass = excluded.pass;
  -- A row at or behind the virtual time means the same as no row.
  delete from {{schema}}.fair_state as s where s.queue = p_queue and s.pass <= v_vtime;
end
$fn$;

-- Picks up to p_limit runs of the queues p_queues (in priority order) with the tenancy rules
-- and every limit. Takes the advisory locks of the limits that may apply and of the fair queues
-- among p_queues, all in one sorted order so that claims cannot deadlock on them. The first
-- pass honors the limits as they are; when it leaves slots free and a limit has a burst
-- multiplier, a second pass lets burst capacity be used. Returns the ids in pick order.
create function {{schema}}.pick_tenancy(p_queues text[], p_limit integer, p_now bigint)
  returns text[]
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_limits {{schema}}.limits[];
  v_burst boolean;
  v_usage jsonb := '{}';
  v_tenants jsonb := '{}';
  v_excluded text[];
  v_ids text[] := '{}';
  v_pass integer;
  v_queue text;
  v_by text;
begin
  select array_agg(l order by l.scope, l.key) into v_limits
  from {{schema}}.limits as l
  where l.scope = 'job' or l.key = any(p_queues);
  v_limits := coalesce(v_limits, '{}');

  perform pg_advisory_xact_lock(k.key)
  from (
    select distinct hashtextextended({{lock_prefix}} || l.scope || ':' || l.key, 0) as key
    from unnest(v_limits) as l
    union
    select hashtextextended({{lock_prefix}} || '#fair:' || f.queue, 0)
    from {{schema}}.fair_queues as f
    where f.queue = any(p_queues)
    order by 1
  ) as k;

  select coalesce(bool_or(coalesce(l.burst_multiplier, 1) > 1), false) into v_burst
  from unnest(v_limits) as l;
  select coalesce(array_agg(t.id), '{}') into v_excluded
  from {{schema}}.tenants as t
  where t.status <> 'active';

  for v_pass in 1..2 loop
    exit when v_pass = 2 and not v_burst;
    foreach v_queue in array p_queues loop
      exit when cardinality(v_ids) >= p_limit;
      v_by := null;
      select f.by into v_by from {{schema}}.fair_queues as f where f.queue = v_queue;
      if v_by is null then
        select p.p_ids, p.p_usage, p.p_tenants, p.p_excluded
        into v_ids, v_usage, v_tenants, v_excluded
        from {{schema}}.pick_in_order(v_queue, p_limit, p_now, v_limits, v_pass = 2, v_ids,
          v_usage, v_tenants, v_excluded) as p;
      else
        select p.p_ids, p.p_usage, p.p_tenants, p.p_excluded
        into v_ids, v_usage, v_tenants, v_excluded
        from {{schema}}.pick_fairly(v_queue, v_by, p_limit, p_now, v_limits, v_pass = 2, v_ids,
          v_usage, v_tenants, v_excluded) as p;
      end if;
    end loop;
  end loop;
  return v_ids;
end
$fn$;

-- Starts the runs pick_tenancy picked, as start_runs of migration 4 does. Each becomes running
-- with attempt + 1 and a fresh lease token (a random prefix for the call plus the run's
-- position in p_ids). It appends 'resumed' for runs that were suspended and 'started' for all,
-- and releases unique keys held until start. A run that stopped being claimable since it was picked is
-- skipped. Returns the started runs in p_ids order.
create function {{schema}}.start_picked(p_ids text[], p_worker text, p_lease_ms bigint,
  p_now bigint)
  returns setof {{schema}}.runs
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_token_prefix text := gen_random_uuid()::text || '.';
  v_started_data text := json_build_object('workerId', p_worker)::text;
  v_suspended text[];
  v_ctids tid[];
begin
  -- The update finds the rows by ctid, and checks the claim predicate inside a CASE, which the
  -- planner cannot match to runs_claim: with the plain predicate, stale statistics led it to
  -- walk that whole index instead. The rows are locked since they were picked, so their ctids
  -- cannot change.
  select coalesce(array_agg(r.ctid), '{}'),
    coalesce(array_agg(r.id) filter (where r.state = 'suspended'), '{}')
  into v_ctids, v_suspended
  from {{schema}}.runs as r
  where r.id = any(p_ids);

  return query
  with started as (
    update {{schema}}.runs as r
    set state = 'running', attempt = r.attempt + 1,
      lease_token = v_token_prefix || array_position(p_ids, r.id),
      lease_expires_at = p_now + p_lease_ms, worker_id = p_worker, started_at = p_now,
      first_started_at = coalesce(r.first_started_at, p_now), wake_at = null,
      wait_signal = null
    where r.ctid = any(v_ctids)
      and case
        when r.state in ('available', 'scheduled') then r.run_at <= p_now
        when r.state = 'suspended' then r.wake_at is not null and r.run_at <= p_now
        else false
      end
    returning r as run, array_position(p_ids, r.id) as ord,
      case when r.id = any(v_suspended) then 'suspended' else 'available' end as previous_state
  ), logged as (
    insert into {{schema}}.events (run_id, group_id, tenant_id, type, at, attempt, data)
    select (s.run).id, (s.run).group_id, (s.run).tenant_id, e.type, p_now, (s.run).attempt,
      e.data
    from started as s
    cross join lateral (
      values ('resumed', null, 1), ('started', v_started_data, 2)
    ) as e(type, data, n)
    where (s.run).history_level <> 'off' and (e.n = 2 or s.previous_state = 'suspended')
    order by s.ord, e.n
  ), released_keys as (
    delete from {{schema}}.unique_keys as u
    using started as s
    where (s.run).unique_release_on = 'start'
      and u.key = (s.run).unique_key
      and u.run_id = (s.run).id
  )
  select (s.run).* from started as s order by s.ord;
end
$fn$;

-- The claim the storage calls: claim_runs of migration 4 when no tenancy rule can apply to
-- these queues, else pick_tenancy, then start_picked and the rate-limit log as claim_runs does.
-- Returns the claimed runs in pick order.
create function {{schema}}.claim_runs_tenancy(p_worker text, p_queues text[],
  p_limit integer, p_lease_ms bigint)
  returns setof {{schema}}.runs
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_now bigint;
  v_ids text[];
  v_run {{schema}}.runs;
  v_started text[] := '{}';
begin
  if not exists (select 1 from {{schema}}.fair_queues as f where f.queue = any(p_queues))
    and not exists (
      select 1 from {{schema}}.tenants as t
      where t.status <> 'active' or t.max_concurrent_runs is not null) then
    return query select * from {{schema}}.claim_runs(p_worker, p_queues, p_limit, p_lease_ms);
    return;
  end if;

  v_now := {{schema}}.now_ms();
  v_ids := {{schema}}.pick_tenancy(p_queues, p_limit, v_now);
  if cardinality(v_ids) = 0 then
    return;
  end if;

  for v_run in select * from {{schema}}.start_picked(v_ids, p_worker, p_lease_ms, v_now) loop
    v_started := v_started || v_run.id;
    return next v_run;
  end loop;

  if not exists (
    select 1 from {{schema}}.limits as l
    where l.rate_limit is not null and (l.scope = 'job' or l.key = any(p_queues))) then
    return;
  end if;

  insert into {{schema}}.rate_claims (scope, key, partition_key, at)
  select l.scope, l.key, case when l.scope = 'partition' then r.partition_key else '' end, v_now
  from {{schema}}.runs as r
  join {{schema}}.limits as l on l.rate_limit is not null and (
    (l.scope = 'queue' and l.key = r.queue)
    or (l.scope = 'job' and l.key = r.job)
    or (l.scope = 'partition' and l.key = r.queue and r.partition_key is not null))
  where r.id = any(v_started);

  delete from {{schema}}.rate_claims as w
  using {{schema}}.limits as l
  where w.scope = l.scope and w.key = l.key and l.rate_limit is not null
    and (l.scope = 'job' or l.key = any(p_queues))
    and w.at <= v_now - l.rate_period_ms;
end
$fn$;
