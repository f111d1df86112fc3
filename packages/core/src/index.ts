export type { JobContext } from './context.js';
export * from './errors.js';
export {
  type AnyJob,
  type BackoffOptions,
  defineJob,
  type InputOf,
  type Job,
  type JobDefaults,
  type JobOptions,
  type OutputOf,
} from './job.js';
export type { Logger } from './logger.js';
export type { HistoryLevel, RunState, Storage } from './storage/contract.js';
