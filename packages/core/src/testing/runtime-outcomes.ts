/**
 * Runtime conformance: storing outcomes. A failed store is retried while the lease is held,
 * and a finished handler frees its slot before its outcome is stored. A graceful stop waits
 * for unstored outcomes and a forced stop abandons them. A slow claim does not shorten the
 * lease that the worker counts on.
 */
import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { maxUnstoredOutcomes } from '../internal/worker-options.js';
import { defineJob } from '../job.js';
import type { ClaimRequest, CompleteRequest, Storage } from '../storage/contract.js';
import type { ConformanceOptions } from './options.js';
import {
  FAST_WORKER,
  latch,
  recordEvents,
  recordingStorage,
  sleep,
  useRuntimeHarness,
  waitFor,
  waitForState,
} from './runtime-harness.js';

/** A job that records each start and returns at once. */
function quickJob(name: string, attempts = 1) {
  const started: string[] = [];
  const job = defineJob({
    name,
    input: Type.Object({ n: Type.Number() }),
    output: Type.Object({ n: Type.Number() }),
    defaults: { attempts },
    handler: async ({ n }, ctx) => {
      started.push(ctx.runId);
      return { n };
    },
  });
  return { job, started };
}

/** Wraps a storage so that every `complete` call waits for `gate` before it reaches the storage. */
function gatedCompletes(gate: Promise<void>, calls: CompleteRequest[][]) {
  return (storage: Storage) =>
    recordingStorage(storage, [], {
      complete: async (requests: CompleteRequest[]) => {
        calls.push(requests);
        await gate;
        return storage.complete(requests);
      },
    });
}

/**
 * Wraps a storage so that its first `complete` call throws a connection error, before storing
 * the outcomes or, with `afterStoring`, after storing them. `calls` counts every call.
 */
function failFirstComplete(afterStoring: boolean) {
  const counter = {
    calls: 0,
    wrap: (storage: Storage) =>
      recordingStorage(storage, [], {
        complete: async (requests: CompleteRequest[]) => {
          counter.calls++;
          if (counter.calls > 1) return storage.complete(requests);
          if (!afterStoring) throw new Error('connection reset while completing');
          await storage.complete(requests);
          throw new Error('connection reset after the commit');
        },
      }),
  };
  return counter;
}

export function describeRuntimeOutcomes(options: ConformanceOptions): void {
  describe(`${options.name} runtime: storing outcomes`, () => {
    const harness = useRuntimeHarness(options);

    it('failed complete is retried while the lease is held', async () => {
      const { job, started } = quickJob('conformance.store-retry');
      const failing = failFirstComplete(false);
      const { zap, logger } = await harness.client({ jobs: [job], wrap: failing.wrap });
      const completed = recordEvents(zap, ['job.completed', 'job.failed', 'job.stalled']);
      const { runId } = await zap.enqueue(job, { n: 7 });
      await zap.createWorker(FAST_WORKER).start();

      const run = await waitForState(zap, runId, ['completed', 'failed']);
      expect(run.state).toBe('completed');
      expect(run.output).toEqual({ n: 7 });
      expect(run.attempt).toBe(1);
      expect(started).toEqual([runId]);
      expect(failing.calls).toBe(2);
      expect(completed.map((entry) => entry.type)).toEqual(['job.completed']);
      const warning = logger.lines.find((line) =>
        line.message.includes('retrying while its lease is held'),
      );
      expect(warning?.message).toContain(runId);
      expect(warning?.message).toContain('connection reset while completing');
    });

    it('complete failing after its commit counts as stored', async () => {
      const { job, started } = quickJob('conformance.store-then-fail');
      const failing = failFirstComplete(true);
      const { zap, logger } = await harness.client({ jobs: [job], wrap: failing.wrap });
      const completed = recordEvents(zap, ['job.completed', 'job.failed', 'job.stalled']);
      const { runId } = await zap.enqueue(job, { n: 8 });
      await zap.createWorker(FAST_WORKER).start();

      await waitFor('the retried complete', () => failing.calls >= 2);
      await waitFor('the completed event', () => completed.length >= 1);
      const run = await waitForState(zap, runId, ['completed', 'failed']);
      expect(run.output).toEqual({ n: 8 });
      expect(started).toEqual([runId]);
      expect(completed.map((entry) => entry.type)).toEqual(['job.completed']);
      const discarded = logger.lines.filter((line) => line.message.includes('lease was lost'));
      expect(discarded).toEqual([]);
    });

    it('finished handler frees its slot before its outcome is stored', async () => {
      const { job, started } = quickJob('conformance.slot-free');
      const gate = latch();
      const calls: CompleteRequest[][] = [];
      const { zap } = await harness.client({
        jobs: [job],
        wrap: gatedCompletes(gate.promise, calls),
      });
      // One slot: handlers go on while every outcome waits at the gate, up to the cap of
      // unstored outcomes, plus the one running handler.
      const heldCount = 1 + maxUnstoredOutcomes(1, 0);
      const runs = await zap.enqueueMany(
        Array.from({ length: heldCount + 2 }, (_, n) => ({ job, input: { n } })),
      );
      await zap.createWorker({ ...FAST_WORKER, concurrency: 1 }).start();

      await waitFor(`${heldCount} handlers`, () => started.length >= heldCount);
      expect((await zap.getRun(runs[0]!.runId))?.state).toBe('running');
      // The cap is reached, so no further claim happens until outcomes are stored.
      await sleep(300);
      expect(started).toHaveLength(heldCount);

      gate.resolve();
      for (const { runId } of runs) {
        expect((await waitForState(zap, runId, ['completed', 'failed'])).state).toBe('completed');
      }
      expect(started).toHaveLength(heldCount + 2);
    });

    it('graceful stop waits for unstored outcomes', async () => {
      const { job, started } = quickJob('conformance.stop-unstored');
      const gate = latch();
      const calls: CompleteRequest[][] = [];
      const { zap } = await harness.client({
        jobs: [job],
        wrap: gatedCompletes(gate.promise, calls),
      });
      const { runId } = await zap.enqueue(job, { n: 1 });
      const worker = zap.createWorker(FAST_WORKER);
      await worker.start();
      await waitFor('the outcome to be sent', () => calls.length === 1);
      expect(started).toEqual([runId]);

      let stopped = false;
      const stopping = worker.stop().then(() => {
        stopped = true;
      });
      // Longer than the lease, so heartbeats had to keep it while the outcome was unstored.
      await sleep(1_300);
      expect(stopped).toBe(false);
      expect(worker.activeCount).toBe(1);

      gate.resolve();
      await stopping;
      const run = await zap.getRun(runId);
      expect(run?.state).toBe('completed');
      expect(run?.attempt).toBe(1);
    });

    // Each outcome that failed to store waits for its next try on one signal of the worker.
    // Node warns of a leak once an event target has more than 10 listeners.
    it('a dozen outcomes retried at once raise no warning', async () => {
      const { job, started } = quickJob('conformance.store-retry-many');
      let failing = true;
      let failedCalls = 0;
      const { zap } = await harness.client({
        jobs: [job],
        wrap: (storage) =>
          recordingStorage(storage, [], {
            complete: async (requests: CompleteRequest[]) => {
              if (failing) {
                failedCalls++;
                throw new Error('storage unavailable');
              }
              return storage.complete(requests);
            },
          }),
      });
      const warnings: Error[] = [];
      const onWarning = (warning: Error) => warnings.push(warning);
      process.on('warning', onWarning);
      try {
        const runIds = [];
        for (let n = 0; n < 12; n++) runIds.push((await zap.enqueue(job, { n })).runId);
        const worker = zap.createWorker({ ...FAST_WORKER, concurrency: 16, leaseMs: 5_000 });
        await worker.start();
        await waitFor('every run to start', () => started.length === 12);
        await waitFor('failed stores', () => failedCalls >= 2);
        // Longer than the first retry delays, so every run has waited on the signal.
        await sleep(300);
        failing = false;
        for (const runId of runIds) {
          expect((await waitForState(zap, runId, ['completed', 'failed'])).state).toBe('completed');
        }
        await worker.stop();
        expect(warnings.map((warning) => warning.name)).not.toContain(
          'MaxListenersExceededWarning',
        );
      } finally {
        process.off('warning', onWarning);
      }
    });

    it('forced stop abandons retries of a failing store', async () => {
      const { job } = quickJob('conformance.stop-abandon', 3);
      let completeCalls = 0;
      const { zap, logger } = await harness.client({
        jobs: [job],
        wrap: (storage) =>
          recordingStorage(storage, [], {
            complete: async () => {
              completeCalls++;
              throw new Error('storage unavailable');
            },
          }),
      });
      const { runId } = await zap.enqueue(job, { n: 1 });
      // A long lease: without abandoning, the worker would retry for about 20 s.
      const worker = zap.createWorker({ ...FAST_WORKER, leaseMs: 20_000, heartbeatMs: 5_000 });
      await worker.start();
      await waitFor('a retried store', () => completeCalls >= 2);

      const outcome = await Promise.race([
        worker.stop({ force: true }).then(() => 'stopped'),
        sleep(10_000).then(() => 'still retrying'),
      ]);
      expect(outcome).toBe('stopped');
      expect(worker.activeCount).toBe(0);
      const gaveUp = logger.lines.find((line) => line.message.includes('giving up'));
      expect(gaveUp?.message).toContain(runId);
      expect(gaveUp?.message).toContain('the worker is stopping');
      // The run keeps its lease until it expires; stall recovery then retries it.
      expect((await zap.getRun(runId))?.state).toBe('running');
    });

    it('slow claim does not shorten the lease', async () => {
      const gate = latch();
      const starts: AbortSignal[] = [];
      const job = defineJob({
        name: 'conformance.slow-claim',
        input: Type.Object({}),
        output: Type.Null(),
        defaults: { attempts: 1 },
        handler: async (_input, ctx) => {
          starts.push(ctx.signal);
          await gate.promise;
          return null;
        },
      });
      let delayed = false;
      const { zap } = await harness.client({
        jobs: [job],
        wrap: (storage) =>
          recordingStorage(storage, [], {
            // The first claim waits before it reaches the storage, as behind a busy database.
            claim: async (request: ClaimRequest) => {
              if (!delayed) {
                delayed = true;
                await sleep(1_500);
              }
              return storage.claim(request);
            },
            // Heartbeats fail, so the worker relies on the lease it got from the claim.
            heartbeat: async () => {
              throw new Error('heartbeat lost in transit');
            },
          }),
      });
      const { runId } = await zap.enqueue(job, {});
      await zap
        .createWorker({ ...FAST_WORKER, concurrency: 1, leaseMs: 2_000, heartbeatMs: 100 })
        .start();
      await waitFor('the handler', () => starts.length === 1, 5_000);

      // The lease runs 2 s from the claim reaching the storage, not from the claim call.
      await sleep(1_000);
      expect(starts[0]!.aborted).toBe(false);
      gate.resolve();
      const run = await waitForState(zap, runId, ['completed', 'failed']);
      expect(run.state).toBe('completed');
    });
  });
}
