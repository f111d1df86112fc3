/**
 * Measures the unpartitioned hot path of a storage backend: inserting runs without a tenant and
 * claiming them with one claimer, the case tenancy must not slow down. Prints a markdown table.
 *
 * Usage: node --import tsx bench/tenancy/claim-hot-path.ts [sqlite|postgres|redis ...]
 * Servers: ZAPJOBS_PG_URL (default postgres://postgres@127.0.0.1:5432/test) and
 * ZAPJOBS_REDIS_URL (default redis://127.0.0.1:6379). Build the packages first.
 */
import { randomUUID } from 'node:crypto';
import type { NewRun, Storage } from '@zapjobs/core/storage';
import { type BackendName, closeBackend, openBackend } from './backends.js';

const RUNS = Number(process.env.HOT_PATH_RUNS ?? 4_000);
const CLAIM_LIMIT = 10;
const ROUNDS = 3;

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

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

interface RoundResult {
  insertPerSecond: number;
  claimP50Ms: number;
  claimP95Ms: number;
  drainPerSecond: number;
}

async function round(storage: Storage): Promise<RoundResult> {
  const insertStart = performance.now();
  for (let i = 0; i < RUNS; i++) await storage.insertRuns([newRun()]);
  const insertMs = performance.now() - insertStart;

  const latencies: number[] = [];
  const drainStart = performance.now();
  for (;;) {
    const started = performance.now();
    const claimed = await storage.claim({
      workerId: 'bench',
      queues: ['default'],
      limit: CLAIM_LIMIT,
      leaseMs: 60_000,
    });
    latencies.push(performance.now() - started);
    if (claimed.length === 0) break;
    await storage.complete(
      claimed.map((run) => ({ runId: run.id, leaseToken: run.leaseToken, output: 'null' })),
    );
  }
  const drainMs = performance.now() - drainStart;
  latencies.sort((a, b) => a - b);
  return {
    insertPerSecond: (RUNS / insertMs) * 1000,
    claimP50Ms: percentile(latencies, 50),
    claimP95Ms: percentile(latencies, 95),
    drainPerSecond: (RUNS / drainMs) * 1000,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

const backends = (
  process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['sqlite', 'postgres']
) as BackendName[];

console.log(
  `Hot path, ${RUNS} runs without tenant, one claimer, claim limit ${CLAIM_LIMIT}, ` +
    `median of ${ROUNDS} rounds\n`,
);
console.log(
  '| backend | inserts/s (1 per call) | claim p50 ms | claim p95 ms | claim+complete runs/s |',
);
console.log('|---|---|---|---|---|');
for (const name of backends) {
  const results: RoundResult[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const backend = await openBackend(name);
    try {
      results.push(await round(backend.storage));
    } finally {
      await closeBackend(backend);
    }
  }
  const pick = (key: keyof RoundResult) => median(results.map((result) => result[key]));
  console.log(
    `| ${name} | ${pick('insertPerSecond').toFixed(0)} | ${pick('claimP50Ms').toFixed(3)} | ` +
      `${pick('claimP95Ms').toFixed(3)} | ${pick('drainPerSecond').toFixed(0)} |`,
  );
}
