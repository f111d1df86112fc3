/**
 * Relay conformance across processes: a process that runs no worker waits for runs that this
 * process enqueues and runs, and learns their outcomes through the storage's notifications.
 */
import { describe, expect, it } from 'vitest';
import type { ConformanceOptions } from './options.js';
import { echoJob, FAILURES, failJob, relayFixtureJobs } from './relay-fixtures.js';
import { spawnChild } from './relay-spawn.js';
import { FAST_WORKER, useRuntimeHarness, waitForState } from './runtime-harness.js';

interface WaitResult {
  runId: string;
  ok: boolean;
  output?: unknown;
  error?: Record<string, unknown>;
}

export function describeRelayProcesses(options: ConformanceOptions): void {
  describe(`${options.name} relay: waiter in another process`, () => {
    const harness = useRuntimeHarness(options);

    it('waiter without a worker gets outputs and errors', async () => {
      const { zap, handle } = await harness.client({ jobs: relayFixtureJobs });
      const ok = await zap.enqueue(echoJob, { text: 'across processes' });
      const failed = await zap.enqueue(failJob, { kind: 'user' });
      const slow = await zap.enqueue(echoJob, { text: 'too slow', delayMs: 60_000 });

      const waiter = spawnChild('relay-child', 'ZAPJOBS_RELAY_CHILD_CONFIG', {
        openModule: options.openModule,
        descriptor: handle.descriptor,
        waits: [
          { runId: ok.runId, timeoutMs: 20_000 },
          { runId: failed.runId, timeoutMs: 20_000 },
          { runId: slow.runId, timeoutMs: 1_500, cancelOnTimeout: true },
        ],
      });
      harness.onCleanup(() => waiter.kill());
      const ready = await waiter.line('ready');
      expect(ready.pid).not.toBe(process.pid);
      // Every run is still queued: the waiter can only learn the outcomes from notifications.
      expect(waiter.lines().filter((line) => 'result' in line)).toEqual([]);

      await zap.createWorker(FAST_WORKER).start();
      expect(await waiter.exited, waiter.stderr()).toBe(0);

      const results = new Map(
        waiter
          .lines()
          .filter((line) => 'result' in line)
          .map((line) => {
            const result = line.result as WaitResult;
            return [result.runId, result];
          }),
      );
      expect(results.size).toBe(3);
      expect(results.get(ok.runId)).toEqual({
        runId: ok.runId,
        ok: true,
        output: { text: 'across processes', pid: process.pid },
      });

      const failure = results.get(failed.runId)?.error;
      expect(failure?.className).toBe('RunFailedError');
      expect(failure?.code).toBe('RUN_FAILED');
      expect(failure?.message).toBe(FAILURES.user.message);
      expect(failure?.original).toMatchObject({
        name: FAILURES.user.name,
        message: FAILURES.user.message,
        code: FAILURES.user.code,
      });

      const timeout = results.get(slow.runId)?.error;
      expect(timeout?.className).toBe('WaitTimeoutError');
      expect(timeout?.code).toBe('WAIT_TIMEOUT');
      expect(timeout?.cancelled).toBe(true);
      await waitForState(zap, slow.runId, ['cancelled']);
    });
  });
}
