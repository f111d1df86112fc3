import type {
  EventQuery,
  LifecycleEventType,
  Page,
  PageRequest,
  RunFilter,
} from '@zapjobs/core/storage';
import { InvalidOptionError } from '@zapjobs/core/storage';
import { isRunId } from './run-ids.js';

/** A WHERE clause with its positional parameters. */
export interface Where {
  sql: string;
  values: unknown[];
}

/** Builds the WHERE clause of a run filter; an empty filter matches every run. */
export function runFilterWhere(filter: RunFilter): Where {
  const clauses: string[] = [];
  const values: unknown[] = [];
  const add = (sql: (parameter: string) => string, value: unknown) => {
    values.push(value);
    clauses.push(sql(`$${values.length}`));
  };

  if (filter.states !== undefined) add((p) => `state = any(${p}::text[])`, [...filter.states]);
  if (filter.queue !== undefined) add((p) => `queue = ${p}`, filter.queue);
  if (filter.job !== undefined) add((p) => `job = ${p}`, filter.job);
  if (filter.groupId !== undefined) add((p) => `group_id = ${p}`, filter.groupId);
  if (filter.tenantId !== undefined) add((p) => `tenant_id = ${p}`, filter.tenantId);
  if (filter.partitionKey !== undefined) add((p) => `partition_key = ${p}`, filter.partitionKey);
  return { sql: clauses.length === 0 ? 'true' : clauses.join(' and '), values };
}

/**
 * Builds the query of one page of runs: keyset pagination on the time-ordered id, fetching one
 * row more than the page to know whether another page follows.
 */
export function runPageQuery(table: string, filter: RunFilter, page: PageRequest): Where {
  const where = runFilterWhere(filter);
  const order = page.order ?? 'desc';
  if (order !== 'asc' && order !== 'desc') {
    throw new InvalidOptionError('order', order, '"asc" or "desc"');
  }
  const values = [...where.values];
  let sql = `select * from ${table} where ${where.sql}`;
  if (page.cursor !== undefined) {
    if (!isRunId(page.cursor)) {
      throw new InvalidOptionError('cursor', page.cursor, 'the nextCursor of a previous page');
    }
    values.push(page.cursor);
    sql += ` and id ${order === 'asc' ? '>' : '<'} $${values.length}`;
  }
  values.push(page.limit + 1);
  sql += ` order by id ${order} limit $${values.length}`;
  return { sql, values };
}

/**
 * Builds the query of one page of events, oldest first, keyed by the event id.
 * NOTE: ids come from an identity column, so a transaction that commits late can add an event
 * with an id lower than a cursor already handed out; that event is skipped by the next page.
 */
export function eventPageQuery(table: string, query: EventQuery): Where {
  const clauses: string[] = [];
  const values: unknown[] = [];
  const add = (sql: (parameter: string) => string, value: unknown) => {
    values.push(value);
    clauses.push(sql(`$${values.length}`));
  };

  if (query.runId !== undefined) add((p) => `run_id = ${p}`, query.runId);
  if (query.groupId !== undefined) add((p) => `group_id = ${p}`, query.groupId);
  if (query.tenantId !== undefined) add((p) => `tenant_id = ${p}`, query.tenantId);
  if (query.types !== undefined) add((p) => `type = any(${p}::text[])`, [...query.types]);
  if (query.since !== undefined) add((p) => `at >= ${p}::bigint`, Math.floor(query.since));
  if (query.until !== undefined) add((p) => `at < ${p}::bigint`, Math.ceil(query.until));
  if (query.cursor !== undefined) {
    if (!/^\d{1,18}$/.test(query.cursor)) {
      throw new InvalidOptionError('cursor', query.cursor, 'the nextCursor of a previous page');
    }
    add((p) => `id > ${p}::bigint`, query.cursor);
  }
  values.push(query.limit + 1);
  const where = clauses.length === 0 ? 'true' : clauses.join(' and ');
  return {
    sql: `select * from ${table} where ${where} order by id limit $${values.length}`,
    values,
  };
}

/**
 * Event types a run with history level `lifecycle` records when they are appended. `progress`
 * is left out: it needs history level `full`.
 */
export const LIFECYCLE_TYPES: readonly string[] = [
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
] satisfies LifecycleEventType[];

/** Cuts the extra row fetched to detect a next page, and derives the cursor. */
export function toPage<T>(items: T[], limit: number, cursorOf: (item: T) => string): Page<T> {
  if (items.length <= limit) return { items, nextCursor: null };
  const page = items.slice(0, limit);
  return { items: page, nextCursor: cursorOf(page[page.length - 1]!) };
}
