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
import { type Db, statement } from './db.js';
import { toPage } from './filters.js';
import type { SchemaNames } from './names.js';

/** A row of the tenants table. */
interface TenantRow {
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

function toTenantRecord(row: TenantRow): TenantRecord {
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

/** Builds the named statements of the tenant registry and fair-queue settings of one schema. */
export function buildTenancyStatements({ quoted: s }: SchemaNames) {
  return {
    upsert: statement(
      `insert into ${s}.tenants as t (id, status, weight, runs_per_hour, runs_per_day,
         max_queued_runs, max_concurrent_runs, metadata, created_at, updated_at)
       select $1, 'active', $2, $3, $4, $5, $6, $7, n.now, n.now
       from (select ${s}.now_ms() as now) as n
       on conflict (id) do update set weight = excluded.weight,
         runs_per_hour = excluded.runs_per_hour, runs_per_day = excluded.runs_per_day,
         max_queued_runs = excluded.max_queued_runs,
         max_concurrent_runs = excluded.max_concurrent_runs, metadata = excluded.metadata,
         updated_at = excluded.updated_at
       returning t.*`,
    ),
    get: statement(`select * from ${s}.tenants where id = $1`),
    setStatus: statement(
      `update ${s}.tenants as t
       set status = $2,
         deleted_at = case when $2 = 'deleted' then ${s}.now_ms() end,
         purge_at = case when $2 = 'deleted' then $3::bigint end,
         updated_at = ${s}.now_ms()
       where t.id = $1
       returning t.*`,
    ),
    // Runs of a resumed tenant, or of one whose concurrency quota rose, may be claimable in any
    // queue: wake the workers of every queue that has due runs.
    notifyAll: statement(
      `with recursive queues (queue) as (
         (select r.queue from ${s}.runs as r
          where (r.state in ('available', 'scheduled') or (r.state = 'suspended' and r.wake_at is not null))
          order by r.queue limit 1)
         union all
         select (select r.queue from ${s}.runs as r
           where r.queue > q.queue
             and (r.state in ('available', 'scheduled') or (r.state = 'suspended' and r.wake_at is not null))
           order by r.queue limit 1)
         from queues as q where q.queue is not null
       )
       select ${s}.notify_work(array(select queue from queues where queue is not null))`,
    ),
    purge: statement(`select runs_deleted, tenants_deleted from ${s}.purge_tenants($1)`),
    setFairness: statement(`select ${s}.set_fairness($1, $2, $3::json) as was_fair`),
    listFairness: statement(
      `select f.queue, f.by,
         (select json_object_agg(w.key, w.weight order by w.key) from ${s}.fair_weights as w
          where w.queue = f.queue)::text as weights
       from ${s}.fair_queues as f order by f.queue`,
    ),
  };
}

export type TenancyStatements = ReturnType<typeof buildTenancyStatements>;

export async function upsertTenant(
  db: Db,
  st: TenancyStatements,
  tenant: TenantUpsert,
): Promise<TenantRecord> {
  if (!(Number.isFinite(tenant.weight) && tenant.weight > 0)) {
    throw new InvalidOptionError('weight', tenant.weight, 'a positive number');
  }
  const { quotas } = tenant;
  const { rows } = await db.query<TenantRow>('upsertTenant', st.upsert, [
    tenant.id,
    tenant.weight,
    quotas.runsPerHour ?? null,
    quotas.runsPerDay ?? null,
    quotas.maxQueuedRuns ?? null,
    quotas.maxConcurrentRuns ?? null,
    tenant.metadata ?? null,
  ]);
  await db.query('upsertTenant', st.notifyAll);
  return toTenantRecord(rows[0]!);
}

export async function getTenant(
  db: Db,
  st: TenancyStatements,
  tenantId: string,
): Promise<TenantRecord | null> {
  const { rows } = await db.query<TenantRow>('getTenant', st.get, [tenantId]);
  return rows[0] === undefined ? null : toTenantRecord(rows[0]);
}

export async function listTenants(
  db: Db,
  table: string,
  query: TenantQuery,
): Promise<Page<TenantRecord>> {
  if (!(Number.isInteger(query.limit) && query.limit >= 1 && query.limit <= 1000)) {
    throw new InvalidOptionError('limit', query.limit, 'an integer from 1 to 1000');
  }
  const values: unknown[] = [];
  const where: string[] = [];
  if (query.status !== undefined) {
    values.push(query.status);
    where.push(`status = $${values.length}`);
  }
  if (query.cursor !== undefined) {
    values.push(query.cursor);
    where.push(`id > $${values.length}`);
  }
  values.push(query.limit + 1);
  const sql =
    `select * from ${table}` +
    (where.length > 0 ? ` where ${where.join(' and ')}` : '') +
    ` order by id limit $${values.length}`;
  const { rows } = await db.query<TenantRow>('listTenants', sql, values);
  return toPage(rows.map(toTenantRecord), query.limit, (tenant) => tenant.id);
}

export async function setTenantStatus(
  db: Db,
  st: TenancyStatements,
  change: TenantStatusChange,
): Promise<TenantRecord | null> {
  const deleted = change.status === 'deleted';
  if (deleted && !Number.isFinite(change.purgeAt)) {
    throw new InvalidOptionError('purgeAt', change.purgeAt, 'a time when status is "deleted"');
  }
  const { rows } = await db.query<TenantRow>('setTenantStatus', st.setStatus, [
    change.id,
    change.status,
    deleted ? Math.floor(change.purgeAt!) : null,
  ]);
  if (rows[0] === undefined) return null;
  if (change.status === 'active') await db.query('setTenantStatus', st.notifyAll);
  return toTenantRecord(rows[0]);
}

export async function purgeTenants(
  db: Db,
  st: TenancyStatements,
  limit: number,
): Promise<TenantPurgeResult> {
  const { rows } = await db.query<{ runs_deleted: number; tenants_deleted: string[] }>(
    'purgeTenants',
    st.purge,
    [Math.max(0, Math.floor(limit))],
  );
  return { runsDeleted: rows[0]!.runs_deleted, tenantsDeleted: rows[0]!.tenants_deleted };
}

export async function setFairness(
  db: Db,
  st: TenancyStatements,
  queue: string,
  spec: FairnessSpec | null,
): Promise<boolean> {
  if (spec !== null && spec.by !== 'tenant' && spec.by !== 'partition') {
    throw new InvalidOptionError('by', spec.by, '"tenant" or "partition"');
  }
  for (const [key, weight] of Object.entries(spec?.weights ?? {})) {
    if (!(Number.isFinite(weight) && weight > 0)) {
      throw new InvalidOptionError(`weights["${key}"]`, weight, 'a positive number');
    }
  }
  const { rows } = await db.query<{ was_fair: boolean }>('setFairness', st.setFairness, [
    queue,
    spec?.by ?? null,
    JSON.stringify(spec?.weights ?? {}),
  ]);
  return rows[0]!.was_fair;
}

export async function listFairness(db: Db, st: TenancyStatements): Promise<FairnessSpec[]> {
  const { rows } = await db.query<{
    queue: string;
    by: FairnessSpec['by'];
    weights: string | null;
  }>('listFairness', st.listFairness);
  return rows.map((row) => {
    const spec: FairnessSpec = { queue: row.queue, by: row.by };
    if (row.weights !== null) spec.weights = JSON.parse(row.weights) as Record<string, number>;
    return spec;
  });
}
