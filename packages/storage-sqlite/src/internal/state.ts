import type { LeaseRef } from '@zapjobs/core/storage';
import { INSERT_STATE_IF_ABSENT, UPSERT_STATE } from '../sql/lifecycle.js';
import type { Connection, Tx } from './connection.js';
import { findLeasedRun, findRun } from './transitions.js';

/**
 * Writes a state value. False when the run does not exist, when `lease` is given and no longer
 * held, or when `ifAbsent` is set and the key already has a value.
 */
export function putState(
  tx: Tx,
  runId: string,
  key: string,
  value: string,
  options: { ifAbsent?: boolean; lease?: LeaseRef },
): boolean {
  const run =
    options.lease === undefined
      ? findRun(tx, runId)
      : options.lease.runId === runId
        ? findLeasedRun(tx, runId, options.lease.leaseToken)
        : undefined;
  if (run === undefined) return false;
  const sql = options.ifAbsent === true ? INSERT_STATE_IF_ABSENT : UPSERT_STATE;
  return tx.conn.stmt(sql).run(runId, key, value, tx.now).changes > 0;
}

export function getState(conn: Connection, runId: string, key: string): string | null {
  const value = conn
    .stmt('SELECT value FROM zapjobs_state WHERE run_id = ? AND key = ?')
    .pluck()
    .get(runId, key) as string | undefined;
  return value ?? null;
}

export function listState(conn: Connection, runId: string): Record<string, string> {
  const rows = conn
    .stmt('SELECT key, value FROM zapjobs_state WHERE run_id = ? ORDER BY key')
    .all(runId) as { key: string; value: string }[];
  const state: Record<string, string> = {};
  for (const row of rows) state[row.key] = row.value;
  return state;
}
