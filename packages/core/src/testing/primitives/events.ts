import { describe, expect, it } from 'vitest';
import type { EventQuery, EventRecord, Storage } from '../../storage/contract.js';
import type { ConformanceOptions } from '../options.js';
import {
  claimOne,
  eventTypes,
  insert,
  leaseOf,
  newRun,
  useStorage,
  waitForStorageTime,
} from './harness.js';

/** Reads every page of a query, checking page sizes and cursors along the way. */
async function readAll(
  storage: Storage,
  query: Omit<EventQuery, 'cursor'>,
): Promise<EventRecord[]> {
  const events: EventRecord[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await storage.listEvents({ ...query, cursor });
    expect(page.items.length).toBeLessThanOrEqual(query.limit);
    events.push(...page.items);
    if (page.nextCursor === null) return events;
    expect(page.items).toHaveLength(query.limit);
    cursor = page.nextCursor;
  }
}

/** Registers the tests of history: lifecycle events, history levels, appends and queries. */
export function describeEvents(options: ConformanceOptions): void {
  describe('events', () => {
    const h = useStorage(options);

    it('transitions append lifecycle events', async () => {
      const [id] = await insert(h.storage, newRun({ groupId: 'group-1', tenantId: 'tenant-1' }));
      const first = await claimOne(h.storage);
      const error = { name: 'Error', message: 'retry me' };
      await h.storage.fail([{ ...leaseOf(first), error, retryDelayMs: 0 }]);
      const second = await claimOne(h.storage);
      await h.storage.complete([{ ...leaseOf(second), output: '1' }]);

      const { items, nextCursor } = await h.storage.listEvents({ runId: id!, limit: 100 });
      expect(nextCursor).toBeNull();
      expect(items.map((event) => event.type)).toEqual([
        'enqueued',
        'started',
        'retrying',
        'started',
        'completed',
      ]);
      expect(items.slice(1).map((event) => event.attempt)).toEqual([1, 1, 2, 2]);
      for (const event of items) {
        expect(event.runId).toBe(id);
        expect(event.groupId).toBe('group-1');
        expect(event.tenantId).toBe('tenant-1');
        expect(typeof event.id).toBe('string');
      }
      expect(new Set(items.map((event) => event.id)).size).toBe(items.length);
      for (let i = 1; i < items.length; i++) {
        expect(items[i]!.at).toBeGreaterThanOrEqual(items[i - 1]!.at);
      }
      expect(items[0]!.at).toBeGreaterThanOrEqual(first.createdAt);
    });

    it('historyLevel lifecycle skips progress and custom events', async () => {
      const [id] = await insert(h.storage, newRun({ historyLevel: 'lifecycle' }));
      const claimed = await claimOne(h.storage);
      expect(await h.storage.setProgress(leaseOf(claimed), '"half"')).toBe(true);
      await h.storage.appendEvents([{ runId: id!, type: 'log', data: '"hello"', attempt: 1 }]);
      await h.storage.complete([{ ...leaseOf(claimed), output: '1' }]);
      expect(await eventTypes(h.storage, id!)).toEqual(['enqueued', 'started', 'completed']);
    });

    it('historyLevel off records nothing', async () => {
      const [id] = await insert(h.storage, newRun({ historyLevel: 'off' }));
      const claimed = await claimOne(h.storage);
      await h.storage.setProgress(leaseOf(claimed), '"half"');
      await h.storage.appendEvents([{ runId: id!, type: 'log', data: '"hello"' }]);
      await h.storage.complete([{ ...leaseOf(claimed), output: '1' }]);
      expect(await eventTypes(h.storage, id!)).toEqual([]);
    });

    it('historyLevel full records progress and custom events', async () => {
      const [id] = await insert(h.storage, newRun({ historyLevel: 'full' }));
      const claimed = await claimOne(h.storage);
      await h.storage.setProgress(leaseOf(claimed), '"half"');
      await h.storage.appendEvents([{ runId: id!, type: 'log', data: '"hello"', attempt: 1 }]);
      await h.storage.complete([{ ...leaseOf(claimed), output: '1' }]);
      expect(await eventTypes(h.storage, id!)).toEqual([
        'enqueued',
        'started',
        'progress',
        'log',
        'completed',
      ]);
    });

    it('appendEvents stores data and skips unknown runs', async () => {
      const [a, b] = await insert(h.storage, newRun({ groupId: 'g', tenantId: 't' }), newRun());
      await h.storage.appendEvents([
        { runId: a!, type: 'checkpoint', data: '{"step":1}', attempt: 3 },
        { runId: newRun().id, type: 'checkpoint', data: '{"step":2}' },
        { runId: b!, type: 'log' },
      ]);
      await h.storage.appendEvents([]);
      const page = await h.storage.listEvents({ types: ['checkpoint', 'log'], limit: 10 });
      expect(
        page.items.map(({ runId, type, data, attempt, groupId, tenantId }) => ({
          runId,
          type,
          data,
          attempt,
          groupId,
          tenantId,
        })),
      ).toEqual([
        {
          runId: a,
          type: 'checkpoint',
          data: '{"step":1}',
          attempt: 3,
          groupId: 'g',
          tenantId: 't',
        },
        { runId: b, type: 'log', data: null, attempt: null, groupId: null, tenantId: null },
      ]);
    });

    it('listEvents filters by run, group and type', async () => {
      const [a, b, c] = await insert(
        h.storage,
        newRun({ groupId: 'g1' }),
        newRun({ groupId: 'g1' }),
        newRun({ groupId: 'g2' }),
      );
      await h.storage.appendEvents([
        { runId: a!, type: 'log', data: '"a"' },
        { runId: b!, type: 'log', data: '"b"' },
        { runId: c!, type: 'log', data: '"c"' },
        { runId: a!, type: 'note', data: '"a2"' },
      ]);
      const byRun = await h.storage.listEvents({ runId: a!, limit: 10 });
      expect(byRun.items.map((event) => event.type)).toEqual(['enqueued', 'log', 'note']);
      const byGroup = await h.storage.listEvents({ groupId: 'g1', types: ['log'], limit: 10 });
      expect(byGroup.items.map((event) => event.data)).toEqual(['"a"', '"b"']);
      const byTypes = await h.storage.listEvents({ types: ['note', 'log'], limit: 10 });
      expect(byTypes.items.map((event) => event.data)).toEqual(['"a"', '"b"', '"c"', '"a2"']);
      const none = await h.storage.listEvents({ runId: newRun().id, limit: 10 });
      expect(none).toEqual({ items: [], nextCursor: null });
    });

    it('listEvents filters by time', async () => {
      const [id] = await insert(h.storage, newRun());
      const times: number[] = [];
      for (const data of ['"1"', '"2"', '"3"']) {
        await h.storage.appendEvents([{ runId: id!, type: 'tick', data }]);
        const page = await h.storage.listEvents({ runId: id!, types: ['tick'], limit: 10 });
        const at = page.items[page.items.length - 1]!.at;
        times.push(at);
        await waitForStorageTime(h.storage, at);
      }
      const [t1, t2, t3] = times as [number, number, number];
      expect(t1).toBeLessThan(t2);
      expect(t2).toBeLessThan(t3);
      const data = async (query: Partial<EventQuery>) =>
        (
          await h.storage.listEvents({ runId: id!, types: ['tick'], limit: 10, ...query })
        ).items.map((event) => event.data);
      expect(await data({ since: t2 })).toEqual(['"2"', '"3"']);
      expect(await data({ until: t2 })).toEqual(['"1"']);
      expect(await data({ since: t1, until: t3 })).toEqual(['"1"', '"2"']);
      expect(await data({ since: t3 + 1 })).toEqual([]);
    });

    it('listEvents pages with a cursor without gaps or duplicates', async () => {
      const ids = await insert(h.storage, ...Array.from({ length: 5 }, () => newRun()));
      for (let round = 0; round < 4; round++) {
        await h.storage.appendEvents(
          ids.map((runId) => ({ runId, type: 'log', data: JSON.stringify(`${runId}-${round}`) })),
        );
      }
      const all = await h.storage.listEvents({ limit: 1000 });
      expect(all.items).toHaveLength(25);
      expect(all.nextCursor).toBeNull();

      const paged = await readAll(h.storage, { limit: 7 });
      expect(paged.map((event) => event.id)).toEqual(all.items.map((event) => event.id));
      const logs = await readAll(h.storage, { types: ['log'], limit: 6 });
      expect(logs).toHaveLength(20);
      expect(logs.map((event) => event.data)).toEqual(
        all.items.filter((event) => event.type === 'log').map((event) => event.data),
      );

      // A page taken before new events were appended continues with them.
      const first = await h.storage.listEvents({ types: ['late'], limit: 1 });
      expect(first).toEqual({ items: [], nextCursor: null });
      const head = await h.storage.listEvents({ limit: 24 });
      await h.storage.appendEvents([{ runId: ids[0]!, type: 'late' }]);
      const tail = await readAll(h.storage, { limit: 24 });
      expect(tail).toHaveLength(26);
      const rest = await h.storage.listEvents({ limit: 24, cursor: head.nextCursor! });
      expect(rest.items.map((event) => event.type)).toEqual(['log', 'late']);
      expect(rest.nextCursor).toBeNull();
    });
  });
}
