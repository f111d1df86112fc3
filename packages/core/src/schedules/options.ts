/**
 * Checks of schedule declarations, and the core-owned options a schedule stores: the misfire
 * and overlap policies and the template of the runs it creates, resolved against the job's
 * defaults at upsert so that a scheduler process needs no job definition.
 */
import { InvalidOptionError, ValidationError } from '../errors.js';
import {
  assertKnownKeys,
  assertPlainObject,
  checkBoolean,
  checkInteger,
  checkMs,
  checkOneOf,
  checkWellFormed,
} from '../internal/check.js';
import { buildStoredMetadata, resolveEnqueueOptions } from '../internal/run-options.js';
import { serializePayload } from '../internal/serialize.js';
import { checkSchema } from '../internal/validation.js';
import type { AnyJob } from '../job.js';
import type { HistoryLevel, ScheduleKey, ScheduleRecord } from '../storage/contract.js';
import type { MisfireSettings } from './misfire.js';
import { checkTiming, type ScheduleTiming } from './occurrences.js';
import type { OverlapPolicy, Schedule, ScheduleDeclaration, ScheduleRunOptions } from './types.js';

/** Maximum length of a schedule name; its runs' group id adds a prefix to it. */
export const MAX_SCHEDULE_NAME_LENGTH = 200;
/** Runs of schedule `name` belong to group `schedule:<name>`. */
export const SCHEDULE_GROUP_PREFIX = 'schedule:';
/** Key of run metadata that names the schedule and occurrence a run was created for. */
export const SCHEDULE_METADATA_KEY = 'schedule';

const MISFIRE_POLICIES = ['fire-once', 'skip', 'fire-all'] as const;
const OVERLAP_POLICIES: readonly OverlapPolicy[] = ['allow', 'skip', 'delay'];
const DECLARATION_KEYS = [
  'name',
  'job',
  'input',
  'cron',
  'everyMs',
  'timezone',
  'misfire',
  'overlap',
  'paused',
  'runOptions',
];
const RUN_OPTION_KEYS = [
  'queue',
  'priority',
  'attempts',
  'backoff',
  'timeoutMs',
  'partitionKey',
  'tenantId',
  'metadata',
  'historyLevel',
];

export const DEFAULT_MISFIRE: MisfireSettings = {
  policy: 'fire-once',
  thresholdMs: 60_000,
  maxFires: 100,
};
const MAX_FIRES_LIMIT = 1_000;

/** Fields of each run a schedule creates, except id, input and the schedule reference. */
export interface RunTemplate {
  queue: string;
  priority: number;
  maxAttempts: number;
  historyLevel: HistoryLevel;
  partitionKey?: string;
  tenantId?: string;
  /** Stored metadata object: the application's metadata plus core's run settings. */
  metadata?: Record<string, unknown>;
}

/** Options a schedule stores in `ScheduleRecord.options`, as JSON. */
export interface StoredScheduleOptions {
  version: 1;
  misfire: MisfireSettings;
  overlap: OverlapPolicy;
  /** The run options as declared, returned by `get`. */
  runOptions: ScheduleRunOptions;
  run: RunTemplate;
}

/** A declaration after every check, ready to store. */
export interface CheckedDeclaration {
  name: string;
  job: string;
  /** Serialized input. */
  input: string;
  timing: ScheduleTiming;
  paused: boolean;
  tenantId?: string;
  options: StoredScheduleOptions;
}

/**
 * Checks a declaration against `job` (already resolved from `declaration.job`). Throws
 * InvalidOptionError, ValidationError, SerializationError or PayloadTooLargeError.
 */
export function checkDeclaration(
  declaration: ScheduleDeclaration,
  job: AnyJob,
  maxPayloadBytes: number,
): CheckedDeclaration {
  const name = checkScheduleName('name', declaration.name);
  const timing = checkTiming(declaration);
  const input = serializePayload(declaration.input, {
    what: `Input of schedule "${name}"`,
    root: 'input',
    maxBytes: maxPayloadBytes,
  });
  const issues = checkSchema(job.input, declaration.input);
  if (issues.length > 0) throw new ValidationError(job.name, issues);

  const runOptions = declaration.runOptions ?? {};
  const run = buildRunTemplate(job, runOptions, name, maxPayloadBytes);
  const checked: CheckedDeclaration = {
    name,
    job: job.name,
    input,
    timing,
    paused: declaration.paused === undefined ? false : checkBoolean('paused', declaration.paused),
    options: {
      version: 1,
      misfire: checkMisfire(declaration.misfire),
      overlap:
        declaration.overlap === undefined
          ? 'allow'
          : checkOneOf('overlap', declaration.overlap, OVERLAP_POLICIES),
      runOptions,
      run,
    },
  };
  if (run.tenantId !== undefined) checked.tenantId = run.tenantId;
  return checked;
}

/** Checks the keys of a declaration before its job is resolved. */
export function checkDeclarationShape(declaration: unknown): void {
  assertPlainObject('declaration', declaration);
  assertKnownKeys(declaration, DECLARATION_KEYS, '', ' of a schedule declaration');
}

export function checkScheduleName(option: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > MAX_SCHEDULE_NAME_LENGTH) {
    throw new InvalidOptionError(
      option,
      value,
      `a non-empty schedule name of at most ${MAX_SCHEDULE_NAME_LENGTH} characters`,
    );
  }
  return checkWellFormed(option, value);
}

function checkMisfire(value: unknown): MisfireSettings {
  if (value === undefined) return { ...DEFAULT_MISFIRE };
  assertPlainObject('misfire', value);
  assertKnownKeys(value, ['policy', 'thresholdMs', 'maxFires'], 'misfire.', '');
  const misfire = value as { policy?: unknown; thresholdMs?: unknown; maxFires?: unknown };
  return {
    policy:
      misfire.policy === undefined
        ? DEFAULT_MISFIRE.policy
        : checkOneOf('misfire.policy', misfire.policy, MISFIRE_POLICIES),
    thresholdMs:
      misfire.thresholdMs === undefined
        ? DEFAULT_MISFIRE.thresholdMs
        : Math.floor(checkMs('misfire.thresholdMs', misfire.thresholdMs)),
    maxFires:
      misfire.maxFires === undefined
        ? DEFAULT_MISFIRE.maxFires
        : checkInteger('misfire.maxFires', misfire.maxFires, 1, MAX_FIRES_LIMIT),
  };
}

function buildRunTemplate(
  job: AnyJob,
  runOptions: unknown,
  scheduleName: string,
  maxPayloadBytes: number,
): RunTemplate {
  assertPlainObject('runOptions', runOptions);
  assertKnownKeys(runOptions, RUN_OPTION_KEYS, 'runOptions.', ' of a schedule');
  const options = runOptions as ScheduleRunOptions;
  if (options.metadata !== undefined && SCHEDULE_METADATA_KEY in options.metadata) {
    throw new InvalidOptionError(
      `runOptions.metadata.${SCHEDULE_METADATA_KEY}`,
      options.metadata[SCHEDULE_METADATA_KEY],
      `no "${SCHEDULE_METADATA_KEY}" key, which each run of a schedule uses for the schedule ` +
        'name and occurrence time',
    );
  }

  const resolved = resolveEnqueueOptions(job, options);
  const template: RunTemplate = {
    queue: resolved.queue,
    priority: resolved.priority,
    maxAttempts: resolved.maxAttempts,
    historyLevel: resolved.historyLevel,
  };
  if (resolved.partitionKey !== undefined) template.partitionKey = resolved.partitionKey;
  if (resolved.tenantId !== undefined) template.tenantId = resolved.tenantId;
  const metadata = buildStoredMetadata(resolved.metadata, resolved.settings);
  if (metadata !== undefined) {
    serializePayload(metadata, {
      what: `Run metadata of schedule "${scheduleName}"`,
      root: 'runOptions.metadata',
      maxBytes: maxPayloadBytes,
    });
    template.metadata = metadata;
  }
  return template;
}

/**
 * Joins a schedule's key into one string, for maps of the scheduler. Tenant ids never contain
 * `/`, so the first `/` ends the tenant part and two keys are equal only for the same schedule.
 */
export function scheduleKeyString(key: ScheduleKey): string {
  return `${key.tenantId ?? ''}/${key.name}`;
}

/** Reads stored options; throws an Error naming the schedule when they are unreadable. */
export function parseStoredOptions(record: ScheduleRecord): StoredScheduleOptions {
  let parsed: unknown;
  try {
    parsed = JSON.parse(record.options);
  } catch {
    parsed = null;
  }
  const options = parsed as Partial<StoredScheduleOptions> | null;
  if (
    typeof options !== 'object' ||
    options === null ||
    options.version !== 1 ||
    typeof options.run !== 'object' ||
    typeof options.misfire !== 'object'
  ) {
    throw new Error(
      `Schedule "${record.name}" has stored options this version of ZapJobs cannot read; ` +
        'upsert the schedule again to rewrite them.',
    );
  }
  return options as StoredScheduleOptions;
}

/** Timing of a stored schedule. */
export function timingOf(record: ScheduleRecord): ScheduleTiming {
  return { cron: record.cron, everyMs: record.intervalMs, timezone: record.timezone };
}

/** Decodes a stored schedule for the public API. */
export function decodeSchedule(record: ScheduleRecord): Schedule {
  const options = parseStoredOptions(record);
  return {
    name: record.name,
    job: record.job,
    input: JSON.parse(record.input) as unknown,
    cron: record.cron,
    everyMs: record.intervalMs,
    timezone: record.timezone,
    paused: record.paused,
    nextFireAt: record.nextFireAt === null ? null : new Date(record.nextFireAt),
    lastFireAt: record.lastFireAt === null ? null : new Date(record.lastFireAt),
    misfire: { ...options.misfire },
    overlap: options.overlap,
    runOptions: options.runOptions,
    tenantId: record.tenantId,
    createdAt: new Date(record.createdAt),
    updatedAt: new Date(record.updatedAt),
  };
}

/** Tells whether a declaration changes when the schedule fires, so its next fire time resets. */
export function timingChanged(record: ScheduleRecord, timing: ScheduleTiming): boolean {
  return (
    record.nextFireAt === null ||
    record.cron !== timing.cron ||
    record.intervalMs !== timing.everyMs ||
    record.timezone !== timing.timezone
  );
}
