import type { ZapJobsError } from '@zapjobs/core/storage';
import {
  QuotaExceededError,
  TenantDeletedError,
  TenantSuspendedError,
} from '@zapjobs/core/storage';

/**
 * Maps the SQLSTATEs that the tenancy functions raise (class ZJ) to the errors of core;
 * returns null for any other error.
 */
export function tenancyError(error: unknown): ZapJobsError | null {
  if (typeof error !== 'object' || error === null) return null;
  const { code, detail } = error as { code?: unknown; detail?: unknown };
  if (typeof detail !== 'string') return null;
  if (code === 'ZJT01') return new TenantSuspendedError(detail);
  if (code === 'ZJT02') return new TenantDeletedError(detail);
  if (code === 'ZJQ01') {
    const parsed = JSON.parse(detail) as ConstructorParameters<typeof QuotaExceededError>[0];
    return new QuotaExceededError(parsed);
  }
  return null;
}
