/**
 * Noisy-neighbour scenario: tenant A enqueues a flood of runs, then tenant B enqueues a few,
 * on one queue that is fair by tenant. Measures B's wait (first start minus enqueue, both on
 * the storage clock) alone and under the flood, the same flood on a plain queue for contrast,
 * and the shares of two saturating tenants of weights 3 and 1. Prints markdown tables.
 *
 * Usage: node --import tsx bench/tenancy/noisy-neighbour.ts [sqlite|postgres|redis ...]
 * Settings (environment): A_RUNS (20000), B_RUNS (200), WORKERS (2 clients in this process,
 * each with its own storage connection), CONCURRENCY (8 per worker), HANDLER_MS (5),
 * WEIGHTED_RUNS (4000 per tenant). Build the packages first.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { defineJob, silentLogger, ZapJobs } from '@zapjobs/core';
import { Type } from 'typebox';
import { type Backend, type BackendName, closeBackend, openBackend } from './backends.js';

const A_RUNS = Number(process.env.A_RUNS ?? 20_000);
const B_RUNS = Number(process.env.B_RUNS ?? 200);
const WORKERS = Number(process.env.WORKERS ?? 2);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 8);
const HANDLER_MS = Number(process.env.HANDLER_MS ?? 5);
const WEIGHTED_RUNS = Number(process.env.WEIGHTED_RUNS ?? 4_000);
const QUEUE = 'noisy';
const BATCH = 500;

const work = defineJob({
  name: 'noisy.work',
  input: Type.Object({}),
  output: Type.Null(),
  defaults: { queue: QUEUE, historyLevel: 'off', attempts: 1 },
  handler: async () => {
    await sleep(HANDLER_MS);
    return null;
  },
});

interface Cluster {
  producer: ZapJobs;
  workers: ZapJobs[];
  close(): Promise<void>;
}

/** Starts a producer client on the backend's storage and WORKERS clients that each run a worker. */
async function startCluster(backend: Backend, fair: boolean): Promise<Cluster> {
  const producer = new ZapJobs({ storage: backend.storage, jobs: [work], logger: silentLogger });
  await producer.init();
  if (fair) await producer.fairness.set(QUEUE, { by: 'tenant' });
  const workers: ZapJobs[] = [];
  for (let i = 0; i < WORKERS; i++) {
    const client = new ZapJobs({
      storage: await backend.open(),
      jobs: [work],
      logger: silentLogger,
    });
    await client
      .createWorker({ queues: [QUEUE], concurrency: CONCURRENCY, pollIntervalMs: 50 })
      .start();
    workers.push(client);
  }
  return {
    producer,
    workers,
    async close() {
      await Promise.all(workers.map((client) => client.close()));
    },
  };
}

async function enqueueRuns(zap: ZapJobs, tenantId: string, count: number): Promise<void> {
  const client = zap.forTenant(tenantId);
  for (let done = 0; done < count; done += BATCH) {
    const size = Math.min(BATCH, count - done);
    await client.enqueueMany(Array.from({ length: size }, () => ({ job: work, input: {} })));
  }
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

interface WaitStats {
  p50: number;
  p99: number;
  max: number;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

/** Waits of a tenant's runs: first start minus enqueue, in ms on the storage clock. */
async function waitsOf(zap: ZapJobs, tenantId: string): Promise<WaitStats> {
  const waits: number[] = [];
  let cursor: string | undefined;
  do {
    const page = await zap.listRuns({ tenantId, limit: 1000, ...(cursor ? { cursor } : {}) });
    for (const run of page.runs) {
      if (run.firstStartedAt !== null) {
        waits.push(run.firstStartedAt.getTime() - run.createdAt.getTime());
      }
    }
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  waits.sort((a, b) => a - b);
  return { p50: percentile(waits, 50), p99: percentile(waits, 99), max: waits.at(-1) ?? 0 };
}

async function startedCount(zap: ZapJobs, tenantId: string): Promise<number> {
  const counts = await zap.countRuns({ tenantId });
  return counts.running + counts.completed + counts.failed;
}

/** B's waits on an idle, fair queue. */
async function bAlone(name: BackendName): Promise<WaitStats> {
  const backend = await openBackend(name);
  const cluster = await startCluster(backend, true);
  try {
    await enqueueRuns(cluster.producer, 'B', B_RUNS);
    await waitUntil(
      'B to start',
      async () => (await startedCount(cluster.producer, 'B')) >= B_RUNS,
      120_000,
    );
    return await waitsOf(cluster.producer, 'B');
  } finally {
    await cluster.close();
    await closeBackend(backend);
  }
}

/** B's waits while A floods the queue; also A's backlog when B's last run started. */
async function bUnderFlood(
  name: BackendName,
  fair: boolean,
): Promise<WaitStats & { aQueued: number; aStarted: number }> {
  const backend = await openBackend(name);
  const cluster = await startCluster(backend, fair);
  try {
    await enqueueRuns(cluster.producer, 'A', A_RUNS);
    await enqueueRuns(cluster.producer, 'B', B_RUNS);
    await waitUntil(
      'B to start',
      async () => (await startedCount(cluster.producer, 'B')) >= B_RUNS,
      600_000,
    );
    const aCounts = await cluster.producer.countRuns({ tenantId: 'A' });
    const stats = await waitsOf(cluster.producer, 'B');
    return {
      ...stats,
      aQueued: aCounts.available + aCounts.scheduled,
      aStarted: aCounts.running + aCounts.completed,
    };
  } finally {
    await cluster.close();
    await closeBackend(backend);
  }
}

/** Shares of starts of two saturating tenants of weights 3 and 1 while both have backlog. */
async function weightedShares(name: BackendName): Promise<{ gold: number; bronze: number }> {
  const backend = await openBackend(name);
  const cluster = await startCluster(backend, true);
  const starts: string[] = [];
  try {
    await cluster.producer.tenants.upsert('gold', { weight: 3 });
    await cluster.producer.tenants.upsert('bronze', { weight: 1 });
    for (const client of cluster.workers) {
      client.on('job.started', (event) => void starts.push(event.tenantId ?? '-'));
    }
    await enqueueRuns(cluster.producer, 'bronze', WEIGHTED_RUNS);
    await enqueueRuns(cluster.producer, 'gold', WEIGHTED_RUNS);
    const from = starts.length;
    // Measure while both still have backlog: gold, taking 3 of 4 starts, drains first.
    const window = Math.floor(WEIGHTED_RUNS * 0.8);
    await waitUntil('the measuring window', async () => starts.length - from >= window, 600_000);
    const measured = starts.slice(from, from + window);
    return {
      gold: measured.filter((tenant) => tenant === 'gold').length,
      bronze: measured.filter((tenant) => tenant === 'bronze').length,
    };
  } finally {
    await cluster.close();
    await closeBackend(backend);
  }
}

const backends = (
  process.argv.length > 2 ? process.argv.slice(2) : ['sqlite', 'postgres']
) as BackendName[];

console.log(
  `Noisy neighbour: A ${A_RUNS} runs then B ${B_RUNS} runs on queue "${QUEUE}"; ` +
    `${WORKERS} workers x concurrency ${CONCURRENCY}, handler ${HANDLER_MS} ms, history off.\n`,
);
console.log(
  '| backend | B alone p50 / p99 ms | B under flood, fair p50 / p99 ms | p99 ratio (goal <= 2) | A queued when B done | B under flood, plain queue p99 ms | weights 3:1, started gold : bronze | ratio (goal 2.7-3.3) |',
);
console.log('|---|---|---|---|---|---|---|---|');
for (const name of backends) {
  const alone = await bAlone(name);
  const fair = await bUnderFlood(name, true);
  const plain = await bUnderFlood(name, false);
  const shares = await weightedShares(name);
  const ratio = fair.p99 / Math.max(alone.p99, 1);
  console.log(
    `| ${name} | ${alone.p50} / ${alone.p99} | ${fair.p50} / ${fair.p99} | ${ratio.toFixed(2)} | ` +
      `${fair.aQueued} | ${plain.p99} | ${shares.gold} : ${shares.bronze} | ` +
      `${(shares.gold / Math.max(shares.bronze, 1)).toFixed(2)} |`,
  );
}
