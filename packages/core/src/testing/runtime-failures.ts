/**
 * Runtime conformance: failing attempts, retries, backoff, timeouts and checkpoints.
 */
import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { NonRetryableError } from '../errors.js';
import { defineJob } from '../job.js';
import type { RunEvent } from '../run.js';
import type { ConformanceOptions } from './options.js';
import {
  allEvents,
  FAST_WORKER,
  recordEvents,
  useRuntimeHarness,
  waitFor,
  waitForState,
} from './runtime-harness.js';

function gapsBetweenStarts(events: RunEvent[]): number[] {
  const failures = events.filter((event) => event.type === 'retrying');
  const starts = events.filter((event) => event.type === 'started');
  return failures.map((failure, index) => {
    const next = starts[index + 1];
    if (next === undefined) throw new Error(`no start after retry ${index + 1}`);
    return next.at.getTime() - failure.at.getTime();
  });
}

export function describeRuntimeFailures(options: ConformanceOptions): void {
  describe(`${options.name} runtime: failures and retries`, () => {
    const harness = useRuntimeHarness(options);

    it('retries count every attempt and log attempt N of M', async () => {
      const calls: number[] = [];
      const boom = defineJob({
        name: 'conformance.boom',
        input: Type.Object({}),
        output: Type.Null(),
        defaults: { attempts: 3, backoff: { type: 'fixed', delayMs: 10 } },
        handler: async (_input, ctx) => {
          calls.push(ctx.attempt);
          expect(ctx.maxAttempts).toBe(3);
          throw new Error('boom');
        },
      });
      const { zap, logger } = await harness.client({ jobs: [boom] });
      const failed = recordEvents(zap, ['job.failed']);
      const { runId } = await zap.enqueue(boom, {});
      await zap.createWorker(FAST_WORKER).start();
      const run = await waitForState(zap, runId, ['failed']);

      expect(calls).toEqual([1, 2, 3]);
      expect(run.attempt).toBe(3);
      expect(run.error).toMatchObject({ name: 'Error', message: 'boom' });
      const types = (await allEvents(zap, { runId })).map((event) => event.type);
      expect(types).toEqual([
        'enqueued',
        'started',
        'retrying',
        'started',
        'retrying',
        'started',
        'failed',
      ]);
      expect(logger.messages('warn')).toEqual(
        expect.arrayContaining([
          `Run ${runId} of job "conformance.boom" failed on attempt 1 of 3, retrying in 10 ms: boom`,
          `Run ${runId} of job "conformance.boom" failed on attempt 2 of 3, retrying in 10 ms: boom`,
        ]),
      );
      expect(logger.messages('error')).toContain(
        `Run ${runId} of job "conformance.boom" failed on attempt 3 of 3 and moved to dead letter: boom`,
      );
      await waitFor('job.failed', () => failed.length === 1);
      expect(failed[0]?.event).toMatchObject({ runId, attempt: 3, error: { message: 'boom' } });
    });

    it('a thrown value that cannot be read is stored as an ordinary failure', async () => {
      const unreadable = {
        toJSON() {
          throw new Error('no JSON');
        },
        toString() {
          throw new Error('no string');
        },
      };
      const badCode = new Error('bad code');
      Object.defineProperty(badCode, 'code', {
        get() {
          throw new Error('no code');
        },
      });
      const numeric = new Error('numeric');
      (numeric as { message: unknown }).message = 42;
      const thrown: unknown[] = [unreadable, badCode, numeric];
      const unreadableJob = defineJob({
        name: 'conformance.unreadable-error',
        input: Type.Object({}),
        output: Type.Null(),
        defaults: { attempts: 3, backoff: { type: 'fixed', delayMs: 10 } },
        handler: async (_input, ctx) => {
          throw thrown[ctx.attempt - 1];
        },
      });
      const { zap } = await harness.client({ jobs: [unreadableJob] });
      const { runId } = await zap.enqueue(unreadableJob, {});
      await zap.createWorker(FAST_WORKER).start();
      const run = await waitForState(zap, runId, ['failed']);

      expect(run.attempt).toBe(3);
      expect(run.error).toMatchObject({ name: 'Error', message: '42' });
      const events = await allEvents(zap, { runId });
      expect(events.map((event) => event.type)).toEqual([
        'enqueued',
        'started',
        'retrying',
        'started',
        'retrying',
        'started',
        'failed',
      ]);
      const retries = events.filter((event) => event.type === 'retrying');
      expect(retries.map((event) => (event.data as { error?: unknown }).error)).toEqual([
        expect.objectContaining({ name: 'Error', message: 'the thrown value could not be read' }),
        expect.objectContaining({ name: 'Error', message: 'bad code' }),
      ]);
      for (const gap of gapsBetweenStarts(events)) expect(gap).toBeGreaterThanOrEqual(9);
    });

    it('throwing then getter fails the attempt', async () => {
      const trap = defineJob({
        name: 'conformance.then-trap',
        input: Type.Object({}),
        output: Type.Null(),
        defaults: { attempts: 1 },
        handler: () =>
          Object.defineProperty({}, 'then', {
            get() {
              throw new Error('then getter threw');
            },
          }) as never,
      });
      const { zap } = await harness.client({ jobs: [trap] });
      const { runId } = await zap.enqueue(trap, {});
      await zap.createWorker(FAST_WORKER).start();
      // Fails at once, long before the lease of 30 s could expire.
      const run = await waitForState(zap, runId, ['failed'], 5_000);
      expect(run.error).toMatchObject({ name: 'Error', message: 'then getter threw' });
    });

    it('fixed backoff delays every retry', async () => {
      const slow = defineJob({
        name: 'conformance.fixed-backoff',
        input: Type.Object({}),
        output: Type.Null(),
        defaults: { attempts: 3, backoff: { type: 'fixed', delayMs: 250 } },
        handler: async () => {
          throw new Error('again');
        },
      });
      const { zap } = await harness.client({ jobs: [slow] });
      const { runId } = await zap.enqueue(slow, {});
      await zap.createWorker(FAST_WORKER).start();
      await waitForState(zap, runId, ['failed']);
      const gaps = gapsBetweenStarts(await allEvents(zap, { runId }));
      expect(gaps).toHaveLength(2);
      for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(250);
    });

    it('enqueue backoff overrides the job default', async () => {
      const doubling = defineJob({
        name: 'conformance.exponential',
        input: Type.Object({}),
        output: Type.Null(),
        defaults: { attempts: 3, backoff: { type: 'fixed', delayMs: 0 } },
        handler: async () => {
          throw new Error('again');
        },
      });
      const { zap } = await harness.client({ jobs: [doubling] });
      const retrying = recordEvents(zap, ['job.retrying']);
      const { runId } = await zap.enqueue(
        doubling,
        {},
        { backoff: { type: 'exponential', delayMs: 150, jitter: 0 } },
      );
      await zap.createWorker(FAST_WORKER).start();
      await waitForState(zap, runId, ['failed']);
      expect(retrying.map((entry) => entry.event.delayMs)).toEqual([150, 300]);
      const [first, second] = gapsBetweenStarts(await allEvents(zap, { runId }));
      expect(first).toBeGreaterThanOrEqual(150);
      expect(second).toBeGreaterThanOrEqual(300);
    });

    it('timeout fails an attempt whose handler ignores its signal', async () => {
      const reasons: unknown[] = [];
      const stuck = defineJob({
        name: 'conformance.stuck',
        input: Type.Object({}),
        output: Type.Null(),
        defaults: { attempts: 1, timeoutMs: 200 },
        handler: async (_input, ctx) => {
          ctx.signal.addEventListener('abort', () => reasons.push(ctx.signal.reason));
          await new Promise((resolve) => setTimeout(resolve, 1_500));
          return null;
        },
      });
      const { zap } = await harness.client({ jobs: [stuck] });
      const { runId } = await zap.enqueue(stuck, {});
      await zap.createWorker(FAST_WORKER).start();
      const run = await waitForState(zap, runId, ['failed'], 1_200);
      expect(run.error?.code).toBe('JOB_TIMEOUT');
      expect(run.error?.message).toBe(
        'Job "conformance.stuck" timed out after 200 ms. Raise its timeoutMs or make the handler ' +
          'honor ctx.signal.',
      );
      expect(reasons).toHaveLength(1);
      expect((reasons[0] as { code?: string }).code).toBe('JOB_TIMEOUT');
    });

    it('signal first read after a timeout is aborted', async () => {
      const seen: { aborted: boolean; code: unknown }[] = [];
      const late = defineJob({
        name: 'conformance.late-signal',
        input: Type.Object({}),
        output: Type.Null(),
        defaults: { attempts: 1, timeoutMs: 100 },
        handler: async (_input, ctx) => {
          // The signal is read for the first time only after the attempt timed out.
          await new Promise((resolve) => setTimeout(resolve, 300));
          seen.push({
            aborted: ctx.signal.aborted,
            code: (ctx.signal.reason as { code?: unknown } | undefined)?.code,
          });
          return null;
        },
      });
      const { zap } = await harness.client({ jobs: [late] });
      const { runId } = await zap.enqueue(late, {});
      await zap.createWorker(FAST_WORKER).start();
      const run = await waitForState(zap, runId, ['failed']);
      expect(run.error?.code).toBe('JOB_TIMEOUT');
      await waitFor('the handler to read its signal', () => seen.length === 1);
      expect(seen).toEqual([{ aborted: true, code: 'JOB_TIMEOUT' }]);
    });

    it('synchronous throw fails the attempt', async () => {
      const sync = defineJob({
        name: 'conformance.sync-throw',
        input: Type.Object({}),
        output: Type.Null(),
        defaults: { attempts: 2, backoff: { type: 'fixed', delayMs: 0 } },
        handler: (() => {
          throw new NonRetryableError('thrown before any await');
        }) as unknown as () => Promise<null>,
      });
      const { zap } = await harness.client({ jobs: [sync] });
      const { runId } = await zap.enqueue(sync, {});
      await zap.createWorker(FAST_WORKER).start();
      const run = await waitForState(zap, runId, ['failed']);
      expect(run.attempt).toBe(1);
      expect(run.error?.message).toBe('thrown before any await');
    });

    it('context extender may replace the signal', async () => {
      const replacement = new AbortController();
      const seen: AbortSignal[] = [];
      const watched = defineJob({
        name: 'conformance.replaced-signal',
        input: Type.Object({}),
        output: Type.Null(),
        defaults: { attempts: 1 },
        handler: async (_input, ctx) => {
          seen.push(ctx.signal);
          return null;
        },
      });
      const { zap } = await harness.client({
        jobs: [watched],
        plugins: [
          {
            name: 'conformance-signal',
            setup(api) {
              api.extendContext(() => ({ signal: replacement.signal }));
            },
          },
        ],
      });
      const { runId } = await zap.enqueue(watched, {});
      await zap.createWorker(FAST_WORKER).start();
      expect((await waitForState(zap, runId, ['completed', 'failed'])).state).toBe('completed');
      expect(seen).toHaveLength(1);
      expect(seen[0]).toBe(replacement.signal);
    });

    it('enqueue timeoutMs overrides the job default', async () => {
      const slow = defineJob({
        name: 'conformance.slow',
        input: Type.Object({}),
        output: Type.Null(),
        defaults: { attempts: 1 },
        handler: async (_input, ctx) => {
          await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
          return null;
        },
      });
      const { zap } = await harness.client({ jobs: [slow] });
      const { runId } = await zap.enqueue(slow, {}, { timeoutMs: 100 });
      await zap.createWorker(FAST_WORKER).start();
      const run = await waitForState(zap, runId, ['failed']);
      expect(run.error?.code).toBe('JOB_TIMEOUT');
    });

    it('invalid output fails the attempt naming the paths', async () => {
      const wrong = defineJob({
        name: 'conformance.wrong-output',
        input: Type.Object({}),
        output: Type.Object({ count: Type.Integer(), label: Type.String() }),
        defaults: { attempts: 1 },
        handler: async () => ({ count: 1.5 }) as unknown as { count: number; label: string },
      });
      const { zap } = await harness.client({ jobs: [wrong] });
      const { runId } = await zap.enqueue(wrong, {});
      await zap.createWorker(FAST_WORKER).start();
      const run = await waitForState(zap, runId, ['failed']);
      expect(run.error?.code).toBe('OUTPUT_INVALID');
      expect(run.error?.message).toBe(
        'Invalid output from job "conformance.wrong-output": 2 schema violation(s)\n' +
          '  - /label: is required\n' +
          '  - /count: must be integer\n' +
          'Fix the handler to return a value matching the output schema.',
      );
      expect(run.output).toBeNull();
    });

    it('NonRetryableError skips the remaining attempts', async () => {
      let calls = 0;
      const fatal = defineJob({
        name: 'conformance.fatal',
        input: Type.Object({}),
        output: Type.Null(),
        defaults: { attempts: 5, backoff: { type: 'fixed', delayMs: 10 } },
        handler: async () => {
          calls++;
          throw new NonRetryableError('card declined');
        },
      });
      const { zap, logger } = await harness.client({ jobs: [fatal] });
      const { runId } = await zap.enqueue(fatal, {});
      await zap.createWorker(FAST_WORKER).start();
      const run = await waitForState(zap, runId, ['failed']);
      expect(calls).toBe(1);
      expect(run.attempt).toBe(1);
      expect(run.error).toMatchObject({
        name: 'NonRetryableError',
        code: 'NON_RETRYABLE',
        message: 'card declined',
      });
      expect(logger.messages('error')).toContain(
        `Run ${runId} of job "conformance.fatal" failed on attempt 1 of 5 with a non-retryable ` +
          'error and moved to dead letter: card declined',
      );
    });

    it('next attempt resumes from the saved checkpoint', async () => {
      const loaded: unknown[] = [];
      const resumable = defineJob({
        name: 'conformance.resumable',
        input: Type.Object({ items: Type.Number() }),
        output: Type.Object({ processed: Type.Array(Type.Number()) }),
        defaults: { attempts: 2, backoff: { type: 'fixed', delayMs: 10 } },
        handler: async ({ items }, ctx) => {
          const checkpoint = await ctx.loadCheckpoint<{ next: number; processed: number[] }>();
          loaded.push(structuredClone(checkpoint));
          const state = checkpoint ?? { next: 0, processed: [] };
          for (let item = state.next; item < items; item++) {
            state.processed.push(ctx.attempt * 100 + item);
            state.next = item + 1;
            await ctx.saveCheckpoint(state);
            if (ctx.attempt === 1 && item === 1) throw new Error('crash after item 1');
          }
          return { processed: state.processed };
        },
      });
      const { zap } = await harness.client({ jobs: [resumable] });
      const { runId } = await zap.enqueue(resumable, { items: 4 });
      await zap.createWorker(FAST_WORKER).start();
      const run = await waitForState(zap, runId, ['completed']);
      expect(loaded).toEqual([undefined, { next: 2, processed: [100, 101] }]);
      expect(run.output).toEqual({ processed: [100, 101, 202, 203] });
      expect(run.attempt).toBe(2);
    });

    it('run of a job this worker does not know fails', async () => {
      const { zap } = await harness.client();
      const ghost = defineJob({
        name: 'conformance.unregistered',
        input: Type.Object({}),
        output: Type.Null(),
        handler: async () => null,
      });
      const { runId } = await zap.enqueue(ghost, {}, { attempts: 1 });
      await zap.createWorker(FAST_WORKER).start();
      const run = await waitForState(zap, runId, ['failed']);
      expect(run.error?.code).toBe('UNKNOWN_JOB');
      expect(run.error?.message).toContain('Unknown job "conformance.unregistered"');
    });
  });
}
