/**
 * Retry delays. See {@link BackoffOptions} for the formulas.
 */
import { InvalidOptionError } from '../errors.js';
import type { BackoffOptions } from '../job.js';
import { assertKnownKeys, assertPlainObject, checkMs } from './check.js';

/** Backoff of a job that sets none: exponential from 1 s, capped at 1 hour, jitter 0.2. */
export const DEFAULT_BACKOFF: BackoffOptions = {
  type: 'exponential',
  delayMs: 1_000,
  maxDelayMs: 3_600_000,
  jitter: 0.2,
};

const DEFAULT_EXPONENTIAL_JITTER = 0.2;

/** Checks a backoff option; `allowCustom` is false where the backoff must be stored as JSON. */
export function checkBackoff(name: string, value: unknown, allowCustom: boolean): BackoffOptions {
  assertPlainObject(name, value);
  const backoff = value as Record<string, unknown>;

  switch (backoff.type) {
    case 'exponential': {
      assertKnownKeys(backoff, ['type', 'delayMs', 'maxDelayMs', 'jitter'], `${name}.`, '');
      checkMs(`${name}.delayMs`, backoff.delayMs);
      if (backoff.maxDelayMs !== undefined) {
        checkMs(`${name}.maxDelayMs`, backoff.maxDelayMs, backoff.delayMs as number);
      }
      checkJitter(`${name}.jitter`, backoff.jitter);
      return backoff as BackoffOptions;
    }
    case 'fixed': {
      assertKnownKeys(backoff, ['type', 'delayMs', 'jitter'], `${name}.`, '');
      checkMs(`${name}.delayMs`, backoff.delayMs);
      checkJitter(`${name}.jitter`, backoff.jitter);
      return backoff as BackoffOptions;
    }
    case 'custom': {
      if (!allowCustom) {
        throw new InvalidOptionError(
          `${name}.type`,
          'custom',
          '"exponential" or "fixed" here, because a function cannot be stored with the run; ' +
            "set a custom backoff in the job's defaults instead",
        );
      }
      assertKnownKeys(backoff, ['type', 'compute'], `${name}.`, '');
      if (typeof backoff.compute !== 'function') {
        throw new InvalidOptionError(
          `${name}.compute`,
          backoff.compute,
          'a function (attempt, error) => delay in milliseconds',
        );
      }
      return backoff as BackoffOptions;
    }
    default:
      throw new InvalidOptionError(
        `${name}.type`,
        backoff.type,
        '"exponential", "fixed" or "custom"',
      );
  }
}

function checkJitter(name: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
    throw new InvalidOptionError(name, value, 'a number from 0 to 1');
  }
}

/**
 * Computes the delay in milliseconds before the next attempt, after attempt `attempt`
 * (1-based) failed with `error`. `random` returns a number in [0, 1).
 * Throws InvalidOptionError when a custom `compute` returns something other than a finite
 * number of at least 0.
 */
export function computeBackoffDelay(
  backoff: BackoffOptions,
  attempt: number,
  error: unknown,
  random: () => number = Math.random,
): number {
  switch (backoff.type) {
    case 'fixed':
      return applyJitter(backoff.delayMs, backoff.jitter ?? 0, random);
    case 'exponential': {
      const raw = backoff.delayMs * 2 ** Math.max(0, attempt - 1);
      const capped = Math.min(raw, backoff.maxDelayMs ?? Number.MAX_SAFE_INTEGER);
      return applyJitter(capped, backoff.jitter ?? DEFAULT_EXPONENTIAL_JITTER, random);
    }
    case 'custom': {
      const delay = backoff.compute(attempt, error);
      if (typeof delay !== 'number' || !Number.isFinite(delay) || delay < 0) {
        throw new InvalidOptionError(
          'backoff.compute() result',
          delay,
          'a finite number of milliseconds of at least 0',
        );
      }
      return Math.round(Math.min(delay, Number.MAX_SAFE_INTEGER));
    }
  }
}

function applyJitter(delayMs: number, jitter: number, random: () => number): number {
  const spread = delayMs * jitter * random();
  return Math.round(delayMs - spread);
}
