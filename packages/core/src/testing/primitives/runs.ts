import { describe, expect, it } from 'vitest';
import type { ConformanceOptions } from '../options.js';
import {
  claim,
  claimOne,
  insert,
  mustGetRun,
  newRun,
  sleep,
  useStorage,
  waitForStorageTime,
} from './harness.js';

/** Registers the tests of insert, read and the storage clock. */
export function describeRuns(options: ConformanceOptions): void {
  describe('runs', () => {
    const h = useStorage(options);

    it('now() advances with time', async () => {
      const first = await h.storage.now();
      await sleep(60);
      const second = await h.storage.now();
      expect(Number.isInteger(first)).toBe(true);
      expect(second).toBeGreaterThanOrEqual(first + 50);
    });

    it('insertRuns inserts many runs in one call', async () => {
      const before = await h.storage.now();
      const runs = [
        newRun({ input: '{"n":1}' }),
        newRun({
          job: 'other-job',
          queue: 'emails',
          input: '{"n":2}',
          priority: 7,
          maxAttempts: 5,
          groupId: 'group-1',
          partitionKey: 'customer-1',
          tenantId: 'tenant-1',
          traceContext: '{"traceparent":"00-abc-def-01"}',
          metadata: '{"source":"test"}',
          historyLevel: 'lifecycle',
        }),
        newRun({ input: '{"n":3}' }),
      ];
      const results = await h.storage.insertRuns(runs);
      const after = await h.storage.now();

      expect(results).toEqual(
        runs.map((run) => ({ runId: run.id, created: true, replaced: false, state: 'available' })),
      );
      const second = await mustGetRun(h.storage, runs[1]!.id);
      expect(second).toMatchObject({
        id: runs[1]!.id,
        job: 'other-job',
        queue: 'emails',
        state: 'available',
        input: '{"n":2}',
        output: null,
        error: null,
        priority: 7,
        attempt: 0,
        maxAttempts: 5,
        startedAt: null,
        firstStartedAt: null,
        finishedAt: null,
        leaseExpiresAt: null,
        workerId: null,
        progress: null,
        groupId: 'group-1',
        partitionKey: 'customer-1',
        tenantId: 'tenant-1',
        uniqueKey: null,
        traceContext: '{"traceparent":"00-abc-def-01"}',
        historyLevel: 'lifecycle',
        metadata: '{"source":"test"}',
      });
      expect(second.createdAt).toBeGreaterThanOrEqual(before);
      expect(second.createdAt).toBeLessThanOrEqual(after);
      expect(second.runAt).toBeGreaterThanOrEqual(before);
      expect(second.runAt).toBeLessThanOrEqual(after);
      const first = await mustGetRun(h.storage, runs[0]!.id);
      expect(first.groupId).toBeNull();
      expect(first.partitionKey).toBeNull();
      expect(first.tenantId).toBeNull();
      expect(first.metadata).toBeNull();
      expect(first.traceContext).toBeNull();
      expect((await mustGetRun(h.storage, runs[2]!.id)).input).toBe('{"n":3}');
    });

    it('insertRuns of nothing returns nothing', async () => {
      expect(await h.storage.insertRuns([])).toEqual([]);
    });

    it('getRun of an unknown id returns null', async () => {
      expect(await h.storage.getRun(newRun().id)).toBeNull();
    });

    it('payloads are stored byte for byte', async () => {
      const input = '{"text":"zw\u00f6lf \ud83d\ude00","nested":{"a":[1,2.5,null,true]}}';
      const [id] = await insert(h.storage, newRun({ input }));
      expect((await mustGetRun(h.storage, id!)).input).toBe(input);
    });

    it('delayMs keeps a run scheduled until due', async () => {
      const before = await h.storage.now();
      const [result] = await h.storage.insertRuns([newRun({ delayMs: 150 })]);
      const after = await h.storage.now();
      expect(result!.state).toBe('scheduled');
      const run = await mustGetRun(h.storage, result!.runId);
      expect(run.state).toBe('scheduled');
      expect(run.runAt).toBeGreaterThanOrEqual(before + 150);
      expect(run.runAt).toBeLessThanOrEqual(after + 150);
      expect(await claim(h.storage)).toEqual([]);

      await waitForStorageTime(h.storage, run.runAt);
      const claimed = await claimOne(h.storage);
      expect(claimed.id).toBe(run.id);
    });

    it('runAt takes precedence over delayMs', async () => {
      const now = await h.storage.now();
      const future = newRun({ runAt: now + 60_000, delayMs: 0 });
      const past = newRun({ runAt: now - 5_000, delayMs: 60_000 });
      const results = await h.storage.insertRuns([future, past]);
      expect(results.map((result) => result.state)).toEqual(['scheduled', 'available']);
      expect((await mustGetRun(h.storage, future.id)).runAt).toBe(now + 60_000);
      expect((await mustGetRun(h.storage, past.id)).runAt).toBe(now - 5_000);
      expect((await claim(h.storage)).map((run) => run.id)).toEqual([past.id]);
    });

    it('delayMs of zero means now', async () => {
      const [result] = await h.storage.insertRuns([newRun({ delayMs: 0 })]);
      expect(result!.state).toBe('available');
    });
  });
}
