import { setTimeout as sleep } from 'node:timers/promises';
import { ZapJobs } from '@zapjobs/core';
import { describe, expect, it } from 'vitest';
import { PostgresStorage } from '../src/index.js';
import { stepJob } from './fixtures/step-job.mjs';
import { recordingLogger, waitFor } from './helpers.js';
import { PrivateServer, requireServerBinaries } from './private-server.js';

/** Retries a call that fails while the server restarts. */
async function retrying<T>(call: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(100);
    }
  }
}

const runnable = requireServerBinaries();

describe.skipIf(!runnable)('server restart', () => {
  // A fast shutdown ends every session cleanly. After a crash (immediate shutdown) the server
  // recovers from its WAL and rolls back the transactions that were open.
  it.each([
    ['restart', (server: PrivateServer) => server.stop()],
    ['crash', (server: PrivateServer) => server.crash()],
  ])('workers finish every run across a %s', async (_, outage) => {
    const server = await PrivateServer.start();
    const { logger, lines } = recordingLogger();
    const storage = new PostgresStorage({
      connectionString: server.url,
      poolSize: 6,
      listenReconnectMinMs: 100,
      listenReconnectMaxMs: 1_000,
      logger,
    });
    const zap = new ZapJobs({ storage, jobs: [stepJob], logger });
    try {
      await zap.init();
      const before = 3_000;
      for (let start = 0; start < before; start += 500) {
        await zap.enqueueMany(
          Array.from({ length: 500 }, (_, i) => ({
            job: stepJob,
            input: { index: start + i, ms: 2 },
          })),
        );
      }
      const options = {
        concurrency: 16,
        leaseMs: 2_000,
        pollIntervalMs: 100,
        reclaimIntervalMs: 300,
      };
      const workers = [zap.createWorker(options), zap.createWorker(options)];
      for (const worker of workers) await worker.start();

      const completed = async () => (await storage.countRuns({})).completed;
      await waitFor(
        'a third of the runs to complete',
        async () => (await completed()) >= 1_000,
        60_000,
      );
      expect(await completed()).toBeLessThan(before);

      await outage(server);
      await sleep(1_000);
      await server.startServer();

      // Runs enqueued after the restart reach the workers through the reconnected pool.
      const after = 500;
      await retrying(() =>
        zap.enqueueMany(
          Array.from({ length: after }, (_, i) => ({
            job: stepJob,
            input: { index: before + i, ms: 2 },
          })),
        ),
      );
      await waitFor(
        'every run to complete',
        async () => (await retrying(completed)) === before + after,
        90_000,
      );

      const counts = await storage.countRuns({});
      expect(counts).toEqual({
        waiting: 0,
        scheduled: 0,
        available: 0,
        running: 0,
        suspended: 0,
        completed: before + after,
        failed: 0,
        cancelled: 0,
      });
      const { rows } = await storage.pool.query<{ runs: number; events: number }>(
        `select count(distinct run_id)::int as runs, count(*)::int as events
         from zapjobs.events where type = 'completed'`,
      );
      expect(rows[0]).toEqual({ runs: before + after, events: before + after });

      // The outage hit the workers mid-load, and the listener reconnected.
      expect(lines.some((line) => /failed to claim runs/.test(line.message))).toBe(true);
      expect(lines.some((line) => /LISTEN connection lost/.test(line.message))).toBe(true);
      // The listener reconnects with backoff, which can end after the last run completed.
      await waitFor(
        'the LISTEN connection to reconnect',
        async () => lines.some((line) => /LISTEN reconnected/.test(line.message)),
        30_000,
      );
      for (const worker of workers) await worker.stop();
    } finally {
      await zap.close().catch(() => {});
      await server.destroy();
    }
  });
});

if (!runnable) {
  it.skip('server restart: PostgreSQL server binaries are missing, see the notice above', () => {});
}
