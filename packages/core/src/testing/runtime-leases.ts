/**
 * Runtime conformance: leases, fencing, stall recovery and shutdown.
 */
import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { defineJob } from '../job.js';
import type { LeaseRef } from '../storage/contract.js';
import type { ConformanceOptions } from './options.js';
import {
  aborted,
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

/** A job whose handler reports its start and waits for the test to release it. */
function gatedJob(name: string) {
  const state = {
    started: [] as { attempt: number; signal: AbortSignal }[],
    gates: [] as ReturnType<typeof latch<'ok' | 'fail'>>[],
  };
  const job = defineJob({
    name,
    input: Type.Object({}),
    output: Type.Object({ attempt: Type.Number() }),
    defaults: { attempts: 3, backoff: { type: 'fixed', delayMs: 10 } },
    handler: async (_input, ctx) => {
      const gate = latch<'ok' | 'fail'>();
      state.gates.push(gate);
      state.started.push({ attempt: ctx.attempt, signal: ctx.signal });
      const verdict = await gate.promise;
      if (verdict === 'fail') throw new Error(`attempt ${ctx.attempt} failed late`);
      return { attempt: ctx.attempt };
    },
  });
  return { job, state };
}

export function describeRuntimeLeases(options: ConformanceOptions): void {
  describe(`${options.name} runtime: leases and shutdown`, () => {
    const harness = useRuntimeHarness(options);

    for (const verdict of ['ok', 'fail'] as const) {
      it(`stale worker cannot ${verdict === 'ok' ? 'complete' : 'fail'} a taken-over run`, async () => {
        const { job, state } = gatedJob(`conformance.fenced-${verdict}`);
        // Worker A's heartbeats never reach the storage, as if its event loop were blocked,
        // yet A believes they succeeded, so its lease expires while its handler still runs.
        const stale = await harness.client({
          jobs: [job],
          wrap: (storage) =>
            recordingStorage(storage, [], {
              heartbeat: async () => [],
              reclaimExpired: async () => [],
            }),
        });
        const fresh = await harness.secondClient(stale, { jobs: [job] });
        const staleEvents = recordEvents(stale.zap, [
          'job.completed',
          'job.failed',
          'job.retrying',
        ]);
        const { runId } = await stale.zap.enqueue(job, {});

        // One slot, held by attempt 1, so the stale worker cannot claim attempt 2 itself.
        await stale.zap
          .createWorker({ ...FAST_WORKER, concurrency: 1, leaseMs: 500, heartbeatMs: 400 })
          .start();
        await waitFor('attempt 1 to start', () => state.started.length === 1);
        await fresh.zap.createWorker(FAST_WORKER).start();
        await waitFor('attempt 2 to start', () => state.started.length === 2, 5_000);
        expect(state.started.map((start) => start.attempt)).toEqual([1, 2]);

        state.gates[1]!.resolve('ok');
        const run = await waitForState(fresh.zap, runId, ['completed']);
        state.gates[0]!.resolve(verdict);
        await new Promise((resolve) => setTimeout(resolve, 200));

        const after = await fresh.zap.getRun(runId);
        expect(after?.state).toBe('completed');
        expect(after?.output).toEqual({ attempt: 2 });
        expect(after?.attempt).toBe(run.attempt);
        expect(staleEvents).toEqual([]);
        const types = (await allEvents(fresh.zap, { runId })).map((event) => event.type);
        expect(types.filter((type) => type === 'completed')).toHaveLength(1);
        expect(types).toContain('stalled');
        expect(types).not.toContain('retrying');
      });
    }

    it('lost lease aborts the handler with LeaseLostError', async () => {
      const { job, state } = gatedJob('conformance.lease-lost');
      const { zap } = await harness.client({
        jobs: [job],
        wrap: (storage) =>
          recordingStorage(storage, [], {
            heartbeat: async (leases: LeaseRef[]) => leases.map((lease) => lease.runId),
          }),
      });
      const completed = recordEvents(zap, ['job.completed', 'job.failed', 'job.retrying']);
      await zap.enqueue(job, {});
      await zap.createWorker({ ...FAST_WORKER, heartbeatMs: 50 }).start();
      await waitFor('attempt 1 to start', () => state.started.length === 1);
      const reason = await aborted(state.started[0]!.signal);
      expect((reason as { code?: string }).code).toBe('LEASE_LOST');
      state.gates[0]!.resolve('ok');
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(completed).toEqual([]);
    });

    it('stalled run is reclaimed and completes once', async () => {
      const { job, state } = gatedJob('conformance.stalled');
      const { zap, storage } = await harness.client({ jobs: [job] });
      const stalled = recordEvents(zap, ['job.stalled']);
      const { runId } = await zap.enqueue(job, {});
      // A worker that claims and then disappears.
      const [ghost] = await storage.claim({
        workerId: 'ghost',
        queues: ['default'],
        limit: 1,
        leaseMs: 300,
      });
      expect(ghost?.id).toBe(runId);

      await zap.createWorker(FAST_WORKER).start();
      await waitFor('the reclaimed attempt', () => state.started.length === 1, 5_000);
      state.gates[0]!.resolve('ok');
      const run = await waitForState(zap, runId, ['completed']);
      expect(run.attempt).toBe(2);
      expect(run.output).toEqual({ attempt: 2 });
      expect(stalled.map((entry) => entry.event)).toEqual([
        {
          runId,
          job: job.name,
          queue: 'default',
          tenantId: null,
          attempt: 1,
          willRetry: true,
        },
      ]);
    });

    it('graceful stop waits for running handlers', async () => {
      const { job, state } = gatedJob('conformance.graceful');
      const { zap } = await harness.client({ jobs: [job] });
      const { runId } = await zap.enqueue(job, {});
      const worker = zap.createWorker(FAST_WORKER);
      await worker.start();
      await waitFor('the handler', () => state.started.length === 1);

      let stopped = false;
      const stopping = worker.stop().then(() => {
        stopped = true;
      });
      const late = await zap.enqueue(job, {});
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(stopped).toBe(false);
      expect(worker.state).toBe('stopping');
      expect(state.started[0]!.signal.aborted).toBe(false);

      state.gates[0]!.resolve('ok');
      await stopping;
      expect(worker.state).toBe('stopped');
      expect((await zap.getRun(runId))?.state).toBe('completed');
      expect((await zap.getRun(late.runId))?.state).toBe('available');
      expect(state.started).toHaveLength(1);
    });

    it('forced stop aborts handlers and releases their runs', async () => {
      const { job, state } = gatedJob('conformance.forced');
      const calls: StorageCall[] = [];
      const { zap, storage } = await harness.client({
        jobs: [job],
        wrap: (inner) => recordingStorage(inner, calls),
      });
      const first = await zap.enqueue(job, {});
      const second = await zap.enqueue(job, {});
      const worker = zap.createWorker(FAST_WORKER);
      await worker.start();
      await waitFor('two handlers', () => state.started.length === 2);

      await worker.stop({ force: true });
      for (const start of state.started) {
        expect(start.signal.aborted).toBe(true);
        expect((start.signal.reason as { code?: string }).code).toBe('WORKER_SHUTDOWN');
      }
      const releases = calls.filter((call) => call.method === 'release');
      expect(releases).toHaveLength(1);
      expect(releases[0]?.args[0]).toHaveLength(2);
      for (const { runId } of [first, second]) {
        const run = await zap.getRun(runId);
        expect(run?.state).toBe('available');
        expect(run?.attempt).toBe(0);
      }

      const reclaimed = await storage.claim({
        workerId: 'next',
        queues: ['default'],
        limit: 5,
        leaseMs: 1_000,
      });
      expect(reclaimed.map((run) => run.id).sort()).toEqual([first.runId, second.runId].sort());
      expect(reclaimed.map((run) => run.attempt)).toEqual([1, 1]);
      for (const gate of state.gates) gate.resolve('ok');
    });

    it('stop deadline aborts handlers that ignore it', async () => {
      const { job, state } = gatedJob('conformance.deadline');
      const { zap } = await harness.client({ jobs: [job] });
      const { runId } = await zap.enqueue(job, {});
      const worker = zap.createWorker({ ...FAST_WORKER, shutdownTimeoutMs: 200 });
      await worker.start();
      await waitFor('the handler', () => state.started.length === 1);

      await worker.stop();
      expect((state.started[0]!.signal.reason as { code?: string }).code).toBe('WORKER_SHUTDOWN');
      const run = await zap.getRun(runId);
      expect(run?.state).toBe('available');
      expect(run?.attempt).toBe(0);
      state.gates[0]!.resolve('ok');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect((await zap.getRun(runId))?.state).toBe('available');
    });

    it('forced stop during a graceful stop ends the wait', async () => {
      const { job, state } = gatedJob('conformance.escalate');
      const { zap } = await harness.client({ jobs: [job] });
      const { runId } = await zap.enqueue(job, {});
      const worker = zap.createWorker({ ...FAST_WORKER, shutdownTimeoutMs: 20_000 });
      await worker.start();
      await waitFor('the handler', () => state.started.length === 1);

      const graceful = worker.stop();
      await new Promise((resolve) => setTimeout(resolve, 50));
      await worker.stop({ force: true });
      await graceful;
      expect(state.started[0]!.signal.aborted).toBe(true);
      expect((await zap.getRun(runId))?.state).toBe('available');
    });
  });
}
