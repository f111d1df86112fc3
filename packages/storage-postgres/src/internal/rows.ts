import type {
  BurstUse,
  ClaimedRun,
  EventRecord,
  HistoryLevel,
  NewRun,
  RunRecord,
  RunState,
  ScheduleRecord,
  SerializedError,
  WorkerInfo,
} from '@zapjobs/core/storage';
import { isRunId, NO_RUN } from './run-ids.js';

/** A row of the runs table as pg returns it (bigint columns already parsed as numbers). */
export interface RunRow {
  id: string;
  job: string;
  queue: string;
  state: RunState;
  input: string;
  output: string | null;
  error: string | null;
  priority: number;
  attempt: number;
  max_attempts: number;
  run_at: number;
  created_at: number;
  started_at: number | null;
  first_started_at: number | null;
  finished_at: number | null;
  lease_token: string | null;
  lease_expires_at: number | null;
  worker_id: string | null;
  progress: string | null;
  group_id: string | null;
  partition_key: string | null;
  tenant_id: string | null;
  unique_key: string | null;
  trace_context: string | null;
  history_level: HistoryLevel;
  metadata: string | null;
}

export function toRunRecord(row: RunRow): RunRecord {
  return {
    id: row.id,
    job: row.job,
    queue: row.queue,
    state: row.state,
    input: row.input,
    output: row.output,
    error: row.error === null ? null : (JSON.parse(row.error) as SerializedError),
    priority: row.priority,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    runAt: row.run_at,
    createdAt: row.created_at,
    startedAt: row.started_at,
    firstStartedAt: row.first_started_at,
    finishedAt: row.finished_at,
    leaseExpiresAt: row.lease_expires_at,
    workerId: row.worker_id,
    progress: row.progress,
    groupId: row.group_id,
    partitionKey: row.partition_key,
    tenantId: row.tenant_id,
    uniqueKey: row.unique_key,
    traceContext: row.trace_context,
    historyLevel: row.history_level,
    metadata: row.metadata,
  };
}

/** The `bursts` of a run that every limit admitted within its normal caps. */
const NO_BURSTS: readonly BurstUse[] = Object.freeze([]);

/**
 * Columns of the claim statement, in its select order. The claim reads rows as arrays
 * (`rowMode: 'array'`), because that costs pg less than building an object per row.
 */
export const CLAIM_COLUMNS = [
  'id',
  'job',
  'queue',
  'input',
  'output',
  'error',
  'priority',
  'attempt',
  'max_attempts',
  'run_at',
  'created_at',
  'started_at',
  'first_started_at',
  'finished_at',
  'progress',
  'group_id',
  'partition_key',
  'tenant_id',
  'unique_key',
  'trace_context',
  'history_level',
  'metadata',
  'lease_token',
] as const;

/**
 * Maps a claim row read as an array in {@link CLAIM_COLUMNS} order, followed by the run's burst
 * uses (null when it has none), which the claim functions build in the contract's shape.
 * Every claim function sets the same three fields, so they are not read back: the state is
 * `running`, the worker is the claiming one, and the lease expires `leaseMs` after
 * `started_at`.
 */
export function claimedRunFromValues(
  values: readonly unknown[],
  workerId: string,
  leaseMs: number,
): ClaimedRun {
  const error = values[5] as string | null;
  const startedAt = values[11] as number;
  return {
    id: values[0] as string,
    job: values[1] as string,
    queue: values[2] as string,
    state: 'running',
    input: values[3] as string,
    output: values[4] as string | null,
    error: error === null ? null : (JSON.parse(error) as SerializedError),
    priority: values[6] as number,
    attempt: values[7] as number,
    maxAttempts: values[8] as number,
    runAt: values[9] as number,
    createdAt: values[10] as number,
    startedAt,
    firstStartedAt: values[12] as number | null,
    finishedAt: values[13] as number | null,
    leaseExpiresAt: startedAt + leaseMs,
    workerId,
    progress: values[14] as string | null,
    groupId: values[15] as string | null,
    partitionKey: values[16] as string | null,
    tenantId: values[17] as string | null,
    uniqueKey: values[18] as string | null,
    traceContext: values[19] as string | null,
    historyLevel: values[20] as HistoryLevel,
    metadata: values[21] as string | null,
    leaseToken: (values[22] as string | null) ?? '',
    bursts: (values[23] as BurstUse[] | null) ?? NO_BURSTS,
  };
}

/** Returns the position of a run in its claim: the number after the last dot of its lease token. */
function claimPosition(run: ClaimedRun): number {
  return Number(run.leaseToken.slice(run.leaseToken.lastIndexOf('.') + 1));
}

/**
 * Returns the runs of one claim in claim order. Every claim function ends a lease token with
 * the run's position in the claim, and the fast claim returns its rows in the order of its
 * update, which is usually that order already.
 */
export function inClaimOrder(runs: ClaimedRun[]): ClaimedRun[] {
  // Each token is parsed once: a claim of hundreds of runs would parse it again per comparison.
  const positions = runs.map(claimPosition);
  for (let i = 1; i < positions.length; i++) {
    if ((positions[i] as number) < (positions[i - 1] as number)) {
      const order = runs.map((_, index) => index);
      order.sort((a, b) => (positions[a] as number) - (positions[b] as number));
      return order.map((index) => runs[index] as ClaimedRun);
    }
  }
  return runs;
}

/**
 * Encodes strings as a PostgreSQL text array literal, for a `$n::text[]` parameter. Every
 * element is quoted, so spaces, commas and the word NULL stay text, and only an element with a
 * quote or a backslash needs escaping. It replaces pg's own array encoding, which runs two
 * regular expressions over every element, in the statements that send a batch of leases.
 */
export function textArray(values: readonly string[]): string {
  if (values.length === 0) return '{}';
  let plain = true;
  for (let i = 0; i < values.length && plain; i++) {
    const value = values[i] as string;
    plain = value.indexOf('"') < 0 && value.indexOf('\\') < 0;
  }
  // One join builds the literal as a flat string, where appending element by element left a
  // chain of partial strings for the garbage collector.
  if (plain) return `{"${values.join('","')}"}`;
  const quoted = values.map(
    (value) => `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`,
  );
  return `{${quoted.join(',')}}`;
}

/** Encodes booleans as a PostgreSQL array literal, for a `$n::boolean[]` parameter. */
export function booleanArray(values: readonly boolean[]): string {
  return `{${values.map((value) => (value ? 't' : 'f')).join(',')}}`;
}

/**
 * Encodes runs for the insert functions: one JSON object per run, keyed by column name.
 * Absent optional fields are left out, so they arrive as SQL nulls.
 */
export function encodeNewRuns(runs: readonly NewRun[]): string {
  return JSON.stringify(
    runs.map((run) => ({
      id: run.id,
      job: run.job,
      queue: run.queue,
      input: run.input,
      priority: run.priority,
      max_attempts: run.maxAttempts,
      run_at: wholeMs(run.runAt),
      delay_ms: wholeMs(run.delayMs),
      group_id: run.groupId,
      partition_key: run.partitionKey,
      tenant_id: run.tenantId,
      trace_context: run.traceContext,
      history_level: run.historyLevel,
      metadata: run.metadata,
      unique_key: run.unique?.key,
      unique_release_on: run.unique?.releaseOn,
      unique_ttl_ms: wholeMs(run.unique?.ttlMs),
      unique_on_conflict: run.unique?.onConflict,
      depends_on:
        run.dependsOn === undefined || run.dependsOn.length === 0
          ? undefined
          : run.dependsOn.map((dependency) => ({
              run_id: isRunId(dependency.runId) ? dependency.runId : NO_RUN,
              condition: dependency.condition,
              pass_output: dependency.passOutput === true,
            })),
    })),
  );
}

/** Rounds a millisecond value down to an integer for a bigint column; undefined stays absent. */
export function wholeMs(value: number | undefined): number | undefined {
  return value === undefined ? undefined : Math.floor(value);
}

export interface EventRow {
  id: number;
  run_id: string;
  group_id: string | null;
  tenant_id: string | null;
  type: string;
  at: number;
  attempt: number | null;
  data: string | null;
}

export function toEventRecord(row: EventRow): EventRecord {
  return {
    id: String(row.id),
    runId: row.run_id,
    groupId: row.group_id,
    tenantId: row.tenant_id,
    type: row.type,
    at: row.at,
    attempt: row.attempt,
    data: row.data,
  };
}

export interface ScheduleRow {
  name: string;
  job: string;
  input: string;
  cron: string | null;
  interval_ms: number | null;
  timezone: string | null;
  paused: boolean;
  next_fire_at: number | null;
  last_fire_at: number | null;
  options: string;
  tenant_id: string | null;
  created_at: number;
  updated_at: number;
}

export function toScheduleRecord(row: ScheduleRow): ScheduleRecord {
  return {
    name: row.name,
    job: row.job,
    input: row.input,
    cron: row.cron,
    intervalMs: row.interval_ms,
    timezone: row.timezone,
    paused: row.paused,
    nextFireAt: row.next_fire_at,
    lastFireAt: row.last_fire_at,
    options: row.options,
    tenantId: row.tenant_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export interface WorkerRow {
  id: string;
  hostname: string;
  pid: number;
  queues: string[];
  concurrency: number;
  started_at: number;
  last_seen_at: number;
}

export function toWorkerInfo(row: WorkerRow): WorkerInfo {
  return {
    id: row.id,
    hostname: row.hostname,
    pid: row.pid,
    queues: row.queues,
    concurrency: row.concurrency,
    startedAt: row.started_at,
    lastSeenAt: row.last_seen_at,
  };
}

/** Returns a state-keyed record with every state at zero, to fill in from grouped counts. */
export function emptyCounts(): Record<RunState, number> {
  return {
    waiting: 0,
    scheduled: 0,
    available: 0,
    running: 0,
    suspended: 0,
    completed: 0,
    failed: 0,
    cancelled: 0,
  };
}
