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
import { checkCompactEventsRequest, InvalidOptionError } from '@zapjobs/core/storage';
import pg from 'pg';
import {
  Db,
  destroySocket,
  isQueryTimeout,
  KEEPALIVE_DELAY_MS,
  toStorageError,
} from './internal/db.js';
import {
  eventPageQuery,
  LIFECYCLE_TYPES,
  runFilterWhere,
  runPageQuery,
  toPage,
} from './internal/filters.js';
import { migrate } from './internal/migrations.js';
import { type SchemaNames, schemaNames } from './internal/names.js';
import { Notifier } from './internal/notifier.js';
import {
  type EventRow,
  emptyCounts,
  type RunRow,
  type ScheduleRow,
  toEventRecord,
  toRunRecord,
  toScheduleRecord,
  toWorkerInfo,
  type WorkerRow,
} from './internal/rows.js';
import { isRunId } from './internal/run-ids.js';
import * as runs from './internal/runs.js';
import { buildStatements, type Statements } from './internal/statements.js';
import * as tenancy from './internal/tenancy.js';
import { type PostgresStorageOptions, type ResolvedOptions, resolveOptions } from './options.js';

/**
 * ZapJobs storage on PostgreSQL, through `pg`.
 *
 * Claims use `FOR UPDATE SKIP LOCKED`, limits are serialized with transaction-scoped advisory
 * locks, and every state change with its events and NOTIFY happens in one transaction. All
 * times come from the database clock. Call `migrate()` (or `ZapJobs.init()`) before use.
 */
export class PostgresStorage implements Storage {
  readonly name = 'postgres';
  /** The pool every statement runs on: the one passed in, or the one this storage created. */
  readonly pool: pg.Pool;
  /** The schema that contains the tables. */
  readonly schema: string;

  private readonly options: ResolvedOptions;
  private readonly names: SchemaNames;
  private readonly db: Db;
  private readonly st: Statements;
  private readonly tenancySt: tenancy.TenancyStatements;
  private readonly ctx: runs.RunContext;
  private readonly notifier: Notifier;
  private readonly ownsPool: boolean;
  private closed = false;

  constructor(options: PostgresStorageOptions = {}) {
    this.options = resolveOptions(options);
    this.names = schemaNames(this.options.schema);
    this.schema = this.options.schema;
    this.ownsPool = this.options.pool === undefined;
    this.pool = this.options.pool ?? this.createPool();
    this.pool.on('error', this.onPoolError);
    this.pool.on('release', this.onRelease);
    this.db = new Db(this.pool, this.options.logger, this.options.queryTimeoutMs);
    this.st = buildStatements(this.names, this.options.asyncClaimCommit);
    this.tenancySt = tenancy.buildTenancyStatements(this.names);
    this.ctx = { db: this.db, st: this.st };
    this.notifier = new Notifier({
      createClient: () => this.createListenClient(),
      channel: this.names.channel,
      reconnectMinMs: this.options.listenReconnectMinMs,
      reconnectMaxMs: this.options.listenReconnectMaxMs,
      pingIntervalMs: Math.min(this.options.queryTimeoutMs, 30_000),
      logger: this.options.logger,
    });
  }

  /**
   * Logs a failure of an idle pooled connection, for example when the server restarted. The
   * pool has already discarded the connection and opens a new one on demand; without this
   * listener the 'error' event would crash the process.
   */
  private readonly onPoolError = (error: Error): void => {
    this.options.logger.warn({ err: error }, 'postgres pool connection failed while idle');
  };

  /**
   * Destroys the socket of a connection released after a statement timed out. The pool
   * already drops such a connection, but its polite close waits on a peer that may never
   * reply. Destroying the socket frees it at once.
   */
  private readonly onRelease = (error: Error | undefined, client: pg.PoolClient): void => {
    if (isQueryTimeout(error)) destroySocket(client);
  };

  private createPool(): pg.Pool {
    return new pg.Pool({
      connectionString: this.options.connectionString,
      max: this.options.poolSize,
      connectionTimeoutMillis: this.options.connectTimeoutMs,
      query_timeout: this.options.queryTimeoutMs,
      application_name: this.options.applicationName,
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
    });
  }

  private createListenClient(): pg.Client {
    const base = this.ownsPool
      ? {
          connectionString: this.options.connectionString,
          connectionTimeoutMillis: this.options.connectTimeoutMs,
          application_name: this.options.applicationName,
        }
      : { ...(this.pool.options as pg.ClientConfig) };
    return new pg.Client({
      ...base,
      query_timeout: this.options.queryTimeoutMs,
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
    });
  }

  async migrate(): Promise<void> {
    await migrate(this.db, this.names);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.notifier.close();
    this.pool.off('release', this.onRelease);
    if (!this.ownsPool) {
      this.pool.off('error', this.onPoolError);
    } else {
      try {
        await this.pool.end();
      } catch (error) {
        throw toStorageError('close', error);
      }
    }
  }

  async now(): Promise<number> {
    const { rows } = await this.db.query<{ now: number }>('now', this.st.now);
    return rows[0]!.now;
  }

  // runs

  insertRuns(newRuns: readonly NewRun[], options?: InsertOptions): Promise<InsertResult[]> {
    return runs.insertRuns(this.ctx, newRuns, options?.transaction);
  }

  async getRun(runId: string): Promise<RunRecord | null> {
    if (!isRunId(runId)) return null;
    const { rows } = await this.db.query<RunRow>('getRun', this.st.getRun, [runId]);
    return rows[0] === undefined ? null : toRunRecord(rows[0]);
  }

  claim(request: ClaimRequest): Promise<ClaimedRun[]> {
    return runs.claim(this.ctx, request);
  }

  heartbeat(leases: readonly LeaseRef[], leaseMs: number): Promise<string[]> {
    return runs.heartbeat(this.ctx, leases, leaseMs);
  }

  complete(requests: readonly CompleteRequest[]): Promise<boolean[]> {
    return runs.complete(this.ctx, requests);
  }

  fail(requests: readonly FailRequest[]): Promise<boolean[]> {
    return runs.fail(this.ctx, requests);
  }

  release(leases: readonly LeaseRef[]): Promise<boolean[]> {
    return runs.release(this.ctx, leases);
  }

  async cancel(runId: string): Promise<CancelResult | null> {
    if (!isRunId(runId)) return null;
    const { rows } = await this.db.query<CancelResult>('cancel', this.st.cancel, [runId]);
    const row = rows[0];
    return row === undefined ? null : { cancelled: row.cancelled, state: row.state };
  }

  reclaimExpired(limit: number): Promise<ReclaimedRun[]> {
    return runs.reclaimExpired(this.ctx, limit);
  }

  suspend(request: SuspendRequest): Promise<boolean> {
    return runs.suspend(this.ctx, request);
  }

  async sendSignal(runId: string, name: string, payload: string): Promise<boolean> {
    if (!isRunId(runId)) return false;
    const { rows } = await this.db.query<{ ok: boolean }>('sendSignal', this.st.signal, [
      runId,
      name,
      payload,
    ]);
    return rows[0]?.ok === true;
  }

  async setProgress(lease: LeaseRef, progress: string): Promise<boolean> {
    if (!isRunId(lease.runId)) return false;
    const { rows } = await this.db.query<{ ok: boolean }>('setProgress', this.st.progress, [
      lease.runId,
      lease.leaseToken,
      progress,
    ]);
    return rows[0]?.ok === true;
  }

  async nextDueAt(queues: readonly string[]): Promise<number | null> {
    if (queues.length === 0) return null;
    const { rows } = await this.db.query<{ due: number | null }>('nextDueAt', this.st.nextDueAt, [
      [...queues],
    ]);
    return rows[0]?.due ?? null;
  }

  // dependencies and groups

  async listDependencies(runId: string): Promise<DependencyRecord[]> {
    if (!isRunId(runId)) return [];
    const { rows } = await this.db.query<{
      parent_id: string;
      condition: DependencyRecord['condition'];
      pass_output: boolean;
      satisfied: boolean | null;
      parent_state: RunState;
    }>('listDependencies', this.st.listDependencies, [runId]);
    return rows.map((row) => ({
      parentId: row.parent_id,
      condition: row.condition,
      passOutput: row.pass_output,
      satisfied: row.satisfied,
      parentState: row.parent_state,
    }));
  }

  async countGroup(groupId: string): Promise<GroupCounts> {
    const { rows } = await this.db.query<{ state: RunState; count: number }>(
      'countGroup',
      this.st.countGroup,
      [groupId],
    );
    const byState = emptyCounts();
    let total = 0;
    for (const row of rows) {
      byState[row.state] = row.count;
      total += row.count;
    }
    return { total, byState };
  }

  // state

  async putState(
    runId: string,
    key: string,
    value: string,
    options: { ifAbsent?: boolean; lease?: LeaseRef } = {},
  ): Promise<boolean> {
    const { ifAbsent = false, lease } = options;
    if (!isRunId(runId) || (lease !== undefined && lease.runId !== runId)) return false;
    const sql =
      lease === undefined
        ? ifAbsent
          ? this.st.putStateIfAbsent
          : this.st.putState
        : ifAbsent
          ? this.st.putStateLeasedIfAbsent
          : this.st.putStateLeased;
    const values =
      lease === undefined ? [runId, key, value] : [runId, key, value, lease.leaseToken];
    const result = await this.db.query('putState', sql, values);
    return (result.rowCount ?? 0) > 0;
  }

  async getState(runId: string, key: string): Promise<string | null> {
    if (!isRunId(runId)) return null;
    const { rows } = await this.db.query<{ value: string }>('getState', this.st.getState, [
      runId,
      key,
    ]);
    return rows[0]?.value ?? null;
  }

  async listState(runId: string): Promise<Record<string, string>> {
    if (!isRunId(runId)) return {};
    const { rows } = await this.db.query<{ key: string; value: string }>(
      'listState',
      this.st.listState,
      [runId],
    );
    const state: Record<string, string> = {};
    for (const row of rows) state[row.key] = row.value;
    return state;
  }

  // events

  async appendEvents(events: readonly NewEvent[]): Promise<void> {
    // An event of a run that does not exist is skipped, so one whose id is not a run id is too.
    const known = events.filter((event) => isRunId(event.runId));
    if (known.length === 0) return;
    const payload = JSON.stringify(
      known.map((event) => ({
        run_id: event.runId,
        type: event.type,
        data: event.data,
        attempt: event.attempt,
      })),
    );
    await this.db.query('appendEvents', this.st.appendEvents, [payload, LIFECYCLE_TYPES]);
  }

  async listEvents(query: EventQuery): Promise<Page<EventRecord>> {
    if (query.runId !== undefined && !isRunId(query.runId)) return { items: [], nextCursor: null };
    const { sql, values } = eventPageQuery(`${this.names.quoted}.events`, query);
    const { rows } = await this.db.query<EventRow>('listEvents', sql, values);
    return toPage(rows.map(toEventRecord), query.limit, (event) => event.id);
  }

  async compactEvents(request: CompactEventsRequest): Promise<number> {
    checkCompactEventsRequest(request);
    const { rows } = await this.db.query<{ deleted: number }>(
      'compactEvents',
      this.st.compactEvents,
      [request.types, Math.ceil(request.before), request.limit],
    );
    return rows[0]?.deleted ?? 0;
  }

  // schedules

  async upsertSchedule(schedule: ScheduleUpsert): Promise<ScheduleRecord> {
    const { rows } = await this.db.query<ScheduleRow>('upsertSchedule', this.st.upsertSchedule, [
      schedule.name,
      schedule.job,
      schedule.input,
      schedule.cron,
      schedule.intervalMs === null ? null : Math.floor(schedule.intervalMs),
      schedule.timezone,
      schedule.options,
      schedule.tenantId ?? null,
      schedule.nextFireAt === null ? null : Math.floor(schedule.nextFireAt),
      schedule.resetNextFireAt,
      schedule.paused ?? null,
    ]);
    return toScheduleRecord(rows[0]!);
  }

  async getSchedule(key: ScheduleKey): Promise<ScheduleRecord | null> {
    const { rows } = await this.db.query<ScheduleRow>('getSchedule', this.st.getSchedule, [
      key.tenantId ?? '',
      key.name,
    ]);
    return rows[0] === undefined ? null : toScheduleRecord(rows[0]);
  }

  async listSchedules(filter: { tenantId?: string } = {}): Promise<ScheduleRecord[]> {
    const { rows } =
      filter.tenantId === undefined
        ? await this.db.query<ScheduleRow>('listSchedules', this.st.listSchedules)
        : await this.db.query<ScheduleRow>('listSchedules', this.st.listTenantSchedules, [
            filter.tenantId,
          ]);
    return rows.map(toScheduleRecord);
  }

  async setSchedulePaused(key: ScheduleKey, paused: boolean): Promise<boolean> {
    const result = await this.db.query('setSchedulePaused', this.st.pauseSchedule, [
      key.tenantId ?? '',
      key.name,
      paused,
    ]);
    return (result.rowCount ?? 0) > 0;
  }

  async deleteSchedule(key: ScheduleKey): Promise<boolean> {
    const result = await this.db.query('deleteSchedule', this.st.deleteSchedule, [
      key.tenantId ?? '',
      key.name,
    ]);
    return (result.rowCount ?? 0) > 0;
  }

  async dueSchedules(limit: number): Promise<ScheduleRecord[]> {
    const { rows } = await this.db.query<ScheduleRow>('dueSchedules', this.st.dueSchedules, [
      Math.floor(limit),
    ]);
    return rows.map(toScheduleRecord);
  }

  fireSchedule(request: FireScheduleRequest): Promise<FireScheduleResult> {
    return runs.fireSchedule(this.ctx, request);
  }

  // notifications

  subscribe(listener: StorageListener): Promise<() => Promise<void>> {
    return this.notifier.subscribe(listener);
  }

  // limits

  async setLimit(spec: LimitSpec): Promise<void> {
    await this.db.query('setLimit', this.st.setLimit, [
      spec.scope,
      spec.key,
      spec.concurrency ?? null,
      spec.rate?.limit ?? null,
      spec.rate === undefined ? null : Math.floor(spec.rate.periodMs),
      spec.burstMultiplier ?? null,
    ]);
  }

  async deleteLimit(scope: LimitSpec['scope'], key: string): Promise<boolean> {
    const result = await this.db.query('deleteLimit', this.st.deleteLimit, [scope, key]);
    await this.db.query('deleteLimit', this.st.deleteRateClaims, [scope, key]);
    return (result.rowCount ?? 0) > 0;
  }

  async listLimits(): Promise<LimitSpec[]> {
    const { rows } = await this.db.query<{
      scope: LimitSpec['scope'];
      key: string;
      concurrency: number | null;
      rate_limit: number | null;
      rate_period_ms: number | null;
      burst_multiplier: number | null;
    }>('listLimits', this.st.listLimits);
    return rows.map((row) => {
      const spec: LimitSpec = { scope: row.scope, key: row.key };
      if (row.concurrency !== null) spec.concurrency = row.concurrency;
      if (row.rate_limit !== null && row.rate_period_ms !== null) {
        spec.rate = { limit: row.rate_limit, periodMs: row.rate_period_ms };
      }
      if (row.burst_multiplier !== null) spec.burstMultiplier = row.burst_multiplier;
      return spec;
    });
  }

  // admin

  async listRuns(filter: RunFilter, page: PageRequest): Promise<Page<RunRecord>> {
    if (!Number.isInteger(page.limit) || page.limit < 1 || page.limit > 1000) {
      throw new InvalidOptionError('limit', page.limit, 'an integer from 1 to 1000');
    }
    const { sql, values } = runPageQuery(`${this.names.quoted}.runs`, filter, page);
    const { rows } = await this.db.query<RunRow>('listRuns', sql, values);
    return toPage(rows.map(toRunRecord), page.limit, (run) => run.id);
  }

  async countRuns(filter: RunFilter): Promise<Record<RunState, number>> {
    const where = runFilterWhere(filter);
    const { rows } = await this.db.query<{ state: RunState; count: number }>(
      'countRuns',
      `select state, count(*)::integer as count from ${this.names.quoted}.runs
       where ${where.sql} group by state`,
      where.values,
    );
    const counts = emptyCounts();
    for (const row of rows) counts[row.state] = row.count;
    return counts;
  }

  async retryRuns(runIds: readonly string[]): Promise<number> {
    const known = runIds.filter(isRunId);
    if (known.length === 0) return 0;
    const { rows } = await this.db.query<{ moved: number }>('retryRuns', this.st.retryRuns, [
      known,
    ]);
    return rows[0]?.moved ?? 0;
  }

  async purgeRuns(request: PurgeRequest): Promise<number> {
    if (request.limit < 1 || request.states.length === 0) return 0;
    const { rows } = await this.db.query<{ purged: number }>('purgeRuns', this.st.purgeRuns, [
      [...request.states],
      Math.floor(request.finishedBefore),
      Math.floor(request.limit),
    ]);
    return rows[0]?.purged ?? 0;
  }

  async registerWorker(worker: Omit<WorkerInfo, 'startedAt' | 'lastSeenAt'>): Promise<void> {
    await this.db.query('registerWorker', this.st.registerWorker, [
      worker.id,
      worker.hostname,
      worker.pid,
      [...worker.queues],
      worker.concurrency,
    ]);
  }

  async listWorkers(seenWithinMs: number): Promise<WorkerInfo[]> {
    const { rows } = await this.db.query<WorkerRow>('listWorkers', this.st.listWorkers, [
      Math.floor(seenWithinMs),
    ]);
    return rows.map(toWorkerInfo);
  }

  async unregisterWorker(workerId: string): Promise<void> {
    await this.db.query('unregisterWorker', this.st.unregisterWorker, [workerId]);
  }

  // tenants and fair queues

  upsertTenant(tenant: TenantUpsert): Promise<TenantRecord> {
    return tenancy.upsertTenant(this.db, this.tenancySt, tenant);
  }

  getTenant(tenantId: string): Promise<TenantRecord | null> {
    return tenancy.getTenant(this.db, this.tenancySt, tenantId);
  }

  listTenants(query: TenantQuery): Promise<Page<TenantRecord>> {
    return tenancy.listTenants(this.db, `${this.names.quoted}.tenants`, query);
  }

  setTenantStatus(change: TenantStatusChange): Promise<TenantRecord | null> {
    return tenancy.setTenantStatus(this.db, this.tenancySt, change);
  }

  purgeTenants(limit: number): Promise<TenantPurgeResult> {
    return tenancy.purgeTenants(this.db, this.tenancySt, limit);
  }

  async setFairness(spec: FairnessSpec): Promise<void> {
    await tenancy.setFairness(this.db, this.tenancySt, spec.queue, spec);
  }

  deleteFairness(queue: string): Promise<boolean> {
    return tenancy.setFairness(this.db, this.tenancySt, queue, null);
  }

  listFairness(): Promise<FairnessSpec[]> {
    return tenancy.listFairness(this.db, this.tenancySt);
  }
}
