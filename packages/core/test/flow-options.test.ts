import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../src/errors.js';
import { callbacksFor } from '../src/flow/batch-job.js';
import { buildLimitSpec, fromSpec, toScope } from '../src/flow/limits.js';
import { applyUniqueOption, type TimingOptions } from '../src/flow/unique.js';
import type { NewRun } from '../src/storage/contract.js';

const NO_TIMING: TimingOptions = {
  delayMs: undefined,
  runAt: undefined,
  idempotencyKey: undefined,
};

function run(): NewRun {
  return {
    id: 'run-1',
    job: 'mail.send',
    queue: 'default',
    input: '{}',
    priority: 0,
    maxAttempts: 3,
    historyLevel: 'full',
  };
}

function withUnique(unique: unknown, timing: TimingOptions = NO_TIMING): NewRun {
  const target = run();
  applyUniqueOption(target, unique, timing);
  return target;
}

function rejection(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionError);
    return (error as Error).message;
  }
  throw new Error('expected an InvalidOptionError');
}

describe('unique option', () => {
  it('until-started releases at start', () => {
    expect(withUnique({ key: 'k', mode: 'until-started' }).unique).toEqual({
      key: 'unique:mail.send:k',
      releaseOn: 'start',
      onConflict: 'ignore',
    });
  });

  it('until-finished releases at finish, periodMs bounds it', () => {
    expect(withUnique({ key: 'k', mode: 'until-finished', periodMs: 5_000 }).unique).toEqual({
      key: 'unique:mail.send:k',
      releaseOn: 'finish',
      onConflict: 'ignore',
      ttlMs: 5_000,
    });
  });

  it('throttle holds the key for periodMs', () => {
    expect(withUnique({ key: 'k', mode: 'throttle', periodMs: 1_000.2 }).unique).toEqual({
      key: 'unique:mail.send:k',
      releaseOn: 'never',
      onConflict: 'ignore',
      ttlMs: 1_001,
    });
  });

  it('debounce replaces and delays by periodMs', () => {
    const target = withUnique({ key: 'k', mode: 'debounce', periodMs: 300 });
    expect(target.unique).toEqual({
      key: 'unique:mail.send:k',
      releaseOn: 'start',
      onConflict: 'replace',
    });
    expect(target.delayMs).toBe(300);
  });

  it('throttle and debounce require periodMs', () => {
    expect(rejection(() => withUnique({ key: 'k', mode: 'throttle' }))).toBe(
      'Invalid option unique.periodMs: undefined. Expected a number of milliseconds of at ' +
        'least 1, which mode "throttle" requires.',
    );
    expect(rejection(() => withUnique({ key: 'k', mode: 'debounce' }))).toContain(
      'mode "debounce" requires',
    );
  });

  it('debounce rejects delayMs and runAt', () => {
    const delayed = { ...NO_TIMING, delayMs: 10 };
    expect(
      rejection(() => withUnique({ key: 'k', mode: 'debounce', periodMs: 5 }, delayed)),
    ).toContain('Invalid option delayMs: 10. Expected no delayMs or runAt with unique mode');
    const timed = { ...NO_TIMING, runAt: 0 };
    expect(
      rejection(() => withUnique({ key: 'k', mode: 'debounce', periodMs: 5 }, timed)),
    ).toContain('Invalid option runAt: Date(1970-01-01T00:00:00.000Z).');
  });

  it('rejects idempotencyKey together with unique', () => {
    const timing = { ...NO_TIMING, idempotencyKey: 'i' };
    expect(rejection(() => withUnique({ key: 'k', mode: 'until-started' }, timing))).toContain(
      'no unique option when idempotencyKey is set',
    );
  });

  it('rejects unknown modes and keys', () => {
    expect(rejection(() => withUnique({ key: 'k', mode: 'forever' }))).toContain(
      'Invalid option unique.mode: "forever". Expected one of "until-started"',
    );
    expect(rejection(() => withUnique({ key: '', mode: 'throttle', periodMs: 1 }))).toContain(
      'Invalid option unique.key: "".',
    );
    expect(rejection(() => withUnique({ key: 'k', mode: 'throttle', ttl: 1 }))).toContain(
      'Invalid option unique.ttl: 1.',
    );
  });
});

describe('limit options', () => {
  it('maps each target to a scope', () => {
    expect(toScope({ queue: 'mail' })).toEqual({ scope: 'queue', key: 'mail' });
    expect(toScope({ job: 'resize' })).toEqual({ scope: 'job', key: 'resize' });
    expect(toScope({ partitionOf: 'mail' })).toEqual({ scope: 'partition', key: 'mail' });
  });

  it('requires exactly one target', () => {
    expect(rejection(() => toScope({ queue: 'a', job: 'b' }))).toContain(
      'Expected exactly one of queue, job and partitionOf',
    );
    expect(rejection(() => toScope({}))).toContain('Expected exactly one of queue');
  });

  it('builds a spec and reads it back', () => {
    const spec = buildLimitSpec({
      partitionOf: 'mail',
      concurrency: 1,
      rate: { limit: 10, periodMs: 60_000 },
      burstMultiplier: 2,
    });
    expect(spec).toEqual({
      scope: 'partition',
      key: 'mail',
      concurrency: 1,
      rate: { limit: 10, periodMs: 60_000 },
      burstMultiplier: 2,
    });
    expect(fromSpec(spec)).toEqual({
      partitionOf: 'mail',
      concurrency: 1,
      rate: { limit: 10, periodMs: 60_000 },
      burstMultiplier: 2,
    });
  });

  it('burstMultiplier 1 means no bursting', () => {
    const spec = buildLimitSpec({ queue: 'q', concurrency: 2, burstMultiplier: 1 });
    expect(spec).toEqual({ scope: 'queue', key: 'q', concurrency: 2 });
    expect(fromSpec(spec).burstMultiplier).toBe(1);
  });

  it('rejects a limit without concurrency or rate', () => {
    expect(rejection(() => buildLimitSpec({ queue: 'q' }))).toContain(
      'Expected a concurrency or a rate, or call limits.delete()',
    );
  });

  it('rejects bad numbers', () => {
    expect(rejection(() => buildLimitSpec({ queue: 'q', concurrency: -1 }))).toContain(
      'Invalid option concurrency: -1.',
    );
    expect(
      rejection(() => buildLimitSpec({ queue: 'q', rate: { limit: 1, periodMs: 0 } })),
    ).toContain('Invalid option rate.periodMs: 0.');
    expect(
      rejection(() => buildLimitSpec({ queue: 'q', concurrency: 1, burstMultiplier: 0.5 })),
    ).toContain('Invalid option burstMultiplier: 0.5. Expected a number from 1 to 100.');
  });
});

describe('batch callbacks', () => {
  it('success and finish when nothing failed', () => {
    expect(callbacksFor(0)).toEqual(['onSuccess', 'onFinish']);
  });

  it('failure and finish otherwise', () => {
    expect(callbacksFor(2)).toEqual(['onFailure', 'onFinish']);
  });
});
