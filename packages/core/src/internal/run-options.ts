/**
 * Checks of enqueue options and job defaults, and the settings a run carries to its worker.
 */
import { InvalidOptionError } from '../errors.js';
import type { AnyJob, BackoffOptions, JobDefaults } from '../job.js';
import type { Dependency, EnqueueOptions } from '../run.js';
import type { HistoryLevel, NewDependency } from '../storage/contract.js';
import { checkTenantId } from '../tenancy/tenant-id.js';
import { checkBackoff } from './backoff.js';
import {
  assertKnownKeys,
  assertPlainObject,
  checkBoolean,
  checkInteger,
  checkMs,
  checkName,
  checkOneOf,
  checkRunId,
  MAX_TIMER_MS,
} from './check.js';

const HISTORY_LEVELS: readonly HistoryLevel[] = ['full', 'lifecycle', 'off'];
const MIN_PRIORITY = -2_147_483_648;
const MAX_PRIORITY = 2_147_483_647;
const MAX_ATTEMPTS = 1_000_000;
/** Reserved metadata key under which a run carries its own backoff and timeout. */
export const SETTINGS_KEY = '$zapjobs';

const ENQUEUE_KEYS = [
  'queue',
  'priority',
  'attempts',
  'backoff',
  'timeoutMs',
  'delayMs',
  'runAt',
  'idempotencyKey',
  'unique',
  'dependsOn',
  'groupId',
  'partitionKey',
  'tenantId',
  'metadata',
  'historyLevel',
  'removeOnComplete',
  'transaction',
] as const;

const DEFAULT_KEYS = [
  'queue',
  'priority',
  'attempts',
  'backoff',
  'timeoutMs',
  'historyLevel',
  'removeOnComplete',
] as const;

/** Settings a run stores for its worker when enqueue options override the job's defaults. */
export interface RunSettings {
  backoff?: BackoffOptions;
  timeoutMs?: number;
  /** Set when a parent passes its output as the run's input, which the worker then checks. */
  inputFromParent?: boolean;
  removeOnComplete?: boolean;
}

/** Enqueue options after checks, with the job's defaults applied. */
export interface ResolvedEnqueueOptions {
  queue: string;
  priority: number;
  maxAttempts: number;
  delayMs?: number;
  runAt?: number;
  idempotencyKey?: string;
  dependsOn?: NewDependency[];
  groupId?: string;
  partitionKey?: string;
  tenantId?: string;
  metadata?: Record<string, unknown>;
  historyLevel: HistoryLevel;
  settings: RunSettings;
  transaction?: unknown;
}

/** Checks a job definition's defaults; throws InvalidOptionError naming the job. */
export function checkJobDefaults(job: AnyJob): void {
  const defaults: unknown = job.defaults;
  if (defaults === undefined) return;
  const prefix = `defaults.`;
  const context = ` of job "${job.name}"`;
  assertPlainObject(`defaults${context}`, defaults);
  assertKnownKeys(defaults, DEFAULT_KEYS, prefix, context);
  const value = defaults as JobDefaults;
  const name = (key: string) => `${prefix}${key}${context}`;
  if (value.queue !== undefined) checkName(name('queue'), value.queue);
  if (value.priority !== undefined)
    checkInteger(name('priority'), value.priority, MIN_PRIORITY, MAX_PRIORITY);
  if (value.attempts !== undefined) checkInteger(name('attempts'), value.attempts, 1, MAX_ATTEMPTS);
  if (value.backoff !== undefined) checkBackoff(name('backoff'), value.backoff, true);
  if (value.timeoutMs !== undefined) checkMs(name('timeoutMs'), value.timeoutMs, 1, MAX_TIMER_MS);
  if (value.historyLevel !== undefined) {
    checkOneOf(name('historyLevel'), value.historyLevel, HISTORY_LEVELS);
  }
  if (value.removeOnComplete !== undefined) {
    checkBoolean(name('removeOnComplete'), value.removeOnComplete);
  }
}

/** Checks enqueue options and applies the job's defaults. */
export function resolveEnqueueOptions(
  job: AnyJob,
  options: EnqueueOptions | undefined,
): ResolvedEnqueueOptions {
  const defaults = job.defaults ?? {};
  if (options === undefined) {
    return {
      queue: defaults.queue ?? 'default',
      priority: defaults.priority ?? 0,
      maxAttempts: defaults.attempts ?? 3,
      historyLevel: defaults.historyLevel ?? 'full',
      settings: {},
    };
  }

  assertPlainObject('options', options);
  assertKnownKeys(options, ENQUEUE_KEYS, '', ' of enqueue');
  const o = options;
  const settings: RunSettings = {};
  if (o.backoff !== undefined) settings.backoff = checkBackoff('backoff', o.backoff, false);
  if (o.timeoutMs !== undefined)
    settings.timeoutMs = checkMs('timeoutMs', o.timeoutMs, 1, MAX_TIMER_MS);
  if (o.removeOnComplete !== undefined) {
    settings.removeOnComplete = checkBoolean('removeOnComplete', o.removeOnComplete);
  }

  const resolved: ResolvedEnqueueOptions = {
    queue: o.queue === undefined ? (defaults.queue ?? 'default') : checkName('queue', o.queue),
    priority:
      o.priority === undefined
        ? (defaults.priority ?? 0)
        : checkInteger('priority', o.priority, MIN_PRIORITY, MAX_PRIORITY),
    maxAttempts:
      o.attempts === undefined
        ? (defaults.attempts ?? 3)
        : checkInteger('attempts', o.attempts, 1, MAX_ATTEMPTS),
    historyLevel:
      o.historyLevel === undefined
        ? (defaults.historyLevel ?? 'full')
        : checkOneOf('historyLevel', o.historyLevel, HISTORY_LEVELS),
    settings,
  };

  if (o.delayMs !== undefined && o.runAt !== undefined) {
    throw new InvalidOptionError('runAt', o.runAt, 'no runAt when delayMs is set; set only one');
  }
  if (o.delayMs !== undefined) resolved.delayMs = Math.ceil(checkMs('delayMs', o.delayMs));
  if (o.runAt !== undefined) resolved.runAt = checkDate('runAt', o.runAt);
  if (o.idempotencyKey !== undefined) {
    resolved.idempotencyKey = checkName('idempotencyKey', o.idempotencyKey);
  }
  if (o.dependsOn !== undefined) resolved.dependsOn = checkDependencies(o.dependsOn);
  if (resolved.dependsOn?.some((dependency) => dependency.passOutput)) {
    settings.inputFromParent = true;
  }
  if (o.groupId !== undefined) resolved.groupId = checkName('groupId', o.groupId);
  if (o.partitionKey !== undefined)
    resolved.partitionKey = checkName('partitionKey', o.partitionKey);
  if (o.tenantId !== undefined) resolved.tenantId = checkTenantId('tenantId', o.tenantId);
  if (o.metadata !== undefined) resolved.metadata = checkMetadata(o.metadata);
  if (o.transaction !== undefined) resolved.transaction = o.transaction;
  return resolved;
}

function checkDate(name: string, value: unknown): number {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new InvalidOptionError(name, value, 'a valid Date');
  }
  return value.getTime();
}

function checkDependencies(value: unknown): NewDependency[] {
  if (!Array.isArray(value)) {
    throw new InvalidOptionError(
      'dependsOn',
      value,
      'an array of { runId, condition?, passOutput? }',
    );
  }
  const result: NewDependency[] = [];
  const seen = new Set<string>();
  let passOutputIndex = -1;
  value.forEach((item: unknown, index) => {
    const name = `dependsOn[${index}]`;
    assertPlainObject(name, item);
    assertKnownKeys(item, ['runId', 'condition', 'passOutput'], `${name}.`, '');
    const dependency = item as Dependency;
    const runId = checkRunId(`${name}.runId`, dependency.runId);
    if (seen.has(runId)) {
      throw new InvalidOptionError(`${name}.runId`, runId, 'each parent run to be listed once');
    }
    seen.add(runId);
    const condition =
      dependency.condition === undefined
        ? 'success'
        : checkOneOf(`${name}.condition`, dependency.condition, ['success', 'failure', 'always']);
    const edge: NewDependency = { runId, condition };
    if (
      dependency.passOutput !== undefined &&
      checkBoolean(`${name}.passOutput`, dependency.passOutput)
    ) {
      if (passOutputIndex !== -1) {
        throw new InvalidOptionError(
          `${name}.passOutput`,
          true,
          `false, because dependsOn[${passOutputIndex}] already passes its output`,
        );
      }
      passOutputIndex = index;
      edge.passOutput = true;
    }
    result.push(edge);
  });
  return result;
}

function checkMetadata(value: unknown): Record<string, unknown> {
  const prototype =
    typeof value === 'object' && value !== null ? Object.getPrototypeOf(value) : undefined;
  if (prototype !== Object.prototype && prototype !== null) {
    throw new InvalidOptionError('metadata', value, 'a plain object');
  }
  const metadata = value as Record<string, unknown>;
  if (SETTINGS_KEY in metadata) {
    throw new InvalidOptionError(
      `metadata.${SETTINGS_KEY}`,
      metadata[SETTINGS_KEY],
      `no "${SETTINGS_KEY}" key, which ZapJobs reserves for its own run settings`,
    );
  }
  return metadata;
}

/**
 * Builds the stored metadata object: the application's metadata plus, under
 * {@link SETTINGS_KEY}, the run settings that override the job's defaults.
 */
export function buildStoredMetadata(
  metadata: Record<string, unknown> | undefined,
  settings: RunSettings,
): Record<string, unknown> | undefined {
  const hasSettings =
    settings.backoff !== undefined ||
    settings.timeoutMs !== undefined ||
    settings.removeOnComplete !== undefined ||
    settings.inputFromParent === true;
  if (!hasSettings) return metadata;
  return { ...(metadata ?? {}), [SETTINGS_KEY]: settings };
}

/** Splits stored metadata into the application's part and the run settings. */
export function splitStoredMetadata(stored: unknown): {
  metadata: Record<string, unknown> | null;
  settings: RunSettings;
} {
  if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) {
    return { metadata: null, settings: {} };
  }
  const { [SETTINGS_KEY]: settings, ...rest } = stored as Record<string, unknown>;
  if (settings === undefined) return { metadata: rest, settings: {} };
  const metadata = Object.keys(rest).length > 0 ? rest : null;
  return { metadata, settings: (settings ?? {}) as RunSettings };
}
