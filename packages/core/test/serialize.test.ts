import { describe, expect, it } from 'vitest';
import { PayloadTooLargeError, SerializationError } from '../src/errors.js';
import { MAX_DEPTH, parsePayload, serializePayload } from '../src/internal/serialize.js';

const target = { what: 'Input of job "j"', root: 'input', maxBytes: 1_048_576 };

function rejection(value: unknown): SerializationError {
  try {
    serializePayload(value, target);
  } catch (error) {
    if (error instanceof SerializationError) return error;
    throw error;
  }
  throw new Error('value was accepted');
}

class Money {
  amount = 1;
}

describe('serializePayload rejects', () => {
  const cycle: Record<string, unknown> = {};
  cycle.inner = { back: cycle };
  const cases: [string, unknown, string, string][] = [
    ['BigInt', { id: 12n }, 'input.id', 'BigInt 12n has no JSON form'],
    ['Date', { at: new Date(0) }, 'input.at', 'a Date becomes a string in JSON'],
    ['Map', { m: new Map() }, 'input.m', 'a Map becomes {} in JSON'],
    ['Set', { s: new Set() }, 'input.s', 'a Set becomes {} in JSON'],
    ['undefined in an array', { tags: ['a', undefined] }, 'input.tags[1]', 'undefined in an array'],
    // biome-ignore lint/suspicious/noSparseArray: the hole is the case under test.
    ['array hole', [1, , 2], 'input[1]', 'an array hole (sparse array)'],
    ['NaN', { n: Number.NaN }, 'input.n', 'NaN becomes null in JSON'],
    ['Infinity', { n: Number.POSITIVE_INFINITY }, 'input.n', 'Infinity becomes null in JSON'],
    ['-Infinity', [Number.NEGATIVE_INFINITY], 'input[0]', '-Infinity becomes null in JSON'],
    ['-0', { n: -0 }, 'input.n', '-0 becomes 0 in JSON'],
    ['NUL in a string', { s: 'a\u0000' }, 'input.s', 'the string contains U+0000 (NUL) at index 1'],
    ['NUL in a key', { 'a\u0000': 1 }, 'input["a\\u0000"]', 'the key contains U+0000'],
    [
      'lone high surrogate',
      { s: 'x\ud83d' },
      'input.s',
      'the string contains a lone UTF-16 surrogate at index 1',
    ],
    [
      'lone low surrogate',
      { s: '\ude00y' },
      'input.s',
      'the string contains a lone UTF-16 surrogate at index 0',
    ],
    ['lone surrogate in a key', { '\ud800': 1 }, 'input["\\ud800"]', 'the key contains a lone'],
    ['function', { f: () => 1 }, 'input.f', 'a function (f) has no JSON form'],
    ['symbol', { s: Symbol('x') }, 'input.s', 'Symbol(x) has no JSON form'],
    [
      'symbol key',
      { [Symbol('k')]: 1 },
      'input',
      'the property keyed by Symbol(k) has a symbol key',
    ],
    ['class instance', { price: new Money() }, 'input.price', 'an instance of class Money'],
    ['Uint8Array', { bytes: new Uint8Array(2) }, 'input.bytes', 'binary data (Uint8Array)'],
    ['Error', { e: new TypeError('x') }, 'input.e', 'an TypeError becomes {} in JSON'],
    ['boxed string', { s: new String('x') }, 'input.s', 'a boxed primitive (String object)'],
    ['cycle', cycle, 'input.inner.back', 'a cycle: this object contains itself'],
    ['root undefined', undefined, 'input', 'undefined has no JSON form'],
    ['quoted key path', { 'a-b': [1, 2n] }, 'input["a-b"][1]', 'BigInt 2n'],
    [
      'array with extra property',
      Object.assign([1], { extra: true }),
      'input',
      'the array has a non-index property "extra"',
    ],
  ];

  for (const [label, value, path, problem] of cases) {
    it(`${label} with its path`, () => {
      const error = rejection(value);
      expect(error.code).toBe('NOT_SERIALIZABLE');
      expect(error.path).toBe(path);
      expect(error.message).toContain(
        `Input of job "j" is not serializable at ${path}: ${problem}`,
      );
    });
  }

  it('BigInt with the complete message', () => {
    expect(rejection({ tags: ['a', 'b', 1n] }).message).toBe(
      'Input of job "j" is not serializable at input.tags[2]: BigInt 1n has no JSON form. ' +
        'Pass it as a string (value.toString()), or as a number if it is at most 2^53-1.',
    );
  });

  it('nesting deeper than the limit', () => {
    let deep: unknown = 1;
    for (let i = 0; i < MAX_DEPTH + 1; i++) deep = [deep];
    expect(rejection(deep).message).toContain(`nesting is deeper than ${MAX_DEPTH} levels`);
  });
});

describe('serializePayload accepts', () => {
  it('plain data and drops undefined properties', () => {
    const json = serializePayload({ a: 1, b: undefined, c: [null, true, 'x'] }, target);
    expect(json).toBe('{"a":1,"c":[null,true,"x"]}');
  });

  it('objects without a prototype', () => {
    const bare = Object.create(null) as Record<string, unknown>;
    bare.k = 'v';
    expect(serializePayload(bare, target)).toBe('{"k":"v"}');
  });

  it('shared references that are not cycles', () => {
    const shared = { x: 1 };
    expect(serializePayload({ a: shared, b: shared }, target)).toBe('{"a":{"x":1},"b":{"x":1}}');
  });

  it('tricky strings and numbers unchanged after parse', () => {
    const value = {
      emoji: '👩‍👩‍👧🎉',
      astral: '\u{1D518}\u{10FFFF}',
      max: 2 ** 53 - 1,
      min: Number.MIN_VALUE,
      zero: 0,
      empty: ['', [], {}],
      controls: '\u0001\u001f\u2028',
    };
    expect(parsePayload(serializePayload(value, target))).toEqual(value);
  });
});

describe('serializePayload size limit', () => {
  it('counts UTF-8 bytes, not characters', () => {
    const small = { ...target, maxBytes: 10 };
    expect(serializePayload('ééé', small)).toBe('"ééé"');
    expect(() => serializePayload('ééééé', small)).toThrow(PayloadTooLargeError);
  });

  it('names size and limit in the message', () => {
    expect(() => serializePayload('x'.repeat(100), { ...target, maxBytes: 50 })).toThrow(
      'Input of job "j" is 102 bytes serialized, over the limit of 50 bytes. Store large data ' +
        'elsewhere and pass a reference, or raise maxPayloadBytes.',
    );
  });

  it('accepts a payload of exactly the limit', () => {
    expect(serializePayload('x'.repeat(48), { ...target, maxBytes: 50 })).toHaveLength(50);
  });
});
