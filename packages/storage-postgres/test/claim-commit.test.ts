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

// A claim commits without waiting for the WAL flush unless `durableClaims` is set. The test
// stops the WAL writer with SIGSTOP, so nothing but a commit that waits for its own flush
// reaches the disk, lets a worker claim a run whose handler then waits, and kills the WAL
// writer: the postmaster ends every session and recovers from the WAL on disk, as after any
// crash of a server process. Autovacuum and the background writer are off, so no other
// process flushes the WAL in between.
describe.skipIf(!runnable)('claims across a server crash', () => {
  it.each([
    ['undoes an unflushed claim', false, [1, 1]],
    ['keeps a durable claim', true, [1]],
  ])('recovery %s', async (_, durableClaims, expectedAttempts) => {
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
      durableClaims,
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
      const { runId } = await zap.enqueue(gated, {});

      const { rows } = await query(
        server.url,
        `select pid from pg_stat_activity where backend_type = 'walwriter'`,
      );
      walWriter = rows[0]?.pid as number;
      expect(walWriter).toBeGreaterThan(0);
      process.kill(walWriter, 'SIGSTOP');

      const worker = zap.createWorker({ concurrency: 1, leaseMs: 60_000, pollIntervalMs: 100 });
      await worker.start();
      await waitFor('the handler to start', async () => attempts.length === 1, 10_000);
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
        durableClaims ? { state: 'running', attempt: 1 } : { state: 'available', attempt: 0 },
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
      expect(discarded).toBe(!durableClaims);
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
