import { describe, expect, it } from 'vitest';
import type { SerializedError } from '../../storage/contract.js';
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
  waitForStorageTime,
} from './harness.js';

const boom: SerializedError = {
  name: 'TypeError',
  message: 'boom',
  code: 'E_BOOM',
  stack: 'TypeError: boom\n    at handler',
};

/** Registers the tests of heartbeat, complete, fail, release, progress and lease fencing. */
export function describeLeases(options: ConformanceOptions): void {
  describe('leases', () => {
    const h = useStorage(options);

    it('heartbeat extends the lease', async () => {
      await insert(h.storage, newRun());
      const claimed = await claimOne(h.storage, { leaseMs: 200 });
      const before = await h.storage.now();
      expect(await h.storage.heartbeat([leaseOf(claimed)], 5_000)).toEqual([]);
      const run = await mustGetRun(h.storage, claimed.id);
      expect(run.leaseExpiresAt).toBeGreaterThanOrEqual(before + 5_000 - 1);
      expect(run.state).toBe('running');
      expect(await h.storage.reclaimExpired(10)).toEqual([]);
    });

    it('heartbeat reports leases no longer held', async () => {
      const ids = await insert(h.storage, newRun(), newRun(), newRun());
      const [a, b, c] = await claim(h.storage, { limit: 3 });
      await h.storage.complete([{ ...leaseOf(a!), output: '1' }]);
      await h.storage.cancel(b!.id);
      const unknown = newRun().id;
      const lost = await h.storage.heartbeat(
        [
          leaseOf(a!),
          leaseOf(b!),
          leaseOf(c!),
          { runId: c!.id, leaseToken: 'stale' },
          { runId: unknown, leaseToken: 'x' },
        ],
        5_000,
      );
      expect([...lost].sort()).toEqual([a!.id, b!.id, c!.id, unknown].sort());
      expect(ids).toHaveLength(3);
      expect((await mustGetRun(h.storage, c!.id)).state).toBe('running');
    });

    it('complete stores the output and finishes the run', async () => {
      await insert(h.storage, newRun());
      const claimed = await claimOne(h.storage);
      expect(await h.storage.complete([{ ...leaseOf(claimed), output: '{"ok":true}' }])).toEqual([
        true,
      ]);
      const run = await mustGetRun(h.storage, claimed.id);
      expect(run.state).toBe('completed');
      expect(run.output).toBe('{"ok":true}');
      expect(run.error).toBeNull();
      expect(run.attempt).toBe(1);
      expect(run.finishedAt).toBeGreaterThanOrEqual(run.startedAt!);
      expect(run.leaseExpiresAt).toBeNull();
      expect(await eventTypes(h.storage, run.id)).toEqual(['enqueued', 'started', 'completed']);
    });

    it('complete with a stale token returns false and changes nothing', async () => {
      await insert(h.storage, newRun());
      const claimed = await claimOne(h.storage);
      const before = await mustGetRun(h.storage, claimed.id);
      expect(
        await h.storage.complete([{ runId: claimed.id, leaseToken: 'stale', output: '1' }]),
      ).toEqual([false]);
      expect(await mustGetRun(h.storage, claimed.id)).toEqual(before);
      expect(await eventTypes(h.storage, claimed.id)).toEqual(['enqueued', 'started']);
    });

    it('complete returns one result per request in order', async () => {
      await insert(h.storage, newRun(), newRun());
      const [a, b] = await claim(h.storage, { limit: 2 });
      const results = await h.storage.complete([
        { ...leaseOf(a!), output: '"a"' },
        { runId: b!.id, leaseToken: 'stale', output: '"x"' },
        { ...leaseOf(b!), output: '"b"' },
        { runId: newRun().id, leaseToken: 'none', output: '"y"' },
      ]);
      expect(results).toEqual([true, false, true, false]);
      expect((await mustGetRun(h.storage, b!.id)).output).toBe('"b"');
    });

    it('a reclaimed attempt cannot overwrite the newer one', async () => {
      await insert(h.storage, newRun());
      const old = await claimOne(h.storage, { leaseMs: 50 });
      await waitForStorageTime(h.storage, old.leaseExpiresAt!);
      expect(await h.storage.reclaimExpired(10)).toHaveLength(1);
      const current = await claimOne(h.storage);
      expect(current.attempt).toBe(2);

      expect(await h.storage.complete([{ ...leaseOf(old), output: '"old"' }])).toEqual([false]);
      expect(await h.storage.fail([{ ...leaseOf(old), error: boom, retryDelayMs: null }])).toEqual([
        false,
      ]);
      expect(await h.storage.release([leaseOf(old)])).toEqual([false]);
      expect(await h.storage.heartbeat([leaseOf(old)], 1_000)).toEqual([old.id]);
      expect(await h.storage.setProgress(leaseOf(old), '"50%"')).toBe(false);
      const during = await mustGetRun(h.storage, old.id);
      expect(during.state).toBe('running');
      expect(during.output).toBeNull();
      expect(during.progress).toBeNull();

      expect(await h.storage.complete([{ ...leaseOf(current), output: '"new"' }])).toEqual([true]);
      expect((await mustGetRun(h.storage, old.id)).output).toBe('"new"');
    });

    it('concurrent completes of one lease: one wins', async () => {
      await insert(h.storage, newRun());
      const claimed = await claimOne(h.storage);
      const a = await h.open();
      const b = await h.open();
      const results = await Promise.all([
        a.complete([{ ...leaseOf(claimed), output: '"a"' }]),
        b.complete([{ ...leaseOf(claimed), output: '"b"' }]),
        a.fail([{ ...leaseOf(claimed), error: boom, retryDelayMs: null }]),
      ]);
      const wins = results.flat().filter(Boolean);
      expect(wins).toHaveLength(1);
      const run = await mustGetRun(h.storage, claimed.id);
      const winner = results.findIndex((result) => result[0] === true);
      expect(run.state).toBe(winner === 2 ? 'failed' : 'completed');
      if (winner === 0) expect(run.output).toBe('"a"');
      if (winner === 1) expect(run.output).toBe('"b"');
      const terminal = (await eventTypes(h.storage, run.id)).filter(
        (type) => type === 'completed' || type === 'failed',
      );
      expect(terminal).toHaveLength(1);
    });

    it('cancel racing complete leaves one outcome', async () => {
      await insert(h.storage, newRun());
      const claimed = await claimOne(h.storage);
      const other = await h.open();
      const [cancelResult, [completed]] = await Promise.all([
        other.cancel(claimed.id),
        h.storage.complete([{ ...leaseOf(claimed), output: '1' }]),
      ]);
      const run = await mustGetRun(h.storage, claimed.id);
      if (completed === true) {
        expect(cancelResult).toEqual({ cancelled: false, state: 'completed' });
        expect(run.state).toBe('completed');
      } else {
        expect(cancelResult).toEqual({ cancelled: true, state: 'cancelled' });
        expect(run.state).toBe('cancelled');
        expect(run.output).toBeNull();
      }
    });

    it('fail with a retry delay schedules the next attempt', async () => {
      await insert(h.storage, newRun());
      const claimed = await claimOne(h.storage);
      const before = await h.storage.now();
      expect(
        await h.storage.fail([{ ...leaseOf(claimed), error: boom, retryDelayMs: 150 }]),
      ).toEqual([true]);
      const run = await mustGetRun(h.storage, claimed.id);
      expect(run.state).toBe('scheduled');
      expect(run.error).toEqual(boom);
      expect(run.attempt).toBe(1);
      expect(run.finishedAt).toBeNull();
      expect(run.leaseExpiresAt).toBeNull();
      expect(run.runAt).toBeGreaterThanOrEqual(before + 150);
      expect(await claim(h.storage)).toEqual([]);
      expect(await h.storage.nextDueAt(['default'])).toBe(run.runAt);

      await waitForStorageTime(h.storage, run.runAt);
      const retried = await claimOne(h.storage);
      expect(retried.attempt).toBe(2);
      expect(retried.error).toEqual(boom);
      expect(await eventTypes(h.storage, run.id)).toEqual([
        'enqueued',
        'started',
        'retrying',
        'started',
      ]);
    });

    it('fail with a null delay moves the run to dead letter', async () => {
      await insert(h.storage, newRun({ maxAttempts: 5 }));
      const claimed = await claimOne(h.storage);
      const plain: SerializedError = { name: 'Error', message: 'no code' };
      expect(
        await h.storage.fail([{ ...leaseOf(claimed), error: plain, retryDelayMs: null }]),
      ).toEqual([true]);
      const run = await mustGetRun(h.storage, claimed.id);
      expect(run.state).toBe('failed');
      expect(run.error).toEqual(plain);
      expect(run.finishedAt).not.toBeNull();
      expect(run.output).toBeNull();
      expect(await claim(h.storage)).toEqual([]);
      expect(await eventTypes(h.storage, run.id)).toEqual(['enqueued', 'started', 'failed']);
    });

    it('a later success keeps the last error', async () => {
      await insert(h.storage, newRun());
      const first = await claimOne(h.storage);
      await h.storage.fail([{ ...leaseOf(first), error: boom, retryDelayMs: 0 }]);
      const second = await claimOne(h.storage);
      await h.storage.complete([{ ...leaseOf(second), output: '1' }]);
      const run = await mustGetRun(h.storage, first.id);
      expect(run.state).toBe('completed');
      expect(run.error).toEqual(boom);
    });

    it('fail with a stale token returns false and changes nothing', async () => {
      await insert(h.storage, newRun());
      const claimed = await claimOne(h.storage);
      const before = await mustGetRun(h.storage, claimed.id);
      expect(
        await h.storage.fail([
          { runId: claimed.id, leaseToken: 'stale', error: boom, retryDelayMs: null },
        ]),
      ).toEqual([false]);
      expect(await mustGetRun(h.storage, claimed.id)).toEqual(before);
    });

    it('release gives the run back without counting the attempt', async () => {
      await insert(h.storage, newRun());
      const claimed = await claimOne(h.storage);
      expect(await h.storage.release([{ runId: claimed.id, leaseToken: 'stale' }])).toEqual([
        false,
      ]);
      expect(await h.storage.release([leaseOf(claimed)])).toEqual([true]);
      const run = await mustGetRun(h.storage, claimed.id);
      expect(run.state).toBe('available');
      expect(run.attempt).toBe(0);
      expect(run.leaseExpiresAt).toBeNull();
      expect(await h.storage.heartbeat([leaseOf(claimed)], 1_000)).toEqual([claimed.id]);

      const again = await claimOne(h.storage);
      expect(again.attempt).toBe(1);
      expect(await eventTypes(h.storage, run.id)).toEqual([
        'enqueued',
        'started',
        'released',
        'started',
      ]);
    });

    it('setProgress stores progress while the lease is held', async () => {
      await insert(h.storage, newRun());
      const claimed = await claimOne(h.storage);
      expect(await h.storage.setProgress(leaseOf(claimed), '{"percent":40}')).toBe(true);
      expect((await mustGetRun(h.storage, claimed.id)).progress).toBe('{"percent":40}');
      const page = await h.storage.listEvents({
        runId: claimed.id,
        types: ['progress'],
        limit: 10,
      });
      expect(page.items.map((event) => event.data)).toEqual(['{"percent":40}']);
      expect(page.items[0]!.attempt).toBe(1);

      expect(await h.storage.setProgress({ runId: claimed.id, leaseToken: 'stale' }, '1')).toBe(
        false,
      );
      await h.storage.complete([{ ...leaseOf(claimed), output: '1' }]);
      expect(await h.storage.setProgress(leaseOf(claimed), '{"percent":99}')).toBe(false);
      expect((await mustGetRun(h.storage, claimed.id)).progress).toBe('{"percent":40}');
    });
  });
}
