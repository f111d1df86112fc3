/**
 * Continuations: a run that waits for a parent (`dependsOn`) and may take the parent's output
 * as its input (`passOutput`). The storage replaces the input when it releases the run, so the
 * worker checks the received input against the job's input schema before the handler runs.
 */
import { NonRetryableError, ValidationError } from '../errors.js';
import { checkSchema } from '../internal/validation.js';
import type { AnyJob } from '../job.js';

/**
 * Throws NonRetryableError, which moves the run to dead letter at once, when the input a
 * parent passed does not match the job's input schema: another attempt would get the same
 * input.
 */
export function checkInputFromParent(job: AnyJob, run: { id: string; input: string }): void {
  const issues = checkSchema(job.input, JSON.parse(run.input) as unknown);
  if (issues.length === 0) return;
  const cause = new ValidationError(job.name, issues);
  const list = issues.map((issue) => `  - ${issue.path || '(root)'}: ${issue.message}`).join('\n');
  throw new NonRetryableError(
    `The output that a parent run passed as input to run ${run.id} of job "${job.name}" does ` +
      `not match the job's input schema: ${issues.length} violation(s)\n${list}\n` +
      "Make the parent's output match this input schema, or enqueue without passOutput.",
    { cause },
  );
}
