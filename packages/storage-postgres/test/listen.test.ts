import { defineJob, type Logger, ZapJobs } from '@zapjobs/core';
import pg from 'pg';
import { Type } from 'typebox';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PostgresStorage } from '../src/index.js';
import {
  dropSchema,
  newRun,
  PG_URL,
  type PostgresDescriptor,
  randomSchema,
  recordingLogger,
  requirePostgres,
  waitFor,
} from './helpers.js';

const reachable = await requirePostgres();

/** Terminates the LISTEN connection of the storages with this application name. */
async function terminateListener(admin: pg.Client, applicationName: string): Promise<number> {
  const { rows } = await admin.query<{ pid: number }>(
    `select pid from pg_stat_activity
     where application_name = $1 and query ilike 'listen %'`,
    [applicationName],
  );
  expect(rows).toHaveLength(1);
  await admin.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
  return rows[0]!.pid;
}

async function listenerPid(admin: pg.Client, applicationName: string): Promise<number | null> {
  const { rows } = await admin.query<{ pid: number }>(
    `select pid from pg_stat_activity
     where application_name = $1 and query ilike 'listen %'`,
    [applicationName],
  );
  return rows[0]?.pid ?? null;
}

const echo = defineJob({
  name: 'listen-test.echo',
  input: Type.Object({ n: Type.Integer() }),
  output: Type.Object({ n: Type.Integer() }),
  handler: async ({ n }) => ({ n }),
});

describe.skipIf(!reachable)('LISTEN connection', () => {
  let descriptor: PostgresDescriptor;
  let admin: pg.Client;
  let applicationName: string;
  const storages: PostgresStorage[] = [];

  function openStorage(logger?: Logger): PostgresStorage {
    const storage = new PostgresStorage({
      connectionString: PG_URL,
      schema: descriptor.schema,
      poolSize: 3,
      applicationName,
      listenReconnectMinMs: 300,
      logger,
    });
    storages.push(storage);
    return storage;
  }

  beforeEach(async () => {
    descriptor = { connectionString: PG_URL, schema: randomSchema() };
    applicationName = `zapjobs-${descriptor.schema}`;
    admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
  });

  afterEach(async () => {
    for (const storage of storages.splice(0)) await storage.close();
    await admin.end();
    await dropSchema(descriptor);
  });

  it('dropped listener reconnects and calls onWork(null)', async () => {
    const { logger, lines } = recordingLogger();
    const storage = openStorage(logger);
    await storage.migrate();
    const work: (readonly string[] | null)[] = [];
    await storage.subscribe({ onWork: (queues) => work.push(queues) });
    const before = await terminateListener(admin, applicationName);

    // Enqueued while no connection listens, so its notification is lost.
    const producer = new PostgresStorage({ connectionString: PG_URL, schema: descriptor.schema });
    storages.push(producer);
    await producer.insertRuns([newRun({ queue: 'during-outage' })]);

    await waitFor('onWork(null) after the reconnect', () => work.includes(null));
    const after = await listenerPid(admin, applicationName);
    expect(after).not.toBeNull();
    expect(after).not.toBe(before);
    expect(
      lines.some((line) => line.level === 'warn' && /LISTEN connection lost/.test(line.message)),
    ).toBe(true);

    // The new connection hears later inserts again.
    await producer.insertRuns([newRun({ queue: 'after-reconnect' })]);
    await waitFor('onWork for after-reconnect', () =>
      work.some((queues) => queues?.includes('after-reconnect') === true),
    );
  });

  it('idle worker wakes after listener drop', async () => {
    const storage = openStorage(recordingLogger().logger);
    const zap = new ZapJobs({ storage, jobs: [echo], logger: recordingLogger().logger });
    await zap.init();
    // The fallback poll is far longer than the test, so only a wake-up can start the run.
    const worker = zap.createWorker({ pollIntervalMs: 60_000, reclaimIntervalMs: 60_000 });
    await worker.start();
    await new Promise((resolve) => setTimeout(resolve, 200));

    await terminateListener(admin, applicationName);
    const { runId } = await zap.enqueue(echo, { n: 7 });
    await waitFor(
      'the run to complete',
      async () => (await zap.getRun(runId))?.state === 'completed',
    );
    expect((await zap.getRun(runId))?.output).toEqual({ n: 7 });

    // After the reconnect, a new run wakes the idle worker through NOTIFY.
    await waitFor(
      'a new listener',
      async () => (await listenerPid(admin, applicationName)) !== null,
    );
    const second = await zap.enqueue(echo, { n: 8 });
    await waitFor(
      'the second run to complete',
      async () => (await zap.getRun(second.runId))?.state === 'completed',
    );
    await zap.close();
  });

  it('finishedStates filters finish notices', async () => {
    const storage = openStorage();
    await storage.migrate();
    const everything: string[] = [];
    const cancellations: string[] = [];
    await storage.subscribe({
      onRunFinished: (runId, state) => everything.push(`${runId}:${state}`),
    });
    await storage.subscribe({
      onRunFinished: (runId, state) => cancellations.push(`${runId}:${state}`),
      finishedStates: ['cancelled'],
    });

    const done = newRun();
    await storage.insertRuns([done]);
    const [claimed] = await storage.claim({
      workerId: 'w1',
      queues: ['default'],
      limit: 1,
      leaseMs: 30_000,
    });
    const request = { runId: claimed!.id, leaseToken: claimed!.leaseToken, output: 'null' };
    expect(await storage.complete([request])).toEqual([true]);
    await waitFor('the completion notice', () => everything.includes(`${done.id}:completed`));

    const cancelled = newRun();
    await storage.insertRuns([cancelled]);
    await storage.cancel(cancelled.id);
    await waitFor('the cancellation notice', () =>
      cancellations.includes(`${cancelled.id}:cancelled`),
    );
    expect(everything).toContain(`${cancelled.id}:cancelled`);
    // The completion came in a list of its own, which names no cancelled run.
    expect(cancellations).toEqual([`${cancelled.id}:cancelled`]);
  });

  it('last unsubscribe closes the listener', async () => {
    const storage = openStorage();
    await storage.migrate();
    const unsubscribe = await storage.subscribe({});
    expect(await listenerPid(admin, applicationName)).not.toBeNull();
    await unsubscribe();
    await waitFor(
      'the listener to close',
      async () => (await listenerPid(admin, applicationName)) === null,
    );
  });
});

if (!reachable) {
  it.skip('LISTEN connection: PostgreSQL is unreachable, see the notice above', () => {});
}
