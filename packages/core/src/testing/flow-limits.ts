/**
 * Flow conformance: concurrency and rate limits set through the client, enforced across
 * workers, and bursting with its `limit.burst` events and metric.
 */
import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../errors.js';
import { defineJob } from '../job.js';
import type { ConformanceOptions } from './options.js';
import {
  allEvents,
  FAST_WORKER,
  latch,
  recordEvents,
  sleep,
  useRuntimeHarness,
  waitFor,
} from './runtime-harness.js';
import { createMetrics } from './telemetry-sdk.js';

export function describeFlowLimits(options: ConformanceOptions): void {
  describe(`${options.name} flow: limits`, () => {
    const harness = useRuntimeHarness(options);

    it('unknown job limit warns once', async () => {
      const known = defineJob({
        name: 'conformance.limits-known',
        input: Type.Object({}),
        output: Type.Null(),
        handler: async () => null,
      });
      const { zap, logger } = await harness.client({ jobs: [known] });
      await zap.limits.set({ job: 'nope', concurrency: 1 });
      await zap.limits.set({ job: 'conformance.limits-known', concurrency: 1 });
      expect(await zap.limits.list()).toContainEqual({
        job: 'nope',
        concurrency: 1,
        burstMultiplier: 1,
      });
      const warnings = logger.messages('warn').filter((line) => line.includes('Limit stored'));
      expect(warnings).toEqual([
        'Limit stored for job "nope", which this client has not registered (known jobs: ' +
          '"conformance.limits-known"). It applies once a worker runs that job; check the name ' +
          'if it is a typo.',
      ]);
    });

    it('set, list and delete limits', async () => {
      const { zap } = await harness.client();
      expect(await zap.limits.set({ queue: 'mail', concurrency: 5 })).toEqual({
        queue: 'mail',
        concurrency: 5,
        burstMultiplier: 1,
      });
      await zap.limits.set({ job: 'resize', rate: { limit: 10, periodMs: 1_000 } });
      await zap.limits.set({ partitionOf: 'mail', concurrency: 1, burstMultiplier: 2 });
      const listed = await zap.limits.list();
      expect(listed).toHaveLength(3);
      expect(listed).toContainEqual({
        job: 'resize',
        rate: { limit: 10, periodMs: 1_000 },
        burstMultiplier: 1,
      });
      expect(listed).toContainEqual({ partitionOf: 'mail', concurrency: 1, burstMultiplier: 2 });

      expect(await zap.limits.delete({ job: 'resize' })).toBe(true);
      expect(await zap.limits.delete({ job: 'resize' })).toBe(false);
      expect(await zap.limits.list()).toHaveLength(2);
      await expect(zap.limits.set({ queue: 'mail' })).rejects.toThrow(InvalidOptionError);
    });

    it('a rate-limited run is held, not failed', async () => {
      const rated = defineJob({
        name: 'conformance.rated',
        input: Type.Object({ n: Type.Integer() }),
        output: Type.Null(),
        defaults: { attempts: 1, queue: 'rated' },
        handler: async () => null,
      });
      const { zap } = await harness.client({ jobs: [rated] });
      await zap.limits.set({ queue: 'rated', rate: { limit: 2, periodMs: 400 } });
      const retrying = recordEvents(zap, ['job.retrying', 'job.failed']);
      const ids: string[] = [];
      for (let n = 0; n < 5; n++) ids.push((await zap.enqueue(rated, { n })).runId);
      await zap.createWorker({ ...FAST_WORKER, queues: ['rated'], concurrency: 5 }).start();
      await waitFor('5 rate-limited runs', async () => (await zap.countRuns()).completed === 5);

      expect(retrying).toEqual([]);
      const starts: number[] = [];
      for (const runId of ids) {
        const run = (await zap.getRun(runId))!;
        expect(run.attempt).toBe(1);
        starts.push(run.firstStartedAt!.getTime());
        const types = (await allEvents(zap, { runId })).map((event) => event.type);
        expect(types).toEqual(['enqueued', 'started', 'completed']);
      }
      starts.sort((a, b) => a - b);
      // At most 2 claims in any 400 ms window: every third start is 400 ms after the first.
      for (let index = 2; index < starts.length; index++) {
        expect(starts[index]! - starts[index - 2]!).toBeGreaterThanOrEqual(400);
      }
    });

    it('partition concurrency holds across workers', async () => {
      const running = new Map<string, number>();
      let maxPerPartition = 0;
      const tenantJob = defineJob({
        name: 'conformance.per-tenant',
        input: Type.Object({ tenant: Type.String() }),
        output: Type.Null(),
        defaults: { queue: 'tenants' },
        handler: async ({ tenant }) => {
          const count = (running.get(tenant) ?? 0) + 1;
          running.set(tenant, count);
          maxPerPartition = Math.max(maxPerPartition, count);
          await sleep(20);
          running.set(tenant, (running.get(tenant) ?? 1) - 1);
          return null;
        },
      });
      const first = await harness.client({ jobs: [tenantJob] });
      const second = await harness.secondClient(first, { jobs: [tenantJob] });
      await first.zap.limits.set({ partitionOf: 'tenants', concurrency: 1 });
      const tenants = ['a', 'b', 'c'];
      await first.zap.enqueueMany(
        Array.from({ length: 18 }, (_, index) => {
          const tenant = tenants[index % 3]!;
          return { job: tenantJob, input: { tenant }, options: { partitionKey: tenant } };
        }),
      );
      for (const client of [first, second]) {
        await client.zap
          .createWorker({ ...FAST_WORKER, queues: ['tenants'], concurrency: 4 })
          .start();
      }
      await waitFor('18 tenant runs', async () => (await first.zap.countRuns()).completed === 18);
      expect(maxPerPartition).toBe(1);
      // Runs held back by the limit used no attempt.
      const { runs } = await first.zap.listRuns({ queue: 'tenants', limit: 100 });
      expect(runs.map((run) => run.attempt)).toEqual(runs.map(() => 1));
    });

    it('burst uses idle capacity and reports it', async () => {
      const release = latch();
      const bursty = defineJob({
        name: 'conformance.bursty',
        input: Type.Object({ n: Type.Integer() }),
        output: Type.Null(),
        defaults: { queue: 'bursty' },
        handler: async () => {
          await release.promise;
          return null;
        },
      });
      const { zap } = await harness.client({ jobs: [bursty] });
      await zap.limits.set({ queue: 'bursty', concurrency: 1, burstMultiplier: 3 });
      const bursts = recordEvents(zap, ['limit.burst']);
      for (let n = 0; n < 4; n++) await zap.enqueue(bursty, { n });
      await zap.createWorker({ ...FAST_WORKER, queues: ['bursty'], concurrency: 4 }).start();

      await waitFor('3 bursting runs', async () => (await zap.countRuns()).running === 3);
      await sleep(100);
      expect((await zap.countRuns()).running).toBe(3);
      await waitFor('2 limit.burst events', () => bursts.length === 2);
      const running = await zap.listRuns({ queue: 'bursty', states: ['running'], limit: 10 });
      const runIds = running.runs.map((run) => run.id);
      for (const [index, { event }] of bursts.entries()) {
        expect(event).toMatchObject({
          kind: 'concurrency',
          limit: { queue: 'bursty', concurrency: 1, burstMultiplier: 3 },
          partitionKey: null,
          job: 'conformance.bursty',
          queue: 'bursty',
          tenantId: null,
          running: index + 2,
          burstConcurrency: 3,
          bursting: true,
        });
        expect(runIds).toContain(event.runId);
      }
      const [usage] = await zap.limits.usage();
      expect(usage).toMatchObject({ running: 3, burstConcurrency: 3, bursting: true });
      release.resolve();
      await waitFor('4 burst runs', async () => (await zap.countRuns()).completed === 4);
    });

    it('burst yields while other work waits', async () => {
      const release = latch();
      const gated = (name: string, queue: string) =>
        defineJob({
          name,
          input: Type.Object({ n: Type.Integer() }),
          output: Type.Null(),
          defaults: { queue },
          handler: async () => {
            await release.promise;
            return null;
          },
        });
      const limited = gated('conformance.limited', 'limited');
      const other = gated('conformance.other', 'other');
      const { zap } = await harness.client({ jobs: [limited, other] });
      await zap.limits.set({ queue: 'limited', concurrency: 1, burstMultiplier: 3 });
      const bursts = recordEvents(zap, ['limit.burst']);
      for (let n = 0; n < 3; n++) await zap.enqueue(limited, { n });
      for (let n = 0; n < 2; n++) await zap.enqueue(other, { n });
      await zap
        .createWorker({ ...FAST_WORKER, queues: ['limited', 'other'], concurrency: 3 })
        .start();

      await waitFor('3 running runs', async () => (await zap.countRuns()).running === 3);
      expect((await zap.countRuns({ queue: 'limited' })).running).toBe(1);
      expect((await zap.countRuns({ queue: 'other' })).running).toBe(2);
      expect(bursts).toEqual([]);
      release.resolve();
      await waitFor('5 runs', async () => (await zap.countRuns()).completed === 5);
    });

    it('rate burst shows in events and metrics', async () => {
      const rated = defineJob({
        name: 'conformance.rate-bursty',
        input: Type.Object({ n: Type.Integer() }),
        output: Type.Null(),
        defaults: { queue: 'rate-bursty' },
        handler: async () => null,
      });
      const metrics = createMetrics();
      const { zap } = await harness.client({
        jobs: [rated],
        telemetry: { meterProvider: metrics.provider },
      });
      // A window longer than the test: only the burst lets more than 2 claims through.
      const rate = { limit: 2, periodMs: 600_000 };
      await zap.limits.set({ queue: 'rate-bursty', rate, burstMultiplier: 2 });
      const bursts = recordEvents(zap, ['limit.burst']);
      for (let n = 0; n < 6; n++) await zap.enqueue(rated, { n }, { tenantId: 'acme' });
      await zap.createWorker({ ...FAST_WORKER, queues: ['rate-bursty'], concurrency: 6 }).start();

      // 2 × 2 claims per window: 4 runs complete and 2 wait for the next window.
      await waitFor('4 completed runs', async () => (await zap.countRuns()).completed === 4);
      await sleep(200);
      const counts = await zap.countRuns();
      expect(counts.completed).toBe(4);
      expect(counts.available + counts.scheduled).toBe(2);

      expect(bursts).toHaveLength(2);
      for (const [index, { event }] of bursts.entries()) {
        expect(event).toMatchObject({
          kind: 'rate',
          limit: { queue: 'rate-bursty', rate, burstMultiplier: 2 },
          partitionKey: null,
          job: 'conformance.rate-bursty',
          queue: 'rate-bursty',
          tenantId: 'acme',
          claims: index + 3,
          burstRate: 4,
          bursting: true,
        });
        expect((await zap.getRun(event.runId))?.state).toBe('completed');
      }

      const collected = await metrics.collect();
      const metric = collected.find(
        (candidate) => candidate.descriptor.name === 'zapjobs.limit.bursts',
      );
      expect(
        metric?.dataPoints.map((point) => ({ ...point.attributes, value: point.value })),
      ).toEqual([
        {
          'messaging.system': 'zapjobs',
          'messaging.destination.name': 'rate-bursty',
          'zapjobs.job.name': 'conformance.rate-bursty',
          'zapjobs.tenant.id': 'acme',
          'zapjobs.limit.scope': 'queue',
          'zapjobs.limit.kind': 'rate',
          value: 2,
        },
      ]);
    });
  });
}
