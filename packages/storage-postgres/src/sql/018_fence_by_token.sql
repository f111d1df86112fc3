-- Migration 18: batch completions, failures and releases find their runs through the primary
-- key.
--
-- Placeholders: {{schema}} is the quoted schema name.
--
-- complete_runs, fail_runs and release_runs of migration 5 matched each request with
-- `r.id = q.id and r.lease_token = q.token and r.state = 'running'`. The state condition let
-- the planner reach the runs through runs_running, the index of running runs, and read every
-- running run in each call: with 20,000 running, a batch of 250 read about 20,000 rows. A lease
-- token is set only while its run is running (every change out of running clears it), so the
-- token alone fences. Without the state condition the planner's default costs still prefer
-- reading a table of tens of thousands of runs to 250 probes of the primary key, so the
-- functions turn sequential scans off, as complete_runs of migration 17 does. They also take
-- the requests in id order, so the runs are locked in the order in which insert_runs locks
-- parents, as migration 17 locks the runs it removes. They are otherwise those of migration 5.

create or replace function {{schema}}.complete_runs(p_ids text[], p_tokens text[],
  p_outputs text[])
  returns table (run_id text, lease_token text)
  language plpgsql volatile
  set enable_seqscan = off
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
    from (
      select * from unnest(p_ids, p_tokens, p_outputs) as u(id, token, output)
      order by u.id collate "C"
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

-- Fails runs. p_errors: serialized errors. p_delays: milliseconds until the retry is due, or
-- null for dead letter. A retry becomes scheduled (available when the delay is 0) and appends
-- 'retrying' with data {error, delayMs}; a dead letter becomes failed, appends 'failed' with
-- data {error}, releases unique keys held until finish and settles waiting children.
create or replace function {{schema}}.fail_runs(p_ids text[], p_tokens text[], p_errors text[],
  p_delays bigint[])
  returns table (run_id text, lease_token text)
  language plpgsql volatile
  set enable_seqscan = off
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
    from (
      select * from unnest(p_ids, p_tokens, p_errors, p_delays) as u(id, token, error, delay)
      order by u.id collate "C"
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

-- Gives leases back: the runs become available without counting the attempt, and append
-- 'released'.
create or replace function {{schema}}.release_runs(p_ids text[], p_tokens text[])
  returns table (run_id text, lease_token text)
  language plpgsql volatile
  set enable_seqscan = off
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
    from (
      select * from unnest(p_ids, p_tokens) as u(id, token)
      order by u.id collate "C"
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
