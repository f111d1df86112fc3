import type { NewRun, Storage } from '../../storage/contract.js';
import type {
  FairnessSpec,
  TenantPurgeResult,
  TenantQuery,
  TenantQuotas,
  TenantRecord,
  TenantStatusChange,
  TenantUpsert,
} from '../../storage/tenancy-contract.js';
import { claim, newRun } from './harness.js';

/** The tenancy methods of a storage, which the contract marks optional, as required ones. */
export interface TenancyMethods {
  upsertTenant(tenant: TenantUpsert): Promise<TenantRecord>;
  getTenant(tenantId: string): Promise<TenantRecord | null>;
  listTenants(query: TenantQuery): Promise<{ items: TenantRecord[]; nextCursor: string | null }>;
  setTenantStatus(change: TenantStatusChange): Promise<TenantRecord | null>;
  purgeTenants(limit: number): Promise<TenantPurgeResult>;
  setFairness(spec: FairnessSpec): Promise<void>;
  deleteFairness(queue: string): Promise<boolean>;
  listFairness(): Promise<FairnessSpec[]>;
}

const METHODS = [
  'upsertTenant',
  'getTenant',
  'listTenants',
  'setTenantStatus',
  'purgeTenants',
  'setFairness',
  'deleteFairness',
  'listFairness',
] as const;

/** Returns the storage's tenancy methods, failing the test when the backend lacks one. */
export function tenancy(storage: Storage): TenancyMethods {
  const missing = METHODS.filter((method) => typeof storage[method] !== 'function');
  if (missing.length > 0) {
    throw new Error(`Storage "${storage.name}" does not implement ${missing.join(', ')}.`);
  }
  return storage as unknown as TenancyMethods;
}

/** Registers a tenant with weight and quotas. */
export function register(
  storage: Storage,
  id: string,
  options: { weight?: number; quotas?: TenantQuotas } = {},
): Promise<TenantRecord> {
  return tenancy(storage).upsertTenant({
    id,
    weight: options.weight ?? 1,
    quotas: options.quotas ?? {},
  });
}

/** Builds `count` runs of one tenant on queue `default`, without history to keep it fast. */
export function tenantRuns(
  tenantId: string | undefined,
  count: number,
  overrides: Partial<NewRun> = {},
): NewRun[] {
  return Array.from({ length: count }, () =>
    newRun({
      historyLevel: 'off',
      ...(tenantId === undefined ? {} : { tenantId }),
      ...overrides,
    }),
  );
}

/** Inserts runs in batches, so big backlogs stay within any backend's statement limits. */
export async function insertMany(storage: Storage, runs: readonly NewRun[]): Promise<void> {
  for (let i = 0; i < runs.length; i += 500) {
    await storage.insertRuns(runs.slice(i, i + 500));
  }
}

/**
 * Claims one run at a time `count` times, completing each at once, and returns the key of
 * every claimed run in claim order (`keyOf` picks it; default the tenant id, '-' for none).
 */
export async function claimSequence(
  storage: Storage,
  count: number,
  options: { queue?: string; limit?: number; keyOf?: (run: NewRunLike) => string } = {},
): Promise<string[]> {
  const keyOf = options.keyOf ?? ((run: NewRunLike) => run.tenantId ?? '-');
  const keys: string[] = [];
  while (keys.length < count) {
    const claimed = await claim(storage, {
      queues: [options.queue ?? 'default'],
      limit: Math.min(options.limit ?? 1, count - keys.length),
    });
    if (claimed.length === 0) break;
    keys.push(...claimed.map(keyOf));
    await storage.complete(
      claimed.map((run) => ({ runId: run.id, leaseToken: run.leaseToken, output: 'null' })),
    );
  }
  return keys;
}

/** The run fields the key functions of {@link claimSequence} read. */
export interface NewRunLike {
  tenantId: string | null;
  partitionKey: string | null;
  priority: number;
}

/** Counts the occurrences of each value. */
export function tally(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}
