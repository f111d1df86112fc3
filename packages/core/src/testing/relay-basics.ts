/**
 * Relay conformance: `enqueueAndWait` and `waitFor` return outputs and rethrow job errors,
 * whether the worker runs in the waiting client or in another client on its own connection,
 * and time out or abort as asked.
 */
import { describe, expect, it } from 'vitest';
import {
  CancelledError,
  JobTimeoutError,
  NonRetryableError,
  RunFailedError,
  RunNotFoundError,
  WaitTimeoutError,
  type ZapJobsError,
} from '../errors.js';
import type { ConformanceOptions } from './options.js';
import { echoJob, FAILURES, failJob, relayFixtureJobs } from './relay-fixtures.js';
import { FAST_WORKER, useRuntimeHarness, waitForState } from './runtime-harness.js';

/** Returns what a promise rejected with; fails the test when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

export function describeRelayBasics(options: ConformanceOptions): void {
  describe(`${options.name} relay: waiting for outcomes`, () => {
    const harness = useRuntimeHarness(options);

    /** Creates a waiting client and starts a worker in it or in a second client. */
    async function setup(workerIn: 'same client' | 'other client') {
      const waiter = await harness.client({ jobs: relayFixtureJobs });
      const runner =
        workerIn === 'same client'
          ? waiter
          : await harness.secondClient(waiter, { jobs: relayFixtureJobs });
      await runner.zap.createWorker(FAST_WORKER).start();
      return { zap: waiter.zap, runner: runner.zap };
    }

    for (const workerIn of ['same client', 'other client'] as const) {
      it(`enqueueAndWait returns the output, worker in ${workerIn}`, async () => {
        const { zap } = await setup(workerIn);
        const output = await zap.enqueueAndWait(echoJob, { text: 'hello' }, { timeoutMs: 10_000 });
        expect(output).toEqual({ text: 'hello', pid: process.pid });
        expect(zap.pendingWaits).toBe(0);
      });

      it(`failed runs rethrow the job's error, worker in ${workerIn}`, async () => {
        const { zap } = await setup(workerIn);

        const user = await rejection(zap.enqueueAndWait(failJob, { kind: 'user' }));
        expect(user).toBeInstanceOf(RunFailedError);
        const failed = user as RunFailedError;
        expect(failed.code).toBe('RUN_FAILED');
        expect(failed.message).toBe(FAILURES.user.message);
        expect(failed.error.name).toBe(FAILURES.user.name);
        expect(failed.error.code).toBe(FAILURES.user.code);
        expect(failed.error.message).toBe(FAILURES.user.message);
        expect(failed.job).toBe(failJob.name);
        expect(failed.stack).toContain(FAILURES.user.message);

        const declined = await rejection(zap.enqueueAndWait(failJob, { kind: 'nonRetryable' }));
        expect(declined).toBeInstanceOf(NonRetryableError);
        expect(declined).not.toBeInstanceOf(RunFailedError);
        expect((declined as ZapJobsError).code).toBe('NON_RETRYABLE');
        expect((declined as Error).message).toBe(FAILURES.nonRetryable.message);
        expect((declined as Error).name).toBe('NonRetryableError');

        const timedOut = await rejection(zap.enqueueAndWait(failJob, { kind: 'timeout' }));
        expect(timedOut).toBeInstanceOf(JobTimeoutError);
        expect((timedOut as ZapJobsError).code).toBe('JOB_TIMEOUT');
        expect((timedOut as Error).message).toContain('timed out after 100 ms');
        expect(zap.pendingWaits).toBe(0);
      });
    }

    it('waitFor resolves a run that finished before the wait', async () => {
      const { zap } = await setup('other client');
      const { runId } = await zap.enqueue(echoJob, { text: 'early' });
      await waitForState(zap, runId, ['completed']);
      await expect(zap.waitFor(runId, { timeoutMs: 5_000 })).resolves.toEqual({
        text: 'early',
        pid: process.pid,
      });
    });

    it('waitFor rejects cancelled and unknown runs', async () => {
      const waiter = await harness.client({ jobs: relayFixtureJobs });
      const other = await harness.secondClient(waiter, { jobs: relayFixtureJobs });
      const { runId } = await waiter.zap.enqueue(echoJob, { text: 'never runs' });
      const waiting = rejection(waiter.zap.waitFor(runId, { timeoutMs: 10_000 }));
      // Cancelled from another client, so only the storage notification can tell the waiter.
      await other.zap.cancel(runId);
      const cancelled = await waiting;
      expect(cancelled).toBeInstanceOf(CancelledError);
      expect((cancelled as Error).message).toContain(runId);

      const unknown = '01890a5d-ac96-774b-bcce-b302099a8057';
      const missing = await rejection(waiter.zap.waitFor(unknown, { timeoutMs: 1_000 }));
      expect(missing).toBeInstanceOf(RunNotFoundError);
      expect(waiter.zap.pendingWaits).toBe(0);
    });

    it('timeout rejects and leaves the run queued', async () => {
      const { zap } = await harness.client({ jobs: relayFixtureJobs });
      const { runId } = await zap.enqueue(echoJob, { text: 'no worker' });
      const error = await rejection(zap.waitFor(runId, { timeoutMs: 100 }));
      expect(error).toBeInstanceOf(WaitTimeoutError);
      const timeout = error as WaitTimeoutError;
      expect(timeout.runId).toBe(runId);
      expect(timeout.timeoutMs).toBe(100);
      expect(timeout.cancelled).toBe(false);
      expect(timeout.state).toBe('available');
      expect(timeout.message).toContain('cancelOnTimeout');
      expect((await zap.getRun(runId))?.state).toBe('available');
    });

    it('cancelOnTimeout cancels the run', async () => {
      const { zap } = await setup('other client');
      const error = await rejection(
        zap.enqueueAndWait(
          echoJob,
          { text: 'slow', delayMs: 60_000 },
          { timeoutMs: 300, cancelOnTimeout: true },
        ),
      );
      expect(error).toBeInstanceOf(WaitTimeoutError);
      const timeout = error as WaitTimeoutError;
      expect(timeout.cancelled).toBe(true);
      expect((await zap.getRun(timeout.runId))?.state).toBe('cancelled');
    });

    it('abort signal ends the wait but not the run', async () => {
      const { zap } = await harness.client({ jobs: relayFixtureJobs });
      const { runId } = await zap.enqueue(echoJob, { text: 'no worker' });
      const controller = new AbortController();
      const waiting = rejection(zap.waitFor(runId, { signal: controller.signal }));
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(zap.pendingWaits).toBe(1);
      const reason = new Error('caller gave up');
      controller.abort(reason);
      expect(await waiting).toBe(reason);
      expect(zap.pendingWaits).toBe(0);
      expect((await zap.getRun(runId))?.state).toBe('available');
    });

    it('close rejects pending waits', async () => {
      const { zap } = await harness.client({ jobs: relayFixtureJobs });
      const { runId } = await zap.enqueue(echoJob, { text: 'no worker' });
      const waiting = rejection(zap.waitFor(runId));
      await new Promise((resolve) => setTimeout(resolve, 50));
      await zap.close();
      const error = await waiting;
      expect((error as ZapJobsError).code).toBe('CLIENT_CLOSED');
    });
  });
}
