import { setTimeout as sleep } from 'node:timers/promises';
import { defineJob, ZapJobs } from '@zapjobs/core';
import { BlackholeProxy, settleWithin } from '@zapjobs/core/testing';
import { Redis } from 'ioredis';
import { Type } from 'typebox';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisStorage } from '../src/index.js';
import {
  deleteNamespace,
  memoryLogger,
  redisUrl,
  requireRedis,
  uniquePrefix,
} from './helpers/redis.js';

// A proxy between the storage and the shared server silences every connection open at one
// moment without closing it, as a network partition does, while new connections work.

const job = defineJob({
  name: 'partition-step',
  input: Type.Object({ index: Type.Integer(), ms: Type.Integer({ minimum: 0 }) }),
  output: Type.Object({ index: Type.Integer() }),
  defaults: { attempts: 25, backoff: { type: 'fixed', delayMs: 10 } },
  handler: async ({ index, ms }) => {
    if (ms > 0) await sleep(ms);
    return { index };
  },
});

/** Polls `check` every 20 ms until it returns true, failing after `timeoutMs`. */
async function waitFor(
  description: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${description}`);
    await sleep(20);
  }
}

describe('network partition with half-open connections', () => {
  const cleanups: Array<() => Promise<void>> = [];
  let admin: Redis;

  beforeAll(async () => {
    await requireRedis();
    admin = new Redis(redisUrl);
    return () => admin.quit().then(() => undefined);
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  });

  async function setUp(commandTimeoutMs?: number) {
    const target = new URL(redisUrl);
    const proxy = await BlackholeProxy.start({
      host: '127.0.0.1',
      port: Number(target.port || 6379),
    });
    const prefix = uniquePrefix('partition');
    const { logger, lines } = memoryLogger();
    const url = new URL(redisUrl);
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    const options = { prefix, logger, retention: false as const };
    const storage = new RedisStorage({ ...options, url: url.toString(), commandTimeoutMs });
    // Counts go straight to the server, past the proxy.
    const observer = new RedisStorage({ ...options, url: redisUrl });
    const zap = new ZapJobs({ storage, jobs: [job], logger });
    // Closing the proxy first frees the silenced sockets, so closing the storage cannot hang.
    cleanups.push(async () => {
      await proxy.close();
      await zap.close();
      await observer.close();
      await deleteNamespace(admin, prefix);
    });
    await zap.init();
    await observer.migrate();
    return { proxy, observer, zap, lines };
  }

  it('a worker finishes every run after its open connections went silent', async () => {
    const { proxy, observer, zap, lines } = await setUp(1_000);
    const total = 60;
    await zap.enqueueMany(
      Array.from({ length: total }, (_, index) => ({ job, input: { index, ms: 20 } })),
    );
    const worker = zap.createWorker({
      concurrency: 4,
      leaseMs: 3_000,
      pollIntervalMs: 100,
      reclaimIntervalMs: 500,
      shutdownTimeoutMs: 1_000,
    });
    cleanups.push(() => worker.stop({ force: true }));
    await worker.start();

    const completed = async () => (await observer.countRuns({})).completed ?? 0;
    await waitFor('the first runs to complete', async () => (await completed()) >= 5, 10_000);
    expect(await completed()).toBeLessThan(total);

    // The command connection and the subscriber connection go silent; new ones work.
    expect(proxy.blackhole()).toBe(2);
    await waitFor('every run to complete', async () => (await completed()) === total, 20_000);
    // The subscriber connection notices its silence by a ping and reconnects.
    await waitFor('both connections to be replaced', () => proxy.liveConnections === 2, 10_000);

    const messages = lines.map((line) => {
      const error = line.fields.err ?? line.fields.error;
      return `${line.message} ${error instanceof Error ? error.message : ''}`;
    });
    expect(messages.some((text) => /commandTimeoutMs \(1000 ms\)/.test(text))).toBe(true);
    await settleWithin('a forced stop', worker.stop({ force: true }), 5_000);
  }, 30_000);

  it('a forced stop returns while storage calls hang', async () => {
    // The default command timeout of 60 s keeps the calls hanging past the end of this test.
    const { proxy, zap, lines } = await setUp();
    await zap.enqueueMany(
      Array.from({ length: 8 }, (_, index) => ({ job, input: { index, ms: 60_000 } })),
    );
    const worker = zap.createWorker({
      concurrency: 4,
      leaseMs: 30_000,
      pollIntervalMs: 50,
      shutdownTimeoutMs: 500,
    });
    cleanups.push(() => worker.stop({ force: true }));
    await worker.start();
    await waitFor('four runs to start', () => worker.activeCount === 4, 10_000);

    expect(proxy.blackhole()).toBeGreaterThanOrEqual(1);
    // Let the next claim and heartbeat go out on the silent connection.
    await sleep(300);
    await settleWithin('a forced stop', worker.stop({ force: true }), 5_000);
    expect(worker.state).toBe('stopped');
    expect(lines.some((line) => /stopped waiting for/.test(line.message))).toBe(true);
  }, 30_000);
});
