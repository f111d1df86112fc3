import { describe, expect, it } from 'vitest';
import type { RunState, Storage, StorageListener } from '../../storage/contract.js';
import type { ConformanceOptions } from '../options.js';
import { claimOne, insert, leaseOf, newRun, sleep, useStorage, waitFor } from './harness.js';

/** How long a change may take to reach a listener, from this or another connection. */
const DELIVERY_TIMEOUT_MS = 5_000;

/** Creates a listener that records every call. */
function recorder() {
  const work: (readonly string[] | null)[] = [];
  const finished: [string, RunState][] = [];
  const signals: [string, string][] = [];
  const listener: StorageListener = {
    onWork: (queues) => work.push(queues === null ? null : [...queues]),
    onRunFinished: (runId, state) => finished.push([runId, state]),
    onSignal: (runId, name) => signals.push([runId, name]),
  };
  return {
    listener,
    work,
    finished,
    signals,
    sawWorkFor: (queue: string) => work.some((queues) => queues === null || queues.includes(queue)),
  };
}

/** Finishes a run through `storage`: claimed from `queue` and completed. */
async function completeOne(storage: Storage, queue: string): Promise<string> {
  const claimed = await claimOne(storage, { queues: [queue] });
  expect(await storage.complete([{ ...leaseOf(claimed), output: '1' }])).toEqual([true]);
  return claimed.id;
}

/** Registers the tests of notification callbacks for changes in this and other connections. */
export function describeNotifications(options: ConformanceOptions): void {
  describe('subscribe', () => {
    const h = useStorage(options);

    it('onWork follows an insert on the same connection', async () => {
      const events = recorder();
      const unsubscribe = await h.storage.subscribe(events.listener);
      await insert(h.storage, newRun({ queue: 'mail' }));
      await waitFor('onWork for queue mail', () => events.sawWorkFor('mail'), DELIVERY_TIMEOUT_MS);
      await unsubscribe();
    });

    it('onWork follows an insert on another connection', async () => {
      const events = recorder();
      await h.storage.subscribe(events.listener);
      const other = await h.open();
      await insert(other, newRun({ queue: 'mail' }));
      await waitFor('onWork for queue mail', () => events.sawWorkFor('mail'), DELIVERY_TIMEOUT_MS);
    });

    it('onRunFinished reports terminal states from both connections', async () => {
      const events = recorder();
      await h.storage.subscribe(events.listener);
      const other = await h.open();
      const [, toFail, toCancel] = await insert(
        other,
        newRun({ queue: 'a' }),
        newRun({ queue: 'b' }),
        newRun({ queue: 'c' }),
        newRun({ queue: 'd' }),
      );
      const completedElsewhere = await completeOne(other, 'a');
      const failing = await claimOne(other, { queues: ['b'] });
      expect(failing.id).toBe(toFail);
      await other.fail([
        { ...leaseOf(failing), error: { name: 'Error', message: 'x' }, retryDelayMs: null },
      ]);
      await other.cancel(newRun().id);
      expect(await h.storage.cancel(toCancel!)).toEqual({ cancelled: true, state: 'cancelled' });
      const cancelledHere = toCancel!;
      const completedHere = await completeOne(h.storage, 'd');

      const expected: [string, RunState][] = [
        [completedElsewhere, 'completed'],
        [failing.id, 'failed'],
        [cancelledHere, 'cancelled'],
        [completedHere, 'completed'],
      ];
      await waitFor(
        'onRunFinished for four runs',
        () => events.finished.length >= expected.length,
        DELIVERY_TIMEOUT_MS,
      );
      await sleep(100);
      const sort = (list: [string, RunState][]) => [...list].sort((x, y) => (x[0] < y[0] ? -1 : 1));
      expect(sort(events.finished)).toEqual(sort(expected));
    });

    it('onSignal reports a delivered signal', async () => {
      const events = recorder();
      await h.storage.subscribe(events.listener);
      const other = await h.open();
      const [id] = await insert(other, newRun());
      expect(await other.sendSignal(id!, 'approved', '1')).toBe(true);
      await waitFor('onSignal', () => events.signals.length > 0, DELIVERY_TIMEOUT_MS);
      expect(events.signals).toEqual([[id, 'approved']]);
    });

    it('every subscriber is called', async () => {
      const first = recorder();
      const second = recorder();
      await h.storage.subscribe(first.listener);
      await h.storage.subscribe(second.listener);
      await insert(h.storage, newRun());
      const id = await completeOne(h.storage, 'default');
      for (const events of [first, second]) {
        await waitFor('onRunFinished', () => events.finished.length > 0, DELIVERY_TIMEOUT_MS);
        expect(events.finished).toEqual([[id, 'completed']]);
      }
    });

    it('unsubscribe stops the callbacks', async () => {
      const subscribed = recorder();
      const dropped = recorder();
      await h.storage.subscribe(subscribed.listener);
      const unsubscribe = await h.storage.subscribe(dropped.listener);
      await unsubscribe();
      const other = await h.open();
      await insert(other, newRun(), newRun());
      await completeOne(other, 'default');
      await completeOne(h.storage, 'default');
      await waitFor('onRunFinished', () => subscribed.finished.length === 2, DELIVERY_TIMEOUT_MS);
      await sleep(200);
      expect(dropped.finished).toEqual([]);
      expect(dropped.work).toEqual([]);
    });
  });
}
