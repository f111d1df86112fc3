/**
 * Small checks for option values. Each throws InvalidOptionError naming the option, the value
 * and what is expected.
 */
import { InvalidOptionError } from '../errors.js';

/** Largest delay Node timers accept (2^31-1 ms, about 24.8 days). */
export const MAX_TIMER_MS = 2_147_483_647;

/** Maximum length of a queue, group, tenant, partition key or idempotency key. */
export const MAX_NAME_LENGTH = 255;

/** Throws when `value` has an own key that is not in `allowed`, which catches typos. */
export function assertKnownKeys(
  value: object,
  allowed: readonly string[],
  prefix: string,
  context: string,
): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new InvalidOptionError(
        `${prefix}${key}`,
        (value as Record<string, unknown>)[key],
        `a known option${context}: ${allowed.join(', ')}`,
      );
    }
  }
}

export function assertPlainObject(name: string, value: unknown): asserts value is object {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionError(name, value, 'an object');
  }
}

/** Expected value named by the error for a name or key that contains NUL or a lone surrogate. */
export const WELL_FORMED_TEXT = 'a string without NUL characters or unpaired surrogates';

// A high surrogate not followed by a low one, or a low surrogate not preceded by a high one.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Throws when `value` contains NUL or an unpaired surrogate. PostgreSQL rejects NUL in text, and
 * each backend would store a lone surrogate as U+FFFD, so two names could become one.
 */
export function checkWellFormed(name: string, value: string): string {
  if (value.includes('\u0000') || LONE_SURROGATE.test(value))
    throw new InvalidOptionError(name, value, WELL_FORMED_TEXT);
  return value;
}

export function checkName(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > MAX_NAME_LENGTH) {
    throw new InvalidOptionError(
      name,
      value,
      `a non-empty string of at most ${MAX_NAME_LENGTH} characters`,
    );
  }
  return checkWellFormed(name, value);
}

export function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(name, value, `an integer from ${min} to ${max}`);
  }
  return value;
}

/** Checks a finite number of milliseconds from `min` (default 0) to `max`. */
export function checkMs(name: string, value: unknown, min = 0, max = Number.MAX_SAFE_INTEGER) {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `from ${min} to ${max}`;
    throw new InvalidOptionError(name, value, `a finite number of milliseconds ${range}`);
  }
  return value;
}

export function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new InvalidOptionError(name, value, 'true or false');
  return value;
}

export function checkOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]) {
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw new InvalidOptionError(name, value, `one of ${allowed.map((a) => `"${a}"`).join(', ')}`);
  }
  return value as T;
}

export function checkRunId(name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '' || value.length > MAX_NAME_LENGTH) {
    throw new InvalidOptionError(name, value, 'a run id string');
  }
  return checkWellFormed(name, value);
}
