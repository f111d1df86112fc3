/**
 * Runtime conformance: the client and a worker on a real backend, for the paths that succeed.
 */
import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { defineJob } from '../job.js';
import type { Plugin } from '../plugin.js';
import type { ConformanceOptions } from './options.js';
import {
  allEvents,
  FAST_WORKER,
  latch,
  recordEvents,
  recordingStorage,
  type StorageCall,
  useRuntimeHarness,
  waitFor,
  waitForState,
} from './runtime-harness.js';

const add = defineJob({
  name: 'conformance.add',
  input: Type.Object({ a: Type.Number(), b: Type.Number() }),
  output: Type.Object({ sum: Type.Number() }),
  handler: async ({ a, b }) => ({ sum: a + b }),
});

export function describeRuntimeBasics(options: ConformanceOptions): void {
  describe(`${options.name} runtime: enqueue and run`, () => {
    const harness = useRuntimeHarness(options);

    it('enqueued run completes end to end', async () => {
      const { zap } = await harness.client({ jobs: [add] });
      const { runId, created, state } = await zap.enqueue(add, { a: 2, b: 3 });
      expect(created).toBe(true);
      expect(state).toBe('available');
      expect(runId).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );

      await zap.createWorker(FAST_WORKER).start();
      const run = await waitForState(zap, runId, ['completed']);
      expect(run.output).toEqual({ sum: 5 });
      expect(run.input).toEqual({ a: 2, b: 3 });
      expect(run.attempt).toBe(1);
      expect(run.maxAttempts).toBe(3);
      expect(run.queue).toBe('default');
      expect(run.error).toBeNull();
      expect(run.createdAt).toBeInstanceOf(Date);
      expect(run.startedAt).toBeInstanceOf(Date);
      expect(run.finishedAt).toBeInstanceOf(Date);
      expect(run.finishedAt!.getTime()).toBeGreaterThanOrEqual(run.startedAt!.getTime());

      const types = (await allEvents(zap, { runId })).map((event) => event.type);
      expect(types).toEqual(['enqueued', 'started', 'completed']);
    });

    it('enqueue by name uses the registered job', async () => {
      const { zap } = await harness.client({ jobs: [add] });
      const { runId } = await zap.enqueue('conformance.add', { a: 1, b: 1 }, { queue: 'math' });
      await zap.createWorker({ ...FAST_WORKER, queues: ['math'] }).start();
      const run = await waitForState(zap, runId, ['completed']);
      expect(run.queue).toBe('math');
      expect(run.output).toEqual({ sum: 2 });
    });

    it('enqueueMany inserts every run in one storage call', async () => {
      const calls: StorageCall[] = [];
      const { zap } = await harness.client({
        jobs: [add],
        wrap: (storage) => recordingStorage(storage, calls),
      });
      const results = await zap.enqueueMany([
        { job: add, input: { a: 1, b: 2 } },
        { job: 'conformance.add', input: { a: 3, b: 4 }, options: { priority: 5 } },
        { job: add, input: { a: 5, b: 6 }, options: { idempotencyKey: 'many-1' } },
      ]);
      expect(calls.filter((call) => call.method === 'insertRuns')).toHaveLength(1);
      expect(results.map((result) => result.created)).toEqual([true, true, true]);
      expect(new Set(results.map((result) => result.runId)).size).toBe(3);
      const ids = results.map((result) => result.runId);
      expect([...ids].sort()).toEqual(ids);

      await zap.createWorker(FAST_WORKER).start();
      for (const [index, result] of results.entries()) {
        const run = await waitForState(zap, result.runId, ['completed']);
        expect(run.output).toEqual({ sum: [3, 7, 11][index] });
      }
    });

    it('idempotency key returns the existing run', async () => {
      const other = defineJob({ ...add, name: 'conformance.add-other' });
      const { zap } = await harness.client({ jobs: [add, other] });
      const first = await zap.enqueue(add, { a: 1, b: 1 }, { idempotencyKey: 'order-42' });
      const second = await zap.enqueue(add, { a: 9, b: 9 }, { idempotencyKey: 'order-42' });
      expect(second).toEqual({
        runId: first.runId,
        created: false,
        replaced: false,
        state: 'available',
      });
      const run = await zap.getRun(first.runId);
      expect(run?.input).toEqual({ a: 1, b: 1 });

      const forOtherJob = await zap.enqueue(other, { a: 1, b: 1 }, { idempotencyKey: 'order-42' });
      expect(forOtherJob.created).toBe(true);
      expect((await zap.countRuns()).available).toBe(2);
    });

    it('events are emitted in lifecycle order', async () => {
      let calls = 0;
      const flaky = defineJob({
        name: 'conformance.flaky-once',
        input: Type.Object({}),
        output: Type.Object({ calls: Type.Number() }),
        defaults: { attempts: 2, backoff: { type: 'fixed', delayMs: 20 } },
        handler: async () => {
          calls++;
          if (calls === 1) throw new Error('first call fails');
          return { calls };
        },
      });
      const { zap } = await harness.client({ jobs: [flaky] });
      const seen = recordEvents(zap, [
        'job.enqueued',
        'job.started',
        'job.retrying',
        'job.completed',
        'job.failed',
      ]);
      const { runId } = await zap.enqueue(flaky, {});
      const worker = zap.createWorker(FAST_WORKER);
      await worker.start();
      await waitForState(zap, runId, ['completed']);
      await waitFor('job.completed event', () => seen.some((e) => e.type === 'job.completed'));

      expect(seen.map((entry) => entry.type)).toEqual([
        'job.enqueued',
        'job.started',
        'job.retrying',
        'job.started',
        'job.completed',
      ]);
      expect(seen[0]?.event).toEqual({
        runId,
        job: flaky.name,
        queue: 'default',
        created: true,
        tenantId: null,
      });
      expect(seen[1]?.event).toEqual({
        runId,
        job: flaky.name,
        queue: 'default',
        attempt: 1,
        workerId: worker.id,
        tenantId: null,
      });
      expect(seen[2]?.event).toMatchObject({
        runId,
        attempt: 1,
        maxAttempts: 2,
        delayMs: 20,
        error: { name: 'Error', message: 'first call fails' },
      });
      expect(seen[3]?.event).toMatchObject({ attempt: 2 });
      expect(seen[4]?.event).toMatchObject({ runId, attempt: 2, output: { calls: 2 } });
      expect((seen[4]!.event as { durationMs: number }).durationMs).toBeGreaterThanOrEqual(0);
    });

    it('throwing listener does not disturb the worker', async () => {
      const { zap, logger } = await harness.client({ jobs: [add] });
      zap.on('job.started', () => {
        throw new Error('listener exploded');
      });
      zap.on('job.completed', async () => {
        throw new Error('async listener exploded');
      });
      const completed: string[] = [];
      zap.on('job.completed', (event) => {
        completed.push(event.runId);
      });

      const { runId } = await zap.enqueue(add, { a: 1, b: 2 });
      await zap.createWorker(FAST_WORKER).start();
      const run = await waitForState(zap, runId, ['completed']);
      expect(run.output).toEqual({ sum: 3 });
      await waitFor('the async listener error to be logged', () =>
        logger.messages('error').some((message) => message.includes('async listener exploded')),
      );
      expect(completed).toEqual([runId]);
      expect(logger.messages('error')).toContain(
        'Listener for event "job.started" threw and was ignored: listener exploded',
      );
    });

    it('plugin hooks all take part in a run', async () => {
      const order: string[] = [];
      const completedJobs: string[] = [];
      const greet = defineJob({
        name: 'conformance.plugin-greet',
        input: Type.Object({ name: Type.String() }),
        output: Type.Object({ greeting: Type.String() }),
        handler: async ({ name }, ctx) => {
          order.push('handler');
          const tenant = (ctx as unknown as { tenant: string }).tenant;
          return { greeting: `hello ${name} from ${tenant}` };
        },
      });
      let apiSeen = false;
      const plugin: Plugin = {
        name: 'conformance-audit',
        setup(api) {
          apiSeen =
            api.client !== undefined &&
            typeof api.storage.claim === 'function' &&
            typeof api.logger.info === 'function';
          api.registerJob(greet);
          api.on('job.completed', (event) => {
            completedJobs.push(event.job);
          });
          api.extendContext((ctx) => {
            order.push(`extend:${ctx.attempt}`);
            return { tenant: 'acme' };
          });
          api.wrapExecution(async (ctx, next, info) => {
            order.push(`before:${ctx.runId === info.lease.runId}`);
            const output = (await next()) as { greeting: string };
            order.push('after');
            return { greeting: output.greeting.toUpperCase() };
          });
        },
      };
      const { zap } = await harness.client({ plugins: [plugin] });
      expect(apiSeen).toBe(true);
      const { runId } = await zap.enqueue('conformance.plugin-greet', { name: 'ada' });
      await zap.createWorker(FAST_WORKER).start();
      const run = await waitForState(zap, runId, ['completed']);
      expect(run.output).toEqual({ greeting: 'HELLO ADA FROM ACME' });
      expect(order).toEqual(['extend:1', 'before:true', 'handler', 'after']);
      await waitFor('the plugin listener', () => completedJobs.length === 1);
      expect(completedJobs).toEqual(['conformance.plugin-greet']);
    });

    it('logs and progress are stored as events', async () => {
      const steps = defineJob({
        name: 'conformance.steps',
        input: Type.Object({}),
        output: Type.Null(),
        handler: async (_input, ctx) => {
          ctx.logger.info({ step: 1 }, 'first step done');
          await ctx.progress({ done: 1, total: 2 });
          ctx.logger.child?.({ part: 'b' }).warn({}, 'second step slow');
          await ctx.progress({ done: 2, total: 2 });
          return null;
        },
      });
      const { zap, logger } = await harness.client({ jobs: [steps] });
      const { runId } = await zap.enqueue(steps, {});
      const quiet = await zap.enqueue(steps, {}, { historyLevel: 'lifecycle' });
      await zap.createWorker(FAST_WORKER).start();
      const run = await waitForState(zap, runId, ['completed']);
      await waitForState(zap, quiet.runId, ['completed']);

      expect(run.progress).toEqual({ done: 2, total: 2 });
      const events = await allEvents(zap, { runId });
      const logs = events.filter((event) => event.type === 'log');
      expect(logs.map((event) => event.data)).toEqual([
        { level: 'info', message: 'first step done', fields: { step: 1 } },
        { level: 'warn', message: 'second step slow', fields: { part: 'b' } },
      ]);
      expect(logs.every((event) => event.attempt === 1)).toBe(true);
      expect(events.filter((event) => event.type === 'progress')).toHaveLength(2);
      expect(logger.lines.find((line) => line.message === 'first step done')?.fields).toMatchObject(
        {
          runId,
          step: 1,
        },
      );

      const quietTypes = (await allEvents(zap, { runId: quiet.runId })).map((event) => event.type);
      expect(quietTypes).not.toContain('log');
      expect(quietTypes).toContain('completed');
    });

    it('destructured context and thenable results', async () => {
      const destructuring = defineJob({
        name: 'conformance.destructure',
        input: Type.Object({}),
        output: Type.Object({ loaded: Type.Unknown(), aborted: Type.Boolean() }),
        handler: async (_input, { progress, saveCheckpoint, loadCheckpoint, signal, runId }) => {
          await saveCheckpoint({ runId });
          await progress(1);
          return { loaded: await loadCheckpoint(), aborted: signal.aborted };
        },
      });
      const plain = defineJob({
        name: 'conformance.plain-value',
        input: Type.Object({}),
        output: Type.Number(),
        handler: () => 3,
      });
      const thenable = defineJob({
        name: 'conformance.thenable',
        input: Type.Object({}),
        output: Type.Number(),
        // Not a Promise: a thenable, which settles later through its `then`.
        handler: () =>
          ({
            // biome-ignore lint/suspicious/noThenProperty: the test needs a thenable.
            then(resolve: (value: number) => void) {
              setTimeout(() => resolve(7), 5);
            },
          }) as unknown as Promise<number>,
      });
      const { zap } = await harness.client({ jobs: [destructuring, plain, thenable] });
      const first = await zap.enqueue(destructuring, {});
      const second = await zap.enqueue(plain, {});
      const third = await zap.enqueue(thenable, {});
      await zap.createWorker(FAST_WORKER).start();

      const run = await waitForState(zap, first.runId, ['completed']);
      expect(run.output).toEqual({ loaded: { runId: first.runId }, aborted: false });
      expect(run.progress).toBe(1);
      expect((await waitForState(zap, second.runId, ['completed'])).output).toBe(3);
      expect((await waitForState(zap, third.runId, ['completed'])).output).toBe(7);
    });

    it('removeOnComplete deletes runs, enqueueAndWait rejects', async () => {
      const removed = defineJob({
        name: 'conformance.removed',
        input: Type.Object({}),
        output: Type.Number(),
        defaults: { removeOnComplete: true },
        handler: () => 1,
      });
      const { zap } = await harness.client({ jobs: [removed] });
      const completed = recordEvents(zap, ['job.completed']);
      const deleted = await zap.enqueue(removed, {});
      const stored = await zap.enqueue(removed, {}, { removeOnComplete: false });
      await expect(zap.enqueueAndWait(removed, {})).rejects.toThrow(
        /Invalid option removeOnComplete: true\. Expected false for enqueueAndWait/,
      );
      expect((await zap.countRuns()).available).toBe(2);

      await zap.createWorker(FAST_WORKER).start();
      await waitForState(zap, stored.runId, ['completed']);
      await waitFor('the completion of the removed run', () =>
        completed.some(({ event }) => event.runId === deleted.runId),
      );
      expect(await zap.getRun(deleted.runId)).toBeNull();
      expect((await zap.countRuns()).completed).toBe(1);
      await expect(zap.waitFor(deleted.runId, { timeoutMs: 1_000 })).rejects.toThrow(
        /removed when it completed/,
      );
    });

    it('delayed run starts after its delay', async () => {
      const { zap } = await harness.client({ jobs: [add] });
      const { runId, state } = await zap.enqueue(add, { a: 1, b: 1 }, { delayMs: 400 });
      expect(state).toBe('scheduled');
      await zap.createWorker(FAST_WORKER).start();
      await waitForState(zap, runId, ['completed']);
      const events = await allEvents(zap, { runId });
      const enqueued = events.find((event) => event.type === 'enqueued')!;
      const started = events.find((event) => event.type === 'started')!;
      expect(started.at.getTime() - enqueued.at.getTime()).toBeGreaterThanOrEqual(400);
    });

    it('worker claims queues in the order listed', async () => {
      const order: string[] = [];
      const note = defineJob({
        name: 'conformance.note',
        input: Type.Object({ label: Type.String() }),
        output: Type.Null(),
        handler: async ({ label }) => {
          order.push(label);
          return null;
        },
      });
      const { zap } = await harness.client({ jobs: [note] });
      await zap.enqueue(note, { label: 'low' }, { queue: 'low' });
      await zap.enqueue(note, { label: 'high-p0' }, { queue: 'high' });
      await zap.enqueue(note, { label: 'high-p9' }, { queue: 'high', priority: 9 });
      await zap.createWorker({ ...FAST_WORKER, queues: ['high', 'low'], concurrency: 1 }).start();
      await waitFor('three runs', () => order.length === 3);
      expect(order).toEqual(['high-p9', 'high-p0', 'low']);
    });

    it('claims fill free slots and leases heartbeat in one call', async () => {
      const calls: StorageCall[] = [];
      const gate = latch();
      let started = 0;
      const block = defineJob({
        name: 'conformance.block',
        input: Type.Object({ n: Type.Number() }),
        output: Type.Object({ n: Type.Number() }),
        handler: async ({ n }) => {
          started++;
          await gate.promise;
          return { n };
        },
      });
      const { zap } = await harness.client({
        jobs: [block],
        wrap: (storage) => recordingStorage(storage, calls),
      });
      const runs = await zap.enqueueMany([0, 1, 2].map((n) => ({ job: block, input: { n } })));
      await zap.createWorker({ ...FAST_WORKER, concurrency: 3, heartbeatMs: 100 }).start();
      await waitFor('three handlers', () => started === 3);
      await waitFor('a heartbeat of three leases', () =>
        calls.some(
          (call) => call.method === 'heartbeat' && (call.args[0] as unknown[]).length === 3,
        ),
      );
      const claims = calls.filter((call) => call.method === 'claim');
      expect((claims[0]!.args[0] as { limit: number }).limit).toBe(3);

      gate.resolve();
      for (const run of runs) await waitForState(zap, run.runId, ['completed']);
      const completes = calls.filter((call) => call.method === 'complete');
      expect(completes).toHaveLength(1);
      expect(completes[0]?.args[0]).toHaveLength(3);
    });

    it('cancel stops a pending run', async () => {
      let ran = false;
      const never = defineJob({
        name: 'conformance.never',
        input: Type.Object({}),
        output: Type.Null(),
        handler: async () => {
          ran = true;
          return null;
        },
      });
      const { zap } = await harness.client({ jobs: [never] });
      const cancelled = recordEvents(zap, ['job.cancelled']);
      const { runId } = await zap.enqueue(never, {}, { delayMs: 200 });
      expect(await zap.cancel(runId)).toEqual({ cancelled: true, state: 'cancelled' });
      expect(await zap.cancel(runId)).toEqual({ cancelled: false, state: 'cancelled' });
      expect(cancelled.map((entry) => entry.event)).toEqual([{ runId, tenantId: null }]);

      await zap.createWorker(FAST_WORKER).start();
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(ran).toBe(false);
      expect((await zap.getRun(runId))?.state).toBe('cancelled');
    });

    it('cancel aborts a running handler', async () => {
      const started = latch();
      const reasons: unknown[] = [];
      const wait = defineJob({
        name: 'conformance.wait-for-abort',
        input: Type.Object({}),
        output: Type.Null(),
        handler: async (_input, ctx) => {
          started.resolve();
          await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
          reasons.push(ctx.signal.reason);
          return null;
        },
      });
      const { zap } = await harness.client({ jobs: [wait] });
      const completed = recordEvents(zap, ['job.completed', 'job.failed']);
      const { runId } = await zap.enqueue(wait, {});
      await zap.createWorker(FAST_WORKER).start();
      await started.promise;
      expect(await zap.cancel(runId)).toEqual({ cancelled: true, state: 'cancelled' });
      await waitFor('the handler to see the abort', () => reasons.length === 1);
      expect((reasons[0] as { code?: string }).code).toBe('RUN_CANCELLED');
      await new Promise((resolve) => setTimeout(resolve, 100));
      const run = await zap.getRun(runId);
      expect(run?.state).toBe('cancelled');
      expect(run?.output).toBeNull();
      expect(completed).toEqual([]);
    });

    it('retryRuns moves a dead-letter run back to work', async () => {
      let calls = 0;
      const once = defineJob({
        name: 'conformance.fails-first',
        input: Type.Object({}),
        output: Type.Object({ calls: Type.Number() }),
        defaults: { attempts: 1 },
        handler: async () => {
          calls++;
          if (calls === 1) throw new Error('not yet');
          return { calls };
        },
      });
      const { zap } = await harness.client({ jobs: [once] });
      const { runId } = await zap.enqueue(once, {});
      await zap.createWorker(FAST_WORKER).start();
      const failed = await waitForState(zap, runId, ['failed']);
      expect(failed.error?.message).toBe('not yet');
      expect(await zap.retryRuns([runId])).toBe(1);
      const run = await waitForState(zap, runId, ['completed']);
      expect(run.output).toEqual({ calls: 2 });
      expect(run.attempt).toBe(1);
    });
  });
}
