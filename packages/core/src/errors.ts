/**
 * The error table. Every condition has one class under {@link ZapJobsError} with a stable
 * `code`; backends never build messages of their own, so a caller sees the same message
 * whatever the store.
 *
 * `instanceof` works across duplicate installs of this package: each class checks a
 * process-wide brand (`Symbol.for`) and the `code`, not the constructor identity.
 */

import type { RunState, SerializedError } from './storage/contract.js';

const brand = Symbol.for('zapjobs.error');

export type ZapJobsErrorCode =
  | 'VALIDATION_FAILED'
  | 'OUTPUT_INVALID'
  | 'UNKNOWN_JOB'
  | 'DUPLICATE_JOB'
  | 'PAYLOAD_TOO_LARGE'
  | 'NOT_SERIALIZABLE'
  | 'INVALID_OPTION'
  | 'RUN_NOT_FOUND'
  | 'LEASE_LOST'
  | 'JOB_TIMEOUT'
  | 'RUN_STALLED'
  | 'RUN_CANCELLED'
  | 'WORKER_SHUTDOWN'
  | 'NON_RETRYABLE'
  | 'STORAGE_FAILED'
  | 'CLIENT_CLOSED'
  | 'SCHEDULE_NOT_FOUND'
  | 'RUN_FAILED'
  | 'WAIT_TIMEOUT'
  | 'NOT_SUPPORTED'
  | 'TENANT_SUSPENDED'
  | 'TENANT_DELETED'
  | 'TENANT_NOT_FOUND'
  | 'QUOTA_EXCEEDED';

/** Base class of every error ZapJobs throws or stores. */
export class ZapJobsError extends Error {
  readonly code: ZapJobsErrorCode;
  readonly [brand] = true;

  constructor(code: ZapJobsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null || !(brand in value)) return false;
    // `this` is the class on the right of `instanceof`, which is what selects the code.
    // biome-ignore lint/complexity/noThisInStatic: the subclass itself is needed here.
    const expected = codeOfClass.get(this);
    return expected === undefined || (value as ZapJobsError).code === expected;
  }
}

/** Maps each subclass to its code, so `instanceof` can match by code across installs. */
const codeOfClass = new Map<unknown, ZapJobsErrorCode>();

/** One failing path of a schema check. */
export interface ValidationIssue {
  /** JSON pointer into the checked value, such as `/items/2/sku`; empty for the root. */
  path: string;
  message: string;
}

function formatIssues(issues: readonly ValidationIssue[]): string {
  return issues.map((issue) => `  - ${issue.path || '(root)'}: ${issue.message}`).join('\n');
}

/** Input to enqueue did not match the job's input schema. Lists every failing path. */
export class ValidationError extends ZapJobsError {
  readonly job: string;
  readonly issues: readonly ValidationIssue[];

  constructor(job: string, issues: readonly ValidationIssue[]) {
    super(
      'VALIDATION_FAILED',
      `Invalid input for job "${job}": ${issues.length} schema violation(s)\n` +
        `${formatIssues(issues)}\nFix the input to match the job's input schema.`,
    );
    this.job = job;
    this.issues = issues;
  }
}

/** A handler returned output that does not match the job's output schema. */
export class OutputValidationError extends ZapJobsError {
  readonly job: string;
  readonly issues: readonly ValidationIssue[];

  constructor(job: string, issues: readonly ValidationIssue[]) {
    super(
      'OUTPUT_INVALID',
      `Invalid output from job "${job}": ${issues.length} schema violation(s)\n` +
        `${formatIssues(issues)}\nFix the handler to return a value matching the output schema.`,
    );
    this.job = job;
    this.issues = issues;
  }
}

/** A job name that no registered job definition has. */
export class UnknownJobError extends ZapJobsError {
  readonly job: string;

  constructor(job: string, known: readonly string[]) {
    const list = known.length > 0 ? known.map((name) => `"${name}"`).join(', ') : 'none';
    super(
      'UNKNOWN_JOB',
      `Unknown job "${job}". Registered jobs: ${list}. ` +
        'Pass the job to new ZapJobs({ jobs }) or register it with a plugin.',
    );
    this.job = job;
  }
}

/** Two job definitions with the same name. */
export class DuplicateJobError extends ZapJobsError {
  readonly job: string;

  /** With `operation`, the duplicate was passed to that call instead of being registered. */
  constructor(job: string, operation?: string) {
    super(
      'DUPLICATE_JOB',
      operation === undefined
        ? `Job "${job}" is registered twice. Give each job definition a unique name.`
        : `Job "${job}" passed to ${operation} is a different definition than the job ` +
            'registered under that name. Pass the registered definition or its name, or give ' +
            'each job definition a unique name.',
    );
    this.job = job;
  }
}

/** A serialized payload over the configured size limit. */
export class PayloadTooLargeError extends ZapJobsError {
  readonly sizeBytes: number;
  readonly limitBytes: number;

  constructor(what: string, sizeBytes: number, limitBytes: number) {
    super(
      'PAYLOAD_TOO_LARGE',
      `${what} is ${sizeBytes} bytes serialized, over the limit of ${limitBytes} bytes. ` +
        'Store large data elsewhere and pass a reference, or raise maxPayloadBytes.',
    );
    this.sizeBytes = sizeBytes;
    this.limitBytes = limitBytes;
  }
}

/** A value that JSON cannot round-trip, found at `path`. */
export class SerializationError extends ZapJobsError {
  readonly path: string;

  constructor(what: string, path: string, problem: string, fix: string) {
    super(
      'NOT_SERIALIZABLE',
      `${what} is not serializable at ${path || '(root)'}: ${problem}. ${fix}`,
    );
    this.path = path;
  }
}

/** An invalid option value passed to a public entry point. */
export class InvalidOptionError extends ZapJobsError {
  readonly option: string;
  readonly value: unknown;

  constructor(option: string, value: unknown, expected: string) {
    super(
      'INVALID_OPTION',
      `Invalid option ${option}: ${describeValue(value)}. Expected ${expected}.`,
    );
    this.option = option;
    this.value = value;
  }
}

/** A run id that the storage does not have. */
export class RunNotFoundError extends ZapJobsError {
  readonly runId: string;

  constructor(runId: string) {
    super(
      'RUN_NOT_FOUND',
      `Run "${runId}" not found. It may never have existed, or been purged or removed when it ` +
        'completed (removeOnComplete).',
    );
    this.runId = runId;
  }
}

/** The worker's lease on a run was lost (expired and reclaimed, or the run was cancelled). */
export class LeaseLostError extends ZapJobsError {
  readonly runId: string;

  constructor(runId: string) {
    super(
      'LEASE_LOST',
      `Lease on run "${runId}" was lost: it expired and another worker reclaimed it, or the ` +
        'run was cancelled. The outcome of this attempt was discarded. If handlers block the ' +
        'event loop, raise leaseMs.',
    );
    this.runId = runId;
  }
}

/** A handler ran longer than its timeout. */
export class JobTimeoutError extends ZapJobsError {
  readonly timeoutMs: number;

  constructor(job: string, timeoutMs: number) {
    super(
      'JOB_TIMEOUT',
      `Job "${job}" timed out after ${timeoutMs} ms. Raise its timeoutMs or make the handler ` +
        'honor ctx.signal.',
    );
    this.timeoutMs = timeoutMs;
  }
}

/** A run's lease expired without a heartbeat, usually because its worker died. */
export class StalledError extends ZapJobsError {
  constructor(runId: string, attempt: number) {
    super(
      'RUN_STALLED',
      `Run "${runId}" stalled on attempt ${attempt}: its lease expired without a heartbeat, ` +
        'usually because the worker process died.',
    );
  }
}

/** The run was cancelled while it ran. */
export class CancelledError extends ZapJobsError {
  constructor(runId: string) {
    super('RUN_CANCELLED', `Run "${runId}" was cancelled.`);
  }
}

/** The worker stopped before the handler finished; the run was released for retry. */
export class ShutdownError extends ZapJobsError {
  constructor(workerId: string) {
    super(
      'WORKER_SHUTDOWN',
      `Worker "${workerId}" is shutting down; the handler was aborted and its run released.`,
    );
  }
}

/** Thrown by a handler to fail its run at once, skipping any remaining attempts. */
export class NonRetryableError extends ZapJobsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NON_RETRYABLE', message, options);
  }
}

/**
 * A storage operation failed for an infrastructure reason; the message names the backend.
 * The operation may or may not have taken effect. Retrying is safe for reads and for
 * operations fenced by a lease or keyed by a unique key. Retrying an enqueue without an
 * idempotency key can store the run twice.
 */
export class StorageError extends ZapJobsError {
  constructor(backend: string, operation: string, cause: unknown) {
    super(
      'STORAGE_FAILED',
      `Storage "${backend}" failed during ${operation}: ${errorMessage(cause)}. ` +
        'Check that the database is reachable. The operation may or may not have taken ' +
        'effect: retrying is safe for reads and lease-fenced operations, but retrying an ' +
        'enqueue without an idempotency key can store the run twice.',
      { cause },
    );
  }
}

/** The client or worker was used after close. */
export class ClientClosedError extends ZapJobsError {
  constructor(operation: string) {
    super('CLIENT_CLOSED', `Cannot ${operation}: this ZapJobs client is closed. Create a new one.`);
  }
}

/** A schedule name that the storage does not have in the namespace of the caller's tenant. */
export class ScheduleNotFoundError extends ZapJobsError {
  readonly schedule: string;
  /** The tenant whose schedules were searched, or null for schedules without a tenant. */
  readonly tenantId: string | null;

  constructor(schedule: string, tenantId: string | null = null) {
    super(
      'SCHEDULE_NOT_FOUND',
      tenantId === null
        ? `Schedule "${schedule}" not found among the schedules without a tenant. Create it ` +
            'with zap.schedules.upsert() first; reach a schedule of a tenant through ' +
            'zap.forTenant(tenantId).schedules.'
        : `Schedule "${schedule}" of tenant "${tenantId}" not found. Create it with ` +
            `zap.forTenant("${tenantId}").schedules.upsert() first.`,
    );
    this.schedule = schedule;
    this.tenantId = tenantId;
  }
}

/**
 * A run that a caller waited for moved to dead letter with an error that is not a ZapJobs
 * error. `error` is the stored error of its last attempt; `message` is that error's message.
 */
export class RunFailedError extends ZapJobsError {
  readonly runId: string;
  readonly job: string;
  /** The stored error: the original `name`, `message`, `code` and `stack`. */
  readonly error: SerializedError;

  constructor(runId: string, job: string, error: SerializedError) {
    super('RUN_FAILED', error.message);
    this.runId = runId;
    this.job = job;
    this.error = error;
  }
}

/** A wait for a run's outcome reached its `timeoutMs` before the run finished. */
export class WaitTimeoutError extends ZapJobsError {
  readonly runId: string;
  readonly timeoutMs: number;
  /** Last state the waiter saw, or null if it never read the run. */
  readonly state: RunState | null;
  /** True when `cancelOnTimeout` cancelled the run. */
  readonly cancelled: boolean;

  constructor(runId: string, timeoutMs: number, state: RunState | null, cancelled: boolean) {
    const seen = state === null ? '' : ` (last seen ${state})`;
    super(
      'WAIT_TIMEOUT',
      `Timed out after ${timeoutMs} ms waiting for run "${runId}" to finish${seen}. ` +
        (cancelled
          ? 'The run was cancelled because cancelOnTimeout is set.'
          : 'The run goes on; raise timeoutMs, wait again with zap.waitFor(runId), or pass ' +
            'cancelOnTimeout: true to cancel it on timeout.'),
    );
    this.runId = runId;
    this.timeoutMs = timeoutMs;
    this.state = state;
    this.cancelled = cancelled;
  }
}

/** The storage backend lacks a primitive that an operation needs. */
export class NotSupportedError extends ZapJobsError {
  readonly backend: string;
  readonly operation: string;

  constructor(backend: string, operation: string, needs: string) {
    super(
      'NOT_SUPPORTED',
      `Storage "${backend}" cannot ${operation}: it does not implement ${needs}.`,
    );
    this.backend = backend;
    this.operation = operation;
  }
}

codeOfClass.set(ValidationError, 'VALIDATION_FAILED');
codeOfClass.set(OutputValidationError, 'OUTPUT_INVALID');
codeOfClass.set(UnknownJobError, 'UNKNOWN_JOB');
codeOfClass.set(DuplicateJobError, 'DUPLICATE_JOB');
codeOfClass.set(PayloadTooLargeError, 'PAYLOAD_TOO_LARGE');
codeOfClass.set(SerializationError, 'NOT_SERIALIZABLE');
codeOfClass.set(InvalidOptionError, 'INVALID_OPTION');
codeOfClass.set(RunNotFoundError, 'RUN_NOT_FOUND');
codeOfClass.set(LeaseLostError, 'LEASE_LOST');
codeOfClass.set(JobTimeoutError, 'JOB_TIMEOUT');
codeOfClass.set(StalledError, 'RUN_STALLED');
codeOfClass.set(CancelledError, 'RUN_CANCELLED');
codeOfClass.set(ShutdownError, 'WORKER_SHUTDOWN');
codeOfClass.set(NonRetryableError, 'NON_RETRYABLE');
codeOfClass.set(StorageError, 'STORAGE_FAILED');
codeOfClass.set(ClientClosedError, 'CLIENT_CLOSED');
codeOfClass.set(ScheduleNotFoundError, 'SCHEDULE_NOT_FOUND');
codeOfClass.set(RunFailedError, 'RUN_FAILED');
codeOfClass.set(WaitTimeoutError, 'WAIT_TIMEOUT');
codeOfClass.set(NotSupportedError, 'NOT_SUPPORTED');

/** Renders a value for an error message: strings quoted, others through JSON or String, cut to 80 characters. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return truncateForMessage(JSON.stringify(value));
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === undefined) {
    return Object.is(value, -0) ? '-0' : String(value);
  }
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return String(value);
  if (value instanceof Date) {
    return Number.isNaN(value.getTime()) ? 'Invalid Date' : `Date(${value.toISOString()})`;
  }
  try {
    return truncateForMessage(JSON.stringify(value));
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function truncateForMessage(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
