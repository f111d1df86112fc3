/**
 * Schedule conformance: firing with misfire and overlap policies, several schedulers on one
 * storage, and a started scheduler in real time. Misfire tests pass a fixed reference clock
 * and move the stored next fire time into the past, so every expected run is exact.
 */
import { describe, expect, it } from 'vitest';
import type { ZapJobs } from '../client.js';
import type { AnyJob } from '../job.js';
import type { ScheduleMisfireOptions } from '../schedules/types.js';
import type { ConformanceOptions } from './options.js';
import {
  FAST_WORKER,
  recordEvents,
  type TestClient,
  useRuntimeHarness,
  waitFor,
  waitForState,
} from './runtime-harness.js';
import { pastMinute, reportJob, setNextFireAt } from './schedule-api.js';

const MINUTE = 60_000;

/** Lists the runs a schedule created, oldest first, with their occurrence times. */
async function scheduleRuns(zap: ZapJobs<AnyJob>, name: string) {
  const { runs } = await zap.listRuns({ groupId: `schedule:${name}`, limit: 1000, order: 'asc' });
  return runs.map((run) => ({
    run,
    scheduledFor: Date.parse(
      (run.metadata as { schedule: { scheduledFor: string } }).schedule.scheduledFor,
    ),
  }));
}

/** Declares an every-minute schedule whose stored next fire time is a past minute T0. */
async function minutelyFromPast(
  client: TestClient,
  misfire: ScheduleMisfireOptions = {},
  overlap: 'allow' | 'skip' | 'delay' = 'allow',
): Promise<number> {
  await client.zap.schedules.upsert({
    name: 'minutely',
    job: reportJob,
    input: { kind: 'm' },
    everyMs: MINUTE,
    misfire,
    overlap,
    runOptions: { queue: 'reports', priority: 3, metadata: { team: 'ops' } },
  });
  const T0 = await pastMinute(client.storage);
  await setNextFireAt(client.storage, 'minutely', T0);
  return T0;
}

export function describeScheduleFiring(options: ConformanceOptions): void {
  describe(`${options.name} schedules: firing`, () => {
    const harness = useRuntimeHarness(options);

    it('on-time occurrence creates a run', async () => {
      const client = await harness.client({ jobs: [reportJob] });
      const { zap } = client;
      const T0 = await minutelyFromPast(client);
      const events = recordEvents(zap, ['schedule.fired', 'schedule.misfired']);
      const reports = await zap.createScheduler({ clock: () => T0 + 1_000 }).runOnce();

      expect(reports).toHaveLength(1);
      const report = reports[0]!;
      expect(report).toMatchObject({
        schedule: 'minutely',
        fired: true,
        scheduledFor: [new Date(T0)],
        missed: null,
        skippedForOverlap: 0,
        nextFireAt: new Date(T0 + MINUTE),
      });
      const runId = report.runIds[0]!;
      expect(events).toEqual([
        {
          type: 'schedule.fired',
          event: {
            schedule: 'minutely',
            tenantId: null,
            job: 'conformance.report',
            runId,
            scheduledFor: new Date(T0),
            lateMs: 1_000,
            misfired: false,
            waitingFor: null,
          },
        },
      ]);

      const run = (await zap.getRun(runId))!;
      expect(run).toMatchObject({
        job: 'conformance.report',
        queue: 'reports',
        priority: 3,
        input: { kind: 'm' },
        groupId: 'schedule:minutely',
        metadata: {
          team: 'ops',
          schedule: { name: 'minutely', scheduledFor: new Date(T0).toISOString() },
        },
      });
      const schedule = (await zap.schedules.get('minutely'))!;
      expect(schedule.lastFireAt).toEqual(new Date(T0));
      expect(schedule.nextFireAt).toEqual(new Date(T0 + MINUTE));

      await zap.createWorker({ ...FAST_WORKER, queues: ['reports'] }).start();
      expect((await waitForState(zap, runId, ['completed'])).output).toEqual({ kind: 'm' });
    });

    it('late within the threshold fires as usual', async () => {
      const client = await harness.client({ jobs: [reportJob] });
      const T0 = await minutelyFromPast(client, { policy: 'skip', thresholdMs: 30_000 });
      const misfired = recordEvents(client.zap, ['schedule.misfired']);
      const [report] = await client.zap.createScheduler({ clock: () => T0 + 29_999 }).runOnce();
      expect(report!.runIds).toHaveLength(1);
      expect(report!.missed).toBeNull();
      expect(misfired).toEqual([]);
    });

    it('fire-once after downtime creates one run', async () => {
      const client = await harness.client({ jobs: [reportJob] });
      const { zap } = client;
      const T0 = await minutelyFromPast(client, { policy: 'fire-once' });
      const misfired = recordEvents(zap, ['schedule.misfired']);
      // Down for 10.5 minutes: T0 to T0+9min misfired, T0+10min is on time.
      const [report] = await zap
        .createScheduler({ clock: () => T0 + 10 * MINUTE + 30_000 })
        .runOnce();

      expect(report!.scheduledFor).toEqual([new Date(T0 + 10 * MINUTE)]);
      expect(report!.missed).toEqual({
        count: 10,
        countIsLowerBound: false,
        first: new Date(T0),
        last: new Date(T0 + 9 * MINUTE),
      });
      expect(misfired.map((entry) => entry.event)).toEqual([
        {
          schedule: 'minutely',
          tenantId: null,
          job: 'conformance.report',
          policy: 'fire-once',
          missed: 10,
          missedIsLowerBound: false,
          firstMissedAt: new Date(T0),
          lastMissedAt: new Date(T0 + 9 * MINUTE),
          runIds: report!.runIds,
        },
      ]);
      expect(await scheduleRuns(zap, 'minutely')).toHaveLength(1);
      const schedule = (await zap.schedules.get('minutely'))!;
      expect(schedule.nextFireAt).toEqual(new Date(T0 + 11 * MINUTE));
      expect(schedule.lastFireAt).toEqual(new Date(T0 + 10 * MINUTE));
    });

    it('skip creates no run for misfired occurrences', async () => {
      const client = await harness.client({ jobs: [reportJob] });
      const { zap } = client;
      const T0 = await minutelyFromPast(client, { policy: 'skip', thresholdMs: 10_000 });
      const misfired = recordEvents(zap, ['schedule.misfired']);
      const [report] = await zap
        .createScheduler({ clock: () => T0 + 10 * MINUTE + 30_000 })
        .runOnce();

      expect(report!.fired).toBe(true);
      expect(report!.runIds).toEqual([]);
      expect(misfired).toHaveLength(1);
      expect(misfired[0]!.event).toMatchObject({ policy: 'skip', missed: 11, runIds: [] });
      expect(await scheduleRuns(zap, 'minutely')).toEqual([]);
      expect((await zap.schedules.get('minutely'))!.nextFireAt).toEqual(new Date(T0 + 11 * MINUTE));
    });

    it('fire-all creates a run per occurrence up to maxFires', async () => {
      const client = await harness.client({ jobs: [reportJob] });
      const { zap } = client;
      const T0 = await minutelyFromPast(client, { policy: 'fire-all', maxFires: 4 });
      const fired = recordEvents(zap, ['schedule.fired']);
      const [report] = await zap
        .createScheduler({ clock: () => T0 + 10 * MINUTE + 30_000 })
        .runOnce();

      const expected = [7, 8, 9, 10].map((minutes) => T0 + minutes * MINUTE);
      expect(report!.scheduledFor).toEqual(expected.map((time) => new Date(time)));
      const runs = await scheduleRuns(zap, 'minutely');
      expect(runs.map((entry) => entry.scheduledFor).sort()).toEqual(expected);
      expect(fired.map((entry) => entry.event.misfired)).toEqual([true, true, true, false]);
    });

    it('concurrent schedulers fire each occurrence once', async () => {
      const first = await harness.client({ jobs: [reportJob] });
      const others = await Promise.all(
        [1, 2, 3].map(() => harness.secondClient(first, { jobs: [reportJob] })),
      );
      const T0 = await minutelyFromPast(first, { policy: 'fire-all' });
      // 30 occurrences are due at T0 + 29.5 min: every scheduler races for all of them.
      const clock = () => T0 + 29 * MINUTE + 30_000;
      const schedulers = [first, ...others].map((client) => client.zap.createScheduler({ clock }));
      const rounds = await Promise.all(schedulers.map((scheduler) => scheduler.runOnce()));
      const again = await Promise.all(schedulers.map((scheduler) => scheduler.runOnce()));

      const reports = [...rounds, ...again].flat();
      expect(reports.filter((report) => report.fired)).toHaveLength(1);
      const runs = await scheduleRuns(first.zap, 'minutely');
      expect(runs).toHaveLength(30);
      expect(new Set(runs.map((entry) => entry.scheduledFor)).size).toBe(30);
    });

    it('overlap skip skips while a run is unfinished', async () => {
      const client = await harness.client({ jobs: [reportJob] });
      const { zap } = client;
      const T0 = await minutelyFromPast(client, {}, 'skip');
      let now = T0 + 1_000;
      const scheduler = zap.createScheduler({ clock: () => now });
      const skipped = recordEvents(zap, ['schedule.skipped']);

      const [first] = await scheduler.runOnce();
      const runId = first!.runIds[0]!;
      now = T0 + MINUTE + 1_000;
      const [second] = await scheduler.runOnce();
      expect(second!.runIds).toEqual([]);
      expect(second!.skippedForOverlap).toBe(1);
      expect(skipped.map((entry) => entry.event)).toEqual([
        {
          schedule: 'minutely',
          tenantId: null,
          job: 'conformance.report',
          scheduledFor: new Date(T0 + MINUTE),
          reason: 'overlap',
          runningRunId: runId,
        },
      ]);

      await zap.cancel(runId);
      now = T0 + 2 * MINUTE + 1_000;
      const [third] = await scheduler.runOnce();
      expect(third!.runIds).toHaveLength(1);
      expect(await scheduleRuns(zap, 'minutely')).toHaveLength(2);
    });

    it('overlap skip runs one of several due occurrences', async () => {
      const client = await harness.client({ jobs: [reportJob] });
      const T0 = await minutelyFromPast(client, { policy: 'fire-all' }, 'skip');
      const skipped = recordEvents(client.zap, ['schedule.skipped']);
      const [report] = await client.zap
        .createScheduler({ clock: () => T0 + 2 * MINUTE + 1_000 })
        .runOnce();
      expect(report!.scheduledFor).toEqual([new Date(T0 + 2 * MINUTE)]);
      expect(report!.skippedForOverlap).toBe(2);
      expect(skipped.map((entry) => entry.event.scheduledFor)).toEqual([
        new Date(T0),
        new Date(T0 + MINUTE),
      ]);
      expect(
        skipped.map((entry) =>
          entry.event.reason === 'overlap' ? entry.event.runningRunId : null,
        ),
      ).toEqual([report!.runIds[0], report!.runIds[0]]);
    });

    it('overlap delay runs after the unfinished run', async () => {
      const client = await harness.client({ jobs: [reportJob] });
      const { zap } = client;
      const T0 = await minutelyFromPast(client, {}, 'delay');
      let now = T0 + 1_000;
      const scheduler = zap.createScheduler({ clock: () => now });
      const fired = recordEvents(zap, ['schedule.fired']);

      const [first] = await scheduler.runOnce();
      now = T0 + MINUTE + 1_000;
      const [second] = await scheduler.runOnce();
      const firstId = first!.runIds[0]!;
      const secondId = second!.runIds[0]!;
      expect(fired[1]!.event.waitingFor).toBe(firstId);
      expect((await zap.getRun(secondId))!.state).toBe('waiting');

      await zap.createWorker({ ...FAST_WORKER, queues: ['reports'] }).start();
      const later = await waitForState(zap, secondId, ['completed']);
      const earlier = (await zap.getRun(firstId))!;
      expect(earlier.state).toBe('completed');
      expect(later.startedAt!.getTime()).toBeGreaterThanOrEqual(earlier.finishedAt!.getTime());
    });

    it('started schedulers fire on time without duplicates', async () => {
      const first = await harness.client({ jobs: [reportJob] });
      const second = await harness.secondClient(first, { jobs: [reportJob] });
      await first.zap.schedules.upsert({
        name: 'every-second',
        job: reportJob,
        input: { kind: 's' },
        cron: '* * * * * *',
      });
      // A long poll interval: schedulers must wake at the known fire time, not poll.
      const schedulers = [first, second].map((client) =>
        client.zap.createScheduler({ pollIntervalMs: 10_000 }),
      );
      await Promise.all(schedulers.map((scheduler) => scheduler.start()));
      await waitFor(
        '3 runs of the every-second schedule',
        async () => (await scheduleRuns(first.zap, 'every-second')).length >= 3,
        10_000,
      );
      await Promise.all(schedulers.map((scheduler) => scheduler.stop()));

      const runs = await scheduleRuns(first.zap, 'every-second');
      const occurrences = runs.map((entry) => entry.scheduledFor).sort((a, b) => a - b);
      expect(new Set(occurrences).size).toBe(occurrences.length);
      for (const [index, occurrence] of occurrences.entries()) {
        expect(occurrence % 1_000).toBe(0);
        if (index > 0) expect(occurrence - occurrences[index - 1]!).toBe(1_000);
      }
      for (const { run, scheduledFor } of runs) {
        // Created shortly after its occurrence; the bound is loose for a loaded machine.
        expect(run.createdAt.getTime() - scheduledFor).toBeGreaterThanOrEqual(0);
        expect(run.createdAt.getTime() - scheduledFor).toBeLessThan(1_000);
      }
    });
  });
}
