/**
 * Handles one due schedule: plans its occurrences with the misfire policy, applies the overlap
 * policy, and fires with compare-and-set on the stored next fire time, so that of several
 * schedulers handling the same occurrence exactly one creates runs.
 */
import type { ClientInternals } from '../internal/internals.js';
import { callStorage } from '../internal/storage-call.js';
import { uuidv7 } from '../internal/uuid.js';
import type { NewRun, RunRecord, RunState, ScheduleRecord } from '../storage/contract.js';
import { type FirePlan, planFire } from './misfire.js';
import type { OccurrenceSource } from './occurrences.js';
import {
  SCHEDULE_GROUP_PREFIX,
  SCHEDULE_METADATA_KEY,
  type StoredScheduleOptions,
} from './options.js';
import type { ScheduleFireReport } from './types.js';

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

  const storage = internals.storage;
  const result = await callStorage(storage, 'fireSchedule', () =>
    storage.fireSchedule({
      name: record.name,
      expectedNextFireAt: expected,
      nextFireAt: plan.nextFireAt,
      lastFireAt: plan.lastFireAt,
      runs: planned.map((item) => item.run),
    }),
  );
  const report: ScheduleFireReport = {
    schedule: record.name,
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
    skippedForOverlap: skipped.length,
    nextFireAt: plan.nextFireAt === null ? null : new Date(plan.nextFireAt),
  };
  if (!result.fired) return report;

  report.runIds = result.inserted.map((inserted) => inserted.runId);
  report.scheduledFor = planned.map((item) => new Date(item.occurrence));
  announce(internals, record, options, plan, planned, report, now);
  for (const occurrence of skipped) {
    internals.logger.info(
      { schedule: record.name, runId: running },
      `Schedule "${record.name}" skipped its occurrence at ${iso(occurrence)} because run ` +
        `${running} has not finished (overlap: skip)`,
    );
    internals.bus.emit('schedule.skipped', {
      schedule: record.name,
      job: record.job,
      scheduledFor: new Date(occurrence),
      reason: 'overlap',
      runningRunId: running!,
    });
  }
  return report;
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

  const running = await latestUnfinishedRun(internals, record.name);
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

/** Returns the newest run of the schedule that has not finished, or null. */
async function latestUnfinishedRun(
  internals: ClientInternals,
  name: string,
): Promise<RunRecord | null> {
  const storage = internals.storage;
  const page = await callStorage(storage, 'listRuns', () =>
    storage.listRuns(
      { groupId: SCHEDULE_GROUP_PREFIX + name, states: UNFINISHED_STATES },
      { limit: 1, order: 'desc' },
    ),
  );
  return page.items[0] ?? null;
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
  if (template.tenantId !== undefined) run.tenantId = template.tenantId;
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
      { schedule: record.name, runIds: report.runIds },
      `Schedule "${record.name}" fired ${planned.length} run(s) of job "${record.job}"`,
    );
  }

  const missed = plan.missed;
  if (missed === null) return;
  const count = `${missed.count}${missed.countIsLowerBound ? ' or more' : ''}`;
  logger.warn(
    { schedule: record.name, missed: missed.count, policy: options.misfire.policy },
    `Schedule "${record.name}" misfired: ${count} occurrence(s) from ${iso(missed.first)} to ` +
      `${iso(missed.last)} were handled more than ${options.misfire.thresholdMs} ms late; ` +
      `policy ${options.misfire.policy} created ${planned.length} run(s)`,
  );
  bus.emit('schedule.misfired', {
    schedule: record.name,
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
