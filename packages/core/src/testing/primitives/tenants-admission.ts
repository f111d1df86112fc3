import { describe, expect, it } from 'vitest';
import type { Storage } from '../../storage/contract.js';
import {
  QuotaExceededError,
  TenantDeletedError,
  TenantSuspendedError,
} from '../../tenancy/errors.js';
import type { ConformanceOptions } from '../options.js';
import { claim, insert, newRun, useStorage } from './harness.js';
import { register, tenancy, tenantRuns } from './tenants-harness.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** Runs `insert` and returns the error it threw, failing when it did not throw. */
async function rejection(insert: () => Promise<unknown>): Promise<unknown> {
  try {
    await insert();
  } catch (error) {
    return error;
  }
  throw new Error('The insert was expected to be rejected, but it succeeded.');
}

async function totalRuns(storage: Storage, tenantId: string): Promise<number> {
  const counts = await storage.countRuns({ tenantId });
  return Object.values(counts).reduce((sum, count) => sum + count, 0);
}

/** Registers the tests of tenant status and quotas checked at insert. */
export function describeTenantAdmission(options: ConformanceOptions): void {
  describe('tenant admission', () => {
    const h = useStorage(options);

    it('insert of a suspended tenant stores nothing', async () => {
      await register(h.storage, 'paused');
      await tenancy(h.storage).setTenantStatus({ id: 'paused', status: 'suspended' });
      const error = await rejection(() =>
        h.storage.insertRuns([newRun({ tenantId: 'other' }), newRun({ tenantId: 'paused' })]),
      );
      expect(error).toBeInstanceOf(TenantSuspendedError);
      expect((error as TenantSuspendedError).tenantId).toBe('paused');
      expect(await totalRuns(h.storage, 'other')).toBe(0);
      expect(await totalRuns(h.storage, 'paused')).toBe(0);
    });

    it('insert of a deleted tenant is rejected', async () => {
      await register(h.storage, 'gone');
      const now = await h.storage.now();
      await tenancy(h.storage).setTenantStatus({
        id: 'gone',
        status: 'deleted',
        purgeAt: now + 60_000,
      });
      const error = await rejection(() => h.storage.insertRuns([newRun({ tenantId: 'gone' })]));
      expect(error).toBeInstanceOf(TenantDeletedError);
      expect(error).not.toBeInstanceOf(TenantSuspendedError);
    });

    it('fireSchedule admits runs like insertRuns', async () => {
      const t = tenancy(h.storage);
      const due = (await h.storage.now()) - 1_000;
      const declare = (tenantId: string) =>
        h.storage.upsertSchedule({
          name: 'hourly',
          job: 'report',
          input: '{}',
          cron: null,
          intervalMs: 3_600_000,
          timezone: null,
          options: '{}',
          tenantId,
          nextFireAt: due,
          resetNextFireAt: true,
        });
      const fire = (tenantId: string, runs: number) =>
        h.storage.fireSchedule({
          name: 'hourly',
          tenantId,
          expectedNextFireAt: due,
          nextFireAt: due + 3_600_000,
          lastFireAt: due,
          runs: Array.from({ length: runs }, () => newRun({ tenantId })),
        });
      const nextFireAt = async (tenantId: string) =>
        (await h.storage.getSchedule({ name: 'hourly', tenantId }))!.nextFireAt;

      // A suspended tenant: the fire is rejected whole and the schedule stays due.
      await register(h.storage, 'paused');
      await declare('paused');
      await t.setTenantStatus({ id: 'paused', status: 'suspended' });
      const suspended = await rejection(() => fire('paused', 1));
      expect(suspended).toBeInstanceOf(TenantSuspendedError);
      expect(await totalRuns(h.storage, 'paused')).toBe(0);
      expect(await nextFireAt('paused')).toBe(due);
      // Without runs the occurrence is skipped, as the scheduler does for such a tenant.
      expect(await fire('paused', 0)).toEqual({ fired: true, inserted: [] });
      expect(await nextFireAt('paused')).toBe(due + 3_600_000);

      // A quota: the fire that would exceed it is rejected, and fired runs count against it.
      await register(h.storage, 'limited', { quotas: { runsPerDay: 2 } });
      await declare('limited');
      const over = await rejection(() => fire('limited', 3));
      expect(over).toBeInstanceOf(QuotaExceededError);
      expect((over as QuotaExceededError).quota).toBe('runsPerDay');
      expect(await totalRuns(h.storage, 'limited')).toBe(0);
      expect(await nextFireAt('limited')).toBe(due);
      const fired = await fire('limited', 2);
      expect(fired.inserted.map((result) => result.created)).toEqual([true, true]);
      const after = await rejection(() => h.storage.insertRuns(tenantRuns('limited', 1)));
      expect(after).toBeInstanceOf(QuotaExceededError);
      expect(await totalRuns(h.storage, 'limited')).toBe(2);
    });

    it('unregistered tenants insert freely', async () => {
      await insert(h.storage, ...tenantRuns('newcomer', 3));
      expect(await totalRuns(h.storage, 'newcomer')).toBe(3);
    });

    it('runsPerHour rejects the run over the quota', async () => {
      await register(h.storage, 'acme', { quotas: { runsPerHour: 3 } });
      await insert(h.storage, ...tenantRuns('acme', 2));
      await insert(h.storage, ...tenantRuns('acme', 1));
      const before = await h.storage.now();
      const error = await rejection(() => h.storage.insertRuns(tenantRuns('acme', 1)));
      expect(error).toBeInstanceOf(QuotaExceededError);
      const quota = error as QuotaExceededError;
      expect(quota.tenantId).toBe('acme');
      expect(quota.quota).toBe('runsPerHour');
      expect(quota.limit).toBe(3);
      expect(quota.resetAt!.getTime() % HOUR_MS).toBe(0);
      expect(quota.resetAt!.getTime()).toBeGreaterThan(before - 1_000);
      expect(quota.resetAt!.getTime() - before).toBeLessThanOrEqual(HOUR_MS);
      expect(await totalRuns(h.storage, 'acme')).toBe(3);
    });

    it('runsPerDay resets at UTC midnight', async () => {
      await register(h.storage, 'acme', { quotas: { runsPerDay: 1 } });
      await insert(h.storage, ...tenantRuns('acme', 1));
      const error = await rejection(() => h.storage.insertRuns(tenantRuns('acme', 1)));
      expect(error).toBeInstanceOf(QuotaExceededError);
      expect((error as QuotaExceededError).quota).toBe('runsPerDay');
      expect((error as QuotaExceededError).resetAt!.getTime() % DAY_MS).toBe(0);
    });

    it('a batch over a quota stores none of its runs', async () => {
      await register(h.storage, 'acme', { quotas: { runsPerHour: 5 } });
      const error = await rejection(() =>
        h.storage.insertRuns([...tenantRuns('acme', 6), newRun({ tenantId: 'other' })]),
      );
      expect(error).toBeInstanceOf(QuotaExceededError);
      expect(await totalRuns(h.storage, 'acme')).toBe(0);
      expect(await totalRuns(h.storage, 'other')).toBe(0);
      // The rejected batch counted nothing: the whole quota is still free.
      await insert(h.storage, ...tenantRuns('acme', 5));
    });

    it('maxQueuedRuns frees up as runs start', async () => {
      await register(h.storage, 'acme', { quotas: { maxQueuedRuns: 2 } });
      await insert(h.storage, ...tenantRuns('acme', 2));
      const error = await rejection(() => h.storage.insertRuns(tenantRuns('acme', 1)));
      expect(error).toBeInstanceOf(QuotaExceededError);
      expect((error as QuotaExceededError).quota).toBe('maxQueuedRuns');
      expect((error as QuotaExceededError).resetAt).toBeNull();

      expect(await claim(h.storage, { limit: 1 })).toHaveLength(1);
      await insert(h.storage, ...tenantRuns('acme', 1));
      const delayed = tenantRuns('acme', 1, { delayMs: 60_000 });
      expect(await rejection(() => h.storage.insertRuns(delayed))).toBeInstanceOf(
        QuotaExceededError,
      );
    });

    it('deduplicated runs do not count toward quotas', async () => {
      await register(h.storage, 'acme', { quotas: { runsPerHour: 1 } });
      const unique = { key: 'once', releaseOn: 'never', onConflict: 'ignore' } as const;
      const first = newRun({ tenantId: 'acme', unique });
      await insert(h.storage, first);
      const [again] = await h.storage.insertRuns([newRun({ tenantId: 'acme', unique })]);
      expect(again?.created).toBe(false);
      expect(again?.runId).toBe(first.id);
    });

    it('removing a quota lifts it', async () => {
      await register(h.storage, 'acme', { quotas: { maxQueuedRuns: 1 } });
      await insert(h.storage, ...tenantRuns('acme', 1));
      await register(h.storage, 'acme', { quotas: {} });
      await insert(h.storage, ...tenantRuns('acme', 3));
      expect(await totalRuns(h.storage, 'acme')).toBe(4);
    });

    it('concurrent inserters cannot exceed a quota together', async () => {
      await register(h.storage, 'acme', { quotas: { runsPerHour: 10, maxQueuedRuns: 12 } });
      const connections = [h.storage, await h.open(), await h.open()];
      let created = 0;
      let rejected = 0;
      await Promise.all(
        connections.map(async (storage) => {
          for (let i = 0; i < 6; i++) {
            try {
              await storage.insertRuns(tenantRuns('acme', 1));
              created += 1;
            } catch (error) {
              expect(error).toBeInstanceOf(QuotaExceededError);
              rejected += 1;
            }
          }
        }),
      );
      expect(created).toBe(10);
      expect(rejected).toBe(8);
      expect(await totalRuns(h.storage, 'acme')).toBe(10);
    });
  });
}
