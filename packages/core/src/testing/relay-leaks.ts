/**
 * Relay conformance: waits that time out release everything they held. Ten thousand waits
 * on runs that never finish must leave no waiter, timer, abort listener or extra storage
 * subscription behind.
 */
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { CancelledError, WaitTimeoutError } from '../errors.js';
import type { ConformanceOptions } from './options.js';
import { echoJob, relayFixtureJobs } from './relay-fixtures.js';
import { recordingStorage, type StorageCall, useRuntimeHarness } from './runtime-harness.js';

const WAITS = 10_000;
const RUNS = 20;
const WAIT_TIMEOUT_MS = 300;

/** Active handles and requests of this process by type, such as `Timeout` or `TCPWRAP`. */
function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) {
    counts.set(type, (counts.get(type) ?? 0) + 1);
  }
  return counts;
}

function settleTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export function describeRelayLeaks(options: ConformanceOptions): void {
  describe(`${options.name} relay: timed-out waits`, () => {
    const harness = useRuntimeHarness(options);

    it(`${WAITS} timed-out waits leave no timer or listener`, async () => {
      const calls: StorageCall[] = [];
      const { zap } = await harness.client({
        jobs: relayFixtureJobs,
        wrap: (storage) => recordingStorage(storage, calls),
      });
      // No worker runs, so every run stays available and every wait times out.
      const runIds = (
        await zap.enqueueMany(
          Array.from({ length: RUNS }, (_, index) => ({
            job: echoJob,
            input: { text: `run ${index}` },
          })),
        )
      ).map((result) => result.runId);

      // A first round opens the shared subscription and the storage's connections, so the
      // measured round starts from a steady state.
      const warmUp = await Promise.allSettled(
        runIds.map((runId) => zap.waitFor(runId, { timeoutMs: 50 })),
      );
      expect(warmUp.every((result) => result.status === 'rejected')).toBe(true);
      await settleTurn();
      const before = activeResources();

      const controller = new AbortController();
      const waits = Array.from({ length: WAITS }, (_, index) =>
        zap.waitFor(runIds[index % RUNS]!, {
          timeoutMs: WAIT_TIMEOUT_MS,
          // Every tenth wait also listens to a signal that never aborts.
          ...(index % 10 === 0 ? { signal: controller.signal } : {}),
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, 50));

      // While the waits are pending, the count includes one timer per wait, so a leak would show.
      // Backends may close a few timers of their own meanwhile (pool idle timers), hence the 5.
      expect(zap.pendingWaits).toBe(WAITS);
      const during = activeResources();
      expect(during.get('Timeout') ?? 0).toBeGreaterThanOrEqual(
        (before.get('Timeout') ?? 0) + WAITS - 5,
      );
      // One listener serves every wait that shares the signal: Node warns of a leak past 10.
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);

      const results = await Promise.allSettled(waits);
      const reasons = results.map((result) =>
        result.status === 'rejected' ? result.reason : result.value,
      );
      expect(reasons.filter((reason) => reason instanceof WaitTimeoutError)).toHaveLength(WAITS);
      await settleTurn();

      expect(zap.pendingWaits).toBe(0);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      expect(calls.filter((call) => call.method === 'subscribe')).toHaveLength(1);
      // The runs are read once per batch of waits registered together, not once per wait.
      expect(calls.filter((call) => call.method === 'getRun').length).toBeLessThan(WAITS / 10);

      // Waits that end before their timeout, by a cancel or an abort, must clear their timers.
      const abort = new AbortController();
      const early = [
        ...Array.from({ length: 1_000 }, () => zap.waitFor(runIds[0]!, { timeoutMs: 60_000 })),
        ...Array.from({ length: 1_000 }, (_, index) =>
          zap.waitFor(runIds[1 + (index % (RUNS - 1))]!, {
            timeoutMs: 60_000,
            signal: abort.signal,
          }),
        ),
      ];
      const earlySettled = Promise.allSettled(early);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(zap.pendingWaits).toBe(2_000);
      const stop = new Error('caller stopped waiting');
      abort.abort(stop);
      await zap.cancel(runIds[0]!);
      const earlyReasons = (await earlySettled).map((result) =>
        result.status === 'rejected' ? result.reason : result.value,
      );
      expect(earlyReasons.filter((reason) => reason instanceof CancelledError)).toHaveLength(1_000);
      expect(earlyReasons.filter((reason) => reason === stop)).toHaveLength(1_000);
      await settleTurn();
      expect(zap.pendingWaits).toBe(0);
      expect(getEventListeners(abort.signal, 'abort')).toHaveLength(0);

      // Timers and immediates are what a wait holds. Backends may open or close a few timers
      // of their own (pool idle timers); a leak would leave one per wait, thousands. Requests
      // such as socket writes still in flight are not held by waits and are not compared.
      const after = activeResources();
      for (const type of ['Timeout', 'Immediate']) {
        expect(after.get(type) ?? 0, `active ${type} resources`).toBeLessThanOrEqual(
          (before.get(type) ?? 0) + 5,
        );
      }
    });
  });
}
