/**
 * The scheduling and flow-control half of the conformance suite: schedules, misfires, timing,
 * deduplication, continuations, batches, dead letter and limits, through the client.
 */
import { describeFlowBatches } from './flow-batches.js';
import { describeFlowDedup } from './flow-dedup.js';
import { describeFlowLimits } from './flow-limits.js';
import { describeFlowTiming } from './flow-timing.js';
import type { ConformanceOptions } from './options.js';
import { describeScheduleApi } from './schedule-api.js';
import { describeScheduleFiring } from './schedule-firing.js';

/** Registers every scheduling and flow-control conformance test with vitest. */
export function describeFlow(options: ConformanceOptions): void {
  describeScheduleApi(options);
  describeScheduleFiring(options);
  describeFlowTiming(options);
  describeFlowDedup(options);
  describeFlowBatches(options);
  describeFlowLimits(options);
}
