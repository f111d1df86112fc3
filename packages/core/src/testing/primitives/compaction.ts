import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../errors.js';
import type {
  CompactEventsRequest,
  EventQuery,
  EventRecord,
  Storage,
} from '../../storage/contract.js';
import type { ConformanceOptions } from '../options.js';
import { claimOne, insert, leaseOf, newRun, useStorage, waitForStorageTime } from './harness.js';

/** Reads every page of a query, checking page sizes along the way. */
async function readAll(
  storage: Storage,
  query: Omit<EventQuery, 'cursor'>,
  cursor?: string,
): Promise<EventRecord[]> {
  const events: EventRecord[] = [];
  let next = cursor;
  for (;;) {
    const page = await storage.listEvents({ ...query, cursor: next });
    expect(page.items.length).toBeLessThanOrEqual(query.limit);
    events.push(...page.items);
    if (page.nextCursor === null) return events;
    next = page.nextCursor;
  }
}

/** The backend's `compactEvents`, failing the test when the backend lacks it. */
function compactor(storage: Storage): (request: CompactEventsRequest) => Promise<number> {
  expect(typeof storage.compactEvents, `${storage.name} implements compactEvents`).toBe('function');
  return (request) => storage.compactEvents!(request);
}

/** Appends events one call at a time and returns them as stored, in order. */
async function append(storage: Storage, runId: string, type: string, data: string) {
  await storage.appendEvents([{ runId, type, data }]);
  const page = await storage.listEvents({ runId, types: [type], limit: 1000 });
  return page.items.find((event) => event.data === data)!;
}

/** Registers the tests of `compactEvents`: filters, cutoff, limit, order and paging after it. */
export function describeCompaction(options: ConformanceOptions): void {
  describe('event compaction', () => {
    const h = useStorage(options);

    it('deletes old events oldest first', async () => {
      const compact = compactor(h.storage);
      const [a, b] = await insert(h.storage, newRun({ groupId: 'g' }), newRun());
      const o1 = await append(h.storage, a!, 'log', '"o1"');
      const o2 = await append(h.storage, b!, 'progress', '"o2"');
      const o3 = await append(h.storage, a!, 'note', '"o3"');
      const o4 = await append(h.storage, b!, 'log', '"o4"');
      await waitForStorageTime(h.storage, o4.at);
      const cutoff = await h.storage.now();
      await waitForStorageTime(h.storage, cutoff);
      const n1 = await append(h.storage, a!, 'log', '"n1"');
      const n2 = await append(h.storage, b!, 'progress', '"n2"');
      const before = (await readAll(h.storage, { limit: 1000 })).map((event) => event.id);

      // The cutoff is exclusive: nothing of these types is older than the first event.
      expect(await compact({ types: ['log', 'progress'], before: o1.at, limit: 10 })).toBe(0);
      // Oldest first: the limit takes o1 and o2 and leaves o4.
      expect(await compact({ types: ['log', 'progress'], before: cutoff, limit: 2 })).toBe(2);
      const remaining = async () =>
        (await readAll(h.storage, { limit: 1000 })).map((event) => event.id);
      expect(await remaining()).toEqual(before.filter((id) => id !== o1.id && id !== o2.id));
      expect(await compact({ types: ['log', 'progress'], before: cutoff, limit: 10 })).toBe(1);
      expect(await compact({ types: ['log', 'progress'], before: cutoff, limit: 10 })).toBe(0);
      // Types outside the request stay: o3 goes only when `note` is asked for.
      expect(await remaining()).toContain(o3.id);
      expect(await compact({ types: ['note'], before: cutoff, limit: 10 })).toBe(1);

      const left = await readAll(h.storage, { limit: 1000 });
      expect(left.map((event) => event.type)).toEqual(['enqueued', 'enqueued', 'log', 'progress']);
      expect(left.slice(2).map((event) => event.id)).toEqual([n1.id, n2.id]);
      const inGroup = await readAll(h.storage, { groupId: 'g', limit: 1 });
      expect(inGroup.map((event) => event.type)).toEqual(['enqueued', 'log']);
    });

    it('keeps lifecycle events, then purges', async () => {
      const compact = compactor(h.storage);
      const [id] = await insert(h.storage, newRun());
      const claimed = await claimOne(h.storage);
      expect(await h.storage.setProgress(leaseOf(claimed), '"half"')).toBe(true);
      await h.storage.appendEvents([{ runId: id!, type: 'log', data: '"hello"', attempt: 1 }]);
      expect(await h.storage.complete([{ ...leaseOf(claimed), output: '1' }])).toEqual([true]);
      const finished = await h.storage.now();
      await waitForStorageTime(h.storage, finished);

      const request = { types: ['log', 'progress'], before: await h.storage.now(), limit: 100 };
      expect(await compact(request)).toBe(2);
      const events = await readAll(h.storage, { runId: id!, limit: 2 });
      expect(events.map((event) => event.type)).toEqual(['enqueued', 'started', 'completed']);
      const run = await h.storage.getRun(id!);
      expect(run?.progress).toBe('"half"');
      expect(run?.state).toBe('completed');

      const purged = await h.storage.purgeRuns({
        states: ['completed'],
        finishedBefore: (await h.storage.now()) + 1,
        limit: 10,
      });
      expect(purged).toBe(1);
      expect(await h.storage.listEvents({ limit: 10 })).toEqual({ items: [], nextCursor: null });
      expect(await compact(request)).toBe(0);
    });

    it('rejects kept types and bad requests', async () => {
      const compact = compactor(h.storage);
      const [id] = await insert(h.storage, newRun());
      await h.storage.appendEvents([{ runId: id!, type: 'log', data: '"x"' }]);
      const before = (await h.storage.now()) + 60_000;
      for (const types of [['log', 'started'], ['completed'], []]) {
        await expect(compact({ types, before, limit: 10 })).rejects.toBeInstanceOf(
          InvalidOptionError,
        );
      }
      for (const limit of [0, 1.5]) {
        await expect(compact({ types: ['log'], before, limit })).rejects.toBeInstanceOf(
          InvalidOptionError,
        );
      }
      expect((await h.storage.listEvents({ runId: id!, limit: 10 })).items).toHaveLength(2);
    });

    it('paging continues across deleted events', async () => {
      const compact = compactor(h.storage);
      const ids = await insert(
        h.storage,
        ...Array.from({ length: 4 }, () => newRun({ groupId: 'paged' })),
      );
      for (let round = 0; round < 3; round++) {
        await h.storage.appendEvents(
          ids.flatMap((runId) => [
            { runId, type: 'log', data: JSON.stringify(`${runId}-log-${round}`) },
            { runId, type: 'note', data: JSON.stringify(`${runId}-note-${round}`) },
          ]),
        );
      }
      const all = await readAll(h.storage, { limit: 1000 });
      expect(all).toHaveLength(28);
      // Pages taken before the compaction, by every index a backend may page through.
      const head = await h.storage.listEvents({ limit: 5 });
      const runHead = await h.storage.listEvents({ runId: ids[1]!, limit: 3 });
      const groupHead = await h.storage.listEvents({ groupId: 'paged', limit: 6 });
      const last = all[all.length - 1]!;
      await waitForStorageTime(h.storage, last.at);

      expect(await compact({ types: ['log'], before: await h.storage.now(), limit: 1000 })).toBe(
        12,
      );
      const kept = all.filter((event) => event.type !== 'log');
      const keptIds = (events: EventRecord[]) => events.map((event) => event.id);
      const keptAfter = (page: { items: EventRecord[] }, events: EventRecord[]) => {
        const seen = page.items[page.items.length - 1]!.id;
        const index = all.findIndex((event) => event.id === seen);
        return keptIds(events.filter((event) => all.indexOf(event) > index));
      };

      expect(keptIds(await readAll(h.storage, { limit: 3 }))).toEqual(keptIds(kept));
      expect(keptIds(await readAll(h.storage, { limit: 3 }, head.nextCursor!))).toEqual(
        keptAfter(head, kept),
      );
      const runKept = kept.filter((event) => event.runId === ids[1]);
      expect(
        keptIds(await readAll(h.storage, { runId: ids[1]!, limit: 2 }, runHead.nextCursor!)),
      ).toEqual(keptAfter(runHead, runKept));
      expect(keptIds(await readAll(h.storage, { runId: ids[1]!, limit: 1 }))).toEqual(
        keptIds(runKept),
      );
      expect(
        keptIds(await readAll(h.storage, { groupId: 'paged', limit: 4 }, groupHead.nextCursor!)),
      ).toEqual(keptAfter(groupHead, kept));

      // New events after a compaction page as before.
      await h.storage.appendEvents([{ runId: ids[0]!, type: 'log', data: '"late"' }]);
      const logs = await readAll(h.storage, { types: ['log'], limit: 1 });
      expect(logs.map((event) => event.data)).toEqual(['"late"']);
    });
  });
}
