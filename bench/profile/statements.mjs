// Times the PostgreSQL storage's claim and completion statements alone, for profiling: it
// enqueues no-op runs into a fresh schema, then claims them in batches and completes each batch
// on one connection, with no worker. Prints the server CPU time per run of each statement (the
// connection's backend, from /proc/PID/schedstat in nanoseconds) and its wall time per run as
// the client saw it. Not part of `pnpm bench`.
//
//   node profile/statements.mjs [runs] [batch]        (default 20,000 runs, batches of 250)
//   REMOVE_ON_COMPLETE=1 node profile/statements.mjs  (completions delete their runs)
//
// ZAPJOBS_PG_URL chooses the server (default: the local one). The schema is dropped at the end.
import { connectMeasured, fillSchema } from './pg-runs.mjs';

const runs = Number(process.argv[2] ?? 20_000);
const batch = Number(process.argv[3] ?? 250);
const remove = process.env.REMOVE_ON_COMPLETE === '1';
const schema = `zjstatements${process.pid}`;

const zap = await fillSchema(schema, runs);
const { client, cpuUs } = await connectMeasured();
const backendCpuMs = () => cpuUs() / 1_000;

// The functions the storage calls (src/internal/statements.ts). The claim here reads only the
// id and lease token of each run, where the storage reads 23 columns.
const s = `"${schema}"`;
const claimSql = `select id, lease_token from ${s}.claim_run_columns($1, $2::text[], $3, $4)`;
const completeSql = `select c from ${s}.complete_batch($1::uuid[], $2::text[], $3::text[],
  $4::boolean[], false) as c`;

const totals = { claimCpu: 0, claimWall: 0, completeCpu: 0, completeWall: 0, claimed: 0 };
for (;;) {
  let cpu = backendCpuMs();
  let wall = performance.now();
  const claimed = await client.query({
    text: claimSql,
    values: ['statements', ['default'], batch, 30_000],
    rowMode: 'array',
  });
  totals.claimCpu += backendCpuMs() - cpu;
  totals.claimWall += performance.now() - wall;
  if (claimed.rows.length === 0) break;
  totals.claimed += claimed.rows.length;

  const ids = claimed.rows.map((row) => row[0]);
  cpu = backendCpuMs();
  wall = performance.now();
  await client.query(completeSql, [
    ids,
    claimed.rows.map((row) => row[1]),
    ids.map(() => 'null'),
    ids.map(() => remove),
  ]);
  totals.completeCpu += backendCpuMs() - cpu;
  totals.completeWall += performance.now() - wall;
}

const perRun = (ms) => ((ms * 1_000) / totals.claimed).toFixed(1);
console.log(
  `${totals.claimed} runs in batches of ${batch}${remove ? ', removed on completion' : ''}: ` +
    `claim ${perRun(totals.claimCpu)} µs server CPU per run ` +
    `(${perRun(totals.claimWall)} µs wall), ` +
    `complete ${perRun(totals.completeCpu)} µs (${perRun(totals.completeWall)} µs wall)`,
);
await client.query(`drop schema ${s} cascade`);
await client.end();
await zap.close();
