// Measures what the shape of a table costs PostgreSQL in a claim and a delete, for profiling.
// For each shape it fills a table of 20,000 rows and claims them in batches of 250 with one
// UPDATE joined to a locking subquery. Each claimed batch is then deleted by id. Prints the
// server CPU time per row of each statement (the connection's backend, from
// /proc/PID/schedstat). Not part of `pnpm bench`, and it does not use ZapJobs. The shapes:
//
//   - wide text key: shaped like the storage's runs table (30 columns, a text primary key,
//     text lease tokens, the claim index and the index of running runs);
//   - narrow uuid key: 10 columns, a uuid primary key and a bigint lease token, same indexes;
//   - wide uuid key and narrow text key: the first two with their key types swapped;
//   - narrow bigint key: the narrow table with a bigint identity key.
//
//   node profile/table-shapes.mjs
//
// ZAPJOBS_PG_URL chooses the server (default: the local one). It uses the schema
// zjtableshapes, and drops it at the end.
import { readFileSync } from 'node:fs';
import pg from 'pg';

const PG_URL = process.env.ZAPJOBS_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ROWS = 20_000;
const BATCH = 250;
const SCHEMA = 'zjtableshapes';

const client = new pg.Client(PG_URL);
await client.connect();
const { rows } = await client.query('select pg_backend_pid() as pid');
const backend = rows[0].pid;

/** Returns the CPU time in µs of this connection's backend process (Linux). */
function backendCpuUs() {
  return Number(readFileSync(`/proc/${backend}/schedstat`, 'utf8').split(' ')[0]) / 1_000;
}

const SHAPES = [
  {
    name: 'wide text key',
    create: `create table ${SCHEMA}.t (id text collate "C" primary key, job text not null,
        queue text not null, state text not null, input text not null, output text, error text,
        priority integer not null, attempt integer not null default 0,
        max_attempts integer not null, run_at bigint not null, created_at bigint not null,
        started_at bigint, first_started_at bigint, finished_at bigint, lease_token text,
        lease_expires_at bigint, worker_id text, progress text, group_id text,
        partition_key text, tenant_id text, unique_key text, unique_release_on text,
        trace_context text, history_level text not null, metadata text, wake_at bigint,
        wait_signal text, fair_key text) with (fillfactor = 90);
      create index t_claim on ${SCHEMA}.t (queue, priority desc, run_at, id)
        where state in ('available', 'scheduled');
      create index t_running on ${SCHEMA}.t (queue, partition_key) where state = 'running'`,
    fill: `insert into ${SCHEMA}.t (id, job, queue, state, input, priority, max_attempts, run_at,
        created_at, history_level)
      select gen_random_uuid()::text, 'noop', 'default', 'available',
        '{"index":' || g || '}', 0, 3, 1, 1, 'off'
      from generate_series(1, $1) as g order by 1`,
    claim: `with j as (
        select r.id from ${SCHEMA}.t as r
        where r.queue = 'default' and r.state in ('available', 'scheduled') and r.run_at <= 2
        order by r.priority desc, r.run_at, r.id
        limit ${BATCH}
        for update skip locked)
      update ${SCHEMA}.t as r
      set state = 'running', attempt = r.attempt + 1, lease_token = 'token.' || r.id,
        lease_expires_at = 100, worker_id = 'worker-1', started_at = 5
      from j where r.id = j.id
      returning r.id, r.job, r.queue, r.input, r.attempt, r.lease_token`,
    remove: `delete from ${SCHEMA}.t as r using unnest($1::text[]) as u(id) where r.id = u.id`,
  },
  {
    name: 'narrow uuid key',
    create: `create table ${SCHEMA}.t (id uuid primary key, queue text not null,
        state smallint not null, input text not null, priority integer not null,
        attempt integer not null default 0, run_at bigint not null, lease_token bigint,
        lease_expires_at bigint, worker_id text);
      create index t_claim on ${SCHEMA}.t (queue, priority desc, run_at, id) where state = 0;
      create index t_running on ${SCHEMA}.t (queue) where state = 1`,
    fill: `insert into ${SCHEMA}.t (id, queue, state, input, priority, run_at)
      select gen_random_uuid(), 'default', 0, '{"index":' || g || '}', 0, 1
      from generate_series(1, $1) as g order by 1`,
    claim: `with j as (
        select r.id from ${SCHEMA}.t as r
        where r.queue = 'default' and r.state = 0 and r.run_at <= 2
        order by r.priority desc, r.run_at, r.id
        limit ${BATCH}
        for update skip locked)
      update ${SCHEMA}.t as r
      set state = 1, attempt = r.attempt + 1, lease_token = 7, lease_expires_at = 100,
        worker_id = 'worker-1'
      from j where r.id = j.id
      returning r.id, r.queue, r.input, r.attempt, r.lease_token`,
    remove: `delete from ${SCHEMA}.t as r using unnest($1::uuid[]) as u(id) where r.id = u.id`,
  },
];
SHAPES.push({
  ...SHAPES[0],
  name: 'wide uuid key',
  create: SHAPES[0].create.replace('id text collate "C" primary key', 'id uuid primary key'),
  fill: SHAPES[0].fill.replace('gen_random_uuid()::text', 'gen_random_uuid()'),
  remove: SHAPES[0].remove.replace('text[]', 'uuid[]'),
});
SHAPES.push({
  ...SHAPES[1],
  name: 'narrow text key',
  create: SHAPES[1].create.replace('id uuid primary key', 'id text collate "C" primary key'),
  fill: SHAPES[1].fill.replace('gen_random_uuid()', 'gen_random_uuid()::text'),
  remove: SHAPES[1].remove.replace('uuid[]', 'text[]'),
});
SHAPES.push({
  ...SHAPES[1],
  name: 'narrow bigint key',
  create: SHAPES[1].create.replace(
    'id uuid primary key',
    'id bigint generated always as identity primary key',
  ),
  fill: `insert into ${SCHEMA}.t (queue, state, input, priority, run_at)
    select 'default', 0, '{"index":' || g || '}', 0, 1 from generate_series(1, $1) as g`,
  remove: SHAPES[1].remove.replace('uuid[]', 'bigint[]'),
});

/** Fills one shape's table, claims and deletes every row, and returns µs of CPU per row. */
async function measure(shape) {
  await client.query(`drop schema if exists ${SCHEMA} cascade; create schema ${SCHEMA}`);
  await client.query(shape.create);
  await client.query(shape.fill, [ROWS]);
  await client.query(`analyze ${SCHEMA}.t`);
  let claimUs = 0;
  let removeUs = 0;
  let claimed = 0;
  for (;;) {
    let before = backendCpuUs();
    const result = await client.query(shape.claim);
    claimUs += backendCpuUs() - before;
    if (result.rowCount === 0) break;
    claimed += result.rowCount;

    before = backendCpuUs();
    await client.query(shape.remove, [result.rows.map((row) => row.id)]);
    removeUs += backendCpuUs() - before;
  }
  return { claim: claimUs / claimed, remove: removeUs / claimed };
}

// Two rounds, so that a change in the machine's speed shows as a difference between them.
for (let round = 1; round <= 2; round++) {
  for (const shape of SHAPES) {
    const { claim, remove } = await measure(shape);
    console.log(
      `${shape.name}: claim ${claim.toFixed(1)} µs per row, delete ${remove.toFixed(1)} µs ` +
        `per row (round ${round})`,
    );
  }
}
await client.query(`drop schema ${SCHEMA} cascade`);
await client.end();
