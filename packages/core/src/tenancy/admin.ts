/**
 * The tenant registry of a client, `zap.tenants`: create and update tenants, suspend, resume,
 * delete them with their data after a retention period.
 */
import { InvalidOptionError } from '../errors.js';
import { assertKnownKeys, assertPlainObject, checkInteger, checkMs } from '../internal/check.js';
import type { ClientInternals } from '../internal/internals.js';
import { serializePayload } from '../internal/serialize.js';
import { callStorage } from '../internal/storage-call.js';
import type { TenantPurgeResult, TenantStatus, TenantUpsert } from '../storage/tenancy-contract.js';
import { TenantNotFoundError } from './errors.js';
import {
  applyQuotasPatch,
  checkWeight,
  decodeTenant,
  TENANT_STATUSES,
  type Tenant,
  type TenantOptions,
  tenancyMethod,
} from './options.js';
import { checkTenantId } from './tenant-id.js';

/** Retention of a deleted tenant's data when `delete` is not told otherwise: 7 days. */
export const DEFAULT_TENANT_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

/** Options of `zap.tenants.list`. */
export interface ListTenantsOptions {
  status?: TenantStatus;
  /** Page size from 1 to 1000. Default 100. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

/** Options of `zap.tenants.delete`. */
export interface DeleteTenantOptions {
  /**
   * Milliseconds to keep the tenant's runs, events and schedules before a worker purges them;
   * until then `resume` restores the tenant. Default 604,800,000 (7 days); 0 purges at the
   * next purge pass.
   */
  retentionMs?: number;
}

const UPSERT_KEYS = ['weight', 'quotas', 'metadata'];

/**
 * The tenant registry. A tenant id that was never registered behaves as an active tenant with
 * weight 1 and no quotas, so registering is needed only to set those or to suspend.
 */
export class TenantAdmin {
  readonly #internals: ClientInternals;

  /** @internal Use `zap.tenants`. */
  constructor(internals: ClientInternals) {
    this.#internals = internals;
  }

  /**
   * Creates a tenant, or updates one; options left out keep their current values, and quotas
   * are changed one by one (null removes a quota). Returns the stored tenant.
   */
  async upsert(tenantId: string, options: TenantOptions = {}): Promise<Tenant> {
    const { storage } = await this.#ready('upsert a tenant');
    const id = checkTenantId('tenantId', tenantId);
    assertPlainObject('options', options);
    assertKnownKeys(options, UPSERT_KEYS, '', ' of tenants.upsert');

    const current = await callStorage(storage, 'getTenant', () =>
      tenancyMethod(storage, 'getTenant')(id),
    );
    const upsert: TenantUpsert = {
      id,
      weight:
        options.weight === undefined
          ? (current?.weight ?? 1)
          : checkWeight('weight', options.weight),
      quotas:
        options.quotas === undefined
          ? (current?.quotas ?? {})
          : applyQuotasPatch(current?.quotas ?? {}, options.quotas),
    };
    const metadata =
      options.metadata === undefined ? current?.metadata : this.#metadata(id, options.metadata);
    if (metadata !== undefined && metadata !== null) upsert.metadata = metadata;

    const record = await callStorage(storage, 'upsertTenant', () =>
      tenancyMethod(storage, 'upsertTenant')(upsert),
    );
    return decodeTenant(record);
  }

  /** Returns a registered tenant, or null. */
  async get(tenantId: string): Promise<Tenant | null> {
    const { storage } = await this.#ready('get a tenant');
    const id = checkTenantId('tenantId', tenantId);
    const record = await callStorage(storage, 'getTenant', () =>
      tenancyMethod(storage, 'getTenant')(id),
    );
    return record === null ? null : decodeTenant(record);
  }

  /** Lists registered tenants by id, one page at a time. */
  async list(
    options: ListTenantsOptions = {},
  ): Promise<{ tenants: Tenant[]; nextCursor: string | null }> {
    const { storage } = await this.#ready('list tenants');
    assertPlainObject('options', options);
    assertKnownKeys(options, ['status', 'limit', 'cursor'], '', ' of tenants.list');
    const query = {
      limit: options.limit === undefined ? 100 : checkInteger('limit', options.limit, 1, 1000),
      ...(options.status === undefined ? {} : { status: checkStatus(options.status) }),
      ...(options.cursor === undefined ? {} : { cursor: checkCursor(options.cursor) }),
    };
    const page = await callStorage(storage, 'listTenants', () =>
      tenancyMethod(storage, 'listTenants')(query),
    );
    return { tenants: page.items.map(decodeTenant), nextCursor: page.nextCursor };
  }

  /**
   * Suspends a tenant, registering it first if needed: its enqueues are rejected with
   * TenantSuspendedError, its runs are not started and its schedules skip their occurrences
   * until `resume`. Running attempts finish.
   */
  async suspend(tenantId: string): Promise<Tenant> {
    const tenant = await this.#setStatus(tenantId, 'suspended', undefined, true);
    this.#internals.logger.info(
      { tenantId: tenant.id },
      `Tenant "${tenant.id}" suspended: its enqueues are rejected and its runs wait`,
    );
    return tenant;
  }

  /**
   * Makes a suspended tenant active again, or restores a deleted one whose data was not purged
   * yet. Throws TenantNotFoundError for a tenant that is not registered.
   */
  async resume(tenantId: string): Promise<Tenant> {
    const tenant = await this.#setStatus(tenantId, 'active', undefined, false);
    this.#internals.logger.info({ tenantId: tenant.id }, `Tenant "${tenant.id}" resumed`);
    return tenant;
  }

  /**
   * Deletes a tenant: at once it behaves as suspended, and after `retentionMs` a worker (or
   * `purgeDeleted`) deletes its runs with their history, its schedules and its record.
   */
  async delete(tenantId: string, options: DeleteTenantOptions = {}): Promise<Tenant> {
    const { storage } = await this.#ready('delete a tenant');
    assertPlainObject('options', options);
    assertKnownKeys(options, ['retentionMs'], '', ' of tenants.delete');
    const retentionMs =
      options.retentionMs === undefined
        ? DEFAULT_TENANT_RETENTION_MS
        : Math.ceil(checkMs('retentionMs', options.retentionMs));
    const purgeAt = (await callStorage(storage, 'now', () => storage.now())) + retentionMs;
    const tenant = await this.#setStatus(tenantId, 'deleted', purgeAt, true);
    this.#internals.logger.info(
      { tenantId: tenant.id, purgeAt: tenant.purgeAt?.toISOString() },
      `Tenant "${tenant.id}" deleted; its data is purged after ${tenant.purgeAt?.toISOString()}`,
    );
    return tenant;
  }

  /**
   * Purges deleted tenants whose retention has passed, up to `limit` runs (default 1000).
   * Workers call it on their own; this is for applications without workers, and for tests.
   */
  async purgeDeleted(options: { limit?: number } = {}): Promise<TenantPurgeResult> {
    const { storage } = await this.#ready('purge deleted tenants');
    assertPlainObject('options', options);
    assertKnownKeys(options, ['limit'], '', ' of tenants.purgeDeleted');
    const limit =
      options.limit === undefined ? 1000 : checkInteger('limit', options.limit, 1, 100_000);
    return callStorage(storage, 'purgeTenants', () =>
      tenancyMethod(storage, 'purgeTenants')(limit),
    );
  }

  async #setStatus(
    tenantId: string,
    status: TenantStatus,
    purgeAt: number | undefined,
    register: boolean,
  ): Promise<Tenant> {
    const { storage } = await this.#ready(`set a tenant's status to ${status}`);
    const id = checkTenantId('tenantId', tenantId);
    const change = { id, status, ...(purgeAt === undefined ? {} : { purgeAt }) };
    const setStatus = tenancyMethod(storage, 'setTenantStatus');
    let record = await callStorage(storage, 'setTenantStatus', () => setStatus(change));
    if (record === null && register) {
      await callStorage(storage, 'upsertTenant', () =>
        tenancyMethod(storage, 'upsertTenant')({ id, weight: 1, quotas: {} }),
      );
      record = await callStorage(storage, 'setTenantStatus', () => setStatus(change));
    }
    if (record === null) throw new TenantNotFoundError(id);
    return decodeTenant(record);
  }

  #metadata(tenantId: string, metadata: unknown): string | null {
    if (metadata === null) return null;
    const prototype =
      typeof metadata === 'object' && metadata !== null ? Object.getPrototypeOf(metadata) : 0;
    if (prototype !== Object.prototype && prototype !== null) {
      throw new InvalidOptionError('metadata', metadata, 'a plain object or null');
    }
    return serializePayload(metadata, {
      what: `Metadata of tenant "${tenantId}"`,
      root: 'metadata',
      maxBytes: this.#internals.maxPayloadBytes,
    });
  }

  async #ready(operation: string): Promise<ClientInternals> {
    await this.#internals.ensureReady(operation);
    return this.#internals;
  }
}

function checkStatus(value: unknown): TenantStatus {
  if (typeof value !== 'string' || !TENANT_STATUSES.includes(value as TenantStatus)) {
    throw new InvalidOptionError('status', value, `one of ${TENANT_STATUSES.join(', ')}`);
  }
  return value as TenantStatus;
}

function checkCursor(value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    throw new InvalidOptionError('cursor', value, 'the nextCursor string of a previous page');
  }
  return value;
}
