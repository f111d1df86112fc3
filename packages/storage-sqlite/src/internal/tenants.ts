import type {
  FairnessSpec,
  Page,
  TenantPurgeResult,
  TenantQuery,
  TenantQuotas,
  TenantRecord,
  TenantStatusChange,
  TenantUpsert,
} from '@zapjobs/core/storage';
import { InvalidOptionError } from '@zapjobs/core/storage';
import {
  ASSIGN_FAIR_KEYS,
  NEXT_PURGEABLE_TENANT,
  QUEUES_WITH_AVAILABLE_RUNS,
  SET_TENANT_STATUS,
  UPSERT_TENANT,
} from '../sql/tenancy.js';
import type { Connection, Tx } from './connection.js';
import { decodeCursor, encodeCursor } from './cursor.js';

/** A row of `zapjobs_tenants`. */
export interface TenantRow {
  id: string;
  status: TenantRecord['status'];
  weight: number;
  runs_per_hour: number | null;
  runs_per_day: number | null;
  max_queued_runs: number | null;
  max_concurrent_runs: number | null;
  metadata: string | null;
  created_at: number;
  updated_at: number;
  deleted_at: number | null;
  purge_at: number | null;
}

export function toTenantRecord(row: TenantRow): TenantRecord {
  const quotas: TenantQuotas = {};
  if (row.runs_per_hour !== null) quotas.runsPerHour = row.runs_per_hour;
  if (row.runs_per_day !== null) quotas.runsPerDay = row.runs_per_day;
  if (row.max_queued_runs !== null) quotas.maxQueuedRuns = row.max_queued_runs;
  if (row.max_concurrent_runs !== null) quotas.maxConcurrentRuns = row.max_concurrent_runs;
  return {
    id: row.id,
    status: row.status,
    weight: row.weight,
    quotas,
    metadata: row.metadata,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    deletedAt: row.deleted_at,
    purgeAt: row.purge_at,
  };
}

export function upsertTenant(tx: Tx, tenant: TenantUpsert): TenantRecord {
  if (!(Number.isFinite(tenant.weight) && tenant.weight > 0)) {
    throw new InvalidOptionError('weight', tenant.weight, 'a positive number');
  }
  const { quotas } = tenant;
  const row = tx.conn
    .stmt(UPSERT_TENANT)
    .get(
      tenant.id,
      tenant.weight,
      quotas.runsPerHour ?? null,
      quotas.runsPerDay ?? null,
      quotas.maxQueuedRuns ?? null,
      quotas.maxConcurrentRuns ?? null,
      tenant.metadata ?? null,
      tx.now,
      tx.now,
    ) as TenantRow;
  // A raised concurrency quota may make waiting runs claimable.
  markAllQueuesWorkable(tx);
  return toTenantRecord(row);
}

export function getTenant(conn: Connection, tenantId: string): TenantRecord | null {
  const row = conn.stmt('SELECT * FROM zapjobs_tenants WHERE id = ?').get(tenantId) as
    | TenantRow
    | undefined;
  return row === undefined ? null : toTenantRecord(row);
}

export function listTenants(conn: Connection, query: TenantQuery): Page<TenantRecord> {
  if (!(Number.isInteger(query.limit) && query.limit >= 1 && query.limit <= 1000)) {
    throw new InvalidOptionError('limit', query.limit, 'an integer from 1 to 1000');
  }
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (query.status !== undefined) {
    where.push('status = ?');
    params.push(query.status);
  }
  if (query.cursor !== undefined) {
    where.push('id > ?');
    params.push(decodeCursor<string>('tenant', query.cursor, 'string'));
  }
  const sql =
    'SELECT * FROM zapjobs_tenants' +
    (where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '') +
    ' ORDER BY id LIMIT ?';
  const rows = conn.stmt(sql).all(...params, query.limit + 1) as TenantRow[];
  const more = rows.length > query.limit;
  const items = (more ? rows.slice(0, query.limit) : rows).map(toTenantRecord);
  const last = items[items.length - 1];
  return { items, nextCursor: more && last !== undefined ? encodeCursor('tenant', last.id) : null };
}

export function setTenantStatus(tx: Tx, change: TenantStatusChange): TenantRecord | null {
  const deleted = change.status === 'deleted';
  if (deleted && !Number.isFinite(change.purgeAt)) {
    throw new InvalidOptionError('purgeAt', change.purgeAt, 'a time when status is "deleted"');
  }
  const row = tx.conn
    .stmt(SET_TENANT_STATUS)
    .get(
      change.status,
      deleted ? tx.now : null,
      deleted ? Math.floor(change.purgeAt!) : null,
      tx.now,
      change.id,
    ) as TenantRow | undefined;
  if (row === undefined) return null;
  // Runs of a resumed tenant are claimable again; any queue may hold them.
  if (change.status === 'active') markAllQueuesWorkable(tx);
  return toTenantRecord(row);
}

/**
 * Deletes up to `limit` runs of deleted tenants past their purge time, with everything that
 * belongs to them. A tenant with no run left loses the rest of its data and its record.
 */
export function purgeTenants(tx: Tx, limit: number): TenantPurgeResult {
  const result: TenantPurgeResult = { runsDeleted: 0, tenantsDeleted: [] };
  const removeRun = tx.conn.stmt('DELETE FROM zapjobs_runs WHERE id = ?');
  while (result.runsDeleted < limit) {
    const tenantId = tx.conn.stmt(NEXT_PURGEABLE_TENANT).pluck().get(tx.now) as string | undefined;
    if (tenantId === undefined) break;
    const ids = tx.conn
      .stmt('SELECT id FROM zapjobs_runs WHERE tenant_id = ? ORDER BY id LIMIT ?')
      .pluck()
      .all(tenantId, limit - result.runsDeleted) as string[];
    // Foreign keys with ON DELETE CASCADE remove events, state, edges and unique keys.
    for (const id of ids) removeRun.run(id);
    result.runsDeleted += ids.length;
    if (result.runsDeleted >= limit) break;
    removeTenant(tx, tenantId);
    result.tenantsDeleted.push(tenantId);
  }
  return result;
}

function removeTenant(tx: Tx, tenantId: string): void {
  tx.conn.stmt('DELETE FROM zapjobs_schedules WHERE tenant_id = ?').run(tenantId);
  tx.conn.stmt('DELETE FROM zapjobs_tenant_counters WHERE tenant_id = ?').run(tenantId);
  tx.conn.stmt('DELETE FROM zapjobs_fair_state WHERE key = ?').run(tenantId);
  tx.conn.stmt('DELETE FROM zapjobs_tenants WHERE id = ?').run(tenantId);
}

export function setFairness(tx: Tx, spec: FairnessSpec): void {
  if (spec.by !== 'tenant' && spec.by !== 'partition') {
    throw new InvalidOptionError('by', spec.by, '"tenant" or "partition"');
  }
  const current = tx.conn
    .stmt('SELECT by FROM zapjobs_fair_queues WHERE queue = ?')
    .pluck()
    .get(spec.queue) as string | undefined;
  tx.conn
    .stmt(
      `INSERT INTO zapjobs_fair_queues (queue, by) VALUES (?, ?)
       ON CONFLICT (queue) DO UPDATE SET by = excluded.by`,
    )
    .run(spec.queue, spec.by);
  tx.conn.stmt('DELETE FROM zapjobs_fair_weights WHERE queue = ?').run(spec.queue);
  const insertWeight = tx.conn.stmt(
    'INSERT INTO zapjobs_fair_weights (queue, key, weight) VALUES (?, ?, ?)',
  );
  for (const [key, weight] of Object.entries(spec.weights ?? {})) {
    if (!(Number.isFinite(weight) && weight > 0)) {
      throw new InvalidOptionError(`weights["${key}"]`, weight, 'a positive number');
    }
    insertWeight.run(spec.queue, key, weight);
  }
  if (current !== spec.by) {
    // Keys of the old mode mean nothing in the new one: start every key level.
    tx.conn.stmt('DELETE FROM zapjobs_fair_state WHERE queue = ?').run(spec.queue);
    tx.conn.stmt(ASSIGN_FAIR_KEYS).run(spec.by, spec.queue);
  }
  tx.notes.work.add(spec.queue);
}

export function deleteFairness(tx: Tx, queue: string): boolean {
  const deleted = tx.conn.stmt('DELETE FROM zapjobs_fair_queues WHERE queue = ?').run(queue);
  if (deleted.changes === 0) return false;
  tx.conn.stmt('DELETE FROM zapjobs_fair_weights WHERE queue = ?').run(queue);
  tx.conn.stmt('DELETE FROM zapjobs_fair_state WHERE queue = ?').run(queue);
  tx.conn.stmt(ASSIGN_FAIR_KEYS).run(null, queue);
  tx.notes.work.add(queue);
  return true;
}

export function listFairness(conn: Connection): FairnessSpec[] {
  const queues = conn.stmt('SELECT queue, by FROM zapjobs_fair_queues ORDER BY queue').all() as {
    queue: string;
    by: FairnessSpec['by'];
  }[];
  const weights = conn
    .stmt('SELECT queue, key, weight FROM zapjobs_fair_weights ORDER BY queue, key')
    .all() as { queue: string; key: string; weight: number }[];
  return queues.map(({ queue, by }) => {
    const spec: FairnessSpec = { queue, by };
    const own = weights.filter((row) => row.queue === queue);
    if (own.length > 0) spec.weights = Object.fromEntries(own.map((row) => [row.key, row.weight]));
    return spec;
  });
}

/** Tells every subscriber that any queue may have claimable runs. */
function markAllQueuesWorkable(tx: Tx): void {
  const queues = tx.conn.stmt(QUEUES_WITH_AVAILABLE_RUNS).pluck().all() as string[];
  for (const queue of queues) tx.notes.work.add(queue);
}
