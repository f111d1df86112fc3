import { describe, expect, it } from 'vitest';
import type { BurstUse, ClaimedRun, LimitSpec, Storage } from '../../storage/contract.js';
import type { ConformanceOptions } from '../options.js';
import {
  claim,
  insert,
  leaseOf,
  newRun,
  sleep,
  useStorage,
  waitForStorageTime,
} from './harness.js';
import { register, tenancy } from './tenants-harness.js';

function sortLimits(limits: LimitSpec[]): LimitSpec[] {
  return [...limits].sort((a, b) => `${a.scope}/${a.key}`.localeCompare(`${b.scope}/${b.key}`));
}

/** Collects the burst uses of claimed runs, sorted by kind, limit and count. */
function burstsOf(runs: readonly ClaimedRun[]): BurstUse[] {
  const order = (use: BurstUse) =>
    `${use.kind}/${use.limit.scope}/${use.limit.key}/${use.partitionKey}/${use.count}`;
  return runs.flatMap((run) => run.bursts).sort((a, b) => order(a).localeCompare(order(b)));
}

/** Claimed runs that no limit admitted past its normal cap. */
function withoutBursts(runs: readonly ClaimedRun[]): ClaimedRun[] {
  return runs.filter((run) => run.bursts.length === 0);
}

async function completeAll(storage: Storage, runs: readonly ClaimedRun[]): Promise<void> {
  if (runs.length === 0) return;
  const results = await storage.complete(runs.map((run) => ({ ...leaseOf(run), output: '1' })));
  expect(results.every(Boolean)).toBe(true);
}

/** Registers the tests of cluster-wide concurrency and rate limits applied at claim time. */
export function describeLimits(options: ConformanceOptions): void {
  describe('limits', () => {
    const h = useStorage(options);

    it('setLimit, listLimits and deleteLimit', async () => {
      expect(await h.storage.listLimits()).toEqual([]);
      const limits: LimitSpec[] = [
        { scope: 'queue', key: 'mail', concurrency: 5 },
        { scope: 'job', key: 'resize', rate: { limit: 10, periodMs: 1_000 }, burstMultiplier: 2 },
        { scope: 'partition', key: 'mail', concurrency: 1, rate: { limit: 3, periodMs: 500 } },
      ];
      for (const limit of limits) await h.storage.setLimit(limit);
      expect(sortLimits(await h.storage.listLimits())).toEqual(sortLimits(limits));

      await h.storage.setLimit({ scope: 'queue', key: 'mail', concurrency: 2 });
      const replaced = (await h.storage.listLimits()).find((limit) => limit.scope === 'queue');
      expect(replaced).toEqual({ scope: 'queue', key: 'mail', concurrency: 2 });

      expect(await h.storage.deleteLimit('job', 'resize')).toBe(true);
      expect(await h.storage.deleteLimit('job', 'resize')).toBe(false);
      expect(await h.storage.deleteLimit('queue', 'other')).toBe(false);
      expect((await h.storage.listLimits()).map((limit) => limit.scope).sort()).toEqual([
        'partition',
        'queue',
      ]);
    });

    it('queue concurrency holds across concurrent claimers', async () => {
      await h.storage.setLimit({ scope: 'queue', key: 'default', concurrency: 2 });
      await h.storage.insertRuns(Array.from({ length: 6 }, () => newRun()));
      const a = await h.open();
      const b = await h.open();
      const [fromA, fromB] = await Promise.all([claim(a, { limit: 5 }), claim(b, { limit: 5 })]);
      expect(fromA.length + fromB.length).toBe(2);
      expect(await claim(h.storage, { limit: 5 })).toEqual([]);

      await completeAll(h.storage, [...fromA, ...fromB].slice(0, 1));
      expect(await claim(h.storage, { limit: 5 })).toHaveLength(1);
      expect((await h.storage.countRuns({})).running).toBe(2);
    });

    it('job concurrency caps one job only', async () => {
      await h.storage.setLimit({ scope: 'job', key: 'slow', concurrency: 1 });
      await insert(
        h.storage,
        newRun({ job: 'slow' }),
        newRun({ job: 'slow' }),
        newRun({ job: 'fast' }),
        newRun({ job: 'fast' }),
        newRun({ job: 'slow', queue: 'other' }),
      );
      const claimed = await claim(h.storage, { queues: ['default', 'other'], limit: 10 });
      expect(claimed.map((run) => run.job).sort()).toEqual(['fast', 'fast', 'slow']);
      await completeAll(h.storage, claimed);
      const next = await claim(h.storage, { queues: ['default', 'other'], limit: 10 });
      expect(next.map((run) => run.job)).toEqual(['slow']);
    });

    it('partition concurrency holds per partition key', async () => {
      await h.storage.setLimit({ scope: 'partition', key: 'default', concurrency: 1 });
      const runs = ['a', 'a', 'a', 'b', 'b', 'b'].map((partitionKey) => newRun({ partitionKey }));
      await insert(
        h.storage,
        ...runs,
        newRun(),
        newRun(),
        newRun({ queue: 'other', partitionKey: 'a' }),
      );
      const a = await h.open();
      const b = await h.open();
      const [fromA, fromB] = await Promise.all([claim(a, { limit: 10 }), claim(b, { limit: 10 })]);
      const claimed = [...fromA, ...fromB];
      const keys = claimed.map((run) => run.partitionKey ?? 'none').sort();
      // Runs without a partition key are not limited by partition limits.
      expect(keys).toEqual(['a', 'b', 'none', 'none']);
      expect(await claim(h.storage, { queues: ['other'] })).toHaveLength(1);

      await completeAll(
        h.storage,
        claimed.filter((run) => run.partitionKey === 'a'),
      );
      const next = await claim(h.storage, { limit: 10 });
      expect(next.map((run) => run.partitionKey)).toEqual(['a']);
    });

    it('limits hold while claimers loop concurrently', async () => {
      await h.storage.setLimit({ scope: 'queue', key: 'default', concurrency: 3 });
      await h.storage.setLimit({ scope: 'partition', key: 'default', concurrency: 1 });
      const partitions = ['p1', 'p2', 'p3', 'p4'];
      await h.storage.insertRuns(
        Array.from({ length: 40 }, (_, i) => newRun({ partitionKey: partitions[i % 4] })),
      );
      const inFlight = new Map<string, ClaimedRun>();
      let maxInFlight = 0;
      let done = 0;
      const loop = async (storage: Storage, workerId: string) => {
        for (let idle = 0; idle < 20 && done < 40; ) {
          const claimed = await claim(storage, { workerId, limit: 3 });
          if (claimed.length === 0) {
            idle += 1;
            continue;
          }
          for (const run of claimed) {
            for (const other of inFlight.values())
              expect(other.partitionKey).not.toBe(run.partitionKey);
            inFlight.set(run.id, run);
          }
          maxInFlight = Math.max(maxInFlight, inFlight.size);
          expect(inFlight.size).toBeLessThanOrEqual(3);
          // Simulated work lets the other claimer run. Runs leave `inFlight` before complete, so
          // `inFlight` never contains a run the storage no longer counts as running.
          await sleep(5);
          for (const run of claimed) inFlight.delete(run.id);
          await completeAll(storage, claimed);
          done += claimed.length;
        }
      };
      await Promise.all([loop(await h.open(), 'a'), loop(await h.open(), 'b')]);
      expect(done).toBe(40);
      expect(maxInFlight).toBeGreaterThanOrEqual(1);
      expect((await h.storage.countRuns({})).completed).toBe(40);
    });

    it('rate limit caps claims per window', async () => {
      await h.storage.setLimit({
        scope: 'queue',
        key: 'default',
        rate: { limit: 3, periodMs: 400 },
      });
      await h.storage.insertRuns(Array.from({ length: 8 }, () => newRun()));
      const first = await claim(h.storage, { limit: 10 });
      expect(first).toHaveLength(3);
      await completeAll(h.storage, first);
      expect(await claim(h.storage, { limit: 10 })).toEqual([]);

      await waitForStorageTime(h.storage, Math.max(...first.map((run) => run.startedAt!)) + 400);
      const second = await claim(h.storage, { limit: 10 });
      expect(second).toHaveLength(3);
    });

    it('rate limit per partition key', async () => {
      await h.storage.setLimit({
        scope: 'partition',
        key: 'default',
        rate: { limit: 1, periodMs: 60_000 },
      });
      await insert(
        h.storage,
        newRun({ partitionKey: 'a' }),
        newRun({ partitionKey: 'a' }),
        newRun({ partitionKey: 'b' }),
      );
      const claimed = await claim(h.storage, { limit: 10 });
      expect(claimed.map((run) => run.partitionKey).sort()).toEqual(['a', 'b']);
      await completeAll(h.storage, claimed);
      expect(await claim(h.storage, { limit: 10 })).toEqual([]);
    });

    it('burstMultiplier lets an idle worker exceed the limit', async () => {
      await h.storage.setLimit({
        scope: 'queue',
        key: 'default',
        concurrency: 1,
        burstMultiplier: 3,
      });
      await h.storage.insertRuns(Array.from({ length: 5 }, () => newRun()));
      await insert(h.storage, newRun({ queue: 'other' }), newRun({ queue: 'other' }));

      // Other claimable runs fill the free slots, so no burst.
      const busy = await claim(h.storage, { queues: ['default', 'other'], limit: 3 });
      expect(busy.map((run) => run.queue).sort()).toEqual(['default', 'other', 'other']);
      expect(burstsOf(busy)).toEqual([]);
      // Nothing else is claimable: the limit may stretch to 3 running.
      const idle = await claim(h.storage, { queues: ['default', 'other'], limit: 10 });
      expect(idle).toHaveLength(2);
      const limit = { scope: 'queue', key: 'default', concurrency: 1, burstMultiplier: 3 };
      expect(burstsOf(idle)).toEqual([
        { limit, kind: 'concurrency', partitionKey: null, count: 2 },
        { limit, kind: 'concurrency', partitionKey: null, count: 3 },
      ]);
      expect(await claim(h.storage, { limit: 10 })).toEqual([]);
    });

    it('rate burst marks the extra claims', async () => {
      const limit: LimitSpec = {
        scope: 'queue',
        key: 'default',
        rate: { limit: 2, periodMs: 60_000 },
        burstMultiplier: 2,
      };
      await h.storage.setLimit(limit);
      await h.storage.insertRuns(Array.from({ length: 6 }, () => newRun()));

      const claimed = await claim(h.storage, { limit: 10 });
      expect(claimed).toHaveLength(4);
      expect(withoutBursts(claimed)).toHaveLength(2);
      expect(burstsOf(claimed)).toEqual([
        { limit, kind: 'rate', partitionKey: null, count: 3 },
        { limit, kind: 'rate', partitionKey: null, count: 4 },
      ]);
      // Each marked run has exactly one use: the rate of the queue's limit.
      for (const run of claimed) expect(run.bursts.length).toBeLessThanOrEqual(1);

      // The window contains 4 claims, the burst cap: finishing runs frees no rate capacity.
      await completeAll(h.storage, claimed);
      expect(await claim(h.storage, { limit: 10 })).toEqual([]);
    });

    it('rate burst yields to waiting work', async () => {
      const limit: LimitSpec = {
        scope: 'job',
        key: 'rated',
        rate: { limit: 2, periodMs: 60_000 },
        burstMultiplier: 2,
      };
      await h.storage.setLimit(limit);
      await h.storage.insertRuns(Array.from({ length: 4 }, () => newRun({ job: 'rated' })));
      await h.storage.insertRuns(Array.from({ length: 2 }, () => newRun({ job: 'plain' })));

      const busy = await claim(h.storage, { limit: 4 });
      expect(busy.map((run) => run.job).sort()).toEqual(['plain', 'plain', 'rated', 'rated']);
      expect(burstsOf(busy)).toEqual([]);
      const idle = await claim(h.storage, { limit: 4 });
      expect(idle.map((run) => run.job)).toEqual(['rated', 'rated']);
      expect(burstsOf(idle)).toEqual([
        { limit, kind: 'rate', partitionKey: null, count: 3 },
        { limit, kind: 'rate', partitionKey: null, count: 4 },
      ]);
    });

    it('partition burst marks runs per key', async () => {
      const limit: LimitSpec = {
        scope: 'partition',
        key: 'default',
        concurrency: 1,
        burstMultiplier: 3,
      };
      await h.storage.setLimit(limit);
      await insert(
        h.storage,
        ...['a', 'a', 'a', 'a', 'b'].map((partitionKey) => newRun({ partitionKey })),
        newRun(),
      );

      const claimed = await claim(h.storage, { limit: 10 });
      // a: 1 within the limit and 2 by burst (3 = 1 × 3); b and the run without a key: 1 each.
      expect(claimed.map((run) => run.partitionKey ?? '-').sort()).toEqual([
        '-',
        'a',
        'a',
        'a',
        'b',
      ]);
      expect(
        withoutBursts(claimed)
          .map((run) => run.partitionKey ?? '-')
          .sort(),
      ).toEqual(['-', 'a', 'b']);
      expect(burstsOf(claimed)).toEqual([
        { limit, kind: 'concurrency', partitionKey: 'a', count: 2 },
        { limit, kind: 'concurrency', partitionKey: 'a', count: 3 },
      ]);
      expect(await claim(h.storage, { limit: 10 })).toEqual([]);
    });

    it('run past both caps has two uses', async () => {
      const limit: LimitSpec = {
        scope: 'job',
        key: 'both',
        concurrency: 1,
        rate: { limit: 1, periodMs: 60_000 },
        burstMultiplier: 2,
      };
      const queueLimit: LimitSpec = { scope: 'queue', key: 'default', concurrency: 10 };
      await h.storage.setLimit(limit);
      await h.storage.setLimit(queueLimit);
      await h.storage.insertRuns(Array.from({ length: 3 }, () => newRun({ job: 'both' })));

      const claimed = await claim(h.storage, { limit: 10 });
      expect(claimed).toHaveLength(2);
      expect(withoutBursts(claimed)).toHaveLength(1);
      const burst = claimed.find((run) => run.bursts.length > 0)!;
      // The queue limit was not exceeded, so it is not listed.
      expect(burstsOf([burst])).toEqual([
        { limit, kind: 'concurrency', partitionKey: null, count: 2 },
        { limit, kind: 'rate', partitionKey: null, count: 2 },
      ]);
    });

    it('fair queue marks burst uses', async () => {
      const limit: LimitSpec = {
        scope: 'partition',
        key: 'default',
        rate: { limit: 1, periodMs: 60_000 },
        burstMultiplier: 2,
      };
      await tenancy(h.storage).setFairness({ queue: 'default', by: 'tenant' });
      await h.storage.setLimit(limit);
      const run = (tenantId: string) => newRun({ tenantId, partitionKey: tenantId });
      await insert(h.storage, run('a'), run('a'), run('a'), run('b'));

      const claimed = await claim(h.storage, { limit: 10 });
      expect(claimed.map((claimedRun) => claimedRun.tenantId).sort()).toEqual(['a', 'a', 'b']);
      expect(burstsOf(claimed)).toEqual([{ limit, kind: 'rate', partitionKey: 'a', count: 2 }]);
      const marked = claimed.find((claimedRun) => claimedRun.bursts.length > 0)!;
      expect(marked.tenantId).toBe('a');
      expect(await claim(h.storage, { limit: 10 })).toEqual([]);
    });

    it('claim under tenant quota marks bursts', async () => {
      // A tenant with maxConcurrentRuns makes every claim apply the tenancy rules.
      await register(h.storage, 'capped', { quotas: { maxConcurrentRuns: 5 } });
      const limit: LimitSpec = {
        scope: 'queue',
        key: 'default',
        concurrency: 1,
        burstMultiplier: 2,
      };
      await h.storage.setLimit(limit);
      await insert(
        h.storage,
        newRun({ tenantId: 'capped' }),
        newRun({ tenantId: 'capped' }),
        newRun({ tenantId: 'capped' }),
      );

      const claimed = await claim(h.storage, { limit: 10 });
      expect(claimed).toHaveLength(2);
      expect(burstsOf(claimed)).toEqual([
        { limit, kind: 'concurrency', partitionKey: null, count: 2 },
      ]);
    });

    it('deleteLimit lifts the limit', async () => {
      await h.storage.setLimit({ scope: 'queue', key: 'default', concurrency: 1 });
      await h.storage.insertRuns(Array.from({ length: 3 }, () => newRun()));
      expect(await claim(h.storage)).toHaveLength(1);
      await h.storage.deleteLimit('queue', 'default');
      expect(await claim(h.storage)).toHaveLength(2);
    });
  });
}
