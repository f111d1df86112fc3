/**
 * Builds the `JobContext` a handler receives. Progress and checkpoint writes are fenced by the
 * attempt's lease: when the lease is gone they abort the attempt and throw LeaseLostError.
 */
import type { JobContext } from '../context.js';
import { LeaseLostError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ClaimedRun } from '../storage/contract.js';
import type { AttemptAbort } from './attempt-abort.js';
import type { ActiveRun, ExecutionEnv } from './execution.js';
import { parsePayload, serializePayload } from './serialize.js';
import { callStorage } from './storage-call.js';

/** State key under which `ctx.saveCheckpoint` stores its value. */
export const CHECKPOINT_STATE_KEY = 'checkpoint';

/**
 * `flushLogs` resolves once the log lines written so far are stored. Progress and checkpoint
 * writes wait for it, so a run's history keeps the order in which the handler wrote it.
 */
export function buildContext(
  env: ExecutionEnv,
  active: ActiveRun,
  logger: Logger,
  flushLogs: () => Promise<void>,
): JobContext {
  const { run, lease, abort } = active;
  const { storage, maxPayloadBytes } = env.internals;

  const leaseLost = (): LeaseLostError => {
    const error = new LeaseLostError(run.id);
    env.loseLease(active, error);
    return error;
  };

  return new AttemptContext(run, logger, abort, {
    async progress(value: unknown): Promise<void> {
      const serialized = serializePayload(value, {
        what: `Progress of run ${run.id}`,
        root: 'progress',
        maxBytes: maxPayloadBytes,
      });
      await flushLogs();
      const held = await callStorage(storage, 'setProgress', () =>
        storage.setProgress(lease, serialized),
      );
      if (!held) throw leaseLost();
    },

    async saveCheckpoint(value: unknown): Promise<void> {
      const serialized = serializePayload(value, {
        what: `Checkpoint of run ${run.id}`,
        root: 'checkpoint',
        maxBytes: maxPayloadBytes,
      });
      await flushLogs();
      const held = await callStorage(storage, 'putState', () =>
        storage.putState(run.id, CHECKPOINT_STATE_KEY, serialized, { lease }),
      );
      if (!held) throw leaseLost();
      if (run.historyLevel === 'full') {
        const sizeBytes = Buffer.byteLength(serialized, 'utf8');
        void env.events
          .append({
            runId: run.id,
            type: 'checkpoint',
            attempt: run.attempt,
            data: JSON.stringify({ sizeBytes }),
          })
          .catch(() => undefined);
      }
    },

    async loadCheckpoint<T = unknown>(): Promise<T | undefined> {
      const stored = await callStorage(storage, 'getState', () =>
        storage.getState(run.id, CHECKPOINT_STATE_KEY),
      );
      return stored === null ? undefined : (parsePayload(stored) as T);
    },
  });
}

type ContextMethods = Pick<JobContext, 'progress' | 'saveCheckpoint' | 'loadCheckpoint'>;

/**
 * Context of one attempt. Its fields and methods are own properties, so a handler may
 * destructure them. `signal` is an accessor of the class, and the signal is created on first
 * read (see AttemptAbort). An object literal with accessors would get a hidden class of its
 * own for every attempt.
 */
class AttemptContext implements JobContext {
  runId: string;
  job: string;
  queue: string;
  tenantId: string | null;
  attempt: number;
  maxAttempts: number;
  logger: Logger;
  progress: ContextMethods['progress'];
  saveCheckpoint: ContextMethods['saveCheckpoint'];
  loadCheckpoint: ContextMethods['loadCheckpoint'];
  readonly #abort: AttemptAbort;

  constructor(run: ClaimedRun, logger: Logger, abort: AttemptAbort, methods: ContextMethods) {
    this.runId = run.id;
    this.job = run.job;
    this.queue = run.queue;
    this.tenantId = run.tenantId;
    this.attempt = run.attempt;
    this.maxAttempts = run.maxAttempts;
    this.logger = logger;
    this.progress = methods.progress;
    this.saveCheckpoint = methods.saveCheckpoint;
    this.loadCheckpoint = methods.loadCheckpoint;
    this.#abort = abort;
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /**
   * Replaces the signal, as a plugin may (an extender returning `signal`, a wrapper assigning
   * it). The replacement becomes an own field.
   */
  set signal(value: AbortSignal) {
    Object.defineProperty(this, 'signal', {
      value,
      writable: true,
      enumerable: true,
      configurable: true,
    });
  }
}
