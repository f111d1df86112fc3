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
export type {
  BatchCallbackOptions,
  BatchCreated,
  Batches,
  BatchMemberOptions,
  BatchRunSpec,
  BatchStatus,
  CreateBatchOptions,
} from './flow/batches.js';
export type {
  DeadLetter,
  DeadLetterFilter,
  DeadLetterListOptions,
  RedriveFilter,
} from './flow/dead-letter.js';
export type { Limits } from './flow/limits.js';
export type {
  ConcurrencyBurst,
  Limit,
  LimitBurst,
  LimitEvents,
  LimitOptions,
  LimitTarget,
  LimitUsage,
  RateBurst,
} from './flow/types.js';
export type { UniqueMode, UniqueOptions } from './flow/unique.js';
export { EXPORT_FORMAT, EXPORT_VERSION, type ExportFormat } from './history/export.js';
export type {
  ExportOptions,
  GroupTimeline,
  History,
  HistoryPoint,
  HistoryQuery,
  RunReplay,
  RunTimeline,
  TenantHistory,
  TimelineOptions,
} from './history/history.js';
export type { AttemptSummary, HistorySnapshot } from './history/replay.js';
export { RERUN_OF_KEY, type RunLinks } from './history/rerun.js';
export type {
  CompactOptions,
  EventCompaction,
  RetentionPolicy,
  RetentionResult,
} from './history/retention.js';
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
export type { EnqueueAndWaitOptions, WaitOptions } from './relay/options.js';
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
export type { Schedules, TenantSchedules } from './schedules/api.js';
export type { Scheduler, SchedulerState } from './schedules/scheduler.js';
export type {
  MisfirePolicy,
  OverlapPolicy,
  Schedule,
  ScheduleDeclaration,
  ScheduleEvents,
  ScheduleFireReport,
  ScheduleMisfireOptions,
  ScheduleRunOptions,
  SchedulerOptions,
  ScheduleSkippedEvent,
  ScheduleTimingSpec,
} from './schedules/types.js';
export type {
  CancelResult,
  HistoryLevel,
  RunState,
  SerializedError,
  Storage,
} from './storage/contract.js';
export type {
  FairnessSpec,
  TenantQuotaName,
  TenantQuotas,
  TenantStatus,
} from './storage/tenancy-contract.js';
export type { TelemetryOptions } from './telemetry/telemetry.js';
export type { DeleteTenantOptions, ListTenantsOptions, TenantAdmin } from './tenancy/admin.js';
export { currentTenantId, runWithTenant } from './tenancy/context.js';
export * from './tenancy/errors.js';
export type { FairnessAdmin, FairnessOptions } from './tenancy/fairness.js';
export type { Tenant, TenantOptions, TenantQuotasPatch } from './tenancy/options.js';
export {
  type FetchRequestLike,
  type NodeRequestLike,
  type RequestLike,
  type RequestTenantOptions,
  resolveRequestTenant,
  withRequestTenant,
} from './tenancy/request.js';
export type { TenantClient, TenantClientOptions } from './tenancy/tenant-client.js';
export { isTenantId, MAX_TENANT_ID_LENGTH } from './tenancy/tenant-id.js';
export type { Worker, WorkerOptions, WorkerState } from './worker.js';
