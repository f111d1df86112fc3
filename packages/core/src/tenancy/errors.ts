/**
 * Errors of multi-tenancy. Backends throw the first three from `insertRuns`; they build no
 * message of their own, so a caller sees the same text whatever the store.
 */
import { ZapJobsError, type ZapJobsErrorCode } from '../errors.js';
import type { TenantQuotaName } from '../storage/tenancy-contract.js';

/** Stable codes of the tenancy errors. */
export type TenancyErrorCode = Extract<
  ZapJobsErrorCode,
  'TENANT_SUSPENDED' | 'TENANT_DELETED' | 'TENANT_NOT_FOUND' | 'QUOTA_EXCEEDED'
>;

/**
 * Base of the tenancy errors. `instanceof` matches by code, like every ZapJobsError, so it
 * works across duplicate installs of this package.
 */
abstract class TenancyError extends ZapJobsError {
  /** The tenant the error is about. */
  readonly tenantId: string;

  constructor(code: TenancyErrorCode, tenantId: string, message: string) {
    super(code, message);
    this.tenantId = tenantId;
  }
}

const codeOfClass = new Map<unknown, TenancyErrorCode>();

/**
 * Checks whether `value` carries the code of `errorClass`. The classes pass `this`, because the
 * bundler renames a class that names itself in its body (`_QuotaExceededError`), and an error
 * takes its `name` from its class.
 */
function matchesCode(errorClass: unknown, value: unknown): boolean {
  return value instanceof ZapJobsError && (value.code as string) === codeOfClass.get(errorClass);
}

/** An enqueue for a tenant that is suspended; nothing was stored. */
export class TenantSuspendedError extends TenancyError {
  constructor(tenantId: string) {
    super(
      'TENANT_SUSPENDED',
      tenantId,
      `Tenant "${tenantId}" is suspended, so its runs cannot be enqueued. ` +
        'Resume it with zap.tenants.resume() first.',
    );
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class, which must not name itself.
    return matchesCode(this, value);
  }
}

/** An enqueue for a tenant that was deleted and waits for its data to be purged. */
export class TenantDeletedError extends TenancyError {
  constructor(tenantId: string) {
    super(
      'TENANT_DELETED',
      tenantId,
      `Tenant "${tenantId}" was deleted, so its runs cannot be enqueued. Restore it with ` +
        'zap.tenants.resume() before its data is purged, or use another tenant id.',
    );
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class, which must not name itself.
    return matchesCode(this, value);
  }
}

/** A tenant id that the registry does not have, passed to an operation that needs one. */
export class TenantNotFoundError extends TenancyError {
  constructor(tenantId: string) {
    super(
      'TENANT_NOT_FOUND',
      tenantId,
      `Tenant "${tenantId}" is not registered. Create it with zap.tenants.upsert() first.`,
    );
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class, which must not name itself.
    return matchesCode(this, value);
  }
}

/** Details of an exceeded quota, as a backend reports them. */
export interface QuotaExceededDetails {
  tenantId: string;
  quota: Exclude<TenantQuotaName, 'maxConcurrentRuns'>;
  /** The quota's value. */
  limit: number;
  /**
   * When the window of a `runsPerHour` or `runsPerDay` quota ends, in epoch milliseconds on the
   * storage clock; null for `maxQueuedRuns`, which frees up as queued runs start.
   */
  resetAt: number | null;
}

const QUOTA_UNITS: Record<QuotaExceededDetails['quota'], string> = {
  runsPerHour: 'runs created per hour',
  runsPerDay: 'runs created per UTC day',
  maxQueuedRuns: 'runs queued at once',
};

/** An enqueue that would take a tenant over one of its quotas; nothing was stored. */
export class QuotaExceededError extends TenancyError {
  /** Name of the exceeded quota. */
  readonly quota: QuotaExceededDetails['quota'];
  /** The quota's value. */
  readonly limit: number;
  /** When the quota's window ends; null for `maxQueuedRuns`. */
  readonly resetAt: Date | null;

  constructor(details: QuotaExceededDetails) {
    const { tenantId, quota, limit, resetAt } = details;
    const reset =
      resetAt === null
        ? 'It frees up as queued runs of the tenant start or are cancelled.'
        : `It resets at ${new Date(resetAt).toISOString()}.`;
    super(
      'QUOTA_EXCEEDED',
      tenantId,
      `Tenant "${tenantId}" exceeded its quota ${quota} (${limit} ${QUOTA_UNITS[quota]}), ` +
        `so the enqueue was rejected and nothing was stored. ${reset}`,
    );
    this.quota = quota;
    this.limit = limit;
    this.resetAt = resetAt === null ? null : new Date(resetAt);
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class, which must not name itself.
    return matchesCode(this, value);
  }
}

codeOfClass.set(TenantSuspendedError, 'TENANT_SUSPENDED');
codeOfClass.set(TenantDeletedError, 'TENANT_DELETED');
codeOfClass.set(TenantNotFoundError, 'TENANT_NOT_FOUND');
codeOfClass.set(QuotaExceededError, 'QUOTA_EXCEEDED');
