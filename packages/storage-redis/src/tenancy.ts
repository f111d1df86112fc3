import {
  type FairnessSpec,
  InvalidOptionError,
  type Page,
  QuotaExceededError,
  TenantDeletedError,
  type TenantPurgeResult,
  type TenantQuery,
  type TenantQuotaName,
  type TenantQuotas,
  type TenantRecord,
  type TenantStatus,
  type TenantStatusChange,
  TenantSuspendedError,
  type TenantUpsert,
} from '@zapjobs/core/storage';
import { ABSENT, type Flat, optional, toMap } from './codec.js';
import type { Runner } from './runner.js';

// Arguments and replies of the tenancy scripts (tenant-*.lua, tenants-list.lua,
// fairness-set.lua) and of the admission check in insert.lua.

const QUOTAS: readonly TenantQuotaName[] = [
  'runsPerHour',
  'runsPerDay',
  'maxQueuedRuns',
  'maxConcurrentRuns',
];

export function upsertTenantArgs(tenant: TenantUpsert): string[] {
  return [
    tenant.id,
    String(tenant.weight),
    optional(tenant.metadata),
    ...QUOTAS.map((quota) => optional(tenant.quotas[quota])),
  ];
}

function numberOrNull(value: string | undefined): number | null {
  return value === undefined || value === '' ? null : Number(value);
}

export function decodeTenant(flat: Flat): TenantRecord {
  const f = toMap(flat);
  const quotas: TenantQuotas = {};
  for (const quota of QUOTAS) {
    const value = f.get(quota);
    if (value !== undefined) quotas[quota] = Number(value);
  }
  return {
    id: f.get('id')!,
    status: f.get('status') as TenantStatus,
    weight: Number(f.get('weight')),
    quotas,
    metadata: f.get('metadata') ?? null,
    createdAt: Number(f.get('createdAt')),
    updatedAt: Number(f.get('updatedAt')),
    deletedAt: numberOrNull(f.get('deletedAt')),
    purgeAt: numberOrNull(f.get('purgeAt')),
  };
}

export function listTenantsArgs(query: TenantQuery): string[] {
  if (!Number.isInteger(query.limit) || query.limit < 1 || query.limit > 1000) {
    throw new InvalidOptionError('query.limit', query.limit, 'an integer from 1 to 1000');
  }
  return [String(query.limit), optional(query.cursor), optional(query.status)];
}

/** A rejection from insert.lua: {"rejected", kind, tenant, quota, limit, resetAt}. */
export type Rejection = ['rejected', string, string, string, string, string];

export function isRejection(result: unknown): result is Rejection {
  return Array.isArray(result) && result[0] === 'rejected';
}

export function rejectionError(rejection: Rejection): Error {
  const [, kind, tenantId, quota, limit, resetAt] = rejection;
  if (kind === 'suspended') return new TenantSuspendedError(tenantId);
  if (kind === 'deleted') return new TenantDeletedError(tenantId);
  return new QuotaExceededError({
    tenantId,
    quota: quota as 'runsPerHour' | 'runsPerDay' | 'maxQueuedRuns',
    limit: Number(limit),
    resetAt: resetAt === '' ? null : Number(resetAt),
  });
}

/** Value of the "fair" hash: "by\0weightsJSON", with an empty JSON part without weights. */
export function encodeFairness(spec: FairnessSpec): string {
  return `${spec.by}\0${spec.weights === undefined ? '' : JSON.stringify(spec.weights)}`;
}

export function decodeFairness(queue: string, value: string): FairnessSpec {
  const sep = value.indexOf('\0');
  const weights = value.slice(sep + 1);
  const spec: FairnessSpec = { queue, by: value.slice(0, sep) as FairnessSpec['by'] };
  if (weights !== '') spec.weights = JSON.parse(weights);
  return spec;
}

/** The tenancy methods of the storage contract: registry, purging and fair queues. */
export class TenancyStore {
  readonly #runner: Runner;

  constructor(runner: Runner) {
    this.#runner = runner;
  }

  async upsertTenant(tenant: TenantUpsert): Promise<TenantRecord> {
    const args = upsertTenantArgs(tenant);
    return decodeTenant(await this.#runner.change<Flat>('upsertTenant', 'tenantUpsert', args));
  }

  async getTenant(tenantId: string): Promise<TenantRecord | null> {
    const flat = await this.#runner.hash('getTenant', `tn:${tenantId}`);
    return flat === null ? null : decodeTenant(flat);
  }

  async listTenants(query: TenantQuery): Promise<Page<TenantRecord>> {
    const args = listTenantsArgs(query);
    type Reply = [Flat[], string | null];
    const [rows, cursor] = await this.#runner.read<Reply>('listTenants', 'tenantsList', args);
    return { items: rows.map(decodeTenant), nextCursor: cursor };
  }

  async setTenantStatus(change: TenantStatusChange): Promise<TenantRecord | null> {
    const purgeAt = change.status === 'deleted' ? String(change.purgeAt ?? 0) : ABSENT;
    const args = [change.id, change.status, purgeAt];
    const flat = await this.#runner.change<Flat | null>('setTenantStatus', 'tenantStatus', args);
    return flat === null ? null : decodeTenant(flat);
  }

  async purgeTenants(limit: number): Promise<TenantPurgeResult> {
    const args = [String(Math.max(0, limit))];
    type Reply = [number, string[]];
    const [runsDeleted, tenantsDeleted] = await this.#runner.read<Reply>(
      'purgeTenants',
      'tenantPurge',
      args,
    );
    return { runsDeleted, tenantsDeleted };
  }

  async setFairness(spec: FairnessSpec): Promise<void> {
    const args = [spec.queue, encodeFairness(spec)];
    await this.#runner.change<number>('setFairness', 'fairnessSet', args);
  }

  async deleteFairness(queue: string): Promise<boolean> {
    const args = [queue, ABSENT];
    return (await this.#runner.change<number>('deleteFairness', 'fairnessSet', args)) === 1;
  }

  async listFairness(): Promise<FairnessSpec[]> {
    const flat = (await this.#runner.hash('listFairness', 'fair')) ?? [];
    const specs: FairnessSpec[] = [];
    for (let i = 0; i < flat.length; i += 2) specs.push(decodeFairness(flat[i]!, flat[i + 1]!));
    return specs.sort((a, b) => (a.queue < b.queue ? -1 : 1));
  }
}
