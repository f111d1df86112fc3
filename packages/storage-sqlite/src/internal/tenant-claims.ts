import type { ClaimedRun, ClaimRequest } from '@zapjobs/core/storage';
import { promoteDueSql } from '../sql/claims.js';
import {
  COUNT_RUNNING,
  FAIR_CANDIDATES,
  FAIR_KEYS,
  FILTERED_CANDIDATES,
  INACTIVE_TENANTS,
  needsTenantClaimSql,
} from '../sql/tenancy.js';
import {
  type BurstsByRun,
  type Candidate,
  checkClaimRequest,
  claimRuns,
  LimitTracker,
  pruneRateClaims,
} from './claims.js';
import type { Tx } from './connection.js';
import { placeholders, wakeDueSuspended } from './control.js';
import { loadLimits } from './limits.js';

/** Most candidates read per query; a query reads no more than the free slots need. */
const PAGE = 32;
/** Most candidates inspected per queue (plain order) or per key (fair order) and pass. */
const SCAN_MAX = 2_000;
const KEY_SCAN_MAX = 200;
/** A keyset position before every run: priorities are 32-bit integers. */
const START = { priority: 2 ** 31, run_at: Number.MIN_SAFE_INTEGER, id: '' };
/** How often a connection deletes fair-state rows that no longer matter. */
const FAIR_PRUNE_EVERY_MS = 10_000;

type TenantCandidate = Candidate & { tenant_id: string | null };
type Position = Pick<TenantCandidate, 'priority' | 'run_at' | 'id'>;

const lastFairPruneAt = new WeakMap<object, number>();

/**
 * Returns whether a claim of these queues needs {@link tenantClaim}: one of them is fair, or
 * some tenant is not active or has a concurrency quota. Otherwise the plain claim is exact and
 * faster.
 */
export function needsTenantClaim(tx: Tx, queues: readonly string[]): boolean {
  if (queues.length === 0) return false;
  return (
    tx.conn
      .stmt(needsTenantClaimSql(placeholders(queues)))
      .pluck()
      .get(...queues) === 1
  );
}

/**
 * Claims with the tenancy rules: skips runs of tenants that are not active, enforces each
 * tenant's `maxConcurrentRuns`, and takes the runs of fair queues in weighted fair order of
 * their keys. Limits, queue order and burst passes work as in the plain claim.
 */
export function tenantClaim(tx: Tx, request: ClaimRequest): ClaimedRun[] {
  checkClaimRequest(request);
  const queues = [...new Set(request.queues)];
  if (queues.length === 0) return [];

  tx.conn.stmt(promoteDueSql(placeholders(queues))).run(...queues, tx.now);
  wakeDueSuspended(tx, queues);
  const limits = loadLimits(tx.conn);
  pruneRateClaims(tx, limits);
  const tracker = new LimitTracker(tx, limits);
  const gate = new TenantGate(tx);
  // Chosen runs stay available until claimRuns starts them all, in the order chosen.
  const chosen = new Set<string>();
  const bursts: BurstsByRun = new Map();

  const passes = tracker.hasBurst ? [false, true] : [false];
  for (const burst of passes) {
    for (const queue of queues) {
      if (chosen.size >= request.limit) break;
      const scan = { tx, request, queue, tracker, gate, burst, chosen, bursts };
      const by = tx.conn
        .stmt('SELECT by FROM zapjobs_fair_queues WHERE queue = ?')
        .pluck()
        .get(queue) as 'tenant' | 'partition' | undefined;
      if (by === undefined) scanInOrder(scan);
      else scanFairly(scan, by);
    }
  }
  return claimRuns(tx, request, [...chosen], bursts);
}

interface Scan {
  tx: Tx;
  request: ClaimRequest;
  queue: string;
  tracker: LimitTracker;
  gate: TenantGate;
  burst: boolean;
  chosen: Set<string>;
  /** Burst uses of the chosen runs that have some. */
  bursts: BurstsByRun;
}

/** Claims a plain queue's runs in claim order, stepping over runs of blocked tenants. */
function scanInOrder(scan: Scan): void {
  const { tx, request, queue, tracker, gate, burst, chosen } = scan;
  let last: Position = START;
  let scanned = 0;
  while (scanned < SCAN_MAX && !tracker.queueFull(queue, burst)) {
    const pageSize = pageFor(request, chosen);
    const candidates = tx.conn
      .stmt(FILTERED_CANDIDATES)
      .all(queue, gate.excludedJson(), ...keyset(last), pageSize) as TenantCandidate[];
    if (candidates.length === 0) return;
    gate.changed = false;
    for (const candidate of candidates) {
      scanned += 1;
      last = candidate;
      if (take(scan, candidate)) {
        if (chosen.size >= request.limit || tracker.queueFull(queue, burst)) return;
      }
      // A tenant that just reached its quota is left out of the next page by the query.
      if (gate.changed) break;
    }
    if (candidates.length < pageSize && !gate.changed) return;
  }
}

/** One key of a fair queue during a claim. */
interface FairKey {
  key: string;
  weight: number;
  /** Virtual time the key's next run starts at. */
  start: number;
  last: Position;
  buffer: TenantCandidate[];
  scanned: number;
  served: boolean;
}

/**
 * Claims a fair queue's runs: repeatedly serves the key with the earliest virtual start time,
 * then moves that key's start on by 1 / weight (start-time fair queuing). A key that got no due
 * run for a while starts at the queue's virtual time, so idle time earns no credit.
 */
function scanFairly(scan: Scan, by: 'tenant' | 'partition'): void {
  const { tx, request, queue, tracker, gate, burst, chosen } = scan;
  let vtime = tx.conn
    .stmt('SELECT vtime FROM zapjobs_fair_queues WHERE queue = ?')
    .pluck()
    .get(queue) as number;
  const keys = loadKeys(tx, queue, by, vtime, gate);

  while (chosen.size < request.limit && keys.length > 0 && !tracker.queueFull(queue, burst)) {
    const index = earliest(keys);
    const entry = keys[index]!;
    const candidate = nextCandidate(tx, queue, entry, gate, pageFor(request, chosen));
    if (candidate === null || entry.scanned > KEY_SCAN_MAX) {
      keys.splice(index, 1);
      continue;
    }
    if (!take(scan, candidate)) continue;
    vtime = Math.max(vtime, entry.start);
    entry.start += 1 / entry.weight;
    entry.served = true;
    if (by === 'tenant' && entry.key !== '' && gate.excludes(entry.key)) keys.splice(index, 1);
  }
  saveFairState(tx, queue, vtime, keys);
}

/** Chooses `candidate` when every limit and its tenant allow it. Returns whether it did. */
function take(scan: Scan, candidate: TenantCandidate): boolean {
  const { tracker, gate, burst, chosen, bursts } = scan;
  if (chosen.has(candidate.id)) return false;
  if (!gate.allows(candidate.tenant_id) || !tracker.allows(candidate, burst)) return false;
  chosen.add(candidate.id);
  const uses = tracker.record(candidate);
  if (uses.length > 0) bursts.set(candidate.id, uses);
  gate.record(candidate.tenant_id);
  return true;
}

function loadKeys(
  tx: Tx,
  queue: string,
  by: 'tenant' | 'partition',
  vtime: number,
  gate: TenantGate,
): FairKey[] {
  const weights = new Map(
    (
      tx.conn.stmt('SELECT key, weight FROM zapjobs_fair_weights WHERE queue = ?').all(queue) as {
        key: string;
        weight: number;
      }[]
    ).map((row) => [row.key, row.weight]),
  );
  const passes = tx.conn.stmt('SELECT pass FROM zapjobs_fair_state WHERE queue = ? AND key = ?');
  const tenantWeight = tx.conn.stmt('SELECT weight FROM zapjobs_tenants WHERE id = ?');
  const keys: FairKey[] = [];
  for (const key of tx.conn.stmt(FAIR_KEYS).pluck().all(queue, queue) as string[]) {
    if (by === 'tenant' && key !== '' && gate.excludes(key)) continue;
    const weight =
      weights.get(key) ??
      (by === 'tenant' && key !== ''
        ? (tenantWeight.pluck().get(key) as number | undefined)
        : undefined) ??
      1;
    const pass = passes.pluck().get(queue, key) as number | undefined;
    keys.push({
      key,
      weight,
      start: Math.max(pass ?? vtime, vtime),
      last: START,
      buffer: [],
      scanned: 0,
      served: false,
    });
  }
  return keys;
}

/** Index of the key with the earliest start; ties go to the smaller key. */
function earliest(keys: readonly FairKey[]): number {
  let best = 0;
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i]!;
    const current = keys[best]!;
    if (key.start < current.start || (key.start === current.start && key.key < current.key)) {
      best = i;
    }
  }
  return best;
}

function nextCandidate(
  tx: Tx,
  queue: string,
  entry: FairKey,
  gate: TenantGate,
  pageSize: number,
): TenantCandidate | null {
  if (entry.buffer.length === 0 || gate.changed) {
    gate.changed = false;
    entry.buffer = tx.conn
      .stmt(FAIR_CANDIDATES)
      .all(
        queue,
        entry.key,
        gate.excludedJson(),
        ...keyset(entry.last),
        pageSize,
      ) as TenantCandidate[];
  }
  const candidate = entry.buffer.shift();
  if (candidate === undefined) return null;
  entry.last = candidate;
  entry.scanned += 1;
  return candidate;
}

/** Stores the start of every key served and the queue's virtual time. */
function saveFairState(tx: Tx, queue: string, vtime: number, keys: readonly FairKey[]): void {
  tx.conn.stmt('UPDATE zapjobs_fair_queues SET vtime = ? WHERE queue = ?').run(vtime, queue);
  const save = tx.conn.stmt(
    `INSERT INTO zapjobs_fair_state (queue, key, pass) VALUES (?, ?, ?)
     ON CONFLICT (queue, key) DO UPDATE SET pass = excluded.pass`,
  );
  for (const entry of keys) if (entry.served) save.run(queue, entry.key, entry.start);

  // Rows at or behind the virtual time mean the same as no row.
  if (tx.now - (lastFairPruneAt.get(tx.conn) ?? 0) >= FAIR_PRUNE_EVERY_MS) {
    lastFairPruneAt.set(tx.conn, tx.now);
    tx.conn.stmt('DELETE FROM zapjobs_fair_state WHERE queue = ? AND pass <= ?').run(queue, vtime);
  }
}

/** Candidates to read per query: the free slots, at most {@link PAGE}. */
function pageFor(request: ClaimRequest, chosen: ReadonlySet<string>): number {
  return Math.min(PAGE, Math.max(1, request.limit - chosen.size));
}

/** Keyset parameters after `last`: priority, priority, run_at, run_at, id. */
function keyset(last: Position): [number, number, number, number, string] {
  return [last.priority, last.priority, last.run_at, last.run_at, last.id];
}

/**
 * Tenant rules of one claim transaction: tenants that are not active, and each tenant's
 * running count against its `maxConcurrentRuns`, loaded once and updated as runs are claimed.
 */
class TenantGate {
  /** Set when a tenant was newly excluded, so cached candidate pages are stale. */
  changed = false;
  private readonly excluded: Set<string>;
  private readonly quotas = new Map<string, number | null>();
  private readonly running = new Map<string, number>();
  private json: string | null = null;

  constructor(private readonly tx: Tx) {
    this.excluded = new Set(tx.conn.stmt(INACTIVE_TENANTS).pluck().all() as string[]);
  }

  excludes(tenantId: string): boolean {
    return this.excluded.has(tenantId);
  }

  /** JSON array of the excluded tenants, for the candidate queries. */
  excludedJson(): string {
    this.json ??= JSON.stringify([...this.excluded]);
    return this.json;
  }

  allows(tenantId: string | null): boolean {
    if (tenantId === null) return true;
    if (this.excluded.has(tenantId)) return false;
    const max = this.maxConcurrent(tenantId);
    if (max === null || this.runningCount(tenantId) < max) return true;
    this.exclude(tenantId);
    return false;
  }

  record(tenantId: string | null): void {
    if (tenantId === null) return;
    const max = this.maxConcurrent(tenantId);
    if (max === null) return;
    const running = this.runningCount(tenantId) + 1;
    this.running.set(tenantId, running);
    if (running >= max) this.exclude(tenantId);
  }

  private exclude(tenantId: string): void {
    this.excluded.add(tenantId);
    this.json = null;
    this.changed = true;
  }

  private maxConcurrent(tenantId: string): number | null {
    let max = this.quotas.get(tenantId);
    if (max === undefined) {
      max =
        (this.tx.conn
          .stmt('SELECT max_concurrent_runs FROM zapjobs_tenants WHERE id = ?')
          .pluck()
          .get(tenantId) as number | null | undefined) ?? null;
      this.quotas.set(tenantId, max);
    }
    return max;
  }

  private runningCount(tenantId: string): number {
    let count = this.running.get(tenantId);
    if (count === undefined) {
      count = this.tx.conn.stmt(COUNT_RUNNING).pluck().get(tenantId) as number;
      this.running.set(tenantId, count);
    }
    return count;
  }
}
