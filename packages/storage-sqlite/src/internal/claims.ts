import { randomUUID } from 'node:crypto';
import type { ClaimedRun, ClaimRequest } from '@zapjobs/core/storage';
import { InvalidOptionError } from '@zapjobs/core/storage';
import {
  CLAIM_RUN,
  COUNT_RATE_CLAIMS,
  FIRST_CANDIDATES,
  hasClaimableSql,
  NEXT_CANDIDATES,
  promoteDueSql,
} from '../sql/claims.js';
import type { Connection, Tx } from './connection.js';
import { placeholders, wakeDueSuspended } from './control.js';
import { appendEvent } from './events.js';
import { type LimitRow, loadLimits } from './limits.js';
import { type RunRow, toRunRecord } from './rows.js';

/** Candidates read per query while scanning a queue. */
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

type Candidate = Pick<RunRow, 'id' | 'job' | 'queue' | 'priority' | 'run_at' | 'partition_key'>;

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
  const claimed: ClaimedRun[] = [];
  const passes = tracker.hasBurst ? [false, true] : [false];
  for (const burst of passes) {
    for (const queue of queues) {
      if (claimed.length >= request.limit) return claimed;
      scanQueue(tx, request, queue, tracker, burst, claimed);
    }
  }
  return claimed;
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

/** Walks one queue's available runs in claim order and claims those the limits allow. */
function scanQueue(
  tx: Tx,
  request: ClaimRequest,
  queue: string,
  tracker: LimitTracker,
  burst: boolean,
  claimed: ClaimedRun[],
): void {
  let last: Candidate | null = null;
  let scanned = 0;
  while (scanned < SCAN_MAX) {
    if (tracker.queueFull(queue, burst)) return;
    const candidates = (
      last === null
        ? tx.conn.stmt(FIRST_CANDIDATES).all(queue, SCAN_BATCH)
        : tx.conn
            .stmt(NEXT_CANDIDATES)
            .all(queue, last.priority, last.priority, last.run_at, last.run_at, last.id, SCAN_BATCH)
    ) as Candidate[];
    for (const candidate of candidates) {
      scanned += 1;
      last = candidate;
      if (!tracker.allows(candidate, burst)) continue;
      claimed.push(claimOne(tx, request, candidate.id));
      tracker.record(candidate);
      if (claimed.length >= request.limit || tracker.queueFull(queue, burst)) return;
    }
    if (candidates.length < SCAN_BATCH) return;
  }
}

function claimOne(tx: Tx, request: ClaimRequest, runId: string): ClaimedRun {
  const leaseToken = randomUUID();
  const row = tx.conn
    .stmt(CLAIM_RUN)
    .get(leaseToken, tx.now + request.leaseMs, request.workerId, tx.now, tx.now, runId) as RunRow;
  tx.conn
    .stmt("DELETE FROM zapjobs_unique_keys WHERE run_id = ? AND release_on = 'start'")
    .run(runId);
  appendEvent(tx, row, 'started', row.attempt, JSON.stringify({ workerId: request.workerId }));
  return { ...toRunRecord(row), leaseToken };
}

function pruneRateClaims(tx: Tx, limits: readonly LimitRow[]): void {
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

/**
 * Counts running runs and recent claims per limit for the duration of one claim transaction,
 * loading each count once and updating it as runs are claimed.
 */
class LimitTracker {
  readonly hasBurst: boolean;
  private readonly byScopeKey = new Map<string, LimitRow>();
  private readonly running = new Map<string, number>();
  private readonly rate = new Map<string, number>();

  constructor(
    private readonly tx: Tx,
    limits: readonly LimitRow[],
  ) {
    for (const limit of limits) this.byScopeKey.set(`${limit.scope}\u0000${limit.key}`, limit);
    this.hasBurst = limits.some((limit) => (limit.burst_multiplier ?? 1) > 1);
  }

  /** True when the queue's own limit leaves no room, so scanning it is pointless. */
  queueFull(queue: string, burst: boolean): boolean {
    const limit = this.byScopeKey.get(`queue\u0000${queue}`);
    if (limit === undefined) return false;
    return !this.bucketAllows(this.bucket(limit, ''), burst);
  }

  allows(run: Candidate, burst: boolean): boolean {
    return this.buckets(run).every((bucket) => this.bucketAllows(bucket, burst));
  }

  /** Counts a claimed run against every limit that applies to it. */
  record(run: Candidate): void {
    const insert = this.tx.conn.stmt(
      'INSERT INTO zapjobs_rate_claims (scope, key, partition_key, at) VALUES (?, ?, ?, ?)',
    );
    for (const bucket of this.buckets(run)) {
      if (bucket.limit.concurrency !== null) {
        this.running.set(bucket.id, this.runningCount(bucket) + 1);
      }
      if (bucket.limit.rate_limit !== null) {
        this.rate.set(bucket.id, this.rateCount(bucket) + 1);
        insert.run(bucket.limit.scope, bucket.limit.key, bucket.partition, this.tx.now);
      }
    }
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
