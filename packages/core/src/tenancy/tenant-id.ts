/**
 * Tenant id validation. Ids reach storage only as query parameters, and the narrow alphabet
 * keeps them safe in keys, headers, logs and metric attributes as well.
 */
import { InvalidOptionError } from '../errors.js';

/** Maximum length of a tenant id, in characters. */
export const MAX_TENANT_ID_LENGTH = 128;

const TENANT_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** Whether `value` is a valid tenant id: 1 to 128 characters of `A-Z a-z 0-9 . _ : -`. */
export function isTenantId(value: unknown): value is string {
  return typeof value === 'string' && TENANT_ID_PATTERN.test(value);
}

/** Returns `value` when it is a valid tenant id; throws InvalidOptionError naming `name`. */
export function checkTenantId(name: string, value: unknown): string {
  if (!isTenantId(value)) {
    throw new InvalidOptionError(
      name,
      value,
      `a tenant id of 1 to ${MAX_TENANT_ID_LENGTH} characters from A-Z, a-z, 0-9, ".", "_", ":" ` +
        'and "-"',
    );
  }
  return value;
}
