/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) as stored in a run's
 * `traceContext`: a JSON object `{ traceparent, tracestate? }`.
 *
 * Core writes and reads the headers itself instead of going through the global propagator,
 * so the stored field is always W3C whatever propagator an application registers, and a
 * worker in another process can continue the trace.
 */
import {
  createTraceState,
  isSpanContextValid,
  type SpanContext,
  TraceFlags,
} from '@opentelemetry/api';

/** The stored form of a run's trace context. */
export interface StoredTraceContext {
  traceparent: string;
  tracestate?: string;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const INVALID_TRACE_ID = '0'.repeat(32);
const INVALID_SPAN_ID = '0'.repeat(16);
/** Longest `tracestate` the W3C specification lets a vendor propagate, in characters. */
const MAX_TRACESTATE_LENGTH = 512;

/** Formats a span context as a `traceparent` header (version 00). */
export function formatTraceparent(spanContext: SpanContext): string {
  const flags = (spanContext.traceFlags & 0xff).toString(16).padStart(2, '0');
  return `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`;
}

/**
 * Encodes a span context as the JSON stored on a run, or returns undefined when the span
 * context is not valid (no SDK and no incoming trace), so nothing is stored.
 */
export function encodeTraceContext(spanContext: SpanContext): string | undefined {
  if (!isSpanContextValid(spanContext)) return undefined;
  const stored: StoredTraceContext = { traceparent: formatTraceparent(spanContext) };
  const tracestate = spanContext.traceState?.serialize();
  if (tracestate !== undefined && tracestate !== '' && tracestate.length <= MAX_TRACESTATE_LENGTH) {
    stored.tracestate = tracestate;
  }
  return JSON.stringify(stored);
}

/** Parses a `traceparent` header into a remote span context, or null when it is invalid. */
export function parseTraceparent(header: string, tracestate?: string): SpanContext | null {
  const match = TRACEPARENT.exec(header.trim());
  if (match === null) return null;
  const [, version, traceId, spanId, flags, rest] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string | undefined,
  ];
  // Version ff is forbidden; version 00 has no trailing fields. Later versions may add fields.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return null;
  if (traceId === INVALID_TRACE_ID || spanId === INVALID_SPAN_ID) return null;

  const spanContext: SpanContext = {
    traceId,
    spanId,
    traceFlags: Number.parseInt(flags, 16) & TraceFlags.SAMPLED,
    isRemote: true,
  };
  if (tracestate !== undefined && tracestate !== '') {
    spanContext.traceState = createTraceState(tracestate);
  }
  return spanContext;
}

/**
 * Decodes a run's stored trace context. Returns null for null, malformed JSON or an invalid
 * `traceparent`, because a run must execute even when its trace context is damaged.
 */
export function decodeTraceContext(stored: string | null | undefined): SpanContext | null {
  if (stored === null || stored === undefined || stored === '') return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(stored);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null) return null;
  const { traceparent, tracestate } = parsed as Record<string, unknown>;
  if (typeof traceparent !== 'string') return null;
  return parseTraceparent(traceparent, typeof tracestate === 'string' ? tracestate : undefined);
}
