import type {
  ClaimedRun,
  ClaimRequest,
  CompleteRequest,
  FailRequest,
  FireScheduleRequest,
  FireScheduleResult,
  InsertResult,
  LeaseRef,
  NewRun,
  ReclaimedRun,
  RunState,
  SerializedError,
  SuspendRequest,
} from '@zapjobs/core/storage';
import { InvalidOptionError, StalledError } from '@zapjobs/core/storage';
import { type Db, type Queryable, runQuery, sqlState, toStorageError } from './db.js';
import {
  booleanArray,
  claimedRunFromValues,
  encodeNewRuns,
  inClaimOrder,
  textArray,
} from './rows.js';
import { isRunId } from './run-ids.js';
import type { Statements } from './statements.js';

/** SQLSTATE of a removing batch that must be completed again with its runs locked first. */
const LOCK_FIRST_CODE = 'ZJR01';

/** Dependencies of the run operations: the pool wrapper and the schema's statements. */
export interface RunContext {
  db: Db;
  st: Statements;
}

/**
 * Inserts runs on the pool, or on the caller's client when `transaction` is given. On the
 * caller's client nothing is retried or committed here: the caller's transaction decides.
 */
export async function insertRuns(
  ctx: RunContext,
  runs: readonly NewRun[],
  transaction: unknown,
): Promise<InsertResult[]> {
  if (runs.length === 0) return [];
  checkRunIds(runs, 'runs');
  if (transaction === undefined) {
    return insertOn(ctx, runs, (sql, values) => ctx.db.query('insertRuns', sql, values));
  }
  if (!isQueryable(transaction) || isPool(transaction)) {
    throw new InvalidOptionError(
      'transaction',
      transaction,
      'a pg.Client or pg.PoolClient on which BEGIN was run (not a pg.Pool)',
    );
  }
  try {
    return await insertOn(ctx, runs, (sql, values) => runQuery(transaction, sql, values));
  } catch (error) {
    throw toStorageError('insertRuns', error);
  }
}

/** Rejects new runs whose id cannot be stored, naming the first one. */
function checkRunIds(runs: readonly NewRun[], name: string): void {
  for (const [index, item] of runs.entries()) {
    if (!isRunId(item.id)) {
      throw new InvalidOptionError(
        `${name}[${index}].id`,
        item.id,
        'a lowercase UUID other than the nil UUID, as core creates run ids',
      );
    }
  }
}

type Run = (
  sql: Statements[keyof Statements],
  values: unknown[],
) => Promise<{ rows: Record<string, unknown>[] }>;

async function insertOn(
  ctx: RunContext,
  runs: readonly NewRun[],
  run: Run,
): Promise<InsertResult[]> {
  const payload = encodeNewRuns(runs);
  const tenancy = [
    [...new Set(runs.flatMap((item) => (item.tenantId === undefined ? [] : [item.tenantId])))],
    [...new Set(runs.map((item) => item.queue))],
    runs.map((item) => item.id),
  ];
  const plain = runs.every(
    (item) => item.unique === undefined && (item.dependsOn?.length ?? 0) === 0,
  );

  if (plain) {
    const { rows } = await run(ctx.st.insertPlain, [payload, ...tenancy]);
    const states = new Map(rows.map((row) => [row.run_id as string, row.state as RunState]));
    return runs.map((item) => ({
      runId: item.id,
      created: true,
      replaced: false,
      state: states.get(item.id) ?? 'available',
    }));
  }

  const { rows } = await run(ctx.st.insert, [payload, ...tenancy]);
  return rows.map((row) => ({
    runId: row.run_id as string,
    created: row.created as boolean,
    replaced: row.replaced as boolean,
    state: row.state as RunState,
  }));
}

/** Inserts the runs of a schedule occurrence in the same transaction as its compare-and-set. */
export async function fireSchedule(
  ctx: RunContext,
  request: FireScheduleRequest,
): Promise<FireScheduleResult> {
  checkRunIds(request.runs, 'runs');
  return ctx.db.transaction('fireSchedule', async (client) => {
    const fired = await runQuery(client, ctx.st.fireSchedule, [
      request.tenantId ?? '',
      request.name,
      Math.floor(request.expectedNextFireAt),
      request.nextFireAt === null ? null : Math.floor(request.nextFireAt),
      Math.floor(request.lastFireAt),
    ]);
    if (fired.rowCount === 0) return { fired: false, inserted: [] };
    const inserted =
      request.runs.length === 0
        ? []
        : await insertOn(ctx, request.runs, (sql, values) => runQuery(client, sql, values));
    return { fired: true, inserted };
  });
}

export async function claim(ctx: RunContext, request: ClaimRequest): Promise<ClaimedRun[]> {
  const queues = [...new Set(request.queues)];
  if (queues.length === 0 || request.limit < 1) return [];
  const leaseMs = Math.floor(request.leaseMs);
  const rows = await ctx.db.queryArrays('claim', ctx.st.claim, [
    request.workerId,
    queues,
    Math.floor(request.limit),
    leaseMs,
  ]);
  return inClaimOrder(
    rows.map((values) => claimedRunFromValues(values, request.workerId, leaseMs)),
  );
}

export async function heartbeat(
  ctx: RunContext,
  leases: readonly LeaseRef[],
  leaseMs: number,
): Promise<string[]> {
  const known = leases.filter(hasRunId);
  if (known.length === 0) return [...new Set(leases.map((lease) => lease.runId))];
  const { rows } = await ctx.db.query<LeaseRow>('heartbeat', ctx.st.heartbeat, [
    textArray(known.map((lease) => lease.runId)),
    textArray(known.map((lease) => lease.leaseToken)),
    Math.floor(leaseMs),
  ]);
  const stillHeld = fenced(leases, rows);
  return [...new Set(leases.filter((_, i) => !stillHeld[i]).map((lease) => lease.runId))];
}

export async function complete(
  ctx: RunContext,
  requests: readonly CompleteRequest[],
): Promise<boolean[]> {
  // The index in `requests` of each request that names a run id. The others never hold a lease.
  const sent: number[] = [];
  for (let i = 0; i < requests.length; i++) {
    if (hasRunId(requests[i] as CompleteRequest)) sent.push(i);
  }
  const results = requests.map(() => false);
  if (sent.length === 0) return results;
  const known = sent.map((i) => requests[i] as CompleteRequest);
  const values = [
    textArray(known.map((request) => request.runId)),
    textArray(known.map((request) => request.leaseToken)),
    textArray(known.map((request) => request.output)),
    booleanArray(known.map((request) => request.remove === true)),
  ];
  let rows: { position: number }[];
  try {
    ({ rows } = await ctx.db.query<{ position: number }>('complete', ctx.st.complete, [
      ...values,
      false,
    ]));
  } catch (error) {
    // The batch could not remove its runs without locking them first, and nothing of it was
    // stored. This is rare (see migration 23).
    if (sqlState((error as Error).cause) !== LOCK_FIRST_CODE) throw error;
    ctx.db.logger.debug(
      { err: error, runIds: known.map((request) => request.runId) },
      'postgres completion batch rolled back to lock its runs first, sending it again',
    );
    ({ rows } = await ctx.db.query<{ position: number }>('complete', ctx.st.complete, [
      ...values,
      true,
    ]));
  }
  for (const i of sent) results[i] = true;
  for (const row of rows) results[sent[row.position - 1] as number] = false;
  return results;
}

export async function fail(ctx: RunContext, requests: readonly FailRequest[]): Promise<boolean[]> {
  const known = requests.filter(hasRunId);
  if (known.length === 0) return requests.map(() => false);
  const { rows } = await ctx.db.query<LeaseRow>('fail', ctx.st.fail, [
    textArray(known.map((request) => request.runId)),
    textArray(known.map((request) => request.leaseToken)),
    textArray(known.map((request) => JSON.stringify(request.error))),
    known.map((request) =>
      request.retryDelayMs === null ? null : Math.max(0, Math.floor(request.retryDelayMs)),
    ),
  ]);
  return fenced(requests, rows);
}

export async function release(ctx: RunContext, leases: readonly LeaseRef[]): Promise<boolean[]> {
  const known = leases.filter(hasRunId);
  if (known.length === 0) return leases.map(() => false);
  const { rows } = await ctx.db.query<LeaseRow>('release', ctx.st.release, [
    textArray(known.map((lease) => lease.runId)),
    textArray(known.map((lease) => lease.leaseToken)),
  ]);
  return fenced(leases, rows);
}

/** Checks that a lease names a run id. A lease of any other id is never held. */
function hasRunId(lease: LeaseRef): boolean {
  return isRunId(lease.runId);
}

/** A lease a fenced statement found held: the run id and the token of the request. */
interface LeaseRow {
  run_id: string;
  lease_token: string;
}

/**
 * Maps the leases a fenced batch found held back to one boolean per request. Matching on the
 * token as well as the id keeps a stale request for a run apart from a valid one in the same
 * batch: a run has one lease at a time, so each id is held under one token at most.
 */
function fenced(requests: readonly LeaseRef[], held: readonly LeaseRow[]): boolean[] {
  const heldTokens = new Map<string, string>();
  for (const row of held) heldTokens.set(row.run_id, row.lease_token);
  return requests.map((request) => heldTokens.get(request.runId) === request.leaseToken);
}

/**
 * Recovers expired leases. A cheap check runs first, so the common case (nothing expired)
 * costs one statement. Otherwise one transaction locks the expired runs, builds each stall
 * error here because core owns error messages, and stalls the runs.
 */
export async function reclaimExpired(ctx: RunContext, limit: number): Promise<ReclaimedRun[]> {
  if (limit < 1) return [];
  const expired = await ctx.db.query<{ any: boolean }>('reclaimExpired', ctx.st.anyExpired);
  if (expired.rows[0]?.any !== true) return [];

  return ctx.db.transaction('reclaimExpired', async (client) => {
    const picked = await runQuery<{ id: string; attempt: number; tenant_id: string | null }>(
      client,
      ctx.st.pickExpired,
      [Math.floor(limit)],
    );
    if (picked.rows.length === 0) return [];
    const errors = picked.rows.map((row) =>
      JSON.stringify(serializeError(new StalledError(row.id, row.attempt))),
    );
    const { rows } = await runQuery(client, ctx.st.stall, [
      picked.rows.map((row) => row.id),
      errors,
    ]);
    const tenants = new Map(picked.rows.map((row) => [row.id, row.tenant_id]));
    return rows.map((row) => ({
      runId: row.run_id as string,
      job: row.job as string,
      queue: row.queue as string,
      attempt: row.attempt as number,
      maxAttempts: row.max_attempts as number,
      state: row.state as 'available' | 'failed',
      tenantId: tenants.get(row.run_id as string) ?? null,
    }));
  });
}

export async function suspend(ctx: RunContext, request: SuspendRequest): Promise<boolean> {
  if (!isRunId(request.runId)) return false;
  const signal = request.signal ?? null;
  const { rows } =
    request.wakeAt === undefined && request.wakeAfterMs !== undefined
      ? await ctx.db.query<{ ok: boolean }>('suspend', ctx.st.suspendAfter, [
          request.runId,
          request.leaseToken,
          Math.max(0, Math.floor(request.wakeAfterMs)),
          signal,
        ])
      : await ctx.db.query<{ ok: boolean }>('suspend', ctx.st.suspend, [
          request.runId,
          request.leaseToken,
          request.wakeAt === undefined ? null : Math.floor(request.wakeAt),
          signal,
        ]);
  return rows[0]?.ok === true;
}

function serializeError(error: Error & { code?: string }): SerializedError {
  return { name: error.name, message: error.message, code: error.code };
}

/** Detects a pg.Pool, which runs each query on any connection, outside the caller's transaction. */
function isPool(value: object): boolean {
  return 'totalCount' in value && 'idleCount' in value;
}

function isQueryable(value: unknown): value is Queryable {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { query?: unknown }).query === 'function'
  );
}
