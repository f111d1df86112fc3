-- Migration 16: completing a run can delete it (CompleteRequest.remove, the run's
-- removeOnComplete).
--
-- Placeholders: {{schema}} is the quoted schema name, {{channel}} the NOTIFY channel literal.
--
-- complete_runs gains a fourth argument, one remove flag per request. A flagged run that no
-- other run depends on, that belongs to no group and that holds no unique key with time left
-- to live (a throttle key must outlive its run) is deleted instead of being kept as completed. What purge_runs deletes along with a run goes with it: its events, state values,
-- unique key and the edges to its parents. A deleted row costs the table less than a new version of
-- it. Listeners hear that the run completed. The three-argument complete_runs of migration 5
-- completes the other requests, and stays for processes of older versions.

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

  -- Locks the candidates first and looks for dependents in a statement of its own. A child
  -- inserted meanwhile holds a share lock on its parent until it commits; the lock taken here
  -- waits for it, and the next statement's snapshot then holds the new edge, so such a parent is
  -- completed and kept (as complete_runs of migration 5 marks edges in a later statement).
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
    perform pg_notify({{channel}}, 'f|' || chunk.list)
    from (
      select string_agg(f.id || ':completed', ',') as list
      from unnest(v_removed) with ordinality as f(id, n)
      group by (f.n - 1) / 50
    ) as chunk;
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
