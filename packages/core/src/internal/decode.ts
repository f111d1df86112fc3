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

/** Message stored when nothing about a thrown value can be read. */
export const UNREADABLE_ERROR_MESSAGE = 'the thrown value could not be read';

/**
 * Converts anything thrown into plain error data that every backend can store. Each field is
 * read on its own and falls back when its getter throws or is not a string, so a hostile or
 * broken error still ends the attempt as an ordinary failure.
 */
export function serializeError(error: unknown): SerializedError {
  if (!isError(error)) {
    return { name: 'Error', message: truncate(describeThrown(error), MAX_MESSAGE_LENGTH) };
  }
  const name = readField(error, 'name');
  const message = readField(error, 'message');
  const result: SerializedError = {
    name: typeof name === 'string' && name !== '' ? name : 'Error',
    message: truncate(textOf(message) ?? UNREADABLE_ERROR_MESSAGE, MAX_MESSAGE_LENGTH),
  };
  const code = readField(error, 'code');
  if (typeof code === 'string' || typeof code === 'number') result.code = String(code);
  const stack = readField(error, 'stack');
  if (typeof stack === 'string') result.stack = truncate(stack, MAX_STACK_LENGTH);
  return result;
}

function isError(value: unknown): value is Error {
  try {
    return value instanceof Error;
  } catch {
    return false;
  }
}

const UNREADABLE: unique symbol = Symbol('unreadable');

/** Reads one property, or returns UNREADABLE when its getter (or a proxy trap) throws. */
function readField(value: object, key: string): unknown {
  try {
    return (value as Record<string, unknown>)[key];
  } catch {
    return UNREADABLE;
  }
}

/** Returns `value` when it is a string, else String(value) when that works, else null. */
function textOf(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (value === undefined) return '';
  if (value === UNREADABLE) return null;
  try {
    return String(value);
  } catch {
    return null;
  }
}

function describeThrown(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    const json = JSON.stringify(value);
    if (typeof json === 'string') return `Non-error value thrown: ${json}`;
  } catch {
    // Falls back to String() below.
  }
  const text = textOf(value);
  return text === null ? UNREADABLE_ERROR_MESSAGE : `Non-error value thrown: ${text}`;
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

/** Returns the message of anything thrown. Never throws. */
export function errorMessage(error: unknown): string {
  if (!isError(error)) return describeThrown(error);
  return textOf(readField(error, 'message')) ?? UNREADABLE_ERROR_MESSAGE;
}
