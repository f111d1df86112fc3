import { describe, expect, it } from 'vitest';
import type { ConformanceOptions } from '../options.js';
import {
  claim,
  claimOne,
  eventTypes,
  insert,
  leaseOf,
  mustGetRun,
  newRun,
  sleep,
  useStorage,
  waitForStorageTime,
} from './harness.js';

/** Registers the tests of cancel, suspend, signals and nextDueAt. */
export function describeControl(options: ConformanceOptions): void {
  describe('cancel', () => {
    const h = useStorage(options);

    it('cancel a pending run', async () => {
      const now = await h.storage.now();
      const [available, scheduled] = await insert(
        h.storage,
        newRun(),
        newRun({ runAt: now + 60_000 }),
      );
      for (const id of [available!, scheduled!]) {
        expect(await h.storage.cancel(id)).toEqual({ cancelled: true, state: 'cancelled' });
        const run = await mustGetRun(h.storage, id);
        expect(run.state).toBe('cancelled');
        expect(run.finishedAt).not.toBeNull();
        expect(await eventTypes(h.storage, id)).toEqual(['enqueued', 'cancelled']);
      }
      expect(await claim(h.storage)).toEqual([]);
      expect(await h.storage.nextDueAt(['default'])).toBeNull();
    });

    it('cancel a running run takes its lease', async () => {
      await insert(h.storage, newRun());
      const claimed = await claimOne(h.storage);
      expect(await h.storage.cancel(claimed.id)).toEqual({ cancelled: true, state: 'cancelled' });
      expect(await h.storage.heartbeat([leaseOf(claimed)], 1_000)).toEqual([claimed.id]);
      expect(await h.storage.complete([{ ...leaseOf(claimed), output: '1' }])).toEqual([false]);
      const run = await mustGetRun(h.storage, claimed.id);
      expect(run.state).toBe('cancelled');
      expect(run.output).toBeNull();
      expect(run.leaseExpiresAt).toBeNull();
    });

    it('cancel a terminal run changes nothing', async () => {
      await insert(h.storage, newRun());
      const claimed = await claimOne(h.storage);
      await h.storage.complete([{ ...leaseOf(claimed), output: '1' }]);
      const before = await mustGetRun(h.storage, claimed.id);
      expect(await h.storage.cancel(claimed.id)).toEqual({ cancelled: false, state: 'completed' });
      expect(await mustGetRun(h.storage, claimed.id)).toEqual(before);
      expect(await h.storage.cancel(claimed.id)).toEqual({ cancelled: false, state: 'completed' });
    });

    it('cancel twice reports the second as not cancelled', async () => {
      const [id] = await insert(h.storage, newRun());
      await h.storage.cancel(id!);
      expect(await h.storage.cancel(id!)).toEqual({ cancelled: false, state: 'cancelled' });
    });

    it('cancel an unknown run returns null', async () => {
      expect(await h.storage.cancel(newRun().id)).toBeNull();
    });

    // Core creates run ids as lowercase UUIDs. A backend that stores them in a UUID column must
    // still treat any other string as an unknown run, as the others do, instead of failing.
    it('strings that are not run ids name no run', async () => {
      const [id] = await insert(h.storage, newRun());
      const running = await claimOne(h.storage);
      const nil = '00000000-0000-0000-0000-000000000000';
      const strangers = ['not-a-run', id!.toUpperCase(), `${id}0`, nil, '{}', "it's"];
      for (const stranger of strangers) {
        expect(await h.storage.getRun(stranger)).toBeNull();
        expect(await h.storage.cancel(stranger)).toBeNull();
        expect(await h.storage.sendSignal(stranger, 'go', '1')).toBe(false);
        expect(await h.storage.listDependencies(stranger)).toEqual([]);
        expect(await h.storage.putState(stranger, 'k', '1')).toBe(false);
        expect(await h.storage.getState(stranger, 'k')).toBeNull();
        expect(await h.storage.listState(stranger)).toEqual({});
        expect(await h.storage.retryRuns([stranger])).toBe(0);
        expect((await h.storage.listEvents({ runId: stranger, limit: 10 })).items).toEqual([]);
        await h.storage.appendEvents([{ runId: stranger, type: 'log' }]);
        const lease = { runId: stranger, leaseToken: running.leaseToken };
        expect(await h.storage.heartbeat([lease], 30_000)).toEqual([stranger]);
        expect(await h.storage.setProgress(lease, '1')).toBe(false);
        expect(await h.storage.suspend({ ...lease, wakeAfterMs: 1_000 })).toBe(false);
        expect(await h.storage.complete([{ ...lease, output: '1' }])).toEqual([false]);
        expect(
          await h.storage.fail([
            { ...lease, error: { name: 'E', message: 'm' }, retryDelayMs: null },
          ]),
        ).toEqual([false]);
        expect(await h.storage.release([lease])).toEqual([false]);
      }
      // A batch may mix them with real leases: those still count.
      const mixed = [leaseOf(running), { runId: 'not-a-run', leaseToken: running.leaseToken }];
      expect(await h.storage.heartbeat(mixed, 30_000)).toEqual(['not-a-run']);
      expect(await h.storage.complete(mixed.map((lease) => ({ ...lease, output: '2' })))).toEqual([
        true,
        false,
      ]);
      expect((await mustGetRun(h.storage, id!)).state).toBe('completed');
      expect(await eventTypes(h.storage, id!)).toEqual(['enqueued', 'started', 'completed']);

      // A parent id that is not a run id is an unknown parent: it cancels the child.
      const child = newRun({ dependsOn: [{ runId: 'not-a-run', condition: 'always' }] });
      const [result] = await h.storage.insertRuns([child]);
      expect(result).toMatchObject({ runId: child.id, created: true, state: 'cancelled' });
    });
  });

  describe('suspend and signals', () => {
    const h = useStorage(options);

    it('suspend until a time', async () => {
      await insert(h.storage, newRun());
      const claimed = await claimOne(h.storage);
      const before = await h.storage.now();
      expect(await h.storage.suspend({ ...leaseOf(claimed), wakeAfterMs: 150 })).toBe(true);

      const run = await mustGetRun(h.storage, claimed.id);
      expect(run.state).toBe('suspended');
      expect(run.attempt).toBe(0);
      expect(run.leaseExpiresAt).toBeNull();
      expect(await h.storage.heartbeat([leaseOf(claimed)], 1_000)).toEqual([claimed.id]);
      expect(await claim(h.storage)).toEqual([]);
      const wakeAt = await h.storage.nextDueAt(['default']);
      expect(wakeAt).toBeGreaterThanOrEqual(before + 150);

      await waitForStorageTime(h.storage, wakeAt!);
      const resumed = await claimOne(h.storage);
      expect(resumed.id).toBe(claimed.id);
      expect(resumed.attempt).toBe(1);
      expect(await eventTypes(h.storage, claimed.id)).toEqual([
        'enqueued',
        'started',
        'suspended',
        'resumed',
        'started',
      ]);
    });

    it('suspend until an absolute wakeAt', async () => {
      await insert(h.storage, newRun());
      const claimed = await claimOne(h.storage);
      const wakeAt = (await h.storage.now()) + 120;
      expect(await h.storage.suspend({ ...leaseOf(claimed), wakeAt })).toBe(true);
      expect(await h.storage.nextDueAt(['default'])).toBe(wakeAt);
      expect(await claim(h.storage)).toEqual([]);
      await waitForStorageTime(h.storage, wakeAt);
      expect((await claimOne(h.storage)).id).toBe(claimed.id);
    });

    it('suspend until a signal', async () => {
      await insert(h.storage, newRun());
      const claimed = await claimOne(h.storage);
      expect(await h.storage.suspend({ ...leaseOf(claimed), signal: 'approved' })).toBe(true);
      await sleep(80);
      expect(await claim(h.storage)).toEqual([]);
      expect((await mustGetRun(h.storage, claimed.id)).state).toBe('suspended');

      expect(await h.storage.sendSignal(claimed.id, 'other', '1')).toBe(true);
      expect((await mustGetRun(h.storage, claimed.id)).state).toBe('suspended');

      expect(await h.storage.sendSignal(claimed.id, 'approved', '{"by":"ana"}')).toBe(true);
      expect((await mustGetRun(h.storage, claimed.id)).state).toBe('available');
      expect(await h.storage.getState(claimed.id, 'signal:approved')).toBe('{"by":"ana"}');
      const resumed = await claimOne(h.storage);
      expect(resumed.id).toBe(claimed.id);
      expect(resumed.attempt).toBe(1);
      expect(await eventTypes(h.storage, claimed.id)).toEqual([
        'enqueued',
        'started',
        'suspended',
        'signal',
        'signal',
        'resumed',
        'started',
      ]);
    });

    it('a signal that arrived first wakes at once', async () => {
      await insert(h.storage, newRun());
      const claimed = await claimOne(h.storage);
      expect(await h.storage.sendSignal(claimed.id, 'ready', '"early"')).toBe(true);
      expect((await mustGetRun(h.storage, claimed.id)).state).toBe('running');
      expect(await h.storage.suspend({ ...leaseOf(claimed), signal: 'ready' })).toBe(true);
      expect((await mustGetRun(h.storage, claimed.id)).state).toBe('available');
      expect(await h.storage.heartbeat([leaseOf(claimed)], 1_000)).toEqual([claimed.id]);
      const again = await claimOne(h.storage);
      expect(again.id).toBe(claimed.id);
      expect(again.attempt).toBe(1);
    });

    it('a signal or a time wakes, whichever comes first', async () => {
      await insert(h.storage, newRun());
      const claimed = await claimOne(h.storage);
      expect(
        await h.storage.suspend({ ...leaseOf(claimed), signal: 'never-sent', wakeAfterMs: 100 }),
      ).toBe(true);
      const wakeAt = await h.storage.nextDueAt(['default']);
      expect(wakeAt).not.toBeNull();
      await waitForStorageTime(h.storage, wakeAt!);
      expect((await claimOne(h.storage)).id).toBe(claimed.id);
    });

    it('suspend with a stale token returns false', async () => {
      await insert(h.storage, newRun());
      const claimed = await claimOne(h.storage);
      expect(
        await h.storage.suspend({ runId: claimed.id, leaseToken: 'stale', wakeAfterMs: 10 }),
      ).toBe(false);
      expect((await mustGetRun(h.storage, claimed.id)).state).toBe('running');
    });

    it('sendSignal to an unknown or finished run returns false', async () => {
      expect(await h.storage.sendSignal(newRun().id, 'x', '1')).toBe(false);
      const [id] = await insert(h.storage, newRun());
      await h.storage.cancel(id!);
      expect(await h.storage.sendSignal(id!, 'x', '1')).toBe(false);
      expect(await h.storage.getState(id!, 'signal:x')).toBeNull();
    });

    it('sendSignal to a pending run stores the payload', async () => {
      const [id] = await insert(h.storage, newRun());
      expect(await h.storage.sendSignal(id!, 'x', '"p1"')).toBe(true);
      expect(await h.storage.sendSignal(id!, 'x', '"p2"')).toBe(true);
      expect(await h.storage.getState(id!, 'signal:x')).toBe('"p2"');
      expect((await mustGetRun(h.storage, id!)).state).toBe('available');
    });

    it('cancel a suspended run', async () => {
      await insert(h.storage, newRun());
      const claimed = await claimOne(h.storage);
      await h.storage.suspend({ ...leaseOf(claimed), signal: 'x' });
      expect(await h.storage.cancel(claimed.id)).toEqual({ cancelled: true, state: 'cancelled' });
      expect(await h.storage.sendSignal(claimed.id, 'x', '1')).toBe(false);
    });
  });

  describe('nextDueAt', () => {
    const h = useStorage(options);

    it('nextDueAt returns the earliest scheduled runAt', async () => {
      expect(await h.storage.nextDueAt(['default'])).toBeNull();
      const now = await h.storage.now();
      await insert(
        h.storage,
        newRun({ runAt: now + 50_000 }),
        newRun({ runAt: now + 20_000 }),
        newRun({ queue: 'other', runAt: now + 10_000 }),
        newRun(),
      );
      expect(await h.storage.nextDueAt(['default'])).toBe(now + 20_000);
      expect(await h.storage.nextDueAt(['default', 'other'])).toBe(now + 10_000);
      expect(await h.storage.nextDueAt(['empty'])).toBeNull();
    });
  });
}
