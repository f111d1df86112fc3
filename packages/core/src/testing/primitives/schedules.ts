import { describe, expect, it } from 'vitest';
import type { ScheduleKey, ScheduleUpsert } from '../../storage/contract.js';
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

function key(name: string, tenantId: string | null = null): ScheduleKey {
  return { name, tenantId };
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
      expect(await h.storage.getSchedule(key('hourly', 'acme'))).toEqual(created);
      expect(await h.storage.getSchedule(key('hourly'))).toBeNull();

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
      expect(await h.storage.setSchedulePaused(key('s'), true)).toBe(true);
      const redeclared = await h.storage.upsertSchedule(schedule('s', { paused: false }));
      expect(redeclared.paused).toBe(true);
      expect(await h.storage.setSchedulePaused(key('s'), false)).toBe(true);
      expect((await h.storage.getSchedule(key('s')))!.paused).toBe(false);
    });

    it('pause, delete and list schedules', async () => {
      await h.storage.upsertSchedule(schedule('b'));
      await h.storage.upsertSchedule(schedule('a'));
      expect((await h.storage.listSchedules()).map((s) => s.name).sort()).toEqual(['a', 'b']);
      expect(await h.storage.setSchedulePaused(key('missing'), true)).toBe(false);
      expect(await h.storage.deleteSchedule(key('a'))).toBe(true);
      expect(await h.storage.deleteSchedule(key('a'))).toBe(false);
      expect(await h.storage.getSchedule(key('a'))).toBeNull();
      expect((await h.storage.listSchedules()).map((s) => s.name)).toEqual(['b']);
    });

    it('schedule names are unique per tenant', async () => {
      const now = await h.storage.now();
      const due = now - 1_000;
      const declare = (name: string, tenantId: string | undefined, input: string) =>
        h.storage.upsertSchedule(
          schedule(name, {
            nextFireAt: due,
            input,
            ...(tenantId === undefined ? {} : { tenantId }),
          }),
        );
      await declare('daily', undefined, '"plain"');
      await declare('daily', 'acme', '"acme"');
      await declare('daily', 'globex', '"globex"');
      // Looks like tenant "acme" and name "daily" joined, but has no tenant.
      await declare('acme/daily', undefined, '"slash"');
      const inputOf = async (name: string, tenantId: string | null = null) =>
        (await h.storage.getSchedule(key(name, tenantId)))?.input ?? null;
      expect(await inputOf('daily')).toBe('"plain"');
      expect(await inputOf('daily', 'acme')).toBe('"acme"');
      expect(await inputOf('daily', 'globex')).toBe('"globex"');
      expect(await inputOf('acme/daily')).toBe('"slash"');
      expect(await inputOf('daily', 'initech')).toBeNull();
      expect(await inputOf('acme/daily', 'acme')).toBeNull();

      // Re-declaring one tenant's schedule leaves the namesakes alone.
      const redeclared = await declare('daily', 'acme', '"acme again"');
      expect(redeclared.tenantId).toBe('acme');
      expect(await inputOf('daily')).toBe('"plain"');
      expect(await inputOf('daily', 'globex')).toBe('"globex"');

      const keys = (records: { name: string; tenantId: string | null }[]) =>
        records.map((record) => `${record.tenantId ?? '-'} ${record.name}`).sort();
      expect(keys(await h.storage.listSchedules())).toEqual([
        '- acme/daily',
        '- daily',
        'acme daily',
        'globex daily',
      ]);
      expect(keys(await h.storage.listSchedules({ tenantId: 'acme' }))).toEqual(['acme daily']);
      expect(await h.storage.listSchedules({ tenantId: 'initech' })).toEqual([]);
      expect(keys(await h.storage.dueSchedules(10))).toHaveLength(4);

      expect(await h.storage.setSchedulePaused(key('daily', 'acme'), true)).toBe(true);
      expect(await h.storage.setSchedulePaused(key('daily', 'initech'), true)).toBe(false);
      expect((await h.storage.getSchedule(key('daily')))!.paused).toBe(false);
      expect(keys(await h.storage.dueSchedules(10))).toEqual([
        '- acme/daily',
        '- daily',
        'globex daily',
      ]);

      const fire = (tenantId: string | null) =>
        h.storage.fireSchedule({
          name: 'daily',
          tenantId,
          expectedNextFireAt: due,
          nextFireAt: now + 60_000,
          lastFireAt: due,
          runs: [],
        });
      expect(await fire('initech')).toEqual({ fired: false, inserted: [] });
      expect(await fire('globex')).toEqual({ fired: true, inserted: [] });
      expect((await h.storage.getSchedule(key('daily', 'globex')))!.nextFireAt).toBe(now + 60_000);
      expect((await h.storage.getSchedule(key('daily')))!.nextFireAt).toBe(due);
      expect((await h.storage.getSchedule(key('daily', 'acme')))!.nextFireAt).toBe(due);
      expect(keys(await h.storage.dueSchedules(10))).toEqual(['- acme/daily', '- daily']);

      expect(await h.storage.deleteSchedule(key('daily', 'acme'))).toBe(true);
      expect(await h.storage.deleteSchedule(key('daily', 'acme'))).toBe(false);
      expect(await h.storage.deleteSchedule(key('daily', 'initech'))).toBe(false);
      expect(keys(await h.storage.listSchedules())).toEqual([
        '- acme/daily',
        '- daily',
        'globex daily',
      ]);
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
        tenantId: null,
        expectedNextFireAt: now - 10,
        nextFireAt: now + 60_000,
        lastFireAt: now - 10,
        runs: [run],
      });
      expect(result).toEqual({
        fired: true,
        inserted: [{ runId: run.id, created: true, replaced: false, state: 'available' }],
      });
      const stored = await h.storage.getSchedule(key('s'));
      expect(stored!.nextFireAt).toBe(now + 60_000);
      expect(stored!.lastFireAt).toBe(now - 10);
      expect((await claim(h.storage, { queues: ['reports'] })).map((r) => r.id)).toEqual([run.id]);

      const late = newRun({ job: 'report', queue: 'reports' });
      const again = await h.storage.fireSchedule({
        name: 's',
        tenantId: null,
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
        tenantId: null,
        expectedNextFireAt: 5_000,
        nextFireAt: null,
        lastFireAt: 5_000,
        runs: [],
      });
      expect(result).toEqual({ fired: true, inserted: [] });
      expect((await h.storage.getSchedule(key('s')))!.nextFireAt).toBeNull();
      expect(
        await h.storage.fireSchedule({
          name: 'missing',
          tenantId: null,
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
          tenantId: null,
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
      expect((await h.storage.getSchedule(key('s')))!.nextFireAt).toBe(5_000);
    });
  });
}
