/**
 * Builds the `JobContext` a handler receives. Progress and checkpoint writes are fenced by the
 * attempt's lease: when the lease is gone they abort the attempt and throw LeaseLostError.
 */
import type { JobContext } from '../context.js';
import { LeaseLostError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ActiveRun, ExecutionEnv } from './execution.js';
import type { RunLogRecorder } from './run-logger.js';
import { parsePayload, serializePayload } from './serialize.js';
import { callStorage } from './storage-call.js';

/** State key under which `ctx.saveCheckpoint` stores its value. */
export const CHECKPOINT_STATE_KEY = 'checkpoint';

/**
 * Builds the context of one attempt. Progress and checkpoint writes first wait for the log
 * lines written so far to be stored (`recorder`), so a run's history keeps the order in which
 * the handler wrote it.
 */
export function buildContext(
  env: ExecutionEnv,
  active: ActiveRun,
  logger: Logger,
  recorder: RunLogRecorder | null,
): JobContext {
  return new AttemptContext(env, active, logger, recorder);
}

type ContextMethods = Pick<JobContext, 'progress' | 'saveCheckpoint' | 'loadCheckpoint'>;

/**
 * Context of one attempt. Its fields are own properties; `signal` and the methods are accessors
 * of the class, which a handler may still destructure. The signal is created on first read (see
 * AttemptAbort), and each method is bound to the attempt on first read, so an attempt that
 * reads neither allocates neither. An object literal with accessors would get a hidden class of
 * its own for every attempt.
 */
class AttemptContext implements JobContext {
  runId: string;
  job: string;
  queue: string;
  tenantId: string | null;
  attempt: number;
  maxAttempts: number;
  logger: Logger;
  readonly #env: ExecutionEnv;
  readonly #active: ActiveRun;
  readonly #recorder: RunLogRecorder | null;
  #progress: ContextMethods['progress'] | null = null;
  #saveCheckpoint: ContextMethods['saveCheckpoint'] | null = null;
  #loadCheckpoint: ContextMethods['loadCheckpoint'] | null = null;

  constructor(
    env: ExecutionEnv,
    active: ActiveRun,
    logger: Logger,
    recorder: RunLogRecorder | null,
  ) {
    const { run } = active;
    this.runId = run.id;
    this.job = run.job;
    this.queue = run.queue;
    this.tenantId = run.tenantId;
    this.attempt = run.attempt;
    this.maxAttempts = run.maxAttempts;
    this.logger = logger;
    this.#env = env;
    this.#active = active;
    this.#recorder = recorder;
  }

  get signal(): AbortSignal {
    return this.#active.abort.signal;
  }

  /**
   * Replaces the signal, as a plugin may (an extender returning `signal`, a wrapper assigning
   * it). The replacement becomes an own field; the method setters below do the same.
   */
  set signal(value: AbortSignal) {
    defineOwn(this, 'signal', value);
  }

  get progress(): ContextMethods['progress'] {
    this.#progress ??= (value) => setProgress(this.#env, this.#active, this.#recorder, value);
    return this.#progress;
  }

  set progress(value: ContextMethods['progress']) {
    defineOwn(this, 'progress', value);
  }

  get saveCheckpoint(): ContextMethods['saveCheckpoint'] {
    this.#saveCheckpoint ??= (value) =>
      saveCheckpoint(this.#env, this.#active, this.#recorder, value);
    return this.#saveCheckpoint;
  }

  set saveCheckpoint(value: ContextMethods['saveCheckpoint']) {
    defineOwn(this, 'saveCheckpoint', value);
  }

  get loadCheckpoint(): ContextMethods['loadCheckpoint'] {
    this.#loadCheckpoint ??= <T = unknown>() => loadCheckpoint<T>(this.#env, this.#active);
    return this.#loadCheckpoint;
  }

  set loadCheckpoint(value: ContextMethods['loadCheckpoint']) {
    defineOwn(this, 'loadCheckpoint', value);
  }
}

function defineOwn(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    writable: true,
    enumerable: true,
    configurable: true,
  });
}

async function setProgress(
  env: ExecutionEnv,
  active: ActiveRun,
  recorder: RunLogRecorder | null,
  value: unknown,
): Promise<void> {
  const { run, lease } = active;
  const { storage, maxPayloadBytes } = env.internals;
  const serialized = serializePayload(value, {
    what: `Progress of run ${run.id}`,
    root: 'progress',
    maxBytes: maxPayloadBytes,
  });
  await recorder?.flush();
  const leaseHeld = await callStorage(storage, 'setProgress', () =>
    storage.setProgress(lease, serialized),
  );
  if (!leaseHeld) throw leaseLost(env, active);
}

async function saveCheckpoint(
  env: ExecutionEnv,
  active: ActiveRun,
  recorder: RunLogRecorder | null,
  value: unknown,
): Promise<void> {
  const { run, lease } = active;
  const { storage, maxPayloadBytes } = env.internals;
  const serialized = serializePayload(value, {
    what: `Checkpoint of run ${run.id}`,
    root: 'checkpoint',
    maxBytes: maxPayloadBytes,
  });
  await recorder?.flush();
  const leaseHeld = await callStorage(storage, 'putState', () =>
    storage.putState(run.id, CHECKPOINT_STATE_KEY, serialized, { lease }),
  );
  if (!leaseHeld) throw leaseLost(env, active);
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
}

async function loadCheckpoint<T>(env: ExecutionEnv, active: ActiveRun): Promise<T | undefined> {
  const { storage } = env.internals;
  const { run } = active;
  const stored = await callStorage(storage, 'getState', () =>
    storage.getState(run.id, CHECKPOINT_STATE_KEY),
  );
  return stored === null ? undefined : (parsePayload(stored) as T);
}

/** Marks the attempt's lease lost, which aborts it, and returns the error to throw. */
function leaseLost(env: ExecutionEnv, active: ActiveRun): LeaseLostError {
  const error = new LeaseLostError(active.run.id);
  env.loseLease(active, error);
  return error;
}
