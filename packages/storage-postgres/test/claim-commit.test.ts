import { defineJob, type Worker, ZapJobs } from '@zapjobs/core';
import pg from 'pg';
import { Type } from 'typebox';
import { afterEach, describe, expect, it } from 'vitest';
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

/** Returns the process id of the server's WAL writer, or undefined while it is down. */
async function walWriterPid(url: string): Promise<number | undefined> {
  const result = await tryQuery(
    url,
    `select pid from pg_stat_activity where backend_type = 'walwriter'`,
  );
  return result?.rows[0]?.pid as number | undefined;
}

/**
 * A private server, a worker on it, and one run whose first handler waits for `open()`. With
 * `asyncClaimCommit`, a claim commits without waiting for the WAL flush. `start` stops the WAL
 * writer with SIGSTOP after the worker's first maintenance pass (which writes its registry
 * entry), so that only a commit that waits for its own flush reaches the disk. It then
 * enqueues the run and waits until the worker has claimed it. `crash` kills the WAL writer:
 * the postmaster ends every session and recovers from the WAL on disk, as after a crash of any
 * server process. Autovacuum and the background writer's page writes are off, and the worker's
 * next maintenance pass is a minute away, so no other commit flushes the claim.
 */
class CrashFixture {
  readonly handlerCalls: { attempt: number; output: string }[] = [];
  readonly completedEvents: { attempt: number; output: unknown }[] = [];
  readonly log = recordingLogger();
  open!: () => void;
  runId = '';
  private readonly gate = new Promise<void>((resolve) => {
    this.open = resolve;
  });
  private stoppedWalWriter: number | undefined;
  private zap: ZapJobs | undefined;
  worker: Worker | undefined;
  storage: PostgresStorage | undefined;

  constructor(readonly server: PrivateServer) {}

  async start(asyncClaimCommit: boolean, concurrency: number): Promise<void> {
    const gated = defineJob({
      name: 'postgres-test.gated',
      input: Type.Object({}),
      output: Type.String(),
      handler: async (_input, context) => {
        const output = `handler ${this.handlerCalls.length + 1}`;
        this.handlerCalls.push({ attempt: context.attempt, output });
        if (this.handlerCalls.length === 1) await this.gate;
        return output;
      },
    });
    const url = this.server.url;
    await query(url, 'alter system set autovacuum = off');
    await query(url, 'alter system set bgwriter_lru_maxpages = 0');
    await query(url, 'select pg_reload_conf()');
    const storage = new PostgresStorage({
      connectionString: url,
      asyncClaimCommit,
      listenReconnectMinMs: 100,
      listenReconnectMaxMs: 500,
      logger: this.log.logger,
    });
    this.storage = storage;
    this.zap = new ZapJobs({ storage, jobs: [gated], logger: this.log.logger });
    this.zap.on('job.completed', (event) => {
      this.completedEvents.push({ attempt: event.attempt, output: event.output });
    });
    await this.zap.init();
    this.worker = this.zap.createWorker({
      concurrency,
      leaseMs: 60_000,
      pollIntervalMs: 100,
      reclaimIntervalMs: 60_000,
    });
    await this.worker.start();
    await waitFor(
      'the worker to register',
      async () => (await storage.listWorkers(60_000)).length === 1,
      10_000,
    );

    const walWriter = await walWriterPid(url);
    expect(walWriter).toBeGreaterThan(0);
    this.stoppedWalWriter = walWriter as number;
    process.kill(this.stoppedWalWriter, 'SIGSTOP');
    ({ runId: this.runId } = await this.zap.enqueue(gated, {}));
    await waitFor('the handler to start', async () => this.handlerCalls.length === 1, 10_000);
  }

  /** Returns whether WAL records, such as a claim's commit, wait past the flushed position. */
  async walUnflushed(): Promise<boolean> {
    const { rows } = await query(
      this.server.url,
      'select pg_current_wal_flush_lsn() < pg_current_wal_insert_lsn() as unflushed',
    );
    return rows[0]?.unflushed === true;
  }

  /** Kills the stopped WAL writer, which makes the server crash and recover. */
  crash(): number {
    const killed = this.stoppedWalWriter as number;
    process.kill(killed, 'SIGKILL');
    this.stoppedWalWriter = undefined;
    return killed;
  }

  /** Waits for a new WAL writer: a plain query could still reach the server before the crash. */
  async waitForRecovery(killed: number): Promise<void> {
    await waitFor(
      'the server to recover',
      async () => {
        const pid = await walWriterPid(this.server.url);
        return pid !== undefined && pid !== killed;
      },
      30_000,
    );
  }

  async runState(): Promise<unknown> {
    const { rows } = await query(
      this.server.url,
      `select state, attempt from zapjobs.runs where id = '${this.runId}'`,
    );
    return rows[0];
  }

  async completedEventRows(): Promise<number> {
    const { rows } = await query(
      this.server.url,
      `select count(*)::int as count from zapjobs.events
       where run_id = '${this.runId}' and type = 'completed'`,
    );
    return rows[0]?.count as number;
  }

  async waitForCompletion(): Promise<void> {
    const storage = this.storage as PostgresStorage;
    await waitFor(
      'the run to complete',
      async () => (await storage.getRun(this.runId).catch(() => null))?.state === 'completed',
      30_000,
    );
  }

  discardedOutcomes(): number {
    return this.log.lines.filter((line) => /lease was lost/.test(line.message)).length;
  }

  async destroy(): Promise<void> {
    this.open();
    if (this.stoppedWalWriter !== undefined) process.kill(this.stoppedWalWriter, 'SIGCONT');
    await this.zap?.close().catch(() => {});
    await this.server.destroy();
  }
}

describe.skipIf(!runnable)('claims across a server crash', () => {
  let fixture: CrashFixture | undefined;

  afterEach(async () => {
    await fixture?.destroy();
    fixture = undefined;
  });

  it.each([
    ['undoes an asynchronous claim', true, [1, 1]],
    ['keeps a default claim', false, [1]],
  ])('recovery %s', async (_, asyncClaimCommit, expectedAttempts) => {
    fixture = new CrashFixture(await PrivateServer.start());
    await fixture.start(asyncClaimCommit, 1);
    if (asyncClaimCommit) expect(await fixture.walUnflushed()).toBe(true);
    await fixture.waitForRecovery(fixture.crash());
    expect(await fixture.runState()).toEqual(
      asyncClaimCommit ? { state: 'available', attempt: 0 } : { state: 'running', attempt: 1 },
    );

    fixture.open();
    await fixture.waitForCompletion();
    await fixture.worker?.stop();

    // An undone claim starts the run again as attempt 1, and its first outcome finds no lease.
    expect(fixture.handlerCalls.map((call) => call.attempt)).toEqual(expectedAttempts);
    expect(fixture.discardedOutcomes()).toBe(asyncClaimCommit ? 1 : 0);
    expect(await fixture.completedEventRows()).toBe(1);
  });

  // The first handler returns while the server recovers, so the first try to store its outcome
  // fails and is retried. By then the same worker has started the run again with the same
  // attempt number, and its start time alone shows that the stored outcome is the second one.
  it('reports an undone attempt outcome as discarded', async () => {
    fixture = new CrashFixture(await PrivateServer.start());
    await fixture.start(true, 2);
    const killed = fixture.crash();
    await new Promise((resolve) => setTimeout(resolve, 20));
    fixture.open();
    await fixture.waitForRecovery(killed);
    await fixture.waitForCompletion();
    await waitFor('the first outcome to be settled', async () => {
      return fixture?.discardedOutcomes() === 1 || (fixture?.completedEvents.length ?? 0) > 1;
    });
    await fixture.worker?.stop();

    expect(fixture.handlerCalls).toEqual([
      { attempt: 1, output: 'handler 1' },
      { attempt: 1, output: 'handler 2' },
    ]);
    expect(fixture.completedEvents).toEqual([{ attempt: 1, output: 'handler 2' }]);
    expect(fixture.discardedOutcomes()).toBe(1);
  });
});

if (!runnable) {
  it.skip('claims across a crash: server binaries missing, see the notice above', () => {});
}
