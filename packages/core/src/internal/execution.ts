/**
 * One attempt of a claimed run: build the context, run the plugin wrappers and the handler
 * under the run's timeout, check the output, and store the outcome fenced by the lease.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import type { JobContext } from '../context.js';
import {
  JobTimeoutError,
  NonRetryableError,
  OutputValidationError,
  UnknownJobError,
} from '../errors.js';
import { checkInputFromParent } from '../flow/continuations.js';
import type { AnyJob } from '../job.js';
import type { Logger } from '../logger.js';
import { childLogger } from '../logger.js';
import type { ContextExtender, ExecutionInfo } from '../plugin.js';
import type {
  ClaimedRun,
  CompleteRequest,
  FailRequest,
  LeaseRef,
  SerializedError,
} from '../storage/contract.js';
import { needsRunTenantScope, runInRunTenantScope } from '../tenancy/context.js';
import type { AttemptAbort } from './attempt-abort.js';
import { computeBackoffDelay, DEFAULT_BACKOFF } from './backoff.js';
import type { Batcher } from './batcher.js';
import { buildContext } from './context-builder.js';
import { errorMessage, serializeError } from './decode.js';
import type { ClientInternals } from './internals.js';
import { type EventSink, RunLogRecorder, runLogger } from './run-logger.js';
import { type RunSettings, splitStoredMetadata } from './run-options.js';
import { parsePayload, serializePayload } from './serialize.js';
import { checkSchema, compiledValidator } from './validation.js';

/** A run this worker holds a lease on. */
export interface ActiveRun {
  readonly run: ClaimedRun;
  readonly lease: LeaseRef;
  /** Aborted when the lease is lost, the run is cancelled, it times out, or the worker stops. */
  readonly abort: AttemptAbort;
  /** Set when the outcome must not be stored: lease lost, cancelled, or released at shutdown. */
  discarded: boolean;
  /** Set once the outcome is being stored; from then on the storage's fencing decides. */
  storing: boolean;
  /** Set when the handler returned or was abandoned, which frees the worker's slot. */
  handlerFinished: boolean;
  /** Local time by which the lease surely expired unless a heartbeat extended it. */
  leaseDeadline: number;
}

export interface ExecutionEnv {
  readonly internals: ClientInternals;
  readonly workerId: string;
  /** The worker's logger, bound to its id. */
  readonly logger: Logger;
  readonly completes: Batcher<CompleteRequest, boolean>;
  readonly fails: Batcher<FailRequest, boolean>;
  readonly events: EventSink;
  /** Marks the run's lease lost: aborts the handler with `reason` and discards its outcome. */
  loseLease(active: ActiveRun, reason: Error): void;
  /**
   * Frees the run's slot when its handler finished. The lease stays held, and heartbeats go
   * on, until the outcome is stored.
   */
  handlerFinished(active: ActiveRun): void;
  /** Aborted when the worker stops waiting for outcomes to be stored (forced stop). */
  storingAbandoned(): AbortSignal;
}

type Outcome =
  | { kind: 'completed'; output: unknown; serialized: string }
  | { kind: 'failed'; error: unknown };

/** Settings and metadata of a run that has no stored metadata. */
const NO_METADATA: { settings: RunSettings; metadata: null } = Object.freeze({
  settings: Object.freeze({}),
  metadata: null,
});

/**
 * Logger of one attempt, whose lines carry the run id, job and attempt. It is one object per
 * attempt and merges the fields only when a line is written, which the usual path never does.
 */
class RunBoundLogger implements Logger {
  readonly #base: Logger;
  readonly #run: ClaimedRun;

  constructor(base: Logger, run: ClaimedRun) {
    this.#base = base;
    this.#run = run;
  }

  #fields(fields: Record<string, unknown>): Record<string, unknown> {
    const run = this.#run;
    return { runId: run.id, job: run.job, attempt: run.attempt, ...fields };
  }

  debug(fields: Record<string, unknown>, message: string): void {
    this.#base.debug(this.#fields(fields), message);
  }

  info(fields: Record<string, unknown>, message: string): void {
    this.#base.info(this.#fields(fields), message);
  }

  warn(fields: Record<string, unknown>, message: string): void {
    this.#base.warn(this.#fields(fields), message);
  }

  error(fields: Record<string, unknown>, message: string): void {
    this.#base.error(this.#fields(fields), message);
  }

  child(bindings: Record<string, unknown>): Logger {
    return childLogger(this.#base, this.#fields(bindings));
  }
}

/** Whether an outcome was stored, and whether it took more than one try. */
interface SendResult {
  readonly stored: boolean;
  readonly retried: boolean;
}

const STORED_FIRST_TRY: SendResult = Object.freeze({ stored: true, retried: false });
const NOT_STORED_FIRST_TRY: SendResult = Object.freeze({ stored: false, retried: false });

/** First wait before storing an outcome again after a storage error, in ms. */
const STORE_RETRY_FIRST_MS = 50;
/** Maximum wait between tries to store an outcome, in ms. */
const STORE_RETRY_MAX_MS = 1_000;

/** Executes one attempt and stores its outcome. Never rejects. */
export async function executeAttempt(env: ExecutionEnv, active: ActiveRun): Promise<void> {
  const { run } = active;
  const startedAt = Date.now();
  const logger = new RunBoundLogger(env.logger, run);
  const { bus } = env.internals;
  if (bus.has('job.started')) {
    bus.emit('job.started', {
      runId: run.id,
      job: run.job,
      queue: run.queue,
      tenantId: run.tenantId,
      attempt: run.attempt,
      workerId: env.workerId,
    });
  }

  const recorder =
    run.historyLevel === 'full'
      ? new RunLogRecorder(env.events, run.id, run.attempt, (error) =>
          logger.warn(
            { err: error },
            `Failed to store a log line of run ${run.id}: ${errorMessage(error)}`,
          ),
        )
      : null;

  const job = env.internals.registry.get(run.job);
  const { settings, metadata } =
    run.metadata === null ? NO_METADATA : splitStoredMetadata(safeParse(run.metadata));
  const pending =
    job === undefined
      ? {
          kind: 'failed' as const,
          error: new UnknownJobError(run.job, env.internals.registry.names()),
        }
      : runHandler(env, active, job, settings, metadata, logger, recorder);
  // A handler that returns a value without a promise is settled without waiting.
  const outcome = pending instanceof Promise ? await pending : pending;

  const durationMs = Date.now() - startedAt;
  env.handlerFinished(active);
  // From here on the storage's fencing decides whether the outcome counts.
  if (!active.discarded) active.storing = true;
  if (recorder !== null) await recorder.flush();
  if (active.discarded) {
    logger.warn(
      { reason: describeReason(active.abort.reason) },
      `Outcome of run ${run.id} (attempt ${run.attempt}) was discarded: ` +
        errorMessage(active.abort.reason),
    );
    return;
  }

  if (outcome.kind === 'completed') {
    const remove = settings.removeOnComplete ?? job?.defaults?.removeOnComplete ?? false;
    await storeCompletion(env, active, logger, outcome, durationMs, remove);
  } else {
    await storeFailure(env, active, job, settings, logger, outcome.error);
  }
}

/**
 * Runs the handler. When it returns a value that is not a promise, returns the outcome itself:
 * nothing can abort an attempt while it runs synchronously. Otherwise returns a promise of the
 * outcome that settles when the handler does or when the attempt is aborted, whichever is first.
 */
function runHandler(
  env: ExecutionEnv,
  active: ActiveRun,
  job: AnyJob,
  settings: RunSettings,
  metadata: Record<string, unknown> | null,
  logger: Logger,
  recorder: RunLogRecorder | null,
): Outcome | Promise<Outcome> {
  const calledAt = Date.now();
  let execution: unknown;
  let thenable: boolean;
  try {
    if (settings.inputFromParent === true) checkInputFromParent(job, active.run);
    execution = invoke(env, active, job, metadata, logger, recorder);
    // Reading `then` runs user code too: a getter that throws fails the attempt.
    thenable = isThenable(execution);
  } catch (error) {
    return { kind: 'failed', error };
  }
  if (!thenable) return prepareOutput(env, job, execution);
  const timeoutMs = settings.timeoutMs ?? job.defaults?.timeoutMs;
  // The timeout counts from the call, so the handler's synchronous start is included.
  const remainingMs =
    timeoutMs === undefined ? undefined : Math.max(0, timeoutMs - (Date.now() - calledAt));
  return awaitHandler(env, active, job, execution as PromiseLike<unknown>, timeoutMs, remainingMs);
}

async function awaitHandler(
  env: ExecutionEnv,
  active: ActiveRun,
  job: AnyJob,
  execution: PromiseLike<unknown>,
  timeoutMs: number | undefined,
  remainingMs: number | undefined,
): Promise<Outcome> {
  const { run, abort } = active;
  const timer =
    timeoutMs === undefined
      ? null
      : setTimeout(() => abort.abort(new JobTimeoutError(run.job, timeoutMs)), remainingMs);
  try {
    // Rejects as soon as the attempt is aborted, so it ends on time even when the handler
    // ignores its signal.
    const output = await new Promise((resolve, reject) => {
      abort.onAbort(reject);
      execution.then(resolve, reject);
    });
    return prepareOutput(env, job, output);
  } catch (error) {
    return { kind: 'failed', error };
  } finally {
    if (timer !== null) clearTimeout(timer);
    abort.onAbort(null);
  }
}

/**
 * Calls the handler through the plugin wrappers and context extenders, inside the run's tenant
 * scope, which is outermost. Without wrappers or extenders, returns what the handler returned
 * and lets a synchronous throw propagate; otherwise returns a promise.
 */
function invoke(
  env: ExecutionEnv,
  active: ActiveRun,
  job: AnyJob,
  metadata: Record<string, unknown> | null,
  logger: Logger,
  recorder: RunLogRecorder | null,
): unknown {
  const { run } = active;
  const input = JSON.parse(run.input) as unknown;
  const ctx = buildContext(env, active, runLogger(logger, recorder), recorder);
  if (!needsRunTenantScope(run.tenantId))
    return callHandler(env, active, job, input, ctx, metadata);
  return runInRunTenantScope(run.tenantId, () =>
    callHandler(env, active, job, input, ctx, metadata),
  );
}

function callHandler(
  env: ExecutionEnv,
  active: ActiveRun,
  job: AnyJob,
  input: unknown,
  ctx: JobContext,
  metadata: Record<string, unknown> | null,
): unknown {
  const { extenders, wrappers } = env.internals.hooks;
  if (extenders.length === 0 && wrappers.length === 0) return job.handler(input, ctx);

  const { run } = active;
  const info: ExecutionInfo = {
    job,
    input,
    lease: active.lease,
    workerId: env.workerId,
    groupId: run.groupId,
    partitionKey: run.partitionKey,
    tenantId: run.tenantId,
    metadata,
  };
  const call = (index: number): Promise<unknown> => {
    const wrapper = wrappers[index];
    if (wrapper === undefined) {
      // A handler that throws synchronously rejects like an async one.
      try {
        return Promise.resolve(job.handler(input, ctx));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    let called = false;
    return wrapper(
      ctx,
      () => {
        if (called) return Promise.reject(new Error('An execution wrapper called next() twice.'));
        called = true;
        return call(index + 1);
      },
      info,
    );
  };
  if (extenders.length === 0) return call(0);
  return extendContext(ctx, info, extenders).then(() => call(0));
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** Merges what each context extender returns into `ctx`, in registration order. */
async function extendContext(
  ctx: JobContext,
  info: ExecutionInfo,
  extenders: readonly ContextExtender[],
): Promise<void> {
  for (const extend of extenders) Object.assign(ctx, await extend(ctx, info));
}

function prepareOutput(env: ExecutionEnv, job: AnyJob, output: unknown): Outcome {
  // A handler that returns nothing completes with null, when the schema allows it.
  const validator = compiledValidator(job.output);
  const value = output === undefined && !validator.Check(undefined) ? null : output;
  if (value === null && validator.Check(null)) {
    return { kind: 'completed', output: null, serialized: 'null' };
  }
  try {
    const serialized = serializePayload(value === undefined ? null : value, {
      what: `Output of job "${job.name}"`,
      root: 'output',
      maxBytes: env.internals.maxPayloadBytes,
    });
    const issues = checkSchema(job.output, value);
    if (issues.length > 0)
      return { kind: 'failed', error: new OutputValidationError(job.name, issues) };
    return { kind: 'completed', output: value === undefined ? null : value, serialized };
  } catch (error) {
    return { kind: 'failed', error };
  }
}

async function storeCompletion(
  env: ExecutionEnv,
  active: ActiveRun,
  logger: Logger,
  outcome: { output: unknown; serialized: string },
  durationMs: number,
  remove: boolean,
): Promise<void> {
  const { run, lease } = active;
  const request: CompleteRequest = {
    runId: lease.runId,
    leaseToken: lease.leaseToken,
    output: outcome.serialized,
    remove,
  };
  // sendOutcome, unrolled for the first try: this runs once per completed attempt.
  let sent: SendResult | null;
  try {
    sent = (await env.completes.add(request)) ? STORED_FIRST_TRY : NOT_STORED_FIRST_TRY;
  } catch (error) {
    sent = await sendAgain(env, active, logger, () => env.completes.add(request), error);
  }
  if (sent === null) return;
  // A try that reported an error may have committed, so a retry finds the lease gone.
  const stored = sent.stored || (sent.retried && (await completedEarlier(env, run, remove)));
  if (!stored) {
    logger.warn({}, `Run ${run.id} completed, but its lease was lost; the outcome was discarded`);
    return;
  }
  env.internals.bus.emit('job.completed', {
    runId: run.id,
    job: run.job,
    queue: run.queue,
    tenantId: run.tenantId,
    attempt: run.attempt,
    durationMs,
    output: outcome.output,
  });
}

async function storeFailure(
  env: ExecutionEnv,
  active: ActiveRun,
  job: AnyJob | undefined,
  settings: RunSettings,
  logger: Logger,
  thrown: unknown,
): Promise<void> {
  const { run, lease } = active;
  const error = serializeError(thrown);
  const nonRetryable = thrown instanceof NonRetryableError;
  const retryDelayMs =
    nonRetryable || run.attempt >= run.maxAttempts
      ? null
      : retryDelay(
          settings.backoff ?? job?.defaults?.backoff ?? DEFAULT_BACKOFF,
          run,
          thrown,
          logger,
        );

  const sent = await sendOutcome(env, active, logger, () =>
    env.fails.add({ ...lease, error, retryDelayMs }),
  );
  if (sent === null) return;
  if (!sent.stored) {
    logger.warn(
      {},
      sent.retried
        ? `Run ${run.id} failed, and a retried store found its lease no longer held: an ` +
            'earlier try that reported an error stored the failure, or the lease expired'
        : `Run ${run.id} failed, but its lease was lost; the outcome was discarded`,
    );
    return;
  }

  const attempts = `attempt ${run.attempt} of ${run.maxAttempts}`;
  if (retryDelayMs !== null) {
    logger.warn(
      { err: thrown, delayMs: retryDelayMs },
      `Run ${run.id} of job "${run.job}" failed on ${attempts}, retrying in ${retryDelayMs} ms: ` +
        error.message,
    );
    env.internals.bus.emit('job.retrying', {
      runId: run.id,
      job: run.job,
      queue: run.queue,
      tenantId: run.tenantId,
      attempt: run.attempt,
      maxAttempts: run.maxAttempts,
      delayMs: retryDelayMs,
      error,
    });
    return;
  }

  const why = nonRetryable ? ' with a non-retryable error' : '';
  logger.error(
    { err: thrown },
    `Run ${run.id} of job "${run.job}" failed on ${attempts}${why} and moved to dead letter: ` +
      error.message,
  );
  emitFailed(env, run, error);
}

/**
 * Sends an outcome, retrying failed sends with exponential backoff while the lease is held:
 * until the lease deadline as it stood at the first failure, or earlier when a heartbeat
 * finds the lease gone or the worker abandons stored outcomes. The run stays in the worker's
 * active set meanwhile, so heartbeats keep its lease. Returns the storage's result and
 * whether it came from a retry, or null after giving up; the lease then expires and the run
 * is retried by stall recovery.
 */
async function sendOutcome(
  env: ExecutionEnv,
  active: ActiveRun,
  logger: Logger,
  send: () => Promise<boolean>,
): Promise<SendResult | null> {
  try {
    return (await send()) ? STORED_FIRST_TRY : NOT_STORED_FIRST_TRY;
  } catch (error) {
    return sendAgain(env, active, logger, send, error);
  }
}

/** Tries again to store an outcome whose first try failed with `firstError`. */
async function sendAgain(
  env: ExecutionEnv,
  active: ActiveRun,
  logger: Logger,
  send: () => Promise<boolean>,
  firstError: unknown,
): Promise<SendResult | null> {
  const { run } = active;
  const retryDeadline = active.leaseDeadline;
  let delayMs = STORE_RETRY_FIRST_MS;
  let error = firstError;
  for (let failures = 1; ; failures++) {
    const abandoned = env.storingAbandoned().aborted;
    const waitMs = delayMs * (0.5 + Math.random() / 2);
    const deadline = Math.min(retryDeadline, active.leaseDeadline);
    if (abandoned || Date.now() + waitMs >= deadline) {
      const reason = abandoned ? 'the worker is stopping' : 'its lease expires';
      logger.error(
        { err: error, tries: failures },
        `Failed to store the outcome of run ${run.id} (attempt ${run.attempt}) after ` +
          `${failures} tries; giving up because ${reason}. The run is retried once its lease ` +
          `expires: ${errorMessage(error)}`,
      );
      return null;
    }
    if (failures === 1) {
      logger.warn(
        { err: error },
        `Failed to store the outcome of run ${run.id} (attempt ${run.attempt}); retrying ` +
          `while its lease is held: ${errorMessage(error)}`,
      );
    }
    await sleep(waitMs, undefined, { signal: env.storingAbandoned() }).catch(() => undefined);
    delayMs = Math.min(delayMs * 2, STORE_RETRY_MAX_MS);
    try {
      return { stored: await send(), retried: true };
    } catch (thrown) {
      error = thrown;
    }
  }
}

/** Checks whether a run was completed by this attempt, after a complete that reported an error. */
async function completedEarlier(
  env: ExecutionEnv,
  run: ClaimedRun,
  remove: boolean,
): Promise<boolean> {
  try {
    const record = await env.internals.storage.getRun(run.id);
    // A completion with `remove` deletes the run, so a missing run means that it was stored.
    if (record === null) return remove;
    // The start time distinguishes this attempt from a later claim with the same number and
    // worker, which follows when a server crash undoes a claim that was not yet on disk.
    return (
      record.state === 'completed' &&
      record.attempt === run.attempt &&
      record.workerId === env.workerId &&
      record.startedAt === run.startedAt
    );
  } catch {
    return false;
  }
}

function emitFailed(env: ExecutionEnv, run: ClaimedRun, error: SerializedError): void {
  env.internals.bus.emit('job.failed', {
    runId: run.id,
    job: run.job,
    queue: run.queue,
    tenantId: run.tenantId,
    attempt: run.attempt,
    error,
  });
}

function retryDelay(
  backoff: NonNullable<RunSettings['backoff']>,
  run: ClaimedRun,
  error: unknown,
  logger: Logger,
): number {
  try {
    return computeBackoffDelay(backoff, run.attempt, error);
  } catch (backoffError) {
    logger.error(
      { err: backoffError, runId: run.id },
      `Backoff of job "${run.job}" failed; using the default backoff: ${errorMessage(backoffError)}`,
    );
    return computeBackoffDelay(DEFAULT_BACKOFF, run.attempt, error);
  }
}

function safeParse(json: string | null): unknown {
  try {
    return parsePayload(json);
  } catch {
    return null;
  }
}

function describeReason(reason: unknown): string {
  return typeof reason === 'object' && reason !== null && 'code' in reason
    ? String((reason as { code: unknown }).code)
    : 'unknown';
}
