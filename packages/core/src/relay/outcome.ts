/**
 * Turns a finished run into what a waiter receives: the decoded output, or the error of its
 * last attempt rebuilt as an error object.
 */
import * as errors from '../errors.js';
import {
  CancelledError,
  RunFailedError,
  RunNotFoundError,
  type ZapJobsError,
  type ZapJobsErrorCode,
} from '../errors.js';
import { decodeRun } from '../internal/decode.js';
import type { RunRecord, SerializedError } from '../storage/contract.js';

/** Outcome of a finished run, for a waiter. */
export type RunOutcome = { ok: true; output: unknown } | { ok: false; error: Error };

type ErrorClass = abstract new (...args: never[]) => ZapJobsError;

/** Error classes of this package by class name, built on first use. */
let classesByName: Map<string, ErrorClass> | null = null;

function errorClasses(): Map<string, ErrorClass> {
  if (classesByName === null) {
    classesByName = new Map();
    for (const value of Object.values(errors)) {
      if (
        typeof value === 'function' &&
        Object.prototype.isPrototypeOf.call(errors.ZapJobsError, value)
      ) {
        classesByName.set(value.name, value as unknown as ErrorClass);
      }
    }
  }
  return classesByName;
}

/**
 * Rebuilds a stored error. A ZapJobs error (its class name and code both match one of this
 * package's classes) comes back as an instance of that class with the stored message, so
 * `instanceof JobTimeoutError` works; the class's own fields such as `timeoutMs` are not
 * stored and stay unset. Any other error comes back as a {@link RunFailedError} that carries
 * the stored name, message, code and stack. The stored stack replaces the local one.
 */
export function errorFromStored(error: SerializedError, runId: string, job: string): Error {
  const known = error.code === undefined ? undefined : errorClasses().get(error.name);
  if (known !== undefined) {
    // Runs only the base constructor, with the subclass as new.target: the instance gets the
    // subclass's prototype, name and brand without needing that subclass's own arguments.
    const rebuilt = Reflect.construct(
      errors.ZapJobsError,
      [error.code as ZapJobsErrorCode, error.message],
      known,
    ) as ZapJobsError;
    // `instanceof` compares the code with the class's own code, so this also rejects a user
    // error that only borrowed a ZapJobs class name.
    if (rebuilt instanceof known) {
      if (error.stack !== undefined) rebuilt.stack = error.stack;
      return rebuilt;
    }
  }
  const failed = new RunFailedError(runId, job, error);
  if (error.stack !== undefined) failed.stack = error.stack;
  return failed;
}

/**
 * Outcome of a run record, or null while the run is not finished. A missing record (the run
 * never existed or was purged) becomes RunNotFoundError.
 */
export function outcomeOf(runId: string, record: RunRecord | null): RunOutcome | null {
  if (record === null) return { ok: false, error: new RunNotFoundError(runId) };
  switch (record.state) {
    case 'completed':
      return { ok: true, output: decodeRun(record).output };
    case 'failed':
      return { ok: false, error: failureOf(record) };
    case 'cancelled':
      return { ok: false, error: new CancelledError(record.id) };
    default:
      return null;
  }
}

function failureOf(record: RunRecord): Error {
  const stored: SerializedError = record.error ?? {
    name: 'Error',
    message: `Run "${record.id}" of job "${record.job}" failed without a stored error.`,
  };
  return errorFromStored(stored, record.id, record.job);
}
