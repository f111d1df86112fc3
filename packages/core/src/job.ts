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
  /** Which events the run records. Default `full`. */
  historyLevel?: HistoryLevel;
}

/** Options of {@link defineJob}. */
export interface JobOptions<I extends TSchema, O extends TSchema> {
  /** Unique name; runs refer to the job by it, so renaming strands queued runs. */
  name: string;
  /** TypeBox schema of the input, checked at enqueue. */
  input: I;
  /** TypeBox schema of the output, checked when the handler returns. */
  output: O;
  handler: (input: Static<I>, ctx: JobContext) => Promise<Static<O>> | Static<O>;
  defaults?: JobDefaults;
}

/** A job definition: name, schemas, handler and defaults. */
export interface Job<I extends TSchema = TSchema, O extends TSchema = TSchema>
  extends JobOptions<I, O> {
  readonly kind: 'zapjobs.job';
}

/** Any job definition, whatever its schemas. */
export type AnyJob = Job<any, any>;

/** Input type of a job, inferred from its input schema. */
export type InputOf<J> = J extends Job<infer I, TSchema> ? Static<I> : never;

/** Output type of a job, inferred from its output schema. */
export type OutputOf<J> = J extends Job<TSchema, infer O> ? Static<O> : never;

/** Defines a job. Types of `handler` and of enqueue calls are inferred from the schemas. */
export function defineJob<I extends TSchema, O extends TSchema>(
  options: JobOptions<I, O>,
): Job<I, O> {
  return { ...options, kind: 'zapjobs.job' };
}
