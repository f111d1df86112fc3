-- Migration 20: claims commit without waiting for their WAL to reach disk.
--
-- Placeholders: {{schema}} is the quoted schema name.
--
-- The storage now calls claim_runs_async_commit. It claims as claim_runs_tenancy_with_bursts of
-- migration 13 does, and turns synchronous_commit off for its own transaction, so the claim
-- returns without waiting for the WAL flush. A server crash can then lose the last claims
-- before it. Their runs are claimable again after recovery, attempt not counted, as the runs of
-- a worker that crashed become claimable when their leases expire: a run may run again, which
-- at-least-once delivery allows. The worker's outcome for such a run is fenced out, since its
-- lease token is gone. Every later commit that waits for its WAL, such as the completion of any
-- run, also makes the claims before it durable.

create function {{schema}}.claim_runs_async_commit(p_worker text, p_queues text[],
  p_limit integer, p_lease_ms bigint)
  returns table (claimed {{schema}}.runs, bursts jsonb)
  language plpgsql volatile
  as $fn$
begin
  perform set_config('synchronous_commit', 'off', true);
  return query
  select c.claimed, c.bursts
  from {{schema}}.claim_runs_tenancy_with_bursts(p_worker, p_queues, p_limit, p_lease_ms) as c;
end
$fn$;
