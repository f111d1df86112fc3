import { describe, expect, it } from 'vitest';
import {
  CancelledError,
  InvalidOptionError,
  JobTimeoutError,
  NonRetryableError,
  RunFailedError,
  RunNotFoundError,
  StalledError,
  ZapJobsError,
} from '../src/errors.js';
import { serializeError } from '../src/internal/decode.js';
import { checkWaitOptions, splitEnqueueAndWaitOptions } from '../src/relay/options.js';
import { errorFromStored, outcomeOf } from '../src/relay/outcome.js';
import type { RunRecord } from '../src/storage/contract.js';

const RUN_ID = '01890a5d-ac96-774b-bcce-b302099a8057';

function record(overrides: Partial<RunRecord>): RunRecord {
  return {
    id: RUN_ID,
    job: 'send-mail',
    queue: 'default',
    state: 'available',
    input: '{}',
    output: null,
    error: null,
    priority: 0,
    attempt: 1,
    maxAttempts: 3,
    runAt: 0,
    createdAt: 0,
    startedAt: null,
    firstStartedAt: null,
    finishedAt: null,
    leaseExpiresAt: null,
    workerId: null,
    progress: null,
    groupId: null,
    partitionKey: null,
    tenantId: null,
    uniqueKey: null,
    traceContext: null,
    historyLevel: 'full',
    metadata: null,
    ...overrides,
  };
}

describe('errorFromStored', () => {
  it('rebuilds ZapJobs errors as their own class', () => {
    const original = new JobTimeoutError('send-mail', 250);
    const rebuilt = errorFromStored(serializeError(original), RUN_ID, 'send-mail');
    expect(rebuilt).toBeInstanceOf(JobTimeoutError);
    expect(rebuilt).toBeInstanceOf(ZapJobsError);
    expect(rebuilt).not.toBeInstanceOf(RunFailedError);
    expect(rebuilt.name).toBe('JobTimeoutError');
    expect((rebuilt as ZapJobsError).code).toBe('JOB_TIMEOUT');
    expect(rebuilt.message).toBe(original.message);
    expect(rebuilt.stack).toBe(original.stack);

    const stalled = errorFromStored(serializeError(new StalledError(RUN_ID, 2)), RUN_ID, 'x');
    expect(stalled).toBeInstanceOf(StalledError);
    const declined = errorFromStored(serializeError(new NonRetryableError('no')), RUN_ID, 'x');
    expect(declined).toBeInstanceOf(NonRetryableError);
    expect(declined).not.toBeInstanceOf(JobTimeoutError);
  });

  it('wraps other errors in RunFailedError', () => {
    const thrown = Object.assign(new TypeError('widget has no price'), { code: 'E_WIDGET' });
    const rebuilt = errorFromStored(serializeError(thrown), RUN_ID, 'price');
    expect(rebuilt).toBeInstanceOf(RunFailedError);
    const failed = rebuilt as RunFailedError;
    expect(failed.code).toBe('RUN_FAILED');
    expect(failed.name).toBe('RunFailedError');
    expect(failed.message).toBe('widget has no price');
    expect(failed.error).toMatchObject({
      name: 'TypeError',
      message: 'widget has no price',
      code: 'E_WIDGET',
    });
    expect(failed.runId).toBe(RUN_ID);
    expect(failed.job).toBe('price');
    expect(failed.stack).toBe(thrown.stack);
  });

  it('rejects a borrowed ZapJobs class name with another code', () => {
    const stored = { name: 'JobTimeoutError', message: 'mine', code: 'MY_TIMEOUT' };
    const rebuilt = errorFromStored(stored, RUN_ID, 'x');
    expect(rebuilt).toBeInstanceOf(RunFailedError);
    expect(rebuilt).not.toBeInstanceOf(JobTimeoutError);
    const withoutCode = errorFromStored({ name: 'ValidationError', message: 'm' }, RUN_ID, 'x');
    expect(withoutCode).toBeInstanceOf(RunFailedError);
  });
});

/** Returns the error of an outcome, failing the test when the outcome is not an error. */
function errorOf(outcome: ReturnType<typeof outcomeOf>): Error {
  expect(outcome?.ok).toBe(false);
  if (outcome === null || outcome.ok) throw new Error('expected an error outcome');
  return outcome.error;
}

describe('outcomeOf', () => {
  it('maps each state to an outcome', () => {
    expect(outcomeOf(RUN_ID, record({ state: 'completed', output: '{"ok":true}' }))).toEqual({
      ok: true,
      output: { ok: true },
    });
    const failed = outcomeOf(
      RUN_ID,
      record({ state: 'failed', error: { name: 'Error', message: 'boom' } }),
    );
    expect(errorOf(failed)).toBeInstanceOf(RunFailedError);
    expect(errorOf(outcomeOf(RUN_ID, record({ state: 'cancelled' })))).toBeInstanceOf(
      CancelledError,
    );
    expect(errorOf(outcomeOf(RUN_ID, null))).toBeInstanceOf(RunNotFoundError);
    for (const state of ['waiting', 'scheduled', 'available', 'running', 'suspended'] as const) {
      expect(outcomeOf(RUN_ID, record({ state }))).toBeNull();
    }
  });

  it('a failed run without a stored error still rejects', () => {
    const outcome = outcomeOf(RUN_ID, record({ state: 'failed', error: null }));
    expect(errorOf(outcome).message).toContain('without a stored error');
  });
});

describe('wait options', () => {
  it('defaults to no timeout', () => {
    expect(checkWaitOptions(undefined)).toEqual({
      timeoutMs: null,
      cancelOnTimeout: false,
      signal: null,
    });
  });

  it('rejects invalid values with the option name', () => {
    expect(() => checkWaitOptions({ timeoutMs: 0 })).toThrow(InvalidOptionError);
    expect(() => checkWaitOptions({ timeoutMs: 2 ** 31 })).toThrow('timeoutMs');
    expect(() => checkWaitOptions({ timeout: 5 })).toThrow('timeout');
    expect(() => checkWaitOptions({ cancelOnTimeout: true })).toThrow(
      'a wait without timeoutMs never times out',
    );
    expect(() => checkWaitOptions({ signal: {} })).toThrow('an AbortSignal');
  });

  it('splits enqueueAndWait options', () => {
    const signal = new AbortController().signal;
    const { wait, enqueue } = splitEnqueueAndWaitOptions({
      timeoutMs: 500,
      cancelOnTimeout: true,
      signal,
      jobTimeoutMs: 100,
      queue: 'mail',
      priority: 3,
    });
    expect(wait).toEqual({ timeoutMs: 500, cancelOnTimeout: true, signal });
    expect(enqueue).toEqual({ timeoutMs: 100, queue: 'mail', priority: 3 });
    expect(() => splitEnqueueAndWaitOptions({ transaction: {} })).toThrow('zap.waitFor()');
  });
});
