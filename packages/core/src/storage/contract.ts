/**
 * The storage contract: the primitives every ZapJobs backend implements.
 *
 * Core owns every business rule (retry policy, backoff, misfire policy, what a job's input
 * means); a backend only executes the primitives below atomically and reports what happened.
 * Every backend runs the conformance suite exported from `@zapjobs/core/testing`.
 *
 * Conventions that hold for every method:
 * - Times are epoch milliseconds on the storage's clock. Relative times (`delayMs`,
 *   `leaseMs`) are added to the storage's clock by the backend, never to the caller's, so
 *   clock skew between worker machines does no harm.
 * - Payloads (`input`, `output`, state values, event data) are strings that core has already
 *   serialized and size-checked. A backend stores them byte for byte and never parses them.
 * - Every state transition appends its lifecycle event (see {@link LifecycleEventType}) in the
 *   same atomic operation as the change, unless the run's `historyLevel` is `off`.
 * - Batch methods return one result per request item, in request order.
 * - A backend throws only for infrastructure failures (connection lost, disk full). Expected
 *   outcomes such as a lost lease or an unknown run id are return values. The exceptions are
 *   the tenancy rejections of `insertRuns` (see {@link Storage.insertRuns}), which abort the
 *   whole call.
 */

import type {
  FairnessSpec,
  TenantPurgeResult,
  TenantQuery,
  TenantRecord,
  TenantStatusChange,
  TenantUpsert,
} from './tenancy-contract.js';

export * from './tenancy-contract.js';

/**
 * Run states.
 *
 * - `waiting`: parents (dependencies) have not all finished.
 * - `scheduled`: due at `runAt` (delayed, or waiting for a retry's backoff).
 * - `available`: due now; a worker may claim it.
 * - `running`: a worker holds a lease on the current attempt.
 * - `suspended`: parked by its handler until a time or a signal; holds no lease.
 * - `completed`, `failed` (dead letter), `cancelled`: terminal.
 */
export type RunState =
  | 'waiting'
  | 'scheduled'
  | 'available'
  | 'running'
  | 'suspended'
  | 'completed'
  | 'failed'
  | 'cancelled';

export const RUN_STATES: readonly RunState[] = [
  'waiting',
  'scheduled',
  'available',
  'running',
  'suspended',
  'completed',
  'failed',
  'cancelled',
];

export const TERMINAL_STATES: readonly RunState[] = ['completed', 'failed', 'cancelled'];

/** How much history a run records: every event, lifecycle transitions only, or nothing. */
export type HistoryLevel = 'full' | 'lifecycle' | 'off';

/**
 * Event types that backends append themselves, inside the transition that causes them.
 *
 * `enqueued` (insert), `started` (claim), `completed`, `failed` (dead letter), `retrying`
 * (fail with a retry delay), `cancelled`, `stalled` (lease expired and reclaimed),
 * `released` (lease given back by a stopping worker), `suspended`, `resumed` (a suspended run
 * became available), `dependencies-met` (a waiting run's parents all finished),
 * `signal` (a signal was delivered), `progress` (progress reported; `full` history only).
 *
 * The `data` of each lifecycle event is exactly this JSON on every backend (object keys in
 * any order; `?` marks a key that is present only when it has a value):
 *
 * - `enqueued`: `null`.
 * - `started`: `{"workerId": string}`, the claiming worker.
 * - `completed`: `null` (the output is on the run).
 * - `failed`: `{"error": SerializedError}`, also for the last attempt of a stalled run.
 * - `retrying`: `{"error": SerializedError, "delayMs": number}` after a failed attempt, with
 *   the `retryDelayMs` that `fail` received. `{"manual": true}` with `attempt` 0 when
 *   `retryRuns` moved the run back from `failed` or `cancelled`.
 * - `cancelled`: `null` for `cancel`. `{"reason": "dependency"}` when a dependency condition
 *   can no longer be met or a parent does not exist (`listDependencies` names the parent).
 * - `stalled`: `{"workerId": string | null, "willRetry": boolean}`, the worker whose lease
 *   expired and whether attempts remain (when none remain, `failed` follows).
 * - `released`, `resumed`, `dependencies-met`: `null`.
 * - `suspended`: `{"wakeAt"?: number, "signal"?: string}`, the absolute wake-up time on the
 *   storage clock (with `wakeAfterMs` already added) and the awaited signal; `{}` when the
 *   run waits for neither.
 * - `signal`: `{"name": string}`. The payload is in state key `signal:<name>`.
 * - `progress`: the serialized progress, as given to `setProgress`.
 */
export type LifecycleEventType =
  | 'enqueued'
  | 'started'
  | 'completed'
  | 'failed'
  | 'retrying'
  | 'cancelled'
  | 'stalled'
  | 'released'
  | 'suspended'
  | 'resumed'
  | 'dependencies-met'
  | 'signal'
  | 'progress';

/** An error as stored on a run: plain data, so it survives any backend and process. */
export interface SerializedError {
  name: string;
  message: string;
  /** Stable code of a `ZapJobsError`, or the `code` property of another error, if any. */
  code?: string;
  stack?: string;
}

/** A condition a dependency waits for on its parent run. */
export type DependencyCondition = 'success' | 'failure' | 'always';

/** A parent that a new run waits on. */
export interface NewDependency {
  /** Id of the parent run. It must exist; an unknown id makes the child `cancelled`. */
  runId: string;
  /**
   * `success`: the parent completed. `failure`: the parent failed or was cancelled.
   * `always`: the parent reached any terminal state.
   */
  condition: DependencyCondition;
  /**
   * When true, the child's `input` is replaced by the parent's `output` at the moment the
   * child is released. At most one dependency of a run may set it.
   */
  passOutput?: boolean;
}

/**
 * Unique-key deduplication for an insert.
 *
 * Two runs may hold the same key at the same time only if one of them has released it. A run
 * releases its key at the point `releaseOn` names, or once `ttlMs` has passed since it took
 * the key.
 */
export interface UniqueSpec {
  key: string;
  /**
   * `never`: the key stays taken until the run is purged (idempotency keys).
   * `start`: released when the run is first claimed. `finish`: released when it reaches a
   * terminal state.
   */
  releaseOn: 'never' | 'start' | 'finish';
  /** Releases the key this many milliseconds after it was taken (throttling). */
  ttlMs?: number;
  /**
   * What happens when the key is taken. `ignore` keeps the existing run untouched.
   * `replace` overwrites the existing run's `input` (and `runAt` when the new run sets a time)
   * if the existing run is still `scheduled`, `available` or `waiting` (debouncing); a run that
   * has started is kept as it is.
   */
  onConflict: 'ignore' | 'replace';
}

/** A run to insert. Core generates `id` (time-ordered UUIDv7) and validates every field. */
export interface NewRun {
  id: string;
  job: string;
  queue: string;
  /** Serialized input. */
  input: string;
  /** Higher numbers are claimed first. An integer. */
  priority: number;
  /** Total executions allowed, counting the first. At least 1. */
  maxAttempts: number;
  /** Absolute due time on the storage clock. Takes precedence over `delayMs`. */
  runAt?: number;
  /** Due time relative to the storage clock at insert. Zero or absent means now. */
  delayMs?: number;
  unique?: UniqueSpec;
  dependsOn?: readonly NewDependency[];
  groupId?: string;
  partitionKey?: string;
  tenantId?: string;
  /** W3C trace context (`traceparent`, `tracestate`) serialized as JSON. */
  traceContext?: string;
  historyLevel: HistoryLevel;
  /** Serialized application metadata (JSON object), never parsed by the backend. */
  metadata?: string;
}

export interface InsertResult {
  /** Id of the new run, or of the existing run that has the unique key. */
  runId: string;
  /** False when a unique key matched an existing run. */
  created: boolean;
  /** True when `onConflict: 'replace'` overwrote the existing run's input. */
  replaced: boolean;
  /** State of the run `runId` names, right after the insert. */
  state: RunState;
}

/** A run as stored. */
export interface RunRecord {
  id: string;
  job: string;
  queue: string;
  state: RunState;
  input: string;
  output: string | null;
  /** Error of the latest failed attempt; a later successful attempt leaves it in place. */
  error: SerializedError | null;
  priority: number;
  /** Attempts started so far (0 before the first claim). */
  attempt: number;
  maxAttempts: number;
  /** When the run is or was due. */
  runAt: number;
  createdAt: number;
  /** Start of the latest attempt. */
  startedAt: number | null;
  /** Start of the first attempt, for enqueue-to-start latency. */
  firstStartedAt: number | null;
  finishedAt: number | null;
  leaseExpiresAt: number | null;
  workerId: string | null;
  /** Last reported progress, serialized. */
  progress: string | null;
  groupId: string | null;
  partitionKey: string | null;
  tenantId: string | null;
  uniqueKey: string | null;
  traceContext: string | null;
  historyLevel: HistoryLevel;
  metadata: string | null;
}

/** A lease on a running attempt: the run id and the token the claim returned. */
export interface LeaseRef {
  runId: string;
  leaseToken: string;
}

/** A run that a claim handed to a worker, with its lease. */
export interface ClaimedRun extends RunRecord {
  leaseToken: string;
  /**
   * The limits that admitted this run only thanks to their `burstMultiplier`: one entry per
   * limit and cap (concurrency or rate) that the run took past its normal value. Empty for a
   * run that every limit admitted within its normal caps, and always empty for a run claimed
   * in a claim's first pass (see {@link LimitSpec.burstMultiplier}). Tenant quotas such as
   * `maxConcurrentRuns` have no burst and never appear here.
   */
  bursts: readonly BurstUse[];
}

/** One limit that a claim let a run exceed, within the limit's burst capacity. */
export interface BurstUse {
  /** The limit as the claim applied it. */
  limit: LimitSpec;
  /** The cap the run went past: `concurrency`, or `rate.limit` in the current window. */
  kind: 'concurrency' | 'rate';
  /** The run's partition key for a `partition` limit; null for a queue or job limit. */
  partitionKey: string | null;
  /**
   * The limit's count once the run was admitted, the run included: runs `running` under it
   * for `concurrency`, claims inside the rate window for `rate`. Greater than the normal cap
   * and at most `floor(cap * burstMultiplier)`.
   */
  count: number;
}

export interface ClaimRequest {
  workerId: string;
  /** Queues in priority order: every due run of the first queue goes before the second's. */
  queues: readonly string[];
  /** Maximum number of runs to claim, usually the worker's free slots. At least 1. */
  limit: number;
  /** Lease length; the lease expires this long after the claim unless extended. */
  leaseMs: number;
}

export interface CompleteRequest extends LeaseRef {
  output: string;
  /**
   * Deletes the run once completed, with its events, state values and unique key, instead of
   * keeping it as `completed` (the run's `removeOnComplete`). A run that other runs depend on,
   * that belongs to a group, or that owns a unique key whose `ttlMs` has not passed (a
   * throttle) is completed and kept as usual. Either way the request counts as stored, and
   * listeners hear that the run completed.
   */
  remove?: boolean;
}

export interface FailRequest extends LeaseRef {
  error: SerializedError;
  /**
   * Milliseconds until the retry is due, or null to move the run to `failed` (dead letter).
   * Core decides; the backend does not look at `attempt` or `maxAttempts` here.
   */
  retryDelayMs: number | null;
}

export interface ReclaimedRun {
  runId: string;
  job: string;
  queue: string;
  /** The attempt whose lease expired. */
  attempt: number;
  maxAttempts: number;
  /** `available` when attempts remain, `failed` when the expired attempt was the last. */
  state: 'available' | 'failed';
  /** The run's tenant, for events and metrics; absent when the backend does not report it. */
  tenantId?: string | null;
}

export interface SuspendRequest extends LeaseRef {
  /** Wake at this absolute time on the storage clock. */
  wakeAt?: number;
  /** Wake this long after the storage clock's now. */
  wakeAfterMs?: number;
  /** Wake when a signal of this name is delivered. A signal that already arrived wakes at once. */
  signal?: string;
}

export interface CancelResult {
  /** False when the run was already terminal. */
  cancelled: boolean;
  /** State after the call. */
  state: RunState;
}

/** A parent edge of a run, with the parent's current state. */
export interface DependencyRecord {
  parentId: string;
  condition: DependencyCondition;
  passOutput: boolean;
  /** Null while the parent has not finished; then whether the condition was met. */
  satisfied: boolean | null;
  parentState: RunState;
}

/** Aggregate state of a group (a batch or a workflow instance). */
export interface GroupCounts {
  total: number;
  byState: Record<RunState, number>;
}

export interface NewEvent {
  runId: string;
  /** A lifecycle type or a core or plugin type such as `log` or `checkpoint`. */
  type: string;
  /** Serialized event data. */
  data?: string;
  attempt?: number;
}

export interface EventRecord {
  /** Monotonic per storage; use it as the sort key. */
  id: string;
  runId: string;
  groupId: string | null;
  tenantId: string | null;
  type: string;
  at: number;
  attempt: number | null;
  data: string | null;
}

export interface EventQuery {
  runId?: string;
  groupId?: string;
  types?: readonly string[];
  /** Inclusive lower bound on `at`. */
  since?: number;
  /** Exclusive upper bound on `at`. */
  until?: number;
  /** Only events of runs of this tenant. */
  tenantId?: string;
  limit: number;
  /** Cursor returned by the previous page. Events are returned oldest first. */
  cursor?: string;
}

/**
 * Lifecycle event types that event compaction never deletes: every one except `progress`.
 * Replay and timelines are rebuilt from them.
 */
export const COMPACTION_KEPT_TYPES: readonly LifecycleEventType[] = [
  'enqueued',
  'started',
  'completed',
  'failed',
  'retrying',
  'cancelled',
  'stalled',
  'released',
  'suspended',
  'resumed',
  'dependencies-met',
  'signal',
];

/** Selection of the events that {@link Storage.compactEvents} deletes. */
export interface CompactEventsRequest {
  /**
   * Event types to delete, such as `log` and `progress`. Never empty, and never a type of
   * {@link COMPACTION_KEPT_TYPES}.
   */
  types: readonly string[];
  /** Deletes only events whose `at` is before this time (exclusive), on the storage clock. */
  before: number;
  /** Maximum number of events to delete in this call, an integer from 1. */
  limit: number;
}

export interface RunFilter {
  states?: readonly RunState[];
  queue?: string;
  job?: string;
  groupId?: string;
  tenantId?: string;
  partitionKey?: string;
}

export interface PageRequest {
  /** Page size, 1 to 1000. */
  limit: number;
  cursor?: string;
  /** `desc` (newest first, the default) or `asc`, by run id, which is time-ordered. */
  order?: 'asc' | 'desc';
}

export interface Page<T> {
  items: T[];
  /** Pass back to get the next page; null on the last page. */
  nextCursor: string | null;
}

export interface PurgeRequest {
  /** Terminal states to purge. */
  states: readonly RunState[];
  /** Purge runs that finished before this absolute time. */
  finishedBefore: number;
  /** Maximum number of runs to delete in one call. */
  limit: number;
}

/**
 * Identity of a schedule. Names are unique per tenant: each tenant id, and null for schedules
 * without a tenant, is a namespace of its own, so two tenants can both have a schedule `daily`.
 */
export interface ScheduleKey {
  name: string;
  tenantId: string | null;
}

/**
 * A recurring trigger, as stored. Core computes fire times; the backend stores them. Its
 * `name` and `tenantId` together are its {@link ScheduleKey}.
 */
export interface ScheduleRecord {
  name: string;
  job: string;
  /** Serialized input for each run it creates. */
  input: string;
  cron: string | null;
  intervalMs: number | null;
  timezone: string | null;
  paused: boolean;
  /** Next occurrence still to fire, or null when the schedule never fires again. */
  nextFireAt: number | null;
  lastFireAt: number | null;
  /** Serialized core-owned options (misfire policy, run options, overlap). */
  options: string;
  tenantId: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface ScheduleUpsert {
  name: string;
  job: string;
  input: string;
  cron: string | null;
  intervalMs: number | null;
  timezone: string | null;
  options: string;
  /** The schedule's tenant, part of its key; absent for a schedule without a tenant. */
  tenantId?: string;
  /**
   * Next fire time to store. The backend keeps a stored `nextFireAt` when `resetNextFireAt`
   * is false and the schedule exists, so re-declaring at boot does not disturb it.
   */
  nextFireAt: number | null;
  resetNextFireAt: boolean;
  /** Pause state for a new schedule; an existing schedule keeps its own. */
  paused?: boolean;
}

export interface FireScheduleRequest extends ScheduleKey {
  /** Compare-and-set: fire only while the stored `nextFireAt` still equals this. */
  expectedNextFireAt: number;
  nextFireAt: number | null;
  lastFireAt: number;
  /** Runs to insert in the same atomic operation (none for a skipped occurrence). */
  runs: readonly NewRun[];
}

export interface FireScheduleResult {
  /** False when another process fired this occurrence first. */
  fired: boolean;
  inserted: InsertResult[];
}

/**
 * A limit applied at claim time across every worker process.
 *
 * - `queue`: `key` is a queue name; caps runs of that queue.
 * - `job`: `key` is a job name; caps runs of that job.
 * - `partition`: `key` is a queue name; caps runs of that queue per partition key value,
 *   for example one run at a time per customer.
 */
export interface LimitSpec {
  scope: 'queue' | 'job' | 'partition';
  key: string;
  /** Most runs `running` at once. */
  concurrency?: number;
  /** Maximum number of claims per sliding window of `periodMs`. */
  rate?: { limit: number; periodMs: number };
  /**
   * Lets claims exceed `concurrency` and `rate` up to this multiple while no other claimable
   * run is waiting for the claiming worker. 1 or absent disables bursting. A claim takes runs
   * in two passes: the first within the normal caps, and, only when it leaves free slots, a
   * second within the caps times this multiple. The runs that the second pass takes past a
   * normal cap carry a {@link BurstUse} in {@link ClaimedRun.bursts}.
   */
  burstMultiplier?: number;
}

export interface WorkerInfo {
  id: string;
  hostname: string;
  pid: number;
  queues: readonly string[];
  concurrency: number;
  startedAt: number;
  lastSeenAt: number;
}

/** Callbacks a backend invokes when something may need attention. */
export interface StorageListener {
  /** Runs may be claimable in these queues (null: any queue). Spurious calls are allowed. */
  onWork?(queues: readonly string[] | null): void;
  /** A run reached a terminal state. */
  onRunFinished?(runId: string, state: RunState): void;
  /**
   * The terminal states `onRunFinished` is wanted for; absent means every state. A storage may
   * use it to skip decoding the others (a worker waits only for cancellations), and may still
   * deliver them.
   */
  finishedStates?: readonly RunState[];
  /** A signal was delivered to a run. */
  onSignal?(runId: string, name: string): void;
}

/** Options that let a caller join a backend-specific transaction, for transactional enqueue. */
export interface InsertOptions {
  /** A backend-specific transaction handle, for example a `pg` client inside BEGIN. */
  transaction?: unknown;
}

/**
 * The storage contract. See the file header for the conventions every method follows.
 */
export interface Storage {
  /** Short backend name for logs and errors, such as `sqlite` or `postgres`. */
  readonly name: string;

  /** Creates or upgrades the schema. Safe to call from many processes at once. */
  migrate(): Promise<void>;
  /** Releases connections and timers. The storage is unusable afterwards. */
  close(): Promise<void>;
  /** The storage's clock, in epoch milliseconds. */
  now(): Promise<number>;

  // runs

  /**
   * Inserts runs in one atomic operation. Unique keys deduplicate (see {@link UniqueSpec});
   * two runs in one call with the same key behave as if inserted one after the other.
   * A run with dependencies starts `waiting` unless every parent already finished, in which
   * case it is released (or cancelled, when a condition can no longer be met) at once.
   *
   * Tenancy: the call inserts nothing and throws `TenantSuspendedError` or `TenantDeletedError`
   * (from `@zapjobs/core/storage`) when a run's tenant is not `active`, and `QuotaExceededError`
   * when the runs it creates would exceed a quota of their tenant (see {@link TenantQuotas}).
   * Concurrent inserts from any process cannot exceed a quota together.
   */
  insertRuns(runs: readonly NewRun[], options?: InsertOptions): Promise<InsertResult[]>;
  getRun(runId: string): Promise<RunRecord | null>;
  /**
   * Claims up to `limit` due runs (`available`, or `scheduled` with `runAt` reached) of the
   * given queues, ordered by queue order, then priority (higher first), then `runAt`, then id.
   * Each claimed run becomes `running` with a fresh lease token, `attempt` incremented, and its
   * unique key released when its `releaseOn` is `start`. Honors every {@link LimitSpec}.
   *
   * Tenancy: runs of tenants that are not `active` are skipped, a tenant's `maxConcurrentRuns`
   * applies across every claimer, and in a queue with a {@link FairnessSpec} the due runs are
   * taken in weighted fair order of their keys instead of priority order.
   */
  claim(request: ClaimRequest): Promise<ClaimedRun[]>;
  /**
   * Extends leases to the storage clock's now plus `leaseMs`. Returns the run ids whose lease
   * is no longer held (expired and reclaimed, cancelled, or finished).
   */
  heartbeat(leases: readonly LeaseRef[], leaseMs: number): Promise<string[]>;
  /**
   * Completes runs whose lease is still held. Returns false for a lease no longer held,
   * without changing anything: this fencing is what makes an outcome exactly-once.
   * Releases dependent runs whose conditions are now met, in the same atomic operation.
   */
  complete(requests: readonly CompleteRequest[]): Promise<boolean[]>;
  /** Fails runs whose lease is still held, to a retry or to dead letter. Fenced like complete. */
  fail(requests: readonly FailRequest[]): Promise<boolean[]>;
  /**
   * Gives leases back so the runs are claimable at once, without counting the attempt
   * (`attempt` is decremented). Used by a stopping worker. Fenced like complete.
   */
  release(leases: readonly LeaseRef[]): Promise<boolean[]>;
  /** Cancels a run that is not terminal; a running run loses its lease. Null if not found. */
  cancel(runId: string): Promise<CancelResult | null>;
  /**
   * Finds up to `limit` running runs whose lease expired, appends `stalled`, and makes each
   * `available` again, or `failed` with a `RUN_STALLED` error when it was the last attempt.
   */
  reclaimExpired(limit: number): Promise<ReclaimedRun[]>;
  /**
   * Parks a running run until a time or a signal, giving back its lease without counting the
   * attempt. With neither `wakeAt`, `wakeAfterMs` nor `signal`, it waits for `resume`.
   */
  suspend(request: SuspendRequest): Promise<boolean>;
  /**
   * Delivers a signal: stores `payload` as state key `signal:<name>` and wakes the run if it
   * is suspended waiting for that signal. Returns false if the run does not exist or is
   * terminal.
   */
  sendSignal(runId: string, name: string, payload: string): Promise<boolean>;
  /** Stores progress on a running run and appends a `progress` event. Fenced. */
  setProgress(lease: LeaseRef, progress: string): Promise<boolean>;
  /** Earliest `runAt` of a `scheduled` run in these queues, to time the next wake-up. */
  nextDueAt(queues: readonly string[]): Promise<number | null>;

  // dependencies and groups

  listDependencies(runId: string): Promise<DependencyRecord[]>;
  countGroup(groupId: string): Promise<GroupCounts>;

  // state

  /**
   * Writes a state value. With `ifAbsent`, writes only when the key is missing and returns
   * whether it wrote. With `lease`, writes only while that lease is held.
   */
  putState(
    runId: string,
    key: string,
    value: string,
    options?: { ifAbsent?: boolean; lease?: LeaseRef },
  ): Promise<boolean>;
  getState(runId: string, key: string): Promise<string | null>;
  listState(runId: string): Promise<Record<string, string>>;

  // events

  /** Appends events; they share the run's group and tenant. Unknown run ids are skipped. */
  appendEvents(events: readonly NewEvent[]): Promise<void>;
  listEvents(query: EventQuery): Promise<Page<EventRecord>>;
  /**
   * Deletes up to `limit` events whose type is in `types` and whose `at` is before `before`,
   * oldest first, and returns how many it deleted. Other events, and the ids and cursors of
   * `listEvents`, are unaffected: a page continues after deleted events without gaps.
   * Throws `InvalidOptionError` for a request that breaks {@link CompactEventsRequest}.
   * Optional in the type so that a backend can be written without it; core rejects
   * compaction with `NotSupportedError` on such a backend. Every built-in backend has it.
   */
  compactEvents?(request: CompactEventsRequest): Promise<number>;

  // schedules

  /** Creates the schedule of key (`name`, `tenantId`) or updates it; see {@link ScheduleUpsert}. */
  upsertSchedule(schedule: ScheduleUpsert): Promise<ScheduleRecord>;
  getSchedule(key: ScheduleKey): Promise<ScheduleRecord | null>;
  /** Every schedule, or only those of `filter.tenantId`. */
  listSchedules(filter?: { tenantId?: string }): Promise<ScheduleRecord[]>;
  setSchedulePaused(key: ScheduleKey, paused: boolean): Promise<boolean>;
  deleteSchedule(key: ScheduleKey): Promise<boolean>;
  /** Schedules not paused whose `nextFireAt` has been reached, oldest first, of every tenant. */
  dueSchedules(limit: number): Promise<ScheduleRecord[]>;
  /**
   * Fires one occurrence with compare-and-set on `nextFireAt`, inserting its runs as
   * `insertRuns` does, in the same atomic operation. Tenancy rejections are thrown as by
   * `insertRuns`, and then nothing changes: the schedule keeps its `nextFireAt`.
   */
  fireSchedule(request: FireScheduleRequest): Promise<FireScheduleResult>;

  // notifications

  /**
   * Registers callbacks. The backend calls them for changes made by this process and, as
   * soon as it can, for changes made by other processes. Returns an unsubscribe function.
   */
  subscribe(listener: StorageListener): Promise<() => Promise<void>>;

  // limits

  setLimit(spec: LimitSpec): Promise<void>;
  deleteLimit(scope: LimitSpec['scope'], key: string): Promise<boolean>;
  listLimits(): Promise<LimitSpec[]>;

  // admin

  listRuns(filter: RunFilter, page: PageRequest): Promise<Page<RunRecord>>;
  countRuns(filter: RunFilter): Promise<Record<RunState, number>>;
  /**
   * Moves `failed` or `cancelled` runs back to `available` with `attempt` reset to 0, and
   * returns how many moved. Other runs are left alone.
   */
  retryRuns(runIds: readonly string[]): Promise<number>;
  /** Deletes finished runs with their events, state and dependency edges. Returns the count. */
  purgeRuns(request: PurgeRequest): Promise<number>;
  /** Records or refreshes a worker in the registry; `lastSeenAt` becomes the storage's now. */
  registerWorker(worker: Omit<WorkerInfo, 'startedAt' | 'lastSeenAt'>): Promise<void>;
  /** Workers seen within `seenWithinMs`. */
  listWorkers(seenWithinMs: number): Promise<WorkerInfo[]>;
  unregisterWorker(workerId: string): Promise<void>;

  // tenants and fair scheduling (see tenancy-contract.ts). Optional so that a backend can be
  // written without them; core rejects tenant features with an error naming the backend.

  /** Creates a tenant or replaces its weight, quotas and metadata; the status is kept. */
  upsertTenant?(tenant: TenantUpsert): Promise<TenantRecord>;
  getTenant?(tenantId: string): Promise<TenantRecord | null>;
  listTenants?(query: TenantQuery): Promise<Page<TenantRecord>>;
  /**
   * Sets a tenant's status; `deleted` also records `deletedAt` (now) and `purgeAt`, and any
   * other status clears both. Returns the updated tenant, or null when it is not registered.
   */
  setTenantStatus?(change: TenantStatusChange): Promise<TenantRecord | null>;
  /**
   * Deletes the data of `deleted` tenants whose `purgeAt` has passed, oldest `purgeAt` first:
   * up to `limit` runs with their events, state, dependency edges and unique keys. A tenant
   * with no run left loses its schedules, quota counters and fairness state, and its record.
   */
  purgeTenants?(limit: number): Promise<TenantPurgeResult>;
  /** Makes a queue fair, or replaces its fairness; runs already queued follow it at once. */
  setFairness?(spec: FairnessSpec): Promise<void>;
  /** Returns the queue to plain claim order. False when it was not fair. */
  deleteFairness?(queue: string): Promise<boolean>;
  listFairness?(): Promise<FairnessSpec[]>;
}
