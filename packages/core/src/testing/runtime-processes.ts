/**
 * Runtime conformance with real worker processes: a worker killed with SIGKILL loses no run
 * and causes no second completion, and several processes never claim a run twice.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { WorkerOptions } from '../worker.js';
import { fixtureJobs, recordJob, sleepJob } from './fixtures.js';
import type { ConformanceOptions } from './options.js';
import {
  allEvents,
  FAST_WORKER,
  useRuntimeHarness,
  waitFor,
  waitForState,
} from './runtime-harness.js';

interface SpawnedWorker {
  child: ChildProcess;
  ready: Promise<{ workerId: string; pid: number }>;
  exited: Promise<number | null>;
  stdout: () => string;
  stderr: () => string;
}

/** Path of the built child worker script, next to the built conformance suite. */
function workerChildPath(): string {
  const candidates = ['./testing/worker-child.js', './worker-child.js'].map((relative) =>
    fileURLToPath(new URL(relative, import.meta.url)),
  );
  const found = candidates.find((candidate) => existsSync(candidate));
  if (found === undefined) {
    throw new Error(
      `The child worker script was not found at ${candidates.join(' or ')}. ` +
        'Build @zapjobs/core first (pnpm --filter @zapjobs/core build).',
    );
  }
  return found;
}

function spawnWorker(options: ConformanceOptions, descriptor: unknown, worker: WorkerOptions) {
  const config = JSON.stringify({ openModule: options.openModule, descriptor, worker });
  const child = spawn(process.execPath, [workerChildPath()], {
    env: { ...process.env, ZAPJOBS_CHILD_CONFIG: config },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  const ready = new Promise<{ workerId: string; pid: number }>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n').find((candidate) => candidate.includes('"ready"'));
      if (line !== undefined) resolve(JSON.parse(line) as { workerId: string; pid: number });
    });
    void exited.then((code) =>
      reject(new Error(`Child worker exited with code ${code} before it was ready:\n${stderr}`)),
    );
  });
  ready.catch(() => undefined);
  const spawned: SpawnedWorker = {
    child,
    ready,
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
  };
  return spawned;
}

async function killAll(workers: SpawnedWorker[]): Promise<void> {
  for (const worker of workers) {
    if (worker.child.exitCode === null && worker.child.signalCode === null) {
      worker.child.kill('SIGKILL');
    }
  }
  await Promise.all(workers.map((worker) => worker.exited));
}

export function describeRuntimeProcesses(options: ConformanceOptions): void {
  describe(`${options.name} runtime: worker processes`, () => {
    const harness = useRuntimeHarness(options);

    it('SIGKILL mid-run leads to exactly one completion', async () => {
      const { zap, handle } = await harness.client({ jobs: fixtureJobs });
      const spawned = spawnWorker(options, handle.descriptor, {
        ...FAST_WORKER,
        leaseMs: 1_000,
        heartbeatMs: 200,
      });
      harness.onCleanup(() => killAll([spawned]));
      const { workerId } = await spawned.ready;

      // The first attempt sleeps far longer than the test, the retry finishes at once.
      const { runId } = await zap.enqueue(sleepJob, { ms: [60_000, 0] });
      const running = await waitForState(zap, runId, ['running']);
      expect(running.workerId).toBe(workerId);
      spawned.child.kill('SIGKILL');
      await spawned.exited;

      await zap.createWorker(FAST_WORKER).start();
      const run = await waitForState(zap, runId, ['completed'], 10_000);
      expect(run.attempt).toBe(2);
      expect(run.output).toEqual({ pid: process.pid, attempt: 2 });

      await new Promise((resolve) => setTimeout(resolve, 300));
      const types = (await allEvents(zap, { runId })).map((event) => event.type);
      expect(types.filter((type) => type === 'completed')).toHaveLength(1);
      expect(types.filter((type) => type === 'stalled')).toHaveLength(1);
      expect(types.filter((type) => type === 'started')).toHaveLength(2);
    });

    it('first SIGTERM lets the running handler finish', async () => {
      const { zap, handle } = await harness.client({ jobs: fixtureJobs });
      const spawned = spawnWorker(options, handle.descriptor, {
        ...FAST_WORKER,
        handleSignals: true,
      });
      harness.onCleanup(() => killAll([spawned]));
      await spawned.ready;

      const { runId } = await zap.enqueue(sleepJob, { ms: [500] });
      await waitForState(zap, runId, ['running']);
      spawned.child.kill('SIGTERM');
      expect(await spawned.exited, spawned.stderr()).toBe(0);
      expect(spawned.stdout()).toContain('{"stopped":true,"forced":false}');
      const run = await zap.getRun(runId);
      expect(run?.state).toBe('completed');
      expect(run?.attempt).toBe(1);
    });

    it('second SIGTERM aborts and releases the run', async () => {
      const { zap, handle } = await harness.client({ jobs: fixtureJobs });
      const spawned = spawnWorker(options, handle.descriptor, {
        ...FAST_WORKER,
        handleSignals: true,
        shutdownTimeoutMs: 30_000,
      });
      harness.onCleanup(() => killAll([spawned]));
      await spawned.ready;

      const { runId } = await zap.enqueue(sleepJob, { ms: [60_000] });
      await waitForState(zap, runId, ['running']);
      spawned.child.kill('SIGTERM');
      await waitFor('the graceful stop to begin', () =>
        spawned.stdout().includes('received SIGTERM'),
      );
      spawned.child.kill('SIGTERM');
      expect(await spawned.exited, spawned.stderr()).toBe(0);
      expect(spawned.stdout()).toContain('{"stopped":true,"forced":true}');
      const run = await zap.getRun(runId);
      expect(run?.state).toBe('available');
      expect(run?.attempt).toBe(0);
    });

    it('several worker processes claim each run once', async () => {
      const { zap, handle } = await harness.client({ jobs: fixtureJobs });
      const workers = [0, 1, 2].map(() =>
        spawnWorker(options, handle.descriptor, { ...FAST_WORKER, concurrency: 4 }),
      );
      harness.onCleanup(() => killAll(workers));
      const ready = await Promise.all(workers.map((worker) => worker.ready));
      const pids = new Set(ready.map((entry) => entry.pid));

      const total = 60;
      const results = await zap.enqueueMany(
        Array.from({ length: total }, (_, index) => ({ job: recordJob, input: { index } })),
      );
      await waitFor(
        `${total} completed runs`,
        async () => (await zap.countRuns()).completed === total,
        20_000,
      );

      const completed = await allEvents(zap, { types: ['completed'] });
      const started = await allEvents(zap, { types: ['started'] });
      const runIds = new Set(results.map((result) => result.runId));
      expect(completed).toHaveLength(total);
      expect(new Set(completed.map((event) => event.runId))).toEqual(runIds);
      expect(started).toHaveLength(total);
      expect(new Set(started.map((event) => event.runId)).size).toBe(total);

      const { runs } = await zap.listRuns({ limit: 1000 });
      expect(runs).toHaveLength(total);
      for (const run of runs) {
        expect(run.attempt).toBe(1);
        const output = run.output as { index: number; pid: number };
        expect(pids.has(output.pid)).toBe(true);
        expect(output.index).toBe((run.input as { index: number }).index);
      }

      for (const worker of workers) worker.child.kill('SIGTERM');
      const codes = await Promise.all(workers.map((worker) => worker.exited));
      expect(codes, workers.map((worker) => worker.stderr()).join('\n')).toEqual([0, 0, 0]);
    });
  });
}
