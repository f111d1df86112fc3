import { setTimeout as sleep } from 'node:timers/promises';
import { ZapJobs } from '@zapjobs/core';
import { BlackholeProxy, settleWithin } from '@zapjobs/core/testing';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStorage } from '../src/index.js';
import { stepJob } from './fixtures/step-job.mjs';
import {
  createSchemaStorage,
  dropSchema,
  openStorage,
  PG_URL,
  type PostgresDescriptor,
  recordingLogger,
  requirePostgres,
  waitFor,
} from './helpers.js';

/** Opens a storage on the test schema whose every connection goes through the proxy. */
function proxiedStorage(
  proxy: BlackholeProxy,
  descriptor: PostgresDescriptor,
  extra: { queryTimeoutMs?: number; logger: ReturnType<typeof recordingLogger>['logger'] },
): PostgresStorage {
  const url = new URL(descriptor.connectionString);
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  return new PostgresStorage({
    connectionString: url.toString(),
    schema: descriptor.schema,
    poolSize: 4,
    connectTimeoutMs: 2_000,
    listenReconnectMinMs: 50,
    listenReconnectMaxMs: 500,
    ...extra,
  });
}

const reachable = await requirePostgres();

describe.skipIf(!reachable)('network partition with half-open connections', () => {
  const cleanups: Array<() => Promise<void>> = [];
  let descriptor: PostgresDescriptor;

  beforeAll(async () => {
    const created = await createSchemaStorage();
    descriptor = created.descriptor;
    await created.storage.close();
    return () => dropSchema(descriptor);
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  });

  async function setUp(queryTimeoutMs?: number) {
    const target = new URL(PG_URL);
    const proxy = await BlackholeProxy.start({
      host: '127.0.0.1',
      port: Number(target.port || 5432),
    });
    const { logger, lines } = recordingLogger();
    const storage = proxiedStorage(proxy, descriptor, { queryTimeoutMs, logger });
    const zap = new ZapJobs({ storage, jobs: [stepJob], logger });
    // Closing the proxy first frees the silenced sockets, so closing the storage cannot hang.
    cleanups.push(async () => {
      await proxy.close();
      await zap.close();
    });
    await zap.init();
    return { proxy, storage, zap, lines };
  }

  it('a worker finishes every run after its open connections went silent', async () => {
    const { proxy, zap, lines } = await setUp(1_000);
    // Counts go straight to the server, past the proxy.
    const observer = openStorage(descriptor);
    cleanups.push(() => observer.close());
    const total = 60;
    await zap.enqueueMany(
      Array.from({ length: total }, (_, index) => ({ job: stepJob, input: { index, ms: 20 } })),
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

    // Every pooled connection and the LISTEN connection go silent; new ones work.
    expect(proxy.blackhole()).toBeGreaterThanOrEqual(2);
    await waitFor('every run to complete', async () => (await completed()) === total, 20_000);

    // The LISTEN connection notices its silence by a ping and reconnects.
    await waitFor(
      'the LISTEN connection to reconnect',
      () => lines.some((line) => line.message === 'postgres LISTEN reconnected'),
      10_000,
    );
    const timeouts = lines.filter((line) => /queryTimeoutMs \(1000 ms\)/.test(errorText(line)));
    expect(timeouts.length).toBeGreaterThan(0);
    await settleWithin('a forced stop', worker.stop({ force: true }), 5_000);
  }, 30_000);

  it('a forced stop returns while storage calls hang', async () => {
    // The default query timeout of 60 s keeps the calls hanging past the end of this test.
    const { proxy, zap, lines } = await setUp();
    await zap.enqueueMany(
      Array.from({ length: 8 }, (_, index) => ({ job: stepJob, input: { index, ms: 60_000 } })),
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
    // Let the next claim and heartbeat go out on the silent connections.
    await sleep(300);
    await settleWithin('a forced stop', worker.stop({ force: true }), 5_000);
    expect(worker.state).toBe('stopped');
    expect(lines.some((line) => /stopped waiting for/.test(line.message))).toBe(true);
  }, 30_000);
});

function errorText(line: { message: string; fields: Record<string, unknown> }): string {
  const error = line.fields.err ?? line.fields.error;
  return `${line.message} ${error instanceof Error ? error.message : ''}`;
}
