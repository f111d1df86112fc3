/**
 * Jobs shared by the conformance suite and the child worker processes it spawns, which must
 * run the same definitions.
 */
import { Type } from 'typebox';
import { defineJob } from '../job.js';

/**
 * Sleeps `ms[attempt - 1]` milliseconds (0 past the end), ignoring its signal so that only a
 * kill stops it, then reports the process and attempt that ran it.
 */
export const sleepJob = defineJob({
  name: 'conformance.child-sleep',
  input: Type.Object({ ms: Type.Array(Type.Integer({ minimum: 0 })) }),
  output: Type.Object({ pid: Type.Integer(), attempt: Type.Integer() }),
  defaults: { attempts: 3, backoff: { type: 'fixed', delayMs: 10 } },
  handler: async ({ ms }, ctx) => {
    await new Promise((resolve) => setTimeout(resolve, ms[ctx.attempt - 1] ?? 0));
    return { pid: process.pid, attempt: ctx.attempt };
  },
});

/** A short job for the many-workers test: returns its index and the process that ran it. */
export const recordJob = defineJob({
  name: 'conformance.child-record',
  input: Type.Object({ index: Type.Integer() }),
  output: Type.Object({ index: Type.Integer(), pid: Type.Integer() }),
  defaults: { attempts: 1 },
  handler: async ({ index }) => {
    await new Promise((resolve) => setTimeout(resolve, 5 + (index % 7)));
    return { index, pid: process.pid };
  },
});

export const fixtureJobs = [sleepJob, recordJob];
