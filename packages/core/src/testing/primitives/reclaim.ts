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
  useStorage,
  waitForStorageTime,
} from './harness.js';

/** Registers the tests of stall recovery: reclaiming runs whose lease expired. */
export function describeReclaim(options: ConformanceOptions): void {
  describe('reclaimExpired', () => {
    const h = useStorage(options);

    it('reclaimExpired makes an expired run available again', async () => {
      await insert(
        h.storage,
        newRun({ job: 'resize', queue: 'images', maxAttempts: 2, tenantId: 'acme' }),
      );
      const claimed = await claimOne(h.storage, { queues: ['images'], leaseMs: 60 });
      expect(await h.storage.reclaimExpired(10)).toEqual([]);

      await waitForStorageTime(h.storage, claimed.leaseExpiresAt!);
      expect(await h.storage.reclaimExpired(10)).toEqual([
        {
          runId: claimed.id,
          job: 'resize',
          queue: 'images',
          attempt: 1,
          maxAttempts: 2,
          state: 'available',
          tenantId: 'acme',
        },
      ]);
      const run = await mustGetRun(h.storage, claimed.id);
      expect(run.state).toBe('available');
      expect(run.attempt).toBe(1);
      expect(run.error?.code).toBe('RUN_STALLED');
      expect(run.leaseExpiresAt).toBeNull();
      expect(await eventTypes(h.storage, run.id)).toEqual(['enqueued', 'started', 'stalled']);
      expect(await h.storage.heartbeat([leaseOf(claimed)], 1_000)).toEqual([claimed.id]);
      expect(await h.storage.reclaimExpired(10)).toEqual([]);

      const again = await claimOne(h.storage, { queues: ['images'] });
      expect(again.attempt).toBe(2);
    });

    it('reclaimExpired fails a run on its last attempt', async () => {
      await insert(h.storage, newRun({ maxAttempts: 1 }));
      const claimed = await claimOne(h.storage, { leaseMs: 60 });
      await waitForStorageTime(h.storage, claimed.leaseExpiresAt!);
      const [reclaimed] = await h.storage.reclaimExpired(10);
      expect(reclaimed).toMatchObject({ runId: claimed.id, attempt: 1, maxAttempts: 1 });
      expect(reclaimed!.state).toBe('failed');
      const run = await mustGetRun(h.storage, claimed.id);
      expect(run.state).toBe('failed');
      expect(run.error?.code).toBe('RUN_STALLED');
      expect(run.finishedAt).not.toBeNull();
      expect(await eventTypes(h.storage, run.id)).toEqual([
        'enqueued',
        'started',
        'stalled',
        'failed',
      ]);
      expect(await claim(h.storage)).toEqual([]);
    });

    it('reclaimExpired honors its limit', async () => {
      await insert(h.storage, newRun(), newRun(), newRun());
      const claimed = await claim(h.storage, { leaseMs: 50 });
      expect(claimed).toHaveLength(3);
      await waitForStorageTime(h.storage, Math.max(...claimed.map((run) => run.leaseExpiresAt!)));
      expect(await h.storage.reclaimExpired(2)).toHaveLength(2);
      expect(await h.storage.reclaimExpired(2)).toHaveLength(1);
      expect(await h.storage.reclaimExpired(2)).toHaveLength(0);
    });

    it('reclaimExpired leaves live leases alone', async () => {
      await insert(h.storage, newRun(), newRun());
      const [short, long] = await Promise.all([
        claimOne(h.storage, { leaseMs: 50 }),
        claimOne(h.storage, { leaseMs: 60_000 }),
      ]);
      await waitForStorageTime(h.storage, short.leaseExpiresAt!);
      const reclaimed = await h.storage.reclaimExpired(10);
      expect(reclaimed.map((run) => run.runId)).toEqual([short.id]);
      expect((await mustGetRun(h.storage, long.id)).state).toBe('running');
    });
  });
}
