import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { silentLogger, ZapJobs } from '@zapjobs/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresStorage } from '../src/index.js';
import { stepJob } from './fixtures/step-job.mjs';
import {
  createSchemaStorage,
  dropSchema,
  type PostgresDescriptor,
  requirePostgres,
} from './helpers.js';

const reachable = await requirePostgres();

const TOTAL_RUNS = 20_000;
const WORKERS = 4;
const KILL_EVERY_MS = 2_500;
/** Completions between kills, so that a fast run still gets several kills. */
const KILL_EVERY_RUNS = TOTAL_RUNS / 8;
const DEADLINE_MS = 110_000;
const WORKER_SCRIPT = fileURLToPath(new URL('./fixtures/worker.mjs', import.meta.url));

interface WorkerProcess {
  child: ChildProcess;
  ready: Promise<void>;
  exited: Promise<void>;
  stderr: () => string;
}

function spawnWorker(descriptor: PostgresDescriptor): WorkerProcess {
  const config = {
    ...descriptor,
    worker: { concurrency: 20, leaseMs: 3_000, pollIntervalMs: 200, reclaimIntervalMs: 500 },
  };
  const child = spawn(process.execPath, [WORKER_SCRIPT], {
    env: { ...process.env, ZAPJOBS_TEST_WORKER: JSON.stringify(config) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes('"ready":true')) resolve();
    });
    void exited.then(() => reject(new Error(`Worker exited before it was ready:\n${stderr}`)));
  });
  ready.catch(() => undefined);
  return { child, ready, exited, stderr: () => stderr };
}

describe.skipIf(!reachable)('SIGKILL soak', () => {
  let storage: PostgresStorage;
  let descriptor: PostgresDescriptor;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    ({ storage, descriptor } = await createSchemaStorage());
  });

  afterAll(async () => {
    for (const worker of workers) worker.child.kill('SIGKILL');
    await Promise.all(workers.map((worker) => worker.exited));
    await storage.close();
    await dropSchema(descriptor);
  });

  it(
    'every run completes exactly once',
    async () => {
      const zap = new ZapJobs({ storage, jobs: [stepJob], logger: silentLogger });
      await zap.init();
      for (let start = 0; start < TOTAL_RUNS; start += 2_000) {
        await zap.enqueueMany(
          Array.from({ length: 2_000 }, (_, i) => ({
            job: stepJob,
            input: { index: start + i, ms: 5 },
          })),
        );
      }

      const running: WorkerProcess[] = [];
      for (let i = 0; i < WORKERS; i++) running.push(spawnWorker(descriptor));
      workers.push(...running);
      await Promise.all(running.map((worker) => worker.ready));

      // Kill one worker process at a time with SIGKILL and start a replacement, every few
      // seconds or every eighth of the runs, whichever comes first, until done.
      const startedAt = Date.now();
      let kills = 0;
      let completed = 0;
      let nextKillAt = Date.now() + KILL_EVERY_MS;
      let nextKillAtCompleted = KILL_EVERY_RUNS;
      while (Date.now() - startedAt < DEADLINE_MS) {
        completed = (await storage.countRuns({})).completed;
        if (completed === TOTAL_RUNS) break;
        if (Date.now() >= nextKillAt || completed >= nextKillAtCompleted) {
          const slot = kills % WORKERS;
          const victim = running[slot]!;
          victim.child.kill('SIGKILL');
          await victim.exited;
          const replacement = spawnWorker(descriptor);
          workers.push(replacement);
          running[slot] = replacement;
          kills += 1;
          nextKillAt = Date.now() + KILL_EVERY_MS;
          nextKillAtCompleted = completed + KILL_EVERY_RUNS;
        }
        await sleep(200);
      }

      const counts = await storage.countRuns({});
      const { rows } = await storage.pool.query<{
        completed_runs: number;
        completed_events: number;
        duplicated: number;
        stalled: number;
      }>(
        `select
           (select count(distinct run_id)::int from "${descriptor.schema}".events
             where type = 'completed') as completed_runs,
           (select count(*)::int from "${descriptor.schema}".events
             where type = 'completed') as completed_events,
           (select count(*)::int from (
              select run_id from "${descriptor.schema}".events where type = 'completed'
              group by run_id having count(*) > 1) as twice) as duplicated,
           (select count(*)::int from "${descriptor.schema}".events
             where type = 'stalled') as stalled`,
      );
      const stats = rows[0]!;
      const detail = `kills=${kills} counts=${JSON.stringify(counts)} stats=${JSON.stringify(stats)}`;

      expect(counts, detail).toEqual({
        waiting: 0,
        scheduled: 0,
        available: 0,
        running: 0,
        suspended: 0,
        completed: TOTAL_RUNS,
        failed: 0,
        cancelled: 0,
      });
      expect(stats.completed_runs, detail).toBe(TOTAL_RUNS);
      expect(stats.completed_events, detail).toBe(TOTAL_RUNS);
      expect(stats.duplicated, detail).toBe(0);
      // The kills hit runs in flight, which other workers recovered.
      expect(kills, detail).toBeGreaterThanOrEqual(3);
      expect(stats.stalled, detail).toBeGreaterThan(0);
      console.info(`SIGKILL soak: ${detail}, ${Date.now() - startedAt} ms`);
    },
    DEADLINE_MS + 30_000,
  );
});

if (!reachable) {
  it.skip('SIGKILL soak: PostgreSQL is unreachable, see the notice above', () => {});
}
