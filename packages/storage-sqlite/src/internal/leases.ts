import type {
  CompleteRequest,
  FailRequest,
  LeaseRef,
  ReclaimedRun,
  SerializedError,
  SuspendRequest,
} from '@zapjobs/core/storage';
import { InvalidOptionError, StalledError } from '@zapjobs/core/storage';
import { COMPLETE_RUN, EXPIRED_LEASES, SUSPEND_RUN } from '../sql/lifecycle.js';
import type { Tx } from './connection.js';
import { finishRun, settleDependents } from './dependencies.js';
import { appendEvent } from './events.js';
import { encodeError, type RunRow } from './rows.js';
import { afterFinish, type FinishedRow, findLeasedRun, makeReady } from './transitions.js';

/** Extends held leases; returns the ids whose lease is no longer held. */
export function heartbeat(tx: Tx, leases: readonly LeaseRef[], leaseMs: number): string[] {
  const extend = tx.conn.stmt(
    `UPDATE zapjobs_runs SET lease_expires_at = ?
     WHERE id = ? AND lease_token = ? AND state = 'running'`,
  );
  const lost: string[] = [];
  for (const lease of leases) {
    if (extend.run(tx.now + leaseMs, lease.runId, lease.leaseToken).changes === 0) {
      lost.push(lease.runId);
    }
  }
  return lost;
}

/**
 * Completes runs whose lease is held. Each run costs one fenced UPDATE that returns the few
 * columns the event, unique-key and dependency steps need. A run to remove is then deleted when
 * {@link removable}, which takes its events, state values, unique key and edges with it
 * (foreign keys with ON DELETE CASCADE).
 */
export function complete(tx: Tx, requests: readonly CompleteRequest[]): boolean[] {
  const update = tx.conn.stmt(COMPLETE_RUN);
  return requests.map((request) => {
    const row = update.get(request.output, tx.now, request.runId, request.leaseToken) as
      | FinishedRow
      | undefined;
    if (row === undefined) return false;
    afterFinish(tx, row, 'completed', null);
    settleDependents(tx, row, 'completed');
    if (request.remove === true && removable(tx, row)) {
      tx.conn.stmt('DELETE FROM zapjobs_runs WHERE id = ?').run(row.id);
    }
    return true;
  });
}

/**
 * Checks whether a completed run may be deleted for `remove`: no run depends on it, it belongs
 * to no group, and it owns no unique key whose time to live is still running (a throttle key
 * must outlive its run).
 */
function removable(tx: Tx, row: FinishedRow): boolean {
  if (row.has_dependents !== 0 || row.group_id !== null) return false;
  if (row.unique_key === null) return true;
  const timed = tx.conn
    .stmt('SELECT 1 FROM zapjobs_unique_keys WHERE run_id = ? AND expires_at > ?')
    .get(row.id, tx.now);
  return timed === undefined;
}

/** Fails attempts: to dead letter when `retryDelayMs` is null, else to a retry after it. */
export function fail(tx: Tx, requests: readonly FailRequest[]): boolean[] {
  return requests.map((request) => {
    const row = findLeasedRun(tx, request.runId, request.leaseToken);
    if (row === undefined) return false;
    if (request.retryDelayMs === null) {
      finishRun(tx, row, 'failed', { error: request.error });
      return true;
    }
    const error = encodeError(request.error);
    tx.conn.stmt('UPDATE zapjobs_runs SET error = ? WHERE id = ?').run(error, row.id);
    makeReady(tx, row, tx.now + Math.max(0, request.retryDelayMs), 0);
    const data = `{"error":${error},"delayMs":${JSON.stringify(request.retryDelayMs)}}`;
    appendEvent(tx, row, 'retrying', row.attempt, data);
    return true;
  });
}

/** Gives leases back without counting the attempt. */
export function release(tx: Tx, leases: readonly LeaseRef[]): boolean[] {
  return leases.map((lease) => {
    const row = findLeasedRun(tx, lease.runId, lease.leaseToken);
    if (row === undefined) return false;
    makeReady(tx, row, Math.min(row.run_at, tx.now), -1);
    appendEvent(tx, row, 'released', row.attempt);
    return true;
  });
}

export function setProgress(tx: Tx, lease: LeaseRef, progress: string): boolean {
  const row = findLeasedRun(tx, lease.runId, lease.leaseToken);
  if (row === undefined) return false;
  tx.conn.stmt('UPDATE zapjobs_runs SET progress = ? WHERE id = ?').run(progress, row.id);
  appendEvent(tx, row, 'progress', row.attempt, progress);
  return true;
}

/**
 * Reclaims up to `limit` runs whose lease expired: `available` again, or `failed` with a
 * RUN_STALLED error when the expired attempt was the last one.
 */
export function reclaimExpired(tx: Tx, limit: number): ReclaimedRun[] {
  if (!(Number.isInteger(limit) && limit >= 1)) {
    throw new InvalidOptionError('limit', limit, 'an integer >= 1');
  }
  const rows = tx.conn.stmt(EXPIRED_LEASES).all(tx.now, limit) as RunRow[];
  return rows.map((row) => {
    const stalled = new StalledError(row.id, row.attempt);
    const error: SerializedError = {
      name: stalled.name,
      message: stalled.message,
      code: stalled.code,
    };
    const lastAttempt = row.attempt >= row.max_attempts;
    const stalledData = { workerId: row.worker_id, willRetry: !lastAttempt };
    appendEvent(tx, row, 'stalled', row.attempt, JSON.stringify(stalledData));
    if (lastAttempt) {
      finishRun(tx, row, 'failed', { error });
    } else {
      tx.conn
        .stmt('UPDATE zapjobs_runs SET error = ? WHERE id = ?')
        .run(encodeError(error), row.id);
      makeReady(tx, row, Math.min(row.run_at, tx.now), 0);
    }
    return {
      runId: row.id,
      job: row.job,
      queue: row.queue,
      attempt: row.attempt,
      maxAttempts: row.max_attempts,
      state: lastAttempt ? 'failed' : 'available',
      tenantId: row.tenant_id,
    };
  });
}

/**
 * Parks a running run until a time or a signal without counting the attempt. A signal that
 * was already delivered, or a wake time already reached, makes the run available at once.
 */
export function suspend(tx: Tx, request: SuspendRequest): boolean {
  const row = findLeasedRun(tx, request.runId, request.leaseToken);
  if (row === undefined) return false;
  let wakeAt = request.wakeAt ?? null;
  if (request.wakeAfterMs !== undefined) {
    const afterDelay = tx.now + request.wakeAfterMs;
    wakeAt = wakeAt === null ? afterDelay : Math.min(wakeAt, afterDelay);
  }
  const signal = request.signal ?? null;
  const suspendedData = {
    ...(wakeAt === null ? {} : { wakeAt }),
    ...(signal === null ? {} : { signal }),
  };
  appendEvent(tx, row, 'suspended', row.attempt, JSON.stringify(suspendedData));

  const signalArrived =
    signal !== null &&
    tx.conn
      .stmt('SELECT 1 FROM zapjobs_state WHERE run_id = ? AND key = ?')
      .get(row.id, `signal:${signal}`) !== undefined;
  if (signalArrived || (wakeAt !== null && wakeAt <= tx.now)) {
    makeReady(tx, row, tx.now, -1);
    appendEvent(tx, row, 'resumed', row.attempt - 1);
    return true;
  }

  tx.conn.stmt(SUSPEND_RUN).run(wakeAt, signal, wakeAt, row.id);
  // Workers time their next wake-up with nextDueAt, so a timed suspension is news to them.
  if (wakeAt !== null) tx.notes.work.add(row.queue);
  return true;
}
