import { type Statement, statement } from './db.js';
import type { SchemaNames } from './names.js';
import { CLAIM_COLUMNS } from './rows.js';

/**
 * Builds the named statements of one schema. Work longer than a line or two lives in the
 * functions of the migrations under src/sql, and these statements call them or are short.
 * With `asyncClaimCommit`, the claim turns `synchronous_commit` off for its own transaction, so
 * its commit does not wait for the WAL flush.
 */
export function buildStatements({ quoted: s }: SchemaNames, asyncClaimCommit: boolean) {
  const claimCommit = asyncClaimCommit ? `, set_config('synchronous_commit', 'off', true)` : '';
  return {
    now: statement(`select ${s}.now_ms() as now`),
    insertPlain: statement(
      `select run_id, state from ${s}.insert_runs_tenancy($1::json, true, $2::text[],
       $3::text[], $4::uuid[])`,
    ),
    insert: statement(
      `select run_id, created, replaced, state from ${s}.insert_runs_tenancy($1::json, false,
       $2::text[], $3::text[], $4::uuid[])`,
    ),
    getRun: statement(`select * from ${s}.runs where id = $1::uuid`),
    claim: statement(
      `select ${CLAIM_COLUMNS.join(', ')}, bursts
       from ${s}.claim_run_columns($1, $2::text[], $3, $4)${claimCommit}`,
    ),
    heartbeat: statement(`select * from ${s}.heartbeat_runs($1::uuid[], $2::text[], $3::bigint)`),
    // Returns the positions (from 1) of the requests that did not take effect, usually none,
    // so a batch of outcomes sends back no rows for the client to read. With $5, a batch that
    // removes runs locks them all first (see migration 23).
    complete: statement(
      `select c as position
       from ${s}.complete_batch($1::uuid[], $2::text[], $3::text[], $4::boolean[], $5) as c`,
    ),
    fail: statement(
      `select * from ${s}.fail_runs($1::uuid[], $2::text[], $3::text[], $4::bigint[])`,
    ),
    release: statement(`select * from ${s}.release_runs($1::uuid[], $2::text[])`),
    cancel: statement(`select cancelled, state from ${s}.cancel_run($1::uuid)`),
    anyExpired: statement(
      `select exists (
         select 1 from ${s}.runs where state = 'running' and lease_expires_at <= ${s}.now_ms()
       ) as any`,
    ),
    pickExpired: statement(
      `select id, attempt, tenant_id from ${s}.runs
       where state = 'running' and lease_expires_at <= ${s}.now_ms()
       order by lease_expires_at, id
       limit $1
       for update skip locked`,
    ),
    stall: statement(`select * from ${s}.stall_runs($1::uuid[], $2::text[])`),
    suspend: statement(`select ${s}.suspend_run($1::uuid, $2, $3::bigint, $4) as ok`),
    suspendAfter: statement(
      `select ${s}.suspend_run($1::uuid, $2, ${s}.now_ms() + $3::bigint, $4) as ok`,
    ),
    signal: statement(`select ${s}.send_signal($1::uuid, $2, $3) as ok`),
    progress: statement(`select ${s}.set_progress($1::uuid, $2, $3) as ok`),
    nextDueAt: statement(
      `select min(run_at) as due from ${s}.runs
       where queue = any($1::text[])
         and (state = 'scheduled' or (state = 'suspended' and wake_at is not null))`,
    ),
    listDependencies: statement(
      `select d.parent_id, d.condition, d.pass_output, d.satisfied, p.state as parent_state
       from ${s}.dependencies as d join ${s}.runs as p on p.id = d.parent_id
       where d.child_id = $1::uuid
       order by d.position`,
    ),
    countGroup: statement(
      `select state, count(*)::integer as count from ${s}.runs where group_id = $1
       group by state`,
    ),
    putState: statement(putStateSql(s, false, false)),
    putStateIfAbsent: statement(putStateSql(s, true, false)),
    putStateLeased: statement(putStateSql(s, false, true)),
    putStateLeasedIfAbsent: statement(putStateSql(s, true, true)),
    getState: statement(`select value from ${s}.state where run_id = $1::uuid and key = $2`),
    listState: statement(`select key, value from ${s}.state where run_id = $1::uuid order by key`),
    appendEvents: statement(
      `insert into ${s}.events (run_id, group_id, tenant_id, type, at, attempt, data)
       select r.id, r.group_id, r.tenant_id, e.type, ${s}.now_ms(), e.attempt, e.data
       from json_array_elements($1::json) with ordinality as a(value, ord)
       cross join lateral json_to_record(a.value) as e(run_id uuid, type text, data text,
         attempt integer)
       join ${s}.runs as r on r.id = e.run_id
       where r.history_level = 'full'
         or (r.history_level = 'lifecycle' and e.type = any($2::text[]))
       order by a.ord`,
    ),
    upsertSchedule: statement(
      `select * from ${s}.upsert_schedule($1, $2, $3, $4, $5::bigint, $6, $7, $8, $9::bigint,
       $10, $11)`,
    ),
    // A schedule's key: $1 its tenant id ('' for none), $2 its name.
    getSchedule: statement(
      `select * from ${s}.schedules where coalesce(tenant_id, '') = $1 and name = $2`,
    ),
    listSchedules: statement(`select * from ${s}.schedules order by coalesce(tenant_id, ''), name`),
    listTenantSchedules: statement(
      `select * from ${s}.schedules where tenant_id = $1 order by name`,
    ),
    pauseSchedule: statement(
      `update ${s}.schedules set paused = $3, updated_at = ${s}.now_ms()
       where coalesce(tenant_id, '') = $1 and name = $2`,
    ),
    deleteSchedule: statement(
      `delete from ${s}.schedules where coalesce(tenant_id, '') = $1 and name = $2`,
    ),
    dueSchedules: statement(
      `select * from ${s}.schedules
       where not paused and next_fire_at <= ${s}.now_ms()
       order by next_fire_at, name, tenant_id
       limit $1`,
    ),
    fireSchedule: statement(
      `update ${s}.schedules
       set next_fire_at = $4::bigint, last_fire_at = $5::bigint, updated_at = ${s}.now_ms()
       where coalesce(tenant_id, '') = $1 and name = $2 and next_fire_at = $3::bigint`,
    ),
    setLimit: statement(
      `insert into ${s}.limits (scope, key, concurrency, rate_limit, rate_period_ms,
         burst_multiplier)
       values ($1, $2, $3, $4, $5, $6)
       on conflict (scope, key) do update set concurrency = excluded.concurrency,
         rate_limit = excluded.rate_limit, rate_period_ms = excluded.rate_period_ms,
         burst_multiplier = excluded.burst_multiplier`,
    ),
    deleteLimit: statement(`delete from ${s}.limits where scope = $1 and key = $2`),
    deleteRateClaims: statement(`delete from ${s}.rate_claims where scope = $1 and key = $2`),
    listLimits: statement(`select * from ${s}.limits order by scope, key`),
    retryRuns: statement(`select ${s}.retry_runs($1::uuid[]) as moved`),
    purgeRuns: statement(`select ${s}.purge_runs($1::text[], $2::bigint, $3) as purged`),
    compactEvents: statement(`select ${s}.compact_events($1::text[], $2::bigint, $3) as deleted`),
    registerWorker: statement(
      `insert into ${s}.workers as w (id, hostname, pid, queues, concurrency, started_at,
         last_seen_at)
       select $1, $2, $3, $4::text[], $5, t.now, t.now from (select ${s}.now_ms() as now) as t
       on conflict (id) do update set hostname = excluded.hostname, pid = excluded.pid,
         queues = excluded.queues, concurrency = excluded.concurrency,
         last_seen_at = excluded.last_seen_at`,
    ),
    listWorkers: statement(
      `select * from ${s}.workers where last_seen_at >= ${s}.now_ms() - $1::bigint
       order by id`,
    ),
    unregisterWorker: statement(`delete from ${s}.workers where id = $1`),
  };
}

/**
 * Writes one state value of an existing run ($1 run id, $2 key, $3 value, $4 lease token when
 * `leased`): only while the lease holds when `leased`, only when the key is missing when
 * `ifAbsent`. The row count tells whether it wrote.
 */
function putStateSql(s: string, ifAbsent: boolean, leased: boolean): string {
  const lease = leased ? ` and r.lease_token = $4 and r.state = 'running'` : '';
  const conflict = ifAbsent
    ? 'do nothing'
    : 'do update set value = excluded.value, updated_at = excluded.updated_at';
  return `insert into ${s}.state (run_id, key, value, updated_at)
    select $1::uuid, $2, $3, ${s}.now_ms()
    where exists (select 1 from ${s}.runs as r where r.id = $1::uuid${lease})
    on conflict (run_id, key) ${conflict}`;
}

export type Statements = ReturnType<typeof buildStatements>;
export type { Statement };
