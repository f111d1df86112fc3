/**
 * Measures what tenancy costs runs without a tenant. On PostgreSQL it alternates the old claim
 * and insert functions with the new tenancy wrappers call by call on one connection, so the
 * machine's noise hits both alike. On SQLite it drains runs through the plain claim, the
 * tenant-aware claim (forced by a tenant with a concurrency quota) and a fair queue.
 *
 * Usage: node --import tsx bench/tenancy/tenant-path-cost.ts [sqlite|postgres ...]
 * PostgreSQL at ZAPJOBS_PG_URL (default postgres://postgres@127.0.0.1:5432/test).
 */
import { randomUUID } from 'node:crypto';
import type { NewRun, Storage } from '@zapjobs/core/storage';
import pg from 'pg';
import { closeBackend, openBackend } from './backends.js';

const PG_URL = process.env.ZAPJOBS_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const CALLS = 300;
const CLAIM_LIMIT = 10;

function newRun(): NewRun {
  return {
    id: randomUUID(),
    job: 'bench',
    queue: 'default',
    input: '{}',
    priority: 0,
    maxAttempts: 1,
    historyLevel: 'off',
  };
}

async function fill(storage: Storage, count: number): Promise<void> {
  for (let i = 0; i < count; i += 500) {
    await storage.insertRuns(Array.from({ length: Math.min(500, count - i) }, newRun));
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** The configurations compared: none, a capped tenant elsewhere, the queue fair by tenant. */
const SETUPS: [string, (storage: Storage) => Promise<unknown>][] = [
  ['no tenancy rule', async () => undefined],
  [
    'a tenant with maxConcurrentRuns exists',
    (storage) =>
      storage.upsertTenant!({ id: 'other', weight: 1, quotas: { maxConcurrentRuns: 5 } }),
  ],
  ['queue fair by tenant', (storage) => storage.setFairness!({ queue: 'default', by: 'tenant' })],
];

async function postgres(): Promise<void> {
  console.log('\n| PostgreSQL, p50 of one call | old function | new wrapper |');
  console.log('|---|---|---|');
  for (const [label, setup] of SETUPS) {
    const backend = await openBackend('postgres');
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      await setup(backend.storage);
      await fill(backend.storage, CALLS * CLAIM_LIMIT * 2 + 1_000);
      const schema = pg.escapeIdentifier((backend.storage as unknown as { schema: string }).schema);
      const claim = (fn: string) => () =>
        client.query({
          name: fn,
          text: `select * from ${schema}.${fn}($1, $2::text[], $3, $4)`,
          values: ['bench', ['default'], CLAIM_LIMIT, 60_000],
        });
      // The plain claim, and the claim with the tenancy checks that the storage calls.
      const [oldClaim, newClaim] = await alternate(
        claim('claim_runs_with_bursts'),
        claim('claim_next_runs'),
      );
      console.log(`| claim of ${CLAIM_LIMIT}, ${label} | ${oldClaim} µs | ${newClaim} µs |`);
      if (label === 'no tenancy rule') {
        const insert = (wrapper: boolean) => () => {
          const run = { ...newRun(), max_attempts: 1, history_level: 'off' };
          const payload = JSON.stringify([run]);
          return wrapper
            ? client.query({
                name: 'insert-new',
                text: `select run_id, state from ${schema}.insert_runs_tenancy($1::json, true,
                  $2::text[], $3::text[], $4::uuid[])`,
                values: [payload, [], ['default'], [run.id]],
              })
            : client.query({
                name: 'insert-old',
                text: `select run_id, state from ${schema}.insert_plain_runs($1::json)`,
                values: [payload],
              });
        };
        const [oldInsert, newInsert] = await alternate(insert(false), insert(true));
        console.log(`| insert of 1, ${label} | ${oldInsert} µs | ${newInsert} µs |`);
      }
    } finally {
      await client.end();
      await closeBackend(backend);
    }
  }
}

/** Runs `a` and `b` alternately CALLS times each; returns their median times in µs. */
async function alternate(a: () => Promise<unknown>, b: () => Promise<unknown>) {
  const times: [number[], number[]] = [[], []];
  for (let i = 0; i < CALLS; i++) {
    for (const [index, call] of [a, b].entries()) {
      const started = performance.now();
      await call();
      times[index]!.push((performance.now() - started) * 1000);
    }
  }
  return times.map((values) => Math.round(median(values)));
}

async function sqlite(): Promise<void> {
  console.log('\n| SQLite, 6000 runs, claim of 10 then complete | µs per run |');
  console.log('|---|---|');
  for (const [label, setup] of SETUPS) {
    const backend = await openBackend('sqlite');
    try {
      await setup(backend.storage);
      await fill(backend.storage, 6_000);
      const started = performance.now();
      let drained = 0;
      for (;;) {
        const claimed = await backend.storage.claim({
          workerId: 'bench',
          queues: ['default'],
          limit: CLAIM_LIMIT,
          leaseMs: 60_000,
        });
        if (claimed.length === 0) break;
        drained += claimed.length;
        await backend.storage.complete(
          claimed.map((run) => ({ runId: run.id, leaseToken: run.leaseToken, output: 'null' })),
        );
      }
      const perRun = ((performance.now() - started) * 1000) / drained;
      console.log(`| ${label} | ${perRun.toFixed(0)} |`);
    } finally {
      await closeBackend(backend);
    }
  }
}

const targets = process.argv.length > 2 ? process.argv.slice(2) : ['sqlite', 'postgres'];
if (targets.includes('sqlite')) await sqlite();
if (targets.includes('postgres')) await postgres();
