/**
 * Flow conformance: delayed runs start on time, and retried runs keep their priority.
 */
import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { defineJob } from '../job.js';
import type { ConformanceOptions } from './options.js';
import { FAST_WORKER, sleep, useRuntimeHarness, waitFor } from './runtime-harness.js';

const noop = defineJob({
  name: 'conformance.noop',
  input: Type.Object({ index: Type.Integer() }),
  output: Type.Null(),
  defaults: { attempts: 1 },
  handler: async () => null,
});

/** Most milliseconds a delayed run may start after its due time. */
const MAX_LATENESS_MS = 100;
const DELAYED_RUNS = 50;

export function describeFlowTiming(options: ConformanceOptions): void {
  describe(`${options.name} flow: timing and order`, () => {
    const harness = useRuntimeHarness(options);

    for (const concurrency of [1, 16]) {
      it(`delayed runs start on time at concurrency ${concurrency}`, async () => {
        const { zap } = await harness.client({ jobs: [noop] });
        // A poll interval far above the bound: only waking at the due time can meet it.
        await zap.createWorker({ ...FAST_WORKER, concurrency, pollIntervalMs: 5_000 }).start();
        await sleep(50);

        // Delays of 200 to 1,670 ms in steps of 30 ms, enqueued in a shuffled order (37 and 50
        // are coprime), so an earlier run often arrives while the worker waits for a later one.
        const runIds: string[] = [];
        for (let index = 0; index < DELAYED_RUNS; index++) {
          const delayMs = 200 + ((index * 37) % DELAYED_RUNS) * 30;
          runIds.push((await zap.enqueue(noop, { index }, { delayMs })).runId);
        }
        await waitFor(
          `${DELAYED_RUNS} delayed runs to complete`,
          async () => (await zap.countRuns()).completed === DELAYED_RUNS,
          15_000,
        );

        // Both times come from the storage clock: runAt at insert, firstStartedAt at claim.
        const late: { runId: string; latenessMs: number }[] = [];
        for (const runId of runIds) {
          const run = (await zap.getRun(runId))!;
          const latenessMs = run.firstStartedAt!.getTime() - run.runAt.getTime();
          expect(latenessMs).toBeGreaterThanOrEqual(0);
          if (latenessMs > MAX_LATENESS_MS) late.push({ runId, latenessMs });
        }
        expect(late).toEqual([]);
      });
    }

    it('retried run keeps its priority', async () => {
      const starts: string[] = [];
      const flaky = defineJob({
        name: 'conformance.priority-flaky',
        input: Type.Object({ name: Type.String() }),
        output: Type.Null(),
        defaults: { attempts: 2, backoff: { type: 'fixed', delayMs: 50 } },
        handler: async ({ name }, ctx) => {
          starts.push(`${name}#${ctx.attempt}`);
          if (name === 'urgent' && ctx.attempt === 1) throw new Error('first attempt fails');
          // Long enough that the urgent run's retry is due before the next claim.
          if (name !== 'urgent') await sleep(200);
          return null;
        },
      });
      const { zap } = await harness.client({ jobs: [flaky] });
      const urgent = await zap.enqueue(flaky, { name: 'urgent' }, { priority: 10 });
      for (const name of ['b1', 'b2', 'b3']) await zap.enqueue(flaky, { name });
      await zap.createWorker({ ...FAST_WORKER, concurrency: 1 }).start();
      await waitFor('4 runs to complete', async () => (await zap.countRuns()).completed === 4);

      // The retry is due after b1, b2 and b3, so only its priority puts it before b2 and b3.
      // Whether b1 starts before the retry depends on how fast the failure was stored.
      expect(starts[0]).toBe('urgent#1');
      expect(starts.slice(1).filter((start) => start !== 'b1#1')).toEqual([
        'urgent#2',
        'b2#1',
        'b3#1',
      ]);
      const run = (await zap.getRun(urgent.runId))!;
      expect(run.priority).toBe(10);
      expect(run.attempt).toBe(2);
    });
  });
}
