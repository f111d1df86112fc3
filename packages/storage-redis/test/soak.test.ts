import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '@zapjobs/core';
import type { NewRun } from '@zapjobs/core/storage';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStorage } from '../src/index.js';
import { deleteNamespace, redisUrl, requireRedis, uniquePrefix } from './helpers/redis.js';

// Four worker processes (core's worker, test/fixtures/soak-worker.mjs) share 20,000 runs while
// one of them is killed with SIGKILL every two seconds and started again. Leases of the killed
// process expire and other workers reclaim its runs; every run must complete exactly once.

const RUNS = 20_000;
const PROCESSES = 4;
const KILL_EVERY_MS = 2_000;
const workerScript = fileURLToPath(new URL('./fixtures/soak-worker.mjs', import.meta.url));

let admin: Redis;
const prefix = uniquePrefix('soak');

beforeAll(async () => {
  await requireRedis();
  admin = new Redis(redisUrl);
});

afterAll(async () => {
  await deleteNamespace(admin, prefix);
  await admin?.quit();
});

function startWorker(descriptor: string): ChildProcess {
  return spawn(process.execPath, [workerScript, descriptor], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** Run ids of every event of one type, oldest first, across all pages. */
async function eventRunIds(storage: RedisStorage, type: string): Promise<string[]> {
  const runIds: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await storage.listEvents({ types: [type], limit: 1000, cursor });
    for (const event of page.items) runIds.push(event.runId);
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  return runIds;
}

describe('SIGKILL soak', () => {
  it('completes every run exactly once while workers are killed', async () => {
    const storage = new RedisStorage({
      url: redisUrl,
      prefix,
      logger: silentLogger,
      retention: false,
    });
    await storage.migrate();
    for (let first = 0; first < RUNS; first += 2_000) {
      const runs: NewRun[] = [];
      for (let index = first; index < first + 2_000; index++) {
        runs.push({
          id: `01900000-0000-7000-8000-${index.toString(16).padStart(12, '0')}`,
          job: 'soak',
          queue: 'default',
          input: JSON.stringify({ index, ms: 5 + (index % 10) }),
          priority: 0,
          maxAttempts: 25,
          historyLevel: 'full',
        });
      }
      await storage.insertRuns(runs);
    }

    const descriptor = JSON.stringify({ url: redisUrl, prefix });
    const workers = Array.from({ length: PROCESSES }, () => startWorker(descriptor));
    let kills = 0;
    const deadline = Date.now() + 100_000;
    let counts = await storage.countRuns({});
    try {
      while (counts.completed < RUNS && Date.now() < deadline) {
        await sleep(KILL_EVERY_MS);
        const victim = kills % PROCESSES;
        await stopWorker(workers[victim]!);
        workers[victim] = startWorker(descriptor);
        kills++;
        counts = await storage.countRuns({});
      }
    } finally {
      for (const worker of workers) await stopWorker(worker);
    }

    expect(kills).toBeGreaterThanOrEqual(3);
    expect(counts.completed).toBe(RUNS);
    expect(counts.failed).toBe(0);

    // Exactly once: one `completed` event per run.
    const completed = await eventRunIds(storage, 'completed');
    expect(completed.length).toBe(RUNS);
    expect(new Set(completed).size).toBe(RUNS);
    // Killed workers held runs, which other workers reclaimed.
    expect((await eventRunIds(storage, 'stalled')).length).toBeGreaterThan(0);
    await storage.close();
  }, 150_000);
});
