-- Migration 11: settling waiting runs under a row lock, so that parents finishing in concurrent
-- transactions cannot leave a child waiting forever.
--
-- Placeholders: {{schema}} is the quoted schema name.
--
-- Every path that finishes a run first marks the dependency edges of the finished runs, then
-- calls settle_waiting for their children. These paths are complete_runs, fail_runs and
-- stall_runs to failed, cancel_run, and the cancel cascade inside settle_waiting. insert_runs
-- calls settle_waiting for each new child after inserting its edges. Migration 2's
-- settle_waiting read the other edges of a child in the snapshot of its own statement. Under
-- READ COMMITTED, two transactions that each marked one edge of the same child each saw the
-- other's edge still unresolved, so neither released the child.
--
-- This version locks the waiting children (FOR UPDATE, in id order, so two settles wait for each
-- other instead of deadlocking) before reading any edge. The edge reads run in later statements,
-- and each statement of a PL/pgSQL function takes a new snapshot under READ COMMITTED. So of all
-- the transactions that mark edges of one child, the last to get the child's lock sees the edges
-- of every earlier one (they committed before it got the lock) as well as its own, and settles
-- the child. Every caller marks its edges before settle_waiting requests the lock.
--
-- NOTE: the id order rules out deadlocks between settles of one generation. A cycle remains
-- possible when a descendant's id sorts before an ancestor's and a cascade or an insert
-- locks both; UUIDv7 ids are time-ordered, so this needs clock skew between the processes that
-- generated them. PostgreSQL then aborts one transaction, and the storage retries deadlocked
-- statements that run on its own pool (not inserts in a caller's transaction).

-- Settles waiting runs whose dependency edges were just resolved.
--
-- p_children: run ids to look at; runs that are not waiting are left alone.
-- A child with an edge that can no longer be met is cancelled. A child whose edges are all met
-- is released (scheduled when its run_at is still ahead, available otherwise), and takes its
-- input from the parent whose edge sets pass_output. Cancelling a child finishes it, so its own
-- children are settled next, until nothing changes. Each round first locks its waiting children.
create or replace function {{schema}}.settle_waiting(p_children text[]) returns void
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_now bigint;
  v_children text[] := p_children;
  v_cancelled text[];
  v_queues text[];
begin
  while v_children is not null loop
    -- Lock in id order. A child that a concurrent transaction released or cancelled while this
    -- one waited for its lock is re-checked on its committed version and skipped.
    select array_agg(w.id) into v_children
    from (
      select r.id
      from {{schema}}.runs as r
      where r.id = any(v_children) and r.state = 'waiting'
      order by r.id
      for update
    ) as w;
    exit when v_children is null;

    -- Read after the wait, so events and the scheduled-or-available choice use the current time.
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

    -- The cancelled runs are parents too: resolve their edges, then settle their children in
    -- the next round, which locks those children first.
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
