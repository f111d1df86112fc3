import { setTimeout as sleep } from 'node:timers/promises';
import type { NewRun } from '@zapjobs/core/storage';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStorage } from '../src/index.js';
import {
  countNamespaceKeys,
  deleteNamespace,
  memoryLogger,
  redisUrl,
  requireRedis,
  uniquePrefix,
} from './helpers/redis.js';

// 100,000 runs go through insert, claim and complete (some fail to dead letter, some are
// cancelled, some carry groups, unique keys, state values and dependencies). Once the retention
// window has passed, the automatic pruning step must have deleted them with everything they
// left behind, so the namespace's key count is back at its baseline.

const RUNS = 100_000;
const BATCH = 2_000;
const RETENTION_MS = 500;

let admin: Redis;
const prefixes: string[] = [];

beforeAll(async () => {
  await requireRedis();
  admin = new Redis(redisUrl);
});

afterAll(async () => {
  for (const prefix of prefixes) await deleteNamespace(admin, prefix);
  await admin?.quit();
});

function runId(index: number): string {
  return `01900000-0000-7000-8000-${index.toString(16).padStart(12, '0')}`;
}

function newRun(index: number): NewRun {
  const run: NewRun = {
    id: runId(index),
    job: index % 3 === 0 ? 'resize' : 'mail',
    queue: index % 2 === 0 ? 'even' : 'odd',
    input: JSON.stringify({ index }),
    priority: index % 5,
    maxAttempts: 1,
    historyLevel: 'full',
  };
  if (index % 10 === 0) run.groupId = `group-${Math.floor(index / 1000)}`;
  if (index % 50 === 7)
    run.unique = { key: `unique-${index}`, releaseOn: 'never', onConflict: 'ignore' };
  if (index % 100 === 1) run.dependsOn = [{ runId: runId(index - 1), condition: 'always' }];
  return run;
}

/** Inserts, claims and finishes runs [first, last): every 20th fails, every 25th is cancelled. */
async function churn(storage: RedisStorage, first: number, last: number): Promise<void> {
  const runs: NewRun[] = [];
  for (let index = first; index < last; index++) runs.push(newRun(index));
  await storage.insertRuns(runs);
  for (let index = first; index < last; index += 25) await storage.cancel(runId(index));

  const queues = ['even', 'odd'];
  for (;;) {
    const claimed = await storage.claim({ workerId: 'w', queues, limit: 500, leaseMs: 60_000 });
    if (claimed.length === 0) break;
    const completes = [];
    const fails = [];
    for (const run of claimed) {
      const index = Number.parseInt(run.id.slice(-12), 16);
      const lease = { runId: run.id, leaseToken: run.leaseToken };
      if (index % 50 === 7) await storage.putState(run.id, 'checkpoint', '{"step":1}', { lease });
      if (index % 20 === 0) {
        fails.push({ ...lease, error: { name: 'Error', message: 'boom' }, retryDelayMs: null });
      } else {
        completes.push({ ...lease, output: '{"ok":true}' });
      }
    }
    await storage.complete(completes);
    await storage.fail(fails);
  }
}

describe('retention', () => {
  it('key count returns to baseline after 100,000 runs', async () => {
    const prefix = uniquePrefix('retention');
    prefixes.push(prefix);
    const { logger, lines } = memoryLogger();
    const storage = new RedisStorage({
      url: redisUrl,
      prefix,
      logger,
      retention: {
        completedMs: RETENTION_MS,
        failedMs: RETENTION_MS,
        cancelledMs: RETENTION_MS,
        intervalMs: 200,
        batchSize: 5_000,
      },
    });
    await storage.migrate();

    // Baseline: the namespace's fixed keys (schema version, sequence counter) exist after one
    // run went through and was pruned.
    await churn(storage, RUNS, RUNS + 1);
    await sleep(RETENTION_MS + 50);
    await storage.pruneOnce();
    const baseline = await countNamespaceKeys(admin, prefix);
    expect(baseline).toBeLessThanOrEqual(3);

    for (let first = 0; first < RUNS; first += BATCH) await churn(storage, first, first + BATCH);
    const counts = await storage.countRuns({});
    expect(counts.completed + counts.failed + counts.cancelled).toBeGreaterThan(0);
    const peak = await countNamespaceKeys(admin, prefix);
    expect(peak).toBeGreaterThan(baseline + 1_000);

    // The automatic step (every 200 ms) deletes what is older than the window.
    const deadline = Date.now() + 60_000;
    let keys = peak;
    while (keys > baseline && Date.now() < deadline) {
      await sleep(250);
      keys = await countNamespaceKeys(admin, prefix);
    }
    expect(keys).toBe(baseline);
    expect(await storage.countRuns({})).toEqual({
      waiting: 0,
      scheduled: 0,
      available: 0,
      running: 0,
      suspended: 0,
      completed: 0,
      failed: 0,
      cancelled: 0,
    });
    expect((await storage.listEvents({ limit: 10 })).items).toEqual([]);
    expect(
      lines.filter((line) => line.level === 'warn' && line.message.includes('Pruning')),
    ).toEqual([]);
    await storage.close();
  }, 240_000);

  it('purgeRuns deletes only runs finished before the cutoff', async () => {
    const prefix = uniquePrefix('purge');
    prefixes.push(prefix);
    const storage = new RedisStorage({
      url: redisUrl,
      prefix,
      logger: memoryLogger().logger,
      retention: false,
    });
    await storage.migrate();
    await churn(storage, 0, 100);
    const cutoff = await storage.now();
    await sleep(5);
    await churn(storage, 100, 200);

    const states = ['completed', 'failed', 'cancelled'] as const;
    const before = await storage.countRuns({});
    const purged = await storage.purgeRuns({ states, finishedBefore: cutoff + 1, limit: 1_000 });
    const after = await storage.countRuns({});
    expect(purged).toBe(100);
    expect(after.completed + after.failed + after.cancelled).toBe(
      before.completed + before.failed + before.cancelled - 100,
    );
    expect(await storage.getRun(runId(0))).toBeNull();
    expect(await storage.getRun(runId(150))).not.toBeNull();
    expect(await storage.pruneOnce()).toBe(0);
    await storage.close();
  });
});
