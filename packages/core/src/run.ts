/**
 * Public shapes of the client API: enqueue options, decoded runs and events.
 *
 * Glossary, used with the same meaning in every ZapJobs package:
 * - job: a definition (name, input and output schemas, handler, defaults).
 * - run: one enqueued instance of a job, with its own id and state.
 * - attempt: one execution of a run by a worker; a run has one or more.
 * - queue: a named lane that workers take runs from, in the order a worker lists its queues.
 * - lease: a worker's time-limited claim on a running attempt, extended by heartbeats.
 * - partition key: a value on a run that per-partition limits are applied to.
 * - event: one immutable entry in a run's history.
 */
import type { UniqueOptions } from './flow/unique.js';
import type { BackoffOptions } from './job.js';
import type {
  DependencyCondition,
  HistoryLevel,
  RunState,
  SerializedError,
} from './storage/contract.js';

/** A parent run that a new run waits for. */
export interface Dependency {
  /** Id of the parent run. An unknown id makes the new run `cancelled`. */
  runId: string;
  /** Parent outcome to wait for: `success` (the default), `failure` or `always`. */
  condition?: DependencyCondition;
  /** Replace the new run's input with the parent's output when it is released. Default false. */
  passOutput?: boolean;
}

/** Options of one enqueue. Each overrides the job's default of the same name. */
export interface EnqueueOptions {
  /** Queue the run goes to. Default: the job's `defaults.queue`, else `default`. */
  queue?: string;
  /** Integer from -2^31 to 2^31-1; higher runs are claimed first within a queue. Default 0. */
  priority?: number;
  /** Total executions allowed, counting the first; an integer of at least 1. Default 3. */
  attempts?: number;
  /** Delay before each retry. A `custom` backoff can only be set in the job's defaults. */
  backoff?: BackoffOptions;
  /** Milliseconds after which the handler's signal aborts and the attempt fails. Default none. */
  timeoutMs?: number;
  /** Milliseconds to wait before the run is due, measured on the storage's clock. Default 0. */
  delayMs?: number;
  /** Absolute time the run is due, compared with the storage's clock. Excludes `delayMs`. */
  runAt?: Date;
  /**
   * Deduplication key, unique per job for as long as the run is stored: a second enqueue with
   * the same key returns the first run's id with `created: false` and changes nothing.
   */
  idempotencyKey?: string;
  /**
   * Deduplication per job by key, until the run starts, until it finishes, for a throttle
   * window, or with debouncing. Excludes `idempotencyKey`. See {@link UniqueOptions}.
   */
  unique?: UniqueOptions;
  /**
   * Parent runs to wait for; the run stays `waiting` until their conditions are decided. When
   * a parent passes its output, the `input` given here is replaced by that output and is not
   * checked at enqueue; the worker checks the output against this job's input schema instead.
   */
  dependsOn?: readonly Dependency[];
  /** Group (batch or workflow instance) the run belongs to. */
  groupId?: string;
  /** Value that per-partition limits apply to, such as a customer id. */
  partitionKey?: string;
  /** Tenant that owns the run. */
  tenantId?: string;
  /** Application data stored with the run; a plain object that follows the serialization rule. */
  metadata?: Record<string, unknown>;
  /** History the run records: `full` (default), `lifecycle` or `off`. */
  historyLevel?: HistoryLevel;
  /** Deletes the run when it completes; see `JobDefaults.removeOnComplete`. */
  removeOnComplete?: boolean;
  /** A backend-specific transaction to enqueue in, such as a `pg` client inside BEGIN. */
  transaction?: unknown;
}

/** Result of an enqueue. */
export interface EnqueueResult {
  /** Id of the new run, or of the existing run that has the idempotency key. */
  runId: string;
  /** False when the idempotency key or unique key matched an existing run. */
  created: boolean;
  /** True when a `debounce` unique key replaced the pending run's input and due time. */
  replaced: boolean;
  /** State of the run right after the enqueue. */
  state: RunState;
}

/** A run as the client returns it: payloads parsed and times as Dates. */
export interface Run<I = unknown, O = unknown> {
  id: string;
  job: string;
  queue: string;
  state: RunState;
  input: I;
  /** Output of the completed attempt; null until the run completes. */
  output: O | null;
  /** Error of the latest failed attempt. */
  error: SerializedError | null;
  priority: number;
  /** Attempts started so far; 0 before the first claim. */
  attempt: number;
  maxAttempts: number;
  runAt: Date;
  createdAt: Date;
  startedAt: Date | null;
  firstStartedAt: Date | null;
  finishedAt: Date | null;
  /** Last value passed to `ctx.progress`, or null. */
  progress: unknown;
  groupId: string | null;
  partitionKey: string | null;
  tenantId: string | null;
  /** The `metadata` passed at enqueue, or null. */
  metadata: Record<string, unknown> | null;
  /** Id of the worker holding or last holding the lease, or null. */
  workerId: string | null;
  historyLevel: HistoryLevel;
}

/** One entry of a run's history, decoded. */
export interface RunEvent {
  /** Sort key, monotonic per storage. */
  id: string;
  runId: string;
  groupId: string | null;
  tenantId: string | null;
  /** A lifecycle type such as `started`, or `log`, `checkpoint` or a plugin's type. */
  type: string;
  at: Date;
  attempt: number | null;
  /** Parsed event data, or null. */
  data: unknown;
}

/** Filter and page of {@link ZapJobs.listRuns}. */
export interface ListRunsOptions {
  states?: readonly RunState[];
  queue?: string;
  job?: string;
  groupId?: string;
  tenantId?: string;
  partitionKey?: string;
  /** Page size from 1 to 1000. Default 100. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
  /** `desc` (newest first, the default) or `asc`. */
  order?: 'asc' | 'desc';
}

/** Filter of {@link ZapJobs.countRuns}. */
export type CountRunsOptions = Omit<ListRunsOptions, 'limit' | 'cursor' | 'order' | 'states'>;

/** Filter and page of {@link ZapJobs.listEvents}, oldest event first. */
export interface ListEventsOptions {
  runId?: string;
  groupId?: string;
  types?: readonly string[];
  /** Events at or after this time. */
  since?: Date;
  /** Events before this time. */
  until?: Date;
  /** Only events of runs of this tenant. */
  tenantId?: string;
  /** Page size from 1 to 1000. Default 100. */
  limit?: number;
  cursor?: string;
}
