import { describe, expect, it } from 'vitest';
import type { ScheduleUpsert } from '../../storage/contract.js';
import type { ConformanceOptions } from '../options.js';
import { claim, newRun, sleep, useStorage } from './harness.js';

function schedule(name: string, overrides: Partial<ScheduleUpsert> = {}): ScheduleUpsert {
  return {
    name,
    job: 'report',
    input: '{"kind":"daily"}',
    cron: '0 * * * *',
    intervalMs: null,
    timezone: 'Europe/Berlin',
    options: '{"misfire":"skip"}',
    nextFireAt: 1_000_000,
    resetNextFireAt: false,
    ...overrides,
  };
}

/** Registers the tests of recurring schedules and compare-and-set firing. */
export function describeSchedules(options: ConformanceOptions): void {
  describe('schedules', () => {
    const h = useStorage(options);

    it('upsertSchedule creates a schedule', async () => {
      const before = await h.storage.now();
      const created = await h.storage.upsertSchedule(schedule('hourly', { tenantId: 'acme' }));
      const after = await h.storage.now();
      expect(created).toMatchObject({
        name: 'hourly',
        job: 'report',
        input: '{"kind":"daily"}',
        cron: '0 * * * *',
        intervalMs: null,
        timezone: 'Europe/Berlin',
        paused: false,
        nextFireAt: 1_000_000,
        lastFireAt: null,
        options: '{"misfire":"skip"}',
        tenantId: 'acme',
      });
      expect(created.createdAt).toBeGreaterThanOrEqual(before);
      expect(created.createdAt).toBeLessThanOrEqual(after);
      expect(created.updatedAt).toBe(created.createdAt);
      expect(await h.storage.getSchedule('hourly')).toEqual(created);

      const interval = await h.storage.upsertSchedule(
        schedule('every-minute', { cron: null, intervalMs: 60_000, timezone: null, paused: true }),
      );
      expect(interval.cron).toBeNull();
      expect(interval.intervalMs).toBe(60_000);
      expect(interval.timezone).toBeNull();
      expect(interval.tenantId).toBeNull();
      expect(interval.paused).toBe(true);
    });

    it('upsertSchedule keeps nextFireAt unless reset', async () => {
      const created = await h.storage.upsertSchedule(schedule('s', { nextFireAt: 1_000 }));
      await sleep(5);
      const redeclared = await h.storage.upsertSchedule(
        schedule('s', { nextFireAt: 2_000, input: '"new input"', cron: '*/5 * * * *' }),
      );
      expect(redeclared.nextFireAt).toBe(1_000);
      expect(redeclared.input).toBe('"new input"');
      expect(redeclared.cron).toBe('*/5 * * * *');
      expect(redeclared.createdAt).toBe(created.createdAt);
      expect(redeclared.updatedAt).toBeGreaterThanOrEqual(created.updatedAt);

      const reset = await h.storage.upsertSchedule(
        schedule('s', { nextFireAt: 3_000, resetNextFireAt: true }),
      );
      expect(reset.nextFireAt).toBe(3_000);
      const cleared = await h.storage.upsertSchedule(
        schedule('s', { nextFireAt: null, resetNextFireAt: true }),
      );
      expect(cleared.nextFireAt).toBeNull();
    });

    it('upsertSchedule keeps the pause state of an existing schedule', async () => {
      await h.storage.upsertSchedule(schedule('s'));
      expect(await h.storage.setSchedulePaused('s', true)).toBe(true);
      const redeclared = await h.storage.upsertSchedule(schedule('s', { paused: false }));
      expect(redeclared.paused).toBe(true);
      expect(await h.storage.setSchedulePaused('s', false)).toBe(true);
      expect((await h.storage.getSchedule('s'))!.paused).toBe(false);
    });

    it('pause, delete and list schedules', async () => {
      await h.storage.upsertSchedule(schedule('b'));
      await h.storage.upsertSchedule(schedule('a'));
      expect((await h.storage.listSchedules()).map((s) => s.name).sort()).toEqual(['a', 'b']);
      expect(await h.storage.setSchedulePaused('missing', true)).toBe(false);
      expect(await h.storage.deleteSchedule('a')).toBe(true);
      expect(await h.storage.deleteSchedule('a')).toBe(false);
      expect(await h.storage.getSchedule('a')).toBeNull();
      expect((await h.storage.listSchedules()).map((s) => s.name)).toEqual(['b']);
    });

    it('dueSchedules returns unpaused due schedules, oldest first', async () => {
      const now = await h.storage.now();
      await h.storage.upsertSchedule(schedule('later', { nextFireAt: now + 60_000 }));
      await h.storage.upsertSchedule(schedule('second', { nextFireAt: now - 1_000 }));
      await h.storage.upsertSchedule(schedule('first', { nextFireAt: now - 2_000 }));
      await h.storage.upsertSchedule(schedule('paused', { nextFireAt: now - 3_000, paused: true }));
      await h.storage.upsertSchedule(schedule('finished', { nextFireAt: null }));
      expect((await h.storage.dueSchedules(10)).map((s) => s.name)).toEqual(['first', 'second']);
      expect((await h.storage.dueSchedules(1)).map((s) => s.name)).toEqual(['first']);
    });

    it('fireSchedule fires once per occurrence and inserts its runs', async () => {
      const now = await h.storage.now();
      await h.storage.upsertSchedule(schedule('s', { nextFireAt: now - 10 }));
      const run = newRun({ job: 'report', queue: 'reports' });
      const result = await h.storage.fireSchedule({
        name: 's',
        expectedNextFireAt: now - 10,
        nextFireAt: now + 60_000,
        lastFireAt: now - 10,
        runs: [run],
      });
      expect(result).toEqual({
        fired: true,
        inserted: [{ runId: run.id, created: true, replaced: false, state: 'available' }],
      });
      const stored = await h.storage.getSchedule('s');
      expect(stored!.nextFireAt).toBe(now + 60_000);
      expect(stored!.lastFireAt).toBe(now - 10);
      expect((await claim(h.storage, { queues: ['reports'] })).map((r) => r.id)).toEqual([run.id]);

      const late = newRun({ job: 'report', queue: 'reports' });
      const again = await h.storage.fireSchedule({
        name: 's',
        expectedNextFireAt: now - 10,
        nextFireAt: now + 60_000,
        lastFireAt: now - 10,
        runs: [late],
      });
      expect(again).toEqual({ fired: false, inserted: [] });
      expect(await h.storage.getRun(late.id)).toBeNull();
      expect((await h.storage.dueSchedules(10)).map((s) => s.name)).toEqual([]);
    });

    it('fireSchedule without runs skips an occurrence', async () => {
      await h.storage.upsertSchedule(schedule('s', { nextFireAt: 5_000 }));
      const result = await h.storage.fireSchedule({
        name: 's',
        expectedNextFireAt: 5_000,
        nextFireAt: null,
        lastFireAt: 5_000,
        runs: [],
      });
      expect(result).toEqual({ fired: true, inserted: [] });
      expect((await h.storage.getSchedule('s'))!.nextFireAt).toBeNull();
      expect(
        await h.storage.fireSchedule({
          name: 'missing',
          expectedNextFireAt: 5_000,
          nextFireAt: 6_000,
          lastFireAt: 5_000,
          runs: [],
        }),
      ).toEqual({ fired: false, inserted: [] });
    });

    it('two concurrent firers fire each occurrence once', async () => {
      const a = await h.open();
      const b = await h.open();
      await h.storage.upsertSchedule(schedule('s', { nextFireAt: 0 }));
      for (let occurrence = 0; occurrence < 5; occurrence++) {
        const fire = (runs: number) => ({
          name: 's',
          expectedNextFireAt: occurrence * 1_000,
          nextFireAt: (occurrence + 1) * 1_000,
          lastFireAt: occurrence * 1_000,
          runs: Array.from({ length: runs }, () => newRun({ queue: 'fired' })),
        });
        const [fromA, fromB] = await Promise.all([
          a.fireSchedule(fire(3)),
          b.fireSchedule(fire(2)),
        ]);
        expect([fromA.fired, fromB.fired].filter(Boolean)).toHaveLength(1);
        const winner = fromA.fired ? fromA : fromB;
        const loser = fromA.fired ? fromB : fromA;
        expect(loser.inserted).toEqual([]);
        expect(winner.inserted.every((result) => result.created)).toBe(true);
        expect((await h.storage.countRuns({ queue: 'fired' })).available).toBe(
          winner.inserted.length,
        );
        const claimed = await claim(h.storage, { queues: ['fired'] });
        expect(claimed.map((run) => run.id).sort()).toEqual(
          winner.inserted.map((result) => result.runId).sort(),
        );
        for (const run of claimed) await h.storage.cancel(run.id);
      }
      expect((await h.storage.getSchedule('s'))!.nextFireAt).toBe(5_000);
    });
  });
}
