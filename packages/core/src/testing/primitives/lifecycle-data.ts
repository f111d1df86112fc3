import { describe, expect, it } from 'vitest';
import { StalledError } from '../../errors.js';
import type { SerializedError, Storage } from '../../storage/contract.js';
import type { ConformanceOptions } from '../options.js';
import { claimOne, insert, leaseOf, newRun, useStorage, waitForStorageTime } from './harness.js';

/** A run's events as `[type, attempt, parsed data]`, oldest first. */
async function history(storage: Storage, runId: string): Promise<[string, unknown, unknown][]> {
  const page = await storage.listEvents({ runId, limit: 1000 });
  expect(page.nextCursor).toBeNull();
  return page.items.map((event) => [
    event.type,
    event.attempt,
    event.data === null ? null : JSON.parse(event.data),
  ]);
}

/** The parsed data of each event of `type` of a run, oldest first. */
async function dataOf(storage: Storage, runId: string, type: string): Promise<unknown[]> {
  return (await history(storage, runId))
    .filter(([eventType]) => eventType === type)
    .map(([, , data]) => data);
}

function stalledError(runId: string, attempt: number): SerializedError {
  const error = new StalledError(runId, attempt);
  return { name: error.name, message: error.message, code: error.code };
}

/**
 * Registers the tests of lifecycle event data: each type carries exactly the JSON that
 * `LifecycleEventType` documents.
 */
export function describeLifecycleData(options: ConformanceOptions): void {
  describe('lifecycle event data', () => {
    const h = useStorage(options);
    const error: SerializedError = { name: 'TypeError', message: 'bad input', code: 'E_BAD' };

    it('data along a retried, cancelled run', async () => {
      const [id] = await insert(h.storage, newRun({ maxAttempts: 2 }));
      const first = await claimOne(h.storage, { workerId: 'worker-a' });
      expect(await h.storage.setProgress(leaseOf(first), '{"done":1}')).toBe(true);
      await h.storage.fail([{ ...leaseOf(first), error, retryDelayMs: 0 }]);
      const second = await claimOne(h.storage, { workerId: 'worker-b' });
      await h.storage.fail([{ ...leaseOf(second), error, retryDelayMs: null }]);
      expect(await h.storage.retryRuns([id!])).toBe(1);
      await claimOne(h.storage, { workerId: 'worker-c' });
      expect(await h.storage.cancel(id!)).toEqual({ cancelled: true, state: 'cancelled' });

      const events = await history(h.storage, id!);
      expect(events.map(([type, , data]) => [type, data])).toEqual([
        ['enqueued', null],
        ['started', { workerId: 'worker-a' }],
        ['progress', { done: 1 }],
        ['retrying', { error, delayMs: 0 }],
        ['started', { workerId: 'worker-b' }],
        ['failed', { error }],
        ['retrying', { manual: true }],
        ['started', { workerId: 'worker-c' }],
        ['cancelled', null],
      ]);
      // A manual retry resets the attempts, so its event has attempt 0.
      expect(events.filter(([type]) => type === 'retrying').map(([, attempt]) => attempt)).toEqual([
        1, 0,
      ]);
    });

    it('retry delay, release and completion', async () => {
      const [id] = await insert(h.storage, newRun());
      const first = await claimOne(h.storage);
      await h.storage.fail([{ ...leaseOf(first), error, retryDelayMs: 1_500 }]);
      expect(await dataOf(h.storage, id!, 'retrying')).toEqual([{ error, delayMs: 1_500 }]);

      const [other] = await insert(h.storage, newRun({ queue: 'second' }));
      const claimed = await claimOne(h.storage, { queues: ['second'] });
      expect(await h.storage.release([leaseOf(claimed)])).toEqual([true]);
      const again = await claimOne(h.storage, { queues: ['second'] });
      await h.storage.complete([{ ...leaseOf(again), output: '1' }]);
      expect((await history(h.storage, other!)).map(([type, , data]) => [type, data])).toEqual([
        ['enqueued', null],
        ['started', { workerId: 'worker-1' }],
        ['released', null],
        ['started', { workerId: 'worker-1' }],
        ['completed', null],
      ]);
    });

    it('stall data with and without retry', async () => {
      const [retried, dead] = await insert(
        h.storage,
        newRun({ maxAttempts: 2 }),
        newRun({ maxAttempts: 1 }),
      );
      await claimOne(h.storage, { workerId: 'worker-s', leaseMs: 20 });
      await claimOne(h.storage, { workerId: 'worker-t', leaseMs: 20 });
      await waitForStorageTime(h.storage, (await h.storage.now()) + 20);
      expect(await h.storage.reclaimExpired(10)).toHaveLength(2);

      expect((await history(h.storage, retried!)).slice(2)).toEqual([
        ['stalled', 1, { workerId: 'worker-s', willRetry: true }],
      ]);
      expect((await history(h.storage, dead!)).slice(2)).toEqual([
        ['stalled', 1, { workerId: 'worker-t', willRetry: false }],
        ['failed', 1, { error: stalledError(dead!, 1) }],
      ]);
    });

    it('suspension, signal and resume data', async () => {
      const [timed] = await insert(h.storage, newRun({ queue: 'timed' }));
      const claimedTimed = await claimOne(h.storage, { queues: ['timed'] });
      const before = await h.storage.now();
      expect(await h.storage.suspend({ ...leaseOf(claimedTimed), wakeAfterMs: 60_000 })).toBe(true);
      const after = await h.storage.now();
      const [timedData] = (await dataOf(h.storage, timed!, 'suspended')) as { wakeAt: number }[];
      expect(Object.keys(timedData!)).toEqual(['wakeAt']);
      expect(timedData!.wakeAt).toBeGreaterThanOrEqual(before + 60_000);
      expect(timedData!.wakeAt).toBeLessThanOrEqual(after + 60_000);

      const [absolute] = await insert(h.storage, newRun({ queue: 'absolute' }));
      const claimedAbsolute = await claimOne(h.storage, { queues: ['absolute'] });
      const wakeAt = (await h.storage.now()) + 90_000;
      expect(await h.storage.suspend({ ...leaseOf(claimedAbsolute), wakeAt })).toBe(true);
      expect(await dataOf(h.storage, absolute!, 'suspended')).toEqual([{ wakeAt }]);

      const [waiting] = await insert(h.storage, newRun({ queue: 'signals' }));
      const claimedWaiting = await claimOne(h.storage, { queues: ['signals'] });
      expect(await h.storage.suspend({ ...leaseOf(claimedWaiting), signal: 'go' })).toBe(true);
      expect(await h.storage.sendSignal(waiting!, 'go', '{"ok":true}')).toBe(true);
      expect((await history(h.storage, waiting!)).slice(2).map(([t, , d]) => [t, d])).toEqual([
        ['suspended', { signal: 'go' }],
        ['signal', { name: 'go' }],
        ['resumed', null],
      ]);

      const [parked] = await insert(h.storage, newRun({ queue: 'parked' }));
      const claimedParked = await claimOne(h.storage, { queues: ['parked'] });
      expect(await h.storage.suspend(leaseOf(claimedParked))).toBe(true);
      expect(await dataOf(h.storage, parked!, 'suspended')).toEqual([{}]);
    });

    it('dependency release and cancellation data', async () => {
      const [parent] = await insert(h.storage, newRun({ queue: 'parents' }));
      const [released, cancelled, orphan] = await insert(
        h.storage,
        newRun({ dependsOn: [{ runId: parent!, condition: 'success' }] }),
        newRun({ dependsOn: [{ runId: parent!, condition: 'failure' }] }),
        newRun({ dependsOn: [{ runId: newRun().id, condition: 'success' }] }),
      );
      const claimed = await claimOne(h.storage, { queues: ['parents'] });
      await h.storage.complete([{ ...leaseOf(claimed), output: '1' }]);

      expect((await history(h.storage, released!)).map(([t, , d]) => [t, d])).toEqual([
        ['enqueued', null],
        ['dependencies-met', null],
      ]);
      expect((await history(h.storage, cancelled!)).map(([t, , d]) => [t, d])).toEqual([
        ['enqueued', null],
        ['cancelled', { reason: 'dependency' }],
      ]);
      expect((await history(h.storage, orphan!)).map(([t, , d]) => [t, d])).toEqual([
        ['enqueued', null],
        ['cancelled', { reason: 'dependency' }],
      ]);
    });
  });
}
