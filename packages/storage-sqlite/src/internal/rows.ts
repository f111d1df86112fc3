import type {
  HistoryLevel,
  RunRecord,
  RunState,
  ScheduleRecord,
  SerializedError,
} from '@zapjobs/core/storage';

/** A row of `zapjobs_runs` as better-sqlite3 returns it. */
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
  wake_at: number | null;
  wait_signal: string | null;
  /** 1 once a dependency edge names this run as its parent. */
  has_dependents: number;
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

/** Stores an error as JSON, keeping only the fields of {@link SerializedError}. */
export function encodeError(error: SerializedError): string {
  const stored: SerializedError = { name: error.name, message: error.message };
  if (error.code !== undefined) stored.code = error.code;
  if (error.stack !== undefined) stored.stack = error.stack;
  return JSON.stringify(stored);
}

/** A row of `zapjobs_schedules`. */
export interface ScheduleRow {
  name: string;
  job: string;
  input: string;
  cron: string | null;
  interval_ms: number | null;
  timezone: string | null;
  paused: number;
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
    paused: row.paused === 1,
    nextFireAt: row.next_fire_at,
    lastFireAt: row.last_fire_at,
    options: row.options,
    tenantId: row.tenant_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** True for the terminal states: completed, failed and cancelled. */
export function isTerminal(state: RunState): boolean {
  return state === 'completed' || state === 'failed' || state === 'cancelled';
}
