import { randomUUID } from 'node:crypto';
import { consoleLogger, type Logger } from '@zapjobs/core';
import {
  type CancelResult,
  type ClaimedRun,
  type ClaimRequest,
  type CompactEventsRequest,
  type CompleteRequest,
  checkCompactEventsRequest,
  type DependencyRecord,
  type EventQuery,
  type EventRecord,
  type FailRequest,
  type FairnessSpec,
  type FireScheduleRequest,
  type FireScheduleResult,
  type GroupCounts,
  type InsertOptions,
  type InsertResult,
  InvalidOptionError,
  type LeaseRef,
  type LimitSpec,
  type NewEvent,
  type NewRun,
  type Page,
  type PageRequest,
  type PurgeRequest,
  type ReclaimedRun,
  RUN_STATES,
  type RunFilter,
  type RunRecord,
  type RunState,
  type ScheduleKey,
  type ScheduleRecord,
  type ScheduleUpsert,
  StalledError,
  type Storage,
  StorageError,
  type StorageListener,
  type SuspendRequest,
  type TenantPurgeResult,
  type TenantQuery,
  type TenantRecord,
  type TenantStatusChange,
  type TenantUpsert,
  type WorkerInfo,
} from '@zapjobs/core/storage';
import { listEventsArgs, listRunsArgs, runFilterArgs } from './arguments.js';
import {
  ABSENT,
  decodeClaimedRun,
  decodeDependency,
  decodeEvent,
  decodeInsertResult,
  decodeLimit,
  decodeRun,
  decodeWorker,
  encodeLimit,
  encodeRun,
  type Flat,
  limitField,
  optional,
} from './codec.js';
import { openConnection, READY_WAIT_MS, waitUntilReady } from './connection.js';
import { Notifier } from './notifier.js';
import {
  checkStorageOptions,
  type RedisStorageOptions,
  resolvePrefix,
  resolveRetention,
} from './options.js';
import { checkPersistence } from './persistence.js';
import { Pruner } from './pruner.js';
import { Runner } from './runner.js';
import { ScheduleStore } from './schedules.js';
import { ScriptRunner } from './scripts.js';
import { isRejection, type Rejection, rejectionError, TenancyStore } from './tenancy.js';

/**
 * Data layout version of a namespace. Version 2 keys schedules by tenant and name; migrate
 * moves the schedules of a version 1 namespace (schedules-rekey.lua).
 */
const SCHEMA_VERSION = '2';
/** Field of the "meta" hash set once the events of the namespace are indexed by type. */
const REINDEX_FIELD = 'eventTypesIndexed';
/** Events that one call of events-reindex.lua examines. */
const REINDEX_BATCH = 2_000;

// The stalled error's message, with markers that reclaim.lua replaces by run id and attempt.
const STALLED_ATTEMPT_MARKER = 918_273_645;
const stalledTemplate = new StalledError('%RUN%', STALLED_ATTEMPT_MARKER).message.replace(
  String(STALLED_ATTEMPT_MARKER),
  '%ATTEMPT%',
);

/**
 * ZapJobs storage on Redis. Every change is one Lua script run with EVALSHA, so it is atomic.
 * All keys of a namespace share the hash tag `{prefix}`, so it runs on Redis Cluster as well.
 */
export class RedisStorage implements Storage {
  readonly name = 'redis';
  readonly #ownsConnection: boolean;
  readonly #logger: Logger;
  readonly #scripts: ScriptRunner;
  readonly #notifier: Notifier;
  readonly #runner: Runner;
  readonly #pruner: Pruner;
  readonly #schedules: ScheduleStore;
  readonly #tenancy: TenancyStore;
  /** The command timeout of the connection in ms, or 0 for a connection the caller passed in. */
  readonly #commandTimeoutMs: number;
  #closed = false;

  constructor(options: RedisStorageOptions = {}) {
    checkStorageOptions(options);
    const prefixKey = `{${resolvePrefix(options.prefix ?? 'zj')}}:`;
    this.#logger = options.logger ?? consoleLogger('info');
    const retention = resolveRetention(options.retention);
    const { connection, owned, commandTimeoutMs } = openConnection(options, this.#logger);
    this.#ownsConnection = owned;
    this.#commandTimeoutMs = commandTimeoutMs;
    const origin = randomUUID();
    this.#scripts = new ScriptRunner(connection, prefixKey);
    this.#notifier = new Notifier(
      connection,
      `${prefixKey}notify`,
      origin,
      this.#logger,
      commandTimeoutMs,
    );
    this.#runner = new Runner(connection, prefixKey, origin, this.#scripts, this.#notifier, {
      commandTimeoutMs,
      owned,
      logger: this.#logger,
    });
    this.#pruner = new Pruner(
      retention,
      (args) => this.#runner.read<number>('pruneRuns', 'purge', args),
      this.#logger,
    );
    this.#schedules = new ScheduleStore(this.#runner, this.#logger);
    this.#tenancy = new TenancyStore(this.#runner);
  }

  async migrate(): Promise<void> {
    const connection = this.#runner.connection;
    const waitMs =
      this.#commandTimeoutMs > 0 ? Math.min(READY_WAIT_MS, this.#commandTimeoutMs) : READY_WAIT_MS;
    const wait = await waitUntilReady(connection, waitMs);
    if (!wait.ready) {
      const cause =
        wait.lastError instanceof Error ? wait.lastError.message : 'no connection error reported';
      const problem = new Error(
        `no connection to Redis within ${waitMs} ms (${cause}); start the server, or check ` +
          'the url, cluster or connection option',
      );
      throw new StorageError(this.name, 'migrate', problem);
    }
    const metaKey = this.#runner.key('meta');
    const stored = await this.#runner.call('migrate', async () => {
      await connection.hsetnx(metaKey, 'schemaVersion', SCHEMA_VERSION);
      await this.#scripts.loadAll();
      return await connection.hget(metaKey, 'schemaVersion');
    });
    if (stored === '1') {
      // Another process may have moved them between the read above and this call.
      const moved = await this.#schedules.rekey();
      if (moved > 0) {
        this.#logger.info(
          { namespace: this.#runner.prefixKey, schedules: moved },
          `Moved ${moved} schedule(s) of namespace ${this.#runner.prefixKey} to data layout ` +
            `version ${SCHEMA_VERSION}, where schedule names are unique per tenant`,
        );
      }
    }
    if (Number(stored) > Number(SCHEMA_VERSION)) {
      const problem = new Error(
        `namespace ${this.#runner.prefixKey} has data layout version ${stored}, newer than ` +
          `version ${SCHEMA_VERSION} of this @zapjobs/storage-redis; upgrade the package`,
      );
      throw new StorageError(this.name, 'migrate', problem);
    }
    await this.#indexEventTypes(metaKey);
    await checkPersistence(connection, this.#logger);
    this.#pruner.start();
  }

  /**
   * Indexes events written before the compaction indexes "evt:<type>" existed, once per
   * namespace, in batches of {@link REINDEX_BATCH}. Runs again after a crash midway; writing
   * an indexed event again changes nothing.
   */
  async #indexEventTypes(metaKey: string): Promise<void> {
    const connection = this.#runner.connection;
    const done = await this.#runner.call('migrate', () => connection.hget(metaKey, REINDEX_FIELD));
    if (done === '1') return;
    let cursor: string | null = ABSENT;
    while (cursor !== null) {
      cursor = await this.#runner.read<string | null>('migrate', 'eventsReindex', [
        cursor,
        String(REINDEX_BATCH),
      ]);
    }
    await this.#runner.call('migrate', () => connection.hset(metaKey, REINDEX_FIELD, '1'));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#pruner.stop();
    await this.#notifier.close();
    if (this.#ownsConnection) {
      const connection = this.#runner.connection;
      await connection.quit().catch(() => connection.disconnect());
    }
  }

  async now(): Promise<number> {
    const [seconds, micros] = await this.#runner.call('now', () => this.#runner.connection.time());
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  }

  // runs

  async insertRuns(runs: readonly NewRun[], options?: InsertOptions): Promise<InsertResult[]> {
    if (options?.transaction !== undefined) {
      throw new InvalidOptionError(
        'transaction',
        options.transaction,
        'undefined: the Redis storage has no transactional enqueue, so enqueue after your ' +
          'transaction commits',
      );
    }
    if (runs.length === 0) return [];
    const args: string[] = [];
    for (const run of runs) encodeRun(run, args);
    type Row = [string, number, number, RunState];
    const rows = await this.#runner.change<Row[] | Rejection>('insertRuns', 'insert', args);
    if (isRejection(rows)) throw rejectionError(rows);
    return rows.map(decodeInsertResult);
  }

  async getRun(runId: string): Promise<RunRecord | null> {
    const flat = await this.#runner.hash('getRun', `run:${runId}`);
    return flat === null ? null : decodeRun(flat);
  }

  async claim(request: ClaimRequest): Promise<ClaimedRun[]> {
    if (request.limit < 1 || request.queues.length === 0) return [];
    const args = [request.workerId, String(request.limit), String(request.leaseMs)];
    const rows = await this.#runner.change<Flat[]>('claim', 'claim', [...args, ...request.queues]);
    return rows.map(decodeClaimedRun);
  }

  async heartbeat(leases: readonly LeaseRef[], leaseMs: number): Promise<string[]> {
    if (leases.length === 0) return [];
    const args = [String(leaseMs)];
    for (const lease of leases) args.push(lease.runId, lease.leaseToken);
    return await this.#runner.change<string[]>('heartbeat', 'heartbeat', args);
  }

  async complete(requests: readonly CompleteRequest[]): Promise<boolean[]> {
    if (requests.length === 0) return [];
    const args: string[] = [];
    for (const request of requests) {
      args.push(request.runId, request.leaseToken, request.output, request.remove ? '1' : '0');
    }
    return (await this.#runner.change<number[]>('complete', 'complete', args)).map(
      (outcome) => outcome === 1,
    );
  }

  async fail(requests: readonly FailRequest[]): Promise<boolean[]> {
    if (requests.length === 0) return [];
    const args: string[] = [];
    for (const request of requests) {
      args.push(
        request.runId,
        request.leaseToken,
        JSON.stringify(request.error),
        optional(request.retryDelayMs),
      );
    }
    return (await this.#runner.change<number[]>('fail', 'fail', args)).map(
      (outcome) => outcome === 1,
    );
  }

  async release(leases: readonly LeaseRef[]): Promise<boolean[]> {
    if (leases.length === 0) return [];
    const args: string[] = [];
    for (const lease of leases) args.push(lease.runId, lease.leaseToken);
    return (await this.#runner.change<number[]>('release', 'release', args)).map(
      (outcome) => outcome === 1,
    );
  }

  async cancel(runId: string): Promise<CancelResult | null> {
    const outcome = await this.#runner.change<[number, RunState] | null>('cancel', 'cancel', [
      runId,
    ]);
    return outcome ? { cancelled: outcome[0] === 1, state: outcome[1] } : null;
  }

  async reclaimExpired(limit: number): Promise<ReclaimedRun[]> {
    if (limit < 1) return [];
    const args = [String(limit), stalledTemplate, 'StalledError', 'RUN_STALLED'];
    type Row = [string, string, string, number, number, ReclaimedRun['state'], string | null];
    const rows = await this.#runner.change<Row[]>('reclaimExpired', 'reclaim', args);
    return rows.map(([runId, job, queue, attempt, maxAttempts, state, tenantId]) => {
      const run: ReclaimedRun = { runId, job, queue, attempt, maxAttempts, state };
      // Reported only for runs that have a tenant; core reads an absent one as null.
      if (tenantId !== null) run.tenantId = tenantId;
      return run;
    });
  }

  async suspend(request: SuspendRequest): Promise<boolean> {
    const args = [
      request.runId,
      request.leaseToken,
      optional(request.wakeAt),
      optional(request.wakeAfterMs),
      optional(request.signal),
    ];
    return (await this.#runner.change<number>('suspend', 'suspend', args)) === 1;
  }

  async sendSignal(runId: string, name: string, payload: string): Promise<boolean> {
    return (
      (await this.#runner.change<number>('sendSignal', 'signal', [runId, name, payload])) === 1
    );
  }

  async setProgress(lease: LeaseRef, progress: string): Promise<boolean> {
    const args = [lease.runId, lease.leaseToken, progress];
    return (await this.#runner.change<number>('setProgress', 'progress', args)) === 1;
  }

  async nextDueAt(queues: readonly string[]): Promise<number | null> {
    if (queues.length === 0) return null;
    const at = await this.#runner.read<number | null>('nextDueAt', 'nextDue', queues);
    return at === null ? null : Number(at);
  }

  // dependencies and groups

  async listDependencies(runId: string): Promise<DependencyRecord[]> {
    type Row = [string, string, string, string, string];
    const rows = await this.#runner.read<Row[]>('listDependencies', 'depsList', [runId]);
    return rows.map(decodeDependency);
  }

  async countGroup(groupId: string): Promise<GroupCounts> {
    const key = this.#runner.key(`g:${groupId}`);
    const counts = await this.#runner.call('countGroup', () =>
      this.#runner.connection.hgetall(key),
    );
    const byState = Object.fromEntries(
      RUN_STATES.map((state) => [state, Number(counts[state] ?? 0)]),
    ) as Record<RunState, number>;
    return { total: Number(counts.total ?? 0), byState };
  }

  // state

  async putState(
    runId: string,
    key: string,
    value: string,
    options?: { ifAbsent?: boolean; lease?: LeaseRef },
  ): Promise<boolean> {
    const lease = options?.lease;
    if (lease && lease.runId !== runId) return false;
    const args = [runId, key, value, options?.ifAbsent ? '1' : '0', lease?.leaseToken ?? ABSENT];
    return (await this.#runner.read<number>('putState', 'statePut', args)) === 1;
  }

  async getState(runId: string, key: string): Promise<string | null> {
    return await this.#runner.call('getState', () =>
      this.#runner.connection.hget(this.#runner.key(`st:${runId}`), key),
    );
  }

  async listState(runId: string): Promise<Record<string, string>> {
    return await this.#runner.call('listState', () =>
      this.#runner.connection.hgetall(this.#runner.key(`st:${runId}`)),
    );
  }

  // events

  async appendEvents(events: readonly NewEvent[]): Promise<void> {
    if (events.length === 0) return;
    const args: string[] = [];
    for (const event of events) {
      args.push(event.runId, event.type, optional(event.data), optional(event.attempt));
    }
    await this.#runner.read<number>('appendEvents', 'eventsAppend', args);
  }

  async compactEvents(request: CompactEventsRequest): Promise<number> {
    checkCompactEventsRequest(request);
    const args = [String(Math.ceil(request.before)), String(request.limit), ...request.types];
    return await this.#runner.read<number>('compactEvents', 'compactEvents', args);
  }

  async listEvents(query: EventQuery): Promise<Page<EventRecord>> {
    type Row = [string, string | null, string | null, string];
    const args = listEventsArgs(query);
    const [rows, cursor] = await this.#runner.read<[Row[], string | null]>(
      'listEvents',
      'eventsList',
      args,
    );
    return {
      items: rows.map(([runId, groupId, tenantId, entry]) =>
        decodeEvent(runId, groupId, tenantId, entry),
      ),
      nextCursor: cursor,
    };
  }

  // schedules

  upsertSchedule(schedule: ScheduleUpsert): Promise<ScheduleRecord> {
    return this.#schedules.upsert(schedule);
  }

  getSchedule(key: ScheduleKey): Promise<ScheduleRecord | null> {
    return this.#schedules.get(key);
  }

  listSchedules(filter: { tenantId?: string } = {}): Promise<ScheduleRecord[]> {
    return this.#schedules.list(filter.tenantId);
  }

  setSchedulePaused(key: ScheduleKey, paused: boolean): Promise<boolean> {
    return this.#schedules.setPaused(key, paused);
  }

  deleteSchedule(key: ScheduleKey): Promise<boolean> {
    return this.#schedules.delete(key);
  }

  dueSchedules(limit: number): Promise<ScheduleRecord[]> {
    return this.#schedules.due(limit);
  }

  fireSchedule(request: FireScheduleRequest): Promise<FireScheduleResult> {
    return this.#schedules.fire(request);
  }

  // notifications

  async subscribe(listener: StorageListener): Promise<() => Promise<void>> {
    if (this.#closed) {
      throw new StorageError(this.name, 'subscribe', new Error('the storage is closed'));
    }
    return await this.#runner.call('subscribe', () => this.#notifier.add(listener));
  }

  // limits

  async setLimit(spec: LimitSpec): Promise<void> {
    const args = [limitField(spec.scope, spec.key), encodeLimit(spec)];
    await this.#runner.change<number>('setLimit', 'limitSet', args);
  }

  async deleteLimit(scope: LimitSpec['scope'], key: string): Promise<boolean> {
    const args = [limitField(scope, key), ABSENT];
    return (await this.#runner.change<number>('deleteLimit', 'limitSet', args)) === 1;
  }

  async listLimits(): Promise<LimitSpec[]> {
    const key = this.#runner.key('limits');
    const flat = await this.#runner.call('listLimits', () => this.#runner.connection.hgetall(key));
    return Object.entries(flat).map(([field, value]) => decodeLimit(field, value));
  }

  // admin

  async listRuns(filter: RunFilter, page: PageRequest): Promise<Page<RunRecord>> {
    const args = listRunsArgs(filter, page);
    const [rows, cursor] = await this.#runner.read<[Flat[], string | null]>(
      'listRuns',
      'runsList',
      args,
    );
    return { items: rows.map(decodeRun), nextCursor: cursor };
  }

  async countRuns(filter: RunFilter): Promise<Record<RunState, number>> {
    const args = runFilterArgs(filter);
    const flat = await this.#runner.read<(string | number)[]>('countRuns', 'runsCount', args);
    const counts = Object.fromEntries(RUN_STATES.map((state) => [state, 0])) as Record<
      RunState,
      number
    >;
    for (let i = 0; i < flat.length; i += 2) counts[flat[i] as RunState] = Number(flat[i + 1]);
    return counts;
  }

  async retryRuns(runIds: readonly string[]): Promise<number> {
    if (runIds.length === 0) return 0;
    return await this.#runner.change<number>('retryRuns', 'retry', runIds);
  }

  async purgeRuns(request: PurgeRequest): Promise<number> {
    if (request.limit < 1 || request.states.length === 0) return 0;
    const args = [String(request.limit), 'absolute'];
    for (const state of request.states) args.push(state, String(request.finishedBefore));
    return await this.#runner.read<number>('purgeRuns', 'purge', args);
  }

  async registerWorker(worker: Omit<WorkerInfo, 'startedAt' | 'lastSeenAt'>): Promise<void> {
    const args = [
      worker.id,
      worker.hostname,
      String(worker.pid),
      JSON.stringify(worker.queues),
      String(worker.concurrency),
    ];
    await this.#runner.read<number>('registerWorker', 'workerRegister', args);
  }

  async listWorkers(seenWithinMs: number): Promise<WorkerInfo[]> {
    const rows = await this.#runner.read<[string, Flat][]>('listWorkers', 'workersList', [
      String(seenWithinMs),
    ]);
    return rows.map(([id, flat]) => decodeWorker(id, flat));
  }

  async unregisterWorker(workerId: string): Promise<void> {
    await this.#runner.read<number>('unregisterWorker', 'workerUnregister', [workerId]);
  }

  // tenants and fair queues

  upsertTenant(tenant: TenantUpsert): Promise<TenantRecord> {
    return this.#tenancy.upsertTenant(tenant);
  }

  getTenant(tenantId: string): Promise<TenantRecord | null> {
    return this.#tenancy.getTenant(tenantId);
  }

  listTenants(query: TenantQuery): Promise<Page<TenantRecord>> {
    return this.#tenancy.listTenants(query);
  }

  setTenantStatus(change: TenantStatusChange): Promise<TenantRecord | null> {
    return this.#tenancy.setTenantStatus(change);
  }

  purgeTenants(limit: number): Promise<TenantPurgeResult> {
    return this.#tenancy.purgeTenants(limit);
  }

  setFairness(spec: FairnessSpec): Promise<void> {
    return this.#tenancy.setFairness(spec);
  }

  deleteFairness(queue: string): Promise<boolean> {
    return this.#tenancy.deleteFairness(queue);
  }

  listFairness(): Promise<FairnessSpec[]> {
    return this.#tenancy.listFairness();
  }

  /**
   * Runs one automatic pruning step now and returns how many runs it deleted. The storage
   * also runs it every `retention.intervalMs` after `migrate()`.
   */
  async pruneOnce(): Promise<number> {
    return await this.#pruner.runOnce();
  }
}
