/**
 * Telemetry conformance across processes: a run enqueued inside a span of this process is run
 * by a worker in another process, whose consumer span continues the same trace through the
 * W3C trace context stored on the run.
 */
import { context, SpanKind, trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import type { ConformanceOptions } from './options.js';
import { HANDLER_SPAN_NAME, relayFixtureJobs, tracedJob } from './relay-fixtures.js';
import { spawnChild } from './relay-spawn.js';
import { FAST_WORKER, useRuntimeHarness, waitFor } from './runtime-harness.js';
import { createTracing, type SpanSummary, summarizeSpan } from './telemetry-sdk.js';
import { useContextManager } from './telemetry-traces.js';

export function describeTelemetryProcesses(options: ConformanceOptions): void {
  describe(`${options.name} telemetry: worker in another process`, () => {
    const harness = useRuntimeHarness(options);
    useContextManager();

    it('one trace crosses from the enqueue to the worker process', async () => {
      const local = createTracing();
      const { zap, handle } = await harness.client({
        jobs: relayFixtureJobs,
        telemetry: { tracerProvider: local.provider },
      });
      const worker = spawnChild('telemetry-child', 'ZAPJOBS_TELEMETRY_CHILD_CONFIG', {
        openModule: options.openModule,
        descriptor: handle.descriptor,
        worker: FAST_WORKER,
      });
      harness.onCleanup(() => worker.kill());
      await worker.line('ready');

      const request = local.provider.getTracer('conformance-app').startSpan('POST /upload');
      const { runId } = await context.with(trace.setSpan(context.active(), request), () =>
        zap.enqueue(tracedJob, {}, { tenantId: 'acme' }),
      );
      request.end();
      const output = await zap.waitFor<{ pid: number }>(runId, { timeoutMs: 10_000 });
      expect(output.pid).toBe(worker.child.pid);

      const remote = await waitFor('the worker process to export its spans', async () => {
        const dumped = worker.lines().filter((line) => 'spans' in line).length;
        worker.child.stdin?.write('dump\n');
        const reply = await waitFor('a span dump', () => {
          const dumps = worker.lines().filter((line) => 'spans' in line);
          return dumps.length > dumped ? (dumps.at(-1)!.spans as SpanSummary[]) : undefined;
        });
        return reply.some((span) => span.name === 'process default') ? reply : undefined;
      });

      const send = local.exporter
        .getFinishedSpans()
        .map(summarizeSpan)
        .find((span) => span.name === 'send default')!;
      const traceId = request.spanContext().traceId;
      expect(send.traceId).toBe(traceId);
      expect(send.parentSpanId).toBe(request.spanContext().spanId);

      const consumer = remote.find((span) => span.name === 'process default')!;
      expect(consumer.kind).toBe(SpanKind.CONSUMER);
      expect(consumer.traceId).toBe(traceId);
      expect(consumer.parentSpanId).toBe(send.spanId);
      expect(consumer.links).toEqual([send.spanId]);
      expect(consumer.attributes).toMatchObject({
        'messaging.message.id': runId,
        'zapjobs.tenant.id': 'acme',
        'zapjobs.run.outcome': 'completed',
      });
      const handler = remote.find((span) => span.name === HANDLER_SPAN_NAME)!;
      expect(handler.traceId).toBe(traceId);
      expect(handler.parentSpanId).toBe(consumer.spanId);
    });
  });
}
