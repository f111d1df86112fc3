import { describe, expect, it } from 'vitest';
import type { UniqueSpec } from '../../storage/contract.js';
import type { ConformanceOptions } from '../options.js';
import {
  claimOne,
  eventTypes,
  leaseOf,
  mustGetRun,
  newRun,
  useStorage,
  waitForStorageTime,
} from './harness.js';

function unique(releaseOn: UniqueSpec['releaseOn'], extra: Partial<UniqueSpec> = {}): UniqueSpec {
  return { key: 'key-1', releaseOn, onConflict: 'ignore', ...extra };
}

/** Registers the tests of unique-key deduplication: idempotency, throttling and debouncing. */
export function describeUniqueKeys(options: ConformanceOptions): void {
  describe('unique keys', () => {
    const h = useStorage(options);

    it('releaseOn never keeps the key after the run finished', async () => {
      const first = newRun({ unique: unique('never') });
      await h.storage.insertRuns([first]);
      const duplicate = await h.storage.insertRuns([newRun({ unique: unique('never') })]);
      expect(duplicate).toEqual([
        { runId: first.id, created: false, replaced: false, state: 'available' },
      ]);

      const claimed = await claimOne(h.storage);
      expect(await h.storage.complete([{ ...leaseOf(claimed), output: '1' }])).toEqual([true]);
      const later = await h.storage.insertRuns([newRun({ unique: unique('never') })]);
      expect(later).toEqual([
        { runId: first.id, created: false, replaced: false, state: 'completed' },
      ]);
      expect((await mustGetRun(h.storage, first.id)).uniqueKey).toBe('key-1');
      expect((await h.storage.countRuns({})).completed).toBe(1);
      expect(await eventTypes(h.storage, first.id)).toEqual(['enqueued', 'started', 'completed']);
    });

    it('releaseOn start frees the key at the first claim', async () => {
      const first = newRun({ unique: unique('start') });
      await h.storage.insertRuns([first]);
      const [before] = await h.storage.insertRuns([newRun({ unique: unique('start') })]);
      expect(before).toEqual({
        runId: first.id,
        created: false,
        replaced: false,
        state: 'available',
      });

      await claimOne(h.storage);
      const second = newRun({ unique: unique('start') });
      const [after] = await h.storage.insertRuns([second]);
      expect(after).toEqual({
        runId: second.id,
        created: true,
        replaced: false,
        state: 'available',
      });
    });

    it('releaseOn finish frees the key at a terminal state', async () => {
      const first = newRun({ unique: unique('finish') });
      await h.storage.insertRuns([first]);
      const claimed = await claimOne(h.storage);
      const [whileRunning] = await h.storage.insertRuns([newRun({ unique: unique('finish') })]);
      expect(whileRunning).toEqual({
        runId: first.id,
        created: false,
        replaced: false,
        state: 'running',
      });

      await h.storage.fail([
        { ...leaseOf(claimed), error: { name: 'Error', message: 'boom' }, retryDelayMs: null },
      ]);
      const second = newRun({ unique: unique('finish') });
      const [afterFinish] = await h.storage.insertRuns([second]);
      expect(afterFinish).toEqual({
        runId: second.id,
        created: true,
        replaced: false,
        state: 'available',
      });
    });

    it('cancel releases a key held until finish', async () => {
      const first = newRun({ unique: unique('finish') });
      await h.storage.insertRuns([first]);
      await h.storage.cancel(first.id);
      const [result] = await h.storage.insertRuns([newRun({ unique: unique('finish') })]);
      expect(result!.created).toBe(true);
    });

    it('ttlMs releases the key after that time', async () => {
      const first = newRun({ unique: unique('never', { ttlMs: 150 }) });
      await h.storage.insertRuns([first]);
      const [throttled] = await h.storage.insertRuns([
        newRun({ unique: unique('never', { ttlMs: 150 }) }),
      ]);
      expect(throttled!.runId).toBe(first.id);
      expect(throttled!.created).toBe(false);

      const createdAt = (await mustGetRun(h.storage, first.id)).createdAt;
      await waitForStorageTime(h.storage, createdAt + 150);
      const second = newRun({ unique: unique('never', { ttlMs: 150 }) });
      const [afterTtl] = await h.storage.insertRuns([second]);
      expect(afterTtl).toEqual({
        runId: second.id,
        created: true,
        replaced: false,
        state: 'available',
      });
      expect((await mustGetRun(h.storage, first.id)).state).toBe('available');
    });

    it('ignore keeps the existing run untouched', async () => {
      const first = newRun({ input: '"a"', unique: unique('never') });
      await h.storage.insertRuns([first]);
      const [result] = await h.storage.insertRuns([
        newRun({ input: '"b"', delayMs: 60_000, unique: unique('never') }),
      ]);
      expect(result).toEqual({
        runId: first.id,
        created: false,
        replaced: false,
        state: 'available',
      });
      const run = await mustGetRun(h.storage, first.id);
      expect(run.input).toBe('"a"');
      expect(run.state).toBe('available');
      expect(await eventTypes(h.storage, first.id)).toEqual(['enqueued']);
    });

    it('replace overwrites input and due time of a pending run', async () => {
      const replace = unique('never', { onConflict: 'replace' });
      const first = newRun({ input: '"a"', delayMs: 10_000, unique: replace });
      await h.storage.insertRuns([first]);
      const before = await h.storage.now();
      const [result] = await h.storage.insertRuns([
        newRun({ input: '"b"', delayMs: 20_000, unique: replace }),
      ]);
      const after = await h.storage.now();

      expect(result).toEqual({
        runId: first.id,
        created: false,
        replaced: true,
        state: 'scheduled',
      });
      const run = await mustGetRun(h.storage, first.id);
      expect(run.input).toBe('"b"');
      expect(run.runAt).toBeGreaterThanOrEqual(before + 20_000);
      expect(run.runAt).toBeLessThanOrEqual(after + 20_000);
      expect((await h.storage.countRuns({})).scheduled).toBe(1);
    });

    it('replace without a time keeps the due time', async () => {
      const replace = unique('never', { onConflict: 'replace' });
      const first = newRun({ input: '"a"', delayMs: 10_000, unique: replace });
      await h.storage.insertRuns([first]);
      const runAt = (await mustGetRun(h.storage, first.id)).runAt;
      const [result] = await h.storage.insertRuns([newRun({ input: '"b"', unique: replace })]);
      expect(result).toEqual({
        runId: first.id,
        created: false,
        replaced: true,
        state: 'scheduled',
      });
      const run = await mustGetRun(h.storage, first.id);
      expect(run.input).toBe('"b"');
      expect(run.runAt).toBe(runAt);
    });

    it('replace with an earlier time makes the run due', async () => {
      const replace = unique('never', { onConflict: 'replace' });
      const first = newRun({ delayMs: 60_000, unique: replace });
      await h.storage.insertRuns([first]);
      const now = await h.storage.now();
      const [result] = await h.storage.insertRuns([newRun({ runAt: now - 1, unique: replace })]);
      expect(result).toEqual({
        runId: first.id,
        created: false,
        replaced: true,
        state: 'available',
      });
      expect((await claimOne(h.storage)).id).toBe(first.id);
    });

    it('replace keeps a run that has started', async () => {
      const replace = unique('never', { onConflict: 'replace' });
      const first = newRun({ input: '"a"', unique: replace });
      await h.storage.insertRuns([first]);
      await claimOne(h.storage);
      const [result] = await h.storage.insertRuns([newRun({ input: '"b"', unique: replace })]);
      expect(result).toEqual({
        runId: first.id,
        created: false,
        replaced: false,
        state: 'running',
      });
      expect((await mustGetRun(h.storage, first.id)).input).toBe('"a"');
    });

    it('two runs with one key in one call insert one after the other', async () => {
      const a = newRun({ input: '"a"', unique: unique('never') });
      const b = newRun({ input: '"b"', unique: unique('never', { onConflict: 'replace' }) });
      const c = newRun({ input: '"c"', unique: unique('never') });
      const results = await h.storage.insertRuns([a, b, c]);
      expect(results).toEqual([
        { runId: a.id, created: true, replaced: false, state: 'available' },
        { runId: a.id, created: false, replaced: true, state: 'available' },
        { runId: a.id, created: false, replaced: false, state: 'available' },
      ]);
      expect((await mustGetRun(h.storage, a.id)).input).toBe('"b"');
      expect(await h.storage.getRun(b.id)).toBeNull();
      expect(await h.storage.getRun(c.id)).toBeNull();
    });

    it('different keys do not conflict', async () => {
      const results = await h.storage.insertRuns([
        newRun({ unique: { key: 'a', releaseOn: 'never', onConflict: 'ignore' } }),
        newRun({ unique: { key: 'b', releaseOn: 'never', onConflict: 'ignore' } }),
      ]);
      expect(results.map((result) => result.created)).toEqual([true, true]);
    });
  });
}
