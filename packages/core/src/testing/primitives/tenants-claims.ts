import { describe, expect, it } from 'vitest';
import type { ClaimedRun, Storage } from '../../storage/contract.js';
import type { ConformanceOptions } from '../options.js';
import { claim, insert, leaseOf, newRun, useStorage } from './harness.js';
import { insertMany, register, tenancy, tenantRuns } from './tenants-harness.js';

async function completeAll(storage: Storage, runs: readonly ClaimedRun[]): Promise<void> {
  if (runs.length === 0) return;
  const results = await storage.complete(runs.map((run) => ({ ...leaseOf(run), output: '1' })));
  expect(results.every(Boolean)).toBe(true);
}

function tenantsOf(runs: readonly ClaimedRun[]): string[] {
  return runs.map((run) => run.tenantId ?? '-').sort();
}

/** Registers the tests of tenant status and concurrency quotas applied at claim. */
export function describeTenantClaims(options: ConformanceOptions): void {
  describe('tenant claims', () => {
    const h = useStorage(options);

    it('claim skips runs of a suspended tenant until it resumes', async () => {
      const t = tenancy(h.storage);
      await register(h.storage, 'paused');
      await insert(h.storage, ...tenantRuns('paused', 2), newRun({ tenantId: 'b' }), newRun());
      await t.setTenantStatus({ id: 'paused', status: 'suspended' });

      expect(tenantsOf(await claim(h.storage))).toEqual(['-', 'b']);
      expect(await claim(h.storage)).toEqual([]);
      await t.setTenantStatus({ id: 'paused', status: 'active' });
      expect(tenantsOf(await claim(h.storage))).toEqual(['paused', 'paused']);
    });

    it('claim skips runs of a deleted tenant', async () => {
      await register(h.storage, 'gone');
      await insert(h.storage, newRun({ tenantId: 'gone' }));
      const now = await h.storage.now();
      await tenancy(h.storage).setTenantStatus({
        id: 'gone',
        status: 'deleted',
        purgeAt: now + 60_000,
      });
      expect(await claim(h.storage)).toEqual([]);
    });

    it('a suspended backlog does not hide later runs', async () => {
      await register(h.storage, 'paused');
      await insertMany(h.storage, tenantRuns('paused', 2_100));
      await insert(h.storage, ...tenantRuns('b', 3));
      await tenancy(h.storage).setTenantStatus({ id: 'paused', status: 'suspended' });
      expect(tenantsOf(await claim(h.storage, { limit: 10 }))).toEqual(['b', 'b', 'b']);
    });

    it('maxConcurrentRuns caps one tenant only', async () => {
      await register(h.storage, 'capped', { quotas: { maxConcurrentRuns: 1 } });
      await insert(h.storage, ...tenantRuns('capped', 4), ...tenantRuns('free', 2), newRun());
      const first = await claim(h.storage, { limit: 10 });
      expect(tenantsOf(first)).toEqual(['-', 'capped', 'free', 'free']);
      expect(await claim(h.storage, { limit: 10 })).toEqual([]);

      await completeAll(
        h.storage,
        first.filter((run) => run.tenantId === 'capped'),
      );
      expect(tenantsOf(await claim(h.storage, { limit: 10 }))).toEqual(['capped']);
    });

    it('maxConcurrentRuns holds across concurrent claimers', async () => {
      await register(h.storage, 'capped', { quotas: { maxConcurrentRuns: 2 } });
      await insert(h.storage, ...tenantRuns('capped', 10));
      const a = await h.open();
      const b = await h.open();
      const [fromA, fromB] = await Promise.all([claim(a, { limit: 5 }), claim(b, { limit: 5 })]);
      expect(fromA.length + fromB.length).toBe(2);
      expect(await claim(h.storage, { limit: 5 })).toEqual([]);
      await completeAll(h.storage, [...fromA, ...fromB].slice(0, 1));
      expect(await claim(h.storage, { limit: 5 })).toHaveLength(1);
      expect((await h.storage.countRuns({ tenantId: 'capped' })).running).toBe(2);
    });

    it('maxConcurrentRuns counts running runs of every queue', async () => {
      await register(h.storage, 'capped', { quotas: { maxConcurrentRuns: 1 } });
      await insert(
        h.storage,
        newRun({ tenantId: 'capped', queue: 'one' }),
        newRun({ tenantId: 'capped', queue: 'two' }),
      );
      expect(await claim(h.storage, { queues: ['one'] })).toHaveLength(1);
      expect(await claim(h.storage, { queues: ['two'] })).toEqual([]);
    });

    it('raising maxConcurrentRuns lets waiting runs start', async () => {
      await register(h.storage, 'capped', { quotas: { maxConcurrentRuns: 0 } });
      await insert(h.storage, ...tenantRuns('capped', 2));
      expect(await claim(h.storage)).toEqual([]);
      await register(h.storage, 'capped', { quotas: { maxConcurrentRuns: 5 } });
      expect(await claim(h.storage)).toHaveLength(2);
    });
  });
}
