/**
 * History conformance: replay rebuilds a run's state as of each event of its history (time
 * travel), and a finished run is re-run as a new run linked to it both ways.
 */
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, RunNotFoundError } from '../errors.js';
import { RERUN_OF_KEY } from '../history/rerun.js';
import { completedHistoryRun } from './history-queries.js';
import type { ConformanceOptions } from './options.js';
import { echoJob, relayFixtureJobs } from './relay-fixtures.js';
import { FAST_WORKER, useRuntimeHarness } from './runtime-harness.js';

export function describeHistoryReplay(options: ConformanceOptions): void {
  describe(`${options.name} history: replay and re-run`, () => {
    const harness = useRuntimeHarness(options);

    async function setup() {
      const test = await harness.client({ jobs: relayFixtureJobs });
      await test.zap.createWorker(FAST_WORKER).start();
      return test;
    }

    it('replay rebuilds the state after each event', async () => {
      const { zap } = await setup();
      const runId = await completedHistoryRun(zap);
      const { run, snapshots, truncated } = await zap.history.replay(runId);
      expect(run.id).toBe(runId);
      expect(truncated).toBe(false);
      const types = snapshots.map((snapshot) => snapshot.event.type);
      const at = (type: string, nth = 0) =>
        snapshots.filter((snapshot) => snapshot.event.type === type)[nth]!;

      expect(snapshots.map((snapshot) => snapshot.index)).toEqual(types.map((_, i) => i));
      expect(at('enqueued')).toMatchObject({
        state: 'available',
        attempt: 0,
        progress: null,
        lastError: null,
        output: null,
      });
      expect(at('started')).toMatchObject({ state: 'running', attempt: 1, lastError: null });
      expect(at('progress').progress).toEqual({ done: 0, total: 3, attempt: 1 });
      const retrying = at('retrying');
      expect(retrying.state).toBe('scheduled');
      expect(retrying.attempt).toBe(1);
      expect(retrying.lastError?.message).toBe('first attempt fails');
      expect(retrying.output).toBeNull();
      const second = at('started', 1);
      expect(second).toMatchObject({ state: 'running', attempt: 2 });
      expect(second.lastError?.message).toBe('first attempt fails');
      expect(second.progress).toEqual({ done: 0, total: 3, attempt: 1 });
      expect(at('progress', 2).progress).toEqual({ done: 3, total: 3, attempt: 2 });
      const completed = at('completed');
      expect(completed).toMatchObject({ state: 'completed', attempt: 2, output: { total: 3 } });
      expect(snapshots.at(-1)).toBe(completed);

      // The final snapshot agrees with the stored run.
      expect(completed.state).toBe(run.state);
      expect(completed.attempt).toBe(run.attempt);
      expect(completed.output).toEqual(run.output);
      expect(completed.progress).toEqual(run.progress);
    });

    it('stateAt travels to an event or a time', async () => {
      const { zap } = await setup();
      const runId = await completedHistoryRun(zap);
      const { snapshots } = await zap.history.replay(runId);

      for (const snapshot of snapshots) {
        expect(await zap.history.stateAt(runId, { eventId: snapshot.event.id })).toEqual(snapshot);
      }
      const retrying = snapshots.find((snapshot) => snapshot.event.type === 'retrying')!;
      const byTime = await zap.history.stateAt(runId, { at: retrying.event.at });
      // The last event at or before that millisecond, which may be a later one of the same ms.
      const expected = snapshots.findLast(
        (snapshot) => snapshot.event.at.getTime() <= retrying.event.at.getTime(),
      );
      expect(byTime).toEqual(expected);

      const beforeCreation = new Date(snapshots[0]!.event.at.getTime() - 60_000);
      await expect(zap.history.stateAt(runId, { at: beforeCreation })).rejects.toBeInstanceOf(
        InvalidOptionError,
      );
      await expect(zap.history.stateAt(runId, { eventId: 'no-such-event' })).rejects.toBeInstanceOf(
        InvalidOptionError,
      );
    });

    it('rerun enqueues a linked run with the same input', async () => {
      const { zap } = await setup();
      const groupId = `rerun-${Date.now()}`;
      const original = await zap.enqueueAndWait(
        echoJob,
        { text: 'again' },
        { groupId, priority: 5, metadata: { source: 'conformance' }, timeoutMs: 10_000 },
      );
      expect(original.text).toBe('again');
      const [first] = (await zap.listRuns({ groupId })).runs;
      const originalId = first!.id;

      const rerun = await zap.history.rerun(originalId);
      expect(rerun.created).toBe(true);
      expect(rerun.runId).not.toBe(originalId);
      await expect(zap.waitFor(rerun.runId, { timeoutMs: 10_000 })).resolves.toEqual({
        text: 'again',
        pid: process.pid,
      });

      const copy = await zap.getRun(rerun.runId);
      expect(copy).toMatchObject({
        job: echoJob.name,
        queue: first!.queue,
        input: { text: 'again' },
        priority: 5,
        groupId,
        metadata: { source: 'conformance', [RERUN_OF_KEY]: originalId },
      });
      expect(await zap.history.links(rerun.runId)).toEqual({ rerunOf: originalId, reruns: [] });
      expect(await zap.history.links(originalId)).toEqual({
        rerunOf: null,
        reruns: [rerun.runId],
      });
      const timeline = await zap.history.timeline(originalId);
      const link = timeline.events.find((event) => event.type === 'rerun');
      expect(link?.data).toEqual({ runId: rerun.runId });

      const second = await zap.history.rerun(originalId);
      expect((await zap.history.links(originalId)).reruns).toEqual([rerun.runId, second.runId]);
    });

    it('rerun rejects unfinished and unknown runs', async () => {
      const { zap } = await harness.client({ jobs: relayFixtureJobs });
      const { runId } = await zap.enqueue(echoJob, { text: 'queued' });
      const error = await zap.history.rerun(runId).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as Error).message).toContain('available');
      await expect(
        zap.history.rerun('01890a5d-ac96-774b-bcce-b302099a8057'),
      ).rejects.toBeInstanceOf(RunNotFoundError);
    });
  });
}
