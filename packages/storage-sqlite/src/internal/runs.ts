import type { InsertResult, NewRun, RunRecord, RunState } from '@zapjobs/core/storage';
import { INSERT_RUN } from '../sql/runs.js';
import { Admission } from './admission.js';
import type { Connection, Tx } from './connection.js';
import { attachDependencies } from './dependencies.js';
import { appendEvent } from './events.js';
import { type RunRow, toRunRecord } from './rows.js';
import { findRun } from './transitions.js';

/** States in which `onConflict: 'replace'` may still overwrite a run (it has not started). */
const REPLACEABLE: ReadonlySet<RunState> = new Set(['scheduled', 'available', 'waiting']);

/** Inserts runs one after the other inside the current transaction. */
export function insertRuns(tx: Tx, runs: readonly NewRun[]): InsertResult[] {
  const admission = new Admission(tx);
  const results = runs.map((run) => {
    admission.checkStatus(run);
    const result = insertRun(tx, run);
    if (result.created) admission.recordCreated(run);
    return result;
  });
  admission.checkQuotas();
  return results;
}

function insertRun(tx: Tx, run: NewRun): InsertResult {
  const runAt = run.runAt ?? tx.now + (run.delayMs ?? 0);

  if (run.unique !== undefined) {
    const holderId = findUniqueHolder(tx, run.unique.key);
    if (holderId !== null) return resolveConflict(tx, run, holderId);
  }

  const hasDependencies = run.dependsOn !== undefined && run.dependsOn.length > 0;
  let state: RunState = runAt <= tx.now ? 'available' : 'scheduled';
  if (hasDependencies) state = 'waiting';
  tx.conn
    .stmt(INSERT_RUN)
    .run(
      run.id,
      run.job,
      run.queue,
      state,
      run.input,
      run.priority,
      run.maxAttempts,
      runAt,
      tx.now,
      run.groupId ?? null,
      run.partitionKey ?? null,
      run.tenantId ?? null,
      run.unique?.key ?? null,
      run.traceContext ?? null,
      run.historyLevel,
      run.metadata ?? null,
    );
  if (run.unique !== undefined) {
    tx.conn
      .stmt(
        'INSERT INTO zapjobs_unique_keys (key, run_id, release_on, expires_at) VALUES (?, ?, ?, ?)',
      )
      .run(
        run.unique.key,
        run.id,
        run.unique.releaseOn,
        run.unique.ttlMs === undefined ? null : tx.now + run.unique.ttlMs,
      );
  }

  const row = findRun(tx, run.id)!;
  appendEvent(tx, row, 'enqueued', 0);
  if (!hasDependencies) {
    tx.notes.work.add(run.queue);
    return { runId: run.id, created: true, replaced: false, state };
  }
  const finalState = attachDependencies(tx, row, run.dependsOn!);
  return { runId: run.id, created: true, replaced: false, state: finalState };
}

/** Returns the id of the run holding `key`, after releasing the key if its ttlMs has passed. */
function findUniqueHolder(tx: Tx, key: string): string | null {
  const holder = tx.conn
    .stmt('SELECT run_id, expires_at FROM zapjobs_unique_keys WHERE key = ?')
    .get(key) as { run_id: string; expires_at: number | null } | undefined;
  if (holder === undefined) return null;
  if (holder.expires_at !== null && holder.expires_at <= tx.now) {
    tx.conn.stmt('DELETE FROM zapjobs_unique_keys WHERE key = ?').run(key);
    return null;
  }
  return holder.run_id;
}

/**
 * Handles an insert whose unique key is taken. `replace` overwrites the input, and the due
 * time when the new run sets one, of a run that has not started yet.
 */
function resolveConflict(tx: Tx, run: NewRun, holderId: string): InsertResult {
  const existing = findRun(tx, holderId)!;
  if (run.unique?.onConflict !== 'replace' || !REPLACEABLE.has(existing.state)) {
    return { runId: existing.id, created: false, replaced: false, state: existing.state };
  }

  const setsTime = run.runAt !== undefined || run.delayMs !== undefined;
  const runAt = setsTime ? (run.runAt ?? tx.now + (run.delayMs ?? 0)) : existing.run_at;
  let state = existing.state;
  if (state !== 'waiting') state = runAt <= tx.now ? 'available' : 'scheduled';
  tx.conn
    .stmt('UPDATE zapjobs_runs SET input = ?, run_at = ?, state = ? WHERE id = ?')
    .run(run.input, runAt, state, existing.id);
  if (state !== 'waiting') tx.notes.work.add(existing.queue);
  return { runId: existing.id, created: false, replaced: true, state };
}

/** Reads one run. */
export function getRun(conn: Connection, runId: string): RunRecord | null {
  const row = conn.stmt('SELECT * FROM zapjobs_runs WHERE id = ?').get(runId) as RunRow | undefined;
  return row === undefined ? null : toRunRecord(row);
}
