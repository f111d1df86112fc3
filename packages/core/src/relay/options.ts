/**
 * Options of `waitFor` and `enqueueAndWait`, and their checks.
 */
import { InvalidOptionError } from '../errors.js';
import {
  assertKnownKeys,
  assertPlainObject,
  checkBoolean,
  checkMs,
  MAX_TIMER_MS,
} from '../internal/check.js';
import type { EnqueueOptions } from '../run.js';

/** Options of `zap.waitFor`. */
export interface WaitOptions {
  /**
   * Milliseconds to wait before rejecting with WaitTimeoutError, from 1 to 2^31-1. Default:
   * no limit, so the wait lasts until the run finishes, `signal` aborts or the client closes.
   */
  timeoutMs?: number;
  /** Cancel the run when the wait times out. Default false: the run goes on. */
  cancelOnTimeout?: boolean;
  /** Aborts the wait (not the run) with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Options of `zap.enqueueAndWait`: the enqueue options, where `timeoutMs` limits the wait,
 * plus `jobTimeoutMs` for the handler timeout that `enqueue` calls `timeoutMs`.
 */
export interface EnqueueAndWaitOptions
  extends Omit<EnqueueOptions, 'timeoutMs' | 'transaction'>,
    WaitOptions {
  /** Milliseconds after which each attempt's handler is aborted; `timeoutMs` of enqueue. */
  jobTimeoutMs?: number;
}

/** Wait options after checks. */
export interface ResolvedWaitOptions {
  timeoutMs: number | null;
  cancelOnTimeout: boolean;
  signal: AbortSignal | null;
}

const WAIT_KEYS = ['timeoutMs', 'cancelOnTimeout', 'signal'];

/** Checks the options of `waitFor`. */
export function checkWaitOptions(options: unknown): ResolvedWaitOptions {
  if (options === undefined) return { timeoutMs: null, cancelOnTimeout: false, signal: null };
  assertPlainObject('options', options);
  assertKnownKeys(options, WAIT_KEYS, '', ' of waitFor');
  return resolveWait(options as WaitOptions);
}

/** Splits the options of `enqueueAndWait` into checked wait options and enqueue options. */
export function splitEnqueueAndWaitOptions(options: unknown): {
  wait: ResolvedWaitOptions;
  enqueue: EnqueueOptions | undefined;
} {
  if (options === undefined) {
    return { wait: checkWaitOptions(undefined), enqueue: undefined };
  }
  assertPlainObject('options', options);
  const { timeoutMs, cancelOnTimeout, signal, jobTimeoutMs, ...rest } =
    options as EnqueueAndWaitOptions & { transaction?: unknown };
  if ('transaction' in rest) {
    throw new InvalidOptionError(
      'transaction',
      rest.transaction,
      'no transaction: a run enqueued in an open transaction cannot finish before it commits; ' +
        'enqueue with zap.enqueue() in the transaction and call zap.waitFor() after COMMIT',
    );
  }
  const enqueue: EnqueueOptions = rest;
  if (jobTimeoutMs !== undefined) enqueue.timeoutMs = jobTimeoutMs;
  return { wait: resolveWait({ timeoutMs, cancelOnTimeout, signal }), enqueue };
}

function resolveWait(options: WaitOptions): ResolvedWaitOptions {
  const resolved: ResolvedWaitOptions = { timeoutMs: null, cancelOnTimeout: false, signal: null };
  if (options.timeoutMs !== undefined) {
    resolved.timeoutMs = checkMs('timeoutMs', options.timeoutMs, 1, MAX_TIMER_MS);
  }
  if (options.cancelOnTimeout !== undefined) {
    resolved.cancelOnTimeout = checkBoolean('cancelOnTimeout', options.cancelOnTimeout);
    if (resolved.cancelOnTimeout && resolved.timeoutMs === null) {
      throw new InvalidOptionError(
        'cancelOnTimeout',
        true,
        'false unless timeoutMs is set, because a wait without timeoutMs never times out',
      );
    }
  }
  if (options.signal !== undefined) {
    if (!(options.signal instanceof AbortSignal)) {
      throw new InvalidOptionError('signal', options.signal, 'an AbortSignal');
    }
    resolved.signal = options.signal;
  }
  return resolved;
}
