import type { Logger } from './logger.js';

/**
 * What a handler receives beside its input. Plugins add fields through
 * `PluginApi.extendContext`; declare them by augmenting this interface:
 *
 * ```ts
 * declare module '@zapjobs/core' {
 *   interface JobContext { tenant: string }
 * }
 * ```
 */
export interface JobContext {
  runId: string;
  job: string;
  queue: string;
  /** Tenant that owns the run, or null. Enqueues inside the handler default to it. */
  tenantId: string | null;
  /** 1 for the first execution, 2 for the first retry, and so on. */
  attempt: number;
  maxAttempts: number;
  /** Aborted on timeout, cancellation, lost lease or forced shutdown; `reason` names the cause. */
  signal: AbortSignal;
  /** Logger scoped to this run; with `full` history each line is also stored with the run. */
  logger: Logger;
  /** Stores progress (any serializable value) on the run and emits a `progress` event. */
  progress(value: unknown): Promise<void>;
  /** Saves a checkpoint that the next attempt of this run can load. */
  saveCheckpoint(value: unknown): Promise<void>;
  /** Loads the last saved checkpoint, or undefined on a first attempt. */
  loadCheckpoint<T = unknown>(): Promise<T | undefined>;
}
