/**
 * History conformance: retention purges finished runs past their age with their history and
 * keeps the rest. Compaction drops old log and progress events and keeps lifecycle events.
 * Every backend under test must implement the contract's optional `compactEvents`.
 */
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../errors.js';
import { completedHistoryRun } from './history-queries.js';
import type { ConformanceOptions } from './options.js';
import { waitForStorageTime } from './primitives/harness.js';
import { echoJob, failJob, relayFixtureJobs } from './relay-fixtures.js';
import { FAST_WORKER, useRuntimeHarness } from './runtime-harness.js';

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

export function describeHistoryRetention(options: ConformanceOptions): void {
  describe(`${options.name} history: retention and compaction`, () => {
    const harness = useRuntimeHarness(options);

    it('retention purges finished runs past their age', async () => {
      const { zap, storage } = await harness.client({ jobs: relayFixtureJobs });
      await zap.createWorker(FAST_WORKER).start();
      const { runId: completed } = await zap.enqueue(echoJob, { text: 'old' });
      await zap.waitFor(completed, { timeoutMs: 10_000 });
      const { runId: failed } = await zap.enqueue(failJob, { kind: 'nonRetryable' });
      await zap.waitFor(failed, { timeoutMs: 10_000 }).catch(() => undefined);
      const pending = await zap.enqueue(echoJob, { text: 'later' }, { delayMs: 60_000 });
      await waitForStorageTime(storage, await storage.now());

      // Failed runs are kept for a minute, so only the completed run is old enough.
      const result = await zap.history.applyRetention({
        runs: { completedMs: 0, failedMs: 60_000 },
        batchSize: 1,
      });
      expect(result).toEqual({ purgedRuns: 1, compactedEvents: 0 });
      expect(await zap.getRun(completed)).toBeNull();
      expect(await collect(zap.history.events({ runId: completed }))).toEqual([]);
      expect((await zap.getRun(failed))?.state).toBe('failed');
      expect((await collect(zap.history.events({ runId: failed }))).length).toBeGreaterThan(0);
      expect((await zap.getRun(pending.runId))?.state).toBe('scheduled');

      const second = await zap.history.applyRetention({ runs: { failedMs: 0 } });
      expect(second.purgedRuns).toBe(1);
      expect(await zap.getRun(failed)).toBeNull();
      expect((await zap.getRun(pending.runId))?.state).toBe('scheduled');
    });

    it('compaction keeps lifecycle events', async () => {
      const { zap, storage } = await harness.client({ jobs: relayFixtureJobs });
      await zap.createWorker(FAST_WORKER).start();
      const runId = await completedHistoryRun(zap);
      const before = await collect(zap.history.events({ runId }));
      await waitForStorageTime(storage, await storage.now());

      await expect(
        zap.history.compact({ olderThanMs: 0, types: ['log', 'completed'] }),
      ).rejects.toBeInstanceOf(InvalidOptionError);

      expect(typeof storage.compactEvents, `${storage.name} implements compactEvents`).toBe(
        'function',
      );

      // Nothing is a minute old yet, so a one-minute age deletes nothing.
      await storage.appendEvents([{ runId, type: 'log', data: '{"message":"late"}' }]);
      expect(await zap.history.compact({ olderThanMs: 60_000 })).toBe(0);
      await waitForStorageTime(storage, await storage.now());
      const dropped = before.filter((event) => event.type === 'log' || event.type === 'progress');
      expect(await zap.history.compact({ olderThanMs: 0, batchSize: 2 })).toBe(dropped.length + 1);
      const after = await collect(zap.history.events({ runId }));
      expect(after.map((event) => event.id)).toEqual(
        before.filter((event) => !dropped.includes(event)).map((event) => event.id),
      );

      // A retention policy compacts too, after purging what it purges.
      await storage.appendEvents([{ runId, type: 'log', data: '{"message":"later"}' }]);
      await waitForStorageTime(storage, await storage.now());
      expect(await zap.history.applyRetention({ events: { olderThanMs: 0 } })).toEqual({
        purgedRuns: 0,
        compactedEvents: 1,
      });
      expect(await collect(zap.history.events({ runId }))).toEqual(after);
    });
  });
}
