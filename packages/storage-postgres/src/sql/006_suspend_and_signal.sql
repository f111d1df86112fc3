-- Migration 6: suspending runs and delivering signals.
--
-- Placeholders: {{schema}} is the quoted schema name.

-- Parks a running run whose lease p_token still holds, giving the lease back without counting
-- the attempt. p_wake_at: absolute wake-up time or null. p_signal: signal name to wait for or
-- null. When the signal already arrived (state key 'signal:<name>' exists) the run becomes
-- available at once and appends 'resumed' after 'suspended'. A timed suspension sets run_at to
-- the wake-up time, which is when claims take the run again.
-- Returns false when the lease is not held.
create function {{schema}}.suspend_run(p_id text, p_token text, p_wake_at bigint,
  p_signal text)
  returns boolean
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_now bigint := {{schema}}.now_ms();
  v_run {{schema}}.runs;
  v_arrived boolean;
begin
  select * into v_run from {{schema}}.runs as r
  where r.id = p_id and r.lease_token = p_token and r.state = 'running'
  for update;
  if not found then
    return false;
  end if;

  v_arrived := p_signal is not null and exists (
    select 1 from {{schema}}.state as s where s.run_id = p_id and s.key = 'signal:' || p_signal
  );

  update {{schema}}.runs as r
  set state = case when v_arrived then 'available' else 'suspended' end,
    attempt = greatest(r.attempt - 1, 0),
    lease_token = null,
    lease_expires_at = null,
    wake_at = case when v_arrived then null else p_wake_at end,
    wait_signal = case when v_arrived then null else p_signal end,
    run_at = case
      when v_arrived then least(r.run_at, v_now)
      when p_wake_at is not null then p_wake_at
      else r.run_at
    end
  where r.id = p_id;

  if v_run.history_level <> 'off' then
    insert into {{schema}}.events (run_id, group_id, tenant_id, type, at, attempt, data)
    values (p_id, v_run.group_id, v_run.tenant_id, 'suspended', v_now, v_run.attempt,
      json_strip_nulls(json_build_object('wakeAt', p_wake_at, 'signal', p_signal))::text);
    if v_arrived then
      insert into {{schema}}.events (run_id, group_id, tenant_id, type, at)
      values (p_id, v_run.group_id, v_run.tenant_id, 'resumed', v_now);
    end if;
  end if;

  if v_arrived or p_wake_at is not null then
    perform {{schema}}.notify_work(array[v_run.queue]);
  end if;
  return true;
end
$fn$;

-- Delivers a signal: stores p_payload as state key 'signal:<name>', appends 'signal' with data
-- {name}, and makes the run available when it is suspended waiting for this signal (appending
-- 'resumed'). Returns false when the run does not exist or is terminal.
create function {{schema}}.send_signal(p_id text, p_name text, p_payload text)
  returns boolean
  language plpgsql volatile
  as $fn$
#variable_conflict use_column
declare
  v_now bigint := {{schema}}.now_ms();
  v_run {{schema}}.runs;
begin
  select * into v_run from {{schema}}.runs as r where r.id = p_id for update;
  if not found or v_run.state in ('completed', 'failed', 'cancelled') then
    return false;
  end if;

  insert into {{schema}}.state as s (run_id, key, value, updated_at)
  values (p_id, 'signal:' || p_name, p_payload, v_now)
  on conflict (run_id, key) do update set value = excluded.value, updated_at = excluded.updated_at;

  if v_run.history_level <> 'off' then
    insert into {{schema}}.events (run_id, group_id, tenant_id, type, at, data)
    values (p_id, v_run.group_id, v_run.tenant_id, 'signal', v_now,
      json_build_object('name', p_name)::text);
  end if;

  if v_run.state = 'suspended' and v_run.wait_signal = p_name then
    update {{schema}}.runs as r
    set state = 'available', wake_at = null, wait_signal = null,
      run_at = least(r.run_at, v_now)
    where r.id = p_id;
    if v_run.history_level <> 'off' then
      insert into {{schema}}.events (run_id, group_id, tenant_id, type, at)
      values (p_id, v_run.group_id, v_run.tenant_id, 'resumed', v_now);
    end if;
    perform {{schema}}.notify_work(array[v_run.queue]);
  end if;

  if octet_length(p_id) + octet_length(p_name) <= 4000 then
    perform pg_notify({{channel}}, 's|' || p_id || '|' || p_name);
  end if;
  return true;
end
$fn$;
