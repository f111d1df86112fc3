-- Migration 12: event compaction, and the `retrying` event of a manual retry.
--
-- Placeholders: {{schema}} is the quoted schema name.
--
-- events_compactable holds the events that compact_events may delete: every type except the
-- lifecycle types that compaction keeps. Lifecycle events, most of every history, stay out of
-- it, so appending them costs no extra index write. compact_events repeats the index predicate
-- word for word, which lets the planner use the partial index. The index is built inside the
-- migration transaction, which blocks event writes while it builds.

create index events_compactable on {{schema}}.events (at, id)
  where type not in ('enqueued', 'started', 'completed', 'failed', 'retrying', 'cancelled',
    'stalled', 'released', 'suspended', 'resumed', 'dependencies-met', 'signal');

-- Deletes up to p_limit events whose type is in p_types and whose time is before p_before,
-- oldest first (time, then id). Events that a concurrent call is deleting are skipped.
-- Returns how many events this call deleted.
create function {{schema}}.compact_events(p_types text[], p_before bigint, p_limit integer)
  returns integer
  language sql volatile
  as $$
    with doomed as (
      select e.id
      from {{schema}}.events as e
      where e.type not in ('enqueued', 'started', 'completed', 'failed', 'retrying',
          'cancelled', 'stalled', 'released', 'suspended', 'resumed', 'dependencies-met',
          'signal')
        and e.at < p_before
        and e.type = any(p_types)
      order by e.at, e.id
      limit p_limit
      for update skip locked
    ), deleted as (
      delete from {{schema}}.events as e using doomed as d where e.id = d.id returning 1
    )
    select count(*)::integer from deleted
  $$;

-- Moves failed or cancelled runs among p_ids back to available with attempt 0, clearing their
-- finish time, appends 'retrying' with attempt 0 and data {"manual":true}, and wakes workers of
-- their queues. Returns how many runs moved. Replaces migration 7's version, which appended no
-- event.
create or replace function {{schema}}.retry_runs(p_ids text[])
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
