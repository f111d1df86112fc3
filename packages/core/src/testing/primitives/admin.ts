import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../errors.js';
import type { PageRequest, RunFilter, RunRecord, Storage } from '../../storage/contract.js';
import type { ConformanceOptions } from '../options.js';
import {
  claim,
  claimOne,
  insert,
  leaseOf,
  mustGetRun,
  newRun,
  sleep,
  useStorage,
} from './harness.js';

/** Reads every page of a run listing, checking page sizes along the way. */
async function listAll(
  storage: Storage,
  filter: RunFilter,
  page: Omit<PageRequest, 'cursor'>,
  between?: (pageIndex: number) => Promise<void>,
): Promise<RunRecord[]> {
  const runs: RunRecord[] = [];
  let cursor: string | undefined;
  for (let pageIndex = 0; ; pageIndex++) {
    const result = await storage.listRuns(filter, { ...page, cursor });
    expect(result.items.length).toBeLessThanOrEqual(page.limit);
    runs.push(...result.items);
    if (result.nextCursor === null) return runs;
    expect(result.items).toHaveLength(page.limit);
    cursor = result.nextCursor;
    await between?.(pageIndex);
  }
}

async function failRun(storage: Storage, queue = 'default'): Promise<string> {
  const claimed = await claimOne(storage, { queues: [queue] });
  const error = { name: 'Error', message: 'dead' };
  await storage.fail([{ ...leaseOf(claimed), error, retryDelayMs: null }]);
  return claimed.id;
}

/** Registers the tests of listing, counting, retrying and purging runs, and the worker registry. */
export function describeAdmin(options: ConformanceOptions): void {
  describe('admin', () => {
    const h = useStorage(options);

    it('listRuns pages by id in both orders', async () => {
      const ids = await insert(h.storage, ...Array.from({ length: 23 }, () => newRun()));
      const ascending = [...ids].sort();
      const asc = await listAll(h.storage, {}, { limit: 5, order: 'asc' });
      expect(asc.map((run) => run.id)).toEqual(ascending);
      const desc = await listAll(h.storage, {}, { limit: 5, order: 'desc' });
      expect(desc.map((run) => run.id)).toEqual([...ascending].reverse());
      const byDefault = await h.storage.listRuns({}, { limit: 4 });
      expect(byDefault.items.map((run) => run.id)).toEqual([...ascending].reverse().slice(0, 4));
      const whole = await h.storage.listRuns({}, { limit: 23 });
      expect(whole.items).toHaveLength(23);
      expect(whole.nextCursor).toBeNull();
      expect(whole.items[0]).toEqual(await mustGetRun(h.storage, ascending[22]!));
    });

    it('listRuns rejects a cursor no page returned', async () => {
      await insert(h.storage, newRun(), newRun());
      for (const cursor of ['not-a-cursor', '', '{"id":1}']) {
        const error = await h.storage
          .listRuns({}, { limit: 1, cursor })
          .catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(InvalidOptionError);
        expect((error as InvalidOptionError).message).toContain('cursor');
      }
    });

    it('listRuns has no gaps or duplicates while runs are added', async () => {
      const ids = await insert(h.storage, ...Array.from({ length: 12 }, () => newRun()));
      const added: string[] = [];
      const asc = await listAll(h.storage, {}, { limit: 5, order: 'asc' }, async () => {
        added.push(...(await insert(h.storage, newRun())));
      });
      const seen = asc.map((run) => run.id);
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen).toEqual([...ids, ...added].sort());

      const newer: string[] = [];
      const desc = await listAll(h.storage, {}, { limit: 5, order: 'desc' }, async () => {
        newer.push(...(await insert(h.storage, newRun())));
      });
      const all = [...ids, ...added].sort().reverse();
      expect(desc.map((run) => run.id)).toEqual(all);
      expect(newer.length).toBeGreaterThan(0);
    });

    it('listRuns filters', async () => {
      const [queued, , grouped, tenant, partition] = await insert(
        h.storage,
        newRun({ queue: 'mail' }),
        newRun({ job: 'resize' }),
        newRun({ groupId: 'g' }),
        newRun({ tenantId: 't' }),
        newRun({ partitionKey: 'p' }),
      );
      const cancelled = (await insert(h.storage, newRun()))[0]!;
      await h.storage.cancel(cancelled);
      const ids = async (filter: RunFilter) =>
        (await h.storage.listRuns(filter, { limit: 100 })).items.map((run) => run.id);
      expect(await ids({ queue: 'mail' })).toEqual([queued]);
      expect(
        (await h.storage.listRuns({ job: 'resize' }, { limit: 100 })).items.map((r) => r.job),
      ).toEqual(['resize']);
      expect(await ids({ groupId: 'g' })).toEqual([grouped]);
      expect(await ids({ tenantId: 't' })).toEqual([tenant]);
      expect(await ids({ partitionKey: 'p' })).toEqual([partition]);
      expect(await ids({ states: ['cancelled'] })).toEqual([cancelled]);
      expect(await ids({ states: ['cancelled', 'completed'], queue: 'mail' })).toEqual([]);
      expect(await ids({ states: ['available'] })).toHaveLength(5);
      const paged = await listAll(h.storage, { states: ['available'] }, { limit: 2, order: 'asc' });
      expect(paged.map((run) => run.state)).toEqual(Array(5).fill('available'));
    });

    it('listRuns rejects a page size outside 1 to 1000', async () => {
      await expect(h.storage.listRuns({}, { limit: 0 })).rejects.toThrow();
      await expect(h.storage.listRuns({}, { limit: 1001 })).rejects.toThrow();
    });

    it('countRuns counts by state with filters', async () => {
      await insert(
        h.storage,
        newRun(),
        newRun(),
        newRun({ queue: 'mail' }),
        newRun({ delayMs: 60_000 }),
      );
      await claimOne(h.storage);
      expect(await h.storage.countRuns({})).toEqual({
        waiting: 0,
        scheduled: 1,
        available: 2,
        running: 1,
        suspended: 0,
        completed: 0,
        failed: 0,
        cancelled: 0,
      });
      const mail = await h.storage.countRuns({ queue: 'mail' });
      expect(mail.available).toBe(1);
      expect(Object.values(mail).reduce((sum, n) => sum + n, 0)).toBe(1);
    });

    it('retryRuns moves dead-letter and cancelled runs back', async () => {
      await insert(h.storage, newRun({ maxAttempts: 1 }));
      const failed = await failRun(h.storage);
      const [cancelled, pending] = await insert(h.storage, newRun(), newRun({ queue: 'later' }));
      await h.storage.cancel(cancelled!);
      await insert(h.storage, newRun({ queue: 'done' }));
      const completed = await claimOne(h.storage, { queues: ['done'] });
      await h.storage.complete([{ ...leaseOf(completed), output: '1' }]);

      const moved = await h.storage.retryRuns([
        failed,
        cancelled!,
        completed.id,
        pending!,
        newRun().id,
      ]);
      expect(moved).toBe(2);
      const retried = await mustGetRun(h.storage, failed);
      expect(retried.state).toBe('available');
      expect(retried.attempt).toBe(0);
      expect(retried.finishedAt).toBeNull();
      expect((await mustGetRun(h.storage, cancelled!)).state).toBe('available');
      expect((await mustGetRun(h.storage, completed.id)).state).toBe('completed');
      expect((await mustGetRun(h.storage, pending!)).state).toBe('available');

      const again = await claim(h.storage);
      expect(again.map((run) => run.id).sort()).toEqual([failed, cancelled!].sort());
      expect(again.map((run) => run.attempt)).toEqual([1, 1]);
    });

    it('purgeRuns deletes finished runs with their events and state', async () => {
      const [parent] = await insert(h.storage, newRun(), newRun(), newRun());
      await h.storage.putState(parent!, 'k', '1');
      const finishedIds: string[] = [];
      for (let i = 0; i < 3; i++) {
        const claimed = await claimOne(h.storage);
        await h.storage.complete([{ ...leaseOf(claimed), output: '1' }]);
        finishedIds.push(claimed.id);
      }
      await h.storage.putState(finishedIds[0]!, 'k', '1');
      await insert(h.storage, newRun({ queue: 'dead', maxAttempts: 1 }));
      const failed = await failRun(h.storage, 'dead');
      const [live] = await insert(h.storage, newRun({ queue: 'live' }));

      const before = await h.storage.now();
      expect(
        await h.storage.purgeRuns({
          states: ['completed'],
          finishedBefore: before - 60_000,
          limit: 10,
        }),
      ).toBe(0);
      await sleep(2);
      const cutoff = (await h.storage.now()) + 1;
      expect(
        await h.storage.purgeRuns({ states: ['completed'], finishedBefore: cutoff, limit: 2 }),
      ).toBe(2);
      expect(
        await h.storage.purgeRuns({ states: ['completed'], finishedBefore: cutoff, limit: 2 }),
      ).toBe(1);
      for (const id of finishedIds) {
        expect(await h.storage.getRun(id)).toBeNull();
        expect((await h.storage.listEvents({ runId: id, limit: 10 })).items).toEqual([]);
        expect(await h.storage.listState(id)).toEqual({});
      }
      expect((await mustGetRun(h.storage, failed)).state).toBe('failed');
      expect((await mustGetRun(h.storage, live!)).state).toBe('available');
      expect(
        await h.storage.purgeRuns({
          states: ['failed', 'cancelled'],
          finishedBefore: cutoff,
          limit: 10,
        }),
      ).toBe(1);
      expect(await h.storage.getRun(failed)).toBeNull();
      expect((await h.storage.countRuns({})).available).toBe(1);
    });

    it('worker registry records, refreshes and forgets workers', async () => {
      const worker = {
        id: 'worker-a',
        hostname: 'host-1',
        pid: 1234,
        queues: ['default', 'mail'],
        concurrency: 8,
      };
      const before = await h.storage.now();
      await h.storage.registerWorker(worker);
      const [first] = await h.storage.listWorkers(60_000);
      expect(first).toMatchObject(worker);
      expect(first!.startedAt).toBeGreaterThanOrEqual(before);
      expect(first!.lastSeenAt).toBe(first!.startedAt);

      await sleep(150);
      await h.storage.registerWorker({ ...worker, concurrency: 4 });
      await h.storage.registerWorker({ ...worker, id: 'worker-b' });
      const [refreshed, other] = [...(await h.storage.listWorkers(60_000))].sort((x, y) =>
        x.id.localeCompare(y.id),
      );
      expect(refreshed!.startedAt).toBe(first!.startedAt);
      expect(refreshed!.lastSeenAt).toBeGreaterThan(first!.lastSeenAt);
      expect(refreshed!.concurrency).toBe(4);
      expect(other!.id).toBe('worker-b');

      await sleep(150);
      await h.storage.registerWorker({ ...worker, id: 'worker-c' });
      expect((await h.storage.listWorkers(100)).map((w) => w.id)).toEqual(['worker-c']);
      await h.storage.unregisterWorker('worker-a');
      await h.storage.unregisterWorker('missing');
      expect((await h.storage.listWorkers(60_000)).map((w) => w.id).sort()).toEqual([
        'worker-b',
        'worker-c',
      ]);
    });
  });
}
