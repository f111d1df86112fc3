/**
 * Conversions between stored records and the client's public shapes.
 */
import type { Run, RunEvent } from '../run.js';
import type { EventRecord, RunRecord, SerializedError } from '../storage/contract.js';
import { splitStoredMetadata } from './run-options.js';
import { parsePayload } from './serialize.js';

const MAX_MESSAGE_LENGTH = 8_192;
const MAX_STACK_LENGTH = 16_384;

/** Decodes a stored run: payloads parsed, times as Dates, core settings removed from metadata. */
export function decodeRun<I = unknown, O = unknown>(record: RunRecord): Run<I, O> {
  return {
    id: record.id,
    job: record.job,
    queue: record.queue,
    state: record.state,
    input: parsePayload(record.input) as I,
    output: parsePayload(record.output) as O | null,
    error: record.error,
    priority: record.priority,
    attempt: record.attempt,
    maxAttempts: record.maxAttempts,
    runAt: new Date(record.runAt),
    createdAt: new Date(record.createdAt),
    startedAt: toDate(record.startedAt),
    firstStartedAt: toDate(record.firstStartedAt),
    finishedAt: toDate(record.finishedAt),
    progress: record.progress === null ? null : parsePayload(record.progress),
    groupId: record.groupId,
    partitionKey: record.partitionKey,
    tenantId: record.tenantId,
    metadata: splitStoredMetadata(parsePayload(record.metadata)).metadata,
    workerId: record.workerId,
    historyLevel: record.historyLevel,
  };
}

export function decodeEvent(record: EventRecord): RunEvent {
  return {
    id: record.id,
    runId: record.runId,
    groupId: record.groupId,
    tenantId: record.tenantId,
    type: record.type,
    at: new Date(record.at),
    attempt: record.attempt,
    data: record.data === null ? null : parsePayload(record.data),
  };
}

function toDate(ms: number | null): Date | null {
  return ms === null ? null : new Date(ms);
}

/** Converts anything thrown into plain error data that every backend can store. */
export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    const result: SerializedError = {
      name: error.name || 'Error',
      message: truncate(error.message, MAX_MESSAGE_LENGTH),
    };
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' || typeof code === 'number') result.code = String(code);
    if (typeof error.stack === 'string') result.stack = truncate(error.stack, MAX_STACK_LENGTH);
    return result;
  }
  return { name: 'Error', message: truncate(describeThrown(error), MAX_MESSAGE_LENGTH) };
}

function describeThrown(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return `Non-error value thrown: ${JSON.stringify(value) ?? String(value)}`;
  } catch {
    return `Non-error value thrown: ${String(value)}`;
  }
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

/** Returns the message of anything thrown. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : describeThrown(error);
}
