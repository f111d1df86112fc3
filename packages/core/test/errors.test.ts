import { describe, expect, it } from 'vitest';
import {
  CancelledError,
  ClientClosedError,
  DuplicateJobError,
  describeValue,
  InvalidOptionError,
  JobTimeoutError,
  LeaseLostError,
  NonRetryableError,
  OutputValidationError,
  PayloadTooLargeError,
  RunNotFoundError,
  SerializationError,
  ShutdownError,
  StalledError,
  StorageError,
  UnknownJobError,
  ValidationError,
  ZapJobsError,
} from '../src/errors.js';

describe('error classes', () => {
  const table: [ZapJobsError, string, string][] = [
    [new ValidationError('j', []), 'VALIDATION_FAILED', 'ValidationError'],
    [new OutputValidationError('j', []), 'OUTPUT_INVALID', 'OutputValidationError'],
    [new UnknownJobError('j', []), 'UNKNOWN_JOB', 'UnknownJobError'],
    [new DuplicateJobError('j'), 'DUPLICATE_JOB', 'DuplicateJobError'],
    [new PayloadTooLargeError('x', 2, 1), 'PAYLOAD_TOO_LARGE', 'PayloadTooLargeError'],
    [new SerializationError('x', 'p', 'bad', 'fix'), 'NOT_SERIALIZABLE', 'SerializationError'],
    [new InvalidOptionError('o', 1, 'two'), 'INVALID_OPTION', 'InvalidOptionError'],
    [new RunNotFoundError('r'), 'RUN_NOT_FOUND', 'RunNotFoundError'],
    [new LeaseLostError('r'), 'LEASE_LOST', 'LeaseLostError'],
    [new JobTimeoutError('j', 5), 'JOB_TIMEOUT', 'JobTimeoutError'],
    [new StalledError('r', 1), 'RUN_STALLED', 'StalledError'],
    [new CancelledError('r'), 'RUN_CANCELLED', 'CancelledError'],
    [new ShutdownError('w'), 'WORKER_SHUTDOWN', 'ShutdownError'],
    [new NonRetryableError('m'), 'NON_RETRYABLE', 'NonRetryableError'],
    [new StorageError('sqlite', 'claim', new Error('disk full')), 'STORAGE_FAILED', 'StorageError'],
    [new ClientClosedError('enqueue'), 'CLIENT_CLOSED', 'ClientClosedError'],
  ];

  for (const [error, code, name] of table) {
    it(`${name} has code ${code}`, () => {
      expect(error.code).toBe(code);
      expect(error.name).toBe(name);
      expect(error).toBeInstanceOf(ZapJobsError);
      expect(error).toBeInstanceOf(Error);
    });
  }

  it('instanceof tells subclasses apart', () => {
    expect(new LeaseLostError('r')).not.toBeInstanceOf(JobTimeoutError);
    expect(new Error('plain')).not.toBeInstanceOf(ZapJobsError);
    expect((null as unknown as object) instanceof ZapJobsError).toBe(false);
    expect(ZapJobsError[Symbol.hasInstance]('LEASE_LOST')).toBe(false);
  });

  it('instanceof works across a duplicate install', () => {
    // Another copy of the package defines its own classes with the same process-wide brand.
    const brand = Symbol.for('zapjobs.error');
    class OtherCopyError extends Error {
      readonly [brand] = true;
      constructor(readonly code: string) {
        super('from another copy');
      }
    }
    const foreign = new OtherCopyError('LEASE_LOST');
    expect(foreign).toBeInstanceOf(ZapJobsError);
    expect(foreign).toBeInstanceOf(LeaseLostError);
    expect(foreign).not.toBeInstanceOf(NonRetryableError);
    expect(new OtherCopyError('NON_RETRYABLE')).toBeInstanceOf(NonRetryableError);
  });

  it('storage errors name backend, operation and cause', () => {
    const cause = new Error('SQLITE_FULL');
    const error = new StorageError('sqlite', 'claim', cause);
    expect(error.message).toBe(
      'Storage "sqlite" failed during claim: SQLITE_FULL. Check that the database is reachable. ' +
        'The operation may or may not have taken effect: retrying is safe for reads and ' +
        'lease-fenced operations, but retrying an enqueue without an idempotency key can store ' +
        'the run twice.',
    );
    expect(error.cause).toBe(cause);
  });
});

describe('describeValue', () => {
  it('renders values for messages', () => {
    expect(describeValue('x')).toBe('"x"');
    expect(describeValue(-0)).toBe('-0');
    expect(describeValue(Number.NaN)).toBe('NaN');
    expect(describeValue(5n)).toBe('5n');
    expect(describeValue(undefined)).toBe('undefined');
    expect(describeValue(() => 1)).toBe('a function');
    expect(describeValue(Symbol('s'))).toBe('Symbol(s)');
    expect(describeValue(new Date(0))).toBe('Date(1970-01-01T00:00:00.000Z)');
    expect(describeValue(new Date(Number.NaN))).toBe('Invalid Date');
    expect(describeValue({ a: [1] })).toBe('{"a":[1]}');
    expect(describeValue('y'.repeat(200))).toHaveLength(80);
  });
});
