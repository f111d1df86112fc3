import { createTraceState, type SpanContext, TraceFlags } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import {
  decodeTraceContext,
  encodeTraceContext,
  formatTraceparent,
  parseTraceparent,
} from '../src/telemetry/trace-context.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';

const sampled: SpanContext = { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: TraceFlags.SAMPLED };

describe('W3C trace context', () => {
  it('formats traceparent version 00', () => {
    expect(formatTraceparent(sampled)).toBe(`00-${TRACE_ID}-${SPAN_ID}-01`);
    expect(formatTraceparent({ ...sampled, traceFlags: TraceFlags.NONE })).toBe(
      `00-${TRACE_ID}-${SPAN_ID}-00`,
    );
  });

  it('round-trips through the stored JSON with tracestate', () => {
    const traceState = createTraceState('vendor=abc,other=1');
    const stored = encodeTraceContext({ ...sampled, traceState });
    expect(JSON.parse(stored!)).toEqual({
      traceparent: `00-${TRACE_ID}-${SPAN_ID}-01`,
      tracestate: 'vendor=abc,other=1',
    });
    const decoded = decodeTraceContext(stored);
    expect(decoded).toMatchObject({
      traceId: TRACE_ID,
      spanId: SPAN_ID,
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
    });
    expect(decoded?.traceState?.get('vendor')).toBe('abc');
  });

  it('stores nothing for an invalid span context', () => {
    expect(
      encodeTraceContext({ traceId: '0'.repeat(32), spanId: SPAN_ID, traceFlags: 1 }),
    ).toBeUndefined();
    expect(
      encodeTraceContext({ traceId: TRACE_ID, spanId: '0'.repeat(16), traceFlags: 1 }),
    ).toBeUndefined();
  });

  it('rejects malformed headers', () => {
    for (const header of [
      '',
      'garbage',
      `ff-${TRACE_ID}-${SPAN_ID}-01`,
      `00-${TRACE_ID}-${SPAN_ID}-01-extra`,
      `00-${'0'.repeat(32)}-${SPAN_ID}-01`,
      `00-${TRACE_ID}-${'0'.repeat(16)}-01`,
      `00-${TRACE_ID.toUpperCase()}-${SPAN_ID}-01`,
      `00-${TRACE_ID.slice(1)}-${SPAN_ID}-01`,
    ]) {
      expect(parseTraceparent(header), header).toBeNull();
    }
    // A later version may append fields, which a version-00 reader ignores.
    expect(parseTraceparent(`01-${TRACE_ID}-${SPAN_ID}-01-future`)?.traceId).toBe(TRACE_ID);
  });

  it('decodes damaged stored values to null', () => {
    for (const stored of [null, undefined, '', '{', '[]', '"text"', '{"traceparent":5}', '{}']) {
      expect(decodeTraceContext(stored), String(stored)).toBeNull();
    }
  });
});
