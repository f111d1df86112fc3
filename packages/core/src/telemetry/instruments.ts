/**
 * The counters and histograms of a client. They are created from the meter provider in force
 * when first used, and again whenever that provider changes, because the metrics API has no
 * proxy: a meter taken before an SDK registers would stay a no-op.
 */
import {
  type Counter,
  createNoopMeter,
  type Histogram,
  type MeterProvider,
} from '@opentelemetry/api';
import { INSTRUMENTATION_SCOPE } from './attributes.js';

export interface Instruments {
  /** Runs created by an enqueue (not counting deduplicated ones). */
  enqueued: Counter;
  /** Attempts that completed, counted by the process that ran them. */
  completed: Counter;
  /** Runs moved to dead letter, counted by the process that saw it. */
  failed: Counter;
  /** Failed attempts that were scheduled to retry. */
  retried: Counter;
  /**
   * Burst uses: one per run and limit cap that a claim let the run past, within the limit's
   * burst multiplier. Counted by the process that claimed the run, like `limit.burst`.
   */
  bursts: Counter;
  /** Duration of an attempt in seconds, from its start to its stored outcome. */
  duration: Histogram;
  /** Seconds from when an attempt was due to when a worker claimed it, on the storage clock. */
  queueWait: Histogram;
  /** Schedule occurrences that got no run, by job, tenant and reason (`overlap`, `tenant`). */
  scheduleSkips: Counter;
  /** True when the meter records nothing (no SDK), so that callers skip building attributes. */
  noop: boolean;
}

/** Class of the API's no-op meter, the global meter until an SDK registers one. */
const NOOP_METER_CLASS = createNoopMeter().constructor;

/** Bucket boundaries in seconds, from 5 ms to 10 minutes. */
const SECONDS_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
];

export class InstrumentsCache {
  readonly #provider: () => MeterProvider;
  #current: { provider: MeterProvider; instruments: Instruments } | null = null;

  constructor(provider: () => MeterProvider) {
    this.#provider = provider;
  }

  get(): Instruments {
    const provider = this.#provider();
    if (this.#current?.provider !== provider) {
      this.#current = { provider, instruments: createInstruments(provider) };
    }
    return this.#current.instruments;
  }
}

function createInstruments(provider: MeterProvider): Instruments {
  const meter = provider.getMeter(INSTRUMENTATION_SCOPE);
  const noop = meter.constructor === NOOP_METER_CLASS;
  const advice = { explicitBucketBoundaries: SECONDS_BUCKETS };
  return {
    enqueued: meter.createCounter('zapjobs.runs.enqueued', {
      description: 'Runs created by enqueue calls',
      unit: '{run}',
    }),
    completed: meter.createCounter('zapjobs.runs.completed', {
      description: 'Runs that completed',
      unit: '{run}',
    }),
    failed: meter.createCounter('zapjobs.runs.failed', {
      description: 'Runs that moved to dead letter',
      unit: '{run}',
    }),
    retried: meter.createCounter('zapjobs.runs.retried', {
      description: 'Failed attempts scheduled to retry',
      unit: '{attempt}',
    }),
    bursts: meter.createCounter('zapjobs.limit.bursts', {
      description: 'Runs that a limit admitted past its normal cap, per limit and cap',
      unit: '{burst}',
    }),
    duration: meter.createHistogram('zapjobs.run.duration', {
      description: 'Duration of one attempt, from its start to its stored outcome',
      unit: 's',
      advice,
    }),
    queueWait: meter.createHistogram('zapjobs.run.queue_wait', {
      description: 'Time from when an attempt was due to when a worker claimed it',
      unit: 's',
      advice,
    }),
    scheduleSkips: meter.createCounter('zapjobs.schedule.skipped', {
      description: 'Schedule occurrences that got no run',
      unit: '{occurrence}',
    }),
    noop,
  };
}
