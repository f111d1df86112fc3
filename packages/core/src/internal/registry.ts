/**
 * The jobs registered with a client, by name. Registering a job checks its definition and compiles its
 * schemas, so a broken definition fails when the client is built, not at the first enqueue.
 */
import { DuplicateJobError, InvalidOptionError, UnknownJobError } from '../errors.js';
import { type AnyJob, isJob } from '../job.js';
import { checkName } from './check.js';
import { checkJobDefaults } from './run-options.js';
import { compiledValidator } from './validation.js';

export class JobRegistry {
  readonly #jobs = new Map<string, AnyJob>();
  /** Names of jobs that ZapJobs itself defines, left out of `names()`. */
  readonly #internal = new Set<string>();

  /**
   * Definitions passed to `resolve` that are not registered but passed its checks, so that
   * enqueueing the same definition again skips them.
   */
  readonly #checked = new WeakSet<AnyJob>();

  /** Adds a job; throws DuplicateJobError when another definition has its name. */
  register(job: AnyJob, source: string): void {
    checkDefinition(job, source);
    const existing = this.#jobs.get(job.name);
    if (existing === job) return;
    if (existing !== undefined) throw new DuplicateJobError(job.name);

    compiledValidator(job.input);
    compiledValidator(job.output);
    this.#jobs.set(job.name, job);
  }

  /**
   * Returns the job a caller passed by name or by definition. A definition that is not
   * registered gets the checks `register` makes, without being registered. Throws
   * UnknownJobError for an unknown name, DuplicateJobError for a definition other than the one
   * registered under its name, and InvalidOptionError for anything else that is invalid.
   */
  resolve(job: unknown, option: string, operation: string): AnyJob {
    if (typeof job === 'string') return this.require(job);
    if (!isJob(job)) {
      throw new InvalidOptionError(option, job, 'a job definition or the name of a registered job');
    }
    const existing = this.#jobs.get(job.name);
    if (existing === job) return job;
    if (!this.#checked.has(job)) {
      checkDefinition(job, option);
      compiledValidator(job.input);
      compiledValidator(job.output);
    }
    if (existing !== undefined) throw new DuplicateJobError(job.name, operation);
    this.#checked.add(job);
    return job;
  }

  /** Adds a job that ZapJobs itself runs, such as the batch finalizer. */
  registerInternal(job: AnyJob): void {
    this.register(job, `internal job "${job.name}"`);
    this.#internal.add(job.name);
  }

  get(name: string): AnyJob | undefined {
    return this.#jobs.get(name);
  }

  /** Returns the job of that name, or throws UnknownJobError listing the known names. */
  require(name: string): AnyJob {
    const job = this.#jobs.get(name);
    if (job === undefined) throw new UnknownJobError(name, this.names());
    return job;
  }

  /** Names of the registered jobs, without ZapJobs' internal jobs. */
  names(): string[] {
    return [...this.#jobs.keys()].filter((name) => !this.#internal.has(name));
  }
}

/** Checks a definition's name, handler, schemas and defaults; throws InvalidOptionError. */
function checkDefinition(job: unknown, source: string): asserts job is AnyJob {
  if (!isJob(job)) {
    throw new InvalidOptionError(source, job, 'a job definition made by defineJob()');
  }
  checkName(`${source}.name`, job.name);
  if (typeof job.handler !== 'function') {
    throw new InvalidOptionError(`handler of job "${job.name}"`, job.handler, 'a function');
  }
  for (const key of ['input', 'output'] as const) {
    const schema: unknown = job[key];
    if (typeof schema !== 'object' || schema === null) {
      throw new InvalidOptionError(
        `${key} schema of job "${job.name}"`,
        schema,
        'a TypeBox schema',
      );
    }
  }
  checkJobDefaults(job);
}
