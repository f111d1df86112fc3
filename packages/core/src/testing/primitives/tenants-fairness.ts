import { describe, expect, it } from 'vitest';
import type { ClaimedRun, Storage } from '../../storage/contract.js';
import type { ConformanceOptions } from '../options.js';
import { claim, insert, leaseOf, newRun, useStorage } from './harness.js';
import {
  claimSequence,
  insertMany,
  register,
  tally,
  tenancy,
  tenantRuns,
} from './tenants-harness.js';

/** Claims with `limit` per call until nothing is left, from one storage connection. */
async function drain(storage: Storage, limit: number): Promise<ClaimedRun[]> {
  const claimed: ClaimedRun[] = [];
  for (;;) {
    const batch = await claim(storage, { limit });
    if (batch.length === 0) return claimed;
    claimed.push(...batch);
    await storage.complete(batch.map((run) => ({ ...leaseOf(run), output: '1' })));
  }
}

/** Registers the tests of weighted fair claiming inside one queue. */
export function describeTenantFairness(options: ConformanceOptions): void {
  describe('fair queues', () => {
    const h = useStorage(options);

    it('a small tenant is not starved by a big backlog', async () => {
      await insertMany(h.storage, tenantRuns('big', 2_000));
      await insert(h.storage, ...tenantRuns('small', 20));
      await tenancy(h.storage).setFairness({ queue: 'default', by: 'tenant' });

      const order = await claimSequence(h.storage, 42);
      // Equal weights alternate, so the 20 small runs are all among the first 42 claims.
      expect(tally(order).small).toBe(20);
      expect(order.slice(0, 10)).toEqual([
        'big',
        'small',
        'big',
        'small',
        'big',
        'small',
        'big',
        'small',
        'big',
        'small',
      ]);
    });

    it('weights 3:1 split claims 3:1', async () => {
      await register(h.storage, 'gold', { weight: 3 });
      await register(h.storage, 'bronze', { weight: 1 });
      await insertMany(h.storage, [...tenantRuns('bronze', 150), ...tenantRuns('gold', 150)]);
      await tenancy(h.storage).setFairness({ queue: 'default', by: 'tenant' });

      const counts = tally(await claimSequence(h.storage, 100, { limit: 4 }));
      expect(counts.gold).toBeGreaterThanOrEqual(74);
      expect(counts.gold).toBeLessThanOrEqual(76);
      expect(counts.bronze).toBe(100 - counts.gold!);
    });

    it('fair by partition with weights in the settings', async () => {
      await insertMany(h.storage, [
        ...tenantRuns(undefined, 100, { partitionKey: 'p2' }),
        ...tenantRuns(undefined, 100, { partitionKey: 'p1' }),
      ]);
      await tenancy(h.storage).setFairness({
        queue: 'default',
        by: 'partition',
        weights: { p1: 2 },
      });
      const keys = await claimSequence(h.storage, 60, {
        limit: 3,
        keyOf: (run) => run.partitionKey ?? '-',
      });
      expect(tally(keys)).toEqual({ p1: 40, p2: 20 });
    });

    it('settings weights override registry weights', async () => {
      await register(h.storage, 'a', { weight: 5 });
      await insertMany(h.storage, [...tenantRuns('a', 50), ...tenantRuns('b', 50)]);
      await tenancy(h.storage).setFairness({ queue: 'default', by: 'tenant', weights: { a: 1 } });
      expect(tally(await claimSequence(h.storage, 20, { limit: 5 }))).toEqual({ a: 10, b: 10 });
    });

    it('runs without the key share as one more key', async () => {
      await insertMany(h.storage, [...tenantRuns('big', 50), ...tenantRuns(undefined, 5)]);
      await tenancy(h.storage).setFairness({ queue: 'default', by: 'tenant' });
      const order = await claimSequence(h.storage, 10);
      expect(tally(order)).toEqual({ big: 5, '-': 5 });
    });

    it('an idle key earns no credit', async () => {
      await tenancy(h.storage).setFairness({ queue: 'default', by: 'tenant' });
      await insertMany(h.storage, tenantRuns('steady', 100));
      await insert(h.storage, newRun({ tenantId: 'late' }));
      expect(tally(await claimSequence(h.storage, 30))).toEqual({ steady: 29, late: 1 });

      // The late tenant was idle for 29 claims; it must not get them back now.
      await insertMany(h.storage, tenantRuns('late', 40));
      const next = tally(await claimSequence(h.storage, 20));
      expect(next.late).toBeGreaterThanOrEqual(9);
      expect(next.late).toBeLessThanOrEqual(11);
    });

    it('priority orders runs within a key', async () => {
      await insert(
        h.storage,
        newRun({ tenantId: 'a', priority: 0, input: '"a-low"' }),
        newRun({ tenantId: 'a', priority: 5, input: '"a-high"' }),
        newRun({ tenantId: 'b', priority: 1, input: '"b"' }),
      );
      await tenancy(h.storage).setFairness({ queue: 'default', by: 'tenant' });
      const claimed = await claim(h.storage, { limit: 3 });
      expect(claimed.map((run) => run.input)).toEqual(['"a-high"', '"b"', '"a-low"']);
    });

    it('fairness covers runs queued before it and ends on delete', async () => {
      await insertMany(h.storage, [...tenantRuns('a', 10), ...tenantRuns('b', 10)]);
      const t = tenancy(h.storage);
      await t.setFairness({ queue: 'default', by: 'tenant' });
      expect(await claimSequence(h.storage, 4)).toEqual(['a', 'b', 'a', 'b']);
      expect(await t.deleteFairness('default')).toBe(true);
      expect(await claimSequence(h.storage, 4)).toEqual(['a', 'a', 'a', 'a']);
    });

    it('fair queues skip suspended tenants', async () => {
      await register(h.storage, 'paused');
      await insertMany(h.storage, [...tenantRuns('paused', 10), ...tenantRuns('b', 3)]);
      const t = tenancy(h.storage);
      await t.setFairness({ queue: 'default', by: 'tenant' });
      await t.setTenantStatus({ id: 'paused', status: 'suspended' });
      expect(await claimSequence(h.storage, 10, { limit: 10 })).toEqual(['b', 'b', 'b']);
    });

    it('fair queues honor limits and tenant quotas', async () => {
      await register(h.storage, 'capped', { quotas: { maxConcurrentRuns: 1 } });
      await insertMany(h.storage, [...tenantRuns('capped', 5), ...tenantRuns('free', 5)]);
      await tenancy(h.storage).setFairness({ queue: 'default', by: 'tenant' });
      await h.storage.setLimit({ scope: 'queue', key: 'default', concurrency: 3 });
      const claimed = await claim(h.storage, { limit: 10 });
      expect(claimed.map((run) => run.tenantId).sort()).toEqual(['capped', 'free', 'free']);
    });

    it('concurrent claimers of a fair queue never share a run', async () => {
      const runs = ['a', 'b', 'c', 'd'].flatMap((tenantId) => tenantRuns(tenantId, 50));
      await insertMany(h.storage, runs);
      await tenancy(h.storage).setFairness({ queue: 'default', by: 'tenant' });
      const [fromA, fromB] = await Promise.all([
        drain(await h.open(), 3),
        drain(await h.open(), 4),
      ]);
      const ids = [...fromA, ...fromB].map((run) => run.id);
      expect(ids).toHaveLength(200);
      expect(new Set(ids).size).toBe(200);
    });
  });
}
