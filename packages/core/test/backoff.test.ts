import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../src/errors.js';
import { checkBackoff, computeBackoffDelay, DEFAULT_BACKOFF } from '../src/internal/backoff.js';

const noJitter = () => 0;
const fullJitter = () => 0.999999;

describe('computeBackoffDelay', () => {
  it('exponential doubles from delayMs', () => {
    const backoff = { type: 'exponential', delayMs: 100, jitter: 0 } as const;
    expect([1, 2, 3, 4].map((attempt) => computeBackoffDelay(backoff, attempt, null))).toEqual([
      100, 200, 400, 800,
    ]);
  });

  it('exponential stops at maxDelayMs', () => {
    const backoff = { type: 'exponential', delayMs: 100, maxDelayMs: 300, jitter: 0 } as const;
    expect(computeBackoffDelay(backoff, 10, null)).toBe(300);
  });

  it('exponential of a huge attempt stays finite', () => {
    const backoff = { type: 'exponential', delayMs: 1_000, jitter: 0 } as const;
    expect(Number.isFinite(computeBackoffDelay(backoff, 5_000, null))).toBe(true);
  });

  it('exponential jitter defaults to 0.2 and only shortens', () => {
    const backoff = { type: 'exponential', delayMs: 1_000 } as const;
    expect(computeBackoffDelay(backoff, 1, null, noJitter)).toBe(1_000);
    expect(computeBackoffDelay(backoff, 1, null, fullJitter)).toBe(800);
  });

  it('fixed has no jitter unless asked', () => {
    expect(computeBackoffDelay({ type: 'fixed', delayMs: 50 }, 7, null, fullJitter)).toBe(50);
    expect(
      computeBackoffDelay({ type: 'fixed', delayMs: 100, jitter: 0.5 }, 1, null, fullJitter),
    ).toBe(50);
  });

  it('custom receives attempt and error', () => {
    const seen: unknown[] = [];
    const backoff = {
      type: 'custom',
      compute: (attempt: number, error: unknown) => {
        seen.push([attempt, error]);
        return attempt * 7.4;
      },
    } as const;
    expect(computeBackoffDelay(backoff, 3, 'e')).toBe(22);
    expect(seen).toEqual([[3, 'e']]);
  });

  it('custom returning a bad delay throws', () => {
    const backoff = { type: 'custom', compute: () => -1 } as const;
    expect(() => computeBackoffDelay(backoff, 1, null)).toThrow(
      'Invalid option backoff.compute() result: -1. Expected a finite number of milliseconds of at least 0.',
    );
  });

  it('default is exponential from one second', () => {
    expect(computeBackoffDelay(DEFAULT_BACKOFF, 2, null, noJitter)).toBe(2_000);
    expect(computeBackoffDelay(DEFAULT_BACKOFF, 30, null, noJitter)).toBe(3_600_000);
  });
});

describe('checkBackoff', () => {
  it('rejects custom where it must be stored', () => {
    expect(() => checkBackoff('backoff', { type: 'custom', compute: () => 1 }, false)).toThrow(
      /a function cannot be stored with the run/,
    );
  });

  it('rejects a maxDelayMs below delayMs', () => {
    expect(() =>
      checkBackoff('backoff', { type: 'exponential', delayMs: 100, maxDelayMs: 50 }, true),
    ).toThrow(
      'Invalid option backoff.maxDelayMs: 50. Expected a finite number of milliseconds at least 100.',
    );
  });

  it('rejects jitter outside 0 to 1', () => {
    expect(() => checkBackoff('backoff', { type: 'fixed', delayMs: 1, jitter: 2 }, true)).toThrow(
      'Invalid option backoff.jitter: 2. Expected a number from 0 to 1.',
    );
  });

  it('rejects unknown keys', () => {
    expect(() => checkBackoff('backoff', { type: 'fixed', delay: 1 }, true)).toThrow(
      InvalidOptionError,
    );
  });

  it('rejects a non-object', () => {
    expect(() => checkBackoff('backoff', 'fast', true)).toThrow(
      'Invalid option backoff: "fast". Expected an object.',
    );
  });
});
