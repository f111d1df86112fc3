import { setTimeout as sleep } from 'node:timers/promises';
import { defineJob, silentLogger, ZapJobs } from '@zapjobs/core';
import type { NewRun } from '@zapjobs/core/storage';
import { Redis } from 'ioredis';
import { Type } from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStorage } from '../src/index.js';
import { uniquePrefix } from './helpers/redis.js';
import { PrivateRedis } from './helpers/servers.js';

// A private redis-server with AOF (fsync on every write) is killed with SIGKILL and started
// again while a producer inserts runs and workers process them. Nothing acknowledged may be
// lost, and the workers must resume without help: ioredis reconnects, and the storage loads
// its scripts again when the restarted server replies NOSCRIPT.

const RUNS = 3_000;
const BATCH = 50;

let server: PrivateRedis;

beforeAll(async () => {
  server = await PrivateRedis.start([
    '--appendonly',
    'yes',
    '--appendfsync',
    'always',
    '--save',
    '',
  ]);
});

afterAll(async () => {
  await server?.destroy();
});

const executions = new Map<string, number>();
const job = defineJob({
  name: 'restart-load',
  input: Type.Object({ index: Type.Integer() }),
  output: Type.Object({ index: Type.Integer() }),
  defaults: { attempts: 20, backoff: { type: 'fixed', delayMs: 20 } },
  handler: async ({ index }, ctx) => {
    executions.set(ctx.runId, (executions.get(ctx.runId) ?? 0) + 1);
    await sleep(2);
    return { index };
  },
});

function newRun(id: string, index: number): NewRun {
  return {
    id,
    job: job.name,
    queue: 'default',
    input: JSON.stringify({ index }),
    priority: 0,
    maxAttempts: 20,
    historyLevel: 'full',
  };
}

function runId(index: number): string {
  const hex = index.toString(16).padStart(12, '0');
  return `01900000-0000-7000-8000-${hex}`;
}

/** Inserts a batch until the storage acknowledges it; ids make a repeated insert harmless. */
async function insertUntilAcknowledged(storage: RedisStorage, runs: NewRun[]): Promise<void> {
  for (;;) {
    try {
      await storage.insertRuns(runs);
      return;
    } catch (error) {
      expect((error as { code?: string }).code).toBe('STORAGE_FAILED');
      await sleep(50);
    }
  }
}

describe('redis server restart', () => {
  it('loses nothing and workers resume on their own', async () => {
    const prefix = uniquePrefix('restart');
    const fastRetry = { retryStrategy: () => 50 };
    const producer = new RedisStorage({
      url: server.url,
      prefix,
      logger: silentLogger,
      redisOptions: fastRetry,
      retention: false,
    });
    await producer.migrate();
    const clients = [0, 1].map(
      () =>
        new ZapJobs({
          storage: new RedisStorage({
            url: server.url,
            prefix,
            logger: silentLogger,
            redisOptions: fastRetry,
            retention: false,
          }),
          jobs: [job],
          logger: silentLogger,
        }),
    );
    for (const zap of clients) {
      await zap
        .createWorker({
          concurrency: 8,
          leaseMs: 3_000,
          heartbeatMs: 500,
          pollIntervalMs: 200,
          reclaimIntervalMs: 500,
        })
        .start();
    }

    let restarted = false;
    let completedBeforeKill = -1;
    for (let first = 0; first < RUNS; first += BATCH) {
      const runs: NewRun[] = [];
      for (let index = first; index < first + BATCH; index++)
        runs.push(newRun(runId(index), index));
      await insertUntilAcknowledged(producer, runs);
      if (!restarted && first >= RUNS / 3) {
        restarted = true;
        completedBeforeKill = (await producer.countRuns({})).completed;
        await server.stop('SIGKILL');
        await sleep(300);
        await server.startAgain();
      }
      await sleep(5);
    }

    const probe = new Redis(server.url);
    const deadline = Date.now() + 60_000;
    let counts = await producer.countRuns({});
    while (counts.completed < RUNS && Date.now() < deadline) {
      await sleep(200);
      counts = await producer.countRuns({});
    }
    const scriptLoads = await probe.info('commandstats');
    await probe.quit();
    for (const zap of clients) await zap.close();

    expect(restarted).toBe(true);
    // Workers were busy when the server went down, and finished the rest after it came back.
    expect(completedBeforeKill).toBeGreaterThan(0);
    expect(completedBeforeKill).toBeLessThan(RUNS);
    expect(counts.completed).toBe(RUNS);
    expect(counts.failed).toBe(0);
    expect(counts.available + counts.running + counts.scheduled).toBe(0);
    for (let index = 0; index < RUNS; index++) {
      expect(executions.get(runId(index)) ?? 0).toBeGreaterThanOrEqual(1);
    }
    // The restarted server started with an empty script cache; the storages loaded them again.
    expect(scriptLoads).toMatch(/cmdstat_script\|load:calls=[1-9]/);

    let completedEvents = 0;
    let cursor: string | undefined;
    do {
      const page = await producer.listEvents({ types: ['completed'], limit: 1000, cursor });
      completedEvents += page.items.length;
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    expect(completedEvents).toBe(RUNS);
    await producer.close();
  }, 120_000);
});
