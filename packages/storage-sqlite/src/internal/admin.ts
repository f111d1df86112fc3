import type {
  Page,
  PageRequest,
  PurgeRequest,
  RunFilter,
  RunRecord,
  RunState,
  WorkerInfo,
} from '@zapjobs/core/storage';
import { InvalidOptionError } from '@zapjobs/core/storage';
import { purgeCandidatesSql, REGISTER_WORKER } from '../sql/admin.js';
import type { Connection, Tx } from './connection.js';
import { placeholders } from './control.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { emptyCounts } from './dependencies.js';
import { appendEvent } from './events.js';
import { isTerminal, type RunRow, toRunRecord } from './rows.js';
import { findRun, makeReady } from './transitions.js';

/** Builds the WHERE conditions of a run filter. */
function filterSql(filter: RunFilter): { where: string[]; params: string[] } {
  const where: string[] = [];
  const params: string[] = [];
  if (filter.states !== undefined) {
    where.push(filter.states.length === 0 ? '0' : `state IN (${placeholders(filter.states)})`);
    params.push(...filter.states);
  }
  const columns = [
    ['queue', filter.queue],
    ['job', filter.job],
    ['group_id', filter.groupId],
    ['tenant_id', filter.tenantId],
    ['partition_key', filter.partitionKey],
  ] as const;
  for (const [column, value] of columns) {
    if (value === undefined) continue;
    where.push(`${column} = ?`);
    params.push(value);
  }
  return { where, params };
}

/** Lists runs by id (time order), newest first unless `order` is `asc`, with keyset paging. */
export function listRuns(conn: Connection, filter: RunFilter, page: PageRequest): Page<RunRecord> {
  if (!(Number.isInteger(page.limit) && page.limit >= 1 && page.limit <= 1000)) {
    throw new InvalidOptionError('limit', page.limit, 'an integer from 1 to 1000');
  }
  const order = page.order ?? 'desc';
  if (order !== 'asc' && order !== 'desc') {
    throw new InvalidOptionError('order', order, '"asc" or "desc"');
  }
  const { where, params } = filterSql(filter);
  if (page.cursor !== undefined) {
    where.push(order === 'asc' ? 'id > ?' : 'id < ?');
    params.push(decodeCursor<string>('run', page.cursor, 'string'));
  }
  const sql =
    'SELECT * FROM zapjobs_runs' +
    (where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '') +
    ` ORDER BY id ${order === 'asc' ? 'ASC' : 'DESC'} LIMIT ?`;
  const rows = conn.stmt(sql).all(...params, page.limit + 1) as RunRow[];
  const more = rows.length > page.limit;
  const items = (more ? rows.slice(0, page.limit) : rows).map(toRunRecord);
  const last = items[items.length - 1];
  return { items, nextCursor: more && last !== undefined ? encodeCursor('run', last.id) : null };
}

export function countRuns(conn: Connection, filter: RunFilter): Record<RunState, number> {
  const { where, params } = filterSql(filter);
  const sql =
    'SELECT state, count(*) AS n FROM zapjobs_runs' +
    (where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '') +
    ' GROUP BY state';
  const counts = emptyCounts();
  for (const row of conn.stmt(sql).all(...params) as { state: RunState; n: number }[]) {
    counts[row.state] = row.n;
  }
  return counts;
}

/**
 * Moves failed or cancelled runs back to `available` with `attempt` reset to 0. Appends
 * `retrying` with data `{"manual":true}` so the history shows the transition.
 */
export function retryRuns(tx: Tx, runIds: readonly string[]): number {
  let moved = 0;
  for (const runId of new Set(runIds)) {
    const row = findRun(tx, runId);
    if (row === undefined || (row.state !== 'failed' && row.state !== 'cancelled')) continue;
    tx.conn
      .stmt('UPDATE zapjobs_runs SET finished_at = NULL, output = NULL WHERE id = ?')
      .run(runId);
    makeReady(tx, row, tx.now, -row.attempt);
    appendEvent(tx, row, 'retrying', 0, JSON.stringify({ manual: true }));
    moved += 1;
  }
  return moved;
}

/** Deletes finished runs; events, state, dependency edges and unique keys go with them. */
export function purgeRuns(tx: Tx, request: PurgeRequest): number {
  const states = request.states.filter(isTerminal);
  if (states.length === 0 || request.limit < 1) return 0;
  const ids = tx.conn
    .stmt(purgeCandidatesSql(placeholders(states)))
    .pluck()
    .all(...states, request.finishedBefore, request.limit) as string[];
  const remove = tx.conn.stmt('DELETE FROM zapjobs_runs WHERE id = ?');
  for (const id of ids) remove.run(id);
  return ids.length;
}

/** Records a worker, keeping `startedAt` of an existing entry. */
export function registerWorker(tx: Tx, worker: Omit<WorkerInfo, 'startedAt' | 'lastSeenAt'>): void {
  tx.conn
    .stmt(REGISTER_WORKER)
    .run(
      worker.id,
      worker.hostname,
      worker.pid,
      JSON.stringify(worker.queues),
      worker.concurrency,
      tx.now,
      tx.now,
    );
}

interface WorkerRow {
  id: string;
  hostname: string;
  pid: number;
  queues: string;
  concurrency: number;
  started_at: number;
  last_seen_at: number;
}

export function listWorkers(conn: Connection, now: number, seenWithinMs: number): WorkerInfo[] {
  const rows = conn
    .stmt('SELECT * FROM zapjobs_workers WHERE last_seen_at >= ? ORDER BY id')
    .all(now - seenWithinMs) as WorkerRow[];
  return rows.map((row) => ({
    id: row.id,
    hostname: row.hostname,
    pid: row.pid,
    queues: JSON.parse(row.queues) as string[],
    concurrency: row.concurrency,
    startedAt: row.started_at,
    lastSeenAt: row.last_seen_at,
  }));
}

export function unregisterWorker(tx: Tx, workerId: string): void {
  tx.conn.stmt('DELETE FROM zapjobs_workers WHERE id = ?').run(workerId);
}
