/**
 * Conformance of CompleteRequest.remove: a completed run is deleted with what purging deletes,
 * unless other runs depend on it, it belongs to a group, or it owns a throttle key.
 */
import { describe, expect, it } from 'vitest';
import type { RunState } from '../../storage/contract.js';
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
  waitFor,
} from './harness.js';

/** Registers the tests of completing runs with `remove`. */
export function describeRemoval(options: ConformanceOptions): void {
  describe('complete with remove', () => {
    const h = useStorage(options);

    it('deletes the run with its events, state values and unique key', async () => {
      const unique = { key: 'removed-key', releaseOn: 'never', onConflict: 'ignore' } as const;
      await insert(h.storage, newRun({ unique }));
      const claimed = await claimOne(h.storage);
      expect(await h.storage.putState(claimed.id, 'step', '1', { lease: leaseOf(claimed) })).toBe(
        true,
      );
      expect(
        await h.storage.complete([{ ...leaseOf(claimed), output: '"done"', remove: true }]),
      ).toEqual([true]);

      expect(await h.storage.getRun(claimed.id)).toBeNull();
      expect(await eventTypes(h.storage, claimed.id)).toEqual([]);
      expect(await h.storage.getState(claimed.id, 'step')).toBeNull();
      expect((await h.storage.countRuns({ queue: 'default' })).completed).toBe(0);
      // The key went with the run, so an equal key creates a new run.
      const [again] = await h.storage.insertRuns([newRun({ unique })]);
      expect(again!.created).toBe(true);
    });

    it('tells listeners that the run completed', async () => {
      const finished: [string, RunState][] = [];
      await h.storage.subscribe({ onRunFinished: (runId, state) => finished.push([runId, state]) });
      await insert(h.storage, newRun());
      const claimed = await claimOne(h.storage);
      await h.storage.complete([{ ...leaseOf(claimed), output: '1', remove: true }]);
      await waitFor('the completion notice', () =>
        finished.some(([runId, state]) => runId === claimed.id && state === 'completed'),
      );
    });

    it('notifies every run of a batch of 250', async () => {
      const completed = new Set<string>();
      await h.storage.subscribe({
        onRunFinished: (runId, state) => {
          if (state === 'completed') completed.add(runId);
        },
      });
      await insert(h.storage, ...Array.from({ length: 250 }, () => newRun()));
      const claimed = await claim(h.storage, { limit: 250 });
      expect(claimed).toHaveLength(250);
      const results = await h.storage.complete(
        claimed.map((run, i) => ({ ...leaseOf(run), output: '1', remove: i % 2 === 0 })),
      );
      expect(results).toEqual(claimed.map(() => true));
      await waitFor('a notice for each of the 250 runs', () =>
        claimed.every((run) => completed.has(run.id)),
      );
    });

    it('removes runs with and without history together', async () => {
      // Ids grow in creation order, so the unclaimed run lies between removed ones.
      const parent = newRun();
      const child = newRun({ dependsOn: [{ runId: parent.id, condition: 'success' }] });
      await insert(h.storage, parent, child);
      const parentClaim = await claimOne(h.storage);
      await h.storage.complete([{ ...leaseOf(parentClaim), output: '1' }]);
      const logged = newRun();
      const between = newRun({ queue: 'elsewhere' });
      const quiet = newRun({ historyLevel: 'off' });
      await insert(h.storage, logged, between, quiet);

      const claimed = await claim(h.storage, { limit: 3 });
      expect(claimed.map((run) => run.id).sort()).toEqual([child.id, logged.id, quiet.id].sort());
      const loggedClaim = claimed.find((run) => run.id === logged.id)!;
      expect(
        await h.storage.putState(logged.id, 'step', '1', { lease: leaseOf(loggedClaim) }),
      ).toBe(true);
      const results = await h.storage.complete(
        claimed.map((run) => ({ ...leaseOf(run), output: '2', remove: true })),
      );
      expect(results).toEqual([true, true, true]);

      for (const id of [child.id, logged.id, quiet.id]) {
        expect(await h.storage.getRun(id)).toBeNull();
        expect(await eventTypes(h.storage, id)).toEqual([]);
      }
      expect(await h.storage.getState(logged.id, 'step')).toBeNull();
      expect(await h.storage.listDependencies(child.id)).toEqual([]);
      expect((await mustGetRun(h.storage, parent.id)).state).toBe('completed');
      expect((await mustGetRun(h.storage, between.id)).state).toBe('available');
      expect(await eventTypes(h.storage, between.id)).not.toEqual([]);
    });

    it('keeps a run that others depend on and settles its dependents', async () => {
      const parent = newRun();
      const child = newRun({ dependsOn: [{ runId: parent.id, condition: 'success' }] });
      await insert(h.storage, parent, child);
      const claimed = await claimOne(h.storage);
      expect(claimed.id).toBe(parent.id);
      expect(
        await h.storage.complete([{ ...leaseOf(claimed), output: '7', remove: true }]),
      ).toEqual([true]);

      const stored = await mustGetRun(h.storage, parent.id);
      expect(stored.state).toBe('completed');
      expect(stored.output).toBe('7');
      expect((await mustGetRun(h.storage, child.id)).state).toBe('available');

      // The child itself is removed, and the edge to its parent with it.
      const started = await claimOne(h.storage);
      expect(started.id).toBe(child.id);
      await h.storage.complete([{ ...leaseOf(started), output: '8', remove: true }]);
      expect(await h.storage.getRun(child.id)).toBeNull();
      expect(await h.storage.listDependencies(child.id)).toEqual([]);
    });

    it('keeps a parent between removed runs', async () => {
      const before = newRun();
      const parent = newRun();
      const after = newRun();
      const child = newRun({
        queue: 'children',
        dependsOn: [{ runId: parent.id, condition: 'success' }],
      });
      await insert(h.storage, before, parent, after, child);
      const claimed = await claim(h.storage, { limit: 3 });
      expect(claimed.map((run) => run.id)).toEqual([before.id, parent.id, after.id]);
      const results = await h.storage.complete(
        claimed.map((run) => ({ ...leaseOf(run), output: '5', remove: true })),
      );
      expect(results).toEqual([true, true, true]);

      expect(await h.storage.getRun(before.id)).toBeNull();
      expect(await h.storage.getRun(after.id)).toBeNull();
      expect(await mustGetRun(h.storage, parent.id)).toMatchObject({
        state: 'completed',
        output: '5',
      });
      expect((await mustGetRun(h.storage, child.id)).state).toBe('available');
    });

    it('cancels a run enqueued later with the removed run as its parent', async () => {
      await insert(h.storage, newRun());
      const claimed = await claimOne(h.storage);
      await h.storage.complete([{ ...leaseOf(claimed), output: '1', remove: true }]);
      const [child] = await h.storage.insertRuns([
        newRun({ dependsOn: [{ runId: claimed.id, condition: 'success' }] }),
      ]);
      expect(child!.state).toBe('cancelled');
    });

    it('keeps a run whose unique key has time left to live', async () => {
      const unique = {
        key: 'throttled',
        releaseOn: 'never',
        ttlMs: 3_600_000,
        onConflict: 'ignore',
      } as const;
      await insert(h.storage, newRun({ unique }));
      const claimed = await claimOne(h.storage);
      await h.storage.complete([{ ...leaseOf(claimed), output: '1', remove: true }]);
      expect((await mustGetRun(h.storage, claimed.id)).state).toBe('completed');
      const [again] = await h.storage.insertRuns([newRun({ unique })]);
      expect(again).toMatchObject({ runId: claimed.id, created: false });
    });

    it('keeps a run of a group, whose counts include it', async () => {
      await insert(h.storage, newRun({ groupId: 'kept-batch' }));
      const claimed = await claimOne(h.storage);
      await h.storage.complete([{ ...leaseOf(claimed), output: '1', remove: true }]);
      expect((await mustGetRun(h.storage, claimed.id)).state).toBe('completed');
      expect((await h.storage.countGroup('kept-batch')).byState.completed).toBe(1);
    });

    it('removes 300 runs, keeping grouped ones', async () => {
      const runs = Array.from({ length: 300 }, (_, i) =>
        newRun(i % 100 === 0 ? { groupId: 'kept-in-batch' } : {}),
      );
      await insert(h.storage, ...runs);
      const claimed = await claim(h.storage, { limit: 300 });
      expect(claimed).toHaveLength(300);
      const results = await h.storage.complete(
        claimed.map((run) => ({ ...leaseOf(run), output: JSON.stringify(run.id), remove: true })),
      );
      expect(results).toEqual(claimed.map(() => true));

      const grouped = new Set(runs.filter((run) => run.groupId !== undefined).map((run) => run.id));
      for (const run of claimed) {
        const stored = await h.storage.getRun(run.id);
        if (grouped.has(run.id)) {
          expect(stored).toMatchObject({ state: 'completed', output: JSON.stringify(run.id) });
        } else {
          expect(stored).toBeNull();
        }
      }
      expect((await h.storage.countGroup('kept-in-batch')).byState.completed).toBe(3);
    });

    it('fences each request by its lease, in one batch with kept runs', async () => {
      await insert(h.storage, newRun(), newRun());
      const [removed, completed] = await claim(h.storage, { limit: 2 });
      const results = await h.storage.complete([
        { runId: removed!.id, leaseToken: 'stale', output: '0', remove: true },
        { ...leaseOf(removed!), output: '1', remove: true },
        { ...leaseOf(completed!), output: '2' },
      ]);
      expect(results).toEqual([false, true, true]);
      expect(await h.storage.getRun(removed!.id)).toBeNull();
      expect((await mustGetRun(h.storage, completed!.id)).output).toBe('2');
    });
  });
}
