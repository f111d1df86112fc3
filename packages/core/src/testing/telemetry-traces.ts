/**
 * Telemetry conformance in one process, with the OpenTelemetry SDK and in-memory exporters.
 * The producer span of an enqueue and the consumer span of each attempt form one trace with
 * the caller's span, and follow the messaging semantic conventions. Failures are recorded on
 * the spans. Counters and histograms are labelled by queue, job and tenant.
 */
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import type { MetricData } from '@opentelemetry/sdk-metrics';
import type { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ConformanceOptions } from './options.js';
import {
  echoJob,
  FAILURES,
  failJob,
  HANDLER_SPAN_NAME,
  relayFixtureJobs,
  tracedJob,
} from './relay-fixtures.js';
import { FAST_WORKER, useRuntimeHarness, waitFor } from './runtime-harness.js';
import { createMetrics, createTracing, type SpanSummary, summarizeSpan } from './telemetry-sdk.js';

/** Registers an AsyncLocalStorage context manager for the tests of the enclosing describe. */
export function useContextManager(): void {
  let manager: AsyncLocalStorageContextManager | null = null;
  beforeAll(() => {
    context.disable();
    manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
  });
  afterAll(() => {
    context.disable();
    manager?.disable();
  });
}

function finished(exporter: InMemorySpanExporter): SpanSummary[] {
  return exporter.getFinishedSpans().map(summarizeSpan);
}

function points(metrics: MetricData[], name: string) {
  const metric = metrics.find((candidate) => candidate.descriptor.name === name);
  return metric?.dataPoints ?? [];
}

export function describeTelemetryTraces(options: ConformanceOptions): void {
  describe(`${options.name} telemetry: spans and metrics`, () => {
    const harness = useRuntimeHarness(options);
    const global = createTracing();
    useContextManager();
    beforeAll(() => {
      trace.disable();
      trace.setGlobalTracerProvider(global.provider);
    });
    afterAll(() => {
      trace.disable();
    });
    beforeEach(() => {
      global.exporter.reset();
    });

    it('enqueue, attempt and handler share one trace', async () => {
      const { zap, storage } = await harness.client({ jobs: relayFixtureJobs });
      await zap.createWorker(FAST_WORKER).start();

      const request = trace.getTracer('conformance-app').startSpan('POST /orders');
      const output = await context.with(trace.setSpan(context.active(), request), () =>
        zap.enqueueAndWait(tracedJob, {}, { tenantId: 'acme', timeoutMs: 10_000 }),
      );
      request.end();
      expect(output).toEqual({ pid: process.pid });

      const spans = await waitFor('the process span', () => {
        const all = finished(global.exporter);
        return all.some((span) => span.name === 'process default') ? all : undefined;
      });
      const send = spans.find((span) => span.name === 'send default')!;
      const consumer = spans.find((span) => span.name === 'process default')!;
      const handler = spans.find((span) => span.name === HANDLER_SPAN_NAME)!;
      const traceId = request.spanContext().traceId;
      for (const span of [send, consumer, handler]) expect(span?.traceId).toBe(traceId);

      expect(send.kind).toBe(SpanKind.PRODUCER);
      expect(send.parentSpanId).toBe(request.spanContext().spanId);
      const runId = send.attributes['messaging.message.id'] as string;
      expect(send.attributes).toMatchObject({
        'messaging.system': 'zapjobs',
        'messaging.operation.type': 'send',
        'messaging.destination.name': 'default',
        'zapjobs.job.name': tracedJob.name,
        'zapjobs.tenant.id': 'acme',
        'zapjobs.run.created': true,
      });

      expect(consumer.kind).toBe(SpanKind.CONSUMER);
      expect(consumer.parentSpanId).toBe(send.spanId);
      expect(consumer.links).toEqual([send.spanId]);
      expect(consumer.attributes).toMatchObject({
        'messaging.system': 'zapjobs',
        'messaging.operation.type': 'process',
        'messaging.destination.name': 'default',
        'messaging.message.id': runId,
        'zapjobs.job.name': tracedJob.name,
        'zapjobs.tenant.id': 'acme',
        'zapjobs.run.attempt': 1,
        'zapjobs.run.outcome': 'completed',
      });
      expect(consumer.status.code).toBe(SpanStatusCode.UNSET);
      expect(handler.parentSpanId).toBe(consumer.spanId);

      const stored = await storage.getRun(runId);
      expect(JSON.parse(stored?.traceContext ?? 'null')).toEqual({
        traceparent: `00-${traceId}-${send.spanId}-01`,
      });
    });

    it('failed attempts record their errors', async () => {
      const { zap } = await harness.client({ jobs: relayFixtureJobs });
      await zap.createWorker(FAST_WORKER).start();
      await expect(zap.enqueueAndWait(tracedJob, { fail: true })).rejects.toThrow(
        'attempt 2 fails on purpose',
      );

      const attempts = await waitFor('two process spans', () => {
        const found = finished(global.exporter).filter((span) => span.name === 'process default');
        return found.length === 2 ? found : undefined;
      });
      attempts.sort(
        (a, b) =>
          Number(a.attributes['zapjobs.run.attempt']) - Number(b.attributes['zapjobs.run.attempt']),
      );
      expect(attempts.map((span) => span.attributes['zapjobs.run.outcome'])).toEqual([
        'retrying',
        'failed',
      ]);
      for (const span of attempts) {
        expect(span.status.code).toBe(SpanStatusCode.ERROR);
        expect(span.status.message).toContain('fails on purpose');
        expect(span.exceptionTypes).toEqual(['RangeError']);
        expect(span.attributes['error.type']).toBe('RangeError');
      }
      // Both attempts continue the trace of the enqueue.
      expect(new Set(attempts.map((span) => span.traceId)).size).toBe(1);
      expect(new Set(attempts.map((span) => span.parentSpanId)).size).toBe(1);
    });

    it('batch enqueue creates a span per run', async () => {
      const local = createTracing();
      const { zap, storage } = await harness.client({
        jobs: relayFixtureJobs,
        telemetry: { tracerProvider: local.provider },
      });
      const results = await zap.enqueueMany(
        ['a', 'b', 'c'].map((text) => ({ job: echoJob, input: { text } })),
      );

      const spans = finished(local.exporter);
      const send = spans.filter((span) => span.name === 'send default');
      expect(send).toHaveLength(1);
      expect(send[0]!.kind).toBe(SpanKind.CLIENT);
      expect(send[0]!.attributes['messaging.batch.message_count']).toBe(3);
      const creates = spans.filter((span) => span.name === 'create default');
      expect(creates).toHaveLength(3);
      for (const [index, result] of results.entries()) {
        const create = creates.find(
          (span) => span.attributes['messaging.message.id'] === result.runId,
        );
        expect(create?.kind, `create span of run ${index}`).toBe(SpanKind.PRODUCER);
        expect(create?.parentSpanId).toBe(send[0]!.spanId);
        const stored = JSON.parse((await storage.getRun(result.runId))?.traceContext ?? '{}');
        expect(stored.traceparent).toBe(`00-${create?.traceId}-${create?.spanId}-01`);
      }
      // The client's own provider took the spans; the global one saw none of them.
      expect(finished(global.exporter).filter((span) => span.name.includes('default'))).toEqual([]);
    });

    it('batch members carry trace context', async () => {
      const local = createTracing();
      const { zap, storage } = await harness.client({
        jobs: relayFixtureJobs,
        telemetry: { tracerProvider: local.provider },
      });
      const created = await zap.batches.create({
        runs: ['a', 'b'].map((text) => ({ job: echoJob, input: { text } })),
      });

      const creates = finished(local.exporter).filter((span) => span.name === 'create default');
      for (const runId of created.runIds) {
        const create = creates.find((span) => span.attributes['messaging.message.id'] === runId);
        expect(create?.kind, `create span of member ${runId}`).toBe(SpanKind.PRODUCER);
        const stored = JSON.parse((await storage.getRun(runId))?.traceContext ?? '{}');
        expect(stored.traceparent).toBe(`00-${create?.traceId}-${create?.spanId}-01`);
      }
    });

    it('metrics count runs and measure durations', async () => {
      const metrics = createMetrics();
      const { zap } = await harness.client({
        jobs: relayFixtureJobs,
        telemetry: { meterProvider: metrics.provider },
      });
      await zap.createWorker(FAST_WORKER).start();
      for (const text of ['one', 'two']) {
        await zap.enqueueAndWait(echoJob, { text }, { tenantId: 'acme', timeoutMs: 10_000 });
      }
      await expect(zap.enqueueAndWait(failJob, { kind: 'nonRetryable' })).rejects.toThrow(
        FAILURES.nonRetryable.message,
      );

      const labels = (job: string, tenant?: string) => ({
        'messaging.system': 'zapjobs',
        'messaging.destination.name': 'default',
        'zapjobs.job.name': job,
        ...(tenant === undefined ? {} : { 'zapjobs.tenant.id': tenant }),
      });
      const collected = await waitFor('three duration points', async () => {
        const all = await metrics.collect();
        const durations = points(all, 'zapjobs.run.duration');
        const total = durations.reduce(
          (sum, point) => sum + (point.value as { count: number }).count,
          0,
        );
        return total === 3 ? all : undefined;
      });
      const counter = (name: string) =>
        points(collected, name).map((point) => ({
          attributes: point.attributes,
          value: point.value,
        }));

      expect(counter('zapjobs.runs.enqueued')).toEqual(
        expect.arrayContaining([
          { attributes: labels(echoJob.name, 'acme'), value: 2 },
          { attributes: labels(failJob.name), value: 1 },
        ]),
      );
      expect(counter('zapjobs.runs.completed')).toEqual([
        { attributes: labels(echoJob.name, 'acme'), value: 2 },
      ]);
      expect(counter('zapjobs.runs.failed')).toEqual([
        { attributes: labels(failJob.name), value: 1 },
      ]);

      const durations = points(collected, 'zapjobs.run.duration').map((point) => ({
        outcome: point.attributes['zapjobs.run.outcome'],
        count: (point.value as { count: number }).count,
      }));
      expect(durations).toEqual(
        expect.arrayContaining([
          { outcome: 'completed', count: 2 },
          { outcome: 'failed', count: 1 },
        ]),
      );
      const waits = points(collected, 'zapjobs.run.queue_wait');
      expect(waits.reduce((sum, point) => sum + (point.value as { count: number }).count, 0)).toBe(
        3,
      );
      for (const point of waits) {
        expect((point.value as { min?: number }).min).toBeGreaterThanOrEqual(0);
      }
    });
  });
}
