-- Migration 2: notification helpers and dependency settlement, used by every function that
-- finishes a run.
--
-- Placeholders: {{schema}} is the quoted schema name, {{channel}} the NOTIFY channel as a string
-- literal. Payloads: 'w|<queue>' (work may be claimable in the queue; an empty queue means any),
-- 'f|<id>:<state>,<id>:<state>,...' (runs finished), 's|<run id>|<signal name>'.
-- NOTIFY is transactional, so listeners hear of a change only once it is committed.

-- Sends one work notification per distinct queue. Queue names too long for a NOTIFY payload
-- (8000 bytes) are sent as "any queue".
create function {{schema}}.notify_work(p_queues text[]) returns void
  language sql volatile
  as $$
    select count(pg_notify({{channel}},
      'w|' || case when octet_length(q) <= 1000 then q else '' end))
    from (select distinct q from unnest(p_queues) as q where q is not null) as queues
  $$;

-- Sends finished notifications in chunks of 50 runs, to stay far below the payload limit.
create function {{schema}}.notify_finished(p_ids text[], p_states text[]) returns void
  language sql volatile
  as $$
    select count(pg_notify({{channel}}, 'f|' || chunk.list))
    from (
      select string_agg(f.id || ':' || f.state, ',') as list
      from unnest(p_ids, p_states) with ordinality as f(id, state, n)
      group by (f.n - 1) / 50
    ) as chunk
  $$;

-- Settles waiting runs whose dependency edges were just resolved.
--
-- p_children: run ids to look at; runs that are not waiting are left alone.
-- A child with an edge that can no longer be met is cancelled; a child whose edges are all met
-- is released (scheduled when its run_at is still ahead, available otherwise), taking its
-- input from the parent whose edge sets pass_output. Cancelling a child finishes it, so its own
-- children are settled next, until nothing changes.
create function {{schema}}.settle_waiting(p_children text[]) returns void
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_now bigint := {{schema}}.now_ms();
  v_children text[] := p_children;
  v_cancelled text[];
  v_queues text[];
begin
  while v_children is not null loop
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

    -- The cancelled runs are parents too: resolve their edges and settle their children.
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

-- Resolves the dependency edges of runs that just reached a terminal state, then settles the
-- children those edges belong to. p_parents: ids of the finished runs.
create function {{schema}}.after_finish(p_parents text[]) returns void
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_children text[];
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
