import { describe, expect, it } from 'vitest';
import type { ConformanceOptions } from '../options.js';
import { claimOne, eventTypes, insert, leaseOf, newRun, useStorage } from './harness.js';
import { register, tenancy } from './tenants-harness.js';

/** Registers the tests of the tenant registry, purging and fair-queue settings. */
export function describeTenantRegistry(options: ConformanceOptions): void {
  describe('tenant registry', () => {
    const h = useStorage(options);

    it('upsertTenant creates an active tenant', async () => {
      const before = await h.storage.now();
      const created = await tenancy(h.storage).upsertTenant({
        id: 'acme',
        weight: 2.5,
        quotas: { runsPerHour: 10, maxConcurrentRuns: 3 },
        metadata: '{"plan":"pro"}',
      });
      expect(created).toEqual({
        id: 'acme',
        status: 'active',
        weight: 2.5,
        quotas: { runsPerHour: 10, maxConcurrentRuns: 3 },
        metadata: '{"plan":"pro"}',
        createdAt: created.createdAt,
        updatedAt: created.createdAt,
        deletedAt: null,
        purgeAt: null,
      });
      expect(created.createdAt).toBeGreaterThanOrEqual(before);
      expect(await tenancy(h.storage).getTenant('acme')).toEqual(created);
      expect(await tenancy(h.storage).getTenant('unknown')).toBeNull();
    });

    it('upsertTenant replaces settings and keeps status', async () => {
      const t = tenancy(h.storage);
      const first = await register(h.storage, 'acme', { quotas: { runsPerDay: 5 } });
      await t.setTenantStatus({ id: 'acme', status: 'suspended' });
      const second = await t.upsertTenant({
        id: 'acme',
        weight: 4,
        quotas: { maxQueuedRuns: 7 },
      });
      expect(second.status).toBe('suspended');
      expect(second.weight).toBe(4);
      expect(second.quotas).toEqual({ maxQueuedRuns: 7 });
      expect(second.metadata).toBeNull();
      expect(second.createdAt).toBe(first.createdAt);
      expect(second.updatedAt).toBeGreaterThanOrEqual(first.updatedAt);
    });

    it('listTenants pages by id and filters status', async () => {
      const t = tenancy(h.storage);
      for (const id of ['c', 'a', 'e', 'b', 'd']) await register(h.storage, id);
      await t.setTenantStatus({ id: 'b', status: 'suspended' });
      await t.setTenantStatus({ id: 'd', status: 'suspended' });

      const first = await t.listTenants({ limit: 2 });
      expect(first.items.map((tenant) => tenant.id)).toEqual(['a', 'b']);
      expect(first.nextCursor).not.toBeNull();
      const second = await t.listTenants({ limit: 2, cursor: first.nextCursor! });
      expect(second.items.map((tenant) => tenant.id)).toEqual(['c', 'd']);
      const third = await t.listTenants({ limit: 2, cursor: second.nextCursor! });
      expect(third.items.map((tenant) => tenant.id)).toEqual(['e']);
      expect(third.nextCursor).toBeNull();

      const suspended = await t.listTenants({ limit: 10, status: 'suspended' });
      expect(suspended.items.map((tenant) => tenant.id)).toEqual(['b', 'd']);
    });

    it('setTenantStatus records deletion and clears it', async () => {
      const t = tenancy(h.storage);
      expect(await t.setTenantStatus({ id: 'ghost', status: 'suspended' })).toBeNull();
      await register(h.storage, 'acme');
      const now = await h.storage.now();

      const deleted = await t.setTenantStatus({ id: 'acme', status: 'deleted', purgeAt: now + 5 });
      expect(deleted?.status).toBe('deleted');
      expect(deleted?.purgeAt).toBe(now + 5);
      expect(deleted?.deletedAt).toBeGreaterThanOrEqual(now);

      const restored = await t.setTenantStatus({ id: 'acme', status: 'active' });
      expect(restored?.status).toBe('active');
      expect(restored?.deletedAt).toBeNull();
      expect(restored?.purgeAt).toBeNull();
    });

    it('purgeTenants deletes a deleted tenant with its data', async () => {
      const t = tenancy(h.storage);
      await register(h.storage, 'gone');
      await register(h.storage, 'kept');
      const gone = [1, 2, 3, 4, 5].map(() => newRun({ tenantId: 'gone' }));
      const kept = newRun({ tenantId: 'kept' });
      await insert(h.storage, ...gone, kept);
      const running = await claimOne(h.storage);
      await h.storage.putState(running.id, 'k', '"v"');
      await h.storage.upsertSchedule({
        name: 'gone-nightly',
        job: 'test-job',
        input: '{}',
        cron: '0 0 * * *',
        intervalMs: null,
        timezone: null,
        options: '{}',
        tenantId: 'gone',
        nextFireAt: null,
        resetNextFireAt: true,
      });
      const now = await h.storage.now();
      await t.setTenantStatus({ id: 'gone', status: 'deleted', purgeAt: now - 1 });

      expect(await t.purgeTenants(2)).toEqual({ runsDeleted: 2, tenantsDeleted: [] });
      expect(await t.purgeTenants(2)).toEqual({ runsDeleted: 2, tenantsDeleted: [] });
      expect(await t.purgeTenants(2)).toEqual({ runsDeleted: 1, tenantsDeleted: ['gone'] });
      expect(await t.purgeTenants(2)).toEqual({ runsDeleted: 0, tenantsDeleted: [] });

      for (const run of gone) expect(await h.storage.getRun(run.id)).toBeNull();
      expect(await eventTypes(h.storage, gone[0]!.id)).toEqual([]);
      expect(await h.storage.getState(running.id, 'k')).toBeNull();
      expect(await h.storage.getSchedule({ name: 'gone-nightly', tenantId: 'gone' })).toBeNull();
      expect(await t.getTenant('gone')).toBeNull();
      expect(await h.storage.getRun(kept.id)).not.toBeNull();
      expect(await t.getTenant('kept')).not.toBeNull();
      // The purged run's lease is gone with it.
      expect(await h.storage.complete([{ ...leaseOf(running), output: '1' }])).toEqual([false]);
    });

    it('purgeTenants waits for purgeAt', async () => {
      const t = tenancy(h.storage);
      await register(h.storage, 'later');
      const [id] = await insert(h.storage, newRun({ tenantId: 'later' }));
      const now = await h.storage.now();
      await t.setTenantStatus({ id: 'later', status: 'deleted', purgeAt: now + 60_000 });
      expect(await t.purgeTenants(100)).toEqual({ runsDeleted: 0, tenantsDeleted: [] });
      expect(await h.storage.getRun(id!)).not.toBeNull();
    });

    it('setFairness, listFairness and deleteFairness', async () => {
      const t = tenancy(h.storage);
      expect(await t.listFairness()).toEqual([]);
      await t.setFairness({ queue: 'mail', by: 'tenant' });
      await t.setFairness({ queue: 'jobs', by: 'partition', weights: { vip: 3, free: 0.5 } });
      expect(await t.listFairness()).toEqual([
        { queue: 'jobs', by: 'partition', weights: { free: 0.5, vip: 3 } },
        { queue: 'mail', by: 'tenant' },
      ]);

      await t.setFairness({ queue: 'jobs', by: 'tenant', weights: { acme: 2 } });
      expect((await t.listFairness())[0]).toEqual({
        queue: 'jobs',
        by: 'tenant',
        weights: { acme: 2 },
      });
      expect(await t.deleteFairness('jobs')).toBe(true);
      expect(await t.deleteFairness('jobs')).toBe(false);
      expect(await t.listFairness()).toEqual([{ queue: 'mail', by: 'tenant' }]);
    });
  });
}
