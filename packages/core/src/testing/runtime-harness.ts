/**
 * Helpers of the runtime conformance tests: a fresh storage and client per test, a logger that
 * captures lines, polling waits, and storage wrappers that record or falsify calls.
 */
import { afterEach } from 'vitest';
import { ZapJobs, type ZapJobsOptions } from '../client.js';
import type { ZapJobsEventName, ZapJobsEvents } from '../events.js';
import type { AnyJob } from '../job.js';
import type { Logger } from '../logger.js';
import type { Plugin } from '../plugin.js';
import type { Storage } from '../storage/contract.js';
import type { TelemetryOptions } from '../telemetry/telemetry.js';
import type { WorkerOptions } from '../worker.js';
import type { ConformanceOptions, StorageHandle } from './options.js';

/** Worker options that keep every runtime test short. */
export const FAST_WORKER: WorkerOptions = {
  concurrency: 4,
  leaseMs: 1_000,
  heartbeatMs: 250,
  pollIntervalMs: 50,
  reclaimIntervalMs: 100,
  shutdownTimeoutMs: 2_000,
};

/** One captured log line. */
export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  fields: Record<string, unknown>;
  message: string;
}

/** A logger that stores every line in `lines`, child bindings merged into the fields. */
export class CapturingLogger implements Logger {
  readonly lines: LogLine[];
  readonly #bindings: Record<string, unknown>;

  constructor(lines: LogLine[] = [], bindings: Record<string, unknown> = {}) {
    this.lines = lines;
    this.#bindings = bindings;
  }

  debug(fields: Record<string, unknown>, message: string): void {
    this.lines.push({ level: 'debug', fields: { ...this.#bindings, ...fields }, message });
  }
  info(fields: Record<string, unknown>, message: string): void {
    this.lines.push({ level: 'info', fields: { ...this.#bindings, ...fields }, message });
  }
  warn(fields: Record<string, unknown>, message: string): void {
    this.lines.push({ level: 'warn', fields: { ...this.#bindings, ...fields }, message });
  }
  error(fields: Record<string, unknown>, message: string): void {
    this.lines.push({ level: 'error', fields: { ...this.#bindings, ...fields }, message });
  }
  child(bindings: Record<string, unknown>): Logger {
    return new CapturingLogger(this.lines, { ...this.#bindings, ...bindings });
  }

  messages(level?: LogLine['level']): string[] {
    return this.lines
      .filter((line) => level === undefined || line.level === level)
      .map((l) => l.message);
  }
}

export interface TestClient {
  zap: ZapJobs<AnyJob>;
  storage: Storage;
  handle: StorageHandle;
  logger: CapturingLogger;
}

export interface ClientSetup {
  jobs?: AnyJob[];
  plugins?: Plugin[];
  maxPayloadBytes?: number;
  /** OpenTelemetry providers of the client. */
  telemetry?: TelemetryOptions;
  /** Wraps the storage the client uses, for fault injection or call recording. */
  wrap?: (storage: Storage) => Storage;
}

/**
 * Creates fresh storages and clients for tests and closes them all after each test.
 * Call once inside a `describe` block.
 */
export function useRuntimeHarness(options: ConformanceOptions) {
  const cleanups: (() => Promise<void>)[] = [];

  afterEach(async () => {
    const pending = cleanups.splice(0).reverse();
    for (const cleanup of pending) {
      await cleanup().catch(() => undefined);
    }
  });

  /** Creates an empty storage and a client on it. */
  async function client(setup: ClientSetup = {}): Promise<TestClient> {
    const handle = await options.create();
    cleanups.push(async () => {
      await options.destroy?.(handle.descriptor);
    });
    return clientOn(handle, handle.storage, setup);
  }

  /** Opens a second client on the storage of `first`, through another connection. */
  async function secondClient(first: TestClient, setup: ClientSetup = {}): Promise<TestClient> {
    const storage = await options.open(first.handle.descriptor);
    return clientOn(first.handle, storage, setup);
  }

  async function clientOn(
    handle: StorageHandle,
    storage: Storage,
    setup: ClientSetup,
  ): Promise<TestClient> {
    const logger = new CapturingLogger();
    const wrapped = setup.wrap === undefined ? storage : setup.wrap(storage);
    const clientOptions: ZapJobsOptions<AnyJob> = {
      storage: wrapped,
      jobs: setup.jobs ?? [],
      plugins: setup.plugins ?? [],
      logger,
    };
    if (setup.maxPayloadBytes !== undefined) clientOptions.maxPayloadBytes = setup.maxPayloadBytes;
    if (setup.telemetry !== undefined) clientOptions.telemetry = setup.telemetry;
    const zap = new ZapJobs(clientOptions);
    cleanups.push(() => zap.close());
    await zap.init();
    return { zap, storage: wrapped, handle, logger };
  }

  return {
    client,
    secondClient,
    onCleanup: (cleanup: () => Promise<void>) => cleanups.push(cleanup),
  };
}

/** Polls `check` every 20 ms until it returns a value other than undefined or false. */
export async function waitFor<T>(
  description: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const cause = last === undefined ? '' : ` (last error: ${String(last)})`;
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${description}${cause}`);
    }
    await sleep(20);
  }
}

/** Waits until a run reaches one of `states`, and returns it. */
export async function waitForState(
  zap: ZapJobs<AnyJob>,
  runId: string,
  states: readonly string[],
  timeoutMs = 10_000,
) {
  return waitFor(
    `run ${runId} to reach ${states.join(' or ')}`,
    async () => {
      const run = await zap.getRun(runId);
      return run !== null && states.includes(run.state) ? run : undefined;
    },
    timeoutMs,
  );
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Records every event of the given names emitted on a client's bus, in order. */
export function recordEvents<K extends ZapJobsEventName>(
  zap: ZapJobs<AnyJob>,
  names: readonly K[],
) {
  const events: { type: K; event: ZapJobsEvents[K] }[] = [];
  for (const type of names) zap.on(type, (event) => void events.push({ type, event }));
  return events;
}

/** A promise with its resolve function, for handlers that wait for the test. */
export function latch<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Resolves when `signal` aborts, with its reason; never rejects. */
export function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
  });
}

/** Method calls a recording storage saw: name and arguments, in order. */
export type StorageCall = { method: string; args: unknown[] };

/**
 * Wraps a storage so every call is recorded, and `overrides` replace chosen methods. The
 * wrapped storage is the real backend; only the listed methods behave differently.
 */
export function recordingStorage(
  storage: Storage,
  calls: StorageCall[],
  overrides: Partial<Record<keyof Storage, (...args: any[]) => unknown>> = {},
): Storage {
  return new Proxy(storage, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      const override = overrides[property as keyof Storage];
      return (...args: unknown[]) => {
        calls.push({ method: property, args });
        if (override !== undefined) return override(...args);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** Lists every event of a run, oldest first, following cursors. */
export async function allEvents(zap: ZapJobs<AnyJob>, query: { runId?: string; types?: string[] }) {
  const events = [];
  let cursor: string | undefined;
  do {
    const page = await zap.listEvents({ ...query, limit: 1000, ...(cursor ? { cursor } : {}) });
    events.push(...page.events);
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  return events;
}
