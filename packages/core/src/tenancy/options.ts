/**
 * Checks of the tenant registry's options, and the decoded shapes the client returns.
 */
import { InvalidOptionError } from '../errors.js';
import { assertKnownKeys, assertPlainObject, checkInteger } from '../internal/check.js';
import { parsePayload } from '../internal/serialize.js';
import type { Storage } from '../storage/contract.js';
import type {
  TenantQuotaName,
  TenantQuotas,
  TenantRecord,
  TenantStatus,
} from '../storage/tenancy-contract.js';

/** Smallest and largest tenant or key weight. */
export const MIN_WEIGHT = 0.001;
export const MAX_WEIGHT = 1_000_000;
/** Largest quota value. */
export const MAX_QUOTA = 2_147_483_647;

export const QUOTA_NAMES: readonly TenantQuotaName[] = [
  'runsPerHour',
  'runsPerDay',
  'maxQueuedRuns',
  'maxConcurrentRuns',
];

export const TENANT_STATUSES: readonly TenantStatus[] = ['active', 'suspended', 'deleted'];

/** Quota changes: a number sets a quota, null removes it, an absent key keeps it. */
export type TenantQuotasPatch = { [K in TenantQuotaName]?: number | null };

/** Options of `zap.tenants.upsert`. Absent options keep the tenant's current values. */
export interface TenantOptions {
  /**
   * Share of a queue that is fair by tenant, relative to the other tenants' weights: a tenant
   * of weight 3 gets three claims for each claim of a tenant of weight 1 while both have due
   * runs. From 0.001 to 1,000,000. Default 1.
   */
  weight?: number;
  /** Quotas to set (a number) or remove (null); see {@link TenantQuotas}. Default: none. */
  quotas?: TenantQuotasPatch;
  /** Application data stored with the tenant; a plain object, or null to clear it. */
  metadata?: Record<string, unknown> | null;
}

/** A tenant as the client returns it: metadata parsed and times as Dates. */
export interface Tenant {
  id: string;
  status: TenantStatus;
  weight: number;
  quotas: TenantQuotas;
  metadata: Record<string, unknown> | null;
  createdAt: Date;
  updatedAt: Date;
  /** When the tenant was deleted; null unless `status` is `deleted`. */
  deletedAt: Date | null;
  /** Earliest time its data is purged; null unless `status` is `deleted`. */
  purgeAt: Date | null;
}

export function checkWeight(name: string, value: unknown): number {
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < MIN_WEIGHT ||
    value > MAX_WEIGHT
  ) {
    throw new InvalidOptionError(name, value, `a number from ${MIN_WEIGHT} to ${MAX_WEIGHT}`);
  }
  return value;
}

/** Applies a quota patch to the current quotas and returns the result. */
export function applyQuotasPatch(current: TenantQuotas, patch: unknown): TenantQuotas {
  assertPlainObject('quotas', patch);
  assertKnownKeys(patch, QUOTA_NAMES, 'quotas.', '');
  const result: TenantQuotas = { ...current };
  for (const name of QUOTA_NAMES) {
    const value = (patch as TenantQuotasPatch)[name];
    if (value === undefined) continue;
    if (value === null) delete result[name];
    else result[name] = checkInteger(`quotas.${name}`, value, 0, MAX_QUOTA);
  }
  return result;
}

export function decodeTenant(record: TenantRecord): Tenant {
  return {
    id: record.id,
    status: record.status,
    weight: record.weight,
    quotas: { ...record.quotas },
    metadata: parsePayload(record.metadata) as Record<string, unknown> | null,
    createdAt: new Date(record.createdAt),
    updatedAt: new Date(record.updatedAt),
    deletedAt: record.deletedAt === null ? null : new Date(record.deletedAt),
    purgeAt: record.purgeAt === null ? null : new Date(record.purgeAt),
  };
}

/** Tenancy methods of the storage contract, which a backend may leave out. */
type TenancyMethod =
  | 'upsertTenant'
  | 'getTenant'
  | 'listTenants'
  | 'setTenantStatus'
  | 'purgeTenants'
  | 'setFairness'
  | 'deleteFairness'
  | 'listFairness';

/** Returns the storage's tenancy method bound to it, or throws when the backend lacks it. */
export function tenancyMethod<M extends TenancyMethod>(
  storage: Storage,
  method: M,
): NonNullable<Storage[M]> {
  const implementation = storage[method];
  if (typeof implementation !== 'function') {
    throw new InvalidOptionError(
      'storage',
      storage.name,
      `a backend that implements ${method}(), which tenants and fair queues need; ` +
        'upgrade the storage package',
    );
  }
  return (implementation as (...args: unknown[]) => unknown).bind(storage) as NonNullable<
    Storage[M]
  >;
}
