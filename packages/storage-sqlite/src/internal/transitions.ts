import type { RunState, SerializedError } from '@zapjobs/core/storage';
import { FINISH_RUN, MAKE_READY } from '../sql/lifecycle.js';
import type { Tx } from './connection.js';
import { appendEvent, type EventSubject } from './events.js';
import { encodeError, type RunRow } from './rows.js';

/** Selects a run row by id. */
export function findRun(tx: Tx, runId: string): RunRow | undefined {
  return tx.conn.stmt('SELECT * FROM zapjobs_runs WHERE id = ?').get(runId) as RunRow | undefined;
}

/** Selects a run row only while `leaseToken` is its current lease on a running attempt. */
export function findLeasedRun(tx: Tx, runId: string, leaseToken: string): RunRow | undefined {
  return tx.conn
    .stmt("SELECT * FROM zapjobs_runs WHERE id = ? AND lease_token = ? AND state = 'running'")
    .get(runId, leaseToken) as RunRow | undefined;
}

/** Fields a terminal transition stores besides the state. */
export interface FinishChange {
  output?: string;
  error?: SerializedError;
  /** Data of the lifecycle event; defaults to `{"error": ...}` with the error, if any. */
  eventData?: string;
}

const EVENT_OF_STATE = {
  completed: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
} as const;

/** The columns of a run that the steps after a terminal update need. */
export type FinishedRow = EventSubject &
  Pick<RunRow, 'queue' | 'attempt' | 'unique_key' | 'has_dependents'>;

/**
 * Moves one run to a terminal state: clears its lease and wait fields, then does the steps
 * of {@link afterFinish}. Dependent runs are settled by the caller (see `finishRun` in
 * dependencies.ts).
 */
export function finishOne(
  tx: Tx,
  row: RunRow,
  state: 'completed' | 'failed' | 'cancelled',
  change: FinishChange,
): void {
  const error = change.error === undefined ? null : encodeError(change.error);
  tx.conn.stmt(FINISH_RUN).run(state, change.output ?? null, error, tx.now, row.id);
  afterFinish(tx, row, state, change.eventData ?? (error === null ? null : `{"error":${error}}`));
}

/**
 * Steps that follow a run's terminal update: releases a unique key held until finish, appends
 * the lifecycle event and queues the `onRunFinished` note. A run without a unique key has no
 * key to release, so the delete is skipped.
 */
export function afterFinish(
  tx: Tx,
  row: FinishedRow,
  state: 'completed' | 'failed' | 'cancelled',
  eventData: string | null,
): void {
  if (row.unique_key !== null) {
    tx.conn
      .stmt("DELETE FROM zapjobs_unique_keys WHERE run_id = ? AND release_on = 'finish'")
      .run(row.id);
  }
  appendEvent(tx, row, EVENT_OF_STATE[state], row.attempt, eventData);
  tx.notes.finished.push({ runId: row.id, state });
}

/**
 * Makes a non-terminal run claimable: `available` when due, else `scheduled`. Clears lease
 * and wait fields. `attemptDelta` adjusts `attempt` (-1 when the attempt does not count).
 */
export function makeReady(tx: Tx, row: RunRow, runAt: number, attemptDelta: number): RunState {
  const state: RunState = runAt <= tx.now ? 'available' : 'scheduled';
  tx.conn.stmt(MAKE_READY).run(state, runAt, attemptDelta, row.id);
  tx.notes.work.add(row.queue);
  return state;
}
