/**
 * Handles one due schedule: plans its occurrences with the misfire policy, applies the overlap
 * policy, and fires with compare-and-set on the stored next fire time, so that of several
 * schedulers handling the same occurrence exactly one creates runs.
 *
 * A schedule's tenant admits its runs as it admits an enqueue. When the tenant is suspended or
 * deleted, or the runs would exceed one of its quotas, the occurrences are skipped. The
 * schedule moves on to its next fire time without runs, and each skipped occurrence gets a
 * `schedule.skipped` event with reason `tenant`. So a suspended tenant's schedule neither
 * stays due nor catches up on resume: it fires again at its first occurrence after the resume.
 */
import type { ClientInternals } from '../internal/internals.js';
import { callStorage } from '../internal/storage-call.js';
import { uuidv7 } from '../internal/uuid.js';
import type {
  FireScheduleRequest,
  FireScheduleResult,
  NewRun,
  RunRecord,
  RunState,
  ScheduleRecord,
} from '../storage/contract.js';
import { QuotaExceededError, TenantDeletedError, TenantSuspendedError } from '../tenancy/errors.js';
import { type FirePlan, planFire } from './misfire.js';
import type { OccurrenceSource } from './occurrences.js';
import {
  SCHEDULE_GROUP_PREFIX,
  SCHEDULE_METADATA_KEY,
  type StoredScheduleOptions,
} from './options.js';
import type { ScheduleFireReport, ScheduleSkippedEvent } from './types.js';

/** The errors a tenant rejects a schedule's runs with. */
type TenantRejection = Extract<ScheduleSkippedEvent, { reason: 'tenant' }>['error'];

/** Page size, in runs, of the overlap check's reads of a schedule's unfinished runs. */
const OVERLAP_PAGE_SIZE = 100;

const UNFINISHED_STATES: readonly RunState[] = [
  'waiting',
  'scheduled',
  'available',
  'running',
  'suspended',
];

/** One run to create, with the occurrence it stands for. */
interface PlannedRun {
  occurrence: number;
  run: NewRun;
  waitingFor: string | null;
}

/**
 * Handles `record`, due at reference time `now`. Returns what happened; `fired: false` when
 * another process fired the occurrence first.
 */
export async function fireSchedule(
  internals: ClientInternals,
  record: ScheduleRecord,
  options: StoredScheduleOptions,
  source: OccurrenceSource,
  now: number,
): Promise<ScheduleFireReport> {
  const expected = record.nextFireAt!;
  const plan = planFire(source, expected, now, options.misfire);
  const { planned, skipped, running } = await applyOverlap(internals, record, options, plan);

  const request: FireScheduleRequest = {
    name: record.name,
    tenantId: record.tenantId,
    expectedNextFireAt: expected,
    nextFireAt: plan.nextFireAt,
    lastFireAt: plan.lastFireAt,
    runs: planned.map((item) => item.run),
  };
  let result: FireScheduleResult;
  let rejection: TenantRejection | null = null;
  try {
    result = await storeFire(internals, request);
  } catch (error) {
    rejection = asTenantRejection(error);
    if (rejection === null || planned.length === 0) throw error;
    // The occurrences are skipped, because a schedule left due would be retried at every pass
    // while the tenant stays suspended, and would fire late on resume.
    result = await storeFire(internals, { ...request, runs: [] });
  }

  let overlapSkips = skipped;
  let tenantSkips: number[] = [];
  if (rejection !== null) {
    tenantSkips = planned.map((item) => item.occurrence);
    // A catch-up skips its earlier occurrences for overlap in favor of a planned run. When the
    // tenant rejected that run too, they are skipped for the tenant.
    if (planned.some((item) => item.run.id === running)) {
      tenantSkips = [...skipped, ...tenantSkips];
      overlapSkips = [];
    }
  }
  const report: ScheduleFireReport = {
    schedule: record.name,
    tenantId: record.tenantId,
    fired: result.fired,
    runIds: [],
    scheduledFor: [],
    missed:
      plan.missed === null
        ? null
        : {
            count: plan.missed.count,
            countIsLowerBound: plan.missed.countIsLowerBound,
            first: new Date(plan.missed.first),
            last: new Date(plan.missed.last),
          },
    skippedForOverlap: overlapSkips.length,
    skippedForTenant: result.fired ? tenantSkips.length : 0,
    nextFireAt: plan.nextFireAt === null ? null : new Date(plan.nextFireAt),
  };
  if (!result.fired) return report;

  const fired = rejection === null ? planned : [];
  report.runIds = result.inserted.map((inserted) => inserted.runId);
  report.scheduledFor = fired.map((item) => new Date(item.occurrence));
  announce(internals, record, options, plan, fired, report, now);
  const base = { schedule: record.name, tenantId: record.tenantId, job: record.job };
  for (const occurrence of overlapSkips) {
    internals.logger.info(
      { schedule: record.name, tenantId: record.tenantId, runId: running },
      `${describe(record)} skipped its occurrence at ${iso(occurrence)} because run ` +
        `${running} has not finished (overlap: skip)`,
    );
    internals.bus.emit('schedule.skipped', {
      ...base,
      scheduledFor: new Date(occurrence),
      reason: 'overlap',
      runningRunId: running!,
    });
  }
  if (rejection !== null) {
    internals.logger.info(
      { schedule: record.name, tenantId: record.tenantId, skipped: tenantSkips.length },
      `${describe(record)} skipped ${tenantSkips.length} occurrence(s) from ` +
        `${iso(tenantSkips[0]!)}: ${rejection.message}`,
    );
    for (const occurrence of tenantSkips) {
      internals.bus.emit('schedule.skipped', {
        ...base,
        scheduledFor: new Date(occurrence),
        reason: 'tenant',
        error: rejection,
      });
    }
  }
  return report;
}

/**
 * Fires through the storage. Runs get a producer span and count as enqueued runs in the
 * metrics, with their tenant, like runs of `zap.enqueue`.
 */
async function storeFire(
  internals: ClientInternals,
  request: FireScheduleRequest,
): Promise<FireScheduleResult> {
  const storage = internals.storage;
  const fire = (runs: readonly NewRun[]) =>
    callStorage(storage, 'fireSchedule', () => storage.fireSchedule({ ...request, runs }));
  if (request.runs.length === 0) return fire([]);

  let fired = false;
  const runs = [...request.runs];
  const inserted = await internals.telemetry.traceEnqueue(runs, async () => {
    const result = await fire(runs);
    fired = result.fired;
    return result.inserted;
  });
  return { fired, inserted };
}

function asTenantRejection(error: unknown): TenantRejection | null {
  if (
    error instanceof TenantSuspendedError ||
    error instanceof TenantDeletedError ||
    error instanceof QuotaExceededError
  ) {
    return error;
  }
  return null;
}

/** Describes a schedule for log messages, with its tenant when it has one. */
function describe(record: ScheduleRecord): string {
  const tenant = record.tenantId === null ? '' : ` of tenant "${record.tenantId}"`;
  return `Schedule "${record.name}"${tenant}`;
}

/** Builds the runs of a plan, then drops or chains them by the overlap policy. */
async function applyOverlap(
  internals: ClientInternals,
  record: ScheduleRecord,
  options: StoredScheduleOptions,
  plan: FirePlan,
): Promise<{ planned: PlannedRun[]; skipped: number[]; running: string | null }> {
  const build = (occurrence: number, waitingFor: string | null): PlannedRun => ({
    occurrence,
    run: buildRun(record, options, occurrence, waitingFor),
    waitingFor,
  });
  if (options.overlap === 'allow' || plan.fire.length === 0) {
    return { planned: plan.fire.map((time) => build(time, null)), skipped: [], running: null };
  }

  const running = await latestUnfinishedRun(internals, record);
  if (options.overlap === 'skip') {
    if (running !== null) return { planned: [], skipped: plan.fire, running: running.id };
    // Several runs at once would overlap each other: only the latest occurrence runs, and the
    // earlier ones are skipped in its favor.
    const latest = build(plan.fire[plan.fire.length - 1]!, null);
    const skipped = plan.fire.slice(0, -1);
    return { planned: [latest], skipped, running: skipped.length > 0 ? latest.run.id : null };
  }

  // `delay`: each run waits for the one before it, the first for the unfinished run.
  const planned: PlannedRun[] = [];
  let previous = running?.id ?? null;
  for (const occurrence of plan.fire) {
    const item = build(occurrence, previous);
    planned.push(item);
    previous = item.run.id;
  }
  return { planned, skipped: [], running: running?.id ?? null };
}

/**
 * Returns the newest run of the schedule that has not finished, or null. Schedules of the same
 * name in other tenants share its group id, so runs of another tenant are passed over.
 */
async function latestUnfinishedRun(
  internals: ClientInternals,
  record: ScheduleRecord,
): Promise<RunRecord | null> {
  const storage = internals.storage;
  const filter = { groupId: SCHEDULE_GROUP_PREFIX + record.name, states: UNFINISHED_STATES };
  if (record.tenantId !== null) {
    const page = await callStorage(storage, 'listRuns', () =>
      storage.listRuns({ ...filter, tenantId: record.tenantId! }, { limit: 1, order: 'desc' }),
    );
    return page.items[0] ?? null;
  }

  // NOTE: the storage run filter has no way to ask for runs without a tenant, so this reads
  // pages of the group's unfinished runs of every tenant until one without a tenant turns up.
  // The cost grows with other tenants' unfinished runs of schedules of the same name.
  let cursor: string | undefined;
  do {
    const page = await callStorage(storage, 'listRuns', () =>
      storage.listRuns(filter, {
        limit: OVERLAP_PAGE_SIZE,
        order: 'desc',
        ...(cursor === undefined ? {} : { cursor }),
      }),
    );
    const own = page.items.find((run) => run.tenantId === null);
    if (own !== undefined) return own;
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  return null;
}

function buildRun(
  record: ScheduleRecord,
  options: StoredScheduleOptions,
  occurrence: number,
  waitingFor: string | null,
): NewRun {
  const template = options.run;
  const metadata = {
    ...(template.metadata ?? {}),
    [SCHEDULE_METADATA_KEY]: { name: record.name, scheduledFor: iso(occurrence) },
  };
  const run: NewRun = {
    id: uuidv7(),
    job: record.job,
    queue: template.queue,
    input: record.input,
    priority: template.priority,
    maxAttempts: template.maxAttempts,
    historyLevel: template.historyLevel,
    groupId: SCHEDULE_GROUP_PREFIX + record.name,
    metadata: JSON.stringify(metadata),
  };
  if (template.partitionKey !== undefined) run.partitionKey = template.partitionKey;
  // The schedule's tenant is part of its key; the template stores the same id.
  if (record.tenantId !== null) run.tenantId = record.tenantId;
  if (waitingFor !== null) run.dependsOn = [{ runId: waitingFor, condition: 'always' }];
  return run;
}

function announce(
  internals: ClientInternals,
  record: ScheduleRecord,
  options: StoredScheduleOptions,
  plan: FirePlan,
  planned: PlannedRun[],
  report: ScheduleFireReport,
  now: number,
): void {
  const { bus, logger } = internals;
  const cutoff = now - options.misfire.thresholdMs;
  planned.forEach((item, index) => {
    const runId = report.runIds[index]!;
    bus.emit('job.enqueued', {
      runId,
      job: record.job,
      queue: item.run.queue,
      created: true,
      tenantId: item.run.tenantId ?? null,
    });
    bus.emit('schedule.fired', {
      schedule: record.name,
      tenantId: record.tenantId,
      job: record.job,
      runId,
      scheduledFor: new Date(item.occurrence),
      lateMs: now - item.occurrence,
      misfired: item.occurrence < cutoff,
      waitingFor: item.waitingFor,
    });
  });
  if (planned.length > 0) {
    logger.debug(
      { schedule: record.name, tenantId: record.tenantId, runIds: report.runIds },
      `${describe(record)} fired ${planned.length} run(s) of job "${record.job}"`,
    );
  }

  const missed = plan.missed;
  if (missed === null) return;
  const count = `${missed.count}${missed.countIsLowerBound ? ' or more' : ''}`;
  logger.warn(
    {
      schedule: record.name,
      tenantId: record.tenantId,
      missed: missed.count,
      policy: options.misfire.policy,
    },
    `${describe(record)} misfired: ${count} occurrence(s) from ${iso(missed.first)} to ` +
      `${iso(missed.last)} were handled more than ${options.misfire.thresholdMs} ms late; ` +
      `policy ${options.misfire.policy} created ${planned.length} run(s)`,
  );
  bus.emit('schedule.misfired', {
    schedule: record.name,
    tenantId: record.tenantId,
    job: record.job,
    policy: options.misfire.policy,
    missed: missed.count,
    missedIsLowerBound: missed.countIsLowerBound,
    firstMissedAt: new Date(missed.first),
    lastMissedAt: new Date(missed.last),
    runIds: report.runIds,
  });
}

function iso(time: number): string {
  return new Date(time).toISOString();
}
