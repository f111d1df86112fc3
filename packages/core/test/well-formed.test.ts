import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../src/errors.js';
import { checkName, checkRunId, WELL_FORMED_TEXT } from '../src/internal/check.js';
import { serializeError, UNREADABLE_ERROR_MESSAGE } from '../src/internal/decode.js';
import { resolveEnqueueOptions } from '../src/internal/run-options.js';
import { defineJob } from '../src/job.js';
import { checkScheduleName } from '../src/schedules/options.js';

const job = defineJob({
  name: 'j',
  input: Type.Object({}),
  output: Type.Null(),
  handler: async () => null,
});
const bad = ['a\u0000b', 'x\ud800', 'x\udc00', '\udc00\ud800'];

function rejection(run: () => unknown): InvalidOptionError {
  try {
    run();
  } catch (error) {
    if (error instanceof InvalidOptionError) return error;
    throw error;
  }
  throw new Error('value was accepted');
}

describe('names and keys with NUL or unpaired surrogates', () => {
  for (const value of bad) {
    it(`are rejected: ${JSON.stringify(value)}`, () => {
      for (const check of [checkName, checkRunId, checkScheduleName]) {
        const error = rejection(() => check('queue', value));
        expect(error.option).toBe('queue');
        expect(error.value).toBe(value);
        expect(error.message).toContain(WELL_FORMED_TEXT);
      }
    });
  }

  it('are rejected at enqueue, naming the option', () => {
    for (const option of ['queue', 'partitionKey', 'groupId', 'idempotencyKey']) {
      const error = rejection(() => resolveEnqueueOptions(job, { [option]: 'x\ud800' }));
      expect(error.option).toBe(option);
      expect(error.message).toContain(JSON.stringify('x\ud800'));
    }
  });

  it('accept paired surrogates', () => {
    expect(checkName('queue', 'mail \ud83d\udce8')).toBe('mail \ud83d\udce8');
    expect(checkRunId('runId', 'r-\ud83d\udce8')).toBe('r-\ud83d\udce8');
  });
});

describe('serializeError', () => {
  it('survives a throwing code getter', () => {
    const error = new Error('boom');
    Object.defineProperty(error, 'code', {
      get() {
        throw new Error('no code');
      },
    });
    const stored = serializeError(error);
    expect(stored).toMatchObject({ name: 'Error', message: 'boom' });
    expect(stored.code).toBeUndefined();
  });

  it('survives throwing name, message and stack getters', () => {
    const error = new Error('hidden');
    for (const key of ['stack', 'message', 'name']) {
      Object.defineProperty(error, key, {
        get() {
          throw new Error(`no ${key}`);
        },
      });
    }
    expect(serializeError(error)).toEqual({ name: 'Error', message: UNREADABLE_ERROR_MESSAGE });
  });

  it('stores a non-string message as a string', () => {
    const error = new Error('x');
    (error as { message: unknown }).message = 42;
    (error as { name: unknown }).name = 7;
    expect(serializeError(error)).toMatchObject({ name: 'Error', message: '42' });
  });

  it('survives a thrown object whose toJSON and toString throw', () => {
    const thrown = {
      toJSON() {
        throw new Error('no JSON');
      },
      toString() {
        throw new Error('no string');
      },
    };
    expect(serializeError(thrown)).toEqual({ name: 'Error', message: UNREADABLE_ERROR_MESSAGE });
  });

  it('survives a proxy whose traps throw', () => {
    const trap = () => {
      throw new Error('trap');
    };
    const thrown = new Proxy({}, { get: trap, getPrototypeOf: trap, ownKeys: trap });
    const stored = serializeError(thrown);
    expect(typeof stored.name).toBe('string');
    expect(typeof stored.message).toBe('string');
  });
});
