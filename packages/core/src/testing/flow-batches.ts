/**
 * Flow conformance: batches with callbacks and progress, and the dead letter.
 */
import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { uuidv7 } from '../internal/uuid.js';
import { defineJob } from '../job.js';
import type { NewRun } from '../storage/contract.js';
import type { ConformanceOptions } from './options.js';
import { FAST_WORKER, latch, useRuntimeHarness, waitFor, waitForState } from './runtime-harness.js';

/** Builds a run of queue `queue` to insert through the storage directly. */
function newRunFor(queue: string): NewRun {
  return {
    id: uuidv7(),
    job: 'conformance.race',
    queue,
    input: 'null',
    priority: 0,
    maxAttempts: 1,
    historyLevel: 'lifecycle',
  };
}

export function describeFlowBatches(options: ConformanceOptions): void {
  describe(`${options.name} flow: batches`, () => {
    const harness = useRuntimeHarness(options);

    /** Defines a member job that fails when asked, and a callback job that records its kind. */
    function batchJobs() {
      const gate = latch();
      gate.resolve();
      const callbacks: string[] = [];
      const member = defineJob({
        name: 'conformance.batch-member',
        input: Type.Object({ fail: Type.Boolean() }),
        output: Type.Null(),
        defaults: { attempts: 1 },
        handler: async ({ fail }) => {
          await jobs.gate.promise;
          if (fail) throw new Error('member failed');
          return null;
        },
      });
      const callback = defineJob({
        name: 'conformance.batch-callback',
        input: Type.Object({ kind: Type.String() }),
        output: Type.Null(),
        handler: async ({ kind }) => {
          callbacks.push(kind);
          return null;
        },
      });
      const jobs = { member, callback, callbacks, gate };
      return jobs;
    }

    const allCallbacks = (callback: ReturnType<typeof batchJobs>['callback']) => ({
      onSuccess: { job: callback, input: { kind: 'success' } },
      onFailure: { job: callback, input: { kind: 'failure' } },
      onFinish: { job: callback, input: { kind: 'finish' } },
    });

    it('success enqueues onSuccess and onFinish', async () => {
      const { member, callback, callbacks } = batchJobs();
      const { zap } = await harness.client({ jobs: [member, callback] });
      const created = await zap.batches.create({
        runs: [1, 2, 3].map(() => ({ job: member, input: { fail: false } })),
        ...allCallbacks(callback),
      });
      expect(created.runIds).toHaveLength(3);
      for (const runId of created.runIds) {
        expect((await zap.getRun(runId))!.groupId).toBe(created.batchId);
      }
      await zap.createWorker(FAST_WORKER).start();
      await waitForState(zap, created.callbacks.onFinish!, ['completed']);
      await waitForState(zap, created.callbacks.onSuccess!, ['completed']);

      const status = (await zap.batches.get(created.batchId))!;
      expect(status).toMatchObject({
        batchId: created.batchId,
        state: 'succeeded',
        total: 3,
        completed: 3,
        failed: 0,
        cancelled: 0,
        pending: 0,
      });
      expect(status.callbacks).toEqual({
        onSuccess: { runId: created.callbacks.onSuccess, state: 'completed' },
        onFailure: { runId: created.callbacks.onFailure, state: null },
        onFinish: { runId: created.callbacks.onFinish, state: 'completed' },
      });
      expect(callbacks.sort()).toEqual(['finish', 'success']);
    });

    it('a failed member enqueues onFailure and onFinish', async () => {
      const { member, callback, callbacks } = batchJobs();
      const { zap } = await harness.client({ jobs: [member, callback] });
      const created = await zap.batches.create({
        runs: [false, true, false].map((fail) => ({ job: member, input: { fail } })),
        ...allCallbacks(callback),
      });
      await zap.createWorker(FAST_WORKER).start();
      await waitForState(zap, created.callbacks.onFailure!, ['completed']);
      await waitForState(zap, created.callbacks.onFinish!, ['completed']);
      const status = (await zap.batches.get(created.batchId))!;
      expect(status).toMatchObject({ state: 'failed', total: 3, completed: 2, failed: 1 });
      expect(status.callbacks.onSuccess).toEqual({
        runId: created.callbacks.onSuccess,
        state: null,
      });
      expect(callbacks.sort()).toEqual(['failure', 'finish']);
    });

    it('progress counts while members run', async () => {
      const jobs = batchJobs();
      jobs.gate = latch();
      const { zap } = await harness.client({ jobs: [jobs.member, jobs.callback] });
      const created = await zap.batches.create({
        runs: [1, 2, 3, 4].map(() => ({ job: jobs.member, input: { fail: false } })),
        onFinish: { job: jobs.callback, input: { kind: 'finish' } },
      });
      await zap.createWorker({ ...FAST_WORKER, concurrency: 2 }).start();
      await waitFor(
        '2 running members',
        async () => (await zap.batches.get(created.batchId))!.byState.running === 2,
      );
      const status = (await zap.batches.get(created.batchId))!;
      expect(status).toMatchObject({ state: 'running', total: 4, completed: 0, pending: 4 });
      expect(status.byState.available).toBe(2);
      expect(status.callbacks.onFinish!.state).toBeNull();
      jobs.gate.resolve();
      await waitForState(zap, created.callbacks.onFinish!, ['completed']);
      expect((await zap.batches.get(created.batchId))!.state).toBe('succeeded');
    });

    it('finalizer released when members finish concurrently', async () => {
      // Members that finish in concurrent storage calls must still release the finalizer,
      // which waits on all of them. Several rounds, because the calls race.
      const { storage } = await harness.client();
      for (let round = 0; round < 5; round++) {
        const members = [0, 1, 2, 3].map(() => newRunFor(`race-${round}`));
        const finalizer = {
          ...newRunFor(`race-${round}-finalizer`),
          dependsOn: members.map((member) => ({ runId: member.id, condition: 'always' as const })),
        };
        await storage.insertRuns([...members, finalizer]);
        const claimed = await storage.claim({
          workerId: 'race',
          queues: [`race-${round}`],
          limit: 4,
          leaseMs: 30_000,
        });
        expect(claimed).toHaveLength(4);
        const results = await Promise.all(
          claimed.map((run) =>
            storage.complete([{ runId: run.id, leaseToken: run.leaseToken, output: 'null' }]),
          ),
        );
        expect(results).toEqual([[true], [true], [true], [true]]);
        expect({ round, state: (await storage.getRun(finalizer.id))!.state }).toEqual({
          round,
          state: 'available',
        });
      }
    });

    it('empty batch completes at once', async () => {
      const { member, callback, callbacks } = batchJobs();
      const { zap } = await harness.client({ jobs: [member, callback] });
      const created = await zap.batches.create({ runs: [], ...allCallbacks(callback) });
      const status = (await zap.batches.get(created.batchId))!;
      expect(status).toMatchObject({ state: 'succeeded', total: 0, pending: 0 });
      expect(status.callbacks.onSuccess!.state).toBe('available');
      expect(status.callbacks.onFinish!.state).toBe('available');
      expect(status.callbacks.onFailure!.state).toBeNull();

      await zap.createWorker(FAST_WORKER).start();
      await waitForState(zap, created.batchId, ['completed']);
      await waitForState(zap, created.callbacks.onSuccess!, ['completed']);
      await waitForState(zap, created.callbacks.onFinish!, ['completed']);
      expect(callbacks.sort()).toEqual(['finish', 'success']);
      expect((await zap.countRuns({ job: 'conformance.batch-callback' })).completed).toBe(2);
    });

    it('unknown batch id returns null', async () => {
      const { zap } = await harness.client();
      const { runId } = await zap.enqueue(batchJobs().member, { fail: false });
      expect(await zap.batches.get(runId)).toBeNull();
      expect(await zap.batches.get('no-such-batch')).toBeNull();
    });
  });

  describe(`${options.name} flow: dead letter`, () => {
    const harness = useRuntimeHarness(options);

    it('lists and redrives failed runs', async () => {
      let healthy = false;
      const fragile = defineJob({
        name: 'conformance.fragile',
        input: Type.Object({ n: Type.Integer() }),
        output: Type.Integer(),
        defaults: { attempts: 1, queue: 'fragile' },
        handler: async ({ n }) => {
          if (!healthy) throw new Error(`run ${n} failed`);
          return n;
        },
      });
      const { zap } = await harness.client({ jobs: [fragile] });
      const ids: string[] = [];
      for (const n of [1, 2, 3]) {
        ids.push((await zap.enqueue(fragile, { n }, { priority: 7 })).runId);
      }
      await zap.createWorker({ ...FAST_WORKER, queues: ['fragile'] }).start();
      await waitFor('3 dead-letter runs', async () => (await zap.deadLetter.count()) === 3);

      const { runs } = await zap.deadLetter.list({ queue: 'fragile', order: 'asc' });
      expect(runs.map((run) => run.id)).toEqual(ids);
      expect(runs[0]!.error).toMatchObject({ message: 'run 1 failed' });
      expect(await zap.deadLetter.count({ job: 'conformance.fragile' })).toBe(3);

      healthy = true;
      expect(await zap.deadLetter.redrive(ids[0]!)).toBe(1);
      const first = await waitForState(zap, ids[0]!, ['completed']);
      expect(first).toMatchObject({ output: 1, attempt: 1, priority: 7 });

      expect(await zap.deadLetter.redrive({ queue: 'fragile', max: 1 })).toBe(1);
      expect(await zap.deadLetter.redrive({ queue: 'fragile' })).toBe(1);
      for (const runId of ids) await waitForState(zap, runId, ['completed']);
      expect(await zap.deadLetter.count()).toBe(0);
      expect(await zap.deadLetter.redrive([])).toBe(0);
    });
  });
}
