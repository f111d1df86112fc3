/**
 * Worker options: their documentation, defaults and checks.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { InvalidOptionError } from '../errors.js';
import {
  assertKnownKeys,
  assertPlainObject,
  checkBoolean,
  checkInteger,
  checkMs,
  checkName,
  MAX_TIMER_MS,
} from './check.js';

/** Options of `ZapJobs.createWorker`. */
export interface WorkerOptions {
  /** Queues to take runs from, in priority order: every due run of the first goes first. Default `['default']`. */
  queues?: readonly string[];
  /** Most attempts running at once in this worker. Default 10. */
  concurrency?: number;
  /**
   * Runs claimed ahead of free concurrency slots and held in a local buffer, in runs. One claim
   * then fetches work for several cycles, which saves storage round trips when handlers are
   * short. The buffer is refilled, up to `prefetch`, once an eighth of it is left (at least
   * one run from `prefetch: 2` on). Buffered runs hold a lease (extended by the heartbeat)
   * from their claim on. They count as running for storage-side limits (flow concurrency, rate
   * limits) and cannot be taken by another worker, and a run of higher priority enqueued later
   * may wait behind them. A buffered run that is cancelled or loses its lease is dropped without
   * starting. On stop every buffered run is released at once, claimable again with its attempt
   * not counted. Default 0 (claim only into free slots).
   */
  prefetch?: number;
  /** Lease length in ms; a run whose lease expires without a heartbeat is reclaimed. Default 30,000. */
  leaseMs?: number;
  /** Interval of the heartbeat that extends every held lease, in ms; below `leaseMs`. Default `leaseMs / 3`. */
  heartbeatMs?: number;
  /** Fallback poll interval in ms, for when the storage sends no wake-up. Default 1,000. */
  pollIntervalMs?: number;
  /** Interval in ms of reclaiming expired leases and refreshing the worker registry. Default 5,000. */
  reclaimIntervalMs?: number;
  /** How long a graceful stop waits for running handlers before aborting them, in ms. Default 30,000. */
  shutdownTimeoutMs?: number;
  /** When true, the first SIGTERM or SIGINT stops gracefully and the second forces. Default false. */
  handleSignals?: boolean;
  /** Id in the worker registry and on claimed runs. Default `<hostname>-<pid>-<random>`. */
  workerId?: string;
}

export interface ResolvedWorkerOptions {
  queues: readonly string[];
  concurrency: number;
  prefetch: number;
  leaseMs: number;
  heartbeatMs: number;
  pollIntervalMs: number;
  reclaimIntervalMs: number;
  shutdownTimeoutMs: number;
  handleSignals: boolean;
  workerId: string;
}

const KEYS = [
  'queues',
  'concurrency',
  'prefetch',
  'leaseMs',
  'heartbeatMs',
  'pollIntervalMs',
  'reclaimIntervalMs',
  'shutdownTimeoutMs',
  'handleSignals',
  'workerId',
];

/** Lower bound of {@link maxUnstoredOutcomes}. */
export const MIN_UNSTORED_OUTCOMES = 64;

/**
 * Returns the max number of finished attempts whose outcome may wait to be stored. A slot is
 * free again once its handler returns, and outcomes are stored in batches. Past this many
 * unstored outcomes, the worker stops claiming until the storage catches up.
 */
export function maxUnstoredOutcomes(concurrency: number, prefetch: number): number {
  return Math.max(MIN_UNSTORED_OUTCOMES, concurrency + prefetch);
}

const MIN_LEASE_MS = 100;
const MIN_INTERVAL_MS = 10;
const MAX_CONCURRENCY = 10_000;
const MAX_PREFETCH = 10_000;

export function resolveWorkerOptions(options: WorkerOptions): ResolvedWorkerOptions {
  assertPlainObject('options', options);
  assertKnownKeys(options, KEYS, '', ' of createWorker');

  const leaseMs =
    options.leaseMs === undefined
      ? 30_000
      : checkMs('leaseMs', options.leaseMs, MIN_LEASE_MS, MAX_TIMER_MS);
  const heartbeatMs =
    options.heartbeatMs === undefined
      ? Math.max(MIN_INTERVAL_MS, Math.floor(leaseMs / 3))
      : checkMs('heartbeatMs', options.heartbeatMs, MIN_INTERVAL_MS, MAX_TIMER_MS);
  if (heartbeatMs >= leaseMs) {
    throw new InvalidOptionError(
      'heartbeatMs',
      heartbeatMs,
      `less than leaseMs (${leaseMs}), so a lease is extended before it expires; about leaseMs / 3 is typical`,
    );
  }

  return {
    queues: checkQueues(options.queues),
    concurrency:
      options.concurrency === undefined
        ? 10
        : checkInteger('concurrency', options.concurrency, 1, MAX_CONCURRENCY),
    prefetch:
      options.prefetch === undefined
        ? 0
        : checkInteger('prefetch', options.prefetch, 0, MAX_PREFETCH),
    leaseMs,
    heartbeatMs,
    pollIntervalMs:
      options.pollIntervalMs === undefined
        ? 1_000
        : checkMs('pollIntervalMs', options.pollIntervalMs, MIN_INTERVAL_MS, MAX_TIMER_MS),
    reclaimIntervalMs:
      options.reclaimIntervalMs === undefined
        ? 5_000
        : checkMs('reclaimIntervalMs', options.reclaimIntervalMs, MIN_INTERVAL_MS, MAX_TIMER_MS),
    shutdownTimeoutMs:
      options.shutdownTimeoutMs === undefined
        ? 30_000
        : checkMs('shutdownTimeoutMs', options.shutdownTimeoutMs, 0, MAX_TIMER_MS),
    handleSignals:
      options.handleSignals === undefined
        ? false
        : checkBoolean('handleSignals', options.handleSignals),
    workerId:
      options.workerId === undefined ? defaultWorkerId() : checkName('workerId', options.workerId),
  };
}

function checkQueues(value: unknown): readonly string[] {
  if (value === undefined) return ['default'];
  if (!Array.isArray(value) || value.length === 0) {
    throw new InvalidOptionError('queues', value, 'a non-empty array of queue names');
  }
  const seen = new Set<string>();
  value.forEach((queue: unknown, index) => {
    const name = checkName(`queues[${index}]`, queue);
    if (seen.has(name)) {
      throw new InvalidOptionError(`queues[${index}]`, name, 'each queue to be listed once');
    }
    seen.add(name);
  });
  return [...value];
}

function defaultWorkerId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}
