-- Migration 3: inserting runs.
--
-- Placeholders: {{schema}} is the quoted schema name.
-- Both functions take the runs as a JSON array of objects whose keys are the runs columns
-- (id, job, queue, input, priority, max_attempts, run_at, delay_ms, group_id, partition_key,
-- tenant_id, trace_context, history_level, metadata) and, for insert_runs only, unique_key,
-- unique_release_on, unique_ttl_ms, unique_on_conflict and depends_on (an array of
-- {run_id, condition, pass_output}). run_at takes precedence over delay_ms.

-- Inserts runs that have neither a unique key nor dependencies, in one set-based statement.
-- Returns the id and initial state of each run; every run is created.
create function {{schema}}.insert_plain_runs(p_runs json)
  returns table (run_id text, state text)
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
      id text, job text, queue text, input text, priority integer, max_attempts integer,
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

-- Inserts runs one after the other, so that unique keys and dependencies within one batch see
-- the earlier runs of the batch.
--
-- Unique keys: taking a key inserts a unique_keys row, or takes over a row whose ttl passed.
-- When another run holds the key, that run is returned with created = false; with
-- unique_on_conflict = 'replace' its input (and run_at, when the new run sets a time) is
-- overwritten while it has not started. A concurrent transaction inserting the same key blocks
-- on the key row until the first one commits or rolls back, so exactly one of them creates it.
--
-- Dependencies: each parent is share-locked, so it cannot finish between reading its state and
-- committing the edge. An unknown parent is recorded as an edge that can never be met, which
-- cancels the child; a child whose parents all finished is released at once.
--
-- Returns one row per input run, in input order.
create function {{schema}}.insert_runs(p_runs json)
  returns table (run_id text, created boolean, replaced boolean, state text)
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_now bigint := {{schema}}.now_ms();
  x record;
  v_due bigint;
  v_holder text;
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
      id text, job text, queue text, input text, priority integer, max_attempts integer,
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
        select d.run_id from json_to_recordset(x.depends_on) as d(run_id text)
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
      cross join lateral json_to_record(e.value) as d(run_id text, condition text,
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
