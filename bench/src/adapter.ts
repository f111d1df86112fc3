/**
 * The interface every benchmarked system implements, so that one harness drives ZapJobs, its
 * peers and the raw "no library" limits the same way.
 *
 * A run of a system happens in one runner process (setup, enqueue, watching the store,
 * teardown) and one or more worker processes (open, startWorker, close). Both sides build the
 * adapter from the same {@link RunContext}, which names the fresh schema, key prefix or file
 * that isolates this run from every other.
 */

/** What a benchmark job carries. Every system stores it as its job's input. */
export interface JobPayload {
  /** Epoch milliseconds (fractional) just before the enqueue call. */
  sentAt: number;
  /** Epoch milliseconds at which a delayed job is due; set only on delayed jobs. */
  dueAt?: number;
  /** Rounds of SHA-256 over 1 KiB that the handler computes; absent for a no-op job. */
  cpuRounds?: number;
  /** Which sample the handler records: enqueue-to-start latency or lateness of a due time. */
  sample?: 'latency' | 'lateness';
}

/** The harness's handler; an adapter calls it once per job execution, with the job's payload. */
export type JobHandler = (payload: JobPayload) => void;

/** Names the servers and the fresh state of one run. */
export interface RunContext {
  /** Short unique id of the run: lowercase letters and digits. */
  runId: string;
  pgUrl: string;
  /** Fresh PostgreSQL schema for this run; created by the system or by setup, dropped after. */
  pgSchema: string;
  redisUrl: string;
  /** Fresh Redis key prefix for this run; every key under it is deleted after the run. */
  redisPrefix: string;
  /** Fresh SQLite database file in a temporary directory that is removed after the run. */
  sqlitePath: string;
  /** Jobs each worker process runs at once in this run, for systems that configure it at setup. */
  concurrency: number;
}

export interface WorkerOptions {
  /** Jobs run at once in this process. */
  concurrency: number;
  handler: JobHandler;
}

export interface RunningWorker {
  /** Stops claiming and waits for running jobs; resolves when the worker has stopped. */
  stop(): Promise<void>;
}

export interface SystemAdapter {
  /** Runner side: creates this run's fresh store (schema, tables, queue) and opens a client. */
  setup(): Promise<void>;
  /** Worker side: opens a client on the store that setup created. */
  open(): Promise<void>;
  enqueueOne(payload: JobPayload): Promise<void>;
  /** Enqueues a batch with the system's bulk API (see {@link SystemTraits.bulkEnqueue}). */
  enqueueMany(payloads: JobPayload[]): Promise<void>;
  /** Enqueues a job that is due `delayMs` after now. */
  enqueueDelayed(payload: JobPayload, delayMs: number): Promise<void>;
  /** Jobs enqueued in this run that the store does not yet show as completed. */
  remaining(): Promise<number>;
  startWorker(options: WorkerOptions): Promise<RunningWorker>;
  /**
   * Enqueues a job and waits until a worker in another process completed it; present when
   * {@link SystemTraits.relay} is true. Resolves true when it completed, false when it had not
   * completed `timeoutMs` after the call; rejects when the job failed.
   */
  enqueueAndWait?(payload: JobPayload, timeoutMs: number): Promise<boolean>;
  /** Closes the clients that setup or open created. */
  close(): Promise<void>;
  /** Runner side, after every worker process exited: deletes this run's state. */
  teardown(): Promise<void>;
}

/** Single enqueue calls in flight at once when a system without a bulk API enqueues a batch. */
export const UNBATCHED_IN_FLIGHT = 16;

/** Enqueues a batch with single calls, {@link UNBATCHED_IN_FLIGHT} at a time. */
export async function enqueueUnbatched(
  payloads: readonly JobPayload[],
  enqueueOne: (payload: JobPayload) => Promise<void>,
): Promise<void> {
  for (let offset = 0; offset < payloads.length; offset += UNBATCHED_IN_FLIGHT) {
    const slice = payloads.slice(offset, offset + UNBATCHED_IN_FLIGHT);
    await Promise.all(slice.map((payload) => enqueueOne(payload)));
  }
}

/** What a system can do; the harness skips or labels a scenario a system cannot run. */
export interface SystemTraits {
  /** False when the system has no bulk API and enqueueMany sends single enqueue calls, up to
   * {@link UNBATCHED_IN_FLIGHT} at a time. */
  bulkEnqueue: boolean;
  /** False when the system cannot delay a job. */
  delayedJobs: boolean;
  /** False for the raw limits, whose claim loop ignores the scenario's concurrency. */
  concurrency: boolean;
  /** False for the raw limits, which have no wake-up path for a single new job. */
  latency: boolean;
  /** True when the system can enqueue a job and wait for its completion (see
   * {@link SystemAdapter.enqueueAndWait}); only such systems run a relay scenario. */
  relay: boolean;
}

export type Backend = 'sqlite' | 'postgres' | 'redis';

/** One benchmarked system in one configuration. */
export interface SystemSpec {
  /** Stable id used on the command line and in the JSON results, such as `graphile-best`. */
  id: string;
  /** The product, such as `graphile-worker`. */
  product: string;
  family: 'zapjobs' | 'peer' | 'limit';
  backend: Backend;
  config: 'default' | 'best';
  /** The configuration in words, for RESULTS.md. */
  configDescription: string;
  /** npm packages whose versions RESULTS.md lists for this system. */
  packages: string[];
  traits: SystemTraits;
  /** Why the quick profile leaves this system out, if it does; the full profile runs it. */
  fullProfileOnly?: string;
  /** Loads the adapter module; a load failure marks the system as not run, with the reason. */
  load(): Promise<(context: RunContext) => SystemAdapter>;
}
