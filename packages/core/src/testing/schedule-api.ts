/**
 * Schedule conformance: declaring, inspecting, pausing and deleting schedules through the
 * client, on the backend under test.
 */
import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import {
  InvalidOptionError,
  ScheduleNotFoundError,
  UnknownJobError,
  ValidationError,
} from '../errors.js';
import { defineJob } from '../job.js';
import type { Storage } from '../storage/contract.js';
import type { ConformanceOptions } from './options.js';
import { FAST_WORKER, latch, useRuntimeHarness, waitForState } from './runtime-harness.js';

export const reportJob = defineJob({
  name: 'conformance.report',
  input: Type.Object({ kind: Type.String() }),
  output: Type.Object({ kind: Type.String() }),
  handler: async ({ kind }) => ({ kind }),
});

const MINUTE = 60_000;

/** Moves a stored schedule's next fire time, as if time had passed while no scheduler ran. */
export async function setNextFireAt(
  storage: Storage,
  name: string,
  time: number,
  tenantId: string | null = null,
): Promise<void> {
  const record = await storage.getSchedule({ name, tenantId });
  if (record === null) throw new Error(`schedule ${name} of tenant ${tenantId} is missing`);
  await storage.upsertSchedule({
    name: record.name,
    job: record.job,
    input: record.input,
    cron: record.cron,
    intervalMs: record.intervalMs,
    timezone: record.timezone,
    options: record.options,
    nextFireAt: time,
    resetNextFireAt: true,
    ...(record.tenantId === null ? {} : { tenantId: record.tenantId }),
  });
}

/** Returns a whole minute at least ten minutes before the storage's now. */
export async function pastMinute(storage: Storage): Promise<number> {
  return Math.floor(((await storage.now()) - 10 * MINUTE) / MINUTE) * MINUTE;
}

/** Hour and minute of `date` in a time zone, as `HH:MM`. */
function localTime(date: Date, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(date);
}

export function describeScheduleApi(options: ConformanceOptions): void {
  describe(`${options.name} schedules: declaring`, () => {
    const harness = useRuntimeHarness(options);

    it('upsert stores and decodes a schedule', async () => {
      const { zap, storage } = await harness.client({ jobs: [reportJob] });
      const before = await storage.now();
      const schedule = await zap.schedules.upsert({
        name: 'nightly',
        job: reportJob,
        input: { kind: 'daily' },
        cron: '0  3 * * *',
        timezone: 'Europe/London',
        misfire: { policy: 'skip' },
        overlap: 'skip',
        runOptions: { queue: 'reports', priority: 5 },
      });
      expect(schedule).toMatchObject({
        name: 'nightly',
        job: 'conformance.report',
        input: { kind: 'daily' },
        cron: '0 3 * * *',
        everyMs: null,
        timezone: 'Europe/London',
        paused: false,
        lastFireAt: null,
        misfire: { policy: 'skip', thresholdMs: 60_000, maxFires: 100 },
        overlap: 'skip',
        runOptions: { queue: 'reports', priority: 5 },
        tenantId: null,
      });
      const next = schedule.nextFireAt!;
      expect(next.getTime()).toBeGreaterThan(before);
      expect(next.getTime()).toBeLessThanOrEqual(before + 25 * 3_600_000);
      expect(localTime(next, 'Europe/London')).toBe('03:00');
      expect(await zap.schedules.get('nightly')).toEqual(schedule);
      expect((await zap.schedules.list()).map((item) => item.name)).toEqual(['nightly']);
      expect(await zap.schedules.get('missing')).toBeNull();
    });

    it('redeclaring keeps the fire time and runs in flight', async () => {
      const started = latch();
      const release = latch();
      const blocking = defineJob({
        name: 'conformance.blocking-report',
        input: Type.Object({ kind: Type.String() }),
        output: Type.Object({ kind: Type.String() }),
        handler: async ({ kind }) => {
          started.resolve();
          await release.promise;
          return { kind };
        },
      });
      const { zap, storage } = await harness.client({ jobs: [blocking] });
      const declare = (input: { kind: string }, everyMs = 3_600_000) =>
        zap.schedules.upsert({ name: 'hourly', job: blocking, input, everyMs });
      const first = await declare({ kind: 'a' });
      const T0 = await pastMinute(storage);
      await setNextFireAt(storage, 'hourly', T0);
      const [report] = await zap.createScheduler({ clock: () => T0 + 1_000 }).runOnce();
      expect(report!.runIds).toHaveLength(1);
      const runId = report!.runIds[0]!;
      await zap.createWorker(FAST_WORKER).start();
      await started.promise;

      const stored = (await zap.schedules.get('hourly'))!;
      // The occurrence after T0: the next whole hour.
      expect(stored.nextFireAt!.getTime()).toBe((Math.floor(T0 / 3_600_000) + 1) * 3_600_000);
      const same = await declare({ kind: 'a' });
      expect(same.nextFireAt).toEqual(stored.nextFireAt);
      expect(same.createdAt).toEqual(first.createdAt);
      const newInput = await declare({ kind: 'b' });
      expect(newInput.nextFireAt).toEqual(stored.nextFireAt);
      expect(newInput.input).toEqual({ kind: 'b' });
      expect((await zap.getRun(runId))!.state).toBe('running');

      const now = await storage.now();
      const retimed = await declare({ kind: 'b' }, 7_200_000);
      expect(retimed.nextFireAt!.getTime()).toBe((Math.floor(now / 7_200_000) + 1) * 7_200_000);
      expect((await zap.getRun(runId))!.state).toBe('running');

      release.resolve();
      const run = await waitForState(zap, runId, ['completed']);
      expect(run.input).toEqual({ kind: 'a' });
      expect(run.attempt).toBe(1);
    });

    it('pause, resume and delete', async () => {
      const { zap, storage } = await harness.client({ jobs: [reportJob] });
      await zap.schedules.upsert({
        name: 'minutely',
        job: 'conformance.report',
        input: { kind: 'm' },
        everyMs: MINUTE,
      });
      const paused = await zap.schedules.pause('minutely');
      expect(paused.paused).toBe(true);
      const T0 = await pastMinute(storage);
      await setNextFireAt(storage, 'minutely', T0);
      const scheduler = zap.createScheduler();
      expect(await scheduler.runOnce()).toEqual([]);

      // Redeclaring keeps the pause.
      const redeclared = await zap.schedules.upsert({
        name: 'minutely',
        job: reportJob,
        input: { kind: 'm' },
        everyMs: MINUTE,
        paused: false,
      });
      expect(redeclared.paused).toBe(true);

      const before = await storage.now();
      const resumed = await zap.schedules.resume('minutely');
      expect(resumed.paused).toBe(false);
      expect(resumed.nextFireAt!.getTime()).toBeGreaterThan(before);
      expect(resumed.nextFireAt!.getTime() % MINUTE).toBe(0);
      expect(await scheduler.runOnce()).toEqual([]);
      expect((await zap.countRuns()).available).toBe(0);

      expect(await zap.schedules.delete('minutely')).toBe(true);
      expect(await zap.schedules.delete('minutely')).toBe(false);
      expect(await zap.schedules.get('minutely')).toBeNull();
      await expect(zap.schedules.pause('minutely')).rejects.toThrow(ScheduleNotFoundError);
      await expect(zap.schedules.resume('minutely')).rejects.toThrow(
        'Schedule "minutely" not found among the schedules without a tenant. Create it with ' +
          'zap.schedules.upsert() first; reach a schedule of a tenant through ' +
          'zap.forTenant(tenantId).schedules.',
      );
    });

    it('bad declarations store nothing', async () => {
      const { zap } = await harness.client({ jobs: [reportJob] });
      const base = { name: 'bad', job: reportJob, input: { kind: 'x' } };
      const cases: [() => Promise<unknown>, new (...args: any[]) => Error, string][] = [
        [
          () => zap.schedules.upsert({ ...base, cron: '61 * * * *' }),
          InvalidOptionError,
          'Invalid option cron: "61 * * * *"',
        ],
        [
          () => zap.schedules.upsert({ ...base, cron: '0 0 12 ? * 2' }),
          InvalidOptionError,
          'this looks like a Quartz expression',
        ],
        [
          () => zap.schedules.upsert({ ...base, cron: '0 0 L-2 * *' }),
          InvalidOptionError,
          'L has to be a value of its own',
        ],
        [
          () => zap.schedules.upsert({ ...base, cron: '0 9 * * *', timezone: 'Moon/Base' }),
          InvalidOptionError,
          'Invalid option timezone: "Moon/Base"',
        ],
        [
          () => zap.schedules.upsert({ ...base, everyMs: 10 }),
          InvalidOptionError,
          'Invalid option everyMs: 10',
        ],
        [
          () => zap.schedules.upsert({ ...base, input: { kind: 3 } as never, everyMs: MINUTE }),
          ValidationError,
          'Invalid input for job "conformance.report"',
        ],
        [
          () => zap.schedules.upsert({ ...base, job: 'nope', everyMs: MINUTE }),
          UnknownJobError,
          'Unknown job "nope"',
        ],
        [
          () =>
            zap.schedules.upsert({
              ...base,
              everyMs: MINUTE,
              runOptions: { delayMs: 5 } as never,
            }),
          InvalidOptionError,
          'Invalid option runOptions.delayMs: 5',
        ],
        [
          () =>
            zap.schedules.upsert({
              ...base,
              everyMs: MINUTE,
              misfire: { policy: 'catch-up' as never },
            }),
          InvalidOptionError,
          'Invalid option misfire.policy: "catch-up"',
        ],
        [
          () => zap.schedules.upsert({ ...base, everyMs: MINUTE, overlap: 'queue' as never }),
          InvalidOptionError,
          'Invalid option overlap: "queue"',
        ],
      ];
      for (const [action, errorClass, message] of cases) {
        const error = await action().then(
          () => null,
          (thrown: unknown) => thrown,
        );
        expect(error).toBeInstanceOf(errorClass);
        expect((error as Error).message).toContain(message);
      }
      expect(await zap.schedules.list()).toEqual([]);
    });

    it('names and keys with NUL or unpaired surrogates are rejected and store nothing', async () => {
      const { zap } = await harness.client({ jobs: [reportJob] });
      const expected = 'a string without NUL characters or unpaired surrogates';
      const cases: [() => Promise<unknown>, string, string][] = [
        [
          () =>
            zap.schedules.upsert({
              name: 'a\u0000b',
              job: reportJob,
              input: { kind: 'x' },
              everyMs: MINUTE,
            }),
          'name',
          'a\u0000b',
        ],
        [
          () =>
            zap.schedules.upsert({
              name: 'x\ud800',
              job: reportJob,
              input: { kind: 'x' },
              everyMs: MINUTE,
            }),
          'name',
          'x\ud800',
        ],
        [() => zap.enqueue(reportJob, { kind: 'x' }, { queue: 'q\u0000' }), 'queue', 'q\u0000'],
        [
          () => zap.enqueue(reportJob, { kind: 'x' }, { partitionKey: 'p\udc00' }),
          'partitionKey',
          'p\udc00',
        ],
        [
          () => zap.enqueue(reportJob, { kind: 'x' }, { idempotencyKey: 'k\ud800' }),
          'idempotencyKey',
          'k\ud800',
        ],
        [() => zap.getRun('r\u0000'), 'runId', 'r\u0000'],
        [() => zap.limits.set({ queue: 'q\ud800', concurrency: 1 }), 'queue', 'q\ud800'],
      ];
      for (const [action, option, value] of cases) {
        const error = await action().then(
          () => null,
          (thrown: unknown) => thrown,
        );
        expect(error).toBeInstanceOf(InvalidOptionError);
        expect(error).toMatchObject({ option, value });
        expect((error as Error).message).toContain(expected);
      }
      expect(await zap.schedules.list()).toEqual([]);
      expect((await zap.countRuns()).available).toBe(0);
      expect(await zap.limits.list()).toEqual([]);
    });

    it('nextFireTimes by name and by timing', async () => {
      const { zap } = await harness.client({ jobs: [reportJob] });
      const schedule = await zap.schedules.upsert({
        name: 'five',
        job: reportJob,
        input: { kind: 'f' },
        cron: '*/5 * * * *',
      });
      const first = schedule.nextFireAt!.getTime();
      expect((await zap.schedules.nextFireTimes('five', 3)).map((date) => date.getTime())).toEqual([
        first,
        first + 5 * MINUTE,
        first + 10 * MINUTE,
      ]);
      expect(
        await zap.schedules.nextFireTimes({ everyMs: MINUTE }, 2, { after: new Date(0) }),
      ).toEqual([new Date(MINUTE), new Date(2 * MINUTE)]);
      const newYork = await zap.schedules.nextFireTimes(
        { cron: '0 9 * * *', timezone: 'America/New_York' },
        2,
        { after: new Date('2024-03-09T12:00:00Z') },
      );
      // 09:00 EST, then 09:00 EDT after the spring-forward night.
      expect(newYork).toEqual([new Date('2024-03-09T14:00:00Z'), new Date('2024-03-10T13:00:00Z')]);
      await expect(zap.schedules.nextFireTimes('missing', 1)).rejects.toThrow(
        ScheduleNotFoundError,
      );
      await expect(zap.schedules.nextFireTimes('five', 0)).rejects.toThrow(
        'Invalid option count: 0.',
      );
    });
  });
}
