import {
  context,
  metrics,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { CancelledError } from '../src/errors.js';
import { EventBus } from '../src/events.js';
import { emitBursts } from '../src/flow/bursts.js';
import type { LimitBurst } from '../src/flow/types.js';
import type { ClaimedRun, InsertResult, NewRun } from '../src/storage/contract.js';
import { Telemetry } from '../src/telemetry/telemetry.js';
import { CapturingLogger } from '../src/testing/runtime-harness.js';
import { createMetrics, createTracing, summarizeSpan } from '../src/testing/telemetry-sdk.js';

const RUN_ID = '01890a5d-ac96-774b-bcce-b302099a8057';

function newRun(overrides: Partial<NewRun> = {}): NewRun {
  return {
    id: RUN_ID,
    job: 'mail',
    queue: 'outbox',
    input: '{}',
    priority: 0,
    maxAttempts: 3,
    historyLevel: 'full',
    ...overrides,
  };
}

function claimed(overrides: Partial<ClaimedRun> = {}): ClaimedRun {
  return {
    id: RUN_ID,
    job: 'mail',
    queue: 'outbox',
    state: 'running',
    input: '{}',
    output: null,
    error: null,
    priority: 0,
    attempt: 1,
    maxAttempts: 3,
    runAt: 1_000,
    createdAt: 900,
    startedAt: 1_250,
    firstStartedAt: 1_250,
    finishedAt: null,
    leaseExpiresAt: 31_250,
    workerId: 'w1',
    progress: null,
    groupId: null,
    partitionKey: null,
    tenantId: 'acme',
    uniqueKey: null,
    traceContext: null,
    historyLevel: 'full',
    metadata: null,
    leaseToken: 'token',
    bursts: [],
    ...overrides,
  };
}

function inserted(runs: NewRun[]): () => Promise<InsertResult[]> {
  return async () =>
    runs.map((run) => ({ runId: run.id, created: true, replaced: false, state: 'available' }));
}

describe('Telemetry', () => {
  it('records nothing and stores no context without an SDK', async () => {
    const telemetry = new Telemetry({}, new EventBus(new CapturingLogger()));
    const run = newRun();
    const results = await telemetry.traceEnqueue([run], inserted([run]));
    expect(results[0]?.runId).toBe(RUN_ID);
    expect(run.traceContext).toBeUndefined();
    let ran = false;
    await telemetry.traceAttempt(
      claimed(),
      'w1',
      () => undefined,
      async () => {
        ran = true;
      },
    );
    expect(ran).toBe(true);
  });

  it('SDK registered later records the next attempt', async () => {
    const telemetry = new Telemetry({}, new EventBus(new CapturingLogger()));
    await telemetry.traceAttempt(
      claimed(),
      'w1',
      () => undefined,
      async () => undefined,
    );
    const tracing = createTracing();
    const metricsSdk = createMetrics();
    expect(trace.setGlobalTracerProvider(tracing.provider)).toBe(true);
    expect(metrics.setGlobalMeterProvider(metricsSdk.provider)).toBe(true);
    try {
      await telemetry.traceAttempt(
        claimed({ attempt: 2 }),
        'w1',
        () => undefined,
        async () => undefined,
      );
      const spans = tracing.exporter.getFinishedSpans().map(summarizeSpan);
      expect(spans.map((span) => span.name)).toEqual(['process outbox']);
      expect(spans[0]?.attributes['zapjobs.run.attempt']).toBe(2);
      const durations = (await metricsSdk.collect()).filter(
        (metric) => metric.descriptor.name === 'zapjobs.run.duration',
      );
      expect(durations).toHaveLength(1);
    } finally {
      trace.disable();
      metrics.disable();
    }
  });

  it('enqueue span becomes the parent of the attempt span', async () => {
    const tracing = createTracing();
    const bus = new EventBus(new CapturingLogger());
    const telemetry = new Telemetry({ tracerProvider: tracing.provider }, bus);
    const run = newRun({ tenantId: 'acme', groupId: 'batch-1' });
    await telemetry.traceEnqueue([run], inserted([run]));
    const [send] = tracing.exporter.getFinishedSpans().map(summarizeSpan);
    expect(send?.name).toBe('send outbox');
    expect(send?.kind).toBe(SpanKind.PRODUCER);
    expect(send?.attributes).toEqual({
      'messaging.system': 'zapjobs',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.destination.name': 'outbox',
      'messaging.message.id': RUN_ID,
      'zapjobs.job.name': 'mail',
      'zapjobs.tenant.id': 'acme',
      'zapjobs.group.id': 'batch-1',
      'zapjobs.run.created': true,
    });
    expect(JSON.parse(run.traceContext!)).toEqual({
      traceparent: `00-${send?.traceId}-${send?.spanId}-01`,
    });

    // The attempt runs with its span active, so spans of the handler nest under it.
    let active: string | undefined;
    await telemetry.traceAttempt(
      claimed({ traceContext: run.traceContext! }),
      'w1',
      () => undefined,
      async () => {
        active = trace.getSpan(context.active())?.spanContext().spanId;
        bus.emit('job.completed', {
          runId: RUN_ID,
          job: 'mail',
          queue: 'outbox',
          tenantId: 'acme',
          attempt: 1,
          durationMs: 3,
          output: null,
        });
      },
    );
    const consumer = tracing.exporter
      .getFinishedSpans()
      .map(summarizeSpan)
      .find((span) => span.name === 'process outbox');
    expect(consumer?.kind).toBe(SpanKind.CONSUMER);
    expect(consumer?.traceId).toBe(send?.traceId);
    expect(consumer?.parentSpanId).toBe(send?.spanId);
    expect(consumer?.links).toEqual([send?.spanId]);
    expect(consumer?.attributes['zapjobs.run.outcome']).toBe('completed');
    expect(consumer?.attributes['zapjobs.worker.id']).toBe('w1');
    expect(consumer?.status.code).toBe(SpanStatusCode.UNSET);
    // Without a registered context manager `context.active()` stays the root context.
    expect(context.active()).toBe(ROOT_CONTEXT);
    expect(active).toBeUndefined();
  });

  it('a discarded attempt ends its span with the reason', async () => {
    const tracing = createTracing();
    const telemetry = new Telemetry(
      { tracerProvider: tracing.provider },
      new EventBus(new CapturingLogger()),
    );
    const reason = new CancelledError(RUN_ID);
    await telemetry.traceAttempt(
      claimed(),
      'w1',
      () => reason,
      async () => undefined,
    );
    const [span] = tracing.exporter.getFinishedSpans().map(summarizeSpan);
    expect(span?.attributes['zapjobs.run.outcome']).toBe('discarded');
    expect(span?.attributes['error.type']).toBe('RUN_CANCELLED');
    expect(span?.status).toEqual({ code: SpanStatusCode.ERROR, message: reason.message });
    expect(span?.parentSpanId).toBeNull();
  });

  it('a failed insert ends the enqueue span with the error', async () => {
    const tracing = createTracing();
    const telemetry = new Telemetry(
      { tracerProvider: tracing.provider },
      new EventBus(new CapturingLogger()),
    );
    const failure = new Error('connection refused');
    await expect(telemetry.traceEnqueue([newRun()], () => Promise.reject(failure))).rejects.toBe(
      failure,
    );
    const [span] = tracing.exporter.getFinishedSpans().map(summarizeSpan);
    expect(span?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'connection refused' });
    expect(span?.exceptionTypes).toEqual(['Error']);
  });

  it('enqueued counts created runs only', async () => {
    const reader = createMetrics();
    const telemetry = new Telemetry(
      { meterProvider: reader.provider },
      new EventBus(new CapturingLogger()),
    );
    const run = newRun({ tenantId: 'acme' });
    await telemetry.traceEnqueue([run], inserted([run]));
    // A deduplicated enqueue creates no run.
    await telemetry.traceEnqueue([run], async () => [
      { runId: RUN_ID, created: false, replaced: false, state: 'available' },
    ]);
    const collected = await reader.collect();
    const enqueued = collected.find((metric) => metric.descriptor.name === 'zapjobs.runs.enqueued');
    expect(enqueued?.dataPoints.map((point) => [point.attributes, point.value])).toEqual([
      [
        {
          'messaging.system': 'zapjobs',
          'messaging.destination.name': 'outbox',
          'zapjobs.job.name': 'mail',
          'zapjobs.tenant.id': 'acme',
        },
        1,
      ],
    ]);
  });

  it('metrics follow a global meter provider registered later', async () => {
    const telemetry = new Telemetry({}, new EventBus(new CapturingLogger()));
    const run = newRun();
    // Recorded before any SDK: a no-op, and no meter is kept from it.
    await telemetry.traceEnqueue([run], inserted([run]));
    const first = createMetrics();
    metrics.setGlobalMeterProvider(first.provider);
    try {
      await telemetry.traceEnqueue([run], inserted([run]));
      const second = createMetrics();
      metrics.disable();
      metrics.setGlobalMeterProvider(second.provider);
      await telemetry.traceEnqueue([run], inserted([run]));
      await telemetry.traceEnqueue([run], inserted([run]));
      const count = async (reader: typeof first) =>
        (await reader.collect())
          .find((metric) => metric.descriptor.name === 'zapjobs.runs.enqueued')
          ?.dataPoints.reduce((sum, point) => sum + (point.value as number), 0);
      expect(await count(first)).toBe(1);
      expect(await count(second)).toBe(2);
    } finally {
      metrics.disable();
    }
  });

  it('queue wait is measured from due time to start', async () => {
    const reader = createMetrics();
    const telemetry = new Telemetry(
      { meterProvider: reader.provider },
      new EventBus(new CapturingLogger()),
    );
    await telemetry.traceAttempt(
      claimed(),
      'w1',
      () => undefined,
      async () => undefined,
    );
    const collected = await reader.collect();
    const wait = collected.find((metric) => metric.descriptor.name === 'zapjobs.run.queue_wait');
    expect(wait?.descriptor.unit).toBe('s');
    expect(wait?.dataPoints[0]?.value).toMatchObject({ count: 1, sum: 0.25 });
    const duration = collected.find((metric) => metric.descriptor.name === 'zapjobs.run.duration');
    expect(duration?.dataPoints[0]?.attributes['zapjobs.run.outcome']).toBe('discarded');
  });

  it('burst uses become events and metrics', async () => {
    const reader = createMetrics();
    const bus = new EventBus(new CapturingLogger());
    new Telemetry({ meterProvider: reader.provider }, bus);
    const events: LimitBurst[] = [];
    bus.on('limit.burst', (event) => {
      events.push(event);
    });
    const rateLimit = {
      scope: 'partition' as const,
      key: 'outbox',
      rate: { limit: 2, periodMs: 60_000 },
      concurrency: 1,
      burstMultiplier: 2.5,
    };
    const run = claimed({
      partitionKey: 'customer-1',
      bursts: [
        { limit: rateLimit, kind: 'rate', partitionKey: 'customer-1', count: 3 },
        { limit: rateLimit, kind: 'concurrency', partitionKey: 'customer-1', count: 2 },
      ],
    });
    emitBursts(bus, 'w1', [claimed({ id: 'within-limits' }), run]);

    const limit = {
      partitionOf: 'outbox',
      rate: { limit: 2, periodMs: 60_000 },
      concurrency: 1,
      burstMultiplier: 2.5,
    };
    const common = {
      limit,
      partitionKey: 'customer-1',
      runId: RUN_ID,
      job: 'mail',
      queue: 'outbox',
      tenantId: 'acme',
      workerId: 'w1',
      bursting: true,
    };
    expect(events).toEqual([
      { ...common, kind: 'rate', claims: 3, burstRate: 5 },
      { ...common, kind: 'concurrency', running: 2, burstConcurrency: 2 },
    ]);

    const collected = await reader.collect();
    const bursts = collected.find((metric) => metric.descriptor.name === 'zapjobs.limit.bursts');
    const points = bursts?.dataPoints.map((point) => ({
      attributes: point.attributes,
      value: point.value,
    }));
    const labels = (kind: string) => ({
      'messaging.system': 'zapjobs',
      'messaging.destination.name': 'outbox',
      'zapjobs.job.name': 'mail',
      'zapjobs.tenant.id': 'acme',
      'zapjobs.limit.scope': 'partition',
      'zapjobs.limit.kind': kind,
    });
    expect(points).toHaveLength(2);
    expect(points).toEqual(
      expect.arrayContaining([
        { attributes: labels('rate'), value: 1 },
        { attributes: labels('concurrency'), value: 1 },
      ]),
    );
  });

  it('runs without burst uses emit nothing', () => {
    const bus = new EventBus(new CapturingLogger());
    const events: LimitBurst[] = [];
    bus.on('limit.burst', (event) => {
      events.push(event);
    });
    // A backend written against an older contract may leave `bursts` out.
    const legacy = { ...claimed() } as Partial<ClaimedRun>;
    delete legacy.bursts;
    emitBursts(bus, 'w1', [claimed(), legacy as ClaimedRun]);
    expect(events).toEqual([]);
  });
});
