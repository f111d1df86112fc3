/**
 * Jobs of the relay, history and telemetry conformance tests, shared with the child processes
 * those tests spawn, which must run the same definitions.
 */
import { trace } from '@opentelemetry/api';
import { Type } from 'typebox';
import { NonRetryableError } from '../errors.js';
import { defineJob } from '../job.js';

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Returns its input text after `delayMs` (default 0), with the process that ran it. */
export const echoJob = defineJob({
  name: 'conformance.relay-echo',
  input: Type.Object({ text: Type.String(), delayMs: Type.Optional(Type.Integer()) }),
  output: Type.Object({ text: Type.String(), pid: Type.Integer() }),
  defaults: { attempts: 1 },
  handler: async ({ text, delayMs }, ctx) => {
    if (delayMs !== undefined) await sleepUnlessAborted(delayMs, ctx.signal);
    return { text, pid: process.pid };
  },
});

/** Errors `failJob` throws, by kind. */
export const FAILURES = {
  /** A plain error with a `code`, as application code throws. */
  user: { name: 'TypeError', message: 'widget 42 has no price', code: 'E_WIDGET' },
  /** A ZapJobs error that skips the remaining attempts. */
  nonRetryable: { name: 'NonRetryableError', message: 'card 4242 was declined' },
} as const;

/** Fails in the way its input names; one attempt only. */
export const failJob = defineJob({
  name: 'conformance.relay-fail',
  input: Type.Object({
    kind: Type.Union([Type.Literal('user'), Type.Literal('nonRetryable'), Type.Literal('timeout')]),
  }),
  output: Type.Null(),
  defaults: { attempts: 1, timeoutMs: 100 },
  handler: async ({ kind }, ctx) => {
    if (kind === 'user') {
      const error = new TypeError(FAILURES.user.message);
      throw Object.assign(error, { code: FAILURES.user.code });
    }
    if (kind === 'nonRetryable') throw new NonRetryableError(FAILURES.nonRetryable.message);
    // Outlives the job's 100 ms timeout, which fails the attempt with JobTimeoutError.
    await sleepUnlessAborted(10_000, ctx.signal);
    return null;
  },
});

/**
 * Writes history: two log lines and two progress reports per attempt. The first attempt fails
 * with "first attempt fails", the second completes with `{ total }`.
 */
export const historyJob = defineJob({
  name: 'conformance.history-steps',
  input: Type.Object({ total: Type.Integer() }),
  output: Type.Object({ total: Type.Integer() }),
  defaults: { attempts: 2, backoff: { type: 'fixed', delayMs: 20 } },
  handler: async ({ total }, ctx) => {
    ctx.logger.info({ step: 'start' }, `attempt ${ctx.attempt} starts`);
    await ctx.progress({ done: 0, total, attempt: ctx.attempt });
    if (ctx.attempt === 1) throw new Error('first attempt fails');
    await ctx.progress({ done: total, total, attempt: ctx.attempt });
    ctx.logger.info({ step: 'end' }, `attempt ${ctx.attempt} ends`);
    return { total };
  },
});

/** Name of the span `tracedJob` opens inside its handler. */
export const HANDLER_SPAN_NAME = 'conformance handler work';

/** Opens a span of its own inside the handler, which must nest under the attempt's span. */
export const tracedJob = defineJob({
  name: 'conformance.telemetry-traced',
  input: Type.Object({ fail: Type.Optional(Type.Boolean()) }),
  output: Type.Object({ pid: Type.Integer() }),
  defaults: { attempts: 2, backoff: { type: 'fixed', delayMs: 10 } },
  handler: async ({ fail }, ctx) => {
    const span = trace.getTracer('conformance').startSpan(HANDLER_SPAN_NAME);
    span.end();
    if (fail === true) throw new RangeError(`attempt ${ctx.attempt} fails on purpose`);
    return { pid: process.pid };
  },
});

export const relayFixtureJobs = [echoJob, failJob, historyJob, tracedJob];
