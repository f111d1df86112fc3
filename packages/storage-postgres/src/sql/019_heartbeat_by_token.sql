-- Migration 19: heartbeats find their runs through the primary key.
--
-- Placeholders: {{schema}} is the quoted schema name.
--
-- The storage extended leases with an UPDATE that matched each request with
-- `r.id = q.id and r.lease_token = q.token and r.state = 'running'`, and so read every running
-- run through runs_running, as the batch functions did before migration 18. heartbeat_runs
-- fences by lease token alone, turns sequential scans off and takes the requests in id order,
-- as those functions do. Processes
-- of older versions keep sending their own statement, which still works.

-- Extends the leases of the runs whose lease token matches, to now plus p_lease_ms. Returns the
-- id and token of each request whose lease was extended.
create function {{schema}}.heartbeat_runs(p_ids text[], p_tokens text[], p_lease_ms bigint)
  returns table (run_id text, lease_token text)
  language sql volatile
  set enable_seqscan = off
  as $fn$
    update {{schema}}.runs as r set lease_expires_at = {{schema}}.now_ms() + p_lease_ms
    from (
      select * from unnest(p_ids, p_tokens) as u(id, token)
      order by u.id collate "C"
    ) as q
    where r.id = q.id and r.lease_token = q.token
    returning r.id, q.token
$fn$;
