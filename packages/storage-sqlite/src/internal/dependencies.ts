import type {
  DependencyCondition,
  DependencyRecord,
  GroupCounts,
  NewDependency,
  RunState,
} from '@zapjobs/core/storage';
import { RUN_STATES } from '@zapjobs/core/storage';
import { INSERT_EDGE, LIST_DEPENDENCIES } from '../sql/dependencies.js';
import type { Connection, Tx } from './connection.js';
import { appendEvent } from './events.js';
import { isTerminal, type RunRow } from './rows.js';
import { type FinishChange, findRun, finishOne, makeReady } from './transitions.js';

/** Data of the `cancelled` event of a run whose dependency can no longer be met. */
const DEPENDENCY_CANCEL_DATA = '{"reason":"dependency"}';

interface EdgeRow {
  parent_id: string;
  condition: DependencyCondition;
  pass_output: number;
  satisfied: number | null;
}

/** Checks whether a parent that finished in `parentState` meets `condition`. */
function conditionMet(condition: DependencyCondition, parentState: RunState): boolean {
  if (condition === 'success') return parentState === 'completed';
  if (condition === 'failure') return parentState === 'failed' || parentState === 'cancelled';
  return true;
}

/**
 * Moves a run to a terminal state and settles its dependents in the same transaction. A child
 * whose conditions are all met is released. A child with an unmet condition is cancelled, and
 * its own dependents are settled in turn.
 */
export function finishRun(
  tx: Tx,
  row: RunRow,
  state: 'completed' | 'failed' | 'cancelled',
  change: FinishChange,
): void {
  finishOne(tx, row, state, change);
  settleDependents(tx, row, state);
}

/**
 * Settles the dependents of a run that just reached `state`, and in turn those of every child
 * this cancels. A run that no dependency edge names as its parent has nothing to settle.
 */
export function settleDependents(
  tx: Tx,
  row: Pick<RunRow, 'id' | 'has_dependents'>,
  state: 'completed' | 'failed' | 'cancelled',
): void {
  if (row.has_dependents === 0) return;
  const finished: { id: string; state: RunState }[] = [{ id: row.id, state }];
  for (let next = finished.pop(); next !== undefined; next = finished.pop()) {
    for (const cancelledId of settleChildren(tx, next.id, next.state)) {
      finished.push({ id: cancelledId, state: 'cancelled' });
    }
  }
}

/**
 * Records the outcome of a finished parent on its unsettled edges and resolves each waiting
 * child. Returns the ids of children it cancelled, whose own dependents still need settling.
 */
function settleChildren(tx: Tx, parentId: string, parentState: RunState): string[] {
  const edges = tx.conn
    .stmt(
      `SELECT child_id, condition FROM zapjobs_dependencies
       WHERE parent_id = ? AND satisfied IS NULL`,
    )
    .all(parentId) as { child_id: string; condition: DependencyCondition }[];
  const mark = tx.conn.stmt(
    'UPDATE zapjobs_dependencies SET satisfied = ? WHERE child_id = ? AND parent_id = ?',
  );
  for (const edge of edges) {
    mark.run(conditionMet(edge.condition, parentState) ? 1 : 0, edge.child_id, parentId);
  }
  const cancelled: string[] = [];
  for (const childId of new Set(edges.map((edge) => edge.child_id))) {
    if (resolveChild(tx, childId, false) === 'cancelled') cancelled.push(childId);
  }
  return cancelled;
}

/**
 * Inserts the parent edges of a new run and resolves it at once against parents that already
 * finished. An unknown parent id cancels the child. Returns the child's state afterwards.
 */
export function attachDependencies(
  tx: Tx,
  child: RunRow,
  dependencies: readonly NewDependency[],
): RunState {
  const insert = tx.conn.stmt(INSERT_EDGE);
  const markParent = tx.conn.stmt(
    'UPDATE zapjobs_runs SET has_dependents = 1 WHERE id = ? AND has_dependents = 0',
  );
  let unknownParent = false;
  dependencies.forEach((dependency, position) => {
    const parent = findRun(tx, dependency.runId);
    if (parent === undefined) {
      unknownParent = true;
      return;
    }
    const satisfied = isTerminal(parent.state)
      ? Number(conditionMet(dependency.condition, parent.state))
      : null;
    insert.run(
      child.id,
      parent.id,
      position,
      dependency.condition,
      dependency.passOutput === true ? 1 : 0,
      satisfied,
    );
    markParent.run(parent.id);
  });

  if (unknownParent) {
    finishRun(tx, child, 'cancelled', { eventData: DEPENDENCY_CANCEL_DATA });
    return 'cancelled';
  }
  return resolveChild(tx, child.id, true);
}

/**
 * Releases a waiting child whose edges are all satisfied, or cancels it when one is unmet.
 * A child already cancelled here is not settled further by this function.
 */
function resolveChild(tx: Tx, childId: string, cascade: boolean): RunState {
  const child = findRun(tx, childId);
  if (child === undefined) return 'cancelled';
  if (child.state !== 'waiting') return child.state;
  // Each check seeks the (child_id, satisfied) index, so a fan-in with many parents stays cheap.
  const unmet = tx.conn
    .stmt('SELECT 1 FROM zapjobs_dependencies WHERE child_id = ? AND satisfied = 0 LIMIT 1')
    .get(childId);
  if (unmet !== undefined) {
    const change = { eventData: DEPENDENCY_CANCEL_DATA };
    if (cascade) finishRun(tx, child, 'cancelled', change);
    else finishOne(tx, child, 'cancelled', change);
    return 'cancelled';
  }
  const open = tx.conn
    .stmt('SELECT 1 FROM zapjobs_dependencies WHERE child_id = ? AND satisfied IS NULL LIMIT 1')
    .get(childId);
  if (open !== undefined) return 'waiting';

  // Every parent finished as required: pass an output on, then release the child.
  const passing = tx.conn
    .stmt(
      `SELECT parent_id FROM zapjobs_dependencies
       WHERE child_id = ? AND pass_output = 1 ORDER BY position LIMIT 1`,
    )
    .get(childId) as Pick<EdgeRow, 'parent_id'> | undefined;
  if (passing !== undefined) {
    const parent = findRun(tx, passing.parent_id);
    if (parent !== undefined && parent.output !== null) {
      tx.conn.stmt('UPDATE zapjobs_runs SET input = ? WHERE id = ?').run(parent.output, child.id);
    }
  }
  appendEvent(tx, child, 'dependencies-met', child.attempt);
  return makeReady(tx, child, child.run_at, 0);
}

/** Lists a run's parent edges in the order they were declared, with each parent's state. */
export function listDependencies(conn: Connection, runId: string): DependencyRecord[] {
  const rows = conn.stmt(LIST_DEPENDENCIES).all(runId) as (EdgeRow & { parent_state: RunState })[];
  return rows.map((row) => ({
    parentId: row.parent_id,
    condition: row.condition,
    passOutput: row.pass_output === 1,
    satisfied: row.satisfied === null ? null : row.satisfied === 1,
    parentState: row.parent_state,
  }));
}

/** Returns a zero count for every run state. */
export function emptyCounts(): Record<RunState, number> {
  return Object.fromEntries(RUN_STATES.map((state) => [state, 0])) as Record<RunState, number>;
}

/** Counts a group's runs by state. */
export function countGroup(conn: Connection, groupId: string): GroupCounts {
  const rows = conn
    .stmt('SELECT state, count(*) AS n FROM zapjobs_runs WHERE group_id = ? GROUP BY state')
    .all(groupId) as { state: RunState; n: number }[];
  const byState = emptyCounts();
  let total = 0;
  for (const row of rows) {
    byState[row.state] = row.n;
    total += row.n;
  }
  return { total, byState };
}
