/**
 * ZapJobs: typed background jobs for Node.js. Define jobs with {@link defineJob}, enqueue
 * and inspect runs with a {@link ZapJobs} client, and run them with its workers.
 */
export {
  type EnqueueManyItem,
  type EnqueueManyOptions,
  type JobName,
  type JobNamed,
  ZapJobs,
  type ZapJobsOptions,
} from './client.js';
export type { JobContext } from './context.js';
export * from './errors.js';
export type {
  EventListener,
  ZapJobsEventName,
  ZapJobsEvents,
} from './events.js';
export {
  type AnyJob,
  type BackoffOptions,
  defineJob,
  type InputOf,
  isJob,
  type Job,
  type JobDefaults,
  type JobOptions,
  type NameOf,
  type OutputOf,
} from './job.js';
export {
  type ConsoleLike,
  consoleLogger,
  fromConsole,
  type Logger,
  type LogLevel,
  silentLogger,
} from './logger.js';
export type {
  ContextExtender,
  ExecutionInfo,
  ExecutionWrapper,
  Plugin,
  PluginApi,
} from './plugin.js';
export type {
  CountRunsOptions,
  Dependency,
  EnqueueOptions,
  EnqueueResult,
  ListEventsOptions,
  ListRunsOptions,
  Run,
  RunEvent,
} from './run.js';
export type {
  CancelResult,
  HistoryLevel,
  RunState,
  SerializedError,
  Storage,
} from './storage/contract.js';
export type { Worker, WorkerOptions, WorkerState } from './worker.js';
