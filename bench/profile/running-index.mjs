// Measures what the index of running runs costs a claim, for profiling. For each variant it
// enqueues no-op runs into a fresh schema of the storage, changes the index, then claims the
// runs in batches with the storage's claim statement and completes each batch with removal.
// Prints the server CPU time per claimed run (the connection's backend, from
// /proc/PID/schedstat). Two rounds, so that a change in the machine's speed shows as a
// difference between them. Not part of `pnpm bench`. The variants:
//
//   - as migrated: the index as the migrations leave it (no deduplication since migration 22);
//   - deduplicated: the same index with deduplicate_items = on, as before migration 22;
//   - no index: the index dropped, which no release does, to show its whole cost.
//
//   node profile/running-index.mjs [runs] [batch]      (default 40,000 runs, batches of 380)
//
// ZAPJOBS_PG_URL chooses the server (default: the local one). Each schema is dropped at the end.
import { connectMeasured, fillSchema } from './pg-runs.mjs';

const runs = Number(process.argv[2] ?? 40_000);
const batch = Number(process.argv[3] ?? 380);

const VARIANTS = [
  { name: 'as migrated', change: null },
  {
    name: 'deduplicated',
    change: (s) => `alter index ${s}.runs_running set (deduplicate_items = on)`,
  },
  { name: 'no index', change: (s) => `drop index ${s}.runs_running` },
];

/** Claims and removes every run of a fresh schema; returns µs of backend CPU per claimed run. */
async function measure(variant, round) {
  const schema = `zjrunningindex${process.pid}r${round}${VARIANTS.indexOf(variant)}`;
  const s = `"${schema}"`;
  const zap = await fillSchema(schema, runs);
  const { client, cpuUs } = await connectMeasured();
  if (variant.change !== null) await client.query(variant.change(s));

  // The storage's own claim statement (src/internal/statements.ts), reading every column.
  const claimSql = `select id, job, queue, input, output, error, priority, attempt, max_attempts,
      run_at, created_at, started_at, first_started_at, finished_at, progress, group_id,
      partition_key, tenant_id, unique_key, trace_context, history_level, metadata, lease_token,
      bursts
    from ${s}.claim_run_columns($1, $2::text[], $3, $4)`;
  const completeSql = `select * from ${s}.complete_runs($1::uuid[], $2::text[], $3::text[],
    $4::boolean[])`;
  let claimUs = 0;
  let claimed = 0;
  for (;;) {
    const before = cpuUs();
    const result = await client.query({
      name: 'claim',
      text: claimSql,
      values: ['profile', ['default'], batch, 30_000],
      rowMode: 'array',
    });
    claimUs += cpuUs() - before;
    if (result.rows.length === 0) break;
    claimed += result.rows.length;
    const ids = result.rows.map((row) => row[0]);
    await client.query({
      name: 'complete',
      text: completeSql,
      values: [ids, result.rows.map((row) => row[22]), ids.map(() => 'null'), ids.map(() => true)],
    });
  }
  await client.query(`drop schema ${s} cascade`);
  await client.end();
  await zap.close();
  return claimUs / claimed;
}

for (let round = 1; round <= 2; round++) {
  for (const variant of VARIANTS) {
    const perRun = await measure(variant, round);
    console.log(
      `${variant.name}: claim ${perRun.toFixed(1)} µs server CPU per run (round ${round})`,
    );
  }
}
