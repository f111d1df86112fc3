import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { ZapJobs } from '../src/client.js';
import { InvalidOptionError } from '../src/errors.js';
import { buildNewRun } from '../src/internal/enqueue.js';
import { JobRegistry } from '../src/internal/registry.js';
import { resolveEnqueueOptions, splitStoredMetadata } from '../src/internal/run-options.js';
import { resolveWorkerOptions } from '../src/internal/worker-options.js';
import { defineJob } from '../src/job.js';
import type { Storage } from '../src/storage/contract.js';

const job = defineJob({
  name: 'mail.send',
  input: Type.Object({ to: Type.String() }),
  output: Type.Null(),
  defaults: { queue: 'mail', attempts: 5, priority: 2 },
  handler: async () => null,
});

function messageOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionError);
    return (error as Error).message;
  }
  throw new Error('no error thrown');
}

describe('enqueue options', () => {
  it('apply job defaults', () => {
    expect(resolveEnqueueOptions(job, undefined)).toMatchObject({
      queue: 'mail',
      priority: 2,
      maxAttempts: 5,
      historyLevel: 'full',
    });
  });

  it('override job defaults', () => {
    const resolved = resolveEnqueueOptions(job, { queue: 'urgent', attempts: 1, priority: -3 });
    expect(resolved).toMatchObject({ queue: 'urgent', maxAttempts: 1, priority: -3 });
  });

  const invalid: [string, unknown, string][] = [
    [
      'negative delay',
      { delayMs: -5 },
      'Invalid option delayMs: -5. Expected a finite number of milliseconds at least 0.',
    ],
    ['NaN delay', { delayMs: Number.NaN }, 'Invalid option delayMs: NaN.'],
    ['infinite delay', { delayMs: Number.POSITIVE_INFINITY }, 'Invalid option delayMs: Infinity.'],
    [
      'zero attempts',
      { attempts: 0 },
      'Invalid option attempts: 0. Expected an integer from 1 to 1000000.',
    ],
    ['fractional attempts', { attempts: 1.5 }, 'Invalid option attempts: 1.5.'],
    ['fractional priority', { priority: 0.5 }, 'Invalid option priority: 0.5. Expected an integer'],
    ['string priority', { priority: '1' }, 'Invalid option priority: "1".'],
    [
      'invalid runAt',
      { runAt: new Date('x') },
      'Invalid option runAt: Invalid Date. Expected a valid Date.',
    ],
    ['numeric runAt', { runAt: 5 }, 'Invalid option runAt: 5. Expected a valid Date.'],
    ['empty queue', { queue: '' }, 'Invalid option queue: "". Expected a non-empty string'],
    ['blank queue', { queue: '   ' }, 'Invalid option queue: "   ".'],
    ['long queue', { queue: 'q'.repeat(256) }, 'of at most 255 characters'],
    ['bad backoff type', { backoff: { type: 'linear' } }, 'Invalid option backoff.type: "linear".'],
    [
      'custom backoff',
      { backoff: { type: 'custom', compute: () => 1 } },
      'a function cannot be stored',
    ],
    ['zero timeout', { timeoutMs: 0 }, 'Invalid option timeoutMs: 0.'],
    ['timeout above timers', { timeoutMs: 2 ** 31 }, 'from 1 to 2147483647'],
    ['bad history level', { historyLevel: 'all' }, 'Expected one of "full", "lifecycle", "off".'],
    [
      'removeOnComplete not a boolean',
      { removeOnComplete: 'yes' },
      'Invalid option removeOnComplete: "yes". Expected true or false.',
    ],
    [
      'typo',
      { attempt: 3 },
      'Invalid option attempt: 3. Expected a known option of enqueue: queue,',
    ],
    [
      'delay and runAt',
      { delayMs: 1, runAt: new Date(0) },
      'Expected no runAt when delayMs is set',
    ],
    ['empty idempotency key', { idempotencyKey: '' }, 'Invalid option idempotencyKey: "".'],
    [
      'dependsOn not an array',
      { dependsOn: 'r1' },
      'Invalid option dependsOn: "r1". Expected an array',
    ],
    [
      'bad condition',
      { dependsOn: [{ runId: 'r', condition: 'maybe' }] },
      'dependsOn[0].condition',
    ],
    [
      'duplicate parent',
      { dependsOn: [{ runId: 'r' }, { runId: 'r' }] },
      'each parent run to be listed once',
    ],
    [
      'two passOutput',
      {
        dependsOn: [
          { runId: 'a', passOutput: true },
          { runId: 'b', passOutput: true },
        ],
      },
      'Invalid option dependsOn[1].passOutput: true. Expected false, because dependsOn[0] already passes its output.',
    ],
    ['metadata array', { metadata: [] }, 'Invalid option metadata: []. Expected a plain object.'],
    ['metadata class', { metadata: new Map() }, 'Expected a plain object.'],
    [
      'reserved metadata key',
      { metadata: { $zapjobs: 1 } },
      'Invalid option metadata.$zapjobs: 1.',
    ],
    ['options not an object', 5, 'Invalid option options: 5. Expected an object.'],
  ];

  for (const [label, options, message] of invalid) {
    it(`reject ${label}`, () => {
      expect(messageOf(() => resolveEnqueueOptions(job, options as never))).toContain(message);
    });
  }
});

describe('buildNewRun', () => {
  it('builds a run with a UUIDv7 id and serialized input', () => {
    const { run } = buildNewRun(job, { to: 'a@b.c' }, { delayMs: 10.2, groupId: 'g' }, 1_024);
    expect(run).toMatchObject({
      job: 'mail.send',
      queue: 'mail',
      input: '{"to":"a@b.c"}',
      priority: 2,
      maxAttempts: 5,
      delayMs: 11,
      groupId: 'g',
      historyLevel: 'full',
    });
    expect(run.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(run.metadata).toBeUndefined();
  });

  it('turns an idempotency key into a per-job unique key kept forever', () => {
    const { run } = buildNewRun(job, { to: 'x' }, { idempotencyKey: 'k1' }, 1_024);
    expect(run.unique).toEqual({
      key: 'idempotency:mail.send:k1',
      releaseOn: 'never',
      onConflict: 'ignore',
    });
  });

  it('passes runAt as epoch milliseconds', () => {
    const { run } = buildNewRun(job, { to: 'x' }, { runAt: new Date(5_000) }, 1_024);
    expect(run.runAt).toBe(5_000);
    expect(run.delayMs).toBeUndefined();
  });

  it('stores overridden settings beside metadata and hides them on read', () => {
    const { run } = buildNewRun(
      job,
      { to: 'x' },
      { metadata: { source: 'api' }, timeoutMs: 100, backoff: { type: 'fixed', delayMs: 5 } },
      1_024,
    );
    const stored = JSON.parse(run.metadata!);
    expect(stored).toEqual({
      source: 'api',
      $zapjobs: { timeoutMs: 100, backoff: { type: 'fixed', delayMs: 5 } },
    });
    expect(splitStoredMetadata(stored)).toEqual({
      metadata: { source: 'api' },
      settings: { timeoutMs: 100, backoff: { type: 'fixed', delayMs: 5 } },
    });
  });

  it('checks the input schema after serialization', () => {
    expect(() => buildNewRun(job, { to: new Date(0) }, undefined, 1_024)).toThrow(
      'is not serializable at input.to: a Date becomes a string',
    );
    expect(() => buildNewRun(job, { to: 5 } as never, undefined, 1_024)).toThrow(
      'Invalid input for job "mail.send": 1 schema violation(s)\n  - /to: must be string',
    );
  });

  it('rejects serialized metadata over the limit', () => {
    expect(() => buildNewRun(job, { to: 'x' }, { metadata: { big: 'x'.repeat(100) } }, 64)).toThrow(
      'Metadata of a run of job "mail.send" is 110 bytes serialized, over the limit of 64 bytes.',
    );
  });
});

describe('job registration', () => {
  it('rejects two jobs with one name', () => {
    const registry = new JobRegistry();
    registry.register(job, 'jobs[0]');
    registry.register(job, 'jobs[0]');
    expect(() => registry.register(defineJob({ ...job }), 'jobs[1]')).toThrow(
      'Job "mail.send" is registered twice. Give each job definition a unique name.',
    );
  });

  it('rejects invalid defaults naming the job', () => {
    const broken = defineJob({ ...job, name: 'broken', defaults: { attempts: 0 } });
    expect(() => new JobRegistry().register(broken, 'jobs[0]')).toThrow(
      'Invalid option defaults.attempts of job "broken": 0. Expected an integer from 1 to 1000000.',
    );
  });

  it('rejects a removeOnComplete default that is not a boolean', () => {
    const broken = defineJob({
      ...job,
      name: 'broken-removal',
      defaults: { removeOnComplete: 1 as unknown as boolean },
    });
    expect(() => new JobRegistry().register(broken, 'jobs[0]')).toThrow(
      'Invalid option defaults.removeOnComplete of job "broken-removal": 1. Expected true or false.',
    );
  });

  it('accepts a custom backoff in defaults', () => {
    const custom = defineJob({
      ...job,
      name: 'custom',
      defaults: { backoff: { type: 'custom', compute: (attempt) => attempt * 10 } },
    });
    expect(() => new JobRegistry().register(custom, 'jobs[0]')).not.toThrow();
  });

  it('rejects something that is not a job', () => {
    expect(() => new JobRegistry().register({ name: 'x' } as never, 'jobs[2]')).toThrow(
      'Invalid option jobs[2]: {"name":"x"}. Expected a job definition made by defineJob().',
    );
  });

  it('lists registered jobs when a name is unknown', () => {
    const registry = new JobRegistry();
    registry.register(job, 'jobs[0]');
    expect(() => registry.require('mail.sned')).toThrow(
      'Unknown job "mail.sned". Registered jobs: "mail.send". Pass the job to new ZapJobs({ jobs }) ' +
        'or register it with a plugin.',
    );
  });
});

describe('job passed to enqueue', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    [
      'zero attempts',
      { attempts: 0 },
      'Invalid option defaults.attempts of job "adhoc": 0. Expected an integer from 1 to 1000000.',
    ],
    [
      'fractional priority',
      { priority: 1.5 },
      'Invalid option defaults.priority of job "adhoc": 1.5. Expected an integer from ' +
        '-2147483648 to 2147483647.',
    ],
    [
      'empty queue',
      { queue: '' },
      'Invalid option defaults.queue of job "adhoc": "". Expected a non-empty string of at most ' +
        '255 characters.',
    ],
  ];
  for (const [label, defaults, message] of cases) {
    it(`rejects defaults with ${label}`, () => {
      const adhoc = defineJob({ ...job, name: 'adhoc', defaults: defaults as never });
      expect(() => new JobRegistry().resolve(adhoc, 'job', 'enqueue')).toThrow(message);
    });
  }

  it('rejects a definition without a handler', () => {
    const adhoc = defineJob({ ...job, name: 'adhoc', handler: undefined as never });
    expect(() => new JobRegistry().resolve(adhoc, 'job', 'enqueue')).toThrow(
      'Invalid option handler of job "adhoc": undefined. Expected a function.',
    );
  });

  it('rejects another definition with a registered name', () => {
    const registry = new JobRegistry();
    registry.register(job, 'jobs[0]');
    const copy = defineJob({ ...job });
    expect(() => registry.resolve(copy, 'job', 'enqueue')).toThrow(
      'Job "mail.send" passed to enqueue is a different definition than the job registered ' +
        'under that name. Pass the registered definition or its name, or give each job ' +
        'definition a unique name.',
    );
    expect(registry.resolve(job, 'job', 'enqueue')).toBe(job);
    expect(registry.resolve('mail.send', 'job', 'enqueue')).toBe(job);
  });

  it('accepts a valid unregistered definition without registering it', () => {
    const registry = new JobRegistry();
    const adhoc = defineJob({ ...job, name: 'adhoc' });
    expect(registry.resolve(adhoc, 'job', 'enqueue')).toBe(adhoc);
    expect(registry.resolve(adhoc, 'job', 'enqueue')).toBe(adhoc);
    expect(registry.get('adhoc')).toBeUndefined();
  });

  it('rejects a value that is neither job nor name', () => {
    expect(() => new JobRegistry().resolve(42, 'items[1].job', 'enqueueMany')).toThrow(
      'Invalid option items[1].job: 42. Expected a job definition or the name of a registered job.',
    );
  });
});

describe('worker options', () => {
  it('default as documented', () => {
    const options = resolveWorkerOptions({});
    expect(options).toMatchObject({
      queues: ['default'],
      concurrency: 10,
      leaseMs: 30_000,
      heartbeatMs: 10_000,
      pollIntervalMs: 1_000,
      reclaimIntervalMs: 5_000,
      shutdownTimeoutMs: 30_000,
      handleSignals: false,
      prefetch: 0,
    });
    expect(options.workerId).toMatch(new RegExp(`-${process.pid}-[0-9a-f]{6}$`));
  });

  const invalid: [string, object, string][] = [
    [
      'zero concurrency',
      { concurrency: 0 },
      'Invalid option concurrency: 0. Expected an integer from 1 to 10000.',
    ],
    ['fractional concurrency', { concurrency: 2.5 }, 'Invalid option concurrency: 2.5.'],
    [
      'negative prefetch',
      { prefetch: -1 },
      'Invalid option prefetch: -1. Expected an integer from 0 to 10000.',
    ],
    ['fractional prefetch', { prefetch: 1.5 }, 'Invalid option prefetch: 1.5.'],
    [
      'empty queues',
      { queues: [] },
      'Invalid option queues: []. Expected a non-empty array of queue names.',
    ],
    ['empty queue name', { queues: ['a', ''] }, 'Invalid option queues[1]: "".'],
    [
      'duplicate queue',
      { queues: ['a', 'a'] },
      'Invalid option queues[1]: "a". Expected each queue to be listed once.',
    ],
    [
      'short lease',
      { leaseMs: 50 },
      'Invalid option leaseMs: 50. Expected a finite number of milliseconds from 100',
    ],
    [
      'heartbeat not below lease',
      { leaseMs: 1_000, heartbeatMs: 1_000 },
      'Invalid option heartbeatMs: 1000. Expected less than leaseMs (1000)',
    ],
    [
      'negative shutdown timeout',
      { shutdownTimeoutMs: -1 },
      'Invalid option shutdownTimeoutMs: -1.',
    ],
    [
      'string handleSignals',
      { handleSignals: 'yes' },
      'Invalid option handleSignals: "yes". Expected true or false.',
    ],
    [
      'typo',
      { concurency: 2 },
      'Invalid option concurency: 2. Expected a known option of createWorker',
    ],
  ];
  for (const [label, options, message] of invalid) {
    it(`reject ${label}`, () => {
      expect(messageOf(() => resolveWorkerOptions(options))).toContain(message);
    });
  }
});

describe('client options', () => {
  const unusedStorage = new Proxy(
    {},
    {
      get(_target, property) {
        if (property === 'name') return 'unused';
        if (property === 'then') return undefined;
        return () => {
          throw new Error(`storage.${String(property)} must not be called by the constructor`);
        };
      },
    },
  ) as Storage;

  it('reject a missing storage', () => {
    expect(messageOf(() => new ZapJobs({} as never))).toBe(
      'Invalid option storage: undefined. Expected a storage backend such as new SqliteStorage().',
    );
  });

  it('reject a bad maxPayloadBytes', () => {
    expect(messageOf(() => new ZapJobs({ storage: unusedStorage, maxPayloadBytes: 0 }))).toContain(
      'Invalid option maxPayloadBytes: 0.',
    );
  });

  it('reject a plugin without setup', () => {
    expect(
      messageOf(() => new ZapJobs({ storage: unusedStorage, plugins: [{ name: 'p' } as never] })),
    ).toBe('Invalid option plugins[0]: {"name":"p"}. Expected an object with name and setup(api).');
  });

  it('reject an unknown option', () => {
    expect(messageOf(() => new ZapJobs({ storage: unusedStorage, jobz: [] } as never))).toContain(
      'Invalid option jobz: []. Expected a known option of new ZapJobs(): storage, jobs',
    );
  });

  it('register jobs without touching the storage', () => {
    const zap = new ZapJobs({ storage: unusedStorage, jobs: [job] });
    expect(zap.maxPayloadBytes).toBe(1_048_576);
    expect(() => zap.createWorker({ concurrency: 0 })).toThrow(InvalidOptionError);
  });
});
