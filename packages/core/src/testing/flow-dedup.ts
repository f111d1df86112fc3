/**
 * Flow conformance: unique runs in each mode, and continuations with and without the
 * parent's output.
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
  useRuntimeHarness,
  waitFor,
  waitForState,
} from './runtime-harness.js';

/** Waits until the storage clock has passed `time`. */
async function waitForStorageTime(now: () => Promise<number>, time: number): Promise<void> {
  await waitFor(`storage time ${time}`, async () => (await now()) > time);
}

export function describeFlowDedup(options: ConformanceOptions): void {
  describe(`${options.name} flow: unique runs`, () => {
    const harness = useRuntimeHarness(options);

    /** Defines a job that blocks until `release` and records the input of each execution. */
    function gatedJob() {
      const started = latch();
      const release = latch();
      const executed: number[] = [];
      const job = defineJob({
        name: 'conformance.unique',
        input: Type.Object({ n: Type.Integer() }),
        output: Type.Integer(),
        handler: async ({ n }) => {
          executed.push(n);
          started.resolve();
          await release.promise;
          return n;
        },
      });
      return { job, started, release, executed };
    }

    it('until-started dedups until the run starts', async () => {
      const { job, started, release } = gatedJob();
      const { zap } = await harness.client({ jobs: [job] });
      const unique = { key: 'k', mode: 'until-started' } as const;
      const first = await zap.enqueue(job, { n: 1 }, { unique });
      const duplicate = await zap.enqueue(job, { n: 2 }, { unique });
      expect(first).toEqual({
        runId: first.runId,
        created: true,
        replaced: false,
        state: 'available',
      });
      expect(duplicate).toEqual({
        runId: first.runId,
        created: false,
        replaced: false,
        state: 'available',
      });

      await zap.createWorker({ ...FAST_WORKER, concurrency: 1 }).start();
      await started.promise;
      const afterStart = await zap.enqueue(job, { n: 3 }, { unique });
      expect(afterStart.created).toBe(true);
      expect(afterStart.runId).not.toBe(first.runId);
      release.resolve();
      await waitForState(zap, afterStart.runId, ['completed']);
    });

    it('until-finished dedups until the run finishes', async () => {
      const { job, started, release } = gatedJob();
      const { zap } = await harness.client({ jobs: [job] });
      const unique = { key: 'k', mode: 'until-finished' } as const;
      const first = await zap.enqueue(job, { n: 1 }, { unique });
      await zap.createWorker({ ...FAST_WORKER, concurrency: 1 }).start();
      await started.promise;
      const whileRunning = await zap.enqueue(job, { n: 2 }, { unique });
      expect(whileRunning).toEqual({
        runId: first.runId,
        created: false,
        replaced: false,
        state: 'running',
      });
      release.resolve();
      await waitForState(zap, first.runId, ['completed']);
      const afterFinish = await zap.enqueue(job, { n: 3 }, { unique });
      expect(afterFinish.created).toBe(true);
      await waitForState(zap, afterFinish.runId, ['completed']);
    });

    it('throttle ignores duplicates for periodMs', async () => {
      const { job } = gatedJob();
      const { zap, storage } = await harness.client({ jobs: [job] });
      const unique = { key: 'k', mode: 'throttle', periodMs: 300 } as const;
      const first = await zap.enqueue(job, { n: 1 }, { unique });
      for (const n of [2, 3]) {
        const result = await zap.enqueue(job, { n }, { unique });
        expect(result).toMatchObject({ runId: first.runId, created: false });
      }
      const createdAt = (await zap.getRun(first.runId))!.createdAt.getTime();
      await waitForStorageTime(() => storage.now(), createdAt + 300);
      const next = await zap.enqueue(job, { n: 4 }, { unique });
      expect(next.created).toBe(true);
      expect((await zap.countRuns()).available).toBe(2);
    });

    it('debounce replaces the pending run and delays it', async () => {
      const { job, release, executed } = gatedJob();
      release.resolve();
      const { zap, storage } = await harness.client({ jobs: [job] });
      const unique = { key: 'k', mode: 'debounce', periodMs: 300 } as const;
      const first = await zap.enqueue(job, { n: 1 }, { unique });
      expect(first).toMatchObject({ created: true, replaced: false, state: 'scheduled' });
      const beforeSecond = await storage.now();
      const second = await zap.enqueue(job, { n: 2 }, { unique });
      expect(second).toEqual({
        runId: first.runId,
        created: false,
        replaced: true,
        state: 'scheduled',
      });
      const pending = (await zap.getRun(first.runId))!;
      expect(pending.input).toEqual({ n: 2 });
      expect(pending.runAt.getTime()).toBeGreaterThanOrEqual(beforeSecond + 300);

      await zap.createWorker(FAST_WORKER).start();
      const run = await waitForState(zap, first.runId, ['completed']);
      expect(run.output).toBe(2);
      expect(executed).toEqual([2]);
    });

    it('unique excludes idempotencyKey', async () => {
      const { job } = gatedJob();
      const { zap } = await harness.client({ jobs: [job] });
      await expect(
        zap.enqueue(
          job,
          { n: 1 },
          { idempotencyKey: 'i', unique: { key: 'k', mode: 'until-started' } },
        ),
      ).rejects.toThrow(InvalidOptionError);
      expect((await zap.countRuns()).available).toBe(0);
    });
  });

  describe(`${options.name} flow: continuations`, () => {
    const harness = useRuntimeHarness(options);

    const parent = defineJob({
      name: 'conformance.parent',
      input: Type.Object({ value: Type.Unknown(), fail: Type.Boolean() }),
      output: Type.Object({ value: Type.Unknown() }),
      defaults: { attempts: 1 },
      handler: async ({ value, fail }) => {
        if (fail) throw new Error('parent failed');
        return { value };
      },
    });
    const child = defineJob({
      name: 'conformance.child',
      input: Type.Object({ value: Type.Integer() }),
      output: Type.Integer(),
      defaults: { attempts: 3 },
      handler: async ({ value }) => value * 2,
    });

    it('continuation receives the parent output', async () => {
      const { zap } = await harness.client({ jobs: [parent, child] });
      const first = await zap.enqueue(parent, { value: 21, fail: false });
      const next = await zap.enqueue(child, undefined as never, {
        dependsOn: [{ runId: first.runId, passOutput: true }],
      });
      expect(next.state).toBe('waiting');
      await zap.createWorker(FAST_WORKER).start();
      const run = await waitForState(zap, next.runId, ['completed']);
      expect(run.input).toEqual({ value: 21 });
      expect(run.output).toBe(42);
    });

    it('failure and always continuations', async () => {
      const { zap } = await harness.client({ jobs: [parent, child] });
      const first = await zap.enqueue(parent, { value: 1, fail: true });
      const dependsOn = (condition: 'success' | 'failure' | 'always') => ({
        dependsOn: [{ runId: first.runId, condition }],
      });
      const onSuccess = await zap.enqueue(child, { value: 1 }, dependsOn('success'));
      const onFailure = await zap.enqueue(child, { value: 2 }, dependsOn('failure'));
      const always = await zap.enqueue(child, { value: 3 }, dependsOn('always'));
      await zap.createWorker(FAST_WORKER).start();

      expect((await waitForState(zap, onFailure.runId, ['completed'])).output).toBe(4);
      expect((await waitForState(zap, always.runId, ['completed'])).output).toBe(6);
      expect((await waitForState(zap, onSuccess.runId, ['cancelled'])).attempt).toBe(0);
      expect((await zap.getRun(first.runId))!.state).toBe('failed');
    });

    it('output that breaks the child schema fails without retry', async () => {
      const { zap } = await harness.client({ jobs: [parent, child] });
      const first = await zap.enqueue(parent, { value: 'text', fail: false });
      const next = await zap.enqueue(child, undefined as never, {
        dependsOn: [{ runId: first.runId, passOutput: true }],
      });
      await zap.createWorker(FAST_WORKER).start();
      const run = await waitForState(zap, next.runId, ['failed']);
      expect(run.attempt).toBe(1);
      expect(run.error).toMatchObject({ name: 'NonRetryableError', code: 'NON_RETRYABLE' });
      expect(run.error!.message).toContain(
        `The output that a parent run passed as input to run ${next.runId} of job ` +
          '"conformance.child" does not match the job\'s input schema',
      );
      expect(run.error!.message).toContain('/value');
      const types = (await allEvents(zap, { runId: next.runId })).map((event) => event.type);
      expect(types).not.toContain('retrying');
    });
  });
}
