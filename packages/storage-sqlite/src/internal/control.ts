import type { CancelResult } from '@zapjobs/core/storage';
import { DUE_PER_CLAIM_MAX } from '../sql/claims.js';
import { dueSuspendedSql, nextDueAtSql, UPSERT_STATE } from '../sql/lifecycle.js';
import type { Connection, Tx } from './connection.js';
import { finishRun } from './dependencies.js';
import { appendEvent } from './events.js';
import { isTerminal, type RunRow } from './rows.js';
import { findRun, makeReady } from './transitions.js';

/** Cancels a run that is not terminal; null when the run does not exist. */
export function cancel(tx: Tx, runId: string): CancelResult | null {
  const row = findRun(tx, runId);
  if (row === undefined) return null;
  if (isTerminal(row.state)) return { cancelled: false, state: row.state };
  finishRun(tx, row, 'cancelled', {});
  return { cancelled: true, state: 'cancelled' };
}

/**
 * Stores a signal's payload as state `signal:<name>` and wakes the run if it is suspended
 * waiting for that signal. False when the run does not exist or is terminal.
 */
export function sendSignal(tx: Tx, runId: string, name: string, payload: string): boolean {
  const row = findRun(tx, runId);
  if (row === undefined || isTerminal(row.state)) return false;
  tx.conn.stmt(UPSERT_STATE).run(runId, `signal:${name}`, payload, tx.now);
  appendEvent(tx, row, 'signal', row.attempt, JSON.stringify({ name }));
  tx.notes.signals.push({ runId, name });
  if (row.state === 'suspended' && row.wait_signal === name) {
    wake(tx, row);
  }
  return true;
}

/** Makes a suspended run available and appends `resumed`. */
export function wake(tx: Tx, row: RunRow): void {
  makeReady(tx, row, tx.now, 0);
  appendEvent(tx, row, 'resumed', row.attempt);
}

/**
 * Makes suspended runs of these queues whose wake time has come available, at most
 * {@link DUE_PER_CLAIM_MAX} per call.
 */
export function wakeDueSuspended(tx: Tx, queues: readonly string[]): void {
  const rows = tx.conn
    .stmt(dueSuspendedSql(placeholders(queues), DUE_PER_CLAIM_MAX))
    .all(...queues, tx.now) as RunRow[];
  for (const row of rows) wake(tx, row);
}

/** Earliest due time of a scheduled run, or wake time of a suspended run, in these queues. */
export function nextDueAt(conn: Connection, queues: readonly string[]): number | null {
  if (queues.length === 0) return null;
  const row = conn.stmt(nextDueAtSql(placeholders(queues))).get(...queues, ...queues) as {
    t: number | null;
  };
  return row.t;
}

/** `?, ?, ?` with one placeholder per item. */
export function placeholders(items: readonly unknown[]): string {
  return items.map(() => '?').join(', ');
}
