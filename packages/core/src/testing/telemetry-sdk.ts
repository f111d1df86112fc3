/**
 * OpenTelemetry SDK pieces for the telemetry conformance tests and their child worker: tracer
 * and meter providers that keep everything in memory, and plain summaries of finished spans
 * that can cross a process boundary as JSON.
 */
import type { AttributeValue } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';

/** A finished span as plain data. */
export interface SpanSummary {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  /** Span ids of the linked spans. */
  links: string[];
  attributes: Record<string, AttributeValue | undefined>;
  status: { code: number; message?: string };
  /** `exception.type` of each recorded exception. */
  exceptionTypes: string[];
}

/** Creates a tracer provider that exports each ended span to memory at once. */
export function createTracing(): { provider: BasicTracerProvider; exporter: InMemorySpanExporter } {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return { provider, exporter };
}

/** Creates a meter provider whose `collect` returns every metric recorded so far. */
export function createMetrics(): { provider: MeterProvider; collect: () => Promise<MetricData[]> } {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // The interval is longer than any test; `collect` exports on demand.
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  return {
    provider,
    async collect() {
      await reader.forceFlush();
      const exports = exporter.getMetrics();
      const latest = exports[exports.length - 1];
      return latest?.scopeMetrics.flatMap((scope) => scope.metrics) ?? [];
    },
  };
}

export function summarizeSpan(span: ReadableSpan): SpanSummary {
  const summary: SpanSummary = {
    name: span.name,
    kind: span.kind,
    traceId: span.spanContext().traceId,
    spanId: span.spanContext().spanId,
    parentSpanId: span.parentSpanContext?.spanId ?? null,
    links: span.links.map((link) => link.context.spanId),
    attributes: { ...span.attributes },
    status: { code: span.status.code },
    exceptionTypes: span.events
      .filter((event) => event.name === 'exception')
      .map((event) => String(event.attributes?.['exception.type'])),
  };
  if (span.status.message !== undefined) summary.status.message = span.status.message;
  return summary;
}
