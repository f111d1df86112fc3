-- Migration 13: claims report the runs that limits admitted only thanks to bursting.
--
-- Placeholders: {{schema}} is the quoted schema name, {{lock_prefix}} a string literal unique
-- to the schema, hashed into advisory lock keys.
--
-- The storage now calls claim_runs_tenancy_with_bursts. It picks and starts the same runs as
-- claim_runs_tenancy of migration 10. It also returns each run's burst uses: the caps of limits
-- that the run went past in a claim's burst pass (ClaimedRun.bursts in the storage contract).
-- claim_runs and claim_runs_tenancy keep their signatures and results as wrappers that leave
-- the burst uses out, so processes of an older version keep claiming.
-- pick_limited, pick_tenancy and tenancy_fits are replaced by the functions below and dropped.
-- NOTE: a claim of an older version that is inside one of the dropped functions when this
-- migration commits can fail with "function does not exist". Its worker retries the claim.

-- Builds one burst use in the shape of the storage contract's BurstUse. p_kind is the cap the
-- run went past ('concurrency' or 'rate'), p_partition the run's partition key (kept only for a
-- partition limit), and p_count the limit's count once the run was admitted, the run included.
create function {{schema}}.burst_use(p_limit {{schema}}.limits, p_kind text, p_partition text,
  p_count bigint)
  returns jsonb
  language sql immutable
  as $fn$
  select jsonb_build_object(
    'limit', jsonb_strip_nulls(jsonb_build_object(
      'scope', p_limit.scope,
      'key', p_limit.key,
      'concurrency', p_limit.concurrency,
      'rate', case when p_limit.rate_limit is not null and p_limit.rate_period_ms is not null
        then jsonb_build_object('limit', p_limit.rate_limit, 'periodMs', p_limit.rate_period_ms)
        end,
      'burstMultiplier', p_limit.burst_multiplier)),
    'kind', p_kind,
    'partitionKey', case when p_limit.scope = 'partition' then p_partition end,
    'count', p_count)
$fn$;

-- Counts a picked run against every limit of p_limits that applies to it. p_usage contains the
-- running count and rate-window count per limit key, as in pick_limited_with_bursts, and each
-- key the run touches must already be loaded. Returns in p_uses the burst uses of the run (a
-- JSON array, empty for a run within every normal cap): a count above its normal cap, which
-- only a burst pass lets through.
create function {{schema}}.count_run(p_limits {{schema}}.limits[], p_job text, p_queue text,
  p_partition text, inout p_usage jsonb, out p_uses jsonb)
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_limit {{schema}}.limits;
  v_key text;
  v_counts jsonb;
  v_running bigint;
  v_claims bigint;
begin
  p_uses := '[]';
  foreach v_limit in array p_limits loop
    continue when not (
      (v_limit.scope = 'queue' and v_limit.key = p_queue)
      or (v_limit.scope = 'job' and v_limit.key = p_job)
      or (v_limit.scope = 'partition' and v_limit.key = p_queue and p_partition is not null));
    v_key := v_limit.scope || ':' || v_limit.key || ':'
      || case when v_limit.scope = 'partition' then p_partition else '' end;
    v_counts := p_usage -> v_key;
    v_running := (v_counts ->> 0)::bigint + 1;
    v_claims := (v_counts ->> 1)::bigint + 1;
    p_usage := jsonb_set(p_usage, array[v_key], jsonb_build_array(v_running, v_claims));
    if v_limit.concurrency is not null and v_running > v_limit.concurrency then
      p_uses := p_uses || {{schema}}.burst_use(v_limit, 'concurrency', p_partition, v_running);
    end if;
    if v_limit.rate_limit is not null and v_claims > v_limit.rate_limit then
      p_uses := p_uses || {{schema}}.burst_use(v_limit, 'rate', p_partition, v_claims);
    end if;
  end loop;
end
$fn$;

-- Checks whether run p_id may be claimed under its tenant's concurrency quota and every limit
-- of p_limits, and counts it in p_usage and p_tenants when it may, as tenancy_fits of
-- migration 10 did. p_tenants maps each tenant to JSON null (no quota) or
-- [maxConcurrentRuns, running]. A tenant found at its quota, or locked by another claim, is
-- appended to p_excluded. p_burst applies the limits' burst multipliers. The burst uses of a
-- run that fits go to p_usage -> '#bursts' -> p_id; limit keys start with a scope word, never
-- with '#'.
create function {{schema}}.fit_run(p_limits {{schema}}.limits[], p_burst boolean, p_id text,
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
  v_uses jsonb;
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

  if cardinality(p_limits) > 0 then
    select u.p_usage, u.p_uses into p_usage, v_uses
    from {{schema}}.count_run(p_limits, p_job, p_queue, p_partition, p_usage) as u;
    if jsonb_array_length(v_uses) > 0 then
      p_usage := jsonb_set(p_usage, array['#bursts'],
        coalesce(p_usage -> '#bursts', '{}') || jsonb_build_object(p_id, v_uses));
    end if;
  end if;

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

-- As in migration 10, with fit_run in place of tenancy_fits, so the burst uses of the runs it
-- picks collect in p_usage -> '#bursts'.
--
-- Picks runs of a plain queue in claim order (priority desc, run_at, id), leaving out runs of
-- excluded tenants and runs already picked, until p_ids has p_limit runs. Reads the candidates
-- in pages as large as the free slots, so a claim that nothing holds back reads one page. Looks
-- at 2000 candidates at most; a tenant excluded on the way is left out of the next page.
create or replace function {{schema}}.pick_in_order(p_queue text, p_limit integer,
  p_now bigint, p_limits {{schema}}.limits[], p_burst boolean, inout p_ids text[],
  inout p_usage jsonb, inout p_tenants jsonb, inout p_excluded text[])
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
        and (r.state in ('available', 'scheduled')
          or (r.state = 'suspended' and r.wake_at is not null))
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
        from {{schema}}.fit_run(p_limits, p_burst, v_ids[i], v_jobs[i], p_queue,
          v_partitions[i], v_tenants[i], p_now, p_usage, p_tenants, p_excluded) as f;
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

-- As in migration 10, with fit_run in place of tenancy_fits, so the burst uses of the runs it
-- picks collect in p_usage -> '#bursts'.
--
-- Picks runs of a fair queue by start-time fair queuing. The keys are the distinct fair keys
-- with a claimable run, found by a loose scan of runs_fair. Each key starts at its stored pass,
-- or at the queue's virtual time when that is later (a key that had no due runs earns no
-- credit). The key with the earliest start (ties to the smaller key) gives its next run in
-- claim order, read from a cursor per key, so each key's index range is walked once. A taken
-- run moves the key's start on by 1 / weight, and the queue's virtual time up to the start it
-- was taken at. A key is dropped for this claim when it has no further run
-- or 200 of its runs did not fit. Weights: the queue's settings, else the tenant's weight when
-- the queue is fair by tenant, else 1. The caller holds the queue's advisory lock.
create or replace function {{schema}}.pick_fairly(p_queue text, p_by text, p_limit integer,
  p_now bigint, p_limits {{schema}}.limits[], p_burst boolean, inout p_ids text[],
  inout p_usage jsonb, inout p_tenants jsonb, inout p_excluded text[])
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
        and (r.state in ('available', 'scheduled')
          or (r.state = 'suspended' and r.wake_at is not null))
      order by r.fair_key limit 1)
    union all
    select (select r.fair_key from {{schema}}.runs as r
        where r.queue = p_queue and r.fair_key > k.key
          and (r.state in ('available', 'scheduled')
            or (r.state = 'suspended' and r.wake_at is not null))
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
          and (r.state in ('available', 'scheduled')
            or (r.state = 'suspended' and r.wake_at is not null))
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
      from {{schema}}.fit_run(p_limits, p_burst, c.id, c.job, c.queue, c.partition_key,
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

-- Picks up to p_limit claimable runs of the queues p_queues while honoring every limit that
-- applies to them, as pick_limited of migration 4 did, and returns their burst uses.
--
-- Each limit that can apply (queue and partition limits of these queues, and every job limit)
-- is serialized with a transaction-scoped advisory lock. The locks are taken in key order, so
-- two claims cannot deadlock on them. Every other claim under these limits waits for the locks,
-- so the running counts and rate windows read here can only fall while this claim runs, and the
-- caps hold across processes.
--
-- The first pass walks the claimable runs in claim order and takes each one that fits under
-- every limit. When it leaves slots free, no other claimable run is waiting, so a second pass
-- lets limits with a burst multiplier take runs up to their multiplied caps.
-- Returns in p_ids the picked ids in claim order (queue order, priority desc, run_at, id), and
-- in p_bursts a JSON object that maps the id of each picked run with burst uses to their array.
create function {{schema}}.pick_limited_with_bursts(p_queues text[], p_limit integer,
  p_now bigint, out p_ids text[], out p_bursts jsonb)
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_limits {{schema}}.limits[];
  v_limit {{schema}}.limits;
  v_usage jsonb := '{}';
  v_key text;
  v_counts jsonb;
  v_ids text[] := '{}';
  v_queue text;
  v_pass integer;
  v_multiplier double precision;
  v_fits boolean;
  v_burst boolean;
  v_uses jsonb;
  c record;
begin
  p_bursts := '{}';
  select array_agg(l order by l.scope, l.key) into v_limits
  from {{schema}}.limits as l
  where l.scope = 'job' or l.key = any(p_queues);
  -- The limits may have been deleted since the claim looked: then nothing limits this claim.
  v_limits := coalesce(v_limits, '{}');

  perform pg_advisory_xact_lock(k.key)
  from (
    select distinct hashtextextended({{lock_prefix}} || l.scope || ':' || l.key, 0) as key
    from unnest(v_limits) as l
    order by 1
  ) as k;

  select coalesce(bool_or(coalesce(l.burst_multiplier, 1) > 1), false) into v_burst
  from unnest(v_limits) as l;

  for v_pass in 1..2 loop
    exit when v_pass = 2 and not v_burst;
    foreach v_queue in array p_queues loop
      exit when cardinality(v_ids) >= p_limit;
      for c in
        select r.id, r.job, r.queue, r.partition_key
        from {{schema}}.runs as r
        where r.queue = v_queue
          and (r.state in ('available', 'scheduled')
            or (r.state = 'suspended' and r.wake_at is not null))
          and r.run_at <= p_now
        order by r.priority desc, r.run_at, r.id
      loop
        exit when cardinality(v_ids) >= p_limit;
        continue when c.id = any(v_ids);

        -- Check every limit that applies to this run, loading its usage on first sight.
        v_fits := true;
        foreach v_limit in array v_limits loop
          continue when not (
            (v_limit.scope = 'queue' and v_limit.key = c.queue)
            or (v_limit.scope = 'job' and v_limit.key = c.job)
            or (v_limit.scope = 'partition' and v_limit.key = c.queue
              and c.partition_key is not null));
          v_key := v_limit.scope || ':' || v_limit.key || ':'
            || case when v_limit.scope = 'partition' then c.partition_key else '' end;
          v_counts := v_usage -> v_key;
          if v_counts is null then
            v_counts := jsonb_build_array(
              (select count(*) from {{schema}}.runs as r
                where r.state = 'running'
                  and case v_limit.scope
                    when 'queue' then r.queue = v_limit.key
                    when 'job' then r.job = v_limit.key
                    else r.queue = v_limit.key and r.partition_key = c.partition_key
                  end),
              case when v_limit.rate_limit is null then 0 else (
                select count(*) from {{schema}}.rate_claims as w
                where w.scope = v_limit.scope and w.key = v_limit.key
                  and w.partition_key = case when v_limit.scope = 'partition'
                    then c.partition_key else '' end
                  and w.at > p_now - v_limit.rate_period_ms) end);
            v_usage := jsonb_set(v_usage, array[v_key], v_counts);
          end if;
          v_multiplier := case
            when v_pass = 2 then greatest(coalesce(v_limit.burst_multiplier, 1), 1) else 1 end;
          if (v_limit.concurrency is not null
              and (v_counts ->> 0)::bigint >= floor(v_limit.concurrency * v_multiplier))
            or (v_limit.rate_limit is not null
              and (v_counts ->> 1)::bigint >= floor(v_limit.rate_limit * v_multiplier)) then
            v_fits := false;
            exit;
          end if;
        end loop;
        continue when not v_fits;

        -- Count the run against every limit that applies to it, noting its burst uses.
        select u.p_usage, u.p_uses into v_usage, v_uses
        from {{schema}}.count_run(v_limits, c.job, c.queue, c.partition_key, v_usage) as u;
        if jsonb_array_length(v_uses) > 0 then
          p_bursts := p_bursts || jsonb_build_object(c.id, v_uses);
        end if;
        v_ids := v_ids || c.id;
      end loop;
    end loop;
    exit when cardinality(v_ids) >= p_limit;
  end loop;

  p_ids := (
    select array_agg(r.id order by array_position(p_queues, r.queue), r.priority desc,
      r.run_at, r.id)
    from {{schema}}.runs as r
    where r.id = any(v_ids)
  );
end
$fn$;

-- Picks up to p_limit runs of the queues p_queues (in priority order) with the tenancy rules
-- and every limit, as pick_tenancy of migration 10 did. Takes the advisory locks of the limits
-- that may apply and of the fair queues among p_queues, all in one sorted order so that claims
-- cannot deadlock on them. The first pass honors the limits as they are; when it leaves slots
-- free and a limit has a burst multiplier, a second pass lets burst capacity be used.
-- Returns in p_ids the ids in pick order, and in p_bursts a JSON object that maps the id of
-- each picked run with burst uses to their array.
create function {{schema}}.pick_tenancy_with_bursts(p_queues text[], p_limit integer,
  p_now bigint, out p_ids text[], out p_bursts jsonb)
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
  p_ids := v_ids;
  p_bursts := coalesce(v_usage -> '#bursts', '{}');
end
$fn$;

-- Claims up to p_limit due runs of the queues p_queues (distinct, in priority order) for worker
-- p_worker, with leases of p_lease_ms, as claim_runs of migration 4 did. It also returns each
-- claimed run's burst uses (a JSON array, or null for none). Without a limit that applies,
-- one statement locks the runs with FOR UPDATE SKIP LOCKED, walking the runs_claim index of
-- each queue in claim order, and starts them as start_runs does: such a claim has no burst
-- uses. With limits, pick_limited_with_bursts chooses the runs, start_runs starts them and the
-- rate-limited claims are logged.
-- Returns the claimed runs in claim order.
create function {{schema}}.claim_runs_with_bursts(p_worker text, p_queues text[],
  p_limit integer, p_lease_ms bigint)
  returns table (claimed {{schema}}.runs, bursts jsonb)
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_now bigint := {{schema}}.now_ms();
  -- Lease tokens are this call's random prefix plus the run's position in the claim: unique
  -- per claim, and one random draw per call instead of one per run.
  v_token_prefix text := gen_random_uuid()::text || '.';
  v_started_data text := json_build_object('workerId', p_worker)::text;
  v_ids text[];
  v_bursts jsonb;
  v_run {{schema}}.runs;
  v_started text[] := '{}';
begin
  if not exists (
    select 1 from {{schema}}.limits as l where l.scope = 'job' or l.key = any(p_queues)
  ) then
    -- One statement: lock the first due runs of each queue, start them, log and return them.
    return query
    with picked as (
      select c.id, c.state as previous_state, q.ord,
        row_number() over (order by q.ord, c.priority desc, c.run_at, c.id) as position
      from unnest(p_queues) with ordinality as q(name, ord)
      cross join lateral (
        select r.id, r.state, r.priority, r.run_at
        from {{schema}}.runs as r
        where r.queue = q.name
          and (r.state in ('available', 'scheduled')
            or (r.state = 'suspended' and r.wake_at is not null))
          and r.run_at <= v_now
        order by r.priority desc, r.run_at, r.id
        limit p_limit
        for update skip locked
      ) as c
      order by q.ord, c.priority desc, c.run_at, c.id
      limit p_limit
    ), started as (
      update {{schema}}.runs as r
      set state = 'running', attempt = r.attempt + 1,
        lease_token = v_token_prefix || p.position, lease_expires_at = v_now + p_lease_ms,
        worker_id = p_worker, started_at = v_now,
        first_started_at = coalesce(r.first_started_at, v_now), wake_at = null,
        wait_signal = null
      from picked as p
      where r.id = p.id
      returning r as run, p.position, p.previous_state
    ), logged as (
      insert into {{schema}}.events (run_id, group_id, tenant_id, type, at, attempt, data)
      select (s.run).id, (s.run).group_id, (s.run).tenant_id, e.type, v_now, (s.run).attempt,
        e.data
      from started as s
      cross join lateral (
        values ('resumed', null, 1), ('started', v_started_data, 2)
      ) as e(type, data, n)
      where (s.run).history_level <> 'off' and (e.n = 2 or s.previous_state = 'suspended')
      order by s.position, e.n
    ), released_keys as (
      delete from {{schema}}.unique_keys as u
      using started as s
      where (s.run).unique_release_on = 'start'
        and u.key = (s.run).unique_key
        and u.run_id = (s.run).id
    )
    select s.run, null::jsonb from started as s order by s.position;
    return;
  end if;

  select p.p_ids, p.p_bursts into v_ids, v_bursts
  from {{schema}}.pick_limited_with_bursts(p_queues, p_limit, v_now) as p;
  if v_ids is null then
    return;
  end if;

  for v_run in select * from {{schema}}.start_runs(v_ids, p_worker, p_lease_ms, v_now) loop
    v_started := v_started || v_run.id;
    claimed := v_run;
    bursts := v_bursts -> v_run.id;
    return next;
  end loop;

  -- Log the claims that rate limits count, and prune entries that left every window.
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

-- The claim the storage calls: claim_runs_with_bursts when no tenancy rule can apply to these
-- queues, else pick_tenancy_with_bursts, then start_picked and the rate-limit log as
-- claim_runs_with_bursts does. Returns the claimed runs in pick order, each with its burst uses
-- (a JSON array, or null for none).
create function {{schema}}.claim_runs_tenancy_with_bursts(p_worker text, p_queues text[],
  p_limit integer, p_lease_ms bigint)
  returns table (claimed {{schema}}.runs, bursts jsonb)
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_now bigint;
  v_ids text[];
  v_bursts jsonb;
  v_run {{schema}}.runs;
  v_started text[] := '{}';
begin
  if not exists (select 1 from {{schema}}.fair_queues as f where f.queue = any(p_queues))
    and not exists (
      select 1 from {{schema}}.tenants as t
      where t.status <> 'active' or t.max_concurrent_runs is not null) then
    return query
    select c.claimed, c.bursts
    from {{schema}}.claim_runs_with_bursts(p_worker, p_queues, p_limit, p_lease_ms) as c;
    return;
  end if;

  v_now := {{schema}}.now_ms();
  select p.p_ids, p.p_bursts into v_ids, v_bursts
  from {{schema}}.pick_tenancy_with_bursts(p_queues, p_limit, v_now) as p;
  if cardinality(v_ids) = 0 then
    return;
  end if;

  for v_run in select * from {{schema}}.start_picked(v_ids, p_worker, p_lease_ms, v_now) loop
    v_started := v_started || v_run.id;
    claimed := v_run;
    bursts := v_bursts -> v_run.id;
    return next;
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

-- The claims of migrations 4 and 10, for processes of older versions: the same runs in the same
-- order, without the burst uses.
create or replace function {{schema}}.claim_runs(p_worker text, p_queues text[],
  p_limit integer, p_lease_ms bigint)
  returns setof {{schema}}.runs
  language sql volatile
  as $fn$
  select (c.claimed).*
  from {{schema}}.claim_runs_with_bursts(p_worker, p_queues, p_limit, p_lease_ms) as c
$fn$;

create or replace function {{schema}}.claim_runs_tenancy(p_worker text, p_queues text[],
  p_limit integer, p_lease_ms bigint)
  returns setof {{schema}}.runs
  language sql volatile
  as $fn$
  select (c.claimed).*
  from {{schema}}.claim_runs_tenancy_with_bursts(p_worker, p_queues, p_limit, p_lease_ms) as c
$fn$;

drop function {{schema}}.pick_limited(text[], integer, bigint);
drop function {{schema}}.pick_tenancy(text[], integer, bigint);
drop function {{schema}}.tenancy_fits({{schema}}.limits[], boolean, text, text, text, text,
  bigint, jsonb, jsonb, text[]);
