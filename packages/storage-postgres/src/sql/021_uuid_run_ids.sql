-- Migration 21: run ids are stored as uuid instead of text.
--
-- Placeholders: {{schema}} is the quoted schema name, {{channel}} the notification channel.
--
-- Core creates every run id as a lowercase UUIDv7. Stored as text, an id takes 37 bytes in the
-- heap and in each index that contains it. As uuid it takes 16 bytes and compares with one
-- fixed-size memcmp. In bench/profile/statements.mjs the server
-- CPU per run fell by about 0.5 µs for a claim and 0.4 µs for a removing completion (medians of
-- 8 alternating runs, out of 20 and 15 µs).
--
-- The run id columns of runs, unique_keys, dependencies, state and events change type, which
-- rewrites those tables and their indexes while the migration holds them locked. Every function
-- with a run id in its arguments, results or variables is recreated with uuid in its place. The
-- uuid order of two ids is the order of their text, so every function still locks runs in the
-- order it did.
--
-- The dependency edges of a child whose parent ids are not lowercase UUIDs (an enqueue named
-- runs that cannot exist) become one edge against the nil UUID, unmet, so the child stays
-- cancelled as before. Any other run id that is not a lowercase UUID, or is the nil UUID, stops
-- the migration with an error naming it.
--
-- Processes of an older release cannot run against this schema: their calls pass run ids as
-- text. The claim functions they call are dropped and the storage calls claim_next_runs, so such
-- a process fails at its first claim instead of starting runs it could not complete. Stop them
-- before the first process of this release migrates.

do $check$
declare
  v_id text;
begin
  select x.id into v_id
  from (
    select r.id from {{schema}}.runs as r
    union all select u.run_id from {{schema}}.unique_keys as u
    union all select d.child_id from {{schema}}.dependencies as d
    union all select s.run_id from {{schema}}.state as s
    union all select e.run_id from {{schema}}.events as e
  ) as x
  where x.id !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
    or x.id = '00000000-0000-0000-0000-000000000000'
  limit 1;
  if found then
    raise exception 'run id % is not a lowercase UUID other than the nil UUID, so migration 21 '
      'cannot store it', v_id
      using hint = 'Delete that run and its rows in unique_keys, dependencies, state and '
        || 'events, or rename it to a new lowercase UUID in every one of them, then migrate '
        || 'again.';
  end if;
end
$check$;

-- Edges to parents that are not lowercase UUIDs: keep one per child, against the nil UUID.
delete from {{schema}}.dependencies as d
where d.parent_id !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
  and exists (
    select 1 from {{schema}}.dependencies as o
    where o.child_id = d.child_id
      and (o.parent_id = '00000000-0000-0000-0000-000000000000'
        or (o.ctid < d.ctid and o.parent_id
          !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')));
update {{schema}}.dependencies as d
set parent_id = '00000000-0000-0000-0000-000000000000', satisfied = false
where d.parent_id !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

alter table {{schema}}.runs alter column id type uuid using id::uuid;
alter table {{schema}}.unique_keys alter column run_id type uuid using run_id::uuid;
alter table {{schema}}.dependencies
  alter column child_id type uuid using child_id::uuid,
  alter column parent_id type uuid using parent_id::uuid;
alter table {{schema}}.state alter column run_id type uuid using run_id::uuid;
alter table {{schema}}.events alter column run_id type uuid using run_id::uuid;

-- The functions whose arguments or results change type. Those that keep their signature are
-- replaced below.
drop function {{schema}}.notify_finished(text[], text[]);
drop function {{schema}}.settle_waiting(text[]);
drop function {{schema}}.after_finish(text[]);
drop function {{schema}}.insert_runs_tenancy(json, boolean, text[], text[], text[]);
drop function {{schema}}.insert_plain_runs(json);
drop function {{schema}}.insert_runs(json);
drop function {{schema}}.check_tenant_quotas(text[]);
drop function {{schema}}.start_runs(text[], text, bigint, bigint);
drop function {{schema}}.start_picked(text[], text, bigint, bigint);
drop function {{schema}}.pick_limited_with_bursts(text[], integer, bigint);
drop function {{schema}}.pick_tenancy_with_bursts(text[], integer, bigint);
drop function {{schema}}.pick_in_order(text, integer, bigint, {{schema}}.limits[], boolean,
  text[], jsonb, jsonb, text[]);
drop function {{schema}}.pick_fairly(text, text, integer, bigint, {{schema}}.limits[], boolean,
  text[], jsonb, jsonb, text[]);
drop function {{schema}}.fit_run({{schema}}.limits[], boolean, text, text, text, text, text,
  bigint, jsonb, jsonb, text[]);
drop function {{schema}}.complete_runs(text[], text[], text[], boolean[]);
drop function {{schema}}.complete_runs(text[], text[], text[]);
drop function {{schema}}.fail_runs(text[], text[], text[], bigint[]);
drop function {{schema}}.release_runs(text[], text[]);
drop function {{schema}}.heartbeat_runs(text[], text[], bigint);
drop function {{schema}}.stall_runs(text[], text[]);
drop function {{schema}}.cancel_run(text);
drop function {{schema}}.suspend_run(text, text, bigint, text);
drop function {{schema}}.send_signal(text, text, text);
drop function {{schema}}.set_progress(text, text, text);
drop function {{schema}}.retry_runs(text[]);
-- The claims of older releases: migration 4's, migration 10's and migration 13's.
drop function {{schema}}.claim_runs(text, text[], integer, bigint);
drop function {{schema}}.claim_runs_tenancy(text, text[], integer, bigint);
drop function {{schema}}.claim_runs_tenancy_with_bursts(text, text[], integer, bigint);

-- As in migration 2.
create function {{schema}}.notify_finished(p_ids uuid[], p_states text[]) returns void
  language sql volatile
  as $$
    select count(pg_notify({{channel}}, 'f|' || chunk.list))
    from (
      select string_agg(f.id || ':' || f.state, ',') as list
      from unnest(p_ids, p_states) with ordinality as f(id, state, n)
      group by (f.n - 1) / 50
    ) as chunk
  $$;

-- As in migration 11.
create function {{schema}}.settle_waiting(p_children uuid[]) returns void
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_now bigint;
  v_children uuid[] := p_children;
  v_cancelled uuid[];
  v_queues text[];
begin
  while v_children is not null loop
    select array_agg(w.id) into v_children
    from (
      select r.id
      from {{schema}}.runs as r
      where r.id = any(v_children) and r.state = 'waiting'
      order by r.id
      for update
    ) as w;
    exit when v_children is null;

    v_now := {{schema}}.now_ms();

    with cancelled as (
      update {{schema}}.runs as r
      set state = 'cancelled', finished_at = v_now
      where r.id = any(v_children)
        and r.state = 'waiting'
        and exists (
          select 1 from {{schema}}.dependencies as d
          where d.child_id = r.id and d.satisfied = false
        )
      returning r.id, r.group_id, r.tenant_id, r.history_level, r.unique_key,
        r.unique_release_on
    ), logged as (
      insert into {{schema}}.events (run_id, group_id, tenant_id, type, at, data)
      select c.id, c.group_id, c.tenant_id, 'cancelled', v_now, '{"reason":"dependency"}'
      from cancelled as c
      where c.history_level <> 'off'
    ), released_keys as (
      delete from {{schema}}.unique_keys as u
      using cancelled as c
      where c.unique_release_on = 'finish' and u.key = c.unique_key and u.run_id = c.id
    )
    select array_agg(c.id) into v_cancelled from cancelled as c;

    with released as (
      update {{schema}}.runs as r
      set state = case when r.run_at > v_now then 'scheduled' else 'available' end,
        input = coalesce((
          select p.output
          from {{schema}}.dependencies as d
          join {{schema}}.runs as p on p.id = d.parent_id
          where d.child_id = r.id and d.pass_output
          limit 1
        ), r.input)
      where r.id = any(v_children)
        and r.state = 'waiting'
        and not exists (
          select 1 from {{schema}}.dependencies as d
          where d.child_id = r.id and d.satisfied is not true
        )
      returning r.id, r.queue, r.group_id, r.tenant_id, r.history_level
    ), logged as (
      insert into {{schema}}.events (run_id, group_id, tenant_id, type, at)
      select l.id, l.group_id, l.tenant_id, 'dependencies-met', v_now
      from released as l
      where l.history_level <> 'off'
    )
    select array_agg(l.queue) into v_queues from released as l;
    if v_queues is not null then
      perform {{schema}}.notify_work(v_queues);
    end if;

    exit when v_cancelled is null;
    perform {{schema}}.notify_finished(v_cancelled, array_fill('cancelled'::text,
      array[cardinality(v_cancelled)]));

    with marked as (
      update {{schema}}.dependencies as d
      set satisfied = d.condition <> 'success'
      where d.parent_id = any(v_cancelled) and d.satisfied is null
      returning d.child_id
    )
    select array_agg(distinct m.child_id) into v_children from marked as m;
  end loop;
end
$fn$;

-- As in migration 2.
create function {{schema}}.after_finish(p_parents uuid[]) returns void
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_children uuid[];
begin
  with marked as (
    update {{schema}}.dependencies as d
    set satisfied = case d.condition
      when 'success' then p.state = 'completed'
      when 'failure' then p.state <> 'completed'
      else true
    end
    from {{schema}}.runs as p
    where d.parent_id = any(p_parents) and p.id = d.parent_id and d.satisfied is null
    returning d.child_id
  )
  select array_agg(distinct m.child_id) into v_children from marked as m;

  if v_children is not null then
    perform {{schema}}.settle_waiting(v_children);
  end if;
end
$fn$;

-- As in migration 3.
create function {{schema}}.insert_plain_runs(p_runs json)
  returns table (run_id uuid, state text)
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_now bigint := {{schema}}.now_ms();
begin
  return query
  with input as (
    select x.*, coalesce(x.run_at, v_now + greatest(coalesce(x.delay_ms, 0), 0)) as due
    from json_to_recordset(p_runs) as x(
      id uuid, job text, queue text, input text, priority integer, max_attempts integer,
      run_at bigint, delay_ms bigint, group_id text, partition_key text, tenant_id text,
      trace_context text, history_level text, metadata text)
  ), inserted as (
    insert into {{schema}}.runs as r (id, job, queue, state, input, priority, max_attempts,
      run_at, created_at, group_id, partition_key, tenant_id, trace_context, history_level,
      metadata)
    select i.id, i.job, i.queue, case when i.due > v_now then 'scheduled' else 'available' end,
      i.input, i.priority, i.max_attempts, i.due, v_now, i.group_id, i.partition_key,
      i.tenant_id, i.trace_context, i.history_level, i.metadata
    from input as i
    returning r.id, r.state, r.queue, r.group_id, r.tenant_id, r.history_level
  ), logged as (
    insert into {{schema}}.events (run_id, group_id, tenant_id, type, at)
    select n.id, n.group_id, n.tenant_id, 'enqueued', v_now
    from inserted as n
    where n.history_level <> 'off'
  ), notified as (
    select {{schema}}.notify_work(array_agg(distinct n.queue)) as done from inserted as n
  )
  select n.id, n.state from inserted as n, notified;
end
$fn$;

-- As in migration 3. The storage sends a parent id that is not a UUID as the nil UUID, which
-- no run has: its edge is unmet and cancels the child, as any unknown parent's does.
create function {{schema}}.insert_runs(p_runs json)
  returns table (run_id uuid, created boolean, replaced boolean, state text)
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_now bigint := {{schema}}.now_ms();
  x record;
  v_due bigint;
  v_holder uuid;
  v_holder_state text;
  v_holder_queue text;
  v_state text;
  v_has_parents boolean;
  v_work text[] := '{}';
begin
  for x in
    select t.*
    from json_array_elements(p_runs) with ordinality as e(value, ord)
    cross join lateral json_to_record(e.value) as t(
      id uuid, job text, queue text, input text, priority integer, max_attempts integer,
      run_at bigint, delay_ms bigint, group_id text, partition_key text, tenant_id text,
      trace_context text, history_level text, metadata text, unique_key text,
      unique_release_on text, unique_ttl_ms bigint, unique_on_conflict text, depends_on json)
    order by e.ord
  loop
    v_due := coalesce(x.run_at, v_now + greatest(coalesce(x.delay_ms, 0), 0));

    if x.unique_key is not null then
      v_holder := null;
      insert into {{schema}}.unique_keys as u (key, run_id, expires_at)
      values (x.unique_key, x.id, v_now + x.unique_ttl_ms)
      on conflict (key) do update
        set run_id = excluded.run_id, expires_at = excluded.expires_at
        where u.expires_at is not null and u.expires_at <= v_now
      returning u.run_id into v_holder;

      if v_holder is null then
        -- The key is taken, and the conflicting key row is now locked by this transaction.
        select u.run_id into v_holder from {{schema}}.unique_keys as u where u.key = x.unique_key;
        select r.state, r.queue into v_holder_state, v_holder_queue
        from {{schema}}.runs as r where r.id = v_holder for update;

        if v_holder_state is null then
          -- The holder no longer exists: take the key over.
          update {{schema}}.unique_keys as u
          set run_id = x.id, expires_at = v_now + x.unique_ttl_ms
          where u.key = x.unique_key;
        else
          if x.unique_on_conflict = 'replace'
            and v_holder_state in ('scheduled', 'available', 'waiting') then
            update {{schema}}.runs as r
            set input = x.input,
              run_at = case
                when x.run_at is not null or x.delay_ms is not null then v_due else r.run_at end,
              state = case
                when r.state = 'waiting' then 'waiting'
                when (case when x.run_at is not null or x.delay_ms is not null
                  then v_due else r.run_at end) > v_now then 'scheduled'
                else 'available'
              end
            where r.id = v_holder
            returning r.state into v_holder_state;
            v_work := v_work || v_holder_queue;
            run_id := v_holder;
            created := false;
            replaced := true;
          else
            run_id := v_holder;
            created := false;
            replaced := false;
          end if;
          state := v_holder_state;
          return next;
          continue;
        end if;
      end if;
    end if;

    v_has_parents := x.depends_on is not null and json_array_length(x.depends_on) > 0;
    v_state := case
      when v_has_parents then 'waiting'
      when v_due > v_now then 'scheduled'
      else 'available'
    end;

    insert into {{schema}}.runs (id, job, queue, state, input, priority, max_attempts, run_at,
      created_at, group_id, partition_key, tenant_id, unique_key, unique_release_on,
      trace_context, history_level, metadata)
    values (x.id, x.job, x.queue, v_state, x.input, x.priority, x.max_attempts, v_due, v_now,
      x.group_id, x.partition_key, x.tenant_id, x.unique_key,
      case when x.unique_key is not null then x.unique_release_on end, x.trace_context,
      x.history_level, x.metadata);

    if x.history_level <> 'off' then
      insert into {{schema}}.events (run_id, group_id, tenant_id, type, at)
      values (x.id, x.group_id, x.tenant_id, 'enqueued', v_now);
    end if;

    if v_has_parents then
      perform 1
      from {{schema}}.runs as p
      where p.id in (
        select d.run_id from json_to_recordset(x.depends_on) as d(run_id uuid)
      )
      order by p.id
      for share;

      insert into {{schema}}.dependencies as dep (child_id, parent_id, position, condition,
        pass_output, satisfied)
      select x.id, d.run_id, e.ord, d.condition, coalesce(d.pass_output, false),
        case
          when p.id is null then false
          when p.state not in ('completed', 'failed', 'cancelled') then null
          when d.condition = 'success' then p.state = 'completed'
          when d.condition = 'failure' then p.state <> 'completed'
          else true
        end
      from json_array_elements(x.depends_on) with ordinality as e(value, ord)
      cross join lateral json_to_record(e.value) as d(run_id uuid, condition text,
        pass_output boolean)
      left join {{schema}}.runs as p on p.id = d.run_id
      order by e.ord
      on conflict (child_id, parent_id) do nothing;

      perform {{schema}}.settle_waiting(array[x.id]);
      select r.state into v_state from {{schema}}.runs as r where r.id = x.id;
    end if;

    if v_state in ('available', 'scheduled') then
      v_work := v_work || x.queue;
    end if;
    run_id := x.id;
    created := true;
    replaced := false;
    state := v_state;
    return next;
  end loop;

  perform {{schema}}.notify_work(v_work);
end
$fn$;

-- As in migration 9.
create function {{schema}}.check_tenant_quotas(p_created uuid[])
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

-- As in migration 9.
create function {{schema}}.insert_runs_tenancy(p_runs json, p_plain boolean,
  p_tenants text[], p_queues text[], p_ids uuid[])
  returns table (run_id uuid, created boolean, replaced boolean, state text)
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_tenant {{schema}}.tenants;
  v_created uuid[];
  v_ids uuid[];
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

-- As in migration 4.
create function {{schema}}.start_runs(p_ids uuid[], p_worker text, p_lease_ms bigint,
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
      and (r.state in ('available', 'scheduled')
        or (r.state = 'suspended' and r.wake_at is not null))
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

-- As in migration 10.
create function {{schema}}.start_picked(p_ids uuid[], p_worker text, p_lease_ms bigint,
  p_now bigint)
  returns setof {{schema}}.runs
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_token_prefix text := gen_random_uuid()::text || '.';
  v_started_data text := json_build_object('workerId', p_worker)::text;
  v_suspended uuid[];
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

-- As in migration 13.
create function {{schema}}.fit_run(p_limits {{schema}}.limits[], p_burst boolean, p_id uuid,
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

-- As in migration 13.
create function {{schema}}.pick_in_order(p_queue text, p_limit integer,
  p_now bigint, p_limits {{schema}}.limits[], p_burst boolean, inout p_ids uuid[],
  inout p_usage jsonb, inout p_tenants jsonb, inout p_excluded text[])
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_ids uuid[];
  v_jobs text[];
  v_partitions text[];
  v_tenants text[];
  v_fits boolean;
  v_scanned integer := 0;
  v_skipped uuid[] := '{}';
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

-- As in migration 13.
create function {{schema}}.pick_fairly(p_queue text, p_by text, p_limit integer,
  p_now bigint, p_limits {{schema}}.limits[], p_burst boolean, inout p_ids uuid[],
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

-- As in migration 13.
create function {{schema}}.pick_limited_with_bursts(p_queues text[], p_limit integer,
  p_now bigint, out p_ids uuid[], out p_bursts jsonb)
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_limits {{schema}}.limits[];
  v_limit {{schema}}.limits;
  v_usage jsonb := '{}';
  v_key text;
  v_counts jsonb;
  v_ids uuid[] := '{}';
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

-- As in migration 13.
create function {{schema}}.pick_tenancy_with_bursts(p_queues text[], p_limit integer,
  p_now bigint, out p_ids uuid[], out p_bursts jsonb)
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_limits {{schema}}.limits[];
  v_burst boolean;
  v_usage jsonb := '{}';
  v_tenants jsonb := '{}';
  v_excluded text[];
  v_ids uuid[] := '{}';
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

-- As in migration 13.
create or replace function {{schema}}.claim_runs_with_bursts(p_worker text, p_queues text[],
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
  v_ids uuid[];
  v_bursts jsonb;
  v_run {{schema}}.runs;
  v_started uuid[] := '{}';
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
    bursts := v_bursts -> v_run.id::text;
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

-- The claim the storage calls: claim_runs_tenancy_with_bursts of migration 13 under a new name.
create function {{schema}}.claim_next_runs(p_worker text, p_queues text[], p_limit integer,
  p_lease_ms bigint)
  returns table (claimed {{schema}}.runs, bursts jsonb)
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_now bigint;
  v_ids uuid[];
  v_bursts jsonb;
  v_run {{schema}}.runs;
  v_started uuid[] := '{}';
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
    bursts := v_bursts -> v_run.id::text;
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

-- As in migration 18.
create function {{schema}}.complete_runs(p_ids uuid[], p_tokens text[],
  p_outputs text[])
  returns table (run_id uuid, lease_token text)
  language plpgsql volatile
  set enable_seqscan = off
  as $fn$
#variable_conflict use_column
declare
  v_now bigint := {{schema}}.now_ms();
  v_done uuid[];
  v_tokens text[];
  v_children uuid[];
begin
  with done as (
    update {{schema}}.runs as r
    set state = 'completed', output = q.output, finished_at = v_now, lease_token = null,
      lease_expires_at = null
    from (
      select * from unnest(p_ids, p_tokens, p_outputs) as u(id, token, output)
      order by u.id
    ) as q
    where r.id = q.id and r.lease_token = q.token
    returning r.id, q.token, r.attempt, r.group_id, r.tenant_id, r.history_level, r.unique_key,
      r.unique_release_on
  ), logged as (
    insert into {{schema}}.events (run_id, group_id, tenant_id, type, at, attempt)
    select d.id, d.group_id, d.tenant_id, 'completed', v_now, d.attempt
    from done as d
    where d.history_level <> 'off'
  ), released_keys as (
    delete from {{schema}}.unique_keys as u
    using done as d
    where d.unique_release_on = 'finish' and u.key = d.unique_key and u.run_id = d.id
  )
  select array_agg(d.id), array_agg(d.token) into v_done, v_tokens from done as d;

  if v_done is null then
    return;
  end if;
  perform pg_notify({{channel}}, 'f|' || chunk.list)
  from (
    select string_agg(f.id || ':completed', ',') as list
    from unnest(v_done) with ordinality as f(id, n)
    group by (f.n - 1) / 50
  ) as chunk;

  -- A completed parent meets 'success' and 'always' edges and fails 'failure' edges. This is a
  -- statement of its own, so its snapshot includes edges committed by inserts that held a share
  -- lock on a parent while the update above waited for it.
  with marked as (
    update {{schema}}.dependencies as e
    set satisfied = e.condition <> 'failure'
    where e.parent_id = any(v_done) and e.satisfied is null
    returning e.child_id
  )
  select array_agg(distinct m.child_id) into v_children from marked as m;
  if v_children is not null then
    perform {{schema}}.settle_waiting(v_children);
  end if;
  return query select * from unnest(v_done, v_tokens);
end
$fn$;

-- As in migration 20.
create function {{schema}}.complete_runs(p_ids uuid[], p_tokens text[],
  p_outputs text[], p_remove boolean[])
  returns table (run_id uuid, lease_token text)
  language plpgsql volatile
  set enable_seqscan = off
  as $fn$
#variable_conflict use_column
declare
  v_locked tid[];
  v_removed uuid[];
  v_removed_tokens text[];
  v_keyed uuid[];
  v_gone jsonb;
  v_ids uuid[];
  v_tokens text[];
  v_outputs text[];
begin
  if not (true = any(p_remove)) then
    return query select * from {{schema}}.complete_runs(p_ids, p_tokens, p_outputs);
    return;
  end if;

  -- Locks every requested run first, in id order as insert_runs locks parents, and keeps the
  -- addresses of those it may remove. A child inserted meanwhile keeps a share lock on its
  -- parent until it commits, so this lock waits for it, and the next statement's snapshot
  -- contains the new edge. The lateral join probes the primary key once per request. Its
  -- `limit 1` keeps the state condition out of it, which would let the planner read every
  -- running run per request.
  select array_agg(c.row_id) filter (where c.removable) into v_locked
  from (
    select l.row_id, q.remove and l.state = 'running' and l.group_id is null
      and (l.unique_key is null or not exists (
        select 1 from {{schema}}.unique_keys as k
        where k.run_id = q.id and k.expires_at > {{schema}}.now_ms())) as removable
    from (
      select u.id, u.token, u.remove
      from unnest(p_ids, p_tokens, p_remove) as u(id, token, remove)
      order by u.id
    ) as q
    cross join lateral (
      select r.ctid as row_id, r.state, r.group_id, r.unique_key
      from {{schema}}.runs as r
      where r.id = q.id and r.lease_token = q.token
      limit 1
      for update
    ) as l
  ) as c;

  -- The locks keep the runs as they were read, so their row addresses find them again. The
  -- check for dependents is a scalar subquery, one index probe per run: written as NOT EXISTS,
  -- the planner may turn it into a merge join over the whole primary key.
  if v_locked is not null then
    with removed as (
      delete from {{schema}}.runs as r
      where r.ctid = any(v_locked)
        and (select d.child_id from {{schema}}.dependencies as d
          where d.parent_id = r.id limit 1) is null
      returning r.id, r.lease_token, r.unique_key
    )
    select array_agg(m.id), array_agg(m.lease_token),
      array_agg(m.id) filter (where m.unique_key is not null)
    into v_removed, v_removed_tokens, v_keyed
    from removed as m;
  end if;

  if v_removed is not null then
    if v_keyed is not null then
      delete from {{schema}}.unique_keys as u where u.run_id = any(v_keyed);
    end if;
    delete from {{schema}}.dependencies as e where e.child_id = any(v_removed);
    delete from {{schema}}.events as e where e.run_id = any(v_removed);
    delete from {{schema}}.state as s where s.run_id = any(v_removed);
    perform {{schema}}.notify_finished(v_removed,
      array_fill('completed'::text, array[cardinality(v_removed)]));
    return query select * from unnest(v_removed, v_removed_tokens);
    if cardinality(v_removed) = cardinality(p_ids) then
      return;
    end if;
  end if;

  -- The other requests go to the three-argument complete_runs. The keys of v_gone are the
  -- removed ids, so each request is looked up in it instead of compared with every removed id.
  select coalesce(jsonb_object_agg(m.id, true), '{}') into v_gone from unnest(v_removed) as m(id);
  select array_agg(q.id), array_agg(q.token), array_agg(q.output)
  into v_ids, v_tokens, v_outputs
  from unnest(p_ids, p_tokens, p_outputs) as q(id, token, output)
  where not (v_gone ? q.id::text);
  if v_ids is not null then
    return query select * from {{schema}}.complete_runs(v_ids, v_tokens, v_outputs);
  end if;
end
$fn$;

-- As in migration 18.
create function {{schema}}.fail_runs(p_ids uuid[], p_tokens text[], p_errors text[],
  p_delays bigint[])
  returns table (run_id uuid, lease_token text)
  language plpgsql volatile
  set enable_seqscan = off
  as $fn$
#variable_conflict use_column
declare
  v_now bigint := {{schema}}.now_ms();
  v_changed uuid[];
  v_tokens text[];
  v_failed uuid[];
  v_retry_queues text[];
begin
  with changed as (
    update {{schema}}.runs as r
    set state = case
        when q.delay is null then 'failed'
        when q.delay > 0 then 'scheduled'
        else 'available'
      end,
      error = q.error,
      run_at = case when q.delay is null then r.run_at else v_now + greatest(q.delay, 0) end,
      finished_at = case when q.delay is null then v_now end,
      lease_token = null,
      lease_expires_at = null
    from (
      select * from unnest(p_ids, p_tokens, p_errors, p_delays) as u(id, token, error, delay)
      order by u.id
    ) as q
    where r.id = q.id and r.lease_token = q.token
    returning r.id, q.token, r.state, r.queue, r.attempt, r.group_id, r.tenant_id,
      r.history_level, r.unique_key, r.unique_release_on, q.error, q.delay
  ), logged as (
    insert into {{schema}}.events (run_id, group_id, tenant_id, type, at, attempt, data)
    select c.id, c.group_id, c.tenant_id,
      case when c.state = 'failed' then 'failed' else 'retrying' end, v_now, c.attempt,
      case
        when c.state = 'failed' then json_build_object('error', c.error::json)
        else json_build_object('error', c.error::json, 'delayMs', c.delay)
      end::text
    from changed as c
    where c.history_level <> 'off'
  ), released_keys as (
    delete from {{schema}}.unique_keys as u
    using changed as c
    where c.state = 'failed' and c.unique_release_on = 'finish' and u.key = c.unique_key
      and u.run_id = c.id
  )
  select array_agg(c.id), array_agg(c.token), array_agg(c.id) filter (where c.state = 'failed'),
    array_agg(c.queue) filter (where c.state <> 'failed')
  into v_changed, v_tokens, v_failed, v_retry_queues
  from changed as c;

  if v_retry_queues is not null then
    perform {{schema}}.notify_work(v_retry_queues);
  end if;
  if v_failed is not null then
    perform {{schema}}.notify_finished(v_failed,
      array_fill('failed'::text, array[cardinality(v_failed)]));
    perform {{schema}}.after_finish(v_failed);
  end if;
  if v_changed is not null then
    return query select * from unnest(v_changed, v_tokens);
  end if;
end
$fn$;

-- As in migration 18.
create function {{schema}}.release_runs(p_ids uuid[], p_tokens text[])
  returns table (run_id uuid, lease_token text)
  language plpgsql volatile
  set enable_seqscan = off
  as $fn$
#variable_conflict use_column
declare
  v_now bigint := {{schema}}.now_ms();
  v_ids uuid[];
  v_tokens text[];
  v_queues text[];
begin
  with released as (
    update {{schema}}.runs as r
    set state = 'available', attempt = greatest(r.attempt - 1, 0), lease_token = null,
      lease_expires_at = null, run_at = least(r.run_at, v_now)
    from (
      select * from unnest(p_ids, p_tokens) as u(id, token)
      order by u.id
    ) as q
    where r.id = q.id and r.lease_token = q.token
    returning r.id, q.token, r.queue, r.attempt, r.group_id, r.tenant_id, r.history_level
  ), logged as (
    insert into {{schema}}.events (run_id, group_id, tenant_id, type, at, attempt)
    select l.id, l.group_id, l.tenant_id, 'released', v_now, l.attempt + 1
    from released as l
    where l.history_level <> 'off'
  )
  select array_agg(l.id), array_agg(l.token), array_agg(l.queue)
  into v_ids, v_tokens, v_queues
  from released as l;

  if v_ids is null then
    return;
  end if;
  perform {{schema}}.notify_work(v_queues);
  return query select * from unnest(v_ids, v_tokens);
end
$fn$;

-- As in migration 19.
create function {{schema}}.heartbeat_runs(p_ids uuid[], p_tokens text[], p_lease_ms bigint)
  returns table (run_id uuid, lease_token text)
  language sql volatile
  set enable_seqscan = off
  as $fn$
    update {{schema}}.runs as r set lease_expires_at = {{schema}}.now_ms() + p_lease_ms
    from (
      select * from unnest(p_ids, p_tokens) as u(id, token)
      order by u.id
    ) as q
    where r.id = q.id and r.lease_token = q.token
    returning r.id, q.token
$fn$;

-- As in migration 5.
create function {{schema}}.stall_runs(p_ids uuid[], p_errors text[])
  returns table (run_id uuid, job text, queue text, attempt integer, max_attempts integer,
    state text)
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_now bigint := {{schema}}.now_ms();
  v_ids uuid[];
  v_jobs text[];
  v_queues text[];
  v_attempts integer[];
  v_max_attempts integer[];
  v_states text[];
  v_failed uuid[];
  v_retry_queues text[];
begin
  with stalled as (
    update {{schema}}.runs as r
    set state = case when r.attempt < r.max_attempts then 'available' else 'failed' end,
      error = q.error,
      finished_at = case when r.attempt < r.max_attempts then null else v_now end,
      lease_token = null,
      lease_expires_at = null
    from unnest(p_ids, p_errors) as q(id, error)
    where r.id = q.id and r.state = 'running' and r.lease_expires_at <= v_now
    returning r.id, r.job, r.queue, r.attempt, r.max_attempts, r.state, r.group_id,
      r.tenant_id, r.history_level, r.unique_key, r.unique_release_on, r.worker_id, q.error
  ), logged as (
    insert into {{schema}}.events (run_id, group_id, tenant_id, type, at, attempt, data)
    select s.id, s.group_id, s.tenant_id, e.type, v_now, s.attempt, e.data
    from stalled as s
    cross join lateral (
      values
        ('stalled', json_build_object('workerId', s.worker_id,
          'willRetry', s.state = 'available')::text, 1),
        ('failed', json_build_object('error', s.error::json)::text, 2)
    ) as e(type, data, n)
    where s.history_level <> 'off' and (e.n = 1 or s.state = 'failed')
    order by s.id, e.n
  ), released_keys as (
    delete from {{schema}}.unique_keys as u
    using stalled as s
    where s.state = 'failed' and s.unique_release_on = 'finish' and u.key = s.unique_key
      and u.run_id = s.id
  )
  select array_agg(s.id), array_agg(s.job), array_agg(s.queue), array_agg(s.attempt),
    array_agg(s.max_attempts), array_agg(s.state),
    array_agg(s.id) filter (where s.state = 'failed'),
    array_agg(s.queue) filter (where s.state = 'available')
  into v_ids, v_jobs, v_queues, v_attempts, v_max_attempts, v_states, v_failed,
    v_retry_queues
  from stalled as s;

  if v_retry_queues is not null then
    perform {{schema}}.notify_work(v_retry_queues);
  end if;
  if v_failed is not null then
    perform {{schema}}.notify_finished(v_failed,
      array_fill('failed'::text, array[cardinality(v_failed)]));
    perform {{schema}}.after_finish(v_failed);
  end if;
  if v_ids is not null then
    return query
    select * from unnest(v_ids, v_jobs, v_queues, v_attempts, v_max_attempts, v_states);
  end if;
end
$fn$;

-- As in migration 5.
create function {{schema}}.cancel_run(p_id uuid)
  returns table (cancelled boolean, state text)
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_now bigint := {{schema}}.now_ms();
  v_run {{schema}}.runs;
begin
  select * into v_run from {{schema}}.runs as r where r.id = p_id for update;
  if not found then
    return;
  end if;
  if v_run.state in ('completed', 'failed', 'cancelled') then
    cancelled := false;
    state := v_run.state;
    return next;
    return;
  end if;

  update {{schema}}.runs as r
  set state = 'cancelled', finished_at = v_now, lease_token = null, lease_expires_at = null,
    wake_at = null, wait_signal = null
  where r.id = p_id;

  if v_run.history_level <> 'off' then
    insert into {{schema}}.events (run_id, group_id, tenant_id, type, at, attempt)
    values (p_id, v_run.group_id, v_run.tenant_id, 'cancelled', v_now,
      nullif(v_run.attempt, 0));
  end if;
  if v_run.unique_release_on = 'finish' then
    delete from {{schema}}.unique_keys as u
    where u.key = v_run.unique_key and u.run_id = p_id;
  end if;

  perform {{schema}}.notify_finished(array[p_id], array['cancelled']);
  perform {{schema}}.after_finish(array[p_id]);
  cancelled := true;
  state := 'cancelled';
  return next;
end
$fn$;

-- As in migration 6.
create function {{schema}}.suspend_run(p_id uuid, p_token text, p_wake_at bigint,
  p_signal text)
  returns boolean
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_now bigint := {{schema}}.now_ms();
  v_run {{schema}}.runs;
  v_arrived boolean;
begin
  select * into v_run from {{schema}}.runs as r
  where r.id = p_id and r.lease_token = p_token and r.state = 'running'
  for update;
  if not found then
    return false;
  end if;

  v_arrived := p_signal is not null and exists (
    select 1 from {{schema}}.state as s where s.run_id = p_id and s.key = 'signal:' || p_signal
  );

  update {{schema}}.runs as r
  set state = case when v_arrived then 'available' else 'suspended' end,
    attempt = greatest(r.attempt - 1, 0),
    lease_token = null,
    lease_expires_at = null,
    wake_at = case when v_arrived then null else p_wake_at end,
    wait_signal = case when v_arrived then null else p_signal end,
    run_at = case
      when v_arrived then least(r.run_at, v_now)
      when p_wake_at is not null then p_wake_at
      else r.run_at
    end
  where r.id = p_id;

  if v_run.history_level <> 'off' then
    insert into {{schema}}.events (run_id, group_id, tenant_id, type, at, attempt, data)
    values (p_id, v_run.group_id, v_run.tenant_id, 'suspended', v_now, v_run.attempt,
      json_strip_nulls(json_build_object('wakeAt', p_wake_at, 'signal', p_signal))::text);
    if v_arrived then
      insert into {{schema}}.events (run_id, group_id, tenant_id, type, at)
      values (p_id, v_run.group_id, v_run.tenant_id, 'resumed', v_now);
    end if;
  end if;

  if v_arrived or p_wake_at is not null then
    perform {{schema}}.notify_work(array[v_run.queue]);
  end if;
  return true;
end
$fn$;

-- As in migration 6.
create function {{schema}}.send_signal(p_id uuid, p_name text, p_payload text)
  returns boolean
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_now bigint := {{schema}}.now_ms();
  v_run {{schema}}.runs;
begin
  select * into v_run from {{schema}}.runs as r where r.id = p_id for update;
  if not found or v_run.state in ('completed', 'failed', 'cancelled') then
    return false;
  end if;

  insert into {{schema}}.state as s (run_id, key, value, updated_at)
  values (p_id, 'signal:' || p_name, p_payload, v_now)
  on conflict (run_id, key) do update set value = excluded.value, updated_at = excluded.updated_at;

  if v_run.history_level <> 'off' then
    insert into {{schema}}.events (run_id, group_id, tenant_id, type, at, data)
    values (p_id, v_run.group_id, v_run.tenant_id, 'signal', v_now,
      json_build_object('name', p_name)::text);
  end if;

  if v_run.state = 'suspended' and v_run.wait_signal = p_name then
    update {{schema}}.runs as r
    set state = 'available', wake_at = null, wait_signal = null,
      run_at = least(r.run_at, v_now)
    where r.id = p_id;
    if v_run.history_level <> 'off' then
      insert into {{schema}}.events (run_id, group_id, tenant_id, type, at)
      values (p_id, v_run.group_id, v_run.tenant_id, 'resumed', v_now);
    end if;
    perform {{schema}}.notify_work(array[v_run.queue]);
  end if;

  if octet_length(p_name) <= 3964 then
    perform pg_notify({{channel}}, 's|' || p_id || '|' || p_name);
  end if;
  return true;
end
$fn$;

-- As in migration 7.
create function {{schema}}.set_progress(p_id uuid, p_token text, p_progress text)
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

-- As in migration 12.
create function {{schema}}.retry_runs(p_ids uuid[])
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
    returning r.id, r.queue, r.group_id, r.tenant_id, r.history_level
  ), logged as (
    insert into {{schema}}.events (run_id, group_id, tenant_id, type, at, attempt, data)
    select m.id, m.group_id, m.tenant_id, 'retrying', v_now, 0, '{"manual":true}'
    from moved as m
    where m.history_level <> 'off'
    order by m.id
  )
  select array_agg(m.queue) into v_queues from moved as m;

  if v_queues is null then
    return 0;
  end if;
  perform {{schema}}.notify_work(v_queues);
  return cardinality(v_queues);
end
$fn$;
