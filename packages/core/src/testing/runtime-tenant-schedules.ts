/**
 * Runtime conformance of tenant schedules. A tenant client's schedules fire runs of its tenant,
 * and their names are unique per tenant. No public member of a tenant client's `schedules`
 * reaches another tenant's schedules. Occurrences of a suspended tenant, or over its quota, are
 * skipped without leaving the schedule due.
 */
import type { MetricData } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import type { ZapJobs } from '../client.js';
import { InvalidOptionError, ScheduleNotFoundError } from '../errors.js';
import type { AnyJob } from '../job.js';
import type { ScheduleDeclaration } from '../schedules/types.js';
import { QuotaExceededError, TenantDeletedError, TenantSuspendedError } from '../tenancy/errors.js';
import type { ConformanceOptions } from './options.js';
import { FAST_WORKER, recordEvents, useRuntimeHarness, waitForState } from './runtime-harness.js';
import { pastMinute, reportJob, setNextFireAt } from './schedule-api.js';
import { createMetrics } from './telemetry-sdk.js';

const MINUTE = 60_000;

/** Builds an every-minute schedule of `reportJob` on queue `reports`. */
function minutely(name: string, extra: Partial<ScheduleDeclaration> = {}): ScheduleDeclaration {
  return {
    name,
    job: reportJob,
    input: { kind: name },
    everyMs: MINUTE,
    runOptions: { queue: 'reports' },
    ...extra,
  };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('Expected the call to be rejected, but it resolved.');
}

/** Lists the runs of a schedule of one tenant (or of none), oldest first. */
async function runsOf(zap: ZapJobs<AnyJob>, name: string, tenantId: string | null) {
  const { runs } = await zap.listRuns({ groupId: `schedule:${name}`, order: 'asc' });
  return runs.filter((run) => run.tenantId === tenantId);
}

function counterPoints(metrics: MetricData[], name: string) {
  const metric = metrics.find((candidate) => candidate.descriptor.name === name);
  return (metric?.dataPoints ?? []).map((point) => ({
    attributes: point.attributes,
    value: point.value,
  }));
}

export function describeRuntimeTenantSchedules(options: ConformanceOptions): void {
  describe(`${options.name} runtime: tenant schedules`, () => {
    const harness = useRuntimeHarness(options);

    it('tenant schedule fires runs of its tenant', async () => {
      const metrics = createMetrics();
      const { zap, storage } = await harness.client({
        jobs: [reportJob],
        telemetry: { meterProvider: metrics.provider },
      });
      const acme = zap.forTenant('acme');
      const declared = await acme.schedules.upsert(minutely('minutely'));
      expect(declared.tenantId).toBe('acme');
      expect(declared.runOptions).toEqual({ queue: 'reports', tenantId: 'acme' });
      const T0 = await pastMinute(storage);
      await setNextFireAt(storage, 'minutely', T0, 'acme');

      const events = recordEvents(zap, ['schedule.fired', 'job.enqueued']);
      const [report] = await zap.createScheduler({ clock: () => T0 + 1_000 }).runOnce();
      expect(report).toMatchObject({ schedule: 'minutely', tenantId: 'acme', fired: true });
      const runId = report!.runIds[0]!;
      expect(events.map(({ type, event }) => [type, event.tenantId])).toEqual([
        ['job.enqueued', 'acme'],
        ['schedule.fired', 'acme'],
      ]);
      expect((await acme.getRun(runId))?.groupId).toBe('schedule:minutely');
      expect(await zap.forTenant('globex').getRun(runId)).toBeNull();
      await zap.createWorker({ ...FAST_WORKER, queues: ['reports'] }).start();
      const done = await waitForState(zap, runId, ['completed']);
      expect(done.tenantId).toBe('acme');

      // Runs a schedule creates count as enqueued runs of their tenant.
      const enqueued = counterPoints(await metrics.collect(), 'zapjobs.runs.enqueued');
      expect(enqueued).toEqual([
        {
          attributes: {
            'messaging.system': 'zapjobs',
            'messaging.destination.name': 'reports',
            'zapjobs.job.name': reportJob.name,
            'zapjobs.tenant.id': 'acme',
          },
          value: 1,
        },
      ]);
    });

    it('tenant schedule declarations stay in the tenant', async () => {
      const { zap } = await harness.client({ jobs: [reportJob] });
      const acme = zap.forTenant('acme');
      const other = await rejection(
        acme.schedules.upsert(minutely('daily', { runOptions: { tenantId: 'globex' } })),
      );
      expect(other).toBeInstanceOf(InvalidOptionError);
      expect((other as InvalidOptionError).option).toBe('runOptions.tenantId');
      expect(await zap.schedules.list()).toEqual([]);

      const same = await acme.schedules.upsert(
        minutely('daily', { runOptions: { tenantId: 'acme' } }),
      );
      expect(same.tenantId).toBe('acme');
      const partitioned = await zap
        .forTenant('initech', { partitionByTenant: true })
        .schedules.upsert(minutely('daily'));
      expect(partitioned.runOptions).toEqual({
        queue: 'reports',
        tenantId: 'initech',
        partitionKey: 'initech',
      });
    });

    it('tenant schedules are invisible to other tenants', async () => {
      const client = await harness.client({ jobs: [reportJob] });
      const { zap, storage } = client;
      const acme = zap.forTenant('acme');
      const globex = zap.forTenant('globex');
      await acme.schedules.upsert(minutely('daily', { input: { kind: 'acme' } }));

      // A guessed name of another tenant's schedule behaves as an unknown name.
      expect(await globex.schedules.get('daily')).toBeNull();
      expect(await globex.schedules.list()).toEqual([]);
      expect(await globex.schedules.delete('daily')).toBe(false);
      for (const call of [
        () => globex.schedules.pause('daily'),
        () => globex.schedules.resume('daily'),
        () => globex.schedules.nextFireTimes('daily', 1),
      ]) {
        const error = await rejection(call());
        expect(error).toBeInstanceOf(ScheduleNotFoundError);
        expect((error as ScheduleNotFoundError).tenantId).toBe('globex');
        expect((error as Error).message).toBe(
          'Schedule "daily" of tenant "globex" not found. Create it with ' +
            'zap.forTenant("globex").schedules.upsert() first.',
        );
      }
      expect(await zap.schedules.get('daily')).toBeNull();
      expect((await acme.schedules.get('daily'))?.paused).toBe(false);

      // The same name in another tenant, and without a tenant, is another schedule.
      await globex.schedules.upsert(minutely('daily', { input: { kind: 'globex' } }));
      await zap.schedules.upsert(minutely('daily', { input: { kind: 'system' } }));
      expect((await acme.schedules.get('daily'))?.input).toEqual({ kind: 'acme' });
      expect((await globex.schedules.get('daily'))?.input).toEqual({ kind: 'globex' });
      expect((await zap.schedules.get('daily'))?.input).toEqual({ kind: 'system' });
      expect((await acme.schedules.list()).map((schedule) => schedule.tenantId)).toEqual(['acme']);
      const all = (await zap.schedules.list()).map((schedule) => schedule.tenantId ?? '-');
      expect(all.sort()).toEqual(['-', 'acme', 'globex']);

      // Pausing one tenant's schedule leaves the namesakes firing.
      await acme.schedules.pause('daily');
      const T0 = await pastMinute(storage);
      for (const tenantId of ['acme', 'globex', null]) {
        await setNextFireAt(storage, 'daily', T0, tenantId);
      }
      const reports = await zap.createScheduler({ clock: () => T0 + 1_000 }).runOnce();
      expect(reports.map((report) => report.tenantId ?? '-').sort()).toEqual(['-', 'globex']);
      expect(await runsOf(zap, 'daily', 'acme')).toEqual([]);
      const [globexRun] = await runsOf(zap, 'daily', 'globex');
      expect(globexRun?.input).toEqual({ kind: 'globex' });
      expect((await globex.listRuns({ groupId: 'schedule:daily' })).runs).toHaveLength(1);
      expect((await acme.listRuns({ groupId: 'schedule:daily' })).runs).toEqual([]);

      expect(await acme.schedules.delete('daily')).toBe(true);
      expect(await globex.schedules.get('daily')).not.toBeNull();
      expect(await zap.schedules.get('daily')).not.toBeNull();
    });

    it('tenant schedules expose only tenant methods', async () => {
      const { zap } = await harness.client({ jobs: [reportJob] });
      const globex = zap.forTenant('globex');
      await globex.schedules.upsert(minutely('secret', { input: { kind: 'globex' } }));
      const acme = zap.forTenant('acme');

      // Every public member of acme.schedules, own or inherited, up to Object.prototype.
      const members = new Set<string>();
      let layer: object | null = acme.schedules;
      while (layer !== null && layer !== Object.prototype) {
        for (const key of Reflect.ownKeys(layer)) members.add(String(key));
        layer = Object.getPrototypeOf(layer) as object | null;
      }
      expect([...members].sort()).toEqual([
        'constructor',
        'delete',
        'get',
        'list',
        'nextFireTimes',
        'pause',
        'resume',
        'upsert',
      ]);
      const view = acme.schedules as unknown as Record<string, unknown>;
      expect(view.forTenant).toBeUndefined();
      expect(view.onFireTime).toBeUndefined();
      // The type has neither member: this assignment compiles only while the key set is empty.
      type ClientWide = Extract<keyof typeof acme.schedules, 'forTenant' | 'onFireTime'>;
      const typedWithout: [ClientWide] extends [never] ? true : false = true;
      expect(typedWithout).toBe(true);

      // Each public method, given the name of globex's schedule, leaves it unread and unchanged.
      expect(await acme.schedules.get('secret')).toBeNull();
      expect(await acme.schedules.list()).toEqual([]);
      expect(await acme.schedules.delete('secret')).toBe(false);
      for (const call of [
        () => acme.schedules.pause('secret'),
        () => acme.schedules.resume('secret'),
        () => acme.schedules.nextFireTimes('secret', 1),
      ]) {
        const error = await rejection(call());
        expect(error).toBeInstanceOf(ScheduleNotFoundError);
        expect((error as ScheduleNotFoundError).tenantId).toBe('acme');
      }
      const upsert = await rejection(
        acme.schedules.upsert(minutely('secret', { runOptions: { tenantId: 'globex' } })),
      );
      expect(upsert).toBeInstanceOf(InvalidOptionError);
      const secret = await globex.schedules.get('secret');
      expect(secret?.input).toEqual({ kind: 'globex' });
      expect(secret?.paused).toBe(false);
      expect((await zap.schedules.list()).map((schedule) => schedule.tenantId)).toEqual(['globex']);
    });

    it('overlap checks only runs of the same tenant', async () => {
      const { zap, storage } = await harness.client({ jobs: [reportJob] });
      const acme = zap.forTenant('acme');
      await acme.schedules.upsert(minutely('nightly', { overlap: 'skip' }));
      await zap.schedules.upsert(minutely('nightly', { overlap: 'skip' }));
      const T0 = await pastMinute(storage);
      await setNextFireAt(storage, 'nightly', T0, 'acme');
      await setNextFireAt(storage, 'nightly', T0, null);
      let now = T0 + 1_000;
      const scheduler = zap.createScheduler({ clock: () => now });
      const fired = async () =>
        (await scheduler.runOnce())
          .filter((report) => report.runIds.length > 0)
          .map((report) => report.tenantId ?? '-')
          .sort();

      // No worker runs: each schedule's first run stays unfinished and blocks only itself.
      expect(await fired()).toEqual(['-', 'acme']);
      now = T0 + MINUTE + 1_000;
      expect(await fired()).toEqual([]);
      const [acmeRun] = await runsOf(zap, 'nightly', 'acme');
      await zap.cancel(acmeRun!.id);
      now = T0 + 2 * MINUTE + 1_000;
      expect(await fired()).toEqual(['acme']);
      const [systemRun] = await runsOf(zap, 'nightly', null);
      await zap.cancel(systemRun!.id);
      now = T0 + 3 * MINUTE + 1_000;
      // acme's second run is unfinished, but it is not a run of the schedule without a tenant.
      expect(await fired()).toEqual(['-']);
      expect(await runsOf(zap, 'nightly', 'acme')).toHaveLength(2);
      expect(await runsOf(zap, 'nightly', null)).toHaveLength(2);
    });

    it('suspended tenant occurrences are skipped', async () => {
      const metrics = createMetrics();
      const { zap, storage } = await harness.client({
        jobs: [reportJob],
        telemetry: { meterProvider: metrics.provider },
      });
      const acme = zap.forTenant('acme');
      await acme.schedules.upsert(minutely('a-first'));
      await zap.forTenant('globex').schedules.upsert(minutely('b-second'));
      const T0 = await pastMinute(storage);
      await setNextFireAt(storage, 'a-first', T0, 'acme');
      await setNextFireAt(storage, 'b-second', T0, 'globex');
      await zap.tenants.suspend('acme');

      const skipped = recordEvents(zap, ['schedule.skipped']);
      let now = T0 + 1_000;
      // One due schedule per storage read: acme's, due first, must not hold up globex's.
      const scheduler = zap.createScheduler({ clock: () => now, batchSize: 1 });
      const reports = await scheduler.runOnce();
      expect(reports.map((report) => [report.tenantId, report.runIds.length])).toEqual([
        ['acme', 0],
        ['globex', 1],
      ]);
      expect(reports[0]).toMatchObject({
        fired: true,
        skippedForTenant: 1,
        scheduledFor: [],
        nextFireAt: new Date(T0 + MINUTE),
      });
      expect(reports[1]!.skippedForTenant).toBe(0);
      expect(skipped).toHaveLength(1);
      const event = skipped[0]!.event;
      expect(event).toMatchObject({
        schedule: 'a-first',
        tenantId: 'acme',
        job: reportJob.name,
        scheduledFor: new Date(T0),
        reason: 'tenant',
      });
      expect(event.reason === 'tenant' ? event.error : null).toBeInstanceOf(TenantSuspendedError);
      expect(await runsOf(zap, 'a-first', 'acme')).toEqual([]);

      // The skipped occurrence is handled: a second pass finds nothing due.
      expect(await scheduler.runOnce()).toEqual([]);
      expect((await acme.schedules.get('a-first'))?.nextFireAt).toEqual(new Date(T0 + MINUTE));

      // After the resume the schedule fires its next occurrence, without catching up.
      await zap.tenants.resume('acme');
      now = T0 + MINUTE + 1_000;
      const resumed = await scheduler.runOnce();
      const acmeReport = resumed.find((report) => report.tenantId === 'acme');
      expect(acmeReport?.scheduledFor).toEqual([new Date(T0 + MINUTE)]);
      expect(acmeReport?.missed).toBeNull();
      const runs = await runsOf(zap, 'a-first', 'acme');
      expect(runs.map((run) => run.metadata?.schedule)).toEqual([
        { name: 'a-first', scheduledFor: new Date(T0 + MINUTE).toISOString() },
      ]);

      const skips = counterPoints(await metrics.collect(), 'zapjobs.schedule.skipped');
      expect(skips).toEqual([
        {
          attributes: {
            'messaging.system': 'zapjobs',
            'zapjobs.job.name': reportJob.name,
            'zapjobs.schedule.skip_reason': 'tenant',
            'zapjobs.tenant.id': 'acme',
          },
          value: 1,
        },
      ]);
    });

    it('suspended catch-up skips every occurrence', async () => {
      const { zap, storage } = await harness.client({ jobs: [reportJob] });
      const acme = zap.forTenant('acme');
      const catchUp = { misfire: { policy: 'fire-all' as const }, overlap: 'skip' as const };
      await acme.schedules.upsert(minutely('minutely', catchUp));
      const T0 = await pastMinute(storage);
      await setNextFireAt(storage, 'minutely', T0, 'acme');
      await zap.tenants.suspend('acme');

      // Overlap would run only the latest of three occurrences; the tenant rejects that one.
      const skipped = recordEvents(zap, ['schedule.skipped']);
      const [report] = await zap
        .createScheduler({ clock: () => T0 + 2 * MINUTE + 1_000 })
        .runOnce();
      expect(report).toMatchObject({ skippedForOverlap: 0, skippedForTenant: 3, runIds: [] });
      expect(skipped.map(({ event }) => [event.reason, event.scheduledFor])).toEqual([
        ['tenant', new Date(T0)],
        ['tenant', new Date(T0 + MINUTE)],
        ['tenant', new Date(T0 + 2 * MINUTE)],
      ]);
      expect(await runsOf(zap, 'minutely', 'acme')).toEqual([]);
    });

    it('deleted or over-quota tenant occurrences are skipped', async () => {
      const { zap, storage } = await harness.client({ jobs: [reportJob] });
      await zap.forTenant('gone').schedules.upsert(minutely('reports'));
      await zap.forTenant('busy').schedules.upsert(minutely('reports'));
      const T0 = await pastMinute(storage);
      await setNextFireAt(storage, 'reports', T0, 'gone');
      await setNextFireAt(storage, 'reports', T0, 'busy');
      await zap.tenants.delete('gone');
      await zap.tenants.upsert('busy', { quotas: { maxQueuedRuns: 1 } });
      await zap.forTenant('busy').enqueue(reportJob, { kind: 'fills the quota' });

      const skipped = recordEvents(zap, ['schedule.skipped']);
      const reports = await zap.createScheduler({ clock: () => T0 + 1_000 }).runOnce();
      expect(reports.map((report) => report.skippedForTenant)).toEqual([1, 1]);
      expect(reports.every((report) => report.runIds.length === 0)).toBe(true);
      const errors = new Map(
        skipped.map(({ event }) => [
          event.tenantId,
          event.reason === 'tenant' ? event.error : null,
        ]),
      );
      expect(errors.get('gone')).toBeInstanceOf(TenantDeletedError);
      expect(errors.get('busy')).toBeInstanceOf(QuotaExceededError);
      expect((errors.get('busy') as QuotaExceededError).quota).toBe('maxQueuedRuns');
      for (const tenantId of ['gone', 'busy']) {
        const schedule = await zap.forTenant(tenantId).schedules.get('reports');
        expect(schedule?.nextFireAt).toEqual(new Date(T0 + MINUTE));
        expect(await runsOf(zap, 'reports', tenantId)).toEqual([]);
      }
    });
  });
}
