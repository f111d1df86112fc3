/**
 * History retention: purge finished runs past an age, and compact the history of the runs
 * that stay by dropping old log and progress events while keeping every lifecycle event.
 */
import { InvalidOptionError, NotSupportedError } from '../errors.js';
import {
  assertKnownKeys,
  assertPlainObject,
  checkInteger,
  checkMs,
  checkName,
} from '../internal/check.js';
import { callStorage } from '../internal/storage-call.js';
import {
  COMPACTION_KEPT_TYPES,
  type CompactEventsRequest,
  type RunState,
  type Storage,
} from '../storage/contract.js';

/**
 * A storage that deletes events by type and age: `Storage.compactEvents`, which the contract
 * leaves optional. Every built-in backend has it; on another, compaction is rejected with
 * NotSupportedError.
 */
export interface EventCompaction {
  /** See `Storage.compactEvents`. */
  compactEvents(request: CompactEventsRequest): Promise<number>;
}

/** Options of `history.compact`. */
export interface CompactOptions {
  /** Drops matching events older than this many milliseconds, on the storage clock. */
  olderThanMs: number;
  /**
   * Event types to drop. Default `['log', 'progress']`. Lifecycle types other than
   * `progress` are rejected, because replay and timelines need them.
   */
  types?: readonly string[];
  /** Most events one storage call deletes, from 1 to 100,000. Default 1,000. */
  batchSize?: number;
}

/** Options of `history.applyRetention`. */
export interface RetentionPolicy {
  /**
   * Purges runs that finished more than this many milliseconds ago, with their events, state
   * and dependency edges, per terminal state. A state left out is kept forever.
   */
  runs?: { completedMs?: number; failedMs?: number; cancelledMs?: number };
  /** Compacts the history of the runs that remain; see {@link CompactOptions}. */
  events?: Omit<CompactOptions, 'batchSize'>;
  /** Most runs or events one storage call deletes, from 1 to 100,000. Default 1,000. */
  batchSize?: number;
}

/** What a retention pass deleted. */
export interface RetentionResult {
  purgedRuns: number;
  compactedEvents: number;
}

const DEFAULT_BATCH_SIZE = 1_000;
const MAX_BATCH_SIZE = 100_000;
const DEFAULT_COMPACT_TYPES: readonly string[] = ['log', 'progress'];
const RUN_AGE_KEYS = {
  completedMs: 'completed',
  failedMs: 'failed',
  cancelledMs: 'cancelled',
} as const;

interface ResolvedCompaction {
  olderThanMs: number;
  types: readonly string[];
}

/** Checks the options of `history.compact`. */
export function checkCompactOptions(options: unknown, path = ''): ResolvedCompaction {
  assertPlainObject(path === '' ? 'options' : path.slice(0, -1), options);
  const allowed = path === '' ? ['olderThanMs', 'types', 'batchSize'] : ['olderThanMs', 'types'];
  assertKnownKeys(options, allowed, path, ' of the compaction');
  const value = options as CompactOptions;
  if (value.olderThanMs === undefined) {
    throw new InvalidOptionError(`${path}olderThanMs`, undefined, 'a number of milliseconds');
  }
  const olderThanMs = checkMs(`${path}olderThanMs`, value.olderThanMs);
  const types = value.types ?? DEFAULT_COMPACT_TYPES;
  if (!Array.isArray(types) || types.length === 0) {
    throw new InvalidOptionError(`${path}types`, types, 'a non-empty array of event types');
  }
  types.forEach((type: unknown, index) => {
    const name = checkName(`${path}types[${index}]`, type);
    if ((COMPACTION_KEPT_TYPES as readonly string[]).includes(name)) {
      throw new InvalidOptionError(
        `${path}types[${index}]`,
        name,
        'a type other than the lifecycle types, which compaction keeps (only "progress" may go)',
      );
    }
  });
  return { olderThanMs, types };
}

function checkBatchSize(value: unknown): number {
  return value === undefined
    ? DEFAULT_BATCH_SIZE
    : checkInteger('batchSize', value, 1, MAX_BATCH_SIZE);
}

function compactionOf(storage: Storage): EventCompaction | null {
  const candidate = storage as Partial<EventCompaction>;
  return typeof candidate.compactEvents === 'function' ? (candidate as EventCompaction) : null;
}

function requireCompaction(storage: Storage): EventCompaction {
  const compaction = compactionOf(storage);
  if (compaction === null) {
    throw new NotSupportedError(
      storage.name,
      'compact event history',
      'compactEvents({ types, before, limit }), an optional method of the storage contract. ' +
        'Purge whole finished runs with applyRetention({ runs }) instead',
    );
  }
  return compaction;
}

/** Deletes old events of the given types in batches; returns how many went. */
export async function compactEvents(storage: Storage, options: CompactOptions): Promise<number> {
  const resolved = checkCompactOptions(options);
  const batchSize = checkBatchSize(options.batchSize);
  const compaction = requireCompaction(storage);
  return runCompaction(storage, compaction, resolved, batchSize);
}

async function runCompaction(
  storage: Storage,
  compaction: EventCompaction,
  options: ResolvedCompaction,
  batchSize: number,
): Promise<number> {
  const now = await callStorage(storage, 'now', () => storage.now());
  const before = now - options.olderThanMs;
  let total = 0;
  for (;;) {
    const deleted = await callStorage(storage, 'compactEvents', () =>
      compaction.compactEvents({ types: options.types, before, limit: batchSize }),
    );
    total += deleted;
    if (deleted < batchSize) return total;
  }
}

/** Applies a retention policy once: purges old finished runs, then compacts events. */
export async function applyRetention(
  storage: Storage,
  policy: RetentionPolicy,
): Promise<RetentionResult> {
  assertPlainObject('policy', policy);
  assertKnownKeys(policy, ['runs', 'events', 'batchSize'], '', ' of applyRetention');
  const batchSize = checkBatchSize(policy.batchSize);
  const ages = checkRunAges(policy.runs);
  const compaction =
    policy.events === undefined ? null : checkCompactOptions(policy.events, 'events.');
  // Checked before anything is deleted, so an unsupported policy changes nothing.
  const compactor = compaction === null ? null : requireCompaction(storage);

  let purgedRuns = 0;
  if (ages.length > 0) {
    const now = await callStorage(storage, 'now', () => storage.now());
    for (const [state, ageMs] of ages) {
      purgedRuns += await purgeState(storage, state, now - ageMs, batchSize);
    }
  }
  const compactedEvents =
    compaction === null || compactor === null
      ? 0
      : await runCompaction(storage, compactor, compaction, batchSize);
  return { purgedRuns, compactedEvents };
}

function checkRunAges(runs: unknown): [RunState, number][] {
  if (runs === undefined) return [];
  assertPlainObject('runs', runs);
  assertKnownKeys(runs, Object.keys(RUN_AGE_KEYS), 'runs.', ' of the retention policy');
  const ages: [RunState, number][] = [];
  for (const [key, state] of Object.entries(RUN_AGE_KEYS)) {
    const value = (runs as Record<string, unknown>)[key];
    if (value !== undefined) ages.push([state, checkMs(`runs.${key}`, value)]);
  }
  return ages;
}

async function purgeState(
  storage: Storage,
  state: RunState,
  finishedBefore: number,
  limit: number,
): Promise<number> {
  let total = 0;
  for (;;) {
    const purged = await callStorage(storage, 'purgeRuns', () =>
      storage.purgeRuns({ states: [state], finishedBefore, limit }),
    );
    total += purged;
    if (purged < limit) return total;
  }
}
