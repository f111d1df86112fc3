-- Migration 5: ending or pausing an attempt.
--
-- Placeholders: {{schema}} is the quoted schema name.
-- Every function that takes leases is fenced: it changes a run only while the run is running
-- and its lease_token equals the given token, so a worker whose lease was reclaimed cannot
-- overwrite the newer attempt's outcome. Batch functions take parallel arrays, one element per
-- request, and return the id and lease token of each request that changed its run.

-- Completes runs: stores the output, appends 'completed', releases unique keys held until
-- finish, notifies listeners, and settles the children waiting on these runs.
create function {{schema}}.complete_runs(p_ids text[], p_tokens text[], p_outputs text[])
  returns table (run_id text, lease_token text)
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_now bigint := {{schema}}.now_ms();
  v_done text[];
  v_tokens text[];
  v_children text[];
begin
  with done as (
    update {{schema}}.runs as r
    set state = 'completed', output = q.output, finished_at = v_now, lease_token = null,
      lease_expires_at = null
    from unnest(p_ids, p_tokens, p_outputs) as q(id, token, output)
    where r.id = q.id and r.lease_token = q.token and r.state = 'running'
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

-- Fails runs. p_errors: serialized errors. p_delays: milliseconds until the retry is due, or
-- null for dead letter. A retry becomes scheduled (available when the delay is 0) and appends
-- 'retrying' with data {error, delayMs}; a dead letter becomes failed, appends 'failed' with
-- data {error}, releases unique keys held until finish and settles waiting children.
create function {{schema}}.fail_runs(p_ids text[], p_tokens text[], p_errors text[],
  p_delays bigint[])
  returns table (run_id text, lease_token text)
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_now bigint := {{schema}}.now_ms();
  v_changed text[];
  v_tokens text[];
  v_failed text[];
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
    from unnest(p_ids, p_tokens, p_errors, p_delays) as q(id, token, error, delay)
    where r.id = q.id and r.lease_token = q.token and r.state = 'running'
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

-- Gives leases back: the runs become available without counting the attempt, and append
-- 'released'.
create function {{schema}}.release_runs(p_ids text[], p_tokens text[])
  returns table (run_id text, lease_token text)
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_now bigint := {{schema}}.now_ms();
  v_ids text[];
  v_tokens text[];
  v_queues text[];
begin
  with released as (
    update {{schema}}.runs as r
    set state = 'available', attempt = greatest(r.attempt - 1, 0), lease_token = null,
      lease_expires_at = null, run_at = least(r.run_at, v_now)
    from unnest(p_ids, p_tokens) as q(id, token)
    where r.id = q.id and r.lease_token = q.token and r.state = 'running'
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

-- Cancels a run that is not terminal. A running run loses its lease. Returns no row when the
-- run does not exist; otherwise whether this call cancelled it and its state afterwards.
create function {{schema}}.cancel_run(p_id text)
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

-- Recovers runs whose lease expired, as picked (and locked) by the caller. p_errors: the
-- serialized stall error of each run. Appends 'stalled' with data {workerId, willRetry}; a run
-- with attempts left becomes available, the others fail (appending 'failed' too) and settle
-- their waiting children. Returns the changed runs with their new state.
create function {{schema}}.stall_runs(p_ids text[], p_errors text[])
  returns table (run_id text, job text, queue text, attempt integer, max_attempts integer,
    state text)
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_now bigint := {{schema}}.now_ms();
  v_ids text[];
  v_jobs text[];
  v_queues text[];
  v_attempts integer[];
  v_max_attempts integer[];
  v_states text[];
  v_failed text[];
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
