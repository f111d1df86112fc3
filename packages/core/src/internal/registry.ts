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

  /** Adds a job; throws DuplicateJobError when another definition has its name. */
  register(job: AnyJob, source: string): void {
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

    const existing = this.#jobs.get(job.name);
    if (existing === job) return;
    if (existing !== undefined) throw new DuplicateJobError(job.name);

    compiledValidator(job.input);
    compiledValidator(job.output);
    this.#jobs.set(job.name, job);
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

  names(): string[] {
    return [...this.#jobs.keys()];
  }
}
