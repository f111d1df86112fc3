import type {
  CancelResult,
  ClaimedRun,
  ClaimRequest,
  CompactEventsRequest,
  CompleteRequest,
  DependencyRecord,
  EventQuery,
  EventRecord,
  FailRequest,
  FairnessSpec,
  FireScheduleRequest,
  FireScheduleResult,
  GroupCounts,
  InsertOptions,
  InsertResult,
  LeaseRef,
  LimitSpec,
  NewEvent,
  NewRun,
  Page,
  PageRequest,
  PurgeRequest,
  ReclaimedRun,
  RunFilter,
  RunRecord,
  RunState,
  ScheduleKey,
  ScheduleRecord,
  ScheduleUpsert,
  Storage,
  StorageListener,
  SuspendRequest,
  TenantPurgeResult,
  TenantQuery,
  TenantRecord,
  TenantStatusChange,
  TenantUpsert,
  WorkerInfo,
} from '@zapjobs/core/storage';
import { assertKnownKeys, assertPlainObject, InvalidOptionError } from '@zapjobs/core/storage';
import type Database from 'better-sqlite3';
import * as admin from './internal/admin.js';
import { checkClaimRequest, claim, hasClaimable } from './internal/claims.js';
import { Connection } from './internal/connection.js';
import * as control from './internal/control.js';
import * as dependencies from './internal/dependencies.js';
import * as events from './internal/events.js';
import * as leases from './internal/leases.js';
import * as limits from './internal/limits.js';
import { migrate } from './internal/migrate.js';
import { NotificationPoller } from './internal/notifications.js';
import * as runs from './internal/runs.js';
import * as schedules from './internal/schedules.js';
import * as state from './internal/state.js';
import { needsTenantClaim, tenantClaim } from './internal/tenant-claims.js';
import * as tenants from './internal/tenants.js';

/** Options of {@link SqliteStorage}. */
export interface SqliteStorageOptions {
  /** Path of the database file, created when missing. Must be on a local filesystem. */
  path: string;
  /**
   * How long SQLite waits for another connection's write lock before reporting the database
   * busy, in milliseconds. The wait blocks this process's event loop, so it is kept short:
   * after it, the operation retries with backoff that does not block (see
   * `busyRetryTimeoutMs`). Default 10.
   */
  busyTimeoutMs?: number;
  /**
   * How long an operation that found the database busy or locked keeps retrying, with
   * backoff that does not block the event loop, before it throws a StorageError, in
   * milliseconds. Default 60000.
   */
  busyRetryTimeoutMs?: number;
  /**
   * How often a subscribed storage checks for changes committed by other connections, in
   * milliseconds. Each idle check is one `PRAGMA data_version`. Default 50.
   */
  pollIntervalMs?: number;
  /**
   * SQLite `synchronous` setting. `NORMAL` (the default) syncs the WAL at checkpoints only: a
   * power loss or OS crash can undo the last transactions committed before it, but never
   * corrupts the file, and a process crash loses nothing. `FULL` syncs on every commit, so
   * every committed transaction survives a power loss, at a higher cost per write.
   */
  synchronous?: 'NORMAL' | 'FULL';
}

const OPTION_KEYS = [
  'path',
  'busyTimeoutMs',
  'busyRetryTimeoutMs',
  'pollIntervalMs',
  'synchronous',
] as const satisfies readonly (keyof SqliteStorageOptions)[];
// Fails to compile when an option is added to the interface but not to OPTION_KEYS.
const EVERY_OPTION_LISTED: Exclude<
  keyof SqliteStorageOptions,
  (typeof OPTION_KEYS)[number]
> extends never
  ? true
  : false = true;
void EVERY_OPTION_LISTED;

function checkMilliseconds(option: string, value: number | undefined, minimum: number): void {
  if (value === undefined) return;
  if (!(Number.isInteger(value) && value >= minimum)) {
    throw new InvalidOptionError(option, value, `an integer number of milliseconds >= ${minimum}`);
  }
}

/**
 * Embedded ZapJobs storage on one SQLite file in WAL mode, shared by any number of processes
 * on one machine. Every write is one BEGIN IMMEDIATE transaction.
 */
export class SqliteStorage implements Storage {
  readonly name = 'sqlite';
  private readonly conn: Connection;
  private readonly poller: NotificationPoller;
  private readonly path: string;

  constructor(options: SqliteStorageOptions) {
    assertPlainObject('options', options);
    assertKnownKeys(options, OPTION_KEYS, '', ' of SqliteStorage');
    if (typeof options.path !== 'string' || options.path.length === 0) {
      throw new InvalidOptionError('path', options.path, 'a database file path');
    }
    checkMilliseconds('busyTimeoutMs', options.busyTimeoutMs, 0);
    checkMilliseconds('busyRetryTimeoutMs', options.busyRetryTimeoutMs, 0);
    checkMilliseconds('pollIntervalMs', options.pollIntervalMs, 1);
    const synchronous = options.synchronous ?? 'NORMAL';
    if (synchronous !== 'NORMAL' && synchronous !== 'FULL') {
      throw new InvalidOptionError('synchronous', synchronous, '"NORMAL" or "FULL"');
    }
    this.path = options.path;
    this.conn = new Connection({
      path: options.path,
      busyTimeoutMs: options.busyTimeoutMs ?? 10,
      busyRetryTimeoutMs: options.busyRetryTimeoutMs ?? 60_000,
      synchronous,
    });
    this.poller = new NotificationPoller(this.conn, options.pollIntervalMs ?? 50);
  }

  /**
   * The better-sqlite3 connection. Pass it as `transaction` to `insertRuns` from inside one of
   * its synchronous `transaction()` functions to enqueue atomically with your own writes.
   */
  get database(): Database.Database {
    return this.conn.db;
  }

  migrate(): Promise<void> {
    return migrate(this.conn, this.path);
  }

  async close(): Promise<void> {
    this.poller.stop();
    if (this.conn.db.open) this.conn.close();
  }

  async now(): Promise<number> {
    return Date.now();
  }

  // runs

  /**
   * Inserts runs. With `options.transaction` set to {@link database} while a transaction is
   * open on it, the runs are written synchronously inside that transaction, and any failure is
   * thrown synchronously so that the caller's transaction function rolls back.
   */
  insertRuns(newRuns: readonly NewRun[], options?: InsertOptions): Promise<InsertResult[]> {
    if (options?.transaction === undefined) {
      return this.conn.write('insertRuns', (tx) => runs.insertRuns(tx, newRuns));
    }
    if (options.transaction !== this.conn.db || !this.conn.db.inTransaction) {
      throw new InvalidOptionError(
        'transaction',
        options.transaction,
        "this storage's `database` while a transaction is open on it",
      );
    }
    return Promise.resolve(
      this.conn.writeInCallerTransaction('insertRuns', (tx) => runs.insertRuns(tx, newRuns)),
    );
  }

  getRun(runId: string): Promise<RunRecord | null> {
    return this.conn.read('getRun', () => runs.getRun(this.conn, runId));
  }

  async claim(request: ClaimRequest): Promise<ClaimedRun[]> {
    checkClaimRequest(request);
    // An idle worker's claim ends here, without taking the write lock.
    const due = await this.conn.read('claim', () =>
      hasClaimable(this.conn, request.queues, Date.now()),
    );
    if (!due) return [];
    return this.conn.write('claim', (tx) =>
      needsTenantClaim(tx, request.queues) ? tenantClaim(tx, request) : claim(tx, request),
    );
  }

  heartbeat(leaseRefs: readonly LeaseRef[], leaseMs: number): Promise<string[]> {
    return this.conn.write('heartbeat', (tx) => leases.heartbeat(tx, leaseRefs, leaseMs));
  }

  complete(requests: readonly CompleteRequest[]): Promise<boolean[]> {
    return this.conn.write('complete', (tx) => leases.complete(tx, requests));
  }

  fail(requests: readonly FailRequest[]): Promise<boolean[]> {
    return this.conn.write('fail', (tx) => leases.fail(tx, requests));
  }

  release(leaseRefs: readonly LeaseRef[]): Promise<boolean[]> {
    return this.conn.write('release', (tx) => leases.release(tx, leaseRefs));
  }

  cancel(runId: string): Promise<CancelResult | null> {
    return this.conn.write('cancel', (tx) => control.cancel(tx, runId));
  }

  reclaimExpired(limit: number): Promise<ReclaimedRun[]> {
    return this.conn.write('reclaimExpired', (tx) => leases.reclaimExpired(tx, limit));
  }

  suspend(request: SuspendRequest): Promise<boolean> {
    return this.conn.write('suspend', (tx) => leases.suspend(tx, request));
  }

  sendSignal(runId: string, name: string, payload: string): Promise<boolean> {
    return this.conn.write('sendSignal', (tx) => control.sendSignal(tx, runId, name, payload));
  }

  setProgress(lease: LeaseRef, progress: string): Promise<boolean> {
    return this.conn.write('setProgress', (tx) => leases.setProgress(tx, lease, progress));
  }

  nextDueAt(queues: readonly string[]): Promise<number | null> {
    return this.conn.read('nextDueAt', () => control.nextDueAt(this.conn, queues));
  }

  // dependencies and groups

  listDependencies(runId: string): Promise<DependencyRecord[]> {
    return this.conn.read('listDependencies', () =>
      dependencies.listDependencies(this.conn, runId),
    );
  }

  countGroup(groupId: string): Promise<GroupCounts> {
    return this.conn.read('countGroup', () => dependencies.countGroup(this.conn, groupId));
  }

  // state

  putState(
    runId: string,
    key: string,
    value: string,
    options: { ifAbsent?: boolean; lease?: LeaseRef } = {},
  ): Promise<boolean> {
    return this.conn.write('putState', (tx) => state.putState(tx, runId, key, value, options));
  }

  getState(runId: string, key: string): Promise<string | null> {
    return this.conn.read('getState', () => state.getState(this.conn, runId, key));
  }

  listState(runId: string): Promise<Record<string, string>> {
    return this.conn.read('listState', () => state.listState(this.conn, runId));
  }

  // events

  async appendEvents(newEvents: readonly NewEvent[]): Promise<void> {
    if (newEvents.length === 0) return;
    await this.conn.write('appendEvents', (tx) => events.appendEvents(tx, newEvents));
  }

  listEvents(query: EventQuery): Promise<Page<EventRecord>> {
    return this.conn.read('listEvents', () => events.listEvents(this.conn, query));
  }

  compactEvents(request: CompactEventsRequest): Promise<number> {
    return this.conn.write('compactEvents', (tx) => events.compactEvents(tx, request));
  }

  // schedules

  upsertSchedule(schedule: ScheduleUpsert): Promise<ScheduleRecord> {
    return this.conn.write('upsertSchedule', (tx) => schedules.upsertSchedule(tx, schedule));
  }

  getSchedule(key: ScheduleKey): Promise<ScheduleRecord | null> {
    return this.conn.read('getSchedule', () => schedules.getSchedule(this.conn, key));
  }

  listSchedules(filter: { tenantId?: string } = {}): Promise<ScheduleRecord[]> {
    return this.conn.read('listSchedules', () =>
      schedules.listSchedules(this.conn, filter.tenantId),
    );
  }

  setSchedulePaused(key: ScheduleKey, paused: boolean): Promise<boolean> {
    return this.conn.write('setSchedulePaused', (tx) =>
      schedules.setSchedulePaused(tx, key, paused),
    );
  }

  deleteSchedule(key: ScheduleKey): Promise<boolean> {
    return this.conn.write('deleteSchedule', (tx) => schedules.deleteSchedule(tx, key));
  }

  dueSchedules(limit: number): Promise<ScheduleRecord[]> {
    return this.conn.read('dueSchedules', () =>
      schedules.dueSchedules(this.conn, Date.now(), limit),
    );
  }

  fireSchedule(request: FireScheduleRequest): Promise<FireScheduleResult> {
    return this.conn.write('fireSchedule', (tx) => schedules.fireSchedule(tx, request));
  }

  // notifications

  async subscribe(listener: StorageListener): Promise<() => Promise<void>> {
    if (!this.poller.running) await this.conn.read('subscribe', () => this.poller.start());
    this.conn.listeners.add(listener);
    return async () => {
      this.conn.listeners.delete(listener);
      if (this.conn.listeners.size === 0) this.poller.stop();
    };
  }

  // limits

  setLimit(spec: LimitSpec): Promise<void> {
    return this.conn.write('setLimit', (tx) => limits.setLimit(tx, spec));
  }

  deleteLimit(scope: LimitSpec['scope'], key: string): Promise<boolean> {
    return this.conn.write('deleteLimit', (tx) => limits.deleteLimit(tx, scope, key));
  }

  listLimits(): Promise<LimitSpec[]> {
    return this.conn.read('listLimits', () => limits.listLimits(this.conn));
  }

  // admin

  listRuns(filter: RunFilter, page: PageRequest): Promise<Page<RunRecord>> {
    return this.conn.read('listRuns', () => admin.listRuns(this.conn, filter, page));
  }

  countRuns(filter: RunFilter): Promise<Record<RunState, number>> {
    return this.conn.read('countRuns', () => admin.countRuns(this.conn, filter));
  }

  retryRuns(runIds: readonly string[]): Promise<number> {
    return this.conn.write('retryRuns', (tx) => admin.retryRuns(tx, runIds));
  }

  purgeRuns(request: PurgeRequest): Promise<number> {
    return this.conn.write('purgeRuns', (tx) => admin.purgeRuns(tx, request));
  }

  registerWorker(worker: Omit<WorkerInfo, 'startedAt' | 'lastSeenAt'>): Promise<void> {
    return this.conn.write('registerWorker', (tx) => admin.registerWorker(tx, worker));
  }

  listWorkers(seenWithinMs: number): Promise<WorkerInfo[]> {
    return this.conn.read('listWorkers', () =>
      admin.listWorkers(this.conn, Date.now(), seenWithinMs),
    );
  }

  unregisterWorker(workerId: string): Promise<void> {
    return this.conn.write('unregisterWorker', (tx) => admin.unregisterWorker(tx, workerId));
  }

  // tenants and fair queues

  upsertTenant(tenant: TenantUpsert): Promise<TenantRecord> {
    return this.conn.write('upsertTenant', (tx) => tenants.upsertTenant(tx, tenant));
  }

  getTenant(tenantId: string): Promise<TenantRecord | null> {
    return this.conn.read('getTenant', () => tenants.getTenant(this.conn, tenantId));
  }

  listTenants(query: TenantQuery): Promise<Page<TenantRecord>> {
    return this.conn.read('listTenants', () => tenants.listTenants(this.conn, query));
  }

  setTenantStatus(change: TenantStatusChange): Promise<TenantRecord | null> {
    return this.conn.write('setTenantStatus', (tx) => tenants.setTenantStatus(tx, change));
  }

  purgeTenants(limit: number): Promise<TenantPurgeResult> {
    return this.conn.write('purgeTenants', (tx) => tenants.purgeTenants(tx, limit));
  }

  setFairness(spec: FairnessSpec): Promise<void> {
    return this.conn.write('setFairness', (tx) => tenants.setFairness(tx, spec));
  }

  deleteFairness(queue: string): Promise<boolean> {
    return this.conn.write('deleteFairness', (tx) => tenants.deleteFairness(tx, queue));
  }

  listFairness(): Promise<FairnessSpec[]> {
    return this.conn.read('listFairness', () => tenants.listFairness(this.conn));
  }
}
