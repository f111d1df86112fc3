/**
 * Builds the scheduling and flow-control APIs of a client (`zap.schedules`, `zap.batches`,
 * `zap.limits`, `zap.deadLetter`) and registers the internal batch job.
 */
import type { ClientInternals } from '../internal/internals.js';
import type { JobRegistry } from '../internal/registry.js';
import { Schedules } from '../schedules/api.js';
import { Scheduler } from '../schedules/scheduler.js';
import type { SchedulerOptions } from '../schedules/types.js';
import { createBatchJob } from './batch-job.js';
import { Batches } from './batches.js';
import { DeadLetter } from './dead-letter.js';
import { Limits } from './limits.js';

export interface FlowApis {
  schedules: Schedules;
  batches: Batches;
  limits: Limits;
  deadLetter: DeadLetter;
  /** Creates a scheduler that `close` stops. */
  createScheduler(options?: SchedulerOptions): Scheduler;
  /** Stops every scheduler. */
  close(): Promise<void>;
}

export function createFlowApis(internals: ClientInternals, registry: JobRegistry): FlowApis {
  registry.registerInternal(createBatchJob(() => internals.storage, internals.bus));
  const schedules = new Schedules(internals);
  const schedulers = new Set<Scheduler>();
  return {
    schedules,
    batches: new Batches(internals),
    limits: new Limits(internals),
    deadLetter: new DeadLetter(internals),
    createScheduler(options) {
      const scheduler = new Scheduler(internals, schedules, options);
      schedulers.add(scheduler);
      return scheduler;
    },
    async close() {
      await Promise.all([...schedulers].map((scheduler) => scheduler.stop()));
      schedulers.clear();
    },
  };
}
