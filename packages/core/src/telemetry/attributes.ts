/**
 * Span and metric attribute names. Messaging attributes follow the OpenTelemetry semantic
 * conventions for messaging systems (semantic conventions 1.27 and later); attributes with no
 * convention use the `zapjobs.` namespace.
 */
import type { Attributes } from '@opentelemetry/api';

/** Name of the tracer and meter: the instrumentation scope. */
export const INSTRUMENTATION_SCOPE = '@zapjobs/core';

/** Value of `messaging.system` on every span and metric. */
export const MESSAGING_SYSTEM = 'zapjobs';

export const ATTR_MESSAGING_SYSTEM = 'messaging.system';
export const ATTR_OPERATION_TYPE = 'messaging.operation.type';
export const ATTR_OPERATION_NAME = 'messaging.operation.name';
export const ATTR_DESTINATION = 'messaging.destination.name';
export const ATTR_MESSAGE_ID = 'messaging.message.id';
export const ATTR_BATCH_COUNT = 'messaging.batch.message_count';
export const ATTR_ERROR_TYPE = 'error.type';
export const ATTR_JOB = 'zapjobs.job.name';
export const ATTR_TENANT = 'zapjobs.tenant.id';
export const ATTR_GROUP = 'zapjobs.group.id';
export const ATTR_SKIP_REASON = 'zapjobs.schedule.skip_reason';
export const ATTR_ATTEMPT = 'zapjobs.run.attempt';
export const ATTR_MAX_ATTEMPTS = 'zapjobs.run.max_attempts';
export const ATTR_CREATED = 'zapjobs.run.created';
export const ATTR_OUTCOME = 'zapjobs.run.outcome';
export const ATTR_WORKER = 'zapjobs.worker.id';
export const ATTR_LIMIT_SCOPE = 'zapjobs.limit.scope';
export const ATTR_LIMIT_KIND = 'zapjobs.limit.kind';

/** Messaging operations ZapJobs reports: enqueue one run, create each run of a batch, run one. */
export type MessagingOperation = 'send' | 'create' | 'process';

/** What happened to an attempt, as recorded on its span and duration histogram. */
export type AttemptOutcome = 'completed' | 'retrying' | 'failed' | 'discarded';

/** The fields of a run that spans and metrics describe. */
export interface RunLabels {
  id: string;
  job: string;
  queue: string;
  tenantId?: string | null | undefined;
  groupId?: string | null | undefined;
}

/** Span name by the messaging convention: `{operation} {destination}`. */
export function spanName(operation: MessagingOperation, queue: string | null): string {
  return queue === null ? operation : `${operation} ${queue}`;
}

/** Attributes of a span about one run. */
export function runSpanAttributes(run: RunLabels, operation: MessagingOperation): Attributes {
  const attributes: Attributes = {
    [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM,
    [ATTR_OPERATION_TYPE]: operation,
    [ATTR_OPERATION_NAME]: operation,
    [ATTR_DESTINATION]: run.queue,
    [ATTR_MESSAGE_ID]: run.id,
    [ATTR_JOB]: run.job,
  };
  if (run.tenantId) attributes[ATTR_TENANT] = run.tenantId;
  if (run.groupId) attributes[ATTR_GROUP] = run.groupId;
  return attributes;
}

/**
 * Attributes of a metric point. Only the queue, job and tenant label metrics, so the number
 * of time series stays bounded by the application's queues, jobs and tenants.
 */
export function metricAttributes(
  queue: string,
  job: string,
  tenantId: string | null | undefined,
): Attributes {
  const attributes: Attributes = {
    [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM,
    [ATTR_DESTINATION]: queue,
    [ATTR_JOB]: job,
  };
  if (tenantId) attributes[ATTR_TENANT] = tenantId;
  return attributes;
}

/** The queue every run of a batch goes to, or null when they go to several. */
export function commonQueue(runs: readonly { queue: string }[]): string | null {
  const first = runs[0]?.queue ?? null;
  return runs.every((run) => run.queue === first) ? first : null;
}
