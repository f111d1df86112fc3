/**
 * Unique runs: the `unique` enqueue option and how each mode maps to the storage's unique keys.
 *
 * | mode             | key released                          | duplicate enqueue             |
 * | ---------------- | ------------------------------------- | ----------------------------- |
 * | `until-started`  | when the run is first claimed         | ignored                       |
 * | `until-finished` | when the run reaches a terminal state | ignored                       |
 * | `throttle`       | `periodMs` after the first enqueue    | ignored                       |
 * | `debounce`       | when the run is first claimed         | replaces input, delays again  |
 */
import { InvalidOptionError } from '../errors.js';
import {
  assertKnownKeys,
  assertPlainObject,
  checkMs,
  checkName,
  checkOneOf,
  MAX_TIMER_MS,
} from '../internal/check.js';
import type { NewRun, UniqueSpec } from '../storage/contract.js';

/** Deduplication mode of a unique key; see {@link UniqueOptions}. */
export type UniqueMode = 'until-started' | 'until-finished' | 'throttle' | 'debounce';

/**
 * Deduplication of an enqueue by key, per job. While a run has the key, another enqueue of
 * the same job with the same key creates no run and returns the holder's id with
 * `created: false`.
 */
export interface UniqueOptions {
  /** The key, unique per job; at most 255 characters. */
  key: string;
  /**
   * `until-started`: the key is held until the run first starts. `until-finished`: until it
   * completes, fails or is cancelled. `throttle`: for `periodMs` after the first enqueue, then
   * the next enqueue creates a new run. `debounce`: the run is due `periodMs` after the latest
   * enqueue, and each duplicate enqueue before it starts replaces its input and delays it again
   * (`replaced: true`).
   */
  mode: UniqueMode;
  /**
   * Milliseconds. Required for `throttle` (the window) and `debounce` (the quiet time before
   * the run is due). For `until-started` and `until-finished`, an optional upper bound: the
   * key is released this long after it was taken even if the run has not started or finished.
   */
  periodMs?: number;
}

const MODES: readonly UniqueMode[] = ['until-started', 'until-finished', 'throttle', 'debounce'];

/** Stored unique keys of the `unique` option are prefixed so they never meet other keys. */
export function uniqueStorageKey(job: string, key: string): string {
  return `unique:${job}:${key}`;
}

/** Timing options of the enqueue, checked against `debounce`. */
export interface TimingOptions {
  delayMs: number | undefined;
  runAt: number | undefined;
  idempotencyKey: string | undefined;
}

/**
 * Checks the `unique` option and sets `run.unique` (and, for `debounce`, the run's delay).
 * Throws InvalidOptionError naming the option and the fix.
 */
export function applyUniqueOption(run: NewRun, value: unknown, timing: TimingOptions): void {
  assertPlainObject('unique', value);
  assertKnownKeys(value, ['key', 'mode', 'periodMs'], 'unique.', '');
  const options = value as Partial<UniqueOptions>;
  const key = checkName('unique.key', options.key);
  const mode = checkOneOf('unique.mode', options.mode, MODES);
  if (timing.idempotencyKey !== undefined) {
    throw new InvalidOptionError(
      'unique',
      value,
      'no unique option when idempotencyKey is set; use one of the two',
    );
  }

  const needsPeriod = mode === 'throttle' || mode === 'debounce';
  if (options.periodMs === undefined && needsPeriod) {
    throw new InvalidOptionError(
      'unique.periodMs',
      options.periodMs,
      `a number of milliseconds of at least 1, which mode "${mode}" requires`,
    );
  }
  const periodMs =
    options.periodMs === undefined
      ? undefined
      : Math.ceil(checkMs('unique.periodMs', options.periodMs, 1, MAX_TIMER_MS));

  const spec: UniqueSpec = {
    key: uniqueStorageKey(run.job, key),
    releaseOn: 'start',
    onConflict: 'ignore',
  };
  if (mode === 'until-finished') spec.releaseOn = 'finish';
  if (mode === 'throttle') spec.releaseOn = 'never';
  if (periodMs !== undefined && mode !== 'debounce') spec.ttlMs = periodMs;
  if (mode === 'debounce') {
    if (timing.delayMs !== undefined || timing.runAt !== undefined) {
      throw new InvalidOptionError(
        timing.delayMs !== undefined ? 'delayMs' : 'runAt',
        timing.delayMs ?? new Date(timing.runAt!),
        'no delayMs or runAt with unique mode "debounce", whose periodMs sets the delay',
      );
    }
    spec.onConflict = 'replace';
    delete run.runAt;
    run.delayMs = periodMs;
  }
  run.unique = spec;
}
