import { describe, expect, it } from 'vitest';
import type { ClaimedRun, Storage } from '../../storage/contract.js';
import type { ConformanceOptions } from '../options.js';
import { claim, claimOne, insert, leaseOf, mustGetRun, newRun, useStorage } from './harness.js';

/** Claims runs with `limit` per call until a claim returns none. */
async function drain(storage: Storage, workerId: string, limit: number): Promise<ClaimedRun[]> {
  const claimed: ClaimedRun[] = [];
  for (;;) {
    const batch = await claim(storage, { workerId, limit });
    if (batch.length === 0) return claimed;
    expect(batch.length).toBeLessThanOrEqual(limit);
    claimed.push(...batch);
  }
}

/** Registers the tests of claim order, due times, the limit and concurrent claimers. */
export function describeClaims(options: ConformanceOptions): void {
  describe('claim', () => {
    const h = useStorage(options);

    it('claim leases a run to the worker', async () => {
      const [id] = await insert(h.storage, newRun({ maxAttempts: 4 }));
      const before = await h.storage.now();
      const claimed = await claimOne(h.storage, { workerId: 'worker-7', leaseMs: 5_000 });
      const after = await h.storage.now();

      expect(claimed.id).toBe(id);
      expect(claimed.state).toBe('running');
      expect(claimed.attempt).toBe(1);
      expect(claimed.maxAttempts).toBe(4);
      expect(claimed.workerId).toBe('worker-7');
      expect(typeof claimed.leaseToken).toBe('string');
      expect(claimed.leaseToken.length).toBeGreaterThan(0);
      expect(claimed.startedAt).toBeGreaterThanOrEqual(before);
      expect(claimed.startedAt).toBeLessThanOrEqual(after);
      expect(claimed.firstStartedAt).toBe(claimed.startedAt);
      expect(claimed.leaseExpiresAt! - claimed.startedAt!).toBeGreaterThanOrEqual(4_999);
      expect(claimed.leaseExpiresAt! - claimed.startedAt!).toBeLessThanOrEqual(5_001);

      // No limit applies, so no burst capacity was used.
      expect(claimed.bursts).toEqual([]);
      const { leaseToken: _token, bursts: _bursts, ...record } = claimed;
      expect(await mustGetRun(h.storage, id!)).toEqual(record);
    });

    it('claim orders by priority, then runAt, then id', async () => {
      const now = await h.storage.now();
      const low = newRun({ priority: -1, runAt: now - 9_000 });
      const oldest = newRun({ priority: 0, runAt: now - 3_000 });
      const sameTimeLaterId = newRun({ priority: 0, runAt: now - 3_000 });
      const highNewer = newRun({ priority: 5, runAt: now - 1_000 });
      const highOlder = newRun({ priority: 5, runAt: now - 2_000 });
      // Inserted in an order unrelated to the expected claim order.
      await insert(h.storage, low, sameTimeLaterId, highNewer, oldest, highOlder);

      const order: string[] = [];
      for (let i = 0; i < 5; i++) order.push((await claimOne(h.storage)).id);
      expect(order).toEqual([highOlder.id, highNewer.id, oldest.id, sameTimeLaterId.id, low.id]);
      expect(await claim(h.storage)).toEqual([]);
    });

    it('claim takes queue order before priority', async () => {
      const urgent = newRun({ queue: 'second', priority: 100 });
      const normal = newRun({ queue: 'first', priority: 0 });
      await insert(h.storage, urgent, normal);
      const queues = ['first', 'second'];
      expect((await claimOne(h.storage, { queues })).id).toBe(normal.id);
      expect((await claimOne(h.storage, { queues })).id).toBe(urgent.id);
    });

    it('claim fills the limit across queues in order', async () => {
      const first = [newRun({ queue: 'first' }), newRun({ queue: 'first' })];
      const second = [newRun({ queue: 'second' }), newRun({ queue: 'second' })];
      await insert(h.storage, ...second, ...first);
      const claimed = await claim(h.storage, { queues: ['first', 'second'], limit: 3 });
      const ids = claimed.map((run) => run.id).sort();
      expect(ids).toEqual([first[0]!.id, first[1]!.id, second[0]!.id].sort());
    });

    it('claim honors the limit', async () => {
      await insert(h.storage, ...Array.from({ length: 5 }, () => newRun()));
      expect(await claim(h.storage, { limit: 2 })).toHaveLength(2);
      expect(await claim(h.storage, { limit: 2 })).toHaveLength(2);
      expect(await claim(h.storage, { limit: 2 })).toHaveLength(1);
      expect(await claim(h.storage, { limit: 2 })).toHaveLength(0);
    });

    it('claim ignores queues it was not given', async () => {
      await insert(h.storage, newRun({ queue: 'other' }));
      expect(await claim(h.storage, { queues: ['default'] })).toEqual([]);
      expect(await claim(h.storage, { queues: ['other'] })).toHaveLength(1);
    });

    it('claim skips runs that are not due or not available', async () => {
      const now = await h.storage.now();
      const parent = newRun({ queue: 'parents' });
      await insert(
        h.storage,
        parent,
        newRun({ runAt: now + 60_000 }),
        newRun({ dependsOn: [{ runId: parent.id, condition: 'success' }] }),
      );
      const done = newRun();
      await insert(h.storage, done);
      const claimed = await claimOne(h.storage);
      expect(claimed.id).toBe(done.id);
      expect(await claim(h.storage)).toEqual([]);
    });

    it('a claimed run is not claimed again', async () => {
      await insert(h.storage, newRun(), newRun());
      const first = await claim(h.storage, { workerId: 'a' });
      expect(first).toHaveLength(2);
      expect(await claim(h.storage, { workerId: 'b' })).toEqual([]);
    });

    it('attempt counts every claim and firstStartedAt stays', async () => {
      await insert(h.storage, newRun());
      const first = await claimOne(h.storage);
      await h.storage.fail([
        { ...leaseOf(first), error: { name: 'Error', message: 'x' }, retryDelayMs: 0 },
      ]);
      const second = await claimOne(h.storage);
      expect(second.attempt).toBe(2);
      expect(second.firstStartedAt).toBe(first.startedAt);
      expect(second.startedAt).toBeGreaterThanOrEqual(first.startedAt!);
      expect(second.leaseToken).not.toBe(first.leaseToken);
    });

    it('two concurrent claimers never get the same run', async () => {
      const total = 200;
      await h.storage.insertRuns(Array.from({ length: total }, () => newRun()));
      const a = await h.open();
      const b = await h.open();
      const [fromA, fromB] = await Promise.all([drain(a, 'worker-a', 7), drain(b, 'worker-b', 5)]);

      const ids = [...fromA, ...fromB].map((run) => run.id);
      expect(ids).toHaveLength(total);
      expect(new Set(ids).size).toBe(total);
      expect((await h.storage.countRuns({})).running).toBe(total);
      for (const run of fromA) expect(run.workerId).toBe('worker-a');
      for (const run of fromB) expect(run.workerId).toBe('worker-b');
    });
  });
}
