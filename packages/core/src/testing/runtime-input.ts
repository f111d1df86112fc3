/**
 * Runtime conformance: bad input is rejected at enqueue with exact messages and nothing is
 * stored, bad output fails the attempt, and tricky valid values round-trip on the backend.
 */
import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import type { ZapJobs } from '../client.js';
import { defineJob } from '../job.js';
import type { EnqueueOptions } from '../run.js';
import type { ConformanceOptions } from './options.js';
import { FAST_WORKER, useRuntimeHarness, waitForState } from './runtime-harness.js';

const anything = defineJob({
  name: 'conformance.anything',
  input: Type.Object({ value: Type.Unknown() }),
  output: Type.Unknown(),
  defaults: { attempts: 1 },
  handler: async ({ value }) => value,
});

const person = defineJob({
  name: 'conformance.person',
  input: Type.Object({
    name: Type.String(),
    age: Type.Integer({ minimum: 0 }),
    tags: Type.Array(Type.String()),
  }),
  output: Type.Null(),
  handler: async () => null,
});

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
}

/** Values JSON cannot round-trip, each with its path and the problem its message names. */
function nonSerializableCases(): {
  label: string;
  make: () => unknown;
  path: string;
  problem: string;
}[] {
  const cycle: Record<string, unknown> = { name: 'loop' };
  cycle.self = cycle;
  return [
    { label: 'BigInt', make: () => 10n, path: 'value', problem: 'BigInt 10n has no JSON form' },
    {
      label: 'Date',
      make: () => new Date(0),
      path: 'value',
      problem: 'a Date becomes a string in JSON and does not come back as a Date',
    },
    {
      label: 'Map',
      make: () => new Map([['a', 1]]),
      path: 'value',
      problem: 'a Map becomes {} in JSON',
    },
    { label: 'Set', make: () => new Set([1]), path: 'value', problem: 'a Set becomes {} in JSON' },
    {
      label: 'undefined in an array',
      make: () => [1, undefined],
      path: 'value[1]',
      problem: 'undefined in an array becomes null in JSON',
    },
    {
      label: 'array hole',
      // biome-ignore lint/suspicious/noSparseArray: the hole is the case under test.
      make: () => [1, , 3],
      path: 'value[1]',
      problem: 'an array hole (sparse array) becomes null in JSON',
    },
    { label: 'NaN', make: () => Number.NaN, path: 'value', problem: 'NaN becomes null in JSON' },
    {
      label: 'Infinity',
      make: () => Number.POSITIVE_INFINITY,
      path: 'value',
      problem: 'Infinity becomes null in JSON',
    },
    {
      label: '-Infinity',
      make: () => ({ limit: Number.NEGATIVE_INFINITY }),
      path: 'value.limit',
      problem: '-Infinity becomes null in JSON',
    },
    {
      label: '-0',
      make: () => ({ offset: -0 }),
      path: 'value.offset',
      problem: '-0 becomes 0 in JSON',
    },
    {
      label: 'NUL in a string',
      make: () => ['ok', 'a\u0000b'],
      path: 'value[1]',
      problem: 'the string contains U+0000 (NUL) at index 1, which PostgreSQL cannot store',
    },
    {
      label: 'NUL in a key',
      make: () => ({ 'k\u0000': 1 }),
      path: 'value["k\\u0000"]',
      problem: 'the key contains U+0000 (NUL) at index 1, which PostgreSQL cannot store',
    },
    {
      label: 'lone surrogate',
      make: () => ({ text: 'ab\ud800' }),
      path: 'value.text',
      problem: 'the string contains a lone UTF-16 surrogate at index 2, which UTF-8 cannot encode',
    },
    {
      label: 'function',
      make: () => ({ callback: function notify() {} }),
      path: 'value.callback',
      problem: 'a function (notify) has no JSON form',
    },
    {
      label: 'symbol',
      make: () => Symbol('tag'),
      path: 'value',
      problem: 'Symbol(tag) has no JSON form',
    },
    {
      label: 'class instance',
      make: () => ({ at: new Point(1, 2) }),
      path: 'value.at',
      problem: 'an instance of class Point loses its prototype in JSON',
    },
    {
      label: 'cycle',
      make: () => cycle,
      path: 'value.self',
      problem: 'a cycle: this object contains itself',
    },
  ];
}

function trickyValue() {
  let deep: unknown = { bottom: true };
  for (let level = 0; level < 100; level++) deep = { level, next: deep };
  return {
    emoji: '🎉 family 👩‍👩‍👧 flag 🇳🇿',
    astral: '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝄞 \u{10FFFF}',
    escapes: 'quote " backslash \\ newline \n tab \t \u2028 \u2029 \u007f',
    unicodeKeys: { ключ: 'значение', '🔑': '𝄞', 'a.b': 1, '': 'empty key' },
    maxSafe: 2 ** 53 - 1,
    minSafe: -(2 ** 53 - 1),
    fraction: 0.1 + 0.2,
    tiny: 5e-324,
    huge: 1.7976931348623157e308,
    empty: { string: '', array: [], object: {} },
    nulls: [null, null],
    booleans: [true, false],
    deep,
    nestedArrays: [[[[]]], [[1], [2, [3]]]],
  };
}

async function expectNothingStored(zap: ZapJobs): Promise<void> {
  const counts = await zap.countRuns();
  expect(Object.values(counts).reduce((sum, count) => sum + count, 0)).toBe(0);
  expect((await zap.listRuns()).runs).toEqual([]);
}

export function describeRuntimeInput(options: ConformanceOptions): void {
  describe(`${options.name} runtime: bad input and round trips`, () => {
    const harness = useRuntimeHarness(options);

    it('schema violations name every failing path', async () => {
      const { zap } = await harness.client({ jobs: [person] });
      const bad = { age: -1.5, tags: ['ok', 2] } as unknown as {
        name: string;
        age: number;
        tags: string[];
      };
      await expect(zap.enqueue(person, bad)).rejects.toThrow(
        'Invalid input for job "conformance.person": 4 schema violation(s)\n' +
          '  - /name: is required\n' +
          '  - /age: must be integer\n' +
          '  - /age: must be >= 0\n' +
          '  - /tags/1: must be string\n' +
          "Fix the input to match the job's input schema.",
      );
      const error = await zap.enqueue(person, bad).catch((thrown: unknown) => thrown);
      expect(error).toMatchObject({ code: 'VALIDATION_FAILED', job: 'conformance.person' });
      expect((error as { issues: unknown[] }).issues).toHaveLength(4);
      await expectNothingStored(zap);
    });

    it('unknown job name is rejected', async () => {
      const { zap } = await harness.client({ jobs: [person, anything] });
      await expect(zap.enqueue('conformance.nope', {})).rejects.toThrow(
        'Unknown job "conformance.nope". Registered jobs: "conformance.person", ' +
          '"conformance.anything". Pass the job to new ZapJobs({ jobs }) or register it with a plugin.',
      );
      await expectNothingStored(zap);
    });

    it('unregistered job with invalid defaults is rejected', async () => {
      const { zap } = await harness.client({ jobs: [person] });
      const adhoc = defineJob({
        ...anything,
        name: 'conformance.adhoc',
        defaults: { attempts: 0, priority: 1.5, queue: '' },
      });
      await expect(zap.enqueue(adhoc, { value: 1 })).rejects.toThrow(
        'Invalid option defaults.queue of job "conformance.adhoc": "". Expected a non-empty ' +
          'string of at most 255 characters.',
      );
      await expect(zap.enqueueMany([{ job: adhoc, input: { value: 1 } }])).rejects.toThrow(
        'Invalid option defaults.queue of job "conformance.adhoc"',
      );
      const copy = defineJob({ ...person });
      const duplicate = await zap
        .enqueue(copy, { name: 'a', age: 1, tags: [] })
        .catch((thrown: unknown) => thrown);
      expect(duplicate).toMatchObject({ code: 'DUPLICATE_JOB', job: 'conformance.person' });
      expect((duplicate as Error).message).toContain('passed to enqueue is a different definition');
      await expectNothingStored(zap);

      // A valid unregistered definition is still accepted.
      const valid = defineJob({ ...anything, name: 'conformance.adhoc-valid' });
      const { created } = await zap.enqueue(valid, { value: 1 });
      expect(created).toBe(true);
    });

    it('oversized input is rejected with size and limit', async () => {
      const { zap } = await harness.client({ jobs: [anything], maxPayloadBytes: 1_024 });
      // 600 two-byte characters: 612 UTF-16 units but 1,212 bytes of UTF-8 JSON.
      await expect(zap.enqueue(anything, { value: 'é'.repeat(600) })).rejects.toThrow(
        'Input of job "conformance.anything" is 1212 bytes serialized, over the limit of 1024 ' +
          'bytes. Store large data elsewhere and pass a reference, or raise maxPayloadBytes.',
      );
      const fits = await zap.enqueue(anything, { value: 'x'.repeat(1_012) });
      expect(fits.created).toBe(true);
      await zap.cancel(fits.runId);
      expect((await zap.countRuns()).cancelled).toBe(1);
    });

    it('oversized output fails the attempt', async () => {
      const big = defineJob({
        name: 'conformance.big-output',
        input: Type.Object({}),
        output: Type.String(),
        defaults: { attempts: 1 },
        handler: async () => 'y'.repeat(2_000),
      });
      const { zap } = await harness.client({ jobs: [big], maxPayloadBytes: 1_024 });
      const { runId } = await zap.enqueue(big, {});
      await zap.createWorker(FAST_WORKER).start();
      const run = await waitForState(zap, runId, ['failed']);
      expect(run.error?.code).toBe('PAYLOAD_TOO_LARGE');
      expect(run.error?.message).toContain(
        'Output of job "conformance.big-output" is 2002 bytes serialized, over the limit of 1024 bytes.',
      );
    });

    it('non-serializable input values are rejected with their path', async () => {
      const { zap } = await harness.client({ jobs: [anything] });
      for (const entry of nonSerializableCases()) {
        const error = await zap.enqueue(anything, { value: entry.make() }).then(
          () => null,
          (thrown: unknown) => thrown as Error,
        );
        expect(error, entry.label).not.toBeNull();
        expect((error as { code?: string }).code, entry.label).toBe('NOT_SERIALIZABLE');
        expect(error?.message, entry.label).toContain(
          `Input of job "conformance.anything" is not serializable at input.${entry.path}: ${entry.problem}. `,
        );
      }
      await expect(zap.enqueue(anything, { value: ['a', 'b', 1n] })).rejects.toThrow(
        'Input of job "conformance.anything" is not serializable at input.value[2]: BigInt 1n has ' +
          'no JSON form. Pass it as a string (value.toString()), or as a number if it is at most 2^53-1.',
      );
      await expectNothingStored(zap);
    });

    it('non-serializable output values fail the attempt with their path', async () => {
      const cases = nonSerializableCases();
      const emit = defineJob({
        name: 'conformance.emit',
        input: Type.Object({ index: Type.Integer() }),
        output: Type.Object({ value: Type.Unknown() }),
        defaults: { attempts: 1 },
        handler: async ({ index }) => ({ value: cases[index]!.make() }),
      });
      const { zap } = await harness.client({ jobs: [emit] });
      const results = await zap.enqueueMany(
        cases.map((_, index) => ({ job: emit, input: { index } })),
      );
      await zap.createWorker({ ...FAST_WORKER, concurrency: 8 }).start();
      for (const [index, entry] of cases.entries()) {
        const run = await waitForState(zap, results[index]!.runId, ['failed', 'completed']);
        expect(run.state, entry.label).toBe('failed');
        expect(run.error?.code, entry.label).toBe('NOT_SERIALIZABLE');
        expect(run.error?.message, entry.label).toContain(
          `Output of job "conformance.emit" is not serializable at output.${entry.path}: ${entry.problem}. `,
        );
      }
    });

    it('invalid options are rejected naming option and value', async () => {
      const { zap } = await harness.client({ jobs: [anything] });
      const cases: [EnqueueOptions, string][] = [
        [
          { delayMs: -1 },
          'Invalid option delayMs: -1. Expected a finite number of milliseconds at least 0.',
        ],
        [
          { delayMs: Number.NaN },
          'Invalid option delayMs: NaN. Expected a finite number of milliseconds at least 0.',
        ],
        [{ attempts: 0 }, 'Invalid option attempts: 0. Expected an integer from 1 to 1000000.'],
        [{ attempts: 2.5 }, 'Invalid option attempts: 2.5. Expected an integer from 1 to 1000000.'],
        [
          { priority: 1.5 },
          'Invalid option priority: 1.5. Expected an integer from -2147483648 to 2147483647.',
        ],
        [
          { runAt: new Date('not a date') },
          'Invalid option runAt: Invalid Date. Expected a valid Date.',
        ],
        [
          { queue: '' },
          'Invalid option queue: "". Expected a non-empty string of at most 255 characters.',
        ],
        [
          { backoff: { type: 'linear', delayMs: 1 } as never },
          'Invalid option backoff.type: "linear". Expected "exponential", "fixed" or "custom".',
        ],
        [
          { backoff: { type: 'fixed', delayMs: -5 } },
          'Invalid option backoff.delayMs: -5. Expected a finite number of milliseconds at least 0.',
        ],
        [
          { timeoutMs: 0 },
          'Invalid option timeoutMs: 0. Expected a finite number of milliseconds from 1 to 2147483647.',
        ],
        [
          { historyLevel: 'verbose' as never },
          'Invalid option historyLevel: "verbose". Expected one of "full", "lifecycle", "off".',
        ],
        [{ metadata: [1] as never }, 'Invalid option metadata: [1]. Expected a plain object.'],
        [
          { delay: 100 } as never,
          'Invalid option delay: 100. Expected a known option of enqueue: queue, priority',
        ],
        [
          { delayMs: 10, runAt: new Date(0) },
          'Invalid option runAt: Date(1970-01-01T00:00:00.000Z). Expected no runAt when delayMs is set; set only one.',
        ],
        [
          { dependsOn: [{ runId: '' }] },
          'Invalid option dependsOn[0].runId: "". Expected a run id string.',
        ],
      ];
      for (const [options, message] of cases) {
        const error = await zap.enqueue(anything, { value: 1 }, options).then(
          () => null,
          (thrown: unknown) => thrown as Error,
        );
        expect(error?.message, JSON.stringify(options)).toContain(message);
        expect((error as { code?: string }).code).toBe('INVALID_OPTION');
      }
      await expectNothingStored(zap);
    });

    it('tricky valid values round-trip through storage', async () => {
      const { zap } = await harness.client({ jobs: [anything] });
      const value = trickyValue();
      const { runId } = await zap.enqueue(anything, { value: { ...value, dropped: undefined } });
      const stored = await zap.getRun(runId);
      expect(stored?.input).toEqual({ value });
      expect(Object.keys((stored!.input as { value: object }).value)).not.toContain('dropped');

      await zap.createWorker(FAST_WORKER).start();
      const run = await waitForState(zap, runId, ['completed']);
      expect(run.output).toEqual(value);
      expect((run.output as { maxSafe: number }).maxSafe).toBe(9_007_199_254_740_991);
      expect((run.output as { emoji: string }).emoji).toBe(value.emoji);
    });

    it('metadata round-trips and reserved settings stay hidden', async () => {
      const { zap } = await harness.client({ jobs: [anything] });
      const { runId } = await zap.enqueue(
        anything,
        { value: 1 },
        {
          metadata: { source: 'api', trace: ['a', 1] },
          timeoutMs: 5_000,
          tenantId: 't1',
          groupId: 'g1',
        },
      );
      const run = await zap.getRun(runId);
      expect(run?.metadata).toEqual({ source: 'api', trace: ['a', 1] });
      expect(run?.tenantId).toBe('t1');
      expect(run?.groupId).toBe('g1');
    });
  });
}
