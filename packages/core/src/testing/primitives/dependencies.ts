import { describe, expect, it } from 'vitest';
import type { ClaimedRun, NewRun, Storage } from '../../storage/contract.js';
import type { ConformanceOptions } from '../options.js';
import {
  claim,
  claimOne,
  eventTypes,
  insert,
  leaseOf,
  mustGetRun,
  newRun,
  useStorage,
} from './harness.js';

/** Claims a parent run from its own queue. */
async function claimParent(storage: Storage, parent: NewRun): Promise<ClaimedRun> {
  const claimed = await claimOne(storage, { queues: [parent.queue] });
  expect(claimed.id).toBe(parent.id);
  return claimed;
}

async function finishParent(
  storage: Storage,
  parent: NewRun,
  outcome: 'completed' | 'failed' | 'cancelled',
  output = '"parent output"',
): Promise<void> {
  if (outcome === 'cancelled') {
    await storage.cancel(parent.id);
    return;
  }
  const claimed = await claimParent(storage, parent);
  if (outcome === 'completed') {
    expect(await storage.complete([{ ...leaseOf(claimed), output }])).toEqual([true]);
  } else {
    const error = { name: 'Error', message: 'parent failed' };
    expect(await storage.fail([{ ...leaseOf(claimed), error, retryDelayMs: null }])).toEqual([
      true,
    ]);
  }
}

let parentCount = 0;

/** Creates a parent run in a queue of its own, so tests claim exactly the parent they finish. */
function parentRun(): NewRun {
  parentCount += 1;
  return newRun({ queue: `parents-${parentCount}`, input: '"parent input"' });
}

/** Registers the tests of dependencies between runs, and group counts. */
export function describeDependencies(options: ConformanceOptions): void {
  describe('dependencies', () => {
    const h = useStorage(options);

    it('a child waits for its parent and receives its output', async () => {
      const parent = parentRun();
      const child = newRun({
        input: '"own input"',
        dependsOn: [{ runId: parent.id, condition: 'success', passOutput: true }],
      });
      const results = await h.storage.insertRuns([parent, child]);
      expect(results.map((result) => result.state)).toEqual(['available', 'waiting']);
      expect(await h.storage.listDependencies(child.id)).toEqual([
        {
          parentId: parent.id,
          condition: 'success',
          passOutput: true,
          satisfied: null,
          parentState: 'available',
        },
      ]);
      expect(await claim(h.storage)).toEqual([]);

      await finishParent(h.storage, parent, 'completed', '{"rows":3}');
      const released = await mustGetRun(h.storage, child.id);
      expect(released.state).toBe('available');
      expect(released.input).toBe('{"rows":3}');
      expect(await h.storage.listDependencies(child.id)).toEqual([
        {
          parentId: parent.id,
          condition: 'success',
          passOutput: true,
          satisfied: true,
          parentState: 'completed',
        },
      ]);
      expect(await eventTypes(h.storage, child.id)).toEqual(['enqueued', 'dependencies-met']);
      expect((await claimOne(h.storage)).id).toBe(child.id);
    });

    it('without passOutput the child keeps its input', async () => {
      const parent = parentRun();
      const child = newRun({
        input: '"own input"',
        dependsOn: [{ runId: parent.id, condition: 'success' }],
      });
      await insert(h.storage, parent, child);
      await finishParent(h.storage, parent, 'completed');
      expect((await mustGetRun(h.storage, child.id)).input).toBe('"own input"');
    });

    it('an unmet condition cancels the child and cascades', async () => {
      const parent = parentRun();
      const child = newRun({ dependsOn: [{ runId: parent.id, condition: 'success' }] });
      const onSuccess = newRun({ dependsOn: [{ runId: child.id, condition: 'success' }] });
      const onFailure = newRun({ dependsOn: [{ runId: child.id, condition: 'failure' }] });
      const onAlways = newRun({ dependsOn: [{ runId: child.id, condition: 'always' }] });
      await insert(h.storage, parent, child, onSuccess, onFailure, onAlways);

      await finishParent(h.storage, parent, 'failed');
      expect((await mustGetRun(h.storage, child.id)).state).toBe('cancelled');
      expect((await mustGetRun(h.storage, onSuccess.id)).state).toBe('cancelled');
      expect((await mustGetRun(h.storage, onFailure.id)).state).toBe('available');
      expect((await mustGetRun(h.storage, onAlways.id)).state).toBe('available');
      expect(await eventTypes(h.storage, child.id)).toEqual(['enqueued', 'cancelled']);
      expect((await h.storage.listDependencies(child.id))[0]!.satisfied).toBe(false);
      const claimed = (await claim(h.storage)).map((run) => run.id).sort();
      expect(claimed).toEqual([onFailure.id, onAlways.id].sort());
    });

    it('failure condition is met by a failed or cancelled parent only', async () => {
      const [failed, cancelled, completed] = [parentRun(), parentRun(), parentRun()];
      const children = [failed, cancelled, completed].map((parent) =>
        newRun({ dependsOn: [{ runId: parent.id, condition: 'failure' }] }),
      );
      await insert(h.storage, failed, cancelled, completed, ...children);
      await finishParent(h.storage, failed, 'failed');
      await finishParent(h.storage, cancelled, 'cancelled');
      await finishParent(h.storage, completed, 'completed');
      const states = [];
      for (const child of children) states.push((await mustGetRun(h.storage, child.id)).state);
      expect(states).toEqual(['available', 'available', 'cancelled']);
    });

    it('always condition is met by any terminal state', async () => {
      const parents = [parentRun(), parentRun(), parentRun()];
      const children = parents.map((parent) =>
        newRun({ dependsOn: [{ runId: parent.id, condition: 'always' }] }),
      );
      await insert(h.storage, ...parents, ...children);
      await finishParent(h.storage, parents[0]!, 'completed');
      await finishParent(h.storage, parents[1]!, 'failed');
      await finishParent(h.storage, parents[2]!, 'cancelled');
      for (const child of children) {
        expect((await mustGetRun(h.storage, child.id)).state).toBe('available');
      }
    });

    it('a parent that already finished resolves the child at insert', async () => {
      const parent = parentRun();
      await insert(h.storage, parent);
      await finishParent(h.storage, parent, 'completed', '"done"');
      const ready = newRun({
        dependsOn: [{ runId: parent.id, condition: 'success', passOutput: true }],
      });
      const unmet = newRun({ dependsOn: [{ runId: parent.id, condition: 'failure' }] });
      const results = await h.storage.insertRuns([ready, unmet]);
      expect(results).toEqual([
        { runId: ready.id, created: true, replaced: false, state: 'available' },
        { runId: unmet.id, created: true, replaced: false, state: 'cancelled' },
      ]);
      expect((await mustGetRun(h.storage, ready.id)).input).toBe('"done"');
      expect((await mustGetRun(h.storage, unmet.id)).state).toBe('cancelled');
      expect(await h.storage.listDependencies(ready.id)).toEqual([
        {
          parentId: parent.id,
          condition: 'success',
          passOutput: true,
          satisfied: true,
          parentState: 'completed',
        },
      ]);
    });

    it('an unknown parent cancels the child', async () => {
      const child = newRun({ dependsOn: [{ runId: newRun().id, condition: 'always' }] });
      const [result] = await h.storage.insertRuns([child]);
      expect(result).toEqual({
        runId: child.id,
        created: true,
        replaced: false,
        state: 'cancelled',
      });
      expect((await mustGetRun(h.storage, child.id)).state).toBe('cancelled');
    });

    it('a child of many parents waits for all of them', async () => {
      const parents = [parentRun(), parentRun(), parentRun()];
      const child = newRun({
        dependsOn: [
          { runId: parents[2]!.id, condition: 'success' },
          { runId: parents[0]!.id, condition: 'always', passOutput: true },
          { runId: parents[1]!.id, condition: 'success' },
        ],
      });
      await insert(h.storage, ...parents, child);
      await finishParent(h.storage, parents[0]!, 'failed');
      await finishParent(h.storage, parents[1]!, 'completed');
      expect((await mustGetRun(h.storage, child.id)).state).toBe('waiting');
      const edges = await h.storage.listDependencies(child.id);
      expect(edges.map((edge) => edge.parentId)).toEqual([
        parents[2]!.id,
        parents[0]!.id,
        parents[1]!.id,
      ]);
      expect(edges.map((edge) => edge.satisfied)).toEqual([null, true, true]);
      expect(edges.map((edge) => edge.parentState)).toEqual(['available', 'failed', 'completed']);

      await finishParent(h.storage, parents[2]!, 'completed');
      const run = await mustGetRun(h.storage, child.id);
      expect(run.state).toBe('available');
      // The passOutput parent failed and has no output, so the child keeps its input.
      expect(run.input).toBe('{"n":1}');
    });

    it('a released child with a future runAt becomes scheduled', async () => {
      const parent = parentRun();
      const now = await h.storage.now();
      const child = newRun({
        runAt: now + 60_000,
        dependsOn: [{ runId: parent.id, condition: 'success' }],
      });
      await insert(h.storage, parent, child);
      await finishParent(h.storage, parent, 'completed');
      const run = await mustGetRun(h.storage, child.id);
      expect(run.state).toBe('scheduled');
      expect(run.runAt).toBe(now + 60_000);
    });

    it('cancelling a waiting child leaves the parent alone', async () => {
      const parent = parentRun();
      const child = newRun({ dependsOn: [{ runId: parent.id, condition: 'success' }] });
      await insert(h.storage, parent, child);
      expect(await h.storage.cancel(child.id)).toEqual({ cancelled: true, state: 'cancelled' });
      await finishParent(h.storage, parent, 'completed');
      expect((await mustGetRun(h.storage, child.id)).state).toBe('cancelled');
      expect((await mustGetRun(h.storage, parent.id)).state).toBe('completed');
    });

    it('listDependencies of a run without parents is empty', async () => {
      const [id] = await insert(h.storage, newRun());
      expect(await h.storage.listDependencies(id!)).toEqual([]);
    });
  });

  describe('groups', () => {
    const h = useStorage(options);

    it('countGroup counts a group by state', async () => {
      const [a, b] = await insert(
        h.storage,
        newRun({ groupId: 'batch-1' }),
        newRun({ groupId: 'batch-1' }),
        newRun({ groupId: 'batch-1' }),
        newRun({ groupId: 'batch-2' }),
        newRun(),
      );
      await h.storage.cancel(a!);
      const claimed = await claim(h.storage, { limit: 5 });
      const inGroup = claimed.find((run) => run.id === b);
      await h.storage.complete([{ ...leaseOf(inGroup!), output: '1' }]);

      expect(await h.storage.countGroup('batch-1')).toEqual({
        total: 3,
        byState: {
          waiting: 0,
          scheduled: 0,
          available: 0,
          running: 1,
          suspended: 0,
          completed: 1,
          failed: 0,
          cancelled: 1,
        },
      });
      expect((await h.storage.countGroup('batch-2')).total).toBe(1);
      const empty = await h.storage.countGroup('no-such-group');
      expect(empty.total).toBe(0);
      expect(Object.values(empty.byState)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    });
  });
}
