import type { BurstUse, ClaimedRun, ClaimRequest, RunRecord } from '@zapjobs/core/storage';
import { InvalidOptionError } from '@zapjobs/core/storage';
import {
  APPEND_STARTED,
  CLAIM_RUNS,
  COUNT_RATE_CLAIMS,
  FIRST_CANDIDATES,
  hasClaimableSql,
  NEXT_CANDIDATES,
  promoteDueSql,
  RELEASE_KEYS_ON_START,
} from '../sql/claims.js';
import type { Connection, Tx } from './connection.js';
import { placeholders, wakeDueSuspended } from './control.js';
import { type LimitRow, loadLimits, toLimitSpec } from './limits.js';
import { type RunRow, toRunRecord } from './rows.js';

/**
 * Most candidates read per query while scanning a queue. Without job or partition limits
 * every candidate is claimed, so a query reads only as many as there are free slots.
 */
const SCAN_BATCH = 100;
/**
 * Most candidates inspected per queue and pass. Runs blocked by job or partition limits are
 * skipped, so this bounds the work of one claim.
 * NOTE: a claimable run behind more than this many blocked runs of the same queue waits for
 * the blocked ones to drain.
 */
const SCAN_MAX = 2_000;
/** How often a connection deletes rate-limit claim records that left every window. */
const RATE_PRUNE_EVERY_MS = 5_000;

export type Candidate = Pick<
  RunRow,
  'id' | 'job' | 'queue' | 'priority' | 'run_at' | 'partition_key'
>;

/** Burst uses of the claimed runs that have some, by run id. */
export type BurstsByRun = Map<string, readonly BurstUse[]>;

/** The `bursts` of a run that every limit admitted within its normal caps. */
const NO_BURSTS: readonly BurstUse[] = Object.freeze([]);

const lastRatePruneAt = new WeakMap<object, number>();

/**
 * Claims up to `request.limit` due runs in queue order, then priority (higher first), then
 * `runAt`, then id, honoring every limit. A second pass with burst capacity runs only when the
 * first left free slots, that is when no run claimable within the normal limits remains.
 */
export function claim(tx: Tx, request: ClaimRequest): ClaimedRun[] {
  checkClaimRequest(request);
  const queues = [...new Set(request.queues)];
  if (queues.length === 0) return [];

  tx.conn.stmt(promoteDueSql(placeholders(queues))).run(...queues, tx.now);
  wakeDueSuspended(tx, queues);

  const limits = loadLimits(tx.conn);
  pruneRateClaims(tx, limits);
  const tracker = new LimitTracker(tx, limits);
  // Chosen runs stay available until claimRuns, so the burst pass skips them by id.
  const chosen = new Set<string>();
  const bursts: BurstsByRun = new Map();
  const passes = tracker.hasBurst ? [false, true] : [false];
  for (const burst of passes) {
    for (const queue of queues) {
      if (chosen.size >= request.limit) break;
      scanQueue(tx, request, queue, tracker, burst, { chosen, bursts });
    }
  }
  return claimRuns(tx, request, [...chosen], bursts);
}

/**
 * Checks whether any run of these queues is available or due, read without a write lock. A run that
 * becomes due right after this check is left for the next claim, as if this claim ran earlier.
 */
export function hasClaimable(conn: Connection, queues: readonly string[], now: number): boolean {
  if (queues.length === 0) return false;
  const sql = hasClaimableSql(placeholders(queues));
  return (
    conn
      .stmt(sql)
      .pluck()
      .get(...queues, ...queues, now, ...queues, now) === 1
  );
}

export function checkClaimRequest(request: ClaimRequest): void {
  if (!(Number.isInteger(request.limit) && request.limit >= 1)) {
    throw new InvalidOptionError('limit', request.limit, 'an integer >= 1');
  }
  if (!(Number.isFinite(request.leaseMs) && request.leaseMs > 0)) {
    throw new InvalidOptionError('leaseMs', request.leaseMs, 'a number of milliseconds > 0');
  }
}

/**
 * Walks one queue's available runs in claim order and adds to `picked.chosen` the ids of those
 * the limits allow, counting them against the limits and noting their burst uses.
 */
function scanQueue(
  tx: Tx,
  request: ClaimRequest,
  queue: string,
  tracker: LimitTracker,
  burst: boolean,
  picked: { chosen: Set<string>; bursts: BurstsByRun },
): void {
  const { chosen, bursts } = picked;
  const maySkip = tracker.maySkip(queue);
  let last: Candidate | null = null;
  let scanned = 0;
  while (scanned < SCAN_MAX) {
    if (tracker.queueFull(queue, burst)) return;
    const pageSize = maySkip ? SCAN_BATCH : Math.min(SCAN_BATCH, request.limit - chosen.size);
    const candidates = (
      last === null
        ? tx.conn.stmt(FIRST_CANDIDATES).all(queue, pageSize)
        : tx.conn
            .stmt(NEXT_CANDIDATES)
            .all(queue, last.priority, last.priority, last.run_at, last.run_at, last.id, pageSize)
    ) as Candidate[];
    for (const candidate of candidates) {
      scanned += 1;
      last = candidate;
      if (chosen.has(candidate.id) || !tracker.allows(candidate, burst)) continue;
      chosen.add(candidate.id);
      const uses = tracker.record(candidate);
      if (uses.length > 0) bursts.set(candidate.id, uses);
      if (chosen.size >= request.limit || tracker.queueFull(queue, burst)) return;
    }
    if (candidates.length < pageSize) return;
  }
}

/** Starts an attempt of one available run; see {@link claimRuns}. */
export function claimOne(tx: Tx, request: ClaimRequest, runId: string): ClaimedRun {
  const [claimed] = claimRuns(tx, request, [runId]);
  if (claimed === undefined) throw new Error(`Run ${runId} is not available to claim`);
  return claimed;
}

/**
 * Starts an attempt of each listed available run with one statement per step: the update that
 * takes the leases, the `started` events, and the release of unique keys held until start.
 * The release is skipped when no listed run has a unique key. Returns the claimed runs in the
 * order of `runIds`, each with its entry of `bursts`.
 */
export function claimRuns(
  tx: Tx,
  request: ClaimRequest,
  runIds: readonly string[],
  bursts?: ReadonlyMap<string, readonly BurstUse[]>,
): ClaimedRun[] {
  if (runIds.length === 0) return [];
  const ids = JSON.stringify(runIds);
  const rows = tx.conn
    .stmt(CLAIM_RUNS)
    .all(tx.now + request.leaseMs, request.workerId, tx.now, tx.now, ids) as RunRow[];
  tx.conn.stmt(APPEND_STARTED).run(tx.now, JSON.stringify({ workerId: request.workerId }), ids);
  if (rows.some((row) => row.unique_key !== null)) tx.conn.stmt(RELEASE_KEYS_ON_START).run(ids);

  const byId = new Map(rows.map((row) => [row.id, row]));
  const claimed: ClaimedRun[] = [];
  for (const runId of runIds) {
    const row = byId.get(runId);
    if (row === undefined) continue;
    // Adds the fields to the record, because spreading it into a new object costs more than
    // the rest of the mapping.
    const run = toRunRecord(row) as RunRecord & {
      leaseToken: string;
      bursts: readonly BurstUse[];
    };
    run.leaseToken = row.lease_token!;
    run.bursts = bursts?.get(runId) ?? NO_BURSTS;
    claimed.push(run);
  }
  return claimed;
}

export function pruneRateClaims(tx: Tx, limits: readonly LimitRow[]): void {
  if (tx.now - (lastRatePruneAt.get(tx.conn) ?? 0) < RATE_PRUNE_EVERY_MS) return;
  lastRatePruneAt.set(tx.conn, tx.now);
  const prune = tx.conn.stmt(
    'DELETE FROM zapjobs_rate_claims WHERE scope = ? AND key = ? AND at <= ?',
  );
  for (const limit of limits) {
    if (limit.rate_period_ms !== null)
      prune.run(limit.scope, limit.key, tx.now - limit.rate_period_ms);
  }
}

/** One limit applied to one partition value ('' when the limit is not per partition). */
interface Bucket {
  limit: LimitRow;
  partition: string;
  id: string;
}

function burstUse(bucket: Bucket, kind: BurstUse['kind'], count: number): BurstUse {
  const partitionKey = bucket.limit.scope === 'partition' ? bucket.partition : null;
  return { limit: toLimitSpec(bucket.limit), kind, partitionKey, count };
}

/**
 * Counts running runs and recent claims per limit for the duration of one claim transaction,
 * loading each count once and updating it as runs are claimed.
 */
export class LimitTracker {
  readonly hasBurst: boolean;
  private readonly hasJobLimit: boolean;
  private readonly byScopeKey = new Map<string, LimitRow>();
  private readonly running = new Map<string, number>();
  private readonly rate = new Map<string, number>();

  constructor(
    private readonly tx: Tx,
    limits: readonly LimitRow[],
  ) {
    for (const limit of limits) this.byScopeKey.set(`${limit.scope}\u0000${limit.key}`, limit);
    this.hasBurst = limits.some((limit) => (limit.burst_multiplier ?? 1) > 1);
    this.hasJobLimit = limits.some((limit) => limit.scope === 'job');
  }

  /** True when the queue's own limit leaves no room, so scanning it is pointless. */
  queueFull(queue: string, burst: boolean): boolean {
    const limit = this.byScopeKey.get(`queue\u0000${queue}`);
    if (limit === undefined) return false;
    return !this.bucketAllows(this.bucket(limit, ''), burst);
  }

  /**
   * True when a job or partition limit may skip some runs of `queue`. A queue limit skips
   * none: it ends the scan when reached.
   */
  maySkip(queue: string): boolean {
    return this.hasJobLimit || this.byScopeKey.has(`partition\u0000${queue}`);
  }

  allows(run: Candidate, burst: boolean): boolean {
    return this.buckets(run).every((bucket) => this.bucketAllows(bucket, burst));
  }

  /**
   * Counts a claimed run against every limit that applies to it. Returns the caps that the run
   * takes past their normal value, which only a burst pass allows.
   */
  record(run: Candidate): BurstUse[] {
    const insert = this.tx.conn.stmt(
      'INSERT INTO zapjobs_rate_claims (scope, key, partition_key, at) VALUES (?, ?, ?, ?)',
    );
    const uses: BurstUse[] = [];
    for (const bucket of this.buckets(run)) {
      const { limit } = bucket;
      if (limit.concurrency !== null) {
        const running = this.runningCount(bucket) + 1;
        this.running.set(bucket.id, running);
        if (running > limit.concurrency) uses.push(burstUse(bucket, 'concurrency', running));
      }
      if (limit.rate_limit !== null) {
        const claims = this.rateCount(bucket) + 1;
        this.rate.set(bucket.id, claims);
        insert.run(limit.scope, limit.key, bucket.partition, this.tx.now);
        if (claims > limit.rate_limit) uses.push(burstUse(bucket, 'rate', claims));
      }
    }
    return uses;
  }

  private buckets(run: Candidate): Bucket[] {
    const buckets: Bucket[] = [];
    const queueLimit = this.byScopeKey.get(`queue\u0000${run.queue}`);
    if (queueLimit !== undefined) buckets.push(this.bucket(queueLimit, ''));
    const jobLimit = this.byScopeKey.get(`job\u0000${run.job}`);
    if (jobLimit !== undefined) buckets.push(this.bucket(jobLimit, ''));
    // Runs without a partition key are not subject to partition limits.
    const partitionLimit = this.byScopeKey.get(`partition\u0000${run.queue}`);
    if (partitionLimit !== undefined && run.partition_key !== null) {
      buckets.push(this.bucket(partitionLimit, run.partition_key));
    }
    return buckets;
  }

  private bucket(limit: LimitRow, partition: string): Bucket {
    return { limit, partition, id: `${limit.scope}\u0000${limit.key}\u0000${partition}` };
  }

  private bucketAllows(bucket: Bucket, burst: boolean): boolean {
    const multiplier = burst ? (bucket.limit.burst_multiplier ?? 1) : 1;
    const { concurrency, rate_limit: rateLimit } = bucket.limit;
    if (concurrency !== null && this.runningCount(bucket) >= Math.floor(concurrency * multiplier)) {
      return false;
    }
    if (rateLimit !== null && this.rateCount(bucket) >= Math.floor(rateLimit * multiplier)) {
      return false;
    }
    return true;
  }

  private runningCount(bucket: Bucket): number {
    const cached = this.running.get(bucket.id);
    if (cached !== undefined) return cached;
    const { scope, key } = bucket.limit;
    const sql =
      scope === 'queue'
        ? "SELECT count(*) FROM zapjobs_runs WHERE state = 'running' AND queue = ?"
        : scope === 'job'
          ? "SELECT count(*) FROM zapjobs_runs WHERE state = 'running' AND job = ?"
          : `SELECT count(*) FROM zapjobs_runs
             WHERE state = 'running' AND queue = ? AND partition_key = ?`;
    const params = scope === 'partition' ? [key, bucket.partition] : [key];
    const count = this.tx.conn
      .stmt(sql)
      .pluck()
      .get(...params) as number;
    this.running.set(bucket.id, count);
    return count;
  }

  private rateCount(bucket: Bucket): number {
    const cached = this.rate.get(bucket.id);
    if (cached !== undefined) return cached;
    const { scope, key, rate_period_ms: periodMs } = bucket.limit;
    const count = this.tx.conn
      .stmt(COUNT_RATE_CLAIMS)
      .pluck()
      .get(scope, key, bucket.partition, this.tx.now - (periodMs ?? 0)) as number;
    this.rate.set(bucket.id, count);
    return count;
  }
}
