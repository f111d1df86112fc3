-- Migration 20: a completion that removes some runs and keeps others locks them all in id order.
--
-- Placeholders: {{schema}} is the quoted schema name.
--
-- The four-argument complete_runs of migration 17 locked the runs it removes first and the
-- runs it keeps afterwards, in the three-argument complete_runs. A transaction that locked a
-- kept run and then a removed one could deadlock with such a batch, whichever id was smaller,
-- and PostgreSQL then aborted one of the two. The function now locks every requested run in id
-- order before it removes any, as the other batch functions do since migration 18 and as one
-- enqueue locks the parents of a child. A transaction that locks runs in another order can
-- still deadlock with a batch. The rest is as in migration 17.

create or replace function {{schema}}.complete_runs(p_ids text[], p_tokens text[],
  p_outputs text[], p_remove boolean[])
  returns table (run_id text, lease_token text)
  language plpgsql volatile
  set enable_seqscan = off
  as $fn$
#variable_conflict use_column
declare
  v_locked tid[];
  v_removed text[];
  v_removed_tokens text[];
  v_keyed text[];
  v_gone jsonb;
  v_ids text[];
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
      order by u.id collate "C"
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
  where not (v_gone ? q.id);
  if v_ids is not null then
    return query select * from {{schema}}.complete_runs(v_ids, v_tokens, v_outputs);
  end if;
end
$fn$;
