import type { Static, TSchema } from 'typebox';
import type { JobContext } from './context.js';
import type { HistoryLevel } from './storage/contract.js';

/**
 * How long to wait before the next attempt of a failed run.
 *
 * - `exponential`: `delayMs * 2^(attempt - 1)`, capped at `maxDelayMs`.
 * - `fixed`: `delayMs` every time.
 * - `custom`: `compute(attempt, error)` returns the delay in milliseconds.
 *
 * `jitter` (0 to 1, default 0.2 for exponential, 0 otherwise) spreads each delay uniformly
 * over `[delay * (1 - jitter), delay]`, so runs that failed together do not retry together.
 */
export type BackoffOptions =
  | { type: 'exponential'; delayMs: number; maxDelayMs?: number; jitter?: number }
  | { type: 'fixed'; delayMs: number; jitter?: number }
  | { type: 'custom'; compute: (attempt: number, error: unknown) => number };

/** Defaults a job applies to every run unless the enqueue options override them. */
export interface JobDefaults {
  /** Queue the run goes to. Default `default`. */
  queue?: string;
  /** Integer; higher runs first within a queue. Default 0. */
  priority?: number;
  /** Total executions allowed, counting the first: 3 means one run and two retries. Default 3. */
  attempts?: number;
  /** Delay before each retry. Default exponential from 1,000 ms, capped at 1 hour. */
  backoff?: BackoffOptions;
  /** Aborts the handler's `ctx.signal` and fails the attempt after this many ms. Default none. */
  timeoutMs?: number;
  /** History the run records: `full`, `lifecycle` or `off`. Default `full`. */
  historyLevel?: HistoryLevel;
  /**
   * Deletes the run, with its events and state values, when it completes, instead of keeping
   * it as `completed`. Afterwards `getRun` returns null and the history has nothing of it, so
   * `enqueueAndWait` rejects such runs. A run that other runs depend on or that belongs to a
   * group is kept, and so is a run that fails. Default false.
   */
  removeOnComplete?: boolean;
}

/** Options of {@link defineJob}. */
export interface JobOptions<I extends TSchema, O extends TSchema, N extends string = string> {
  /**
   * Unique name; runs refer to the job by it, so renaming strands queued runs. Its literal
   * type is kept, so a typed client can enqueue the job by name.
   */
  name: N;
  /** TypeBox schema of the input, checked at enqueue. */
  input: I;
  /** TypeBox schema of the output, checked when the handler returns. */
  output: O;
  handler: (input: Static<I>, ctx: JobContext) => Promise<Static<O>> | Static<O>;
  defaults?: JobDefaults;
}

/** A job definition: name, schemas, handler and defaults. */
export interface Job<
  I extends TSchema = TSchema,
  O extends TSchema = TSchema,
  N extends string = string,
> extends JobOptions<I, O, N> {
  readonly kind: 'zapjobs.job';
}

/** Any job definition, whatever its schemas and name. */
export type AnyJob = Job<any, any, string>;

/** Input type of a job, inferred from its input schema. */
export type InputOf<J> = J extends Job<infer I, any, any> ? Static<I> : never;

/** Output type of a job, inferred from its output schema. */
export type OutputOf<J> = J extends Job<any, infer O, any> ? Static<O> : never;

/** Name of a job as a literal type. */
export type NameOf<J> = J extends Job<any, any, infer N> ? N : never;

/** Defines a job. Types of `handler` and of enqueue calls are inferred from the schemas. */
export function defineJob<I extends TSchema, O extends TSchema, const N extends string>(
  options: JobOptions<I, O, N>,
): Job<I, O, N> {
  return { ...options, kind: 'zapjobs.job' };
}

/** Tells whether a value is a job definition made by {@link defineJob}. */
export function isJob(value: unknown): value is AnyJob {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { kind?: unknown }).kind === 'zapjobs.job'
  );
}
