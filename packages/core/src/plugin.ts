/**
 * The plugin API: how workflows, sagas, durable execution and applications extend core
 * without reaching into its internals.
 */
import type { ZapJobs } from './client.js';
import type { JobContext } from './context.js';
import type { EventListener, ZapJobsEventName, ZapJobsEvents } from './events.js';
import type { AnyJob } from './job.js';
import type { Logger } from './logger.js';
import type { LeaseRef, Storage } from './storage/contract.js';

/** The run an attempt executes, as wrappers and context extenders see it. */
export interface ExecutionInfo {
  /** The job definition whose handler runs. */
  job: AnyJob;
  /** The run's parsed input. */
  input: unknown;
  /** The lease of this attempt, for fenced storage calls such as `putState`. */
  lease: LeaseRef;
  workerId: string;
  groupId: string | null;
  partitionKey: string | null;
  tenantId: string | null;
  metadata: Record<string, unknown> | null;
}

/**
 * Runs around a handler. Call `next()` once to run the inner wrappers and the handler, and
 * return what it returns (or a replacement output). Wrappers registered first run outermost.
 */
export type ExecutionWrapper = (
  ctx: JobContext,
  next: () => Promise<unknown>,
  info: ExecutionInfo,
) => Promise<unknown>;

/** Returns fields to merge into the handler's context before the handler runs. */
export type ContextExtender = (
  ctx: JobContext,
  info: ExecutionInfo,
) => Record<string, unknown> | Promise<Record<string, unknown>>;

/** The API object passed to a plugin's `setup`. */
export interface PluginApi {
  /** The client the plugin is installed in. */
  readonly client: ZapJobs<any>;
  /** The client's storage, for primitives such as state, events and dependencies. */
  readonly storage: Storage;
  /** The client's logger, bound to `plugin: <name>`. */
  readonly logger: Logger;
  /** Registers a job, as if it were passed in `new ZapJobs({ jobs })`. */
  registerJob(job: AnyJob): void;
  /** Subscribes to an event of the client's bus; returns an unsubscribe function. */
  on<K extends ZapJobsEventName>(type: K, listener: EventListener<K>): () => void;
  /** Emits an event, typically one the plugin declared by augmenting `ZapJobsEvents`. */
  emit<K extends ZapJobsEventName>(type: K, event: ZapJobsEvents[K]): void;
  /** Adds a wrapper around every handler execution. */
  wrapExecution(wrapper: ExecutionWrapper): void;
  /** Adds fields to every handler's context. */
  extendContext(extender: ContextExtender): void;
}

/** A plugin: a name and a setup function, run once by `ZapJobs.init`. */
export interface Plugin {
  /** Unique name, shown in logs. */
  name: string;
  /** Registers the plugin's jobs and hooks. The client awaits it during `init`. */
  setup(api: PluginApi): void | Promise<void>;
  /** Releases what `setup` acquired; called by `ZapJobs.close` before the storage closes. */
  close?(): void | Promise<void>;
}

/** Hooks collected from every plugin's setup. */
export interface PluginHooks {
  wrappers: ExecutionWrapper[];
  extenders: ContextExtender[];
}
