/**
 * OpenTelemetry instrumentation of a client, through `@opentelemetry/api` only: a producer
 * span per enqueue whose W3C context is stored on the run, a consumer span per attempt that
 * continues that trace in whichever process runs the attempt, and counters and histograms.
 * Without a registered SDK every call is a no-op of the API.
 */
import {
  type Attributes,
  type Context,
  context,
  type MeterProvider,
  metrics,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import { InvalidOptionError } from '../errors.js';
import type { EventBus } from '../events.js';
import type { LimitTarget } from '../flow/types.js';
import { assertKnownKeys, assertPlainObject } from '../internal/check.js';
import type {
  ClaimedRun,
  InsertResult,
  NewRun,
  RunRecord,
  SerializedError,
} from '../storage/contract.js';
import {
  ATTR_ATTEMPT,
  ATTR_BATCH_COUNT,
  ATTR_CREATED,
  ATTR_ERROR_TYPE,
  ATTR_JOB,
  ATTR_LIMIT_KIND,
  ATTR_LIMIT_SCOPE,
  ATTR_MAX_ATTEMPTS,
  ATTR_MESSAGE_ID,
  ATTR_MESSAGING_SYSTEM,
  ATTR_OPERATION_NAME,
  ATTR_OPERATION_TYPE,
  ATTR_OUTCOME,
  ATTR_SKIP_REASON,
  ATTR_TENANT,
  ATTR_WORKER,
  type AttemptOutcome,
  commonQueue,
  INSTRUMENTATION_SCOPE,
  MESSAGING_SYSTEM,
  metricAttributes,
  runSpanAttributes,
  spanName,
} from './attributes.js';
import { type Instruments, InstrumentsCache } from './instruments.js';
import { decodeTraceContext, encodeTraceContext } from './trace-context.js';

/** OpenTelemetry providers of a client. */
export interface TelemetryOptions {
  /**
   * Tracer provider for the producer and consumer spans. Default: the global provider of
   * `@opentelemetry/api`, which records nothing until an SDK registers one.
   */
  tracerProvider?: TracerProvider;
  /** Meter provider for the counters and histograms. Default: the global provider. */
  meterProvider?: MeterProvider;
}

/** An attempt whose consumer span is open. */
interface OpenAttempt {
  readonly run: ClaimedRun;
  /** Null while no tracer provider records spans. */
  span: Span | null;
  outcome: AttemptOutcome | null;
}

/** Why an attempt's outcome was not stored, when it was not. */
export type DiscardReason = () => unknown;

export class Telemetry {
  readonly #tracerProvider: TracerProvider | undefined;
  readonly #instruments: InstrumentsCache;
  readonly #open = new Map<string, OpenAttempt>();
  #cachedTracer: Tracer | undefined;

  constructor(options: TelemetryOptions, bus: EventBus) {
    this.#tracerProvider = options.tracerProvider;
    this.#instruments = new InstrumentsCache(
      () => options.meterProvider ?? metrics.getMeterProvider(),
    );
    bus.on('schedule.skipped', (event) => {
      const attributes: Attributes = {
        [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM,
        [ATTR_JOB]: event.job,
        [ATTR_SKIP_REASON]: event.reason,
      };
      if (event.tenantId !== null) attributes[ATTR_TENANT] = event.tenantId;
      this.#instruments.get().scheduleSkips.add(1, attributes);
    });
    bus.on('job.completed', (event) => {
      const open = this.#openAttempt(event.runId, event.attempt);
      if (open !== undefined) open.outcome = 'completed';
      this.#count('completed', event.queue, event.job, open?.run.tenantId);
    });
    bus.on('job.retrying', (event) => {
      const open = this.#openAttempt(event.runId, event.attempt);
      if (open !== undefined) {
        open.outcome = 'retrying';
        if (open.span !== null) recordStoredError(open.span, event.error);
      }
      this.#count('retried', event.queue, event.job, open?.run.tenantId);
    });
    bus.on('job.failed', (event) => {
      const open = this.#openAttempt(event.runId, event.attempt);
      if (open !== undefined) {
        open.outcome = 'failed';
        if (open.span !== null) recordStoredError(open.span, event.error);
      }
      this.#count('failed', event.queue, event.job, open?.run.tenantId);
    });
    bus.on('limit.burst', (event) => {
      this.#instruments.get().bursts.add(1, {
        ...metricAttributes(event.queue, event.job, event.tenantId),
        [ATTR_LIMIT_SCOPE]: limitScope(event.limit),
        [ATTR_LIMIT_KIND]: event.kind,
      });
    });
  }

  /** Returns the open attempt of a run, if any. No key is built while no attempt is open. */
  #openAttempt(runId: string, attempt: number): OpenAttempt | undefined {
    return this.#open.size === 0 ? undefined : this.#open.get(attemptKey(runId, attempt));
  }

  /**
   * Tells whether tracing records nothing, because no provider was passed and no SDK
   * registered a global one. An attempt then skips its span, whose attributes and context cost
   * more than a short handler. An SDK registered later takes effect from the next attempt.
   */
  #tracingOff(): boolean {
    if (this.#tracerProvider !== undefined) return false;
    // NOTE: ProxyTracerProvider is marked deprecated in @opentelemetry/api 1.10, to be removed
    // in its next major. Its `getDelegateTracer` is how the API itself finds a registered SDK.
    const global = trace.getTracerProvider();
    return (
      global instanceof ProxyTracerProvider &&
      global.getDelegateTracer(INSTRUMENTATION_SCOPE) === undefined
    );
  }

  /**
   * Returns the tracer, taken once. The global provider's tracer is a proxy that follows an SDK
   * registered later, and taking a tracer on every attempt costs an allocation each time.
   * NOTE: like any tracer the application keeps, it stays with the first SDK it reached when
   * the global provider is disabled and another one registered.
   */
  #tracer(): Tracer {
    this.#cachedTracer ??= (this.#tracerProvider ?? trace.getTracerProvider()).getTracer(
      INSTRUMENTATION_SCOPE,
    );
    return this.#cachedTracer;
  }

  /**
   * Runs `insert` inside a producer span and stores each run's trace context on it first.
   * One run gets a `send` span (kind PRODUCER). A batch gets a `send` span (kind CLIENT) with
   * one `create` span (kind PRODUCER) per run, whose context is the one the run carries.
   */
  async traceEnqueue(
    runs: NewRun[],
    insert: () => Promise<InsertResult[]>,
  ): Promise<InsertResult[]> {
    const tracer = this.#tracer();
    const parent = context.active();
    const single = runs.length === 1 ? runs[0]! : null;
    const send = tracer.startSpan(
      spanName('send', commonQueue(runs)),
      {
        kind: single === null ? SpanKind.CLIENT : SpanKind.PRODUCER,
        attributes:
          single === null
            ? {
                [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM,
                [ATTR_OPERATION_TYPE]: 'send',
                [ATTR_OPERATION_NAME]: 'send',
                [ATTR_BATCH_COUNT]: runs.length,
              }
            : runSpanAttributes(single, 'send'),
      },
      parent,
    );
    const sendContext = trace.setSpan(parent, send);
    if (single === null) {
      for (const run of runs) this.#createSpan(tracer, run, sendContext);
    } else {
      storeTraceContext(single, send);
    }

    let results: InsertResult[];
    try {
      results = await context.with(sendContext, insert);
    } catch (error) {
      recordThrown(send, error);
      send.end();
      throw error;
    }
    const first = results[0];
    if (single !== null && first !== undefined) {
      send.setAttribute(ATTR_MESSAGE_ID, first.runId);
      send.setAttribute(ATTR_CREATED, first.created);
    }
    send.end();

    results.forEach((result, index) => {
      const run = runs[index];
      if (result.created && run !== undefined) {
        this.#count('enqueued', run.queue, run.job, run.tenantId);
      }
    });
    return results;
  }

  #createSpan(tracer: Tracer, run: NewRun, parent: Context): void {
    const span = tracer.startSpan(
      spanName('create', run.queue),
      { kind: SpanKind.PRODUCER, attributes: runSpanAttributes(run, 'create') },
      parent,
    );
    storeTraceContext(run, span);
    span.end();
  }

  /**
   * Runs one attempt inside a consumer `process` span. The span is a child of the producer
   * context stored on the run, and links to it, so the trace continues from the enqueue even
   * in another process. `discardReason` returns why the outcome was not stored, if it was not.
   */
  traceAttempt(
    run: ClaimedRun,
    workerId: string,
    discardReason: DiscardReason,
    execute: () => Promise<void>,
  ): Promise<void> {
    // With no span and no metric to record, no bookkeeping is needed either.
    if (this.#instruments.get().noop && this.#tracingOff()) return execute();
    return this.#recordAttempt(run, workerId, discardReason, execute);
  }

  async #recordAttempt(
    run: ClaimedRun,
    workerId: string,
    discardReason: DiscardReason,
    execute: () => Promise<void>,
  ): Promise<void> {
    this.#recordQueueWait(run);
    const key = attemptKey(run.id, run.attempt);
    const open: OpenAttempt = { run, span: null, outcome: null };
    this.#open.set(key, open);
    const startedAt = performance.now();
    try {
      if (this.#tracingOff()) {
        await execute();
      } else {
        const producer = decodeTraceContext(run.traceContext);
        const parent =
          producer === null ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, producer);
        open.span = this.#tracer().startSpan(
          spanName('process', run.queue),
          {
            kind: SpanKind.CONSUMER,
            attributes: {
              ...runSpanAttributes(run, 'process'),
              [ATTR_ATTEMPT]: run.attempt,
              [ATTR_MAX_ATTEMPTS]: run.maxAttempts,
              [ATTR_WORKER]: workerId,
            },
            links: producer === null ? [] : [{ context: producer }],
          },
          parent,
        );
        await context.with(trace.setSpan(parent, open.span), execute);
      }
    } finally {
      this.#open.delete(key);
      this.#finishAttempt(open, (performance.now() - startedAt) / 1000, discardReason());
    }
  }

  #finishAttempt(open: OpenAttempt, durationSeconds: number, discarded: unknown): void {
    const { run, span } = open;
    const outcome: AttemptOutcome = open.outcome ?? 'discarded';
    if (span !== null) {
      span.setAttribute(ATTR_OUTCOME, outcome);
      if (outcome === 'discarded') {
        // The lease was lost, the run was cancelled, or the worker stopped: nothing was stored.
        const reason = discarded ?? new Error('the outcome of the attempt was not stored');
        recordThrown(span, reason);
      }
      span.end();
    }
    this.#instruments.get().duration.record(durationSeconds, {
      ...metricAttributes(run.queue, run.job, run.tenantId),
      [ATTR_OUTCOME]: outcome,
    });
  }

  #recordQueueWait(run: RunRecord): void {
    if (run.startedAt === null) return;
    const waitSeconds = Math.max(0, run.startedAt - run.runAt) / 1000;
    this.#instruments
      .get()
      .queueWait.record(waitSeconds, metricAttributes(run.queue, run.job, run.tenantId));
  }

  #count(
    counter: keyof Pick<Instruments, 'enqueued' | 'completed' | 'failed' | 'retried'>,
    queue: string,
    job: string,
    tenantId: string | null | undefined,
  ): void {
    const instruments = this.#instruments.get();
    if (!instruments.noop) instruments[counter].add(1, metricAttributes(queue, job, tenantId));
  }
}

/** Maps a limit's target to the contract's scope: `queue`, `job` or `partition`. */
function limitScope(limit: LimitTarget): string {
  if ('queue' in limit) return 'queue';
  if ('job' in limit) return 'job';
  return 'partition';
}

function attemptKey(runId: string, attempt: number): string {
  return `${runId}:${attempt}`;
}

function storeTraceContext(run: NewRun, span: Span): void {
  const encoded = encodeTraceContext(span.spanContext());
  if (encoded !== undefined) run.traceContext = encoded;
}

/** Records a stored error on a span: an exception event, `error.type` and error status. */
function recordStoredError(span: Span, error: SerializedError): void {
  const exception: { name: string; message: string; code?: string; stack?: string } = {
    name: error.name,
    message: error.message,
  };
  if (error.code !== undefined) exception.code = error.code;
  if (error.stack !== undefined) exception.stack = error.stack;
  span.recordException(exception);
  span.setAttribute(ATTR_ERROR_TYPE, error.code ?? error.name);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}

function recordThrown(span: Span, thrown: unknown): void {
  if (thrown instanceof Error) {
    const code = (thrown as { code?: unknown }).code;
    span.recordException(thrown);
    span.setAttribute(ATTR_ERROR_TYPE, typeof code === 'string' ? code : thrown.name);
    span.setStatus({ code: SpanStatusCode.ERROR, message: thrown.message });
    return;
  }
  const message = String(thrown);
  span.recordException(message);
  span.setAttribute(ATTR_ERROR_TYPE, '_OTHER');
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}

/** Checks the `telemetry` option of a client. */
export function checkTelemetryOptions(value: unknown): TelemetryOptions {
  if (value === undefined) return {};
  assertPlainObject('telemetry', value);
  assertKnownKeys(value, ['tracerProvider', 'meterProvider'], 'telemetry.', ' of new ZapJobs()');
  const { tracerProvider, meterProvider } = value as Record<string, unknown>;
  if (tracerProvider !== undefined && !hasMethod(tracerProvider, 'getTracer')) {
    throw new InvalidOptionError(
      'telemetry.tracerProvider',
      tracerProvider,
      'a TracerProvider of @opentelemetry/api, such as the SDK BasicTracerProvider',
    );
  }
  if (meterProvider !== undefined && !hasMethod(meterProvider, 'getMeter')) {
    throw new InvalidOptionError(
      'telemetry.meterProvider',
      meterProvider,
      'a MeterProvider of @opentelemetry/api, such as the SDK MeterProvider',
    );
  }
  return value as TelemetryOptions;
}

function hasMethod(value: unknown, method: string): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Record<string, unknown>)[method] === 'function'
  );
}
