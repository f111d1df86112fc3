/**
 * Tenancy primitives of the storage contract: the tenant registry, tenant quotas and fair
 * scheduling inside a queue. `contract.ts` re-exports everything here and lists the methods.
 *
 * Core decides every value (quota sizes, weights, retention); a backend stores them and
 * enforces them atomically with the insert or the claim, across every process.
 *
 * - A tenant that is not in the registry is `active`, with weight 1 and no quotas, so runs can
 *   carry any valid tenant id without registering it first.
 * - A run whose tenant is `suspended` or `deleted` is never claimed; it stays in its state until
 *   the tenant is resumed or purged.
 */

/**
 * `active`: runs are enqueued and claimed. `suspended`: enqueue is rejected and runs are not
 * claimed. `deleted`: like `suspended`, and the tenant's data is purged at `purgeAt`.
 */
export type TenantStatus = 'active' | 'suspended' | 'deleted';

/**
 * Quotas of one tenant. Each absent quota is unlimited.
 *
 * Window quotas count the runs a tenant created in fixed windows aligned to the epoch on the
 * storage clock: hours start at multiples of 3,600,000 ms and days at UTC midnight. A window
 * quota counts runs from the moment it is set; runs created earlier in the window are not
 * counted. Runs that an insert deduplicated by unique key (`created: false`) never count.
 */
export interface TenantQuotas {
  /** Most runs created per clock hour. */
  runsPerHour?: number;
  /** Most runs created per UTC day. */
  runsPerDay?: number;
  /** Most runs `waiting`, `scheduled` or `available` at once, checked at insert. */
  maxQueuedRuns?: number;
  /** Most runs `running` at once across every queue, applied at claim. */
  maxConcurrentRuns?: number;
}

/** Names of the quotas of {@link TenantQuotas}. */
export type TenantQuotaName = keyof TenantQuotas;

/** A tenant as stored. */
export interface TenantRecord {
  /** 1 to 128 characters of `A-Z a-z 0-9 . _ : -`. */
  id: string;
  status: TenantStatus;
  /** Share of a queue that is fair by tenant, relative to the other tenants' weights. */
  weight: number;
  quotas: TenantQuotas;
  /** Serialized application metadata (JSON object), never parsed by the backend. */
  metadata: string | null;
  createdAt: number;
  updatedAt: number;
  /** When the status became `deleted`; null otherwise. */
  deletedAt: number | null;
  /** Earliest time `purgeTenants` deletes the tenant and its data; null unless `deleted`. */
  purgeAt: number | null;
}

/**
 * Creates a tenant (`active`) or replaces the weight, quotas and metadata of an existing one,
 * keeping its status.
 */
export interface TenantUpsert {
  id: string;
  /** A positive number. */
  weight: number;
  quotas: TenantQuotas;
  metadata?: string;
}

export interface TenantStatusChange {
  id: string;
  status: TenantStatus;
  /** Required with `deleted`, ignored otherwise: absolute time on the storage clock. */
  purgeAt?: number;
}

export interface TenantQuery {
  status?: TenantStatus;
  /** Page size, 1 to 1000. Tenants are listed by id, ascending. */
  limit: number;
  cursor?: string;
}

export interface TenantPurgeResult {
  /** Runs deleted by this call, with their events, state, dependency edges and unique keys. */
  runsDeleted: number;
  /** Tenants whose last data this call deleted, and whose record it removed. */
  tenantsDeleted: string[];
}

/**
 * Fair scheduling inside one queue: among the queue's due runs, the claim serves the values of
 * the key (tenant ids or partition keys) in proportion to their weights, so a key with many
 * queued runs cannot starve a key with few. Within one key, runs keep the claim order
 * (priority, then `runAt`, then id). Runs without the key form one more key of weight 1.
 *
 * A key that had no due run starts level with the keys being served when it gets one, so idle
 * time earns no credit.
 */
export interface FairnessSpec {
  queue: string;
  /** `tenant` shares by `tenantId`, `partition` by `partitionKey`. */
  by: 'tenant' | 'partition';
  /**
   * Weights by key value, positive numbers. A key not listed weighs its tenant's registry weight
   * when `by` is `tenant`, else 1.
   */
  weights?: Readonly<Record<string, number>>;
}
