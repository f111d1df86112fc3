import { defineJob, ZapJobs } from '@zapjobs/core';
import pg from 'pg';
import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { PostgresStorage } from '../src/index.js';
import { recordingLogger, waitFor } from './helpers.js';
import { PrivateServer, requireServerBinaries } from './private-server.js';

const runnable = requireServerBinaries();

/** Runs one statement on a new connection, or returns undefined while the server is down. */
async function tryQuery(url: string, sql: string): Promise<pg.QueryResult | undefined> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  try {
    await client.connect();
    return await client.query(sql);
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Runs one statement on a new connection. */
async function query(url: string, sql: string): Promise<pg.QueryResult> {
  const result = await tryQuery(url, sql);
  if (result === undefined) {
    throw new Error(`the private server is unreachable, failed statement: ${sql}`);
  }
  return result;
}

// With `asyncClaimCommit`, a claim commits without waiting for the WAL flush. The test starts a
// worker, waits for its first maintenance pass (which writes its registry entry), and stops the
// WAL writer with SIGSTOP, so that only a commit that waits for its own flush reaches the disk.
// It then enqueues a run, lets the worker claim it with a handler that waits, and kills the WAL
// writer: the postmaster ends every session and recovers from the WAL on disk, as after a crash
// of any server process. Autovacuum and the background writer's page writes are off, and the
// worker's next maintenance pass is a minute away, so no other commit flushes the claim.
describe.skipIf(!runnable)('claims across a server crash', () => {
  it.each([
    ['undoes an asynchronous claim', true, [1, 1]],
    ['keeps a default claim', false, [1]],
  ])('recovery %s', async (_, asyncClaimCommit, expectedAttempts) => {
    const server = await PrivateServer.start();
    const { logger, lines } = recordingLogger();
    const attempts: number[] = [];
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const gated = defineJob({
      name: 'postgres-test.gated',
      input: Type.Object({}),
      output: Type.Null(),
      handler: async (_input, context) => {
        attempts.push(context.attempt);
        await gate;
        return null;
      },
    });
    const storage = new PostgresStorage({
      connectionString: server.url,
      asyncClaimCommit,
      listenReconnectMinMs: 100,
      listenReconnectMaxMs: 500,
      logger,
    });
    const zap = new ZapJobs({ storage, jobs: [gated], logger });
    let walWriter: number | undefined;
    try {
      await query(server.url, 'alter system set autovacuum = off');
      await query(server.url, 'alter system set bgwriter_lru_maxpages = 0');
      await query(server.url, 'select pg_reload_conf()');
      await zap.init();
      const worker = zap.createWorker({
        concurrency: 1,
        leaseMs: 60_000,
        pollIntervalMs: 100,
        reclaimIntervalMs: 60_000,
      });
      await worker.start();
      await waitFor(
        'the worker to register',
        async () => (await storage.listWorkers(60_000)).length === 1,
        10_000,
      );

      const { rows } = await query(
        server.url,
        `select pid from pg_stat_activity where backend_type = 'walwriter'`,
      );
      walWriter = rows[0]?.pid as number;
      expect(walWriter).toBeGreaterThan(0);
      process.kill(walWriter, 'SIGSTOP');

      const { runId } = await zap.enqueue(gated, {});
      await waitFor('the handler to start', async () => attempts.length === 1, 10_000);
      if (asyncClaimCommit) {
        // The claim's commit record is in the WAL buffers, past the flushed position.
        const wal = await query(
          server.url,
          'select pg_current_wal_flush_lsn() < pg_current_wal_insert_lsn() as unflushed',
        );
        expect(wal.rows[0]).toEqual({ unflushed: true });
      }
      process.kill(walWriter, 'SIGKILL');
      walWriter = undefined;

      // Recovery ends when the server accepts connections again, with the run as the WAL on disk
      // left it.
      await waitFor(
        'the server to recover',
        async () => (await tryQuery(server.url, 'select 1')) !== undefined,
        30_000,
      );
      const recovered = await query(
        server.url,
        `select state, attempt from zapjobs.runs where id = '${runId}'`,
      );
      expect(recovered.rows[0]).toEqual(
        asyncClaimCommit ? { state: 'available', attempt: 0 } : { state: 'running', attempt: 1 },
      );

      open();
      await waitFor(
        'the run to complete',
        async () => (await storage.getRun(runId).catch(() => null))?.state === 'completed',
        30_000,
      );
      await worker.stop();

      // An undone claim starts the run again as attempt 1, and its first outcome finds no lease.
      expect(attempts).toEqual(expectedAttempts);
      const discarded = lines.some((line) => /lease was lost/.test(line.message));
      expect(discarded).toBe(asyncClaimCommit);
      const completed = await query(
        server.url,
        `select count(*)::int as count from zapjobs.events
         where run_id = '${runId}' and type = 'completed'`,
      );
      expect(completed.rows[0]).toEqual({ count: 1 });
    } finally {
      open();
      if (walWriter !== undefined) process.kill(walWriter, 'SIGCONT');
      await zap.close().catch(() => {});
      await server.destroy();
    }
  });
});

if (!runnable) {
  it.skip('claims across a crash: server binaries missing, see the notice above', () => {});
}
