// Helpers of the PostgreSQL profiles: a storage schema filled with no-op runs, and a
// connection that reads its own backend's CPU time. Not part of `pnpm bench`.
import { readFileSync } from 'node:fs';
import { consoleLogger, defineJob, ZapJobs } from '@zapjobs/core';
import { PostgresStorage } from '@zapjobs/storage-postgres';
import pg from 'pg';
import { Type } from 'typebox';

export const PG_URL = process.env.ZAPJOBS_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Migrates `schema` and enqueues `runs` no-op runs without history into its queue `default`.
 * Returns the client, whose `close()` ends the storage's connections.
 */
export async function fillSchema(schema, runs) {
  const storage = new PostgresStorage({ connectionString: PG_URL, schema });
  const job = defineJob({
    name: 'noop',
    input: Type.Object({ index: Type.Number() }),
    output: Type.Null(),
    defaults: { historyLevel: 'off' },
    handler: () => null,
  });
  const zap = new ZapJobs({ storage, jobs: [job], logger: consoleLogger('warn') });
  await zap.init();
  for (let first = 0; first < runs; first += 1_000) {
    const count = Math.min(1_000, runs - first);
    await zap.enqueueMany(
      Array.from({ length: count }, (_, offset) => ({ job, input: { index: first + offset } })),
    );
  }
  return zap;
}

/**
 * Opens a connection and returns it with a function that reads the CPU time, in µs, of its
 * backend process from /proc/PID/schedstat (Linux).
 */
export async function connectMeasured() {
  const client = new pg.Client(PG_URL);
  await client.connect();
  const { rows } = await client.query('select pg_backend_pid() as pid');
  const stat = `/proc/${rows[0].pid}/schedstat`;
  const cpuUs = () => Number(readFileSync(stat, 'utf8').split(' ')[0]) / 1_000;
  return { client, cpuUs };
}
