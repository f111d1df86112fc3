import { describe, expect, it } from 'vitest';
import type { ConformanceOptions } from '../options.js';
import { claimOne, insert, leaseOf, newRun, useStorage } from './harness.js';

/** Registers the tests of the per-run key-value state. */
export function describeState(options: ConformanceOptions): void {
  describe('state', () => {
    const h = useStorage(options);

    it('putState writes and getState reads', async () => {
      const [id] = await insert(h.storage, newRun());
      expect(await h.storage.getState(id!, 'step:1')).toBeNull();
      expect(await h.storage.putState(id!, 'step:1', '{"a":1}')).toBe(true);
      expect(await h.storage.getState(id!, 'step:1')).toBe('{"a":1}');
      expect(await h.storage.putState(id!, 'step:1', '{"a":2}')).toBe(true);
      expect(await h.storage.getState(id!, 'step:1')).toBe('{"a":2}');
    });

    it('listState returns every key of a run', async () => {
      const [a, b] = await insert(h.storage, newRun(), newRun());
      await h.storage.putState(a!, 'x', '1');
      await h.storage.putState(a!, 'y', '"two"');
      await h.storage.putState(b!, 'x', '3');
      expect(await h.storage.listState(a!)).toEqual({ x: '1', y: '"two"' });
      expect(await h.storage.listState(b!)).toEqual({ x: '3' });
      const [empty] = await insert(h.storage, newRun());
      expect(await h.storage.listState(empty!)).toEqual({});
    });

    it('ifAbsent writes only a missing key', async () => {
      const [id] = await insert(h.storage, newRun());
      expect(await h.storage.putState(id!, 'k', '"first"', { ifAbsent: true })).toBe(true);
      expect(await h.storage.putState(id!, 'k', '"second"', { ifAbsent: true })).toBe(false);
      expect(await h.storage.getState(id!, 'k')).toBe('"first"');
    });

    it('ifAbsent lets one of two concurrent writers win', async () => {
      const [id] = await insert(h.storage, newRun());
      const other = await h.open();
      const results = await Promise.all([
        h.storage.putState(id!, 'k', '"a"', { ifAbsent: true }),
        other.putState(id!, 'k', '"b"', { ifAbsent: true }),
      ]);
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await h.storage.getState(id!, 'k')).toBe(results[0] ? '"a"' : '"b"');
    });

    it('a lease-fenced put needs the lease', async () => {
      await insert(h.storage, newRun());
      const claimed = await claimOne(h.storage);
      const lease = leaseOf(claimed);
      expect(await h.storage.putState(claimed.id, 'k', '1', { lease })).toBe(true);
      expect(
        await h.storage.putState(claimed.id, 'k', '2', {
          lease: { runId: claimed.id, leaseToken: 'stale' },
        }),
      ).toBe(false);
      expect(await h.storage.getState(claimed.id, 'k')).toBe('1');

      await h.storage.complete([{ ...lease, output: '1' }]);
      expect(await h.storage.putState(claimed.id, 'k', '3', { lease })).toBe(false);
      expect(await h.storage.getState(claimed.id, 'k')).toBe('1');
    });

    it('putState on an unknown run returns false', async () => {
      const unknown = newRun().id;
      expect(await h.storage.putState(unknown, 'k', '1')).toBe(false);
      expect(await h.storage.getState(unknown, 'k')).toBeNull();
    });
  });
}
