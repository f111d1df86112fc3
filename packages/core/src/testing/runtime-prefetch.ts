/**
 * Runtime conformance: the worker's `prefetch` buffer, which claims runs ahead of free slots.
 */
import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { defineJob } from '../job.js';
import type { ConformanceOptions } from './options.js';
import {
  FAST_WORKER,
  latch,
  recordingStorage,
  type StorageCall,
  useRuntimeHarness,
  waitFor,
  waitForState,
} from './runtime-harness.js';

/** A job whose handler records its start and waits until the test opens its gate. */
function gatedJob(name: string) {
  const state = {
    started: [] as { n: number; attempt: number }[],
    gates: new Map<number, ReturnType<typeof latch<void>>>(),
  };
  const job = defineJob({
    name,
    input: Type.Object({ n: Type.Integer() }),
    output: Type.Object({ n: Type.Integer() }),
    handler: async (input, ctx) => {
      const gate = latch();
      state.gates.set(input.n, gate);
      state.started.push({ n: input.n, attempt: ctx.attempt });
      await gate.promise;
      return { n: input.n };
    },
  });
  return { job, state };
}

export function describeRuntimePrefetch(options: ConformanceOptions): void {
  describe(`${options.name} runtime: prefetch`, () => {
    const harness = useRuntimeHarness(options);

    it('claims free slots plus prefetch in one call and starts buffered runs in order', async () => {
      const { job, state } = gatedJob('conformance.prefetch-ahead');
      const calls: StorageCall[] = [];
      const { zap } = await harness.client({
        jobs: [job],
        wrap: (storage) => recordingStorage(storage, calls),
      });
      const runIds = (
        await zap.enqueueMany(Array.from({ length: 6 }, (_, n) => ({ job, input: { n } })))
      ).map((result) => result.runId);

      await zap.createWorker({ ...FAST_WORKER, concurrency: 1, prefetch: 3 }).start();
      await waitFor('the first run to start', () => state.started.length === 1);
      const claims = calls.filter((call) => call.method === 'claim');
      expect((claims[0]!.args[0] as { limit: number }).limit).toBe(4);
      // One handler runs; three more runs are leased in the buffer and have not started.
      const states = await Promise.all(runIds.map(async (id) => (await zap.getRun(id))?.state));
      expect(states.filter((s) => s === 'running')).toHaveLength(4);
      expect(state.started).toHaveLength(1);

      for (let n = 0; n < 6; n++) {
        await waitFor(`run ${n} to start`, () => state.gates.get(n));
        state.gates.get(n)!.resolve();
      }
      for (const id of runIds) await waitForState(zap, id, ['completed']);
      expect(state.started.map((start) => start.n)).toEqual([0, 1, 2, 3, 4, 5]);
    });

    /**
     * Runs `total` gated runs through a worker with concurrency 1 and `prefetch`, opening the
     * gates in order. Checks the limit of the first claim, that no other claim is sent before
     * run `refillAt` starts, and then the limit of the refill claim.
     */
    async function checkRefill(
      name: string,
      total: number,
      prefetch: number,
      refillAt: number,
      limits: [number, number],
    ): Promise<void> {
      const { job, state } = gatedJob(name);
      const calls: StorageCall[] = [];
      const { zap } = await harness.client({
        jobs: [job],
        wrap: (storage) => recordingStorage(storage, calls),
      });
      const runIds = (
        await zap.enqueueMany(Array.from({ length: total }, (_, n) => ({ job, input: { n } })))
      ).map((result) => result.runId);
      const claimLimits = () =>
        calls
          .filter((call) => call.method === 'claim')
          .map((call) => (call.args[0] as { limit: number }).limit);

      await zap.createWorker({ ...FAST_WORKER, concurrency: 1, prefetch }).start();
      for (let n = 0; n < refillAt; n++) {
        await waitFor(`run ${n} to start`, () => state.gates.get(n));
        expect(claimLimits()).toEqual([limits[0]]);
        state.gates.get(n)!.resolve();
      }
      await waitFor(`run ${refillAt} to start`, () => state.gates.get(refillAt));
      await waitFor('the refill claim', () => claimLimits().length === 2);
      expect(claimLimits()).toEqual(limits);

      for (let n = refillAt; n < total; n++) {
        await waitFor(`run ${n} to start`, () => state.gates.get(n));
        state.gates.get(n)!.resolve();
      }
      for (const id of runIds) await waitForState(zap, id, ['completed']);
      expect(state.started.map((start) => start.n)).toEqual(
        Array.from({ length: total }, (_, n) => n),
      );
    }

    it('refills the buffer once an eighth remains', async () => {
      // The first claim fills the free slot and the buffer: run 0 starts, runs 1 to 16 wait.
      // Until 14 of the 16 buffered runs have started, the worker does not claim. Run 14
      // starting leaves 2 of 16 runs buffered, so one claim refills the 14 free places.
      await checkRefill('conformance.prefetch-refill', 40, 16, 14, [17, 14]);
    });

    it('keeps one run buffered while refilling', async () => {
      // With prefetch 3 an eighth rounds down to none, but one run stays buffered: the refill
      // goes out when run 2 starts and leaves run 3 waiting.
      await checkRefill('conformance.prefetch-keep-one', 6, 3, 2, [4, 2]);
    });

    it('graceful stop releases buffered runs at once without counting their attempt', async () => {
      const { job, state } = gatedJob('conformance.prefetch-release');
      const first = await harness.client({ jobs: [job] });
      const runIds = (
        await first.zap.enqueueMany(Array.from({ length: 3 }, (_, n) => ({ job, input: { n } })))
      ).map((result) => result.runId);

      // Long leases: the buffered runs come back only through release, not through expiry.
      const worker = first.zap.createWorker({
        ...FAST_WORKER,
        concurrency: 1,
        prefetch: 2,
        leaseMs: 60_000,
        heartbeatMs: 20_000,
        shutdownTimeoutMs: 20_000,
      });
      await worker.start();
      await waitFor('the first run to start', () => state.started.length === 1);
      const stopped = worker.stop();

      const buffered = runIds.slice(1);
      for (const id of buffered) {
        const run = await waitForState(first.zap, id, ['available'], 5_000);
        expect(run.attempt).toBe(0);
      }
      const second = await harness.secondClient(first, { jobs: [job] });
      await second.zap.createWorker(FAST_WORKER).start();
      await waitFor('the released runs to start elsewhere', () => state.started.length === 3);
      for (const n of [1, 2]) state.gates.get(n)!.resolve();
      for (const id of buffered) {
        const run = await waitForState(second.zap, id, ['completed']);
        expect(run.attempt).toBe(1);
      }
      // The graceful stop still waits for the handler that had started.
      expect(worker.state).toBe('stopping');
      state.gates.get(0)!.resolve();
      await stopped;
      expect((await first.zap.getRun(runIds[0]!))?.state).toBe('completed');
      expect(state.started.map((start) => start.attempt)).toEqual([1, 1, 1]);
    });

    it('never starts a buffered run that was cancelled', async () => {
      const { job, state } = gatedJob('conformance.prefetch-cancel');
      const { zap } = await harness.client({ jobs: [job] });
      const [held, doomed, later] = (
        await zap.enqueueMany(Array.from({ length: 3 }, (_, n) => ({ job, input: { n } })))
      ).map((result) => result.runId);

      await zap.createWorker({ ...FAST_WORKER, concurrency: 1, prefetch: 2 }).start();
      await waitFor('the first run to start', () => state.started.length === 1);
      expect((await zap.getRun(doomed!))?.state).toBe('running');
      await zap.cancel(doomed!);
      state.gates.get(0)!.resolve();
      await waitFor('the third run to start', () => state.gates.get(2));
      state.gates.get(2)!.resolve();
      await waitForState(zap, later!, ['completed']);
      await waitForState(zap, held!, ['completed']);
      expect((await zap.getRun(doomed!))?.state).toBe('cancelled');
      expect(state.started.map((start) => start.n)).toEqual([0, 2]);
    });

    it('runs every run exactly once with two prefetching workers', async () => {
      const executions = new Map<number, number>();
      const job = defineJob({
        name: 'conformance.prefetch-once',
        input: Type.Object({ n: Type.Integer() }),
        output: Type.Null(),
        handler: async (input) => {
          executions.set(input.n, (executions.get(input.n) ?? 0) + 1);
          await new Promise((resolve) => setTimeout(resolve, 2));
          return null;
        },
      });
      const first = await harness.client({ jobs: [job] });
      const second = await harness.secondClient(first, { jobs: [job] });
      const total = 80;
      const runIds = (
        await first.zap.enqueueMany(
          Array.from({ length: total }, (_, n) => ({ job, input: { n } })),
        )
      ).map((result) => result.runId);

      for (const client of [first, second]) {
        await client.zap.createWorker({ ...FAST_WORKER, concurrency: 2, prefetch: 8 }).start();
      }
      for (const id of runIds) await waitForState(first.zap, id, ['completed'], 20_000);
      expect(executions.size).toBe(total);
      expect([...executions.values()].every((count) => count === 1)).toBe(true);
    });
  });
}
