-- Migration 4: claiming runs.
--
-- Placeholders: {{schema}} is the quoted schema name, {{lock_prefix}} a string literal unique
-- to the schema, hashed into advisory lock keys.
--
-- A run is claimable when it is available, scheduled, or suspended with a wake-up time, and its
-- run_at has been reached. The predicate below is spelled exactly as in the runs_claim index.

-- Starts the runs picked by pick_limited for a worker: state running, attempt + 1, a fresh lease
-- token (a random prefix for the call plus the run's position) and a lease that expires
-- p_lease_ms after p_now. Appends 'resumed' for runs that were suspended and 'started' for all,
-- and releases unique keys held until start. A run that stopped being claimable since it was
-- picked is skipped. Returns the started runs in p_ids order.
create function {{schema}}.start_runs(p_ids text[], p_worker text, p_lease_ms bigint,
  p_now bigint)
  returns setof {{schema}}.runs
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_token_prefix text := gen_random_uuid()::text || '.';
  v_started_data text := json_build_object('workerId', p_worker)::text;
begin
  return query
  with picked as (
    select r.id, r.state as previous_state, i.ord
    from unnest(p_ids) with ordinality as i(id, ord)
    join {{schema}}.runs as r on r.id = i.id
  ), started as (
    update {{schema}}.runs as r
    set state = 'running', attempt = r.attempt + 1, lease_token = v_token_prefix || p.ord,
      lease_expires_at = p_now + p_lease_ms, worker_id = p_worker, started_at = p_now,
      first_started_at = coalesce(r.first_started_at, p_now), wake_at = null,
      wait_signal = null
    from picked as p
    where r.id = p.id
      and (r.state in ('available', 'scheduled') or (r.state = 'suspended' and r.wake_at is not null))
      and r.run_at <= p_now
    returning r as run, p.ord, p.previous_state
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

-- Picks up to p_limit claimable runs while honoring every limit that applies to the queues.
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
-- Returns the picked ids in claim order (queue order, priority desc, run_at, id).
create function {{schema}}.pick_limited(p_queues text[], p_limit integer, p_now bigint)
  returns text[]
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
  c record;
begin
  select array_agg(l order by l.scope, l.key) into v_limits
  from {{schema}}.limits as l
  where l.scope = 'job' or l.key = any(p_queues);
  -- The limits may have been deleted since claim_runs looked: then nothing limits this claim.
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
          and (r.state in ('available', 'scheduled') or (r.state = 'suspended' and r.wake_at is not null))
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

        -- Count the run against every limit that applies to it.
        foreach v_limit in array v_limits loop
          continue when not (
            (v_limit.scope = 'queue' and v_limit.key = c.queue)
            or (v_limit.scope = 'job' and v_limit.key = c.job)
            or (v_limit.scope = 'partition' and v_limit.key = c.queue
              and c.partition_key is not null));
          v_key := v_limit.scope || ':' || v_limit.key || ':'
            || case when v_limit.scope = 'partition' then c.partition_key else '' end;
          v_counts := v_usage -> v_key;
          v_usage := jsonb_set(v_usage, array[v_key], jsonb_build_array(
            (v_counts ->> 0)::bigint + 1, (v_counts ->> 1)::bigint + 1));
        end loop;
        v_ids := v_ids || c.id;
      end loop;
    end loop;
    exit when cardinality(v_ids) >= p_limit;
  end loop;

  return (
    select array_agg(r.id order by array_position(p_queues, r.queue), r.priority desc,
      r.run_at, r.id)
    from {{schema}}.runs as r
    where r.id = any(v_ids)
  );
end
$fn$;

-- Claims up to p_limit due runs of the queues p_queues (distinct, in priority order) for worker
-- p_worker, with leases of p_lease_ms. Without a limit that applies, one statement locks the
-- runs with FOR UPDATE SKIP LOCKED, walking the runs_claim index of each queue in claim order,
-- and starts them as start_runs does. With limits, pick_limited chooses the runs, start_runs
-- starts them and the rate-limited claims are logged.
-- Returns the claimed runs in claim order.
create function {{schema}}.claim_runs(p_worker text, p_queues text[], p_limit integer,
  p_lease_ms bigint)
  returns setof {{schema}}.runs
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
          and (r.state in ('available', 'scheduled') or (r.state = 'suspended' and r.wake_at is not null))
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
      cross join lateral (values ('resumed', null, 1), ('started', v_started_data, 2)) as e(type, data, n)
      where (s.run).history_level <> 'off' and (e.n = 2 or s.previous_state = 'suspended')
      order by s.position, e.n
    ), released_keys as (
      delete from {{schema}}.unique_keys as u
      using started as s
      where (s.run).unique_release_on = 'start'
        and u.key = (s.run).unique_key
        and u.run_id = (s.run).id
    )
    select (s.run).* from started as s order by s.position;
    return;
  end if;

  v_ids := {{schema}}.pick_limited(p_queues, p_limit, v_now);
  if v_ids is null then
    return;
  end if;

  for v_run in select * from {{schema}}.start_runs(v_ids, p_worker, p_lease_ms, v_now) loop
    v_started := v_started || v_run.id;
    return next v_run;
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
