import type {
  CompactEventsRequest,
  EventQuery,
  EventRecord,
  HistoryLevel,
  LifecycleEventType,
  NewEvent,
  Page,
} from '@zapjobs/core/storage';
import { checkCompactEventsRequest, InvalidOptionError } from '@zapjobs/core/storage';
import { COMPACTION_KEPT_TYPES_SQL } from '../sql/event-data-schema.js';
import type { Connection, Tx } from './connection.js';
import { decodeCursor, encodeCursor } from './cursor.js';

const LIFECYCLE_TYPES: ReadonlySet<string> = new Set<LifecycleEventType>([
  'enqueued',
  'started',
  'completed',
  'failed',
  'retrying',
  'cancelled',
  'stalled',
  'released',
  'suspended',
  'resumed',
  'dependencies-met',
  'signal',
  'progress',
]);

/** The run fields an event copies or checks. */
export interface EventSubject {
  id: string;
  group_id: string | null;
  tenant_id: string | null;
  history_level: HistoryLevel;
}

/**
 * Whether a run at `level` records an event of `type`: `full` records everything,
 * `lifecycle` records lifecycle transitions except `progress`, `off` records nothing.
 */
export function records(level: HistoryLevel, type: string): boolean {
  if (level === 'full') return true;
  if (level === 'off') return false;
  return type !== 'progress' && LIFECYCLE_TYPES.has(type);
}

/** Appends one event for `run` inside the current transaction, if its history level allows. */
export function appendEvent(
  tx: Tx,
  run: EventSubject,
  type: string,
  attempt: number | null,
  data: string | null = null,
): void {
  if (!records(run.history_level, type)) return;
  tx.conn
    .stmt(
      `INSERT INTO zapjobs_events (run_id, group_id, tenant_id, type, at, attempt, data)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(run.id, run.group_id, run.tenant_id, type, tx.now, attempt, data);
}

/** Appends caller-provided events; events of unknown runs are skipped. */
export function appendEvents(tx: Tx, events: readonly NewEvent[]): void {
  const find = tx.conn.stmt(
    'SELECT id, group_id, tenant_id, history_level FROM zapjobs_runs WHERE id = ?',
  );
  for (const event of events) {
    const run = find.get(event.runId) as EventSubject | undefined;
    if (run === undefined) continue;
    appendEvent(tx, run, event.type, event.attempt ?? null, event.data ?? null);
  }
}

interface EventRow {
  id: number;
  run_id: string;
  group_id: string | null;
  tenant_id: string | null;
  type: string;
  at: number;
  attempt: number | null;
  data: string | null;
}

/** Formats an event id so that string order matches numeric order. */
function formatEventId(id: number): string {
  return String(id).padStart(16, '0');
}

/** Lists events oldest first, filtered by run, group, types and time, with keyset paging. */
export function listEvents(conn: Connection, query: EventQuery): Page<EventRecord> {
  if (!Number.isInteger(query.limit) || query.limit < 1) {
    throw new InvalidOptionError('limit', query.limit, 'a positive integer');
  }
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (query.runId !== undefined) {
    where.push('run_id = ?');
    params.push(query.runId);
  }
  if (query.groupId !== undefined) {
    where.push('group_id = ?');
    params.push(query.groupId);
  }
  if (query.tenantId !== undefined) {
    where.push('tenant_id = ?');
    params.push(query.tenantId);
  }
  if (query.types !== undefined) {
    if (query.types.length === 0) return { items: [], nextCursor: null };
    where.push(`type IN (${query.types.map(() => '?').join(', ')})`);
    params.push(...query.types);
  }
  if (query.since !== undefined) {
    where.push('at >= ?');
    params.push(query.since);
  }
  if (query.until !== undefined) {
    where.push('at < ?');
    params.push(query.until);
  }
  if (query.cursor !== undefined) {
    where.push('id > ?');
    params.push(decodeCursor<number>('event', query.cursor, 'number'));
  }
  const sql =
    'SELECT * FROM zapjobs_events' +
    (where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '') +
    ' ORDER BY id LIMIT ?';
  const rows = conn.stmt(sql).all(...params, query.limit + 1) as EventRow[];
  const more = rows.length > query.limit;
  const pageRows = more ? rows.slice(0, query.limit) : rows;
  const last = pageRows[pageRows.length - 1];
  return {
    items: pageRows.map((row) => ({
      id: formatEventId(row.id),
      runId: row.run_id,
      groupId: row.group_id,
      tenantId: row.tenant_id,
      type: row.type,
      at: row.at,
      attempt: row.attempt,
      data: row.data,
    })),
    nextCursor: more && last !== undefined ? encodeCursor('event', last.id) : null,
  };
}

/**
 * Deletes up to `limit` events of `types` older than `before`, oldest first, through the
 * partial index `zapjobs_events_compactable`, whose WHERE term the query repeats.
 */
export function compactEvents(tx: Tx, request: CompactEventsRequest): number {
  checkCompactEventsRequest(request);
  const sql = `DELETE FROM zapjobs_events WHERE id IN (
    SELECT id FROM zapjobs_events
    WHERE type NOT IN ${COMPACTION_KEPT_TYPES_SQL} AND at < ?
      AND type IN (${request.types.map(() => '?').join(', ')})
    ORDER BY at, id LIMIT ?)`;
  return tx.conn.stmt(sql).run(request.before, ...request.types, request.limit).changes;
}
