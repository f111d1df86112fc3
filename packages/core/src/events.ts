/**
 * The in-process, typed event bus of a client. Events describe what this process saw: the
 * worker that ran an attempt emits `job.started` and `job.completed` in its own process.
 */
import type { LimitEvents } from './flow/types.js';
import type { Logger } from './logger.js';
import type { ScheduleEvents } from './schedules/types.js';
import type { SerializedError } from './storage/contract.js';

/**
 * Events and their payloads. Plugins add their own by augmenting this interface:
 *
 * ```ts
 * declare module '@zapjobs/core' {
 *   interface ZapJobsEvents { 'audit.recorded': { runId: string } }
 * }
 * ```
 */
export interface ZapJobsEvents extends ScheduleEvents, LimitEvents {
  /**
   * A run was enqueued, or an idempotency key matched an existing run (`created: false`).
   * `tenantId` is the run's tenant (null without one); enqueues by plugins may leave it out.
   */
  'job.enqueued': {
    runId: string;
    job: string;
    queue: string;
    created: boolean;
    tenantId?: string | null;
  };
  /** A worker of this process started an attempt. */
  'job.started': {
    runId: string;
    job: string;
    queue: string;
    attempt: number;
    workerId: string;
    /** The run's tenant, or null; the same field on every `job.*` event below. */
    tenantId: string | null;
  };
  /** An attempt completed and its outcome was stored. */
  'job.completed': {
    runId: string;
    job: string;
    queue: string;
    tenantId: string | null;
    attempt: number;
    durationMs: number;
    output: unknown;
  };
  /** A run moved to dead letter: its last attempt failed, or it failed with NonRetryableError. */
  'job.failed': {
    runId: string;
    job: string;
    queue: string;
    tenantId: string | null;
    attempt: number;
    error: SerializedError;
  };
  /** An attempt failed and the run was scheduled to retry after `delayMs`. */
  'job.retrying': {
    runId: string;
    job: string;
    queue: string;
    tenantId: string | null;
    attempt: number;
    maxAttempts: number;
    delayMs: number;
    error: SerializedError;
  };
  /** This client cancelled a run. */
  'job.cancelled': { runId: string; tenantId: string | null };
  /** A lease expired without a heartbeat and this process reclaimed the run. */
  'job.stalled': {
    runId: string;
    job: string;
    queue: string;
    tenantId: string | null;
    attempt: number;
    willRetry: boolean;
  };
  /** A worker of this process started claiming. */
  'worker.started': { workerId: string; queues: readonly string[]; concurrency: number };
  /** A worker of this process stopped; `forced` when handlers were aborted. */
  'worker.stopped': { workerId: string; forced: boolean };
}

/** Name of an event. */
export type ZapJobsEventName = keyof ZapJobsEvents & string;

/** A listener of one event. A returned promise that rejects is logged like a throw. */
export type EventListener<K extends ZapJobsEventName> = (
  event: ZapJobsEvents[K],
) => void | Promise<void>;

/** Registers and calls listeners. A listener that throws is logged and the others still run. */
export class EventBus {
  readonly #listeners = new Map<string, Set<EventListener<any>>>();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Adds a listener and returns a function that removes it. */
  on<K extends ZapJobsEventName>(type: K, listener: EventListener<K>): () => void {
    if (typeof listener !== 'function') {
      throw new TypeError(`Listener for "${type}" must be a function, got ${typeof listener}.`);
    }
    let set = this.#listeners.get(type);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(type, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  /** Tells whether any listener is registered for `type`. */
  has(type: ZapJobsEventName): boolean {
    return (this.#listeners.get(type)?.size ?? 0) > 0;
  }

  /** Calls every listener of `type` in registration order, synchronously. */
  emit<K extends ZapJobsEventName>(type: K, event: ZapJobsEvents[K]): void {
    const set = this.#listeners.get(type);
    if (set === undefined || set.size === 0) return;
    if (set.size === 1) {
      // With one listener, `break` leaves any listener it adds for the next event.
      for (const listener of set) {
        this.#call(type, listener, event);
        break;
      }
      return;
    }
    // Iterates over a copy, so that listeners added or removed by a listener apply from the
    // next event.
    for (const listener of [...set]) this.#call(type, listener, event);
  }

  #call<K extends ZapJobsEventName>(
    type: K,
    listener: EventListener<K>,
    event: ZapJobsEvents[K],
  ): void {
    try {
      const result = listener(event);
      if (isPromiseLike(result)) {
        result.then(undefined, (error: unknown) => this.#report(type, error));
      }
    } catch (error) {
      this.#report(type, error);
    }
  }

  /** Removes every listener. */
  clear(): void {
    this.#listeners.clear();
  }

  #report(type: string, error: unknown): void {
    try {
      this.#logger.error(
        { err: error, event: type },
        `Listener for event "${type}" threw and was ignored: ${errorText(error)}`,
      );
    } catch {
      // A logger that throws must not break the caller either.
    }
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
