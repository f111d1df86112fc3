-- Migration 22: cheaper claims and completions on the server.
--
-- Placeholders: {{schema}} is the quoted schema name, {{channel}} the notification channel.
--
-- The index of running runs stops merging equal keys. Most running runs share one key, the
-- queue with a null partition, so each claim inserted its runs into one long posting list,
-- which PostgreSQL rewrites on every insert. Without deduplication a claim costs the server
-- about 1 µs less per run (bench/profile/statements.mjs: about 11 against 10 µs). Between
-- vacuums the index is larger, because the entries of runs that stopped running are kept one
-- by one instead of merged: about 6 times in a test that claimed and completed 20,000 runs
-- with autovacuum off. Scans of it still check the same entries. The setting applies to the
-- entries inserted from now on.
--
-- A completion notifies listeners of completed runs in a message of its own, 'c|' followed by
-- up to 100 run ids, instead of one 'id:completed' entry per run, and builds it without
-- grouping the ids. Messages about other finished states are as before. Listeners of an older
-- release do not read the new message, which is one more reason to stop older processes before
-- migrating.
--
-- A completion that removes runs first checks, once per batch, whether any dependency edge,
-- event or state value can belong to the runs it removes. It checks with one index range probe
-- between the smallest and the largest of their ids, and when none can, it skips the per-run
-- probes and deletes. Run ids are UUIDv7, so the ids of one batch fall in a narrow range. The
-- check for dependents still runs after the runs are locked, in a statement of its own, so its
-- snapshot includes the edges of enqueues that held a lock on a parent. The rest is as in
-- migration 21.
--
-- The storage claims through claim_run_columns, which returns the claimed runs' columns where
-- claim_next_runs returns row values.

alter index {{schema}}.runs_running set (deduplicate_items = off);

-- Sends 'c|id,id,...' for completed runs, in messages of at most 100 ids (about 3.7 kB, well
-- under the 8,000-byte limit of a notification).
create function {{schema}}.notify_completed(p_ids uuid[]) returns void
  language sql volatile
  as $$
    select count(pg_notify({{channel}}, 'c|' || array_to_string(p_ids[n:n + 99], ',')))
    from generate_series(1, cardinality(p_ids), 100) as n
  $$;

-- As in migration 21, with notify_completed.
create or replace function {{schema}}.complete_runs(p_ids uuid[], p_tokens text[],
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
  perform {{schema}}.notify_completed(v_done);

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

-- As in migration 21, with a range probe before each cleanup and notify_completed.
create or replace function {{schema}}.complete_runs(p_ids uuid[], p_tokens text[],
  p_outputs text[], p_remove boolean[])
  returns table (run_id uuid, lease_token text)
  language plpgsql volatile
  set enable_seqscan = off
  as $fn$
#variable_conflict use_column
declare
  v_locked tid[];
  v_removable uuid[];
  v_first uuid;
  v_last uuid;
  v_edges boolean;
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
  -- addresses and the sorted ids of those it may remove. A child inserted meanwhile keeps a
  -- share lock on its parent until it commits, so this lock waits for it, and the next
  -- statement's snapshot contains the new edge. The lateral join probes the primary key once
  -- per request. Its `limit 1` keeps the state condition out of it, which would let the planner
  -- read every running run per request.
  select array_agg(c.row_id) filter (where c.removable),
    array_agg(c.id order by c.id) filter (where c.removable)
  into v_locked, v_removable
  from (
    select l.row_id, q.id, q.remove and l.state = 'running' and l.group_id is null
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

  -- The locks keep the runs as they were read, so their row addresses find them again. When
  -- no edge names a parent between the first and the last removable id, none of them has
  -- dependents. Otherwise the check is a scalar subquery, one index probe per run: written as
  -- NOT EXISTS, the planner may turn it into a merge join over the whole primary key.
  if v_locked is not null then
    v_first := v_removable[1];
    v_last := v_removable[cardinality(v_removable)];
    v_edges := exists (
      select 1 from {{schema}}.dependencies as d where d.parent_id between v_first and v_last);
    if v_edges then
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
    else
      with removed as (
        delete from {{schema}}.runs as r
        where r.ctid = any(v_locked)
        returning r.id, r.lease_token, r.unique_key
      )
      select array_agg(m.id), array_agg(m.lease_token),
        array_agg(m.id) filter (where m.unique_key is not null)
      into v_removed, v_removed_tokens, v_keyed
      from removed as m;
    end if;
  end if;

  -- The removed runs are among the removable ones, so their rows lie in the same id range.
  if v_removed is not null then
    if v_keyed is not null then
      delete from {{schema}}.unique_keys as u where u.run_id = any(v_keyed);
    end if;
    if exists (
      select 1 from {{schema}}.dependencies as e where e.child_id between v_first and v_last)
    then
      delete from {{schema}}.dependencies as e where e.child_id = any(v_removed);
    end if;
    if exists (select 1 from {{schema}}.events as e where e.run_id between v_first and v_last)
    then
      delete from {{schema}}.events as e where e.run_id = any(v_removed);
    end if;
    if exists (select 1 from {{schema}}.state as s where s.run_id between v_first and v_last)
    then
      delete from {{schema}}.state as s where s.run_id = any(v_removed);
    end if;
    perform {{schema}}.notify_completed(v_removed);
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

-- Claims as claim_next_runs does, and returns the columns of the claimed runs instead of row
-- values, which the caller had to take apart field by field after two functions had copied
-- them. Without fair queues, restricted tenants or limits on its queues, claim_runs_with_bursts
-- (migration 21) claims in one statement, and this function then runs that statement itself.
-- Its update finds the picked rows by their address instead of probing the primary key again:
-- they are locked since they were picked, so their addresses cannot change. Otherwise it
-- returns what claim_next_runs returns.
create function {{schema}}.claim_run_columns(p_worker text, p_queues text[], p_limit integer,
  p_lease_ms bigint)
  returns table (id uuid, job text, queue text, input text, output text, error text,
    priority integer, attempt integer, max_attempts integer, run_at bigint, created_at bigint,
    started_at bigint, first_started_at bigint, finished_at bigint, progress text,
    group_id text, partition_key text, tenant_id text, unique_key text, trace_context text,
    history_level text, metadata text, lease_token text, bursts jsonb)
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_now bigint;
  v_token_prefix text;
  v_started_data text;
begin
  if exists (select 1 from {{schema}}.fair_queues as f where f.queue = any(p_queues))
    or exists (
      select 1 from {{schema}}.tenants as t
      where t.status <> 'active' or t.max_concurrent_runs is not null)
    or exists (
      select 1 from {{schema}}.limits as l where l.scope = 'job' or l.key = any(p_queues))
  then
    return query
    select (c.claimed).id, (c.claimed).job, (c.claimed).queue, (c.claimed).input,
      (c.claimed).output, (c.claimed).error, (c.claimed).priority, (c.claimed).attempt,
      (c.claimed).max_attempts, (c.claimed).run_at, (c.claimed).created_at,
      (c.claimed).started_at, (c.claimed).first_started_at, (c.claimed).finished_at,
      (c.claimed).progress, (c.claimed).group_id, (c.claimed).partition_key,
      (c.claimed).tenant_id, (c.claimed).unique_key, (c.claimed).trace_context,
      (c.claimed).history_level, (c.claimed).metadata, (c.claimed).lease_token, c.bursts
    from {{schema}}.claim_next_runs(p_worker, p_queues, p_limit, p_lease_ms) as c;
    return;
  end if;

  v_now := {{schema}}.now_ms();
  -- Lease tokens are this call's random prefix plus the run's position in the claim.
  v_token_prefix := gen_random_uuid()::text || '.';
  v_started_data := json_build_object('workerId', p_worker)::text;
  return query
  with picked as (
    select c.id, c.row_id, c.state as previous_state, q.ord,
      row_number() over (order by q.ord, c.priority desc, c.run_at, c.id) as position
    from unnest(p_queues) with ordinality as q(name, ord)
    cross join lateral (
      select r.id, r.ctid as row_id, r.state, r.priority, r.run_at
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
    where r.ctid = p.row_id
    returning r.id, r.job, r.queue, r.input, r.output, r.error, r.priority, r.attempt,
      r.max_attempts, r.run_at, r.created_at, r.started_at, r.first_started_at, r.finished_at,
      r.progress, r.group_id, r.partition_key, r.tenant_id, r.unique_key, r.trace_context,
      r.history_level, r.metadata, r.lease_token, r.unique_release_on, p.position,
      p.previous_state
  ), logged as (
    insert into {{schema}}.events (run_id, group_id, tenant_id, type, at, attempt, data)
    select s.id, s.group_id, s.tenant_id, e.type, v_now, s.attempt, e.data
    from started as s
    cross join lateral (
      values ('resumed', null, 1), ('started', v_started_data, 2)
    ) as e(type, data, n)
    where s.history_level <> 'off' and (e.n = 2 or s.previous_state = 'suspended')
    order by s.position, e.n
  ), released_keys as (
    delete from {{schema}}.unique_keys as u
    using started as s
    where s.unique_release_on = 'start' and u.key = s.unique_key and u.run_id = s.id
  )
  select s.id, s.job, s.queue, s.input, s.output, s.error, s.priority, s.attempt,
    s.max_attempts, s.run_at, s.created_at, s.started_at, s.first_started_at, s.finished_at,
    s.progress, s.group_id, s.partition_key, s.tenant_id, s.unique_key, s.trace_context,
    s.history_level, s.metadata, s.lease_token, null::jsonb
  from started as s
  order by s.position;
end
$fn$;
