/**
 * Turns an enqueue request into the `NewRun` a backend inserts. Every check happens here, so
 * a rejected enqueue never reaches the storage.
 */
import { ValidationError } from '../errors.js';
import { applyUniqueOption } from '../flow/unique.js';
import type { AnyJob } from '../job.js';
import type { EnqueueOptions } from '../run.js';
import type { NewRun } from '../storage/contract.js';
import { currentTenantId } from '../tenancy/context.js';
import {
  buildStoredMetadata,
  type ResolvedEnqueueOptions,
  resolveEnqueueOptions,
} from './run-options.js';
import { serializePayload } from './serialize.js';
import { uuidv7 } from './uuid.js';
import { checkSchema } from './validation.js';

export interface BuiltRun {
  run: NewRun;
  options: ResolvedEnqueueOptions;
}

/**
 * Checks options, serializes and validates the input, and builds the run to insert.
 * Throws InvalidOptionError, SerializationError, PayloadTooLargeError or ValidationError.
 */
export function buildNewRun(
  job: AnyJob,
  input: unknown,
  options: EnqueueOptions | undefined,
  maxPayloadBytes: number,
): BuiltRun {
  const resolved = resolveEnqueueOptions(job, options);

  // A parent's output replaces the input when the run is released; the worker checks it then.
  const fromParent = resolved.settings.inputFromParent === true;
  const serializedInput = serializePayload(fromParent && input === undefined ? null : input, {
    what: `Input of job "${job.name}"`,
    root: 'input',
    maxBytes: maxPayloadBytes,
  });
  const issues = fromParent ? [] : checkSchema(job.input, input);
  if (issues.length > 0) throw new ValidationError(job.name, issues);

  const run: NewRun = {
    id: uuidv7(),
    job: job.name,
    queue: resolved.queue,
    input: serializedInput,
    priority: resolved.priority,
    maxAttempts: resolved.maxAttempts,
    historyLevel: resolved.historyLevel,
  };
  if (resolved.runAt !== undefined) run.runAt = resolved.runAt;
  if (resolved.delayMs !== undefined && resolved.delayMs > 0) run.delayMs = resolved.delayMs;
  if (resolved.idempotencyKey !== undefined) {
    run.unique = {
      key: idempotencyUniqueKey(job.name, resolved.idempotencyKey),
      releaseOn: 'never',
      onConflict: 'ignore',
    };
  }
  if (options?.unique !== undefined) {
    applyUniqueOption(run, options.unique, {
      delayMs: options.delayMs,
      runAt: resolved.runAt,
      idempotencyKey: resolved.idempotencyKey,
    });
  }
  if (resolved.dependsOn !== undefined) run.dependsOn = resolved.dependsOn;
  if (resolved.groupId !== undefined) run.groupId = resolved.groupId;
  if (resolved.partitionKey !== undefined) run.partitionKey = resolved.partitionKey;
  // A run enqueued without a tenant inside a tenant scope (such as a handler of that
  // tenant's run) belongs to the scope's tenant.
  const tenantId = resolved.tenantId ?? currentTenantId();
  if (tenantId !== undefined) {
    run.tenantId = tenantId;
    // Keys are per tenant: another tenant's equal key neither finds nor replaces this run.
    if (run.unique !== undefined) run.unique.key = tenantUniqueKey(tenantId, run.unique.key);
  }

  const metadata = buildStoredMetadata(resolved.metadata, resolved.settings);
  if (metadata !== undefined) {
    run.metadata = serializePayload(metadata, {
      what: `Metadata of a run of job "${job.name}"`,
      root: 'metadata',
      maxBytes: maxPayloadBytes,
    });
  }
  return { run, options: resolved };
}

/**
 * Stored unique key of a tenant's run. Keys of runs without a tenant start with `idempotency:`
 * or `unique:`, and tenant ids contain no `/`, so no two tenants' keys can meet.
 */
export function tenantUniqueKey(tenantId: string, key: string): string {
  return `tenant:${tenantId}/${key}`;
}

/** Idempotency keys are unique per job: the stored unique key is prefixed with the job name. */
export function idempotencyUniqueKey(job: string, key: string): string {
  return `idempotency:${job}:${key}`;
}
