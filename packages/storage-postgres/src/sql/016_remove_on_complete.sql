-- Migration 16: completing a run can delete it (CompleteRequest.remove, the run's
-- removeOnComplete).
--
-- Placeholders: {{schema}} is the quoted schema name.
--
-- complete_runs gains a fourth argument, one remove flag per request. A flagged run is deleted
-- instead of being kept as completed, unless another run depends on it, it belongs to a group,
-- or it owns a unique key with time left to live (a throttle key must outlive its run). What
-- purge_runs deletes along with a run goes with it: events, state values, unique key and the
-- edges to its parents. Listeners hear that the run completed. The three-argument complete_runs
-- of migration 5 completes the other requests, and stays for processes of older versions.

create function {{schema}}.complete_runs(p_ids text[], p_tokens text[], p_outputs text[],
  p_remove boolean[])
  returns table (run_id text, lease_token text)
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_locked text[];
  v_removed text[];
  v_removed_tokens text[];
  v_ids text[];
  v_tokens text[];
  v_outputs text[];
begin
  if not (true = any(p_remove)) then
    return query select * from {{schema}}.complete_runs(p_ids, p_tokens, p_outputs);
    return;
  end if;

  -- Locks the candidates first, then looks for dependents in a statement of its own. A child
  -- inserted meanwhile keeps a share lock on its parent until it commits, so this lock waits for
  -- it. The next statement's snapshot then contains the new edge, and the parent is kept.
  select array_agg(l.id) into v_locked
  from (
    select r.id
    from {{schema}}.runs as r
    join unnest(p_ids, p_tokens, p_remove) as q(id, token, remove)
      on r.id = q.id and r.lease_token = q.token
    where q.remove and r.state = 'running' and r.group_id is null
      and (r.unique_key is null or not exists (
        select 1 from {{schema}}.unique_keys as u
        where u.run_id = r.id and u.expires_at > {{schema}}.now_ms()))
    for update of r
  ) as l;

  with removed as (
    delete from {{schema}}.runs as r
    using unnest(p_ids, p_tokens) as q(id, token)
    where r.id = any(v_locked) and r.id = q.id and r.lease_token = q.token
      and r.state = 'running'
      and not exists (select 1 from {{schema}}.dependencies as d where d.parent_id = r.id)
    returning r.id, q.token, r.unique_key
  ), dropped_keys as (
    delete from {{schema}}.unique_keys as u
    using removed as m
    where m.unique_key is not null and u.run_id = m.id
  ), dropped_edges as (
    delete from {{schema}}.dependencies as e
    using removed as m
    where e.child_id = m.id
  ), dropped_events as (
    delete from {{schema}}.events as e
    using removed as m
    where e.run_id = m.id
  ), dropped_state as (
    delete from {{schema}}.state as s
    using removed as m
    where s.run_id = m.id
  )
  select array_agg(m.id), array_agg(m.token) into v_removed, v_removed_tokens
  from removed as m;

  if v_removed is not null then
    perform {{schema}}.notify_finished(v_removed,
      array_fill('completed'::text, array[cardinality(v_removed)]));
    return query select * from unnest(v_removed, v_removed_tokens);
  end if;

  -- The other requests complete as in migration 5; the removed runs are gone by now.
  select array_agg(q.id), array_agg(q.token), array_agg(q.output)
  into v_ids, v_tokens, v_outputs
  from unnest(p_ids, p_tokens, p_outputs) as q(id, token, output)
  where not exists (select 1 from unnest(v_removed) as m(id) where m.id = q.id);
  if v_ids is not null then
    return query select * from {{schema}}.complete_runs(v_ids, v_tokens, v_outputs);
  end if;
end
$fn$;
